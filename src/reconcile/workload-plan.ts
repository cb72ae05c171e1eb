// The workload decision, shared by every service: given the workload object, the key its spec
// resolves to, the pre-flight verdict and what AWS reports (through the service's adapter), which
// actions to take, which conditions to show, and when to look again. Pure; table-tested in
// test/unit/workload-plan.test.ts.
//
// Safety: never plans a key change that failed pre-flight (invariant 1); never acts on a resource
// another object or cluster claims (tags), never in Observe mode, never while AWS is transitioning;
// the finalizer comes before the first AWS side effect; disruptive steps (an EMR stop, a Flink restart)
// wait for the maintenance window. Service differences arrive as data in WorkloadState
// (changeBlockedBy, running, keyInaccessible), never as branches on the service here, except the
// one place a service has a distinct rule: Flink's running storage keeps old key material until a
// restart.

import type { Mode } from '../api/shared.ts';
import type { AwsFailure } from '../aws/errors.ts';
import type {
  EncryptionSetting,
  WorkloadOperation,
  WorkloadService,
  WorkloadState,
} from '../aws/workload.ts';
import { inMaintenanceWindow, type MaintenanceWindow, nextWindowOpening } from './maintenance-window.ts';
import { type DesiredCondition, type PlannedEvent, type PlanOutcome, resync } from './types.ts';

export const workloadFinalizer = 'cmk.io/workload';
export const ownerTag = 'cmk.io/owner';
const awsDeletesInaccessibleTablesAfterMs = 7 * 86_400_000;
/** The largest time a JavaScript Date holds (±100,000,000 days from 1970). */
const maxDateMs = 8.64e15;
/** How long a failed switch to the same key waits before it is tried again. */
export const failedSwitchRetryMs = 30 * 60_000;

export type DesiredKey =
  | { kind: 'resolved'; setting: EncryptionSetting; currentKeyMaterialId?: string }
  | { kind: 'unresolved'; reason: string; message: string; terminal: boolean };

export type Preflight = { ok: true } | { ok: false; reason: string; message: string };

export type WorkloadObservation =
  | { kind: 'found'; state: WorkloadState }
  | { kind: 'notFound' }
  | { kind: 'error'; failure: AwsFailure };

export interface WorkloadSpecView {
  mode?: Mode;
  deletionPolicy?: 'Orphan' | 'RevertToAwsOwned';
  restartAfterRotation?: 'Never' | 'Auto';
  whenStarted?: 'Wait' | 'StopAndUpdate';
  cancelRunningJobs?: boolean;
  maintenanceWindow?: MaintenanceWindow;
}

export interface WorkloadStatusView {
  current?: { keyType: 'AwsOwned' | 'CustomerManaged'; keyArn?: string; keyMaterialId?: string };
  lastOperation?: WorkloadOperation & { fromKey?: string; toKey?: string };
  pendingStart?: boolean;
  inaccessibleSince?: string;
}

export interface WorkloadPlanInput {
  now: number;
  service: WorkloadService;
  spec: WorkloadSpecView;
  status: WorkloadStatusView | undefined;
  deleting: boolean;
  hasFinalizer: boolean;
  desired: DesiredKey;
  /** The pre-flight verdict for a customer managed desired key; undefined when none was needed. */
  preflight: Preflight | undefined;
  observed: WorkloadObservation;
  /** This object's ownership claim, `<cluster>/<namespace>/<name>`. */
  claim: string;
  /** Set when the operator's tenancy rules forbid this namespace to manage the resource. */
  refusal?: { reason: string; message: string };
}

export type WorkloadAction =
  | { type: 'AddFinalizer' }
  | { type: 'Claim'; tags: Record<string, string> }
  | { type: 'ChangeKey'; from: EncryptionSetting; to: EncryptionSetting }
  | { type: 'Stop'; why: string }
  | { type: 'CancelJobRuns'; jobRunIds: string[] }
  | { type: 'Start'; why: string }
  | { type: 'Release'; tagKeys: string[] }
  | { type: 'RemoveFinalizer' };

export interface WorkloadPlan {
  actions: WorkloadAction[];
  conditions: DesiredCondition[];
  events: PlannedEvent[];
  /** Status fields derived from observation (the executor merges action results in). */
  status: Record<string, unknown>;
  /** Human-readable plan lines (shown in status.plan; the Observe-mode report). */
  lines: string[];
  outcome: PlanOutcome;
  requeueAfterMs: number;
}

export function keyLabel(s: EncryptionSetting): string {
  return s.type === 'AwsOwned' ? 'AWS_OWNED' : s.keyArn;
}

export function sameEncryption(a: EncryptionSetting, b: EncryptionSetting, compareContext: boolean): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'AwsOwned' || b.type === 'AwsOwned') return true;
  if (a.keyArn !== b.keyArn) return false;
  if (!compareContext) return true;
  const ca = a.encryptionContext ?? {};
  const cb = b.encryptionContext ?? {};
  const keys = new Set([...Object.keys(ca), ...Object.keys(cb)]);
  return [...keys].every((k) => ca[k] === cb[k]);
}

export function planWorkload(input: WorkloadPlanInput): WorkloadPlan {
  const { spec, observed, desired } = input;
  const enforce = (spec.mode ?? 'Enforce') === 'Enforce';
  const actions: WorkloadAction[] = [];
  const conditions: DesiredCondition[] = [];
  const events: PlannedEvent[] = [];
  const lines: string[] = [];
  const status: Record<string, unknown> = {};
  const done = (outcome: PlanOutcome, requeueAfterMs: number): WorkloadPlan => ({
    actions,
    conditions,
    events,
    status,
    lines,
    outcome,
    requeueAfterMs,
  });
  const waiting = (reason: string, message: string, retryAfterMs: number) =>
    done({ kind: 'waiting', reason, message, retryAfterMs }, retryAfterMs);
  // The context is part of EMR's configuration; MSF and Keyspaces have none to compare.
  const compareContext = input.service === 'EmrServerless';

  if (observed.kind === 'found') {
    const s = observed.state;
    status['resourceArn'] = s.resourceArn;
    status['awsState'] = s.awsState;
    if (input.status?.lastOperation) status['lastOperation'] = input.status.lastOperation;
    status['current'] = {
      keyType: s.encryption.type,
      ...(s.encryption.type === 'CustomerManaged' ? { keyArn: s.encryption.keyArn } : {}),
      ...(input.status?.current?.keyMaterialId &&
      s.encryption.type === 'CustomerManaged' &&
      input.status.current.keyArn === s.encryption.keyArn
        ? { keyMaterialId: input.status.current.keyMaterialId }
        : {}),
    };
  }
  if (desired.kind === 'resolved') status['desiredKeyArn'] = keyLabel(desired.setting);

  const claimedByOther =
    observed.kind === 'found' &&
    observed.state.tags[ownerTag] !== undefined &&
    observed.state.tags[ownerTag] !== input.claim;

  // ---- deletion: the top-level branch -------------------------------------------------------
  if (input.deleting) {
    if (!input.hasFinalizer) return done({ kind: 'continue' }, resync.settledMs);
    if (observed.kind === 'error') {
      return waiting('AwsUnavailable', observed.failure.message, resync.transitioningMs);
    }
    if (observed.kind === 'notFound' || claimedByOther || !enforce || input.refusal) {
      actions.push({ type: 'RemoveFinalizer' });
      return done({ kind: 'continue' }, resync.settledMs);
    }
    const s = observed.state;
    if ((spec.deletionPolicy ?? 'Orphan') === 'RevertToAwsOwned' && s.encryption.type !== 'AwsOwned') {
      if (!s.settled)
        return waiting(
          'Transitioning',
          `waiting for ${s.awsState} to settle before reverting to the AWS owned key`,
          resync.transitioningMs,
        );
      if (s.changeBlockedBy) {
        return waiting(
          s.changeBlockedBy,
          `reverting to the AWS owned key waits: ${s.changeBlockedBy}`,
          resync.slowMs,
        );
      }
      actions.push({ type: 'ChangeKey', from: s.encryption, to: { type: 'AwsOwned' } });
      lines.push(`revert ${s.resourceArn} from ${keyLabel(s.encryption)} to AWS_OWNED before deletion`);
      return done({ kind: 'continue' }, resync.transitioningMs);
    }
    if (!s.settled)
      return waiting(
        'Transitioning',
        `waiting for ${s.awsState} to settle before release`,
        resync.transitioningMs,
      );
    if (s.tags[ownerTag] === input.claim) actions.push({ type: 'Release', tagKeys: [ownerTag] });
    actions.push({ type: 'RemoveFinalizer' });
    return done({ kind: 'continue' }, resync.settledMs);
  }

  if (!input.hasFinalizer) actions.push({ type: 'AddFinalizer' });

  // Tenancy: the namespace may not manage this resource at all (invariant 4).
  if (input.refusal) {
    conditions.push({
      type: 'KeyCurrent',
      status: 'Unknown',
      reason: input.refusal.reason,
      message: input.refusal.message,
    });
    return done(
      { kind: 'stalled', reason: input.refusal.reason, message: input.refusal.message },
      resync.slowMs,
    );
  }

  // ---- the key the spec asks for ------------------------------------------------------------
  if (desired.kind === 'unresolved') {
    conditions.push({ type: 'KeyUsable', status: 'False', reason: desired.reason, message: desired.message });
  } else if (input.preflight && !input.preflight.ok) {
    conditions.push({
      type: 'KeyUsable',
      status: 'False',
      reason: input.preflight.reason,
      message: input.preflight.message,
    });
  } else if (desired.setting.type === 'AwsOwned') {
    conditions.push({
      type: 'KeyUsable',
      status: 'True',
      reason: 'AwsOwnedKey',
      message: "the service's AWS owned key",
    });
  } else {
    conditions.push({
      type: 'KeyUsable',
      status: 'True',
      reason: 'PreflightPassed',
      message: `key ${desired.setting.keyArn} passes pre-flight`,
    });
  }

  // ---- the AWS resource ----------------------------------------------------------------------
  if (observed.kind === 'error') {
    const f = observed.failure;
    const message = `${f.code}: ${f.message}`;
    conditions.push({
      type: 'KeyCurrent',
      status: 'Unknown',
      reason: f.cause === 'AccessDenied' ? 'AccessDenied' : 'AwsUnavailable',
      message,
    });
    if (f.cause === 'AccessDenied' || f.cause === 'InvalidSpec') {
      return done(
        { kind: 'stalled', reason: f.cause === 'AccessDenied' ? 'AccessDenied' : 'AwsRejected', message },
        resync.slowMs,
      );
    }
    return waiting('AwsUnavailable', message, resync.transitioningMs);
  }
  if (observed.kind === 'notFound') {
    const message =
      'the AWS resource was not found: check the name/ID, the region and the role the operator uses';
    conditions.push({ type: 'KeyCurrent', status: 'Unknown', reason: 'ResourceNotFound', message });
    return done({ kind: 'stalled', reason: 'ResourceNotFound', message }, resync.slowMs);
  }
  const s = observed.state;
  if (claimedByOther) {
    const message = `${s.resourceArn} is claimed by ${s.tags[ownerTag]} (tag ${ownerTag}); only one object in one cluster may manage it`;
    conditions.push({ type: 'KeyCurrent', status: 'Unknown', reason: 'ClaimedByAnother', message });
    events.push({ type: 'Warning', reason: 'ClaimConflict', action: 'Claim', note: message });
    return done({ kind: 'stalled', reason: 'ClaimedByAnother', message }, resync.slowMs);
  }
  if (enforce && s.tags[ownerTag] === undefined)
    actions.push({ type: 'Claim', tags: { [ownerTag]: input.claim } });

  // Keyspaces: a table that cannot reach its key is deleted by AWS after 7 days. Say so at once.
  if (s.keyInaccessible) {
    // A recorded time that is not a time (edited status, a restored backup) counts as first sight:
    // formatting it would throw and fail every reconcile of the table.
    const recorded = input.status?.inaccessibleSince;
    const recordedMs = recorded ? Date.parse(recorded) + awsDeletesInaccessibleTablesAfterMs : Number.NaN;
    const since =
      recorded && Math.abs(recordedMs) <= maxDateMs ? recorded : new Date(input.now).toISOString();
    const deletionAfter = new Date(Date.parse(since) + awsDeletesInaccessibleTablesAfterMs).toISOString();
    status['inaccessibleSince'] = since;
    status['deletionAfter'] = deletionAfter;
    const message = `the table cannot use its key (${keyLabel(s.encryption)}): reads and writes fail, and AWS deletes the table after ${deletionAfter} unless key access is restored (enable the key, cancel its deletion, or fix its policy)`;
    conditions.push({
      type: 'KeyAccessible',
      status: 'False',
      reason: 'InaccessibleEncryptionCredentials',
      message,
    });
    if (since !== recorded)
      events.push({ type: 'Warning', reason: 'TableInaccessible', action: 'Check', note: message });
  } else if (input.service === 'Keyspaces') {
    conditions.push({
      type: 'KeyAccessible',
      status: 'True',
      reason: 'Accessible',
      message: 'the table can use its key',
    });
  }

  if (desired.kind === 'unresolved') {
    conditions.push({
      type: 'KeyCurrent',
      status: 'Unknown',
      reason: desired.reason,
      message: desired.message,
    });
    return desired.terminal
      ? done({ kind: 'stalled', reason: desired.reason, message: desired.message }, resync.slowMs)
      : waiting(desired.reason, desired.message, resync.slowMs);
  }
  const want = desired.setting;
  const onDesired = sameEncryption(s.encryption, want, compareContext);
  // Our record of the last change, already brought up to date from AWS by the executor.
  const lastOp = input.status?.lastOperation;

  if (!onDesired) {
    const line = `switch ${s.resourceArn} from ${keyLabel(s.encryption)} to ${keyLabel(want)}`;
    lines.push(line);
    if (!enforce) {
      conditions.push({
        type: 'KeyCurrent',
        status: 'False',
        reason: 'Drift',
        message: `Observe mode: would ${line}`,
      });
      // Stalled: the operator will not move it (Observe mode), so kstatus, Argo CD and Flux show the
      // drift as a failure to resolve, in step with Ready=False, not as a healthy Current object.
      return done(
        {
          kind: 'stalled',
          reason: 'Drift',
          message: `Observe mode: would ${line}; set spec.mode: Enforce to let the operator switch it`,
        },
        resync.settledMs,
      );
    }
    if (input.preflight && !input.preflight.ok) {
      conditions.push({
        type: 'KeyCurrent',
        status: 'False',
        reason: 'PreflightFailed',
        message: `not switching: ${input.preflight.message}`,
      });
      return done(
        { kind: 'stalled', reason: input.preflight.reason, message: input.preflight.message },
        resync.slowMs,
      );
    }
    if (!s.settled) {
      conditions.push({
        type: 'KeyCurrent',
        status: 'False',
        reason: 'Transitioning',
        message: `waiting for ${s.awsState} to settle`,
      });
      return waiting('Transitioning', `AWS reports ${s.awsState}`, resync.transitioningMs);
    }
    const failedAt = lastOp?.endTime ? Date.parse(lastOp.endTime) : Number.NaN;
    // An end time ahead of this clock (skew between replicas, or an edited status) holds off at
    // most failedSwitchRetryMs more; one beyond that is not believed. Never a requeue of years.
    // A switch refused because the key was unusable (disabled, pending deletion) is tried again as
    // soon as the pre-flight finds the key usable: the cause is fixed, nothing to wait for.
    const keyUsableAgain = lastOp?.failureCause === 'KeyUnusable' && input.preflight?.ok === true;
    if (
      lastOp?.status === 'Failed' &&
      lastOp.toKey === keyLabel(want) &&
      !keyUsableAgain &&
      input.now - failedAt < failedSwitchRetryMs &&
      failedAt - input.now <= failedSwitchRetryMs
    ) {
      // The same switch failed moments ago: report AWS's own words and hold off, instead of a retry
      // loop that restarts the workload on every pass. It is tried again after failedSwitchRetryMs.
      const holdMs = Math.min(
        failedSwitchRetryMs,
        Math.max(1000, failedAt + failedSwitchRetryMs - input.now),
      );
      const retryAt = new Date(input.now + holdMs).toISOString();
      const message = `switching to ${keyLabel(want)} failed: ${lastOp.message ?? 'no detail from AWS'}; fix the cause (or change the spec); the operator tries again after ${retryAt}`;
      conditions.push({ type: 'KeyCurrent', status: 'False', reason: 'SwitchFailed', message });
      return done({ kind: 'stalled', reason: 'SwitchFailed', message }, holdMs);
    }
    if (s.changeBlockedBy === 'ApplicationRunning') {
      if ((spec.whenStarted ?? 'Wait') === 'Wait') {
        const message =
          'the application is STARTED; EMR Serverless changes disk encryption only while CREATED or STOPPED (whenStarted: Wait)';
        status['waitingFor'] = 'the application to stop';
        conditions.push({
          type: 'KeyCurrent',
          status: 'False',
          reason: 'WaitingForApplicationStop',
          message,
        });
        return waiting('WaitingForApplicationStop', message, resync.slowMs);
      }
      const activeJobs = Number(s.details['activeJobs'] ?? 0);
      const jobRunIds = String(s.details['activeJobRunIds'] ?? '')
        .split(',')
        .filter(Boolean);
      if (activeJobs > 0 && spec.cancelRunningJobs && jobRunIds.length > 0) {
        // Destructive and asked for explicitly: cancel, then stop once they are gone.
        if (!inMaintenanceWindow(input.now, spec.maintenanceWindow)) {
          return waitForWindow(input, conditions, status, 'cancelling running jobs', waiting);
        }
        actions.push({ type: 'CancelJobRuns', jobRunIds });
        status['waitingFor'] = 'cancelled jobs to end';
        const message = `cancelling ${jobRunIds.length} job run(s) to stop the application (cancelRunningJobs: true)`;
        conditions.push({ type: 'KeyCurrent', status: 'False', reason: 'CancellingJobs', message });
        return done({ kind: 'continue' }, resync.transitioningMs);
      }
      if (activeJobs > 0) {
        const message = `${activeJobs} job run(s) active; stopping the application waits for them (whenStarted: StopAndUpdate)`;
        status['waitingFor'] = 'running jobs to finish';
        conditions.push({ type: 'KeyCurrent', status: 'False', reason: 'WaitingForJobs', message });
        return waiting('WaitingForJobs', message, resync.slowMs);
      }
      if (!inMaintenanceWindow(input.now, spec.maintenanceWindow)) {
        return waitForWindow(input, conditions, status, 'stopping the application', waiting);
      }
      actions.push({ type: 'Stop', why: `change disk encryption to ${keyLabel(want)}` });
      status['pendingStart'] = true;
      conditions.push({
        type: 'KeyCurrent',
        status: 'False',
        reason: 'Stopping',
        message: 'stopping the application to change its key',
      });
      return done({ kind: 'continue' }, resync.transitioningMs);
    }
    if (s.changeBlockedBy) {
      const message = `the key cannot change now: ${s.changeBlockedBy}`;
      conditions.push({ type: 'KeyCurrent', status: 'False', reason: s.changeBlockedBy, message });
      return waiting(s.changeBlockedBy, message, resync.slowMs);
    }
    // A running Flink application restarts as part of the update (MSF-011): disruptive.
    if (
      s.running &&
      input.service === 'ManagedFlink' &&
      !inMaintenanceWindow(input.now, spec.maintenanceWindow)
    ) {
      return waitForWindow(input, conditions, status, 'the switch restarts the running application', waiting);
    }
    actions.push({ type: 'ChangeKey', from: s.encryption, to: want });
    conditions.push({ type: 'KeyCurrent', status: 'False', reason: 'Switching', message: line });
    return done({ kind: 'continue' }, resync.transitioningMs);
  }

  // ---- on the desired key -------------------------------------------------------------------
  // Configured is not the same as applied: a Flink update that failed (the key broke while the
  // application restarted) leaves the new key configured and the application stopped. While AWS's
  // latest operation is still that failed one, it is reported with AWS's own words, never as Ready.
  // Services without operations (Keyspaces, EMR) are judged by their state alone.
  const awsStillFailed =
    lastOp?.id !== undefined && s.lastOperation?.id === lastOp.id && s.lastOperation.status === 'Failed';
  if (s.settled && awsStillFailed && lastOp?.toKey === keyLabel(want)) {
    const message = `the switch to ${keyLabel(want)} is configured but failed in AWS: ${lastOp.message ?? s.lastOperation?.message ?? 'no detail from AWS'}; fix the cause and start the resource again (the operator reports, it does not restart it)`;
    conditions.push({ type: 'KeyCurrent', status: 'False', reason: 'SwitchFailed', message });
    return done({ kind: 'stalled', reason: 'SwitchFailed', message }, resync.slowMs);
  }
  if (!s.settled) {
    conditions.push({
      type: 'KeyCurrent',
      status: 'True',
      reason: 'OnDesiredKey',
      message: `configured with ${keyLabel(want)}`,
    });
    return waiting('Transitioning', `AWS reports ${s.awsState}`, resync.transitioningMs);
  }
  conditions.push({
    type: 'KeyCurrent',
    status: 'True',
    reason: 'OnDesiredKey',
    message: `AWS reports ${keyLabel(want)}`,
  });

  // Started again after a stop the operator made for a key change or a restart.
  if (input.status?.pendingStart) {
    if (s.running) {
      status['pendingStart'] = false;
    } else if (enforce) {
      actions.push({ type: 'Start', why: 'started again after the operator stopped it' });
      status['pendingStart'] = false;
      return done({ kind: 'continue' }, resync.transitioningMs);
    }
  }

  // Flink's running storage keeps the key material it started with (MSF-017, trap 5).
  if (input.service === 'ManagedFlink' && want.type === 'CustomerManaged') {
    const material = desired.currentKeyMaterialId;
    const recorded = (status['current'] as { keyMaterialId?: string }).keyMaterialId;
    if (material && s.running && recorded === undefined) {
      // First sight of a running application on this key: it runs on the current material from now on.
      (status['current'] as { keyMaterialId?: string }).keyMaterialId = material;
    }
    if (material && s.running && recorded !== undefined && recorded !== material) {
      status['restartPending'] = true;
      const why = `the key material rotated (${recorded} -> ${material}); the running application uses the old material until it restarts`;
      if ((spec.restartAfterRotation ?? 'Never') === 'Auto' && enforce) {
        if (!inMaintenanceWindow(input.now, spec.maintenanceWindow)) {
          conditions.push({
            type: 'MaterialCurrent',
            status: 'False',
            reason: 'WaitingForMaintenanceWindow',
            message: why,
          });
          return waitForWindow(input, conditions, status, 'restarting after key rotation', waiting, true);
        }
        actions.push({ type: 'Stop', why: 'restart to pick up rotated key material' });
        status['pendingStart'] = true;
        conditions.push({ type: 'MaterialCurrent', status: 'False', reason: 'Restarting', message: why });
        return done({ kind: 'continue' }, resync.transitioningMs);
      }
      conditions.push({
        type: 'MaterialCurrent',
        status: 'False',
        reason: 'RestartPending',
        message: `${why} (restartAfterRotation: Never)`,
      });
      return done({ kind: 'continue' }, resync.settledMs);
    }
    status['restartPending'] = false;
    conditions.push({
      type: 'MaterialCurrent',
      status: 'True',
      reason: s.running ? 'CurrentMaterial' : 'NotRunning',
      message: s.running
        ? 'the running application uses the current key material'
        : 'not running: the next start uses the current key material',
    });
  }
  return done({ kind: 'continue' }, resync.settledMs);
}

function waitForWindow(
  input: WorkloadPlanInput,
  conditions: DesiredCondition[],
  status: Record<string, unknown>,
  what: string,
  waiting: (reason: string, message: string, retryAfterMs: number) => WorkloadPlan,
  materialOnly = false,
): WorkloadPlan {
  const next = nextWindowOpening(input.now, input.spec.maintenanceWindow);
  const message = `${what}: waiting for the maintenance window${next ? ` (opens ${new Date(next).toISOString()})` : ''}`;
  status['waitingFor'] = 'the maintenance window';
  if (!materialOnly)
    conditions.push({ type: 'KeyCurrent', status: 'False', reason: 'WaitingForMaintenanceWindow', message });
  const retry = next ? Math.min(Math.max(next - input.now, 1000), resync.settledMs) : resync.settledMs;
  return waiting('WaitingForMaintenanceWindow', message, retry);
}
