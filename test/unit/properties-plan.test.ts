// Property tests of the pure plan functions (workload, KmsKey, job run) and of the error classifier
// at the adapters' edge. Random inputs, including nonsensical but type-valid ones (a window starting
// at "99:99", dates that are not dates, AWS states no version knows, clocks that disagree), must never
// make a plan throw or hang, and every plan must keep the safety invariants:
//   - never an action that moves a workload onto a key that failed pre-flight (invariant 1);
//   - never scheduling deletion of, or releasing the finalizer of, a key that is referenced (2);
//   - Observe mode, a tenancy refusal or another owner's claim never yields an AWS mutation;
//   - nothing changes while AWS is transitioning, and the finalizer precedes the first mutation;
//   - the conditions, put through the kstatus derivation as the reconcilers do, obey kstatus
//     (kstatusViolations) with one condition per type;
//   - requeueAfter is a finite number within the resync bounds.
// The properties already in jobrun-plan.test.ts (submission), kstatus.test.ts and
// runtime-conditions.test.ts (condition algebra) are not repeated here.
//
// Unseeded on purpose: fast-check picks a new seed each run and prints it with the shrunk
// counterexample on failure.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KmsKeySpec, KmsKeyStatus } from '../../src/api/kmskey.ts';
import { workloadCapabilities } from '../../src/aws/capabilities.ts';
import { type AwsFailure, classifyAwsError, errorCauses } from '../../src/aws/errors.ts';
import type {
  ChangeBlocker,
  EncryptionSetting,
  ServiceFacts,
  WorkloadCapabilities,
  WorkloadOperation,
  WorkloadState,
} from '../../src/aws/workload.ts';
import type { KeyFacts, RotationFacts } from '../../src/keys/key-facts.ts';
import { type JobRunPlanInput, planJobRun } from '../../src/reconcile/jobrun-plan.ts';
import {
  type KmsKeyPlan,
  type KmsKeyPlanInput,
  planKmsKey,
  rotationPollMs,
} from '../../src/reconcile/kmskey-plan.ts';
import type { DesiredCondition, PlanOutcome } from '../../src/reconcile/types.ts';
import { resync } from '../../src/reconcile/types.ts';
import {
  failedSwitchRetryMs,
  ownerTag,
  planWorkload,
  type WorkloadPlan,
  type WorkloadPlanInput,
} from '../../src/reconcile/workload-plan.ts';
import {
  type Condition,
  kstatusViolations,
  setCondition,
  withKstatus,
} from '../../src/runtime/conditions.ts';
import { keyFacts as factsOf, keyA, keyB, keyFactsMembers } from '../fixtures/keys.ts';

// ---- shared arbitraries ---------------------------------------------------------------------------

const claim = 'it/team-a/orders';
const day = 86_400_000;
const t2026 = Date.UTC(2026, 10, 23, 12, 0, 0);

/** A clock anywhere from 1970 to 2200: plans format it as an ISO date. */
const nowArb = fc.oneof(
  fc.integer({ min: t2026 - 30 * day, max: t2026 + 30 * day }),
  fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }),
);
/** Reasons arrive CamelCase by contract (adapters, key checks, key resolution). */
const camel = fc.oneof(
  fc.constantFrom('KmsKeyNotReady', 'KeyDisabled', 'KeyPolicyMissingPermission', 'ApplicationRunning', 'X'),
  fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,15}$/),
);
const text = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('', 'ü\u0000\u202e'));
/** A reference or key that does not resolve (yet, or for good). */
const unresolved = fc.record({
  kind: fc.constant('unresolved' as const),
  reason: camel,
  message: text,
  terminal: fc.boolean(),
});
/** A pre-flight verdict, or none. */
const preflight = fc.option(
  fc.oneof(
    fc.constant({ ok: true as const }),
    fc.record({ ok: fc.constant(false as const), reason: camel, message: text }),
  ),
  { nil: undefined },
);
/** Date strings as status may hold them: valid, from another century, or no date at all. */
const dateText = fc.oneof(
  fc.integer({ min: t2026 - 60 * day, max: t2026 + 60 * day }).map((ms) => new Date(ms).toISOString()),
  fc
    .integer({ min: t2026 - 2 * 3_600_000, max: t2026 + 2 * 3_600_000 })
    .map((ms) => new Date(ms).toISOString()),
  fc.integer({ min: -8.64e15, max: 8.64e15 }).map((ms) => new Date(ms).toISOString()),
  fc.constantFrom('yesterday', '', '2026-13-45T99:99:99Z', '0'),
);
const keyArnArb = fc.constantFrom(keyA, keyB, '', 'arn:aws:kms:eu-west-1:999999999999:key/x');
const setting: fc.Arbitrary<EncryptionSetting> = fc.oneof(
  fc.constant<EncryptionSetting>({ type: 'AwsOwned' }),
  fc.record(
    {
      type: fc.constant('CustomerManaged' as const),
      keyArn: keyArnArb,
      encryptionContext: fc.dictionary(fc.constantFrom('team', 'app', ''), fc.constantFrom('a', 'b', '')),
    },
    { requiredKeys: ['type', 'keyArn'] },
  ),
);
const window = fc.record(
  {
    days: fc.subarray(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const),
    start: fc.oneof(
      fc
        .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
        .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`),
      fc.constantFrom('99:99', '24:00', '', ':', '1:2:3', 'ab:cd', '-1:30'),
    ),
    durationMinutes: fc.oneof(
      fc.integer({ min: 15, max: 1440 }),
      fc.constantFrom(0, -60, 1e9, Number.MAX_SAFE_INTEGER),
    ),
  },
  { requiredKeys: ['start', 'durationMinutes'] },
);
const causes = errorCauses;
const failure: fc.Arbitrary<AwsFailure> = fc.record({
  cause: fc.constantFrom(...causes),
  code: text,
  message: text,
});
const operation: fc.Arbitrary<WorkloadOperation & { fromKey?: string; toKey?: string }> = fc.record(
  {
    id: fc.constantFrom('op1', 'op2', ''),
    action: fc.constantFrom('UpdateApplication', 'UpdateTable', 'StopApplication', ''),
    status: fc.constantFrom('InProgress', 'Succeeded', 'Failed'),
    startTime: dateText,
    endTime: dateText,
    message: text,
    fromKey: fc.oneof(keyArnArb, fc.constant('AWS_OWNED')),
    toKey: fc.oneof(keyArnArb, fc.constant('AWS_OWNED')),
  },
  { requiredKeys: ['action', 'status'] },
);
const workloadState: fc.Arbitrary<WorkloadState> = fc.record(
  {
    resourceArn: fc.constantFrom('arn:aws:kinesisanalytics:us-east-1:111122223333:application/orders', ''),
    awsState: fc.oneof(fc.constantFrom('RUNNING', 'READY', 'ACTIVE', 'STARTED', 'STOPPED', 'UPDATING'), text),
    settled: fc.boolean(),
    encryption: setting,
    blocker: fc.oneof(
      fc.constantFrom<ChangeBlocker>(
        { kind: 'Transitioning' },
        { kind: 'TableInaccessible' },
        { kind: 'RolledBack' },
        { kind: 'Terminated' },
      ),
      fc
        .array(fc.constantFrom('j1', 'j2', '', ','), { maxLength: 3 })
        .map((activeJobRunIds): ChangeBlocker => ({ kind: 'ApplicationRunning', activeJobRunIds })),
    ),
    running: fc.boolean(),
    keyInaccessible: fc.boolean(),
    tags: fc.oneof(
      fc.constant({ [ownerTag]: claim }),
      fc.constant({}),
      fc.dictionary(fc.constantFrom(ownerTag, 'team'), fc.constantFrom(claim, 'other/ns/x', '')),
    ),
    lastOperation: operation,
    facts: fc.constantFrom<ServiceFacts>(
      { service: 'ManagedFlink', applicationVersionId: 3 },
      { service: 'Keyspaces' },
      { service: 'EmrServerless', activeJobs: 2 },
    ),
  },
  { requiredKeys: ['resourceArn', 'awsState', 'settled', 'encryption', 'running', 'tags', 'facts'] },
);

const workloadInput: fc.Arbitrary<WorkloadPlanInput> = fc.record(
  {
    now: nowArb,
    service: fc.constantFrom('ManagedFlink', 'Keyspaces', 'EmrServerless'),
    // Any combination a service could declare (absent: the service's own).
    capabilities: fc.record<WorkloadCapabilities>({
      changeKeyOperation: fc.constantFrom('UpdateApplication', 'UpdateTable'),
      comparesEncryptionContext: fc.boolean(),
      outgoingKeyMustStayUsable: fc.boolean(),
      changeRestartsRunning: fc.boolean(),
      keepsMaterialUntilRestart: fc.boolean(),
      reportsKeyAccessibility: fc.boolean(),
      jobLevelKeys: fc.boolean(),
    }),
    spec: fc.record(
      {
        mode: fc.constantFrom('Enforce', 'Observe'),
        deletionPolicy: fc.constantFrom('Orphan', 'RevertToAwsOwned'),
        restartAfterRotation: fc.constantFrom('Never', 'Auto'),
        whenStarted: fc.constantFrom('Wait', 'StopAndUpdate'),
        cancelRunningJobs: fc.boolean(),
        maintenanceWindow: window,
      },
      { requiredKeys: [] },
    ),
    status: fc.option(
      fc.record(
        {
          current: fc.record(
            {
              keyType: fc.constantFrom('AwsOwned', 'CustomerManaged'),
              keyArn: keyArnArb,
              keyMaterialId: fc.constantFrom('m0', 'm1', ''),
            },
            { requiredKeys: ['keyType'] },
          ),
          lastOperation: operation,
          pendingStart: fc.boolean(),
          inaccessibleSince: dateText,
        },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    ),
    deleting: fc.boolean(),
    hasFinalizer: fc.boolean(),
    desired: fc.oneof(
      fc.record(
        {
          kind: fc.constant('resolved' as const),
          setting,
          currentKeyMaterialId: fc.constantFrom('m0', 'm1', ''),
        },
        { requiredKeys: ['kind', 'setting'] },
      ),
      unresolved,
    ),
    preflight,
    observed: fc.oneof(
      { weight: 4, arbitrary: workloadState.map((state) => ({ kind: 'found' as const, state })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'notFound' as const }) },
      { weight: 1, arbitrary: failure.map((f) => ({ kind: 'error' as const, failure: f })) },
    ),
    claim: fc.constant(claim),
    refusal: fc.record({ reason: camel, message: text }),
  },
  {
    requiredKeys: [
      'now',
      'service',
      'spec',
      'status',
      'deleting',
      'hasFinalizer',
      'desired',
      'preflight',
      'observed',
      'claim',
    ],
  },
);

// ---- shared checks -----------------------------------------------------------------------------

/** Runs a plan function and fails when it takes longer than any pure decision should. */
function timed<T>(plan: () => T): T {
  const started = performance.now();
  const result = plan();
  expect(performance.now() - started, 'plan took too long').toBeLessThan(250);
  return result;
}

function expectRequeue(ms: number, max: number): void {
  expect(Number.isFinite(ms), `requeueAfterMs ${ms}`).toBe(true);
  // The most often anything is looked at: an on-demand rotation in progress.
  expect(ms, 'requeueAfterMs').toBeGreaterThanOrEqual(rotationPollMs);
  expect(ms, 'requeueAfterMs').toBeLessThanOrEqual(max);
}

/**
 * Puts a plan's conditions through setCondition and withKstatus the way the reconcilers do
 * (stalled from a stalled outcome, reconciling from a waiting one or from mutations requested) and
 * returns the kstatus violations. setCondition itself throws on a reason that is not CamelCase.
 */
function kstatusOf(
  plan: {
    conditions: DesiredCondition[];
    outcome: PlanOutcome;
    reconciling?: { reason: string; message: string };
  },
  readyWhen: string[],
  mutated: boolean,
  previous: Condition[] = [],
): string[] {
  const types = plan.conditions.map((c) => c.type);
  expect(new Set(types).size, `one condition per type: ${types.join(',')}`).toBe(types.length);
  const stamp = { generation: 3, now: t2026 };
  let conditions = previous;
  for (const c of plan.conditions) conditions = setCondition(conditions, c, stamp);
  const o = plan.outcome;
  const stalled = o.kind === 'stalled' ? { reason: o.reason, message: o.message } : undefined;
  const reconciling =
    o.kind === 'waiting'
      ? { reason: o.reason, message: o.message }
      : (plan.reconciling ?? (mutated ? { reason: 'Progressing', message: 'changes requested' } : undefined));
  conditions = withKstatus(
    conditions,
    { ...(stalled ? { stalled } : { ...(reconciling ? { reconciling } : {}) }), readyWhen },
    stamp,
  );
  if (o.kind === 'waiting') expect(o.retryAfterMs).toBeGreaterThan(0);
  return kstatusViolations(conditions, 3);
}

/** Conditions left from an earlier reconcile, so the derivation starts from a lived-in status. */
const previousConditions: fc.Arbitrary<Condition[]> = fc
  .array(
    fc.record({
      type: fc.constantFrom('Ready', 'Reconciling', 'Stalled', 'KeyUsable', 'KeyCurrent', 'RotationCurrent'),
      status: fc.constantFrom('True', 'False', 'Unknown'),
      reason: camel,
    }),
    { maxLength: 5 },
  )
  .map((cs) =>
    cs.reduce<Condition[]>(
      (acc, c) => setCondition(acc, { ...c, message: 'earlier' }, { generation: 2, now: t2026 - day }),
      [],
    ),
  );

// ---- the workload plan -----------------------------------------------------------------------------

const awsMutations = new Set(['Claim', 'ChangeKey', 'Stop', 'CancelJobRuns', 'Start', 'Release']);

describe('planWorkload (property)', { timeout: 60_000 }, () => {
  it('never throws or hangs, and keeps the safety invariants on any input', () => {
    fc.assert(
      fc.property(workloadInput, previousConditions, (input, previous) => {
        const plan: WorkloadPlan = timed(() => planWorkload(input));
        const types = plan.actions.map((a) => a.type);
        const mutations = plan.actions.filter((a) => awsMutations.has(a.type));
        const enforce = (input.spec.mode ?? 'Enforce') === 'Enforce';
        const found = input.observed.kind === 'found' ? input.observed.state : undefined;

        // Invariant 1: a key change goes only to the desired key, never past a failed pre-flight;
        // while deleting, only back to the AWS owned key.
        for (const a of plan.actions) {
          if (a.type !== 'ChangeKey') continue;
          if (input.deleting) {
            expect(a.to).toEqual({ type: 'AwsOwned' });
            expect(input.spec.deletionPolicy).toBe('RevertToAwsOwned');
          } else {
            expect(input.preflight?.ok ?? true, 'ChangeKey despite a failed pre-flight').toBe(true);
            expect(input.desired.kind).toBe('resolved');
            if (input.desired.kind === 'resolved') expect(a.to).toEqual(input.desired.setting);
          }
        }
        // No AWS mutation in Observe mode, under a tenancy refusal, or on a resource another owns.
        if (!enforce || input.refusal) expect(mutations, 'mutation in Observe mode or refused').toEqual([]);
        const owner = found?.tags[ownerTag];
        if (owner !== undefined && owner !== claim)
          expect(mutations, "mutation of another's resource").toEqual([]);
        // Nothing moves while AWS is transitioning or when the resource was not read.
        if (!found?.settled) {
          expect(
            mutations.filter((a) => a.type !== 'Claim'),
            'a change while AWS is unsettled or unread',
          ).toEqual([]);
        }
        // The finalizer: added before the first mutation, released only while deleting.
        if (types.includes('RemoveFinalizer')) expect(input.deleting).toBe(true);
        if (types.includes('AddFinalizer')) expect(input.deleting || input.hasFinalizer).toBe(false);
        if (!input.hasFinalizer && !input.deleting && mutations.length > 0)
          expect(types[0]).toBe('AddFinalizer');
        if (input.deleting && !input.hasFinalizer) expect(plan.actions).toEqual([]);
        // At most one action of each kind per pass.
        expect(new Set(types).size, types.join(',')).toBe(types.length);

        expectRequeue(plan.requeueAfterMs, failedSwitchRetryMs);
        if (!input.deleting) {
          const readyWhen = [
            'KeyUsable',
            'KeyCurrent',
            ...plan.conditions
              .filter((c) => c.type === 'MaterialCurrent' || c.type === 'KeyAccessible')
              .map((c) => c.type),
          ];
          expect(kstatusOf(plan, readyWhen, mutations.length > 0, previous)).toEqual([]);
        }
        // Status derived from the plan holds dates that are dates.
        for (const k of ['inaccessibleSince', 'deletionAfter']) {
          const v = plan.status[k];
          if (v !== undefined) expect(Number.isNaN(Date.parse(String(v))), `${k} ${String(v)}`).toBe(false);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('planWorkload: a failed switch (property)', { timeout: 60_000 }, () => {
  it('holds off a repeat of the same failed switch for at most failedSwitchRetryMs, whatever its end time says', () => {
    const now = t2026;
    fc.assert(
      fc.property(
        dateText,
        fc.constantFrom('ManagedFlink', 'Keyspaces', 'EmrServerless'),
        (endTime, service) => {
          const plan = planWorkload({
            now,
            service,
            capabilities: workloadCapabilities[service],
            spec: {},
            status: {
              lastOperation: { action: 'UpdateApplication', status: 'Failed', toKey: keyA, endTime },
            },
            deleting: false,
            hasFinalizer: true,
            desired: { kind: 'resolved', setting: { type: 'CustomerManaged', keyArn: keyA } },
            preflight: { ok: true },
            observed: {
              kind: 'found',
              state: {
                resourceArn: 'arn:aws:cassandra:us-east-1:111122223333:/keyspace/shop/table/orders',
                awsState: 'READY',
                settled: true,
                encryption: { type: 'AwsOwned' },
                running: false,
                tags: { [ownerTag]: claim },
                facts: { service: 'Keyspaces' },
              },
            },
            claim,
          });
          expectRequeue(plan.requeueAfterMs, failedSwitchRetryMs);
          const held = plan.outcome.kind === 'stalled';
          // Held: the retry it announces is no later than failedSwitchRetryMs from now.
          if (held) {
            const announced = /tries again after (\S+)$/.exec(
              plan.outcome.kind === 'stalled' ? plan.outcome.message : '',
            );
            expect(Date.parse(announced?.[1] ?? '') - now).toBeLessThanOrEqual(failedSwitchRetryMs);
          } else {
            expect(plan.actions.map((a) => a.type)).toEqual(['ChangeKey']);
          }
          // A failure recorded within the window before now is always held.
          const failedAt = Date.parse(endTime);
          if (failedAt <= now && now - failedAt < failedSwitchRetryMs) expect(held).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

// ---- the KmsKey plan -------------------------------------------------------------------------------

const keyFacts: fc.Arbitrary<KeyFacts> = fc.record(
  {
    keyId: fc.constantFrom('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', ''),
    arn: keyArnArb,
    accountId: fc.constantFrom('111122223333', ''),
    region: fc.constantFrom('us-east-1', 'eu-west-1', ''),
    state: fc.oneof(
      fc.constantFrom(
        'Enabled',
        'Disabled',
        'PendingDeletion',
        'PendingReplicaDeletion',
        'PendingImport',
        'Unavailable',
      ),
      text,
    ),
    keySpec: fc.constantFrom('SYMMETRIC_DEFAULT', 'RSA_2048', 'Unknown'),
    keyUsage: fc.constantFrom('ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'Unknown'),
    keyManager: fc.constantFrom('CUSTOMER', 'AWS', 'Unknown'),
    origin: fc.constantFrom('AWS_KMS', 'EXTERNAL', 'Unknown'),
    multiRegion: fc.boolean(),
    deletionDate: dateText,
    currentKeyMaterialId: fc.constantFrom('m0', 'm1'),
  },
  {
    requiredKeys: [...keyFactsMembers],
  },
);
const rotationFacts: fc.Arbitrary<RotationFacts> = fc.record(
  {
    enabled: fc.boolean(),
    periodInDays: fc.oneof(fc.integer({ min: 90, max: 2560 }), fc.constantFrom(0, -1, 365)),
    nextRotationDate: dateText,
    onDemandRotationStartDate: dateText,
    recent: fc.array(
      fc.record(
        {
          date: dateText,
          type: fc.constantFrom('AUTOMATIC', 'ON_DEMAND'),
          keyMaterialId: fc.constantFrom('m0', 'm1'),
        },
        { requiredKeys: ['date', 'type'] },
      ),
      { maxLength: 4 },
    ),
  },
  { requiredKeys: ['enabled', 'recent'] },
);
const token = fc.constantFrom('t1', 't2', '');
const kmsKeySpec: fc.Arbitrary<KmsKeySpec> = fc.record(
  {
    keyId: fc.constantFrom('alias/orders', keyA),
    create: fc.record(
      {
        description: text,
        alias: fc.constantFrom('alias/new', ''),
        tags: fc.dictionary(fc.constantFrom('team', 'cost'), fc.constantFrom('a', '')),
        policy: fc.record({ services: fc.subarray(['ManagedFlink', 'Keyspaces', 'EmrServerless'] as const) }),
      },
      { requiredKeys: [] },
    ),
    region: fc.constantFrom('us-east-1', 'eu-west-1'),
    mode: fc.constantFrom('Enforce', 'Observe'),
    rotation: fc.record(
      {
        enabled: fc.boolean(),
        periodInDays: fc.oneof(fc.integer({ min: 90, max: 2560 }), fc.constant(365)),
        onDemandToken: token,
      },
      { requiredKeys: [] },
    ),
    deletionPolicy: fc.constantFrom('Retain', 'ScheduleDeletion'),
    pendingWindowInDays: fc.integer({ min: 7, max: 30 }),
    protection: fc.record({ cancelDeletion: fc.boolean(), reenable: fc.boolean() }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);
const kmsKeyStatus: fc.Arbitrary<KmsKeyStatus> = fc.record(
  {
    keyArn: keyArnArb,
    rotation: fc.record(
      {
        enabled: fc.boolean(),
        lastOnDemandToken: token,
        lastOnDemandRefusal: text,
        pendingOnDemand: fc.record(
          { token, requestedAt: dateText, lastRotationBefore: dateText },
          { requiredKeys: ['token', 'requestedAt'] },
        ),
      },
      { requiredKeys: ['enabled'] },
    ),
  },
  { requiredKeys: [] },
);
const reference = fc.record({
  kind: fc.constantFrom('FlinkApplication', 'KeyspacesTable', 'EmrServerlessApplication'),
  namespace: fc.constantFrom('team-a', 'team-b'),
  name: fc.constantFrom('orders', 'payments', 'etl'),
});
const kmsKeyInput: fc.Arbitrary<KmsKeyPlanInput> = fc.record(
  {
    now: nowArb,
    spec: kmsKeySpec,
    status: fc.option(kmsKeyStatus, { nil: undefined }),
    deleting: fc.boolean(),
    hasFinalizer: fc.boolean(),
    region: fc.constantFrom('us-east-1', 'eu-west-1'),
    observed: fc.oneof(
      {
        weight: 5,
        arbitrary: fc
          .tuple(keyFacts, fc.option(rotationFacts, { nil: undefined }))
          .map(([key, rotation]) => ({ kind: 'found' as const, key, rotation })),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom({ kind: 'notFound' as const }, { kind: 'notCreated' as const }),
      },
      { weight: 1, arbitrary: failure.map((f) => ({ kind: 'error' as const, failure: f })) },
    ),
    references: fc.array(reference, { maxLength: 7 }),
    refusal: fc.record({ reason: camel, message: text }),
    keyUses: fc.array(
      fc.record({
        kind: fc.constantFrom('FlinkApplication', 'KeyspacesTable', 'EmrServerlessJobRun', 'KmsKey'),
        namespace: fc.constantFrom('team-a', 'team-b'),
        name: fc.constantFrom('orders', 'payments', 'etl'),
        how: fc.constantFrom('on-key', 'switching-to', 'switching-from', 'declared-by'),
      }),
      { maxLength: 3 },
    ),
    authorityHeldBy: fc.record({
      namespace: fc.constantFrom('team-a', 'team-b'),
      name: fc.constantFrom('k1', 'k2'),
    }),
  },
  { requiredKeys: ['now', 'spec', 'status', 'deleting', 'hasFinalizer', 'region', 'observed', 'references'] },
);

const kmsMutations = new Set([
  'CreateKey',
  'EnableKeyRotation',
  'DisableKeyRotation',
  'RotateKeyOnDemand',
  'CancelKeyDeletion',
  'EnableKey',
  'ScheduleKeyDeletion',
]);

describe('planKmsKey (property)', { timeout: 60_000 }, () => {
  it('never throws or hangs, and never deletes, disables or releases a key that is in use', () => {
    fc.assert(
      fc.property(kmsKeyInput, previousConditions, (input, previous) => {
        const plan: KmsKeyPlan = timed(() => planKmsKey(input));
        const types = plan.actions.map((a) => a.type);
        const mutations = plan.actions.filter((a) => kmsMutations.has(a.type));
        const enforce = (input.spec.mode ?? 'Enforce') === 'Enforce';
        const inUse = input.references.length > 0;

        // Invariant 2: a referenced key is never scheduled for deletion and its finalizer stays.
        if (inUse) {
          expect(types, 'deletion or release of a key in use').not.toContain('ScheduleKeyDeletion');
          expect(types, 'finalizer released while the key is in use').not.toContain('RemoveFinalizer');
        }
        if (types.includes('ScheduleKeyDeletion')) {
          expect(input.deleting && enforce && input.spec.deletionPolicy === 'ScheduleDeletion').toBe(true);
          // Invariant 2 by the key's ARN: nothing in any namespace uses the key, and this object
          // holds the authority to delete it.
          expect(input.keyUses ?? [], 'deletion of a key used by ARN').toEqual([]);
          expect(input.authorityHeldBy, 'deletion without the authority').toBeUndefined();
        }
        if (types.includes('RemoveFinalizer')) expect(input.deleting).toBe(true);
        // Out-of-band protection acts only for a key in use, and only when asked.
        if (types.includes('CancelKeyDeletion'))
          expect(inUse && input.spec.protection?.cancelDeletion).toBe(true);
        if (types.includes('EnableKey')) expect(inUse && input.spec.protection?.reenable).toBe(true);
        // Observe mode and a tenancy refusal change nothing in AWS.
        if (!enforce || input.refusal) expect(mutations, 'mutation in Observe mode or refused').toEqual([]);
        // One on-demand rotation per token, never for the token already acted on.
        for (const a of plan.actions) {
          if (a.type !== 'RotateKeyOnDemand') continue;
          expect(a.token).toBe(input.spec.rotation?.onDemandToken);
          expect(a.token).not.toBe(input.status?.rotation?.lastOnDemandToken);
        }
        // The finalizer is added before any AWS side effect.
        if (!input.hasFinalizer && !input.deleting && mutations.length > 0)
          expect(types[0]).toBe('AddFinalizer');
        expect(new Set(types).size, types.join(',')).toBe(types.length);

        expectRequeue(plan.requeueAfterMs, resync.settledMs);
        if (!input.deleting) {
          const readyWhen = input.spec.rotation ? ['KeyUsable', 'RotationCurrent'] : ['KeyUsable'];
          expect(kstatusOf(plan, readyWhen, mutations.length > 0, previous)).toEqual([]);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('planKmsKey: tenancy on deletion (found by the property above)', () => {
  it('a namespace refused the key never schedules its deletion; it only lets go of the object', () => {
    const plan = planKmsKey({
      now: t2026,
      spec: { keyId: keyA, deletionPolicy: 'ScheduleDeletion', pendingWindowInDays: 7 },
      status: undefined,
      deleting: true,
      hasFinalizer: true,
      region: 'us-east-1',
      observed: {
        kind: 'found',
        key: factsOf(keyA),
        rotation: undefined,
      },
      references: [],
      refusal: {
        reason: 'KeyNotAllowed',
        message: 'namespace team-a may not use keys of account 111122223333',
      },
    });
    expect(plan.actions).toEqual([{ type: 'RemoveFinalizer' }]);
  });
});

// ---- the job run plan: what the submission property in jobrun-plan.test.ts does not cover --------

const jobRunInput: fc.Arbitrary<JobRunPlanInput> = fc.record({
  now: nowArb,
  uid: fc.uuid(),
  deleting: fc.boolean(),
  hasFinalizer: fc.boolean(),
  cancelOnDelete: fc.boolean(),
  status: fc.option(
    fc.record(
      {
        jobRunId: fc.constantFrom('jr1', ''),
        applicationId: fc.constantFrom('00fabc123def4567', ''),
        state: fc.oneof(fc.constantFrom('RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'), text),
        stateDetails: text,
        keyArn: keyArnArb,
        clientToken: fc.constantFrom('cmk-x', ''),
      },
      { requiredKeys: [] },
    ),
    { nil: undefined },
  ),
  application: fc.oneof(
    fc.record({
      kind: fc.constant('resolved' as const),
      applicationId: fc.constantFrom('00fabc123def4567', ''),
    }),
    unresolved,
  ),
  keySource: fc.constantFrom('job', 'application', 'none'),
  desired: fc.oneof(fc.record({ kind: fc.constant('resolved' as const), setting }), unresolved),
  preflight,
  observed: fc.oneof(
    fc.constant({ kind: 'notRead' as const }),
    fc.constant({ kind: 'notFound' as const }),
    failure.map((f) => ({ kind: 'error' as const, failure: f })),
    fc
      .record(
        {
          jobRunId: fc.constantFrom('jr1', ''),
          arn: fc.constantFrom(
            'arn:aws:emr-serverless:us-east-1:111122223333:/applications/a/jobruns/jr1',
            '',
          ),
          // Any string AWS may send: states of a newer API, lower case, digits, punctuation, empty.
          state: fc.oneof(fc.constantFrom('SUBMITTED', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLING'), text),
          stateDetails: text,
          finished: fc.boolean(),
          override: setting,
        },
        { requiredKeys: ['jobRunId', 'arn', 'state', 'finished'] },
      )
      .map((run) => ({ kind: 'found' as const, run })),
  ),
});

describe('planJobRun (property)', { timeout: 60_000 }, () => {
  it('turns any AWS state into kstatus-valid conditions, within the requeue bounds, never throwing', () => {
    fc.assert(
      fc.property(jobRunInput, previousConditions, (input, previous) => {
        const plan = timed(() => planJobRun(input));
        const types = plan.actions.map((a) => a.type);
        expectRequeue(plan.requeueAfterMs, resync.settledMs);
        // Invariant 1 for the job's key: a submitted CMK passed pre-flight.
        for (const a of plan.actions) {
          if (a.type === 'Submit' && a.setting.type === 'CustomerManaged') {
            expect(input.preflight?.ok ?? true).toBe(true);
          }
        }
        expect(new Set(types).size, types.join(',')).toBe(types.length);
        if (!input.deleting) {
          expect(kstatusOf(plan, ['KeyUsable', 'Succeeded'], types.includes('Submit'), previous)).toEqual([]);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// ---- the error classifier (the adapters' edge) -------------------------------------------------------

describe('classifyAwsError (property)', { timeout: 60_000 }, () => {
  it('classifies anything thrown into a known cause, whatever its name, code or metadata', () => {
    const name = fc.oneof(
      fc.constantFrom(
        'ThrottlingException',
        'ResourceNotFoundException',
        'constructor',
        'toString',
        '__proto__',
        'hasOwnProperty',
        'valueOf',
        'Error',
        '',
      ),
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.constant(undefined),
    );
    const thrown = fc.oneof(
      fc.record(
        {
          name,
          code: name,
          message: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
          $metadata: fc.record(
            {
              httpStatusCode: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.constant(0)),
              requestId: fc.string(),
            },
            { requiredKeys: [] },
          ),
          cause: fc.record({ code: name }, { requiredKeys: [] }),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    fc.assert(
      fc.property(thrown, (e) => {
        const f = classifyAwsError(e);
        expect(causes).toContain(f.cause);
        expect(typeof f.code).toBe('string');
        expect(typeof f.message).toBe('string');
      }),
    );
  });

  it('an error code that names an Object.prototype member is not a known code', () => {
    for (const code of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
      expect(classifyAwsError({ name: code, message: 'm' }).cause, code).toBe('Unknown');
    }
  });
});
