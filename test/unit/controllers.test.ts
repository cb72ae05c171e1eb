import { describe, expect, it } from 'vitest';
import type { KeyReferencingObject, KmsKeyObject } from '../../src/api/resources.ts';
import { keyChanges, keyUsers, progressCoalesceMs } from '../../src/reconcile/controllers.ts';
import type { KindCache } from '../../src/runtime/wiring.ts';

// The mappers only read the changed objects; the cache is never consulted.
const noCache = {} as KindCache<never>;

const workload = (ref: string | undefined, ready = 'False'): KeyReferencingObject =>
  ({
    metadata: { name: 'orders', namespace: 'app' },
    spec: {
      key: ref
        ? { kmsKeyRef: { name: ref.split('/')[1], namespace: ref.split('/')[0] } }
        : { keyId: 'alias/x' },
    },
    status: { conditions: [{ type: 'Ready', status: ready, reason: 'r', message: 'm' }] },
  }) as unknown as KeyReferencingObject;

const kmsKey = (generation: number, keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/k', summary = '0/1') =>
  ({
    metadata: { name: 'orders-key', namespace: 'keys', generation },
    spec: {},
    status: { keyArn, workloads: { summary } },
  }) as unknown as KmsKeyObject;

describe('controllers as data: what a change of a watched object re-runs', () => {
  const users = keyUsers(noCache);
  const toKeys = (change: Parameters<typeof users.toKeys>[0]) => [...users.toKeys(change)];

  it.each([
    ['a new workload re-runs its key at once', { object: workload('keys/orders-key') }, ['keys/orders-key']],
    ['a workload naming an AWS key directly re-runs no KmsKey', { object: workload(undefined) }, []],
    [
      'a workload moving to another KmsKey re-runs both after the coalescing delay',
      { previous: workload('keys/old'), object: workload('keys/orders-key') },
      [
        { key: 'keys/old', afterMs: progressCoalesceMs },
        { key: 'keys/orders-key', afterMs: progressCoalesceMs },
      ],
    ],
    [
      'progress onto the key re-runs it after the coalescing delay',
      { previous: workload('keys/orders-key', 'False'), object: workload('keys/orders-key', 'True') },
      [{ key: 'keys/orders-key', afterMs: progressCoalesceMs }],
    ],
    [
      'a status write that changes no progress re-runs nothing',
      { previous: workload('keys/orders-key'), object: workload('keys/orders-key') },
      [],
    ],
  ] as const)('%s', (_name, change, expected) => {
    expect(toKeys(change as never)).toEqual(expected);
  });

  it('a KmsKey change re-runs its users only when something they read changed', () => {
    const watch = keyChanges(noCache, (k) => [`users of ${k}`]);
    const toKeys2 = (change: object) => [...watch.toKeys(change as never)];
    expect(toKeys2({ object: kmsKey(1) })).toEqual(['users of keys/orders-key']);
    // A spec change they do not read (an on-demand rotation token): nothing until the status moves.
    expect(toKeys2({ previous: kmsKey(1), object: kmsKey(2) })).toEqual([]);
    expect(toKeys2({ previous: kmsKey(1), object: kmsKey(1, undefined, '1/1') })).toEqual([]);
    expect(
      toKeys2({ previous: kmsKey(1), object: kmsKey(1, 'arn:aws:kms:eu-west-1:111122223333:key/other') }),
    ).toEqual(['users of keys/orders-key']);
    // The key's reconcile reports what the new spec did (the key disabled): every user looks again.
    const disabled = kmsKey(2);
    disabled.status = {
      ...disabled.status,
      conditions: [{ type: 'KeyUsable', status: 'False', reason: 'Disabled', message: 'disabled' }],
    } as never;
    expect(toKeys2({ previous: kmsKey(2), object: disabled })).toEqual(['users of keys/orders-key']);
  });
});
