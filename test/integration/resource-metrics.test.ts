// Per-object metrics end to end (docs/metrics.md): a KmsKey and the workloads on it show in
// /metrics with what their status says, follow a key disabled outside Kubernetes (seen by the
// key-state poll), and leave /metrics when the objects are deleted.
// Real kube-apiserver + the AWS emulator over HTTP.

import { readFileSync } from 'node:fs';
import { DisableKeyCommand, EnableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PromSample, parsePromText, samplesOf } from '../support/prom-text.ts';
import { eventually } from './support/cluster.ts';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator({ keyPollMs: 1000 });
let kms: KMSClient;
let keyArn: string;

interface Status {
  keyState?: string;
  deletionAfter?: string;
  usage?: { kubernetes: number };
  grants?: { count: number; limit: number };
  rotation?: { enabled: boolean; periodInDays?: number };
  conditions?: Array<{ type: string; status: string; reason: string }>;
}

beforeAll(async () => {
  kms = new KMSClient(f.awsConfig());
  keyArn = await f.serviceKey('m-key');
  f.emulator.seed({
    kinesisanalytics: { applications: [{ name: 'm-app', status: 'READY' }] },
    cassandra: { keyspaces: [{ name: 'ks_m', tables: [{ name: 'm_table' }] }] },
  });
  const ref = { kmsKeyRef: { name: 'm-key' } };
  await f.create('FlinkApplication', 'm-app', { applicationName: 'm-app', key: ref });
  await f.create('KeyspacesTable', 'm-table', { keyspaceName: 'ks_m', tableName: 'm_table', key: ref });
  await f.waitFor('FlinkApplication', 'm-app', condition('Ready', 'True'), 'm-app Ready', 60_000);
  await f.waitFor('KeyspacesTable', 'm-table', condition('Ready', 'True'), 'm-table Ready', 60_000);
}, 120_000);

async function scrape(): Promise<PromSample[]> {
  return parsePromText(await (await fetch(`${f.operator.health.metricsUrl}/metrics`)).text());
}

const of = (kind: string, name: string) => ({ kind, namespace: f.namespace, name });
// Functions: the fixture's namespace exists only once beforeAll ran.
const key = () => of('KmsKey', 'm-key');
const app = () => of('FlinkApplication', 'm-app');
const table = () => of('KeyspacesTable', 'm-table');

/** The one value of `name` for `labels`, or undefined when there is no such series. */
function value(samples: PromSample[], name: string, labels: Record<string, string>): number | undefined {
  const found = samplesOf(samples, name, labels);
  expect(found.length, `${name} ${JSON.stringify(labels)}: at most one series`).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

/** Scrapes until `check` passes; on timeout the error carries its last failed assertion. */
function scrapeUntil(what: string, check: (s: PromSample[]) => void): Promise<PromSample[]> {
  return eventually(
    async () => {
      const s = await scrape();
      check(s);
      return s;
    },
    { what, timeoutMs: 20_000, intervalMs: 250 },
  );
}

const stalled = (o: Record<string, string>) => ({ ...o, condition: 'Stalled', status: 'True' });

describe('per-object metrics', () => {
  it('show a KmsKey and its workloads as their status does', async () => {
    // The key counts its users a little after they are Ready: its reconcile follows theirs (5 s
    // coalescing), and counts that move with a move are written at its end (progressWait).
    const stored = await f.waitFor<{ status?: Status }, Status>(
      'KmsKey',
      'm-key',
      (o) => ((o.status?.usage?.kubernetes ?? 0) >= 2 ? o.status : undefined),
      'the KmsKey counting both workloads',
      30_000,
    );
    const s = await scrapeUntil('the objects in /metrics', (s) => {
      expect(value(s, 'cmk_workload_on_desired_key', app())).toBe(1);
      expect(value(s, 'cmk_workload_on_desired_key', table())).toBe(1);
      expect(value(s, 'cmk_kmskey_users', { ...key(), source: 'kubernetes' })).toBe(stored.usage?.kubernetes);
    });
    expect(samplesOf(s, 'cmk_kmskey_state', key()).map((x) => x.labels['state'])).toEqual(['Enabled']);
    expect(value(s, 'cmk_object_condition', { ...key(), condition: 'Ready', status: 'True' })).toBe(1);
    expect(value(s, 'cmk_object_condition', { ...app(), condition: 'Ready', status: 'True' })).toBe(1);
    expect(value(s, 'cmk_object_condition', stalled(app()))).toBeUndefined();
    if (stored.grants) expect(value(s, 'cmk_kmskey_grants', key())).toBe(stored.grants.count);
    // A key the operator created rotates automatically by default, every 365 days unless told otherwise.
    expect(stored.rotation?.enabled).toBe(true);
    expect(value(s, 'cmk_kmskey_rotation_period_seconds', key())).toBe(
      (stored.rotation?.periodInDays ?? 365) * 86_400,
    );
    expect(value(s, 'cmk_kmskey_rotation_age_seconds', key())).toBeGreaterThanOrEqual(0);
    expect(value(s, 'cmk_keyspaces_table_deletion_timestamp_seconds', table())).toBeUndefined();
    // No ARN or key id in a label: object names only.
    for (const x of s) expect(Object.values(x.labels).join(' ')).not.toContain('arn:aws');
    expect(value(s, 'leader_election_master_status', { name: 'cmk-operator' })).toBe(1);
    expect(value(s, 'cmk_ready', {})).toBe(1);
  });

  it('are, with every other family /metrics serves, listed in docs/metrics.md', async () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const text = await (await fetch(`${f.operator.health.metricsUrl}/metrics`)).text();
    const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    expect(families).toContain('cmk_object_condition');
    // prom-client's Node.js defaults are documented as a group.
    const undocumented = families.filter(
      (n) => !/^(process|nodejs)_/.test(n) && !doc.includes(`| \`${n}\` |`),
    );
    expect(undocumented).toEqual([]);
  });

  it('follow a key disabled outside Kubernetes, and its enabling again', async () => {
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    const inaccessible = await f.waitFor(
      'KeyspacesTable',
      'm-table',
      (o: { status?: Status }) =>
        condition('KeyAccessible', 'False', 'InaccessibleEncryptionCredentials')(o as never)
          ? o.status
          : undefined,
      'm-table inaccessible',
      20_000,
    );
    await scrapeUntil('the disabled key in /metrics', (s) => {
      expect(samplesOf(s, 'cmk_kmskey_state', key()).map((x) => x.labels['state'])).toEqual(['Disabled']);
      expect(value(s, 'cmk_object_condition', stalled(key()))).toBe(1);
      expect(samplesOf(s, 'cmk_object_condition', stalled(key()))[0]?.labels['reason']).toBe('KeyDisabled');
      expect(samplesOf(s, 'cmk_object_condition', stalled(app()))[0]?.labels['reason']).toBe('KeyDisabled');
      expect(value(s, 'cmk_keyspaces_table_deletion_timestamp_seconds', table())).toBe(
        Date.parse(inaccessible.deletionAfter!) / 1000,
      );
    });

    await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    await f.waitFor(
      'KeyspacesTable',
      'm-table',
      condition('KeyAccessible', 'True'),
      'm-table accessible',
      30_000,
    );
    await f.waitFor('FlinkApplication', 'm-app', condition('Ready', 'True'), 'm-app Ready again', 30_000);
    await scrapeUntil('the key enabled again in /metrics', (s) => {
      expect(samplesOf(s, 'cmk_kmskey_state', key()).map((x) => x.labels['state'])).toEqual(['Enabled']);
      expect(value(s, 'cmk_object_condition', stalled(key()))).toBeUndefined();
      expect(value(s, 'cmk_object_condition', stalled(app()))).toBeUndefined();
      expect(value(s, 'cmk_keyspaces_table_deletion_timestamp_seconds', table())).toBeUndefined();
    });
  }, 90_000);

  it('leave /metrics when the objects are deleted', async () => {
    const named = (s: PromSample[], o: Record<string, string>) =>
      s.filter((x) => x.labels['namespace'] === o['namespace'] && x.labels['name'] === o['name']);
    await f.remove('FlinkApplication', 'm-app');
    await f.remove('KeyspacesTable', 'm-table');
    await eventually(async () => ((await f.get('FlinkApplication', 'm-app')) ? undefined : true), {
      what: 'm-app deleted',
      timeoutMs: 30_000,
    });
    await eventually(async () => ((await f.get('KeyspacesTable', 'm-table')) ? undefined : true), {
      what: 'm-table deleted',
      timeoutMs: 30_000,
    });
    await scrapeUntil('the workloads gone from /metrics', (s) => {
      expect(named(s, app())).toEqual([]);
      expect(named(s, table())).toEqual([]);
      expect(named(s, key()).length).toBeGreaterThan(0);
    });
    await f.remove('KmsKey', 'm-key');
    await eventually(async () => ((await f.get('KmsKey', 'm-key')) ? undefined : true), {
      what: 'm-key deleted',
      timeoutMs: 30_000,
    });
    await scrapeUntil('the KmsKey gone from /metrics', (s) => expect(named(s, key())).toEqual([]));
  }, 90_000);
});
