// Observing an interactive session: before the start, the application it runs on, the key it
// resolves to (its own, or its application's) and the pre-flight verdict (emr-submission.ts, shared
// with job runs); after the start, the session as AWS reports it while it may still change (and, on
// deletion, while it may still have to be terminated). Gathered into the input of planSession;
// writes nothing.

import type { AwsTarget } from '../aws/clients.ts';
import { getSession } from '../aws/emr-serverless.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import { notNeeded, observeSubmission, type SubmissionInputs, submissionContext } from './emr-submission.ts';
import type { SessionObject, SessionReconcilerDeps } from './session.ts';
import { type SessionObservation as AwsObservation, hasEnded, sessionFinalizer } from './session-plan.ts';

/** What planSession needs besides the object: the gathered inputs, and where the session lives. */
export interface SessionObservation {
  inputs: SubmissionInputs & { observed: AwsObservation };
  target: AwsTarget;
}

/** Reads what planSession needs for `object`. */
export async function observeSession(
  deps: SessionReconcilerDeps,
  object: SessionObject,
): Promise<SessionObservation> {
  const { app, target } = submissionContext(deps, object);
  const { spec } = object;
  const status = object.status ?? {};
  const deleting = Boolean(object.metadata.deletionTimestamp);
  const hasFinalizer = object.metadata.finalizers?.includes(sessionFinalizer) ?? false;
  const idle: SessionObservation['inputs'] = {
    application: notNeeded,
    keySource: spec.key ? 'own' : spec.applicationRef ? 'application' : 'none',
    desired: notNeeded,
    preflight: undefined,
    observed: { kind: 'notRead' },
  };

  if (status.sessionId) {
    // Follow the session until it ended; on deletion only while it may have to be terminated.
    if (hasEnded(status.state) || (deleting && !hasFinalizer)) return { inputs: idle, target };
    const applicationId = status.applicationId ?? spec.applicationId ?? app?.spec.applicationId;
    if (!applicationId) return { inputs: idle, target };
    idle.application = { kind: 'resolved', applicationId };
    let observed: AwsObservation;
    try {
      const session = await getSession(deps.aws, target, { applicationId, sessionId: status.sessionId });
      observed = session ? { kind: 'found', session } : { kind: 'notFound' };
    } catch (e) {
      observed = { kind: 'error', failure: e instanceof AwsCallError ? e.failure : classifyAwsError(e) };
    }
    return { inputs: { ...idle, observed }, target };
  }
  if (deleting) return { inputs: idle, target };
  return {
    inputs: { ...(await observeSubmission(deps, object, target, app)), observed: idle.observed },
    target,
  };
}
