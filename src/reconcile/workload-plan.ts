// The workload decision, shared by every service: given the workload object, the key its spec
// resolves to, the pre-flight verdict and what AWS reports (through the service's adapter), which
// actions to take, which conditions to show, and when to look again. Pure.
//
// The decision is an ordered chain of named steps (workloadPlanSteps), in the habit of
// src/keys/checks.ts: each step reads the input, may add actions, conditions, events, status or plan
// lines, and either lets the next step decide or ends the plan with an outcome. The first step that
// ends decides the outcome. Deletion, a switch to another key, stopping for a change and key
// material are chains of their own, run by one step of the chain above. Table-tested per step in
// test/unit/workload-plan-steps.test.ts, as a whole in test/unit/workload-plan.test.ts.
//
// Safety: never plans a key change that failed pre-flight (invariant 1); never acts on a resource
// another object or cluster claims (tags), never in Observe mode, never while AWS is transitioning;
// the finalizer comes before the first AWS side effect; disruptive steps (an EMR stop, a Flink restart)
// wait for the maintenance window. Service differences arrive as data, never as branches on the
// service here: in WorkloadState (a typed blocker, running, keyInaccessible) and in the adapter's
// declared capabilities (src/aws/workload.ts WorkloadCapabilities).

import type { Mode } from '../api/shared.ts';
import { workloadCapabilities } from '../aws/capabilities.ts';
import type { AwsFailure } from '../aws/errors.ts';
import type { MaterialSince } from '../aws/key-material.ts';
import type {
  EncryptionSetting,
  WorkloadCapabilities,
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

/**
 * When the desired key's current material became current (KMS-024), as observed for the restart
 * decision (src/reconcile/material-observe.ts); `unknown` when the read failed, with why.
 */
export type MaterialDate = MaterialSince | { kind: 'unknown'; message: string };

export type WorkloadObservation =
  | { kind: 'found'; state: WorkloadState }
  | { kind: 'notFound' }
  | { kind: 'error'; failure: AwsFailure };

export interface WorkloadSpecView {
  mode?: Mode;
  deletionPolicy?: 'Orphan' | 'RevertToAwsOwned';
  restartAfterRotation?: 'Never' | 'Auto';
  restartWithoutSnapshots?: boolean;
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
  /** The service, for messages and the plugin: the plan never branches on it (see `capabilities`). */
  service: WorkloadService;
  /**
   * What the service does differently (its adapter's declared capabilities). Optional only while
   * hand-built inputs elsewhere catch up; absent, the service's declared capabilities apply.
   */
  capabilities?: WorkloadCapabilities;
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
  /** When the desired key's current material became current; read only where materialSteps needs it. */
  materialSince?: MaterialDate;
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

// ---- the chain -------------------------------------------------------------------------------------

/** The plan as the steps build it: everything a WorkloadPlan holds but its ending. */
export type PlanDraft = Omit<WorkloadPlan, 'outcome' | 'requeueAfterMs'>;

/** How a step ends the plan. */
export type StepEnd = Pick<WorkloadPlan, 'outcome' | 'requeueAfterMs'>;

/** What every step sees: the input, the service's capabilities, and two facts several steps share. */
export interface PlanContext {
  input: WorkloadPlanInput;
  caps: WorkloadCapabilities;
  /** spec.mode Enforce (the default): the operator may change AWS. */
  enforce: boolean;
  /** The resource carries another object's or cluster's ownership tag. */
  claimedByOther: boolean;
}

/** A step that needs the resource read. */
export interface ResourceContext extends PlanContext {
  state: WorkloadState;
}

/** A step that needs the resource read and the desired key resolved. */
export interface KeyContext extends ResourceContext {
  want: EncryptionSetting;
  /** The desired key's current material (KMS CurrentKeyMaterialId), when known. */
  currentKeyMaterialId: string | undefined;
  /** AWS reports the desired key (with its context, where the service compares one). */
  onDesired: boolean;
  /** Our record of the last change, already brought up to date from AWS by observeWorkload. */
  lastOp: WorkloadStatusView['lastOperation'];
}

/** One named step: undefined lets the next step decide; a StepEnd ends the plan. */
export interface PlanStep {
  name: string;
  run(c: PlanContext, plan: PlanDraft): StepEnd | undefined;
}

/** Runs `steps` in order until one ends the plan; undefined when none did. */
export function runSteps(steps: readonly PlanStep[], c: PlanContext, plan: PlanDraft): StepEnd | undefined {
  for (const s of steps) {
    const end = s.run(c, plan);
    if (end) return end;
  }
  return undefined;
}

/** The context every step of a plan for `input` sees. */
export function planContext(input: WorkloadPlanInput): PlanContext {
  const owner = input.observed.kind === 'found' ? input.observed.state.tags[ownerTag] : undefined;
  return {
    input,
    caps: input.capabilities ?? workloadCapabilities[input.service],
    enforce: (input.spec.mode ?? 'Enforce') === 'Enforce',
    claimedByOther: owner !== undefined && owner !== input.claim,
  };
}

function resourceContext(c: PlanContext): ResourceContext | undefined {
  return c.input.observed.kind === 'found' ? { ...c, state: c.input.observed.state } : undefined;
}

function keyContext(c: PlanContext): KeyContext | undefined {
  const r = resourceContext(c);
  const desired = c.input.desired;
  if (!r || desired.kind !== 'resolved') return undefined;
  return {
    ...r,
    want: desired.setting,
    currentKeyMaterialId: desired.currentKeyMaterialId,
    onDesired: sameEncryption(r.state.encryption, desired.setting, c.caps.comparesEncryptionContext),
    lastOp: c.input.status?.lastOperation,
  };
}

const step = (name: string, run: PlanStep['run']): PlanStep => ({ name, run });
/** A step with nothing to say until the resource was read. */
const resourceStep = (name: string, run: (c: ResourceContext, plan: PlanDraft) => StepEnd | undefined) =>
  step(name, (c, plan) => {
    const r = resourceContext(c);
    return r && run(r, plan);
  });
/** A step with nothing to say until the resource was read and the desired key resolved. */
const keyStep = (name: string, run: (c: KeyContext, plan: PlanDraft) => StepEnd | undefined) =>
  step(name, (c, plan) => {
    const k = keyContext(c);
    return k && run(k, plan);
  });

const proceed = (requeueAfterMs: number): StepEnd => ({ outcome: { kind: 'continue' }, requeueAfterMs });
const waiting = (reason: string, message: string, retryAfterMs: number): StepEnd => ({
  outcome: { kind: 'waiting', reason, message, retryAfterMs },
  requeueAfterMs: retryAfterMs,
});
const stalled = (reason: string, message: string, requeueAfterMs: number): StepEnd => ({
  outcome: { kind: 'stalled', reason, message },
  requeueAfterMs,
});
/** A chain whose last step always ends: the fallback is never reached. */
const ends = (end: StepEnd | undefined): StepEnd => end ?? proceed(resync.settledMs);

function keyCurrent(plan: PlanDraft, status: DesiredCondition['status'], reason: string, message: string) {
  plan.conditions.push({ type: 'KeyCurrent', status, reason, message });
}

/** The status fields every plan derives from the observation, before any step runs. */
export function draftFor(input: WorkloadPlanInput): PlanDraft {
  const { observed, desired } = input;
  const status: Record<string, unknown> = {};
  if (observed.kind === 'found') {
    const s = observed.state;
    status['resourceArn'] = s.resourceArn;
    status['awsState'] = s.awsState;
    if (input.status?.lastOperation) status['lastOperation'] = input.status.lastOperation;
    const material = recordedMaterial(input, s);
    status['current'] = {
      keyType: s.encryption.type,
      ...(s.encryption.type === 'CustomerManaged' ? { keyArn: s.encryption.keyArn } : {}),
      ...(material ? { keyMaterialId: material } : {}),
    };
  }
  if (desired.kind === 'resolved') status['desiredKeyArn'] = keyLabel(desired.setting);
  return { actions: [], conditions: [], events: [], status, lines: [] };
}

/** The key material status records for the key AWS reports; undefined when none or another key's. */
function recordedMaterial(input: WorkloadPlanInput, s: WorkloadState): string | undefined {
  const current = input.status?.current;
  return current?.keyMaterialId &&
    s.encryption.type === 'CustomerManaged' &&
    current.keyArn === s.encryption.keyArn
    ? current.keyMaterialId
    : undefined;
}

export function planWorkload(input: WorkloadPlanInput): WorkloadPlan {
  const plan = draftFor(input);
  return { ...plan, ...(runSteps(workloadPlanSteps, planContext(input), plan) ?? proceed(resync.settledMs)) };
}

// ---- the steps -------------------------------------------------------------------------------------

/** Deleting (the object has a deletionTimestamp): each step ends the plan or defers to the next. */
export const deletionSteps: readonly PlanStep[] = [
  // Our finalizer is gone already: nothing of ours to clean up.
  step('noFinalizer', (c) => (c.input.hasFinalizer ? undefined : proceed(resync.settledMs))),
  // AWS did not answer: keep the finalizer and look again.
  step('deletionUnread', (c) =>
    c.input.observed.kind === 'error'
      ? waiting('AwsUnavailable', c.input.observed.failure.message, resync.transitioningMs)
      : undefined,
  ),
  // Gone, another's, Observe mode or refused: let the object go, touch nothing in AWS.
  step('notOursToTouch', (c, plan) => {
    if (c.input.observed.kind !== 'notFound' && !c.claimedByOther && c.enforce && !c.input.refusal)
      return undefined;
    plan.actions.push({ type: 'RemoveFinalizer' });
    return proceed(resync.settledMs);
  }),
  // deletionPolicy RevertToAwsOwned: back to the AWS owned key first, once AWS takes a change.
  resourceStep('revertToAwsOwned', (c, plan) => {
    const s = c.state;
    if ((c.input.spec.deletionPolicy ?? 'Orphan') !== 'RevertToAwsOwned' || s.encryption.type === 'AwsOwned')
      return undefined;
    if (!s.settled) {
      const message = `waiting for ${s.awsState} to settle before reverting to the AWS owned key`;
      return waiting('Transitioning', message, resync.transitioningMs);
    }
    if (s.blocker)
      return waiting(
        s.blocker.kind,
        `reverting to the AWS owned key waits: ${s.blocker.kind}`,
        resync.slowMs,
      );
    plan.actions.push({ type: 'ChangeKey', from: s.encryption, to: { type: 'AwsOwned' } });
    plan.lines.push(`revert ${s.resourceArn} from ${keyLabel(s.encryption)} to AWS_OWNED before deletion`);
    return proceed(resync.transitioningMs);
  }),
  // Once AWS has settled: remove our claim, then the finalizer.
  resourceStep('release', (c, plan) => {
    const s = c.state;
    if (!s.settled)
      return waiting(
        'Transitioning',
        `waiting for ${s.awsState} to settle before release`,
        resync.transitioningMs,
      );
    if (s.tags[ownerTag] === c.input.claim) plan.actions.push({ type: 'Release', tagKeys: [ownerTag] });
    plan.actions.push({ type: 'RemoveFinalizer' });
    return proceed(resync.settledMs);
  }),
];

/** Off the desired key: what stands between the resource and the switch; the last step switches. */
export const switchSteps: readonly PlanStep[] = [
  // Observe mode reports the drift as Stalled: kstatus, Argo CD and Flux show it as the failure it is.
  keyStep('observeOnly', (c, plan) => {
    if (c.enforce) return undefined;
    const line = switchLine(c);
    keyCurrent(plan, 'False', 'Drift', `Observe mode: would ${line}`);
    const message = `Observe mode: would ${line}; set spec.mode: Enforce to let the operator switch it`;
    return stalled('Drift', message, resync.settledMs);
  }),
  // Never onto a key that failed pre-flight (invariant 1).
  step('preflight', (c, plan) => {
    const verdict = c.input.preflight;
    if (!verdict || verdict.ok) return undefined;
    keyCurrent(plan, 'False', 'PreflightFailed', `not switching: ${verdict.message}`);
    return stalled(verdict.reason, verdict.message, resync.slowMs);
  }),
  // Never while AWS is transitioning.
  resourceStep('settled', (c, plan) => {
    if (c.state.settled) return undefined;
    keyCurrent(plan, 'False', 'Transitioning', `waiting for ${c.state.awsState} to settle`);
    return waiting('Transitioning', `AWS reports ${c.state.awsState}`, resync.transitioningMs);
  }),
  // The same switch failed moments ago: report AWS's words and hold off, not a restart on every pass.
  keyStep('recentFailure', (c, plan) => {
    const hold = failedSwitchHoldMs(c);
    if (hold === undefined) return undefined;
    const retryAt = new Date(c.input.now + hold).toISOString();
    const message = `switching to ${keyLabel(c.want)} failed: ${c.lastOp?.message ?? 'no detail from AWS'}; fix the cause (or change the spec); the operator tries again after ${retryAt}`;
    keyCurrent(plan, 'False', 'SwitchFailed', message);
    return stalled('SwitchFailed', message, hold);
  }),
  // AWS takes no change now: stop for it (an EMR application that runs) or wait, the blocker as reason.
  resourceStep('blocker', (c, plan) => {
    const blocker = c.state.blocker;
    if (!blocker) return undefined;
    if (blocker.kind === 'ApplicationRunning') return ends(runSteps(stopForChangeSteps, c, plan));
    const message = `the key cannot change now: ${blocker.kind}`;
    keyCurrent(plan, 'False', blocker.kind, message);
    return waiting(blocker.kind, message, resync.slowMs);
  }),
  // A change that restarts a running resource is disruptive: inside the maintenance window only (MSF-011).
  resourceStep('maintenanceWindow', (c, plan) =>
    c.state.running && c.caps.changeRestartsRunning && !inWindow(c)
      ? waitForWindow(c, plan, 'the switch restarts the running application')
      : undefined,
  ),
  // Switch.
  keyStep('change', (c, plan) => {
    plan.actions.push({ type: 'ChangeKey', from: c.state.encryption, to: c.want });
    keyCurrent(plan, 'False', 'Switching', switchLine(c));
    return proceed(resync.transitioningMs);
  }),
];

/** A running application blocks the change (EMR STARTED): wait, or stop it (StopAndUpdate). */
export const stopForChangeSteps: readonly PlanStep[] = [
  // whenStarted: Wait (the default): the application is left to stop on its own.
  step('waitForStop', (c, plan) => {
    if ((c.input.spec.whenStarted ?? 'Wait') !== 'Wait') return undefined;
    const message =
      'the application is STARTED; EMR Serverless changes disk encryption only while CREATED or STOPPED (whenStarted: Wait)';
    plan.status['waitingFor'] = 'the application to stop';
    keyCurrent(plan, 'False', 'WaitingForApplicationStop', message);
    return waiting('WaitingForApplicationStop', message, resync.slowMs);
  }),
  // cancelRunningJobs: true: cancel the job runs (destructive, asked for), inside the window; stop after.
  resourceStep('cancelJobs', (c, plan) => {
    const jobRunIds = activeJobRunIds(c.state);
    if (jobRunIds.length === 0 || !c.input.spec.cancelRunningJobs) return undefined;
    if (!inWindow(c)) return waitForWindow(c, plan, 'cancelling running jobs');
    plan.actions.push({ type: 'CancelJobRuns', jobRunIds });
    plan.status['waitingFor'] = 'cancelled jobs to end';
    const message = `cancelling ${jobRunIds.length} job run(s) to stop the application (cancelRunningJobs: true)`;
    keyCurrent(plan, 'False', 'CancellingJobs', message);
    return proceed(resync.transitioningMs);
  }),
  // Otherwise stopping waits for the job runs to end (AWS refuses to stop an application with jobs).
  resourceStep('waitForJobs', (c, plan) => {
    const active = activeJobRunIds(c.state).length;
    if (active === 0) return undefined;
    const message = `${active} job run(s) active; stopping the application waits for them (whenStarted: StopAndUpdate)`;
    plan.status['waitingFor'] = 'running jobs to finish';
    keyCurrent(plan, 'False', 'WaitingForJobs', message);
    return waiting('WaitingForJobs', message, resync.slowMs);
  }),
  // Stopping is disruptive: inside the maintenance window only.
  step('stopWindow', (c, plan) =>
    inWindow(c) ? undefined : waitForWindow(c, plan, 'stopping the application'),
  ),
  // Stop; the key changes once it is stopped, and pendingStart starts it again after.
  keyStep('stop', (c, plan) => {
    plan.actions.push({ type: 'Stop', why: `change disk encryption to ${keyLabel(c.want)}` });
    plan.status['pendingStart'] = true;
    keyCurrent(plan, 'False', 'Stopping', 'stopping the application to change its key');
    return proceed(resync.transitioningMs);
  }),
];

/**
 * Running storage keeps the key material it started with until a restart (MSF-017, TRAP-05). Which
 * material the running resource uses is decided by dates where AWS shows them: an old one exactly when
 * the resource started (runningSince, MSF-025) no later than the key's current material became current
 * (materialSince, KMS-024). So a rotation before the operator first saw the resource counts, and a
 * restart by anyone after the rotation needs nothing more. Only where AWS shows no start time does the
 * decision fall back to the material recorded when the operator first saw the resource running, taken
 * to be the current one then (a rotation before that sight goes unnoticed). Material found current is
 * recorded in status, so nothing more is read until the key rotates again (material-observe.ts).
 */
export const materialSteps: readonly PlanStep[] = [
  // Running on the current material (by dates, or at first sight without a start time): record it.
  keyStep('recordCurrentMaterial', (c, plan) => {
    if (runningMaterial(c)?.kind === 'current' && c.currentKeyMaterialId)
      (plan.status['current'] as { keyMaterialId?: string }).keyMaterialId = c.currentKeyMaterialId;
    return undefined;
  }),
  // The dates could not be read: say so, record nothing, read again at the next resync.
  keyStep('materialUnknown', (c, plan) => {
    const m = runningMaterial(c);
    if (m?.kind !== 'unknown') return undefined;
    material(plan, 'Unknown', 'MaterialUnknown', m.why);
    return proceed(resync.settledMs);
  }),
  // Rotated, restartAfterRotation: Auto, but snapshots are off: a restart would lose the running state.
  keyStep('keepStateWithoutSnapshots', (c, plan) => {
    const m = runningMaterial(c);
    if (m?.kind !== 'stale' || !autoRestart(c) || !c.state.restartLosesState) return undefined;
    if (c.input.spec.restartWithoutSnapshots === true) return undefined;
    plan.status['restartPending'] = true;
    material(
      plan,
      'False',
      'SnapshotsDisabled',
      `${m.why}; the application's snapshots are disabled, so a restart would lose its running state and the operator does not restart it: enable snapshots on the application, restart it yourself, or set spec.restartWithoutSnapshots: true to let the operator restart it anyway`,
    );
    return proceed(resync.settledMs);
  }),
  // Rotated, restartAfterRotation: Auto: restart (stop, then start) inside the maintenance window.
  keyStep('restartAfterRotation', (c, plan) => {
    const m = runningMaterial(c);
    if (m?.kind !== 'stale' || !autoRestart(c)) return undefined;
    plan.status['restartPending'] = true;
    if (!inWindow(c)) {
      material(plan, 'False', 'WaitingForMaintenanceWindow', m.why);
      return waitForWindow(c, plan, 'restarting after key rotation', true);
    }
    plan.actions.push({ type: 'Stop', why: 'restart to pick up rotated key material' });
    plan.status['pendingStart'] = true;
    material(plan, 'False', 'Restarting', m.why);
    return proceed(resync.transitioningMs);
  }),
  // Rotated, restartAfterRotation: Never (or Observe mode): report that a restart is pending.
  keyStep('restartPending', (c, plan) => {
    const m = runningMaterial(c);
    if (m?.kind !== 'stale') return undefined;
    plan.status['restartPending'] = true;
    const why = c.enforce ? 'restartAfterRotation: Never' : 'Observe mode';
    material(plan, 'False', 'RestartPending', `${m.why} (${why})`);
    return proceed(resync.settledMs);
  }),
  // On the current material, or not running (the next start uses it).
  resourceStep('materialCurrent', (c, plan) => {
    plan.status['restartPending'] = false;
    material(
      plan,
      'True',
      c.state.running ? 'CurrentMaterial' : 'NotRunning',
      c.state.running
        ? 'the running application uses the current key material'
        : 'not running: the next start uses the current key material',
    );
    return undefined;
  }),
];

/** The workload decision, in order; the first step that ends the plan decides its outcome. */
export const workloadPlanSteps: readonly PlanStep[] = [
  // Deleting is the top-level branch, and it always ends the plan.
  step('deletion', (c, plan) => (c.input.deleting ? ends(runSteps(deletionSteps, c, plan)) : undefined)),
  // The finalizer comes before the first AWS side effect.
  step('finalizer', (c, plan) => {
    if (!c.input.hasFinalizer) plan.actions.push({ type: 'AddFinalizer' });
    return undefined;
  }),
  // Tenancy: the namespace may not manage this resource at all (invariant 4).
  step('tenancyRefusal', (c, plan) => {
    const refusal = c.input.refusal;
    if (!refusal) return undefined;
    keyCurrent(plan, 'Unknown', refusal.reason, refusal.message);
    return stalled(refusal.reason, refusal.message, resync.slowMs);
  }),
  // KeyUsable: the key the spec asks for resolves and passes pre-flight (never ends the plan).
  step('keyUsable', (c, plan) => {
    plan.conditions.push(keyUsable(c.input));
    return undefined;
  }),
  // The resource: AWS answered, and it exists.
  step('resourceReadable', (c, plan) => {
    const observed = c.input.observed;
    if (observed.kind === 'notFound') {
      const message =
        'the AWS resource was not found: check the name/ID, the region and the role the operator uses';
      keyCurrent(plan, 'Unknown', 'ResourceNotFound', message);
      return stalled('ResourceNotFound', message, resync.slowMs);
    }
    if (observed.kind !== 'error') return undefined;
    const { cause, code, message: text } = observed.failure;
    const message = `${code}: ${text}`;
    keyCurrent(plan, 'Unknown', cause === 'AccessDenied' ? 'AccessDenied' : 'AwsUnavailable', message);
    if (cause === 'AccessDenied' || cause === 'InvalidSpec')
      return stalled(cause === 'AccessDenied' ? 'AccessDenied' : 'AwsRejected', message, resync.slowMs);
    return waiting('AwsUnavailable', message, resync.transitioningMs);
  }),
  // Ownership: stall on another's claim; claim an unclaimed resource (Enforce mode).
  resourceStep('claim', (c, plan) => {
    const s = c.state;
    if (c.claimedByOther) {
      const message = `${s.resourceArn} is claimed by ${s.tags[ownerTag]} (tag ${ownerTag}); only one object in one cluster may manage it`;
      keyCurrent(plan, 'Unknown', 'ClaimedByAnother', message);
      plan.events.push({ type: 'Warning', reason: 'ClaimConflict', action: 'Claim', note: message });
      return stalled('ClaimedByAnother', message, resync.slowMs);
    }
    if (c.enforce && s.tags[ownerTag] === undefined)
      plan.actions.push({ type: 'Claim', tags: { [ownerTag]: c.input.claim } });
    return undefined;
  }),
  // KeyAccessible: a table that cannot reach its key is deleted by AWS after 7 days (KS-019); say so at once.
  resourceStep('keyAccessibility', (c, plan) => {
    if (c.state.keyInaccessible) reportInaccessible(c, plan);
    else if (c.caps.reportsKeyAccessibility)
      plan.conditions.push({
        type: 'KeyAccessible',
        status: 'True',
        reason: 'Accessible',
        message: 'the table can use its key',
      });
    return undefined;
  }),
  // The desired key resolves (a KmsKey that is not Ready, a missing alias: wait or stall).
  step('desiredResolved', (c, plan) => {
    const desired = c.input.desired;
    if (desired.kind === 'resolved') return undefined;
    keyCurrent(plan, 'Unknown', desired.reason, desired.message);
    return desired.terminal
      ? stalled(desired.reason, desired.message, resync.slowMs)
      : waiting(desired.reason, desired.message, resync.slowMs);
  }),
  // Off the desired key: the switch chain decides, and it always ends the plan.
  keyStep('switchWhenOffKey', (c, plan) => {
    if (c.onDesired) return undefined;
    plan.lines.push(switchLine(c));
    return ends(runSteps(switchSteps, c, plan));
  }),
  // Configured is not applied: while AWS's latest operation is the failed switch, report it, never Ready.
  keyStep('failedInAws', (c, plan) => {
    const { state: s, lastOp } = c;
    const awsStillFailed =
      lastOp?.id !== undefined && s.lastOperation?.id === lastOp.id && s.lastOperation.status === 'Failed';
    if (!s.settled || !awsStillFailed || !lastOp || lastOp.toKey !== keyLabel(c.want)) return undefined;
    const message = `the switch to ${keyLabel(c.want)} is configured but failed in AWS: ${lastOp.message ?? s.lastOperation?.message ?? 'no detail from AWS'}; fix the cause and start the resource again (the operator reports, it does not restart it)`;
    keyCurrent(plan, 'False', 'SwitchFailed', message);
    return stalled('SwitchFailed', message, resync.slowMs);
  }),
  // On the desired key: KeyCurrent is True; while AWS still moves, look again soon.
  keyStep('settledOnKey', (c, plan) => {
    if (c.state.settled) {
      keyCurrent(plan, 'True', 'OnDesiredKey', `AWS reports ${keyLabel(c.want)}`);
      return undefined;
    }
    keyCurrent(plan, 'True', 'OnDesiredKey', `configured with ${keyLabel(c.want)}`);
    return waiting('Transitioning', `AWS reports ${c.state.awsState}`, followSwitchMs(c));
  }),
  // On its key, but the key can no longer serve it (disabled, pending deletion, a policy that shuts
  // the service out): the operator cannot put that right, a person must (Stalled, with the fix).
  keyStep('keyStillServes', (c) => {
    const verdict = c.input.preflight;
    if (!verdict || verdict.ok) return undefined;
    const message = `${c.state.resourceArn} is on ${keyLabel(c.want)}, but ${verdict.message}`;
    return stalled(verdict.reason, message, resync.slowMs);
  }),
  // Start again what the operator stopped for a key change or a restart.
  resourceStep('pendingStart', (c, plan) => {
    if (!c.input.status?.pendingStart) return undefined;
    if (c.state.running) {
      plan.status['pendingStart'] = false;
      return undefined;
    }
    if (!c.enforce) return undefined;
    plan.actions.push({ type: 'Start', why: 'started again after the operator stopped it' });
    plan.status['pendingStart'] = false;
    return proceed(resync.transitioningMs);
  }),
  // Where running storage keeps old key material until a restart (MSF-017): MaterialCurrent.
  keyStep('material', (c, plan) =>
    c.caps.keepsMaterialUntilRestart && c.want.type === 'CustomerManaged'
      ? runSteps(materialSteps, c, plan)
      : undefined,
  ),
];

/** The names of the top-level steps, in order. */
export const workloadPlanStepNames = workloadPlanSteps.map((s) => s.name);

// ---- helpers ---------------------------------------------------------------------------------------

function switchLine(c: KeyContext): string {
  return `switch ${c.state.resourceArn} from ${keyLabel(c.state.encryption)} to ${keyLabel(c.want)}`;
}

function keyUsable({ desired, preflight }: WorkloadPlanInput): DesiredCondition {
  if (desired.kind === 'unresolved')
    return { type: 'KeyUsable', status: 'False', reason: desired.reason, message: desired.message };
  if (preflight && !preflight.ok)
    return { type: 'KeyUsable', status: 'False', reason: preflight.reason, message: preflight.message };
  if (desired.setting.type === 'AwsOwned')
    return {
      type: 'KeyUsable',
      status: 'True',
      reason: 'AwsOwnedKey',
      message: "the service's AWS owned key",
    };
  return {
    type: 'KeyUsable',
    status: 'True',
    reason: 'PreflightPassed',
    message: `key ${desired.setting.keyArn} passes pre-flight`,
  };
}

/** KeyAccessible=False with the date AWS deletes the table, an event at first sight. */
function reportInaccessible(c: ResourceContext, plan: PlanDraft): void {
  // A recorded time that is not a time (edited status, a restored backup) counts as first sight:
  // formatting it would throw and fail every reconcile of the table.
  const recorded = c.input.status?.inaccessibleSince;
  const recordedMs = recorded ? Date.parse(recorded) + awsDeletesInaccessibleTablesAfterMs : Number.NaN;
  const since =
    recorded && Math.abs(recordedMs) <= maxDateMs ? recorded : new Date(c.input.now).toISOString();
  const deletionAfter = new Date(Date.parse(since) + awsDeletesInaccessibleTablesAfterMs).toISOString();
  plan.status['inaccessibleSince'] = since;
  plan.status['deletionAfter'] = deletionAfter;
  const message = `the table cannot use its key (${keyLabel(c.state.encryption)}): reads and writes fail, and AWS deletes the table after ${deletionAfter} unless key access is restored (enable the key, cancel its deletion, or fix its policy)`;
  plan.conditions.push({
    type: 'KeyAccessible',
    status: 'False',
    reason: 'InaccessibleEncryptionCredentials',
    message,
  });
  if (since !== recorded)
    plan.events.push({ type: 'Warning', reason: 'TableInaccessible', action: 'Check', note: message });
}

/** The longest wait between two looks at a switch AWS is still carrying out. */
export const followSwitchMaxMs = 30_000;

/**
 * How soon to look again while AWS carries out a switch this operator asked for (the intent in
 * status, InProgress since its startTime): 5 s at first, then a quarter of how long it has run, at
 * most 30 s. A Managed Flink update restarts the application and takes minutes: looked at every 5 s,
 * a 3-minute switch costs 36 reads of the application; this way 15, and its end shows at most a
 * quarter of its length (and 30 s) after AWS reports it. A start time ahead of this clock, or none,
 * is the first 5 s.
 */
export function followSwitchMs({ lastOp, input }: Pick<KeyContext, 'lastOp' | 'input'>): number {
  const started =
    lastOp?.status === 'InProgress' && lastOp.startTime ? Date.parse(lastOp.startTime) : Number.NaN;
  const running = input.now - started;
  if (!(running > 0)) return resync.transitioningMs;
  return Math.min(followSwitchMaxMs, Math.max(resync.transitioningMs, Math.round(running / 4)));
}

/**
 * How long to hold off a switch that failed recently, or undefined to try it now. An end time ahead
 * of this clock (skew between replicas, an edited status) holds off at most failedSwitchRetryMs more;
 * one beyond that is not believed: never a requeue of years. A switch refused because the key was
 * unusable (disabled, pending deletion) is tried again as soon as the pre-flight finds the key usable.
 */
function failedSwitchHoldMs({ lastOp, want, input }: KeyContext): number | undefined {
  if (lastOp?.status !== 'Failed' || lastOp.toKey !== keyLabel(want)) return undefined;
  if (lastOp.failureCause === 'KeyUnusable' && input.preflight?.ok === true) return undefined;
  const failedAt = lastOp.endTime ? Date.parse(lastOp.endTime) : Number.NaN;
  const recent = input.now - failedAt < failedSwitchRetryMs && failedAt - input.now <= failedSwitchRetryMs;
  if (!recent) return undefined;
  return Math.min(failedSwitchRetryMs, Math.max(1000, failedAt + failedSwitchRetryMs - input.now));
}

/** The job runs that keep an EMR application from stopping (none unless the blocker says so). */
function activeJobRunIds(s: WorkloadState): string[] {
  return s.blocker?.kind === 'ApplicationRunning' ? s.blocker.activeJobRunIds : [];
}

/** Which material the running resource uses, next to the key's current one (see materialSteps). */
type RunningMaterial =
  | { kind: 'current' }
  | { kind: 'stale'; why: string }
  | { kind: 'unknown'; why: string };

/** Undefined when nothing runs on the key's material or the key reports none. */
function runningMaterial(c: KeyContext): RunningMaterial | undefined {
  const current = c.currentKeyMaterialId;
  if (!current || !c.state.running) return undefined;
  const recorded = recordedMaterial(c.input, c.state);
  // Recorded as current for this key, and the key has not rotated since.
  if (recorded === current) return { kind: 'current' };
  const started = c.state.runningSince;
  const since = c.input.materialSince;
  if (started !== undefined && !Number.isNaN(Date.parse(started)) && since) {
    if (since.kind === 'original') return { kind: 'current' };
    if (since.kind === 'rotated' && !Number.isNaN(Date.parse(since.date))) {
      if (Date.parse(started) > Date.parse(since.date)) return { kind: 'current' };
      return {
        kind: 'stale',
        why: `the key material rotated at ${since.date} (now ${current}) and the running application started at ${started}, before that: it uses the old material until it restarts`,
      };
    }
    if (since.kind === 'unknown' && recorded === undefined)
      return {
        kind: 'unknown',
        why: `cannot tell whether the running application (started at ${started}) uses the key's current material ${current}: ${since.message}; the operator reads again at the next resync`,
      };
  }
  // No start time from AWS: the material recorded at first sight, taken to be current then.
  if (recorded === undefined) return { kind: 'current' };
  return {
    kind: 'stale',
    why: `the key material rotated (${recorded} -> ${current}); the running application uses the old material until it restarts`,
  };
}

/** restartAfterRotation: Auto, and the operator may act (Enforce mode). */
function autoRestart(c: KeyContext): boolean {
  return (c.input.spec.restartAfterRotation ?? 'Never') === 'Auto' && c.enforce;
}

function material(plan: PlanDraft, status: DesiredCondition['status'], reason: string, message: string) {
  plan.conditions.push({ type: 'MaterialCurrent', status, reason, message });
}

function inWindow(c: PlanContext): boolean {
  return inMaintenanceWindow(c.input.now, c.input.spec.maintenanceWindow);
}

function waitForWindow(c: PlanContext, plan: PlanDraft, what: string, materialOnly = false): StepEnd {
  const { now, spec } = c.input;
  const next = nextWindowOpening(now, spec.maintenanceWindow);
  const message = `${what}: waiting for the maintenance window${next ? ` (opens ${new Date(next).toISOString()})` : ''}`;
  plan.status['waitingFor'] = 'the maintenance window';
  if (!materialOnly) keyCurrent(plan, 'False', 'WaitingForMaintenanceWindow', message);
  const retry = next ? Math.min(Math.max(next - now, 1000), resync.settledMs) : resync.settledMs;
  return waiting('WaitingForMaintenanceWindow', message, retry);
}
