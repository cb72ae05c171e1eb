// The key-state poll's decisions: what counts as a change a key's users depend on, the baseline of
// the first look (what the key's holder recorded), and that one key's failure never stops a pass.

import { describe, expect, it } from 'vitest';
import type { AwsTarget } from '../../src/aws/clients.ts';
import type { KeyReads } from '../../src/keys/key-cache.ts';
import type { KeyFacts } from '../../src/keys/key-facts.ts';
import { createKeyPoll, type KeyView, viewChanged } from '../../src/keys/key-poll.ts';
import { resourceMatches } from '../../src/reconcile/nudges.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { keyFacts } from '../fixtures/keys.ts';

describe('viewChanged', () => {
  const enabled: KeyView = { state: 'Enabled', currentKeyMaterialId: 'm1' };
  it.each([
    ['same view', enabled, { ...enabled }, false],
    ['disabled', enabled, { ...enabled, state: 'Disabled' }, true],
    [
      'scheduled for deletion',
      enabled,
      { state: 'PendingDeletion', deletionDate: '2026-12-12T00:00:00Z' },
      true,
    ],
    [
      'a new deletion date',
      { state: 'PendingDeletion', deletionDate: 'a' },
      { state: 'PendingDeletion', deletionDate: 'b' },
      true,
    ],
    ['rotated (new material)', enabled, { ...enabled, currentKeyMaterialId: 'm2' }, true],
    ['material not reported is no change', enabled, { state: 'Enabled' }, false],
    ['gone', enabled, undefined, true],
    ['back', undefined, enabled, true],
    ['still gone', undefined, undefined, false],
  ] as const)('%s', (_n, before, after, changed) => {
    expect(viewChanged(before, after)).toBe(changed);
  });
});

describe('createKeyPoll', () => {
  const target: AwsTarget = { region: 'eu-west-1' };
  function reads(state: Map<string, KeyFacts | Error>): KeyReads & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      describe: async (_t, ref, options) => {
        expect(options?.maxAgeMs).toBe(0); // always fresh: the answer also serves the reconciles
        calls.push(ref);
        const v = state.get(ref);
        if (v instanceof Error) throw v;
        return v;
      },
      rotation: async () => ({ enabled: false, recent: [] }),
      policy: async () => '{}',
      grants: async () => 0,
      invalidate: () => {},
    };
  }
  const a = 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
  const b = 'arn:aws:kms:eu-west-1:111122223333:key/bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb';

  it('the first look compares with what the holder recorded; later looks with the previous one', async () => {
    const state = new Map<string, KeyFacts | Error>([[a, keyFacts(a, (k) => ({ ...k, state: 'Disabled' }))]]);
    const changes: string[] = [];
    const poll = createKeyPoll(
      { keys: reads(state), log: silentLogger() },
      {
        periodMs: 1000,
        keys: () => [{ arn: a, target, known: { state: 'Enabled' } }],
        onChange: (arn, before, after) => changes.push(`${arn}:${before?.state}->${after?.state}`),
      },
    );
    await poll.pass();
    expect(changes).toEqual([`${a}:Enabled->Disabled`]);
    await poll.pass();
    expect(changes).toHaveLength(1);
    state.set(a, keyFacts(a));
    await poll.pass();
    expect(changes).toEqual([`${a}:Enabled->Disabled`, `${a}:Disabled->Enabled`]);
  });

  it('a key first seen with nothing recorded is the baseline, not a change', async () => {
    const changes: string[] = [];
    const poll = createKeyPoll(
      { keys: reads(new Map([[a, keyFacts(a)]])), log: silentLogger() },
      { periodMs: 1000, keys: () => [{ arn: a, target }], onChange: (arn) => changes.push(arn) },
    );
    await poll.pass();
    expect(changes).toEqual([]);
  });

  it('one key failing does not stop the pass; it is counted and tried again next pass', async () => {
    const state = new Map<string, KeyFacts | Error>([
      [a, new Error('ThrottlingException')],
      [b, keyFacts(b, (k) => ({ ...k, state: 'Disabled' }))],
    ]);
    const keys = reads(state);
    const changes: string[] = [];
    const poll = createKeyPoll(
      { keys, log: silentLogger() },
      {
        periodMs: 1000,
        keys: () => [
          { arn: a, target, known: { state: 'Enabled' } },
          { arn: b, target, known: { state: 'Enabled' } },
        ],
        onChange: (arn) => changes.push(arn),
      },
    );
    await poll.pass();
    expect(changes).toEqual([b]);
    expect(poll.stats()).toMatchObject({ passes: 1, reads: 1, failures: 1, changes: 1 });
    await poll.pass();
    expect(keys.calls.filter((c) => c === a)).toHaveLength(2);
  });

  it('stops when its signal aborts', async () => {
    const keys = reads(new Map([[a, keyFacts(a)]]));
    const poll = createKeyPoll(
      { keys, log: silentLogger() },
      { periodMs: 20, keys: () => [{ arn: a, target }], onChange: () => {} },
    );
    const stop = new AbortController();
    poll.start(stop.signal);
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    const after = keys.calls.length;
    expect(after).toBeGreaterThan(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(keys.calls.length).toBe(after);
  });

  it('a stop that comes during a pass ends the loop at once, leaving no period to wait out', async () => {
    // The period's wait must not start on a signal that has already aborted: its timer would keep
    // the process from exiting after SIGTERM for up to a period.
    let release = () => {};
    const keys = reads(new Map([[a, keyFacts(a)]]));
    const inPass = new Promise<void>((entered) => {
      const describe = keys.describe;
      keys.describe = async (...args) => {
        entered();
        await new Promise<void>((r) => (release = r));
        return describe(...args);
      };
    });
    const poll = createKeyPoll(
      { keys, log: silentLogger() },
      { periodMs: 600_000, keys: () => [{ arn: a, target }], onChange: () => {} },
    );
    const stop = new AbortController();
    const loop = poll.start(stop.signal);
    await inPass;
    stop.abort();
    release();
    const ended = await Promise.race([
      loop.then(() => 'ended'),
      new Promise((r) => setTimeout(() => r('still waiting'), 1_000)),
    ]);
    expect(ended).toBe('ended');
    expect(poll.stats().passes).toBe(1);
  });
});

describe('resourceMatches (what a CloudTrail event names, against the ARN in status)', () => {
  const msf = 'arn:aws:kinesisanalytics:eu-west-1:111122223333:application/orders';
  const table = 'arn:aws:cassandra:eu-west-1:111122223333:/keyspace/shop/table/orders/';
  const emr = 'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/00fabc';
  it.each([
    ['MSF by name', msf, { service: 'msf', name: 'orders' }, true],
    ['MSF, another name', msf, { service: 'msf', name: 'order' }, false],
    ['MSF, another Region', msf, { service: 'msf', name: 'orders', region: 'us-east-1' }, false],
    [
      'Keyspaces by keyspace and table',
      table,
      { service: 'keyspaces', keyspace: 'shop', table: 'orders' },
      true,
    ],
    ['Keyspaces, table only', table, { service: 'keyspaces', table: 'orders' }, false],
    ['EMR by application id', emr, { service: 'emr-serverless', applicationId: '00fabc' }, true],
    ['by ARN', msf, { service: 'msf', arn: msf }, true],
    ['by another ARN', msf, { service: 'msf', arn: `${msf}x` }, false],
  ] as const)('%s', (_n, arn, signal, expected) => {
    expect(resourceMatches(arn, signal)).toBe(expected);
  });
});
