// The EmrServerlessJobRun decision: given the object, the application and key it resolves to, the
// pre-flight verdict and (once submitted) what GetJobRun reports, which actions to take, which
// conditions to show and when to look again. Pure; table-tested in test/unit/jobrun-plan.test.ts.
//
// Safety:
// - Submit is planned only while status.jobRunId is empty, never while deleting, never for a key
//   that is unresolved or fails pre-flight (invariant 1). Its clientToken is derived from the
//   object's UID and recorded, so every attempt for one object carries the same idempotency token.
// - The job's disk key: its own spec.key when set, else its application's desired key, sent as an
//   explicit job-level override (TRAP-13: the application's current key may still be the old one).
// - Deletion is the top-level branch. A job run is never cancelled unless the object carries the
//   annotation cmk.io/cancel-on-delete: "true"; only then does it hold a finalizer (added before
//   the submission, dropped once the run is finished), and cancelling is requested before release.
// - A finished run (SUCCESS, FAILED, CANCELLED) needs no AWS reads: the executor passes
//   `observed: {kind: 'notRead'}` and the plan reproduces the recorded outcome.

import type { JobRunView } from '../aws/emr-serverless.ts';
import type { AwsFailure } from '../aws/errors.ts';
import type { EncryptionSetting } from '../aws/workload.ts';
import { planOutcomeFor } from '../runtime/outcome.ts';
import { type ApplicationResolution, clientTokenFor, gateSubmission, reasonOf } from './emr-submission.ts';
import { type DesiredCondition, type PlannedEvent, type PlanOutcome, resync } from './types.ts';
import { type DesiredKey, keyLabel, type Preflight } from './workload-plan.ts';

export const jobRunFinalizer = 'cmk.io/jobrun-cancel';
export const cancelOnDeleteAnnotation = 'cmk.io/cancel-on-delete';

/** Run states after which nothing changes any more (JobRunState). */
export const finishedJobRunStates: ReadonlySet<string> = new Set(['SUCCESS', 'FAILED', 'CANCELLED']);
/** Run states CancelJobRun accepts; CANCELLING is already on its way. */
const cancellableStates: ReadonlySet<string> = new Set([
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'QUEUED',
  'RUNNING',
]);

export function isFinished(state: string | undefined): boolean {
  return state !== undefined && finishedJobRunStates.has(state);
}

// The StartJobRun idempotency token and the application resolution are shared with sessions.
export { type ApplicationResolution, clientTokenFor } from './emr-submission.ts';

/**
 * Where the job's key comes from: its own spec.key, its EmrServerlessApplication object's key, or
 * nowhere (spec.applicationId and no spec.key: no override, AWS applies the application's setting).
 */
export type KeySource = 'job' | 'application' | 'none';

export interface JobRunStatusView {
  jobRunId?: string;
  applicationId?: string;
  arn?: string;
  state?: string;
  stateDetails?: string;
  keyArn?: string;
  submittedAt?: string;
  clientToken?: string;
}

export type JobRunObservation =
  /** Nothing to read: not submitted yet, or finished (recorded in status). */
  | { kind: 'notRead' }
  | { kind: 'found'; run: JobRunView }
  | { kind: 'notFound' }
  | { kind: 'error'; failure: AwsFailure };

export interface JobRunPlanInput {
  now: number;
  uid: string;
  deleting: boolean;
  hasFinalizer: boolean;
  /** The object carries cmk.io/cancel-on-delete: "true". */
  cancelOnDelete: boolean;
  status: JobRunStatusView | undefined;
  /** Read only before submission; ignored afterwards. */
  application: ApplicationResolution;
  keySource: KeySource;
  /** Read only before submission; ignored afterwards. */
  desired: DesiredKey;
  /** The pre-flight verdict for a customer managed key; undefined when none was needed. */
  preflight: Preflight | undefined;
  observed: JobRunObservation;
}

export type JobRunAction =
  | { type: 'AddFinalizer' }
  | { type: 'Submit'; applicationId: string; clientToken: string; setting: EncryptionSetting }
  | { type: 'Cancel'; applicationId: string; jobRunId: string }
  | { type: 'RemoveFinalizer' };

export interface JobRunPlan {
  actions: JobRunAction[];
  conditions: DesiredCondition[];
  events: PlannedEvent[];
  /** Status fields derived from the inputs (the executor merges the submission's result in). */
  status: JobRunStatusView;
  /** Reconciling while the run is in flight (kstatus); undefined when settled or stalled. */
  reconciling?: { reason: string; message: string };
  outcome: PlanOutcome;
  requeueAfterMs: number;
}

export function planJobRun(input: JobRunPlanInput): JobRunPlan {
  const actions: JobRunAction[] = [];
  const conditions: DesiredCondition[] = [];
  const events: PlannedEvent[] = [];
  const recorded = input.status ?? {};
  const status: JobRunStatusView = { clientToken: recorded.clientToken ?? clientTokenFor(input.uid) };
  let reconciling: JobRunPlan['reconciling'];
  const done = (outcome: PlanOutcome, requeueAfterMs: number): JobRunPlan => ({
    actions,
    conditions,
    events,
    status,
    ...(reconciling ? { reconciling } : {}),
    outcome,
    requeueAfterMs,
  });
  const jobRunId = recorded.jobRunId;
  const applicationId = recorded.applicationId;

  // What AWS says now, else what was recorded.
  if (input.observed.kind === 'found') {
    const run = input.observed.run;
    status.state = run.state;
    if (run.arn) status.arn = run.arn;
    if (run.stateDetails) status.stateDetails = run.stateDetails;
  }
  const state = status.state ?? recorded.state;
  // A run counts as finished only once there is a run: a state without a job run id (an
  // inconsistent read) must not stop the finalizer from preceding the first submission.
  const finished = jobRunId !== undefined && isFinished(state);

  // ---- deletion: the top-level branch -------------------------------------------------------
  if (input.deleting) {
    if (!input.hasFinalizer) return done({ kind: 'continue' }, resync.settledMs);
    if (input.cancelOnDelete && jobRunId && applicationId && !finished) {
      if (input.observed.kind === 'error') {
        const message = `cannot read job run ${jobRunId} to cancel it: ${input.observed.failure.message}`;
        return done(
          { kind: 'waiting', reason: 'AwsUnavailable', message, retryAfterMs: resync.transitioningMs },
          resync.transitioningMs,
        );
      }
      if (input.observed.kind === 'found' && cancellableStates.has(input.observed.run.state)) {
        actions.push({ type: 'Cancel', applicationId, jobRunId });
      }
    }
    // Nothing submitted (the status says so, read from the API server), nothing to cancel, or
    // cancelling requested: the object may go.
    actions.push({ type: 'RemoveFinalizer' });
    return done({ kind: 'continue' }, resync.settledMs);
  }

  // ---- the finalizer follows the annotation, and only while the run may still be cancelled ----
  const wantFinalizer = input.cancelOnDelete && !finished;
  if (wantFinalizer && !input.hasFinalizer) actions.push({ type: 'AddFinalizer' });
  if (!wantFinalizer && input.hasFinalizer) actions.push({ type: 'RemoveFinalizer' });

  // ---- before submission ---------------------------------------------------------------------
  if (!jobRunId) {
    conditions.push({
      type: 'Succeeded',
      status: 'Unknown',
      reason: 'NotSubmitted',
      message: 'the job run has not been submitted yet',
    });
    const keySource = input.keySource === 'job' ? 'own' : input.keySource;
    const gate = gateSubmission({ ...input, keySource }, { verb: 'submitting', noun: 'job' }, conditions);
    if (gate.kind === 'blocked') {
      if (input.application.kind === 'resolved') status.applicationId = input.application.applicationId;
      return done(gate.outcome, gate.requeueAfterMs);
    }
    const { applicationId: appId, setting } = gate;
    status.applicationId = appId;
    if (input.keySource !== 'none') status.keyArn = keyLabel(setting);
    actions.push({ type: 'Submit', applicationId: appId, clientToken: status.clientToken!, setting });
    reconciling = { reason: 'Submitting', message: `submitting the job run to application ${appId}` };
    return done({ kind: 'continue' }, resync.transitioningMs);
  }

  // ---- submitted: follow the run -------------------------------------------------------------
  const observed = input.observed;
  if (observed.kind === 'error') {
    const f = observed.failure;
    const message = `GetJobRun ${jobRunId}: ${f.code}: ${f.message}`;
    const outcome = planOutcomeFor(f, message, resync.transitioningMs);
    return done(outcome, outcome.kind === 'stalled' ? resync.slowMs : resync.transitioningMs);
  }
  if (observed.kind === 'notFound') {
    const message = `job run ${jobRunId} no longer exists in application ${applicationId} (was the application deleted?)`;
    conditions.push({ type: 'Succeeded', status: 'Unknown', reason: 'JobRunNotFound', message });
    return done({ kind: 'stalled', reason: 'JobRunNotFound', message }, resync.slowMs);
  }
  const details = status.stateDetails ?? recorded.stateDetails;
  const justFinished = observed.kind === 'found' && finished && !isFinished(recorded.state);
  if (state === 'SUCCESS') {
    const message = `job run ${jobRunId} succeeded`;
    conditions.push({ type: 'Succeeded', status: 'True', reason: 'JobSucceeded', message });
    if (justFinished)
      events.push({ type: 'Normal', reason: 'JobSucceeded', action: 'GetJobRun', note: message });
    return done({ kind: 'continue' }, resync.settledMs);
  }
  if (state === 'FAILED' || state === 'CANCELLED') {
    const reason = state === 'FAILED' ? 'JobFailed' : 'JobCancelled';
    const message = `job run ${jobRunId} ${state === 'FAILED' ? 'failed' : 'was cancelled'}${details ? `: ${details}` : ''}`;
    conditions.push({ type: 'Succeeded', status: 'False', reason, message });
    if (justFinished) events.push({ type: 'Warning', reason, action: 'GetJobRun', note: message });
    // Terminal: the spec is immutable, so only a new object runs the job again.
    return done({ kind: 'stalled', reason, message }, resync.settledMs);
  }
  // SUBMITTED ... RUNNING, CANCELLING, or a state this version does not know: still in flight.
  const shown = state ?? 'SUBMITTED';
  const message = `job run ${jobRunId} is ${shown}${details ? `: ${details}` : ''}`;
  conditions.push({ type: 'Succeeded', status: 'Unknown', reason: reasonOf(shown), message });
  reconciling = { reason: reasonOf(shown), message };
  return done({ kind: 'continue' }, resync.transitioningMs);
}
