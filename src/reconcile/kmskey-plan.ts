// The KmsKey decision, as a pure function: given the object and what AWS says about its key, which
// actions to take, which conditions to show, and when to look again. No I/O; table-tested in
// test/unit/kmskey-plan.test.ts. The executor (kmskey.ts) performs the actions in order.
//
// Safety: the finalizer is added before the first AWS side effect; deletion of the AWS key is only
// ever planned when no workload references the KmsKey (invariant 2); Observe mode plans no AWS
// mutation at all.

import type { KeyUser, KmsKeySpec, KmsKeyStatus } from '../api/kmskey.ts';
import type { WorkloadReference } from '../api/shared.ts';
import type { AwsFailure } from '../aws/errors.ts';
import { checkKey, type KeyCheckFailure } from '../keys/checks.ts';
import type { KeyFacts, RotationFacts } from '../keys/key-facts.ts';
import { describeUses, type KeyUse } from '../keys/key-usage.ts';
import { planOutcomeFor } from '../runtime/outcome.ts';
import { firstByName } from './key-progress.ts';
import { type DesiredCondition, type PlannedEvent, type PlanOutcome, resync } from './types.ts';

export const kmsKeyFinalizer = 'cmk.io/key-protection';

export type KmsKeyObservation =
  | { kind: 'found'; key: KeyFacts; rotation: RotationFacts | undefined }
  | { kind: 'notFound' }
  /** Create mode and no key recorded in status yet. */
  | { kind: 'notCreated' }
  | { kind: 'error'; failure: AwsFailure };

export interface KmsKeyPlanInput {
  now: number;
  spec: KmsKeySpec;
  status: KmsKeyStatus | undefined;
  deleting: boolean;
  hasFinalizer: boolean;
  /** The Region the key must be in. */
  region: string;
  observed: KmsKeyObservation;
  /** Workload objects referencing this KmsKey (from the reference index). */
  references: WorkloadReference[];
  /** Set when the operator's tenancy rules forbid this namespace the key. */
  refusal?: { reason: string; message: string };
  /**
   * Uses of the key's ARN beyond `references`: objects in any namespace whose status ties them to
   * the key however they name it, and other KmsKey objects declaring it (src/keys/key-usage.ts).
   */
  keyUses?: KeyUse[];
  /** Another KmsKey object holds the authority to schedule this key's deletion. */
  authorityHeldBy?: { namespace: string; name: string };
  /** What AWS shows on the key: resources, snapshots, active job runs, service grants (the inventory). */
  awsUses?: Array<{ service: string; what: string; resourceArn: string; managedBy?: string }>;
  /** Set when AWS could not be asked who uses the key: a deletion waits. */
  awsUnknown?: string;
  /**
   * Workloads whose pre-flight found that the key policy no longer lets their service use the key
   * (their KeyUsable condition): the key is fine, its policy shuts them out.
   */
  policyRefusals?: Array<{ who: string; message: string }>;
}

export type KmsKeyAction =
  | { type: 'AddFinalizer' }
  | {
      type: 'CreateKey';
      description?: string;
      alias?: string;
      tags: Record<string, string>;
      policy?: { services: KeyUser[]; keyAdministrators: string[]; keyUsers: string[] };
    }
  | { type: 'EnableKeyRotation'; periodInDays?: number }
  | { type: 'DisableKeyRotation' }
  | { type: 'RotateKeyOnDemand'; token: string }
  | { type: 'CancelKeyDeletion' }
  | { type: 'EnableKey' }
  | { type: 'ScheduleKeyDeletion'; pendingWindowInDays: number }
  | { type: 'RemoveFinalizer' };

export interface KmsKeyPlan {
  actions: KmsKeyAction[];
  conditions: DesiredCondition[];
  events: PlannedEvent[];
  /** Status fields derived from observation (the executor merges action results in). */
  status: Partial<KmsKeyStatus>;
  outcome: PlanOutcome;
  requeueAfterMs: number;
}

/** `arn:... (Keyspaces table, unmanaged)`, the first few. */
function describeAwsUses(uses: NonNullable<KmsKeyPlanInput['awsUses']>, max = 5): string {
  const names = uses
    .slice(0, max)
    .map(
      (u) =>
        `${u.resourceArn} (${u.service} ${u.what}, ${u.managedBy ? `managed by ${u.managedBy}` : 'unmanaged'})`,
    );
  return uses.length > max ? `${names.join(', ')} and ${uses.length - max} more` : names.join(', ');
}

function describeRefs(refs: WorkloadReference[]): string {
  const names = refs.slice(0, 5).map((r) => `${r.kind} ${r.namespace}/${r.name}`);
  return refs.length > 5 ? `${names.join(', ')} and ${refs.length - 5} more` : names.join(', ');
}

function statusFromKey(
  key: KeyFacts,
  rotation: RotationFacts | undefined,
  previous: KmsKeyStatus | undefined,
) {
  const status: Partial<KmsKeyStatus> = {
    keyArn: key.arn,
    keyId: key.keyId,
    region: key.region,
    keyState: key.state,
    keySpec: key.keySpec,
    keyUsage: key.keyUsage,
    keyManager: key.keyManager,
    origin: key.origin,
    ...(key.deletionDate ? { deletionDate: key.deletionDate } : {}),
    ...(key.currentKeyMaterialId ? { currentKeyMaterialId: key.currentKeyMaterialId } : {}),
  };
  if (rotation) {
    status.rotation = {
      enabled: rotation.enabled,
      ...(rotation.periodInDays ? { periodInDays: rotation.periodInDays } : {}),
      ...(rotation.nextRotationDate ? { nextRotationDate: rotation.nextRotationDate } : {}),
      ...(rotation.onDemandRotationStartDate
        ? { onDemandRotationStartDate: rotation.onDemandRotationStartDate }
        : {}),
      ...(previous?.rotation?.lastOnDemandToken
        ? { lastOnDemandToken: previous.rotation.lastOnDemandToken }
        : {}),
      ...(previous?.rotation?.pendingOnDemand ? { pendingOnDemand: previous.rotation.pendingOnDemand } : {}),
      ...(previous?.rotation?.lastOnDemandRefusal
        ? { lastOnDemandRefusal: previous.rotation.lastOnDemandRefusal }
        : {}),
      recent: rotation.recent.slice(0, 10),
    };
  }
  return status;
}

/**
 * Whether KMS shows an on-demand rotation that started after the intent was written: one in
 * progress, or a completed ON_DEMAND rotation newer than the newest rotation known when the intent
 * was recorded. No clock comparison between this process and KMS is needed.
 */
function onDemandRotationSeen(rotation: RotationFacts, lastRotationBefore: string | undefined): boolean {
  if (rotation.onDemandRotationStartDate) return true;
  const since = lastRotationBefore ? Date.parse(lastRotationBefore) : Number.NEGATIVE_INFINITY;
  return rotation.recent.some((r) => r.type === 'ON_DEMAND' && Date.parse(r.date) > since);
}

/** Automatic rotation is managed when the spec says so, or for a key this object creates (on by default). */
export function rotationManaged(spec: KmsKeySpec): boolean {
  return (
    spec.rotation?.enabled !== undefined ||
    spec.rotation?.periodInDays !== undefined ||
    spec.create !== undefined
  );
}

/** RotationCurrent is reported (and part of Ready) when rotation is managed or asked for once. */
export function reportsRotation(spec: KmsKeySpec): boolean {
  return rotationManaged(spec) || spec.rotation?.onDemandToken !== undefined;
}

/**
 * The automatic rotation the spec asks for: `enabled` when set; on for a key this object creates
 * (the documented default); otherwise undefined, which leaves an adopted key's rotation as AWS has
 * it. An `onDemandToken` alone never changes automatic rotation: a one-time request has no lasting
 * effect.
 */
function wantedAutomaticRotation(spec: KmsKeySpec, key: KeyFacts): boolean | undefined {
  if (spec.rotation?.enabled !== undefined) return spec.rotation.enabled;
  if (spec.rotation?.periodInDays !== undefined) return true;
  // Imported or external key material cannot rotate automatically: the default does not apply.
  if (spec.create !== undefined && key.origin === 'AWS_KMS') return true;
  return undefined;
}

/**
 * Whether a failed key check needs a person (Stalled) or only time (a key AWS is still creating or
 * updating). A disabled key, one pending deletion, one in a disconnected key store, or one of the
 * wrong kind stays that way until someone acts.
 */
function checkOutcome(check: KeyCheckFailure, state: string, message: string): PlanOutcome {
  return state === 'Creating' || state === 'Updating'
    ? { kind: 'waiting', reason: check.reason, message, retryAfterMs: resync.slowMs }
    : { kind: 'stalled', reason: check.reason, message };
}

/**
 * How many users `status.usedBy` names. A status list must stay bounded: every write of the key's
 * status sends it whole, the API server stores objects of at most about 1.5 MiB, and a key can have
 * thousands of users (job runs included). `status.workloads.total` counts them all, and
 * `kubectl cmk usage KEY` lists every one.
 */
export const usedByListed = 100;

export function planKmsKey(input: KmsKeyPlanInput): KmsKeyPlan {
  const { spec, observed, references } = input;
  const enforce = (spec.mode ?? 'Enforce') === 'Enforce';
  const actions: KmsKeyAction[] = [];
  const conditions: DesiredCondition[] = [];
  const events: PlannedEvent[] = [];
  let status: Partial<KmsKeyStatus> = { usedBy: firstByName(references, (r) => r, usedByListed) };
  const plan = (outcome: PlanOutcome, requeueAfterMs: number): KmsKeyPlan => ({
    actions,
    conditions,
    events,
    status,
    outcome,
    requeueAfterMs,
  });

  if (input.deleting && !input.hasFinalizer) return plan({ kind: 'continue' }, resync.settledMs);

  /**
   * The key's state, in every branch (deletion included): status from DescribeKey, the protection
   * that undoes out-of-band changes locking workloads out (invariant 2's second half), and
   * KeyUsable. Returns the state after protection and the first failing check.
   */
  const assessKey = (key: KeyFacts, rotation: RotationFacts | undefined) => {
    status = { ...status, ...statusFromKey(key, rotation, input.status) };
    const pendingDeletion = key.state === 'PendingDeletion' || key.state === 'PendingReplicaDeletion';
    const inUse = references.length > 0;
    let keyState = key.state;
    // A namespace the key is refused to (tenancy, invariant 4) changes nothing about it.
    const protect = enforce && !input.refusal;
    if (pendingDeletion && inUse) {
      const note = `key ${key.arn} was scheduled for deletion outside Kubernetes but is used by ${describeRefs(references)}`;
      events.push({ type: 'Warning', reason: 'KeyPendingDeletionInUse', action: 'Check', note });
      if (protect && spec.protection?.cancelDeletion) {
        actions.push({ type: 'CancelKeyDeletion' });
        keyState = 'Disabled'; // CancelKeyDeletion leaves the key Disabled
      }
    }
    if (keyState === 'Disabled' && inUse) {
      if (!pendingDeletion) {
        events.push({
          type: 'Warning',
          reason: 'KeyDisabledInUse',
          action: 'Check',
          note: `key ${key.arn} is disabled but used by ${describeRefs(references)}`,
        });
      }
      if (protect && spec.protection?.reenable) {
        actions.push({ type: 'EnableKey' });
        keyState = 'Enabled';
      }
    }
    const check = checkKey({
      key: { ...key, state: keyState },
      reference: spec.keyId ?? key.arn,
      region: input.region,
    });
    conditions.push(
      check
        ? { type: 'KeyUsable', status: 'False', reason: check.reason, message: check.message }
        : {
            type: 'KeyUsable',
            status: 'True',
            reason: 'KeyUsable',
            message: `key ${key.arn} passes every check`,
          },
    );
    return { keyState, check };
  };

  // ---- deletion: the top-level branch -------------------------------------------------------
  if (input.deleting) {
    const assessed = observed.kind === 'found' ? assessKey(observed.key, observed.rotation) : undefined;
    if (references.length > 0) {
      const message = `deletion waits until no workload references this key; still used by ${describeRefs(references)}`;
      conditions.push({ type: 'DeletionBlocked', status: 'True', reason: 'KeyInUse', message });
      events.push({ type: 'Warning', reason: 'DeletionBlocked', action: 'Delete', note: message });
      // A key its users cannot use needs a person more than the held deletion does.
      if (assessed?.check && observed.kind === 'found')
        return plan(
          checkOutcome(assessed.check, assessed.keyState, `${assessed.check.message}; ${message}`),
          resync.slowMs,
        );
      if (actions.length > 0) return plan({ kind: 'continue' }, resync.transitioningMs);
      return plan(
        { kind: 'waiting', reason: 'KeyInUse', message, retryAfterMs: resync.slowMs },
        resync.slowMs,
      );
    }
    if (observed.kind === 'error') {
      return plan(
        {
          kind: 'waiting',
          reason: 'AwsUnavailable',
          message: observed.failure.message,
          retryAfterMs: resync.transitioningMs,
        },
        resync.transitioningMs,
      );
    }
    const schedule = (spec.deletionPolicy ?? 'Retain') === 'ScheduleDeletion';
    // A key the namespace may not use (tenancy, invariant 4) is never scheduled for deletion from
    // it, nor one whose deletion another KmsKey object holds the authority for: deleting the object
    // only lets go of it, as Retain does.
    if (
      schedule &&
      enforce &&
      !input.refusal &&
      !input.authorityHeldBy &&
      observed.kind === 'found' &&
      observed.key.state !== 'PendingDeletion' &&
      observed.key.state !== 'PendingReplicaDeletion'
    ) {
      // Scheduling the deletion rests on nothing Kubernetes can see using the key, in any namespace
      // and however it names the key (invariant 2): held until the last use is gone, or the object
      // is set to Retain.
      const uses = input.keyUses ?? [];
      const inAws = input.awsUses ?? [];
      if (uses.length > 0 || inAws.length > 0 || input.awsUnknown) {
        const users = [
          ...(uses.length > 0 ? [describeUses(uses)] : []),
          ...(inAws.length > 0 ? [`in AWS ${describeAwsUses(inAws)}`] : []),
          ...(input.awsUnknown ? [input.awsUnknown] : []),
        ].join('; ');
        const message = `deletion of ${observed.key.arn} waits until nothing uses it; still used by ${users} (set deletionPolicy: Retain to let go of the object and keep the key)`;
        conditions.push({ type: 'DeletionBlocked', status: 'True', reason: 'KeyInUse', message });
        events.push({ type: 'Warning', reason: 'DeletionBlocked', action: 'Delete', note: message });
        return plan(
          { kind: 'waiting', reason: 'KeyInUse', message, retryAfterMs: resync.slowMs },
          resync.slowMs,
        );
      }
      actions.push({ type: 'ScheduleKeyDeletion', pendingWindowInDays: spec.pendingWindowInDays ?? 30 });
    }
    actions.push({ type: 'RemoveFinalizer' });
    return plan({ kind: 'continue' }, resync.settledMs);
  }
  if (!input.hasFinalizer) actions.push({ type: 'AddFinalizer' });
  // Exactly one KmsKey object per key may schedule its deletion: say so before anyone deletes.
  if ((spec.deletionPolicy ?? 'Retain') === 'ScheduleDeletion' && input.authorityHeldBy) {
    const holder = `${input.authorityHeldBy.namespace}/${input.authorityHeldBy.name}`;
    conditions.push({
      type: 'DeletionAuthority',
      status: 'False',
      reason: 'AuthorityHeldByAnother',
      message: `KmsKey ${holder} holds the authority to schedule this key's deletion (it created the key, or declared ScheduleDeletion first); deleting this object lets go of it as Retain does. Set deletionPolicy: Retain here, or remove it from ${holder}`,
    });
  }

  // Tenancy: the namespace may not use this key at all (invariant 4); nothing is read or changed.
  if (input.refusal) {
    conditions.push({
      type: 'KeyUsable',
      status: 'False',
      reason: input.refusal.reason,
      message: input.refusal.message,
    });
    return plan(
      { kind: 'stalled', reason: input.refusal.reason, message: input.refusal.message },
      resync.slowMs,
    );
  }

  // ---- the key itself --------------------------------------------------------------------------
  if (observed.kind === 'error') {
    const f = observed.failure;
    conditions.push({
      type: 'KeyUsable',
      status: 'Unknown',
      reason: f.cause === 'AccessDenied' ? 'AccessDenied' : 'KmsUnavailable',
      message: `${f.code}: ${f.message}`,
    });
    return plan(planOutcomeFor(f, f.message, resync.transitioningMs), resync.transitioningMs);
  }

  if (observed.kind === 'notCreated') {
    const create = spec.create ?? {};
    if (!enforce) {
      conditions.push({
        type: 'KeyUsable',
        status: 'False',
        reason: 'KeyNotCreated',
        message: 'Observe mode: the key would be created',
      });
      return plan({ kind: 'continue' }, resync.settledMs);
    }
    actions.push({
      type: 'CreateKey',
      ...(create.description ? { description: create.description } : {}),
      ...(create.alias ? { alias: create.alias } : {}),
      tags: create.tags ?? {},
      ...(create.policy
        ? {
            policy: {
              services: create.policy.services,
              keyAdministrators: create.policy.keyAdministrators ?? [],
              keyUsers: create.policy.keyUsers ?? [],
            },
          }
        : {}),
    });
    conditions.push({
      type: 'KeyUsable',
      status: 'Unknown',
      reason: 'KeyCreating',
      message: 'creating the key',
    });
    return plan({ kind: 'continue' }, resync.transitioningMs);
  }

  if (observed.kind === 'notFound') {
    const reference = spec.keyId ?? input.status?.keyArn ?? '(unknown)';
    const failure = checkKey({ key: undefined, reference, region: input.region });
    conditions.push({
      type: 'KeyUsable',
      status: 'False',
      reason: failure!.reason,
      message: failure!.message,
    });
    if (references.length > 0) {
      events.push({
        type: 'Warning',
        reason: 'KeyMissing',
        action: 'Check',
        note: `${failure!.message}; used by ${describeRefs(references)}`,
      });
    }
    return plan({ kind: 'stalled', reason: failure!.reason, message: failure!.message }, resync.slowMs);
  }

  const { key, rotation } = observed;
  const { keyState, check } = assessKey(key, rotation);

  // ---- the key policy, as its users' pre-flights read it ----------------------------------------
  const refusals = check ? [] : (input.policyRefusals ?? []);
  if (refusals.length > 0) {
    const who = refusals.slice(0, 3).map((r) => `${r.who}: ${r.message}`);
    const message = `the key policy no longer lets ${refusals.length} workload(s) use the key: ${who.join('; ')}${refusals.length > 3 ? ` and ${refusals.length - 3} more` : ''}; fix the key policy (docs/key-policies.md)`;
    conditions.push({ type: 'ServiceAccess', status: 'False', reason: 'KeyPolicyDeniesService', message });
  } else if (!check && references.length > 0) {
    conditions.push({
      type: 'ServiceAccess',
      status: 'True',
      reason: 'KeyPolicyAllowsUsers',
      // No count here: status.workloads has it, and a count in a condition's message rewrote the
      // condition (a key write) with every workload that joined or left the key in a fleet switch.
      message: 'the key policy lets the workloads on this key use it',
    });
  }

  // ---- rotation -------------------------------------------------------------------------------
  let rotationPending: string | undefined;
  let onDemandRecorded: string | undefined;
  /** KMS refused the current token for good (the per-key cap): only a new token can change that. */
  let rotationRefused: string | undefined;
  if (keyState === 'Enabled' && rotation) {
    const wantEnabled = wantedAutomaticRotation(spec, key);
    const wantPeriod = spec.rotation?.periodInDays;
    if (
      wantEnabled === true &&
      (!rotation.enabled || (wantPeriod !== undefined && rotation.periodInDays !== wantPeriod))
    ) {
      if (enforce)
        actions.push({
          type: 'EnableKeyRotation',
          ...(wantPeriod !== undefined ? { periodInDays: wantPeriod } : {}),
        });
      rotationPending =
        wantPeriod !== undefined
          ? `automatic rotation every ${wantPeriod} days`
          : 'automatic rotation enabled';
    } else if (wantEnabled === false && rotation.enabled) {
      if (enforce) actions.push({ type: 'DisableKeyRotation' });
      rotationPending = 'automatic rotation disabled';
    }
    const token = spec.rotation?.onDemandToken;
    const pending = input.status?.rotation?.pendingOnDemand;
    if (token !== undefined && token !== input.status?.rotation?.lastOnDemandToken) {
      if (pending?.token === token && onDemandRotationSeen(rotation, pending.lastRotationBefore)) {
        // The call reached KMS before a restart lost its result: record it, never rotate twice.
        onDemandRecorded = token;
        if (rotation.onDemandRotationStartDate) rotationPending = 'the on-demand rotation is in progress';
      } else if (rotation.onDemandRotationStartDate) {
        rotationPending = 'an on-demand rotation is in progress';
      } else if (enforce) {
        actions.push({ type: 'RotateKeyOnDemand', token });
        rotationPending = `on-demand rotation for token ${token}`;
      } else {
        rotationPending = `on-demand rotation for token ${token}`;
      }
    } else if (rotation.onDemandRotationStartDate) {
      rotationPending = 'the on-demand rotation is in progress';
    } else if (token !== undefined && input.status?.rotation?.lastOnDemandRefusal) {
      rotationRefused = input.status.rotation.lastOnDemandRefusal;
    }
  }
  if (onDemandRecorded !== undefined && status.rotation) {
    status.rotation = { ...status.rotation, lastOnDemandToken: onDemandRecorded };
    delete status.rotation.pendingOnDemand;
  }
  if (rotationRefused && !rotationPending) {
    conditions.push({
      type: 'RotationCurrent',
      status: 'False',
      reason: 'OnDemandRotationLimitExceeded',
      message: rotationRefused,
    });
  } else if (reportsRotation(spec)) {
    conditions.push(
      rotationPending
        ? {
            type: 'RotationCurrent',
            status: 'False',
            reason: enforce ? 'RotationPending' : 'RotationDrift',
            message: enforce ? `pending: ${rotationPending}` : `Observe mode: would apply ${rotationPending}`,
          }
        : {
            type: 'RotationCurrent',
            status: 'True',
            reason: 'RotationAsDeclared',
            message: rotation?.enabled
              ? `automatic rotation every ${rotation.periodInDays ?? 365} days${rotation.nextRotationDate ? `, next on ${rotation.nextRotationDate}` : ''}`
              : wantedAutomaticRotation(spec, key) === undefined
                ? 'automatic rotation off (as set in AWS; spec.rotation.enabled not set)'
                : 'automatic rotation off',
          },
    );
  }

  // A key that cannot serve its workloads needs a person (Stalled), unless the operator's own
  // protection is putting it right in this reconcile.
  if (check) return plan(checkOutcome(check, keyState, check.message), resync.slowMs);
  if (refusals.length > 0) {
    const refused = conditions.find((c) => c.type === 'ServiceAccess')!;
    return plan(
      { kind: 'stalled', reason: 'KeyPolicyDeniesService', message: refused.message },
      resync.slowMs,
    );
  }
  if (rotationRefused && !rotationPending) {
    return plan(
      { kind: 'stalled', reason: 'OnDemandRotationLimitExceeded', message: rotationRefused },
      resync.settledMs,
    );
  }
  // An on-demand rotation in progress is looked for often: it ends within seconds (KMS-009), and
  // its workloads' progress waits on it. Keys are few; each look is one key's reads.
  if (rotation?.onDemandRotationStartDate !== undefined) return plan({ kind: 'continue' }, rotationPollMs);
  const transitioning = actions.some((a) => a.type !== 'AddFinalizer');
  return plan({ kind: 'continue' }, transitioning ? resync.transitioningMs : resync.settledMs);
}

/**
 * How often a key whose on-demand rotation is in progress is looked at (from the start of one look
 * to the next). Its users' progress waits on the key reporting the new material: at 1 s the report
 * came up to a second after KMS finished, a third of a rotation that takes 2-3 s. A look while the
 * rotation runs is one DescribeKey (readKey: the material changes when it ends, KMS-009), so four a
 * second cost a key 4 calls a second for the few seconds a rotation lasts, against a DescribeKey
 * quota of thousands a second per Region; at 500 ms a look was three calls.
 */
export const rotationPollMs = 250;
