// The EmrServerlessSession decision: given the object, the application and key it resolves to, the
// pre-flight verdict and (once started) what GetSession reports, which actions to take, which
// conditions to show and when to look again. Pure; table-tested in test/unit/session-plan.test.ts.
//
// Safety:
// - Start is planned only while status.sessionId is empty, never while deleting, never for a key that
//   is unresolved or fails pre-flight (invariant 1; emr-submission.ts, shared with job runs). Its
//   clientToken is derived from the object's UID and recorded, so every attempt for one object carries
//   the same idempotency token (EMR-012). The key is always named in the request (EMR-013, TRAP-13).
// - Deletion is the top-level branch. The finalizer is added before the start and held until AWS
//   reports the session ended (or gone): TerminateSession is requested once, and the object (which
//   counts as a user of its key while it holds the finalizer) is released only when the session's
//   disks no longer need the key.
// - An ended session (TERMINATED, FAILED) needs no AWS reads and drops status.keyArn: it no longer
//   uses the key, so it does not hold the key's deletion.

import { endedSessionStates, type SessionView } from '../aws/emr-serverless.ts';
import type { AwsFailure } from '../aws/errors.ts';
import type { EncryptionSetting } from '../aws/workload.ts';
import { planOutcomeFor } from '../runtime/outcome.ts';
import { clientTokenFor, gateSubmission, reasonOf, type SubmissionInputs } from './emr-submission.ts';
import { type DesiredCondition, type PlannedEvent, type PlanOutcome, resync } from './types.ts';
import { keyLabel } from './workload-plan.ts';

export const sessionFinalizer = 'cmk.io/session-terminate';

/** Sessions that run statements or wait for them: Ready. */
const activeStates: ReadonlySet<string> = new Set(['STARTED', 'IDLE', 'BUSY']);

export function hasEnded(state: string | undefined): boolean {
  return state !== undefined && endedSessionStates.has(state);
}

export interface SessionStatusView {
  sessionId?: string;
  applicationId?: string;
  arn?: string;
  state?: string;
  stateDetails?: string;
  keyArn?: string;
  requestedAt?: string;
  clientToken?: string;
}

export type SessionObservation =
  /** Nothing to read: not started yet, or ended (recorded in status). */
  | { kind: 'notRead' }
  | { kind: 'found'; session: SessionView }
  | { kind: 'notFound' }
  | { kind: 'error'; failure: AwsFailure };

export interface SessionPlanInput extends SubmissionInputs {
  uid: string;
  deleting: boolean;
  hasFinalizer: boolean;
  status: SessionStatusView | undefined;
  observed: SessionObservation;
}

export type SessionAction =
  | { type: 'AddFinalizer' }
  | { type: 'Start'; applicationId: string; clientToken: string; setting: EncryptionSetting }
  | { type: 'Terminate'; applicationId: string; sessionId: string }
  | { type: 'RemoveFinalizer' };

export interface SessionPlan {
  actions: SessionAction[];
  conditions: DesiredCondition[];
  events: PlannedEvent[];
  /** Status fields derived from the inputs (the executor merges the start's result in). */
  status: SessionStatusView;
  /** The session ended: status.keyArn goes (it no longer uses the key). */
  dropKeyArn: boolean;
  /** Reconciling while the session starts or terminates (kstatus); undefined when settled or stalled. */
  reconciling?: { reason: string; message: string };
  outcome: PlanOutcome;
  requeueAfterMs: number;
}

export function planSession(input: SessionPlanInput): SessionPlan {
  const actions: SessionAction[] = [];
  const conditions: DesiredCondition[] = [];
  const events: PlannedEvent[] = [];
  const recorded = input.status ?? {};
  const status: SessionStatusView = { clientToken: recorded.clientToken ?? clientTokenFor(input.uid) };
  let reconciling: SessionPlan['reconciling'];
  let dropKeyArn = false;
  const done = (outcome: PlanOutcome, requeueAfterMs: number): SessionPlan => ({
    actions,
    conditions,
    events,
    status,
    dropKeyArn,
    ...(reconciling ? { reconciling } : {}),
    outcome,
    requeueAfterMs,
  });
  const sessionId = recorded.sessionId;
  // The application recorded with the session, else the one the spec names (an older status).
  const applicationId =
    recorded.applicationId ??
    (input.application.kind === 'resolved' ? input.application.applicationId : undefined);

  // What AWS says now, else what was recorded.
  if (input.observed.kind === 'found') {
    const s = input.observed.session;
    status.state = s.state;
    if (s.arn) status.arn = s.arn;
    if (s.stateDetails) status.stateDetails = s.stateDetails;
  }
  const state = status.state ?? recorded.state;
  // Ended only once there is a session: a state without an id must not skip the finalizer.
  const ended = sessionId !== undefined && (hasEnded(state) || input.observed.kind === 'notFound');
  if (ended) dropKeyArn = true;

  // ---- deletion: the top-level branch -------------------------------------------------------
  if (input.deleting) {
    if (!input.hasFinalizer) return done({ kind: 'continue' }, resync.settledMs);
    if (sessionId && !ended) {
      const observed = input.observed;
      if (observed.kind !== 'found' || !applicationId) {
        const why = observed.kind === 'error' ? `: ${observed.failure.message}` : '';
        const message = `cannot read session ${sessionId} to terminate it${why}`;
        return done(
          { kind: 'waiting', reason: 'AwsUnavailable', message, retryAfterMs: resync.transitioningMs },
          resync.transitioningMs,
        );
      }
      if (observed.session.state !== 'TERMINATING')
        actions.push({ type: 'Terminate', applicationId, sessionId });
      // Held until AWS reports the session ended: its disks use the key until then.
      reconciling = {
        reason: 'Terminating',
        message: `terminating session ${sessionId}; the object goes once AWS reports it ended`,
      };
      return done({ kind: 'continue' }, resync.transitioningMs);
    }
    // Nothing started (the status says so, read from the API server), or the session ended.
    actions.push({ type: 'RemoveFinalizer' });
    return done({ kind: 'continue' }, resync.settledMs);
  }

  // ---- the finalizer is held while there is (or may soon be) a session to terminate ------------
  if (!ended && !input.hasFinalizer) actions.push({ type: 'AddFinalizer' });
  if (ended && input.hasFinalizer) actions.push({ type: 'RemoveFinalizer' });

  // ---- before the start --------------------------------------------------------------------
  if (!sessionId) {
    conditions.push({
      type: 'SessionActive',
      status: 'Unknown',
      reason: 'NotStarted',
      message: 'the session has not been started yet',
    });
    const gate = gateSubmission(input, { verb: 'starting the session', noun: 'session' }, conditions);
    if (gate.kind === 'blocked') {
      if (input.application.kind === 'resolved') status.applicationId = input.application.applicationId;
      return done(gate.outcome, gate.requeueAfterMs);
    }
    status.applicationId = gate.applicationId;
    if (input.keySource !== 'none') status.keyArn = keyLabel(gate.setting);
    actions.push({
      type: 'Start',
      applicationId: gate.applicationId,
      clientToken: status.clientToken!,
      setting: gate.setting,
    });
    reconciling = {
      reason: 'Starting',
      message: `starting the session on application ${gate.applicationId}`,
    };
    return done({ kind: 'continue' }, resync.transitioningMs);
  }

  // ---- started: follow the session -------------------------------------------------------------
  const observed = input.observed;
  if (observed.kind === 'error') {
    const f = observed.failure;
    const message = `GetSession ${sessionId}: ${f.code}: ${f.message}`;
    const outcome = planOutcomeFor(f, message, resync.transitioningMs);
    return done(outcome, outcome.kind === 'stalled' ? resync.slowMs : resync.transitioningMs);
  }
  const details = status.stateDetails ?? recorded.stateDetails;
  const next = 'create a new EmrServerlessSession for another session';
  if (observed.kind === 'notFound') {
    const message = `session ${sessionId} no longer exists in application ${applicationId} (was the application deleted?): ${next}`;
    conditions.push({ type: 'SessionActive', status: 'False', reason: 'SessionNotFound', message });
    return done({ kind: 'stalled', reason: 'SessionNotFound', message }, resync.slowMs);
  }
  const justChanged = observed.kind === 'found' && state !== recorded.state;
  if (state === 'TERMINATED' || state === 'FAILED') {
    const reason = state === 'FAILED' ? 'SessionFailed' : 'SessionTerminated';
    const message = `session ${sessionId} ${state === 'FAILED' ? 'failed' : 'was terminated'}${details ? `: ${details}` : ''}; ${next}`;
    conditions.push({ type: 'SessionActive', status: 'False', reason, message });
    if (justChanged) events.push({ type: 'Warning', reason, action: 'GetSession', note: message });
    // Terminal: the spec is immutable, so only a new object starts another session.
    return done({ kind: 'stalled', reason, message }, resync.settledMs);
  }
  const shown = state ?? 'SUBMITTED';
  const message = `session ${sessionId} is ${shown}${details ? `: ${details}` : ''}`;
  if (activeStates.has(shown)) {
    conditions.push({ type: 'SessionActive', status: 'True', reason: reasonOf(shown), message });
    if (justChanged && !activeStates.has(recorded.state ?? ''))
      events.push({ type: 'Normal', reason: 'SessionStarted', action: 'GetSession', note: message });
    return done({ kind: 'continue' }, resync.settledMs);
  }
  // SUBMITTED, STARTING, TERMINATING (someone else terminating it), or a state this version does not know.
  conditions.push({ type: 'SessionActive', status: 'Unknown', reason: reasonOf(shown), message });
  reconciling = { reason: reasonOf(shown), message };
  return done({ kind: 'continue' }, resync.transitioningMs);
}
