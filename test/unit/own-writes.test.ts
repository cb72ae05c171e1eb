// What the operator's own writes set off: a finalizer it adds re-runs nothing, a KmsKey status that
// records what it has just read drops nothing from the key cache, and the key cache lives longer
// when the key poll keeps every key in use fresh. Pure tables.

import { describe, expect, it } from 'vitest';
import type { KmsKeyObject } from '../../src/api/resources.ts';
import { keyCacheTtl } from '../../src/operator.ts';
import { keyChanges } from '../../src/reconcile/controllers.ts';
import { mayRunOnOldMaterial } from '../../src/reconcile/key-progress.ts';
import { keyCacheDrops } from '../../src/reconcile/kmskey-observe.ts';
import { freshSince, keyWaveMs, specSeenClock } from '../../src/reconcile/workload.ts';
import type { KubeObject } from '../../src/runtime/kube.ts';
import type { Informer } from '../../src/runtime/watch.ts';
import { changedBeyondStatus, type KindCache } from '../../src/runtime/wiring.ts';

const obj = (meta: Partial<KubeObject['metadata']>, status?: unknown): KubeObject & { status?: unknown } => ({
  apiVersion: 'cmk.io/v1alpha1',
  kind: 'FlinkApplication',
  metadata: { name: 'a', namespace: 'ns', generation: 1, ...meta },
  ...(status ? { status } : {}),
});

describe('changedBeyondStatus', () => {
  it.each([
    ['a status write', {}, {}, false],
    ['a finalizer added (the reconcile adding it goes on)', {}, { finalizers: ['cmk.io/x'] }, false],
    ['another finalizer added', { finalizers: ['cmk.io/x'] }, { finalizers: ['cmk.io/x', 'other/y'] }, false],
    ['a finalizer removed (someone took ours off)', { finalizers: ['cmk.io/x'] }, { finalizers: [] }, true],
    ['a new generation', {}, { generation: 2 }, true],
    ['a label', {}, { labels: { a: 'b' } }, true],
    ['an annotation', {}, { annotations: { a: 'b' } }, true],
    ['deletion', {}, { deletionTimestamp: '2026-01-01T00:00:00Z' }, true],
  ] as Array<[string, Partial<KubeObject['metadata']>, Partial<KubeObject['metadata']>, boolean]>)(
    '%s',
    (_what, before, after, expected) => {
      expect(changedBeyondStatus(obj(before), obj({ ...before, ...after }))).toBe(expected);
    },
  );
});

const arn = 'arn:aws:kms:us-east-1:111122223333:key/k1';
const usable = (status: string, reason = 'Enabled', message = 'ok') => ({
  type: 'KeyUsable',
  status,
  reason,
  message,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});
const kmsKey = (meta: Partial<KubeObject['metadata']>, status?: Record<string, unknown>): KmsKeyObject =>
  ({ ...obj(meta, status), kind: 'KmsKey', spec: {} }) as unknown as KmsKeyObject;

describe('keyCacheDrops', () => {
  const first = kmsKey({}, { keyArn: arn, currentKeyMaterialId: 'm1', conditions: [usable('True')] });
  it.each([
    ['the first status (what was just read)', kmsKey({}), first, undefined],
    [
      'the same key, a progress count',
      first,
      kmsKey({}, { ...first.status, workloads: { total: 3 } }),
      undefined,
    ],
    [
      'a key becoming usable again',
      kmsKey({}, { keyArn: arn, conditions: [usable('Unknown', 'Checking')] }),
      first,
      undefined,
    ],
    ['a spec change', first, kmsKey({ generation: 2 }, first.status), 'all'],
    ['deletion', first, kmsKey({ deletionTimestamp: '2026-01-01T00:00:00Z' }, first.status), 'all'],
    ['another key ARN', first, kmsKey({}, { ...first.status, keyArn: `${arn}2` }), 'all'],
    [
      'a key no longer usable',
      first,
      kmsKey({}, { ...first.status, conditions: [usable('False', 'KeyDisabled')] }),
      'all',
    ],
    [
      'Stalled',
      first,
      kmsKey(
        {},
        {
          ...first.status,
          conditions: [usable('True'), { type: 'Stalled', status: 'True', reason: 'X', message: '' }],
        },
      ),
      'all',
    ],
    [
      'new key material (a rotation)',
      first,
      kmsKey({}, { ...first.status, currentKeyMaterialId: 'm2' }),
      ['describe', 'rotation'],
    ],
  ] as const)('%s', (_what, before, after, expected) => {
    expect(keyCacheDrops(before, after)).toEqual(expected);
  });
});

describe('keyCacheTtl', () => {
  it.each([
    ['no poll: a little under a resync', 30_000, 0, 24_000],
    ['poll on: four resyncs', 30_000, 30_000, 120_000],
    ['poll on, long resync: five minutes at most', 600_000, 30_000, 300_000],
    ['no poll, long resync: five minutes at most', 600_000, 0, 300_000],
  ])('%s', (_what, resyncMs, pollMs, expected) => {
    expect(keyCacheTtl(resyncMs, pollMs)).toBe(expected);
  });
});

describe('the key read guarding a switch', () => {
  it.each([
    ['decided a moment ago: a read begun since', 100_000, 101_000, 100_000],
    ['decided long ago: a read at most the wave old', 100_000, 200_000, 200_000 - keyWaveMs],
  ])('%s', (_what, decidedAt, now, expected) => {
    expect(freshSince(decidedAt, now)).toBe(expected);
  });

  it('was decided when this process first saw the current generation', () => {
    let now = 1000;
    const handlers: Array<Parameters<Informer<KubeObject>['addHandlers']>[0]> = [];
    const seenAt = specSeenClock(
      [
        {
          addHandlers: (h) => {
            handlers.push(h);
            return () => {};
          },
        },
      ],
      () => now,
    );
    const h = handlers[0]!;
    const v1 = obj({ uid: 'u', generation: 1 });
    h.onAdd?.(v1);
    now = 2000;
    h.onUpdate?.(v1, obj({ uid: 'u', generation: 1 }, { observedGeneration: 1 }));
    expect(seenAt(v1)).toBe(1000);
    const v2 = obj({ uid: 'u', generation: 2 });
    h.onUpdate?.(v1, v2);
    expect(seenAt(v2)).toBe(2000);
    // A generation it has not seen yet (a cache ahead of the handler) has no time.
    expect(seenAt(obj({ uid: 'u', generation: 3 }))).toBeUndefined();
    h.onDelete?.(v2);
    expect(seenAt(v2)).toBeUndefined();
  });
});

describe('what a rotation re-runs', () => {
  const noCache = {} as KindCache<never>;
  const key = (material: string, usable = 'True') =>
    kmsKey(
      { name: 'k' },
      { keyArn: arn, currentKeyMaterialId: material, conditions: [usable === 'True' ? usable1 : usable0] },
    );
  const usable1 = usable('True');
  const usable0 = usable('False', 'KeyDisabled');
  const reRun = (material: boolean | undefined, previous: KmsKeyObject, object: KmsKeyObject) => [
    ...keyChanges(noCache, () => ['users'], material === undefined ? {} : { material }).toKeys({
      previous,
      object,
    } as never),
  ];

  it.each([
    ['Flink (follows the material): a new material', true, key('m1'), key('m2'), ['users']],
    ['Keyspaces, EMR: a new material alone', false, key('m1'), key('m2'), []],
    ['Keyspaces, EMR: a key no longer usable', false, key('m1'), key('m1', 'False'), ['users']],
    ['by default: a new material', undefined, key('m1'), key('m2'), ['users']],
  ] as const)('%s', (_what, material, previous, object, expected) => {
    expect(reRun(material, previous, object)).toEqual(expected);
  });

  it('Flink by its last status: a new material re-runs only the applications that may run on the old one', () => {
    const flink = (name: string, material?: { status: string; reason: string }) => ({
      metadata: { name, namespace: 'ns' },
      status: material ? { conditions: [{ type: 'MaterialCurrent', message: '', ...material }] } : {},
    });
    const objects = new Map(
      [
        flink('running', { status: 'True', reason: 'CurrentMaterial' }),
        flink('stopped', { status: 'True', reason: 'NotRunning' }),
        flink('pending', { status: 'False', reason: 'RestartPending' }),
        flink('new'),
      ].map((o) => [`ns/${o.metadata.name}`, o as never]),
    );
    const users = () => [...objects.keys(), 'ns/gone'];
    const watch = keyChanges(noCache, users, { material: (u) => mayRunOnOldMaterial(objects.get(u)) });
    const toKeys = (previous: KmsKeyObject, object: KmsKeyObject) => [
      ...watch.toKeys({ previous, object } as never),
    ];
    expect(toKeys(key('m1'), key('m2'))).toEqual(['ns/running', 'ns/pending', 'ns/new', 'ns/gone']);
    // What every user reads (here: the key no longer usable) still re-runs them all.
    expect(toKeys(key('m1'), key('m1', 'False'))).toEqual(users());
    expect(toKeys(key('m1'), key('m1'))).toEqual([]);
  });
});
