// A KmsKey's grant count (status.grants: Keyspaces spends 2 grants per table on the key) while
// tables move onto it: the count is listed when the move starts and when it ends, not once more
// for every table that joins while the key's other progress waits (src/reconcile/kmskey.ts,
// `complete`), and the end state is counted.

import { describe, expect, it } from 'vitest';
import { keyspacesTable } from '../fixtures/objects.ts';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator({
  emulatorConfig: {
    // Each table's switch takes 8 s: the tables below all join while the first is still moving.
    transitions: { default: { min: 200, max: 400 }, 'cassandra.UPDATING': { min: 8000, max: 8000 } },
  },
});

interface KeyStatus {
  status?: {
    keyArn?: string;
    workloads?: { total: number; onKey: number; summary: string };
    grants?: { count: number; limit: number };
    conditions?: Array<{ type: string; status: string }>;
  };
}

const tables = ['t1', 't2', 't3', 't4', 't5', 't6'];

describe('the grant count of a key tables move onto', () => {
  it('is listed at the start and the end of the move, not per table joining, and counts every table', {
    timeout: 90_000,
  }, async () => {
    await f.create('KmsKey', 'counted', {
      create: { policy: { services: ['Keyspaces'] } },
      rotation: { enabled: false },
    });
    const key = await f.waitFor<KeyStatus, KeyStatus>(
      'KmsKey',
      'counted',
      (o) => (o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? o : undefined),
      'key Ready',
    );
    const keyArn = key.status!.keyArn!;
    // The tables exist on AWS-owned keys; each KeyspacesTable asks for the new key, a second apart.
    for (const t of tables) f.emulator.seed(keyspacesTable('ks_grants', t));
    const before = (await f.admin.calls()).at(-1)?.eventId ?? 0;
    for (const t of tables) {
      await f.create('KeyspacesTable', t, {
        keyspaceName: 'ks_grants',
        tableName: t,
        key: { kmsKeyRef: { name: 'counted' } },
      });
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (const t of tables)
      await f.waitFor('KeyspacesTable', t, condition('Ready', 'True'), `${t} on the key`, 40_000);
    // The end of the move: every table counted, and their grants.
    const done = await f.waitFor<KeyStatus, KeyStatus>(
      'KmsKey',
      'counted',
      (o) => (o.status?.workloads?.summary === '6/6' && o.status.grants?.count === 12 ? o : undefined),
      'six tables and their twelve grants counted on the key',
      30_000,
    );
    expect(done.status?.grants).toEqual({ count: 12, limit: 50_000 });
    const listings = (await f.admin.calls({ since: before })).filter(
      (c) => c.eventName === 'ListGrants' && JSON.stringify(c.requestParameters).includes(keyArn),
    );
    // One listing when the first table joins, one when the last lands; not one per table joining.
    expect(listings.length).toBeGreaterThanOrEqual(1);
    expect(listings.length).toBeLessThanOrEqual(3);
  });
});
