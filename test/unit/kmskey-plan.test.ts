// Table tests of the KmsKey decision: builders of small modifiers, one named case per line.

import { Check } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { KmsKeyStatus } from '../../src/api/kmskey.ts';
import { type KmsKeyPlanInput, planKmsKey, usedByListed } from '../../src/reconcile/kmskey-plan.ts';
import { exampleKey as arn } from '../fixtures/keys.ts';
import {
  deleting,
  type KmsKeyMod,
  keyState,
  kmsKey,
  lastToken,
  noFinalizer,
  notCreated,
  notFound,
  observeOnly,
  rotation,
  usedBy,
  withSpec,
} from '../fixtures/objects.ts';

const actionTypes = (i: KmsKeyPlanInput) => planKmsKey(i).actions.map((a) => a.type);
const condition = (i: KmsKeyPlanInput, type: string) => planKmsKey(i).conditions.find((c) => c.type === type);

describe('planKmsKey actions', () => {
  it.each([
    ['a settled key needs nothing', kmsKey(), []],
    [
      'the finalizer comes before anything else',
      kmsKey(noFinalizer, withSpec({ rotation: { enabled: true } })),
      ['AddFinalizer', 'EnableKeyRotation'],
    ],
    ['create mode creates the key once', kmsKey(notCreated), ['CreateKey']],
    ['Observe mode never creates', kmsKey(notCreated, observeOnly), []],
    [
      'enables rotation with the declared period',
      kmsKey(withSpec({ rotation: { periodInDays: 180 } })),
      ['EnableKeyRotation'],
    ],
    [
      'changes the period of a rotating key',
      kmsKey(withSpec({ rotation: { periodInDays: 180 } }), rotation({ enabled: true, periodInDays: 365 })),
      ['EnableKeyRotation'],
    ],
    [
      'leaves a matching rotation alone',
      kmsKey(withSpec({ rotation: { periodInDays: 180 } }), rotation({ enabled: true, periodInDays: 180 })),
      [],
    ],
    [
      'disables rotation when asked',
      kmsKey(withSpec({ rotation: { enabled: false } }), rotation({ enabled: true, periodInDays: 365 })),
      ['DisableKeyRotation'],
    ],
    ['leaves rotation alone when the spec does not mention it', kmsKey(rotation({ enabled: true })), []],
    [
      'rotates on demand for a new token',
      kmsKey(withSpec({ rotation: { enabled: false, onDemandToken: 'r1' } })),
      ['RotateKeyOnDemand'],
    ],
    [
      'never rotates twice for the same token',
      kmsKey(withSpec({ rotation: { enabled: false, onDemandToken: 'r1' } }), lastToken('r1')),
      [],
    ],
    [
      'waits while an on-demand rotation runs',
      kmsKey(
        withSpec({ rotation: { enabled: false, onDemandToken: 'r2' } }),
        rotation({ onDemandRotationStartDate: '2026-11-23T00:00:00Z' }),
      ),
      [],
    ],
    [
      'does not touch rotation of a disabled key',
      kmsKey(withSpec({ rotation: { enabled: true } }), keyState('Disabled')),
      [],
    ],
    [
      'Observe mode reports rotation drift without acting',
      kmsKey(observeOnly, withSpec({ rotation: { enabled: true } })),
      [],
    ],
    [
      'cancels an out-of-band deletion of a key in use when protected',
      kmsKey(usedBy(1), keyState('PendingDeletion'), withSpec({ protection: { cancelDeletion: true } })),
      ['CancelKeyDeletion'],
    ],
    [
      'cancels and re-enables when told to',
      kmsKey(
        usedBy(1),
        keyState('PendingDeletion'),
        withSpec({ protection: { cancelDeletion: true, reenable: true } }),
      ),
      ['CancelKeyDeletion', 'EnableKey'],
    ],
    [
      're-enables a key disabled out of band when protected',
      kmsKey(usedBy(2), keyState('Disabled'), withSpec({ protection: { reenable: true } })),
      ['EnableKey'],
    ],
    [
      'does not re-enable a key nobody uses',
      kmsKey(keyState('Disabled'), withSpec({ protection: { reenable: true } })),
      [],
    ],
    ['does not protect without being told to', kmsKey(usedBy(1), keyState('PendingDeletion')), []],
    [
      'deletion is held while workloads reference the key',
      kmsKey(deleting, usedBy(3), withSpec({ deletionPolicy: 'ScheduleDeletion' })),
      [],
    ],
    ['deletion with Retain only releases the finalizer', kmsKey(deleting), ['RemoveFinalizer']],
    [
      'deletion with ScheduleDeletion schedules then releases',
      kmsKey(deleting, withSpec({ deletionPolicy: 'ScheduleDeletion', pendingWindowInDays: 7 })),
      ['ScheduleKeyDeletion', 'RemoveFinalizer'],
    ],
    [
      'deletion of a key already pending deletion does not schedule again',
      kmsKey(deleting, keyState('PendingDeletion'), withSpec({ deletionPolicy: 'ScheduleDeletion' })),
      ['RemoveFinalizer'],
    ],
    [
      'deletion in Observe mode never schedules',
      kmsKey(deleting, observeOnly, withSpec({ deletionPolicy: 'ScheduleDeletion' })),
      ['RemoveFinalizer'],
    ],
    ['deletion of a vanished key releases the finalizer', kmsKey(deleting, notFound), ['RemoveFinalizer']],
  ] as const)('%s', (_name, input, expected) => {
    expect(actionTypes(input)).toEqual(expected);
  });
});

describe('planKmsKey conditions and outcomes', () => {
  it('a usable key is KeyUsable and settles', () => {
    const plan = planKmsKey(kmsKey());
    expect(condition(kmsKey(), 'KeyUsable')).toMatchObject({ status: 'True' });
    expect(plan.outcome.kind).toBe('continue');
  });

  // Stalled means a person is needed: a disabled key or one pending deletion stays that way until
  // someone acts; a key AWS is still creating only needs time.
  it.each([
    ['disabled', keyState('Disabled'), 'KeyDisabled', 'stalled'],
    ['pending deletion', keyState('PendingDeletion'), 'KeyPendingDeletion', 'stalled'],
    ['pending import', keyState('PendingImport'), 'KeyNotEnabled', 'stalled'],
    ['unavailable (key store disconnected)', keyState('Unavailable'), 'KeyNotEnabled', 'stalled'],
    ['still creating', keyState('Creating'), 'KeyNotEnabled', 'waiting'],
    ['missing', notFound, 'KeyNotFound', 'stalled'],
  ] as const)('a %s key is not usable (%s) and the reconcile is %s', (_n, mod, reason, outcome) => {
    const input = kmsKey(mod);
    expect(condition(input, 'KeyUsable')).toMatchObject({ status: 'False', reason });
    expect(planKmsKey(input).outcome.kind).toBe(outcome);
  });

  it('a disabled key the operator re-enables (protection.reenable) is its own work, not Stalled', () => {
    const plan = planKmsKey(
      kmsKey(usedBy(1), keyState('Disabled'), withSpec({ protection: { reenable: true } })),
    );
    expect(plan.actions.map((a) => a.type)).toEqual(['EnableKey']);
    expect(plan.outcome.kind).toBe('continue');
  });

  it('a key in use that is disabled out of band raises a Warning event at once', () => {
    const events = planKmsKey(kmsKey(usedBy(2), keyState('Disabled'))).events;
    expect(events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'KeyDisabledInUse' })]);
  });

  it('held deletion says which workloads hold it', () => {
    const plan = planKmsKey(kmsKey(deleting, usedBy(7)));
    const blocked = plan.conditions.find((c) => c.type === 'DeletionBlocked');
    expect(blocked?.message).toContain('KeyspacesTable team-a/t0');
    expect(blocked?.message).toContain('and 2 more');
    expect(plan.events[0]).toMatchObject({ type: 'Warning', reason: 'DeletionBlocked' });
  });

  it('status keeps the resolved key and lists references in a stable order', () => {
    const plan = planKmsKey(kmsKey(usedBy(3)));
    expect(plan.status.keyArn).toBe(arn);
    expect(plan.status.usedBy?.map((r) => r.name)).toEqual(['t0', 't1', 't2']);
  });

  it('a key with thousands of users names the first 100 in usedBy and counts them all', () => {
    // Job runs and workloads of 3 kinds in 5 namespaces, 1,500 in all, in no particular order.
    const kinds = ['KeyspacesTable', 'FlinkApplication', 'EmrServerlessJobRun'];
    const references = Array.from({ length: 1500 }, (_, k) => ({
      kind: kinds[(k * 7) % 3]!,
      namespace: `team-${(k * 13) % 5}`,
      name: `w${(k * 31) % 1500}`,
    }));
    const plan = planKmsKey({ ...kmsKey(), references });
    const listed = plan.status.usedBy!;
    expect(listed).toHaveLength(usedByListed);
    const order = (r: { kind: string; namespace: string; name: string }) =>
      `${r.kind}/${r.namespace}/${r.name}`;
    const expected = references.map(order).sort().slice(0, usedByListed);
    expect(listed.map(order)).toEqual(expected);
    // The status write passes the CRD's bound (a list of 1,500 would be refused by the API server).
    expect(Check(KmsKeyStatus.properties.usedBy, listed)).toBe(true);
    expect(Check(KmsKeyStatus.properties.usedBy, references)).toBe(false);
  });

  it('access denied on DescribeKey stalls with the AWS message', () => {
    const plan = planKmsKey(
      kmsKey((i) => ({
        ...i,
        observed: {
          kind: 'error',
          failure: { cause: 'AccessDenied', code: 'AccessDeniedException', message: 'no kms:DescribeKey' },
        },
      })),
    );
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'AccessDenied' });
  });
});

describe('on-demand rotation happens once per token, even across restarts', () => {
  const pending =
    (token: string, requestedAt: string, lastRotationBefore?: string): KmsKeyMod =>
    (i) => ({
      ...i,
      status: {
        rotation: {
          enabled: false,
          pendingOnDemand: { token, requestedAt, ...(lastRotationBefore ? { lastRotationBefore } : {}) },
        },
      },
    });
  const withToken = withSpec({ rotation: { enabled: false, onDemandToken: 'r1' } });

  it('a recorded intent with the rotation visible in KMS is recorded, not repeated', () => {
    const input = kmsKey(
      withToken,
      pending('r1', '2026-11-23T10:00:00Z'),
      rotation({ recent: [{ date: '2026-11-23T10:00:05Z', type: 'ON_DEMAND' }] }),
    );
    const plan = planKmsKey(input);
    expect(plan.actions).toEqual([]);
    expect(plan.status.rotation?.lastOnDemandToken).toBe('r1');
    expect(plan.status.rotation?.pendingOnDemand).toBeUndefined();
  });

  it('a recorded intent with the rotation still running is recorded and waited for', () => {
    const input = kmsKey(
      withToken,
      pending('r1', '2026-11-23T10:00:00Z'),
      rotation({ onDemandRotationStartDate: '2026-11-23T10:00:01Z' }),
    );
    expect(actionTypes(input)).toEqual([]);
    expect(condition(input, 'RotationCurrent')).toMatchObject({ status: 'False', reason: 'RotationPending' });
  });

  it('a recorded intent that never reached KMS is retried', () => {
    const input = kmsKey(
      withToken,
      pending('r1', '2026-11-23T10:00:00Z', '2026-11-01T00:00:00Z'),
      rotation({ recent: [{ date: '2026-11-01T00:00:00Z', type: 'ON_DEMAND' }] }),
    );
    expect(actionTypes(input)).toEqual(['RotateKeyOnDemand']);
  });

  it("an earlier token's rotation moments before is not taken for this token's (no clock window)", () => {
    const input = kmsKey(
      withToken,
      pending('r1', '2026-11-23T10:00:30Z', '2026-11-23T10:00:01Z'),
      rotation({ recent: [{ date: '2026-11-23T10:00:01Z', type: 'ON_DEMAND' }] }),
    );
    expect(actionTypes(input)).toEqual(['RotateKeyOnDemand']);
  });

  it('an automatic rotation is not mistaken for ours', () => {
    const input = kmsKey(
      withToken,
      pending('r1', '2026-11-23T10:00:00Z'),
      rotation({ recent: [{ date: '2026-11-23T10:00:05Z', type: 'AUTOMATIC' }] }),
    );
    expect(actionTypes(input)).toEqual(['RotateKeyOnDemand']);
  });
});

describe('a token refused for good', () => {
  it('stays reported (and Stalled) until the token changes', () => {
    const refusedInput = kmsKey(withSpec({ rotation: { enabled: false, onDemandToken: 'two' } }), (i) => ({
      ...i,
      status: { rotation: { enabled: false, lastOnDemandToken: 'two', lastOnDemandRefusal: 'cap used up' } },
    }));
    const plan = planKmsKey(refusedInput);
    expect(plan.actions).toEqual([]);
    expect(condition(refusedInput, 'RotationCurrent')).toMatchObject({
      status: 'False',
      reason: 'OnDemandRotationLimitExceeded',
    });
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'OnDemandRotationLimitExceeded' });
    const next = withSpec({ rotation: { enabled: false, onDemandToken: 'three' } })(refusedInput);
    expect(actionTypes(next)).toEqual(['RotateKeyOnDemand']);
  });
});

describe('the key is assessed in every branch, deletion included', () => {
  it('a held deletion still reports a key disabled out of band, Stalled with the fix', () => {
    const plan = planKmsKey(kmsKey(deleting, usedBy(2), keyState('Disabled')));
    expect(condition(kmsKey(deleting, usedBy(2), keyState('Disabled')), 'KeyUsable')).toMatchObject({
      status: 'False',
      reason: 'KeyDisabled',
    });
    expect(plan.status.keyState).toBe('Disabled');
    expect(plan.conditions.find((c) => c.type === 'DeletionBlocked')?.status).toBe('True');
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'KeyDisabled' });
    expect(plan.outcome.kind === 'stalled' && plan.outcome.message).toContain('enable it');
    expect(plan.events.map((e) => e.reason)).toContain('KeyDisabledInUse');
  });

  it('protection acts while the deletion is held: re-enable, cancel a deletion', () => {
    const protect = withSpec({ protection: { reenable: true, cancelDeletion: true } });
    expect(actionTypes(kmsKey(deleting, usedBy(1), keyState('Disabled'), protect))).toEqual(['EnableKey']);
    expect(actionTypes(kmsKey(deleting, usedBy(1), keyState('PendingDeletion'), protect))).toEqual([
      'CancelKeyDeletion',
      'EnableKey',
    ]);
  });

  it('a held deletion of a usable key waits (KeyInUse), not Stalled', () => {
    expect(planKmsKey(kmsKey(deleting, usedBy(1))).outcome).toMatchObject({
      kind: 'waiting',
      reason: 'KeyInUse',
    });
  });
});

describe('rotation defaults are what the schema says', () => {
  const created = (i: KmsKeyPlanInput): KmsKeyPlanInput => ({
    ...i,
    spec: { create: {} },
    status: { keyArn: arn },
  });
  it('a key this object created gets automatic rotation without a rotation block', () => {
    expect(actionTypes(kmsKey(created))).toEqual(['EnableKeyRotation']);
    expect(condition(kmsKey(created), 'RotationCurrent')).toMatchObject({
      status: 'False',
      reason: 'RotationPending',
    });
  });
  it('an adopted key without a rotation block keeps the rotation AWS has', () => {
    expect(actionTypes(kmsKey())).toEqual([]);
    expect(actionTypes(kmsKey(rotation({ enabled: true, periodInDays: 365 })))).toEqual([]);
  });
  it('an on-demand token alone rotates once and never turns automatic rotation on', () => {
    const input = kmsKey(withSpec({ rotation: { onDemandToken: 'r1' } }));
    expect(actionTypes(input)).toEqual(['RotateKeyOnDemand']);
  });
  it('an on-demand token alone never turns automatic rotation off either', () => {
    const input = kmsKey(
      withSpec({ rotation: { onDemandToken: 'r1' } }),
      rotation({ enabled: true }),
      lastToken('r1'),
    );
    expect(actionTypes(input)).toEqual([]);
    expect(condition(input, 'RotationCurrent')).toMatchObject({ status: 'True' });
  });
  it('imported key material is never rotated by default', () => {
    const imported: KmsKeyMod = (i) =>
      i.observed.kind === 'found'
        ? { ...i, observed: { ...i.observed, key: { ...i.observed.key, origin: 'EXTERNAL' } } }
        : i;
    expect(actionTypes(kmsKey(created, imported))).toEqual([]);
  });
});

describe('the key policy, as its users read it', () => {
  const refused = (i: KmsKeyPlanInput): KmsKeyPlanInput => ({
    ...i,
    policyRefusals: [
      { who: 'FlinkApplication team-a/orders', message: 'the key policy does not allow kms:CreateGrant' },
    ],
  });
  it('a policy that shuts a workload out is Stalled on the KmsKey, naming the workload and the fix', () => {
    const plan = planKmsKey(kmsKey(usedBy(1), refused));
    expect(plan.conditions.find((c) => c.type === 'ServiceAccess')).toMatchObject({
      status: 'False',
      reason: 'KeyPolicyDeniesService',
    });
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'KeyPolicyDeniesService' });
    expect(plan.outcome.kind === 'stalled' && plan.outcome.message).toContain(
      'FlinkApplication team-a/orders',
    );
    // The key itself stays usable: workloads that reference it keep resolving it.
    expect(condition(kmsKey(usedBy(1), refused), 'KeyUsable')).toMatchObject({ status: 'True' });
  });
  it('users that can use the key are reported as such', () => {
    expect(condition(kmsKey(usedBy(2)), 'ServiceAccess')).toMatchObject({ status: 'True' });
    expect(planKmsKey(kmsKey(usedBy(2))).outcome.kind).toBe('continue');
  });
  it('a key with no users says nothing about them', () => {
    expect(condition(kmsKey(), 'ServiceAccess')).toBeUndefined();
  });
});
