// Who uses a key by its ARN (src/keys/key-usage.ts), and the KmsKey deletion guard built on it.

import { describe, expect, it } from 'vitest';
import type { KeyReferencingObject, KmsKeyObject } from '../../src/api/resources.ts';
import {
  declarationsOf,
  deletionAuthority,
  deletionClaimOf,
  describeUses,
  type KeyUse,
  keyArnsOf,
  usesOfKey,
} from '../../src/keys/key-usage.ts';
import { type KmsKeyPlanInput, planKmsKey } from '../../src/reconcile/kmskey-plan.ts';
import { exampleKey as arn } from '../fixtures/keys.ts';
import { deleting, type KmsKeyMod, kmsKey, observeOnly, withSpec } from '../fixtures/objects.ts';

const other = 'arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-0000000000bb';

type Mod = (o: KeyReferencingObject) => KeyReferencingObject;
const workload = (name: string, ...mods: Mod[]): KeyReferencingObject =>
  mods.reduce((o, m) => m(o), {
    kind: 'FlinkApplication',
    metadata: { name, namespace: 'team-a' },
    spec: { key: { keyId: arn } },
    status: {},
  } as unknown as KeyReferencingObject);
const withStatus =
  (status: Record<string, unknown>): Mod =>
  (o) => ({ ...o, status: { ...(o.status as object), ...status } });
const onKey = (k: string) => withStatus({ current: { keyType: 'CustomerManaged', keyArn: k } });
const wants = (k: string) => withStatus({ desiredKeyArn: k });
const leaving = (k: string) =>
  withStatus({ lastOperation: { status: 'InProgress', fromKey: k, toKey: other } });
const left = (k: string) => withStatus({ lastOperation: { status: 'Succeeded', fromKey: k, toKey: other } });
const finishedJob = withStatus({ keyArn: arn, state: 'SUCCESS' });
const runningJob = withStatus({ keyArn: arn, state: 'RUNNING' });
const gone: Mod = (o) => ({ ...o, metadata: { ...o.metadata, deletionTimestamp: '2026-12-01T00:00:00Z' } });
const goneButHeld: Mod = (o) => ({
  ...gone(o),
  metadata: { ...gone(o).metadata, finalizers: ['cmk.io/workload'] },
});
const inNamespace =
  (namespace: string): Mod =>
  (o) => ({ ...o, metadata: { ...o.metadata, namespace } });

describe('usesOfKey: every object tied to a key ARN, however it names the key', () => {
  it.each([
    ['on the key (AWS reports it there)', workload('a', onKey(arn)), 'on-key'],
    ['its spec resolves to the key (a switch onto it may come)', workload('a', wants(arn)), 'switching-to'],
    ['a switch away still in flight in AWS', workload('a', onKey(other), leaving(arn)), 'switching-from'],
    ['a job run still running on it', workload('a', runningJob), 'on-key'],
    ['in another namespace', workload('a', inNamespace('team-b'), onKey(arn)), 'on-key'],
    ['being deleted but still holding its finalizer', workload('a', onKey(arn), goneButHeld), 'on-key'],
  ] as const)('counts an object %s', (_name, o, how) => {
    expect(usesOfKey([o], arn)).toEqual([
      { kind: 'FlinkApplication', namespace: o.metadata.namespace, name: 'a', how },
    ]);
  });

  it.each([
    ['on another key', workload('a', onKey(other))],
    ['whose switch away was confirmed by AWS', workload('a', onKey(other), left(arn))],
    ['a finished job run', workload('a', finishedJob)],
    ['deleted and released', workload('a', onKey(arn), gone)],
    ['not reconciled yet (no status)', workload('a')],
  ] as const)('does not count an object %s', (_name, o) => {
    expect(usesOfKey([o], arn)).toEqual([]);
  });

  it('names an object once, by its strongest tie', () => {
    expect(keyArnsOf(workload('a', onKey(arn), wants(arn)))).toEqual([{ arn, how: 'on-key' }]);
  });

  it('says who uses the key and how, the first few', () => {
    const uses: KeyUse[] = [1, 2, 3, 4, 5, 6, 7].map((n) => ({
      kind: 'KeyspacesTable',
      namespace: 'b',
      name: `t${n}`,
      how: 'on-key',
    }));
    expect(describeUses(uses)).toBe(
      'KeyspacesTable b/t1 (on the key), KeyspacesTable b/t2 (on the key), KeyspacesTable b/t3 (on the key), KeyspacesTable b/t4 (on the key), KeyspacesTable b/t5 (on the key) and 2 more',
    );
  });
});

const kmsKeyObject = (namespace: string, spec: Record<string, unknown>, since: string, keyArn = arn) =>
  ({
    metadata: { name: 'shared', namespace, creationTimestamp: since },
    spec,
    status: { keyArn },
  }) as unknown as KmsKeyObject;

describe('deletion authority: exactly one KmsKey per key may schedule its deletion', () => {
  const creator = kmsKeyObject(
    'a',
    { create: {}, deletionPolicy: 'ScheduleDeletion' },
    '2026-12-02T00:00:00Z',
  );
  const olderAdopter = kmsKeyObject(
    'b',
    { keyId: arn, deletionPolicy: 'ScheduleDeletion' },
    '2026-12-01T00:00:00Z',
  );
  const newerAdopter = kmsKeyObject(
    'c',
    { keyId: arn, deletionPolicy: 'ScheduleDeletion' },
    '2026-12-03T00:00:00Z',
  );
  const retaining = kmsKeyObject('d', { keyId: arn }, '2026-11-01T00:00:00Z');
  const claims = (...ks: KmsKeyObject[]) => ks.flatMap((k) => deletionClaimOf(k) ?? []);

  it.each([
    ['the creator, however young', [olderAdopter, creator, newerAdopter], 'a'],
    ['else the oldest adopter', [newerAdopter, olderAdopter], 'b'],
    ['never an object that retains the key (the default)', [retaining, newerAdopter], 'c'],
  ] as const)('is held by %s', (_name, objects, holder) => {
    expect(deletionAuthority(claims(...objects))?.namespace).toBe(holder);
  });

  it('nobody holds it when every object retains the key', () => {
    expect(deletionAuthority(claims(retaining))).toBeUndefined();
  });

  it('other KmsKeys declaring the same key count as its users', () => {
    expect(
      declarationsOf(
        [creator, olderAdopter, kmsKeyObject('e', {}, '2026-01-01T00:00:00Z', other)],
        arn,
        creator,
      ),
    ).toEqual([{ kind: 'KmsKey', namespace: 'b', name: 'shared', how: 'declared-by' }]);
  });
});

const schedules: KmsKeyMod = withSpec({ deletionPolicy: 'ScheduleDeletion' });
const usedByArn =
  (...uses: KeyUse[]): KmsKeyMod =>
  (i) => ({ ...i, keyUses: uses });
const heldBy: KmsKeyMod = (i) => ({ ...i, authorityHeldBy: { namespace: 'team-a', name: 'orders-key' } });
const tableInB: KeyUse = { kind: 'KeyspacesTable', namespace: 'team-b', name: 'orders', how: 'on-key' };
const actions = (i: KmsKeyPlanInput) => planKmsKey(i).actions.map((a) => a.type);

describe('the KmsKey deletion guard counts every use of the key ARN', () => {
  it.each([
    [
      'a user in another namespace holds a ScheduleDeletion',
      kmsKey(deleting, schedules, usedByArn(tableInB)),
      [],
    ],
    [
      'nothing using the key lets it be scheduled',
      kmsKey(deleting, schedules, usedByArn()),
      ['ScheduleKeyDeletion', 'RemoveFinalizer'],
    ],
    [
      'Retain lets go of the object whoever uses the key',
      kmsKey(deleting, usedByArn(tableInB)),
      ['RemoveFinalizer'],
    ],
    [
      'without the authority, deleting the object only lets go of it',
      kmsKey(deleting, schedules, heldBy),
      ['RemoveFinalizer'],
    ],
    [
      'Observe mode never schedules',
      kmsKey(deleting, schedules, observeOnly, usedByArn()),
      ['RemoveFinalizer'],
    ],
  ] as const)('%s', (_name, input, expected) => {
    expect(actions(input)).toEqual(expected);
  });

  it('names the users and the fix in DeletionBlocked', () => {
    const plan = planKmsKey(kmsKey(deleting, schedules, usedByArn(tableInB)));
    expect(plan.conditions).toContainEqual(
      expect.objectContaining({ type: 'DeletionBlocked', status: 'True', reason: 'KeyInUse' }),
    );
    const message = plan.conditions.find((c) => c.type === 'DeletionBlocked')?.message ?? '';
    expect(message).toContain('KeyspacesTable team-b/orders (on the key)');
    expect(message).toContain('deletionPolicy: Retain');
    expect(plan.outcome).toMatchObject({ kind: 'waiting', reason: 'KeyInUse' });
  });

  it('a second object asking to schedule the deletion is told who holds the authority', () => {
    const c = planKmsKey(kmsKey(schedules, heldBy)).conditions.find((x) => x.type === 'DeletionAuthority');
    expect(c).toMatchObject({ status: 'False', reason: 'AuthorityHeldByAnother' });
    expect(c?.message).toContain('team-a/orders-key');
    expect(planKmsKey(kmsKey(heldBy)).conditions.some((x) => x.type === 'DeletionAuthority')).toBe(false);
  });
});
