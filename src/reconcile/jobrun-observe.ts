// Observing a job run: before submission, the application it runs in, the key it resolves to
// (its own, or its application's) and the pre-flight verdict (emr-submission.ts, shared with
// sessions); after submission, the run as AWS reports it while it may still change. Gathered into
// the input of planJobRun; writes nothing.

import type { AwsTarget } from '../aws/clients.ts';
import { getJobRun } from '../aws/emr-serverless.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import {
  type EmrApplicationObject,
  notNeeded,
  observeSubmission,
  submissionContext,
} from './emr-submission.ts';
import type { JobRunObject, JobRunReconcilerDeps } from './jobrun.ts';
import {
  type ApplicationResolution,
  cancelOnDeleteAnnotation,
  isFinished,
  jobRunFinalizer,
  type KeySource,
  type JobRunObservation as RunObservation,
} from './jobrun-plan.ts';
import type { DesiredKey, Preflight } from './workload-plan.ts';

export interface JobRunInputs {
  application: ApplicationResolution;
  keySource: KeySource;
  desired: DesiredKey;
  preflight: Preflight | undefined;
  observed: RunObservation;
}

/** What planJobRun needs besides the object: the gathered inputs, and where the run lives. */
export interface JobRunObservation {
  inputs: JobRunInputs;
  target: AwsTarget;
}

/** Reads what planJobRun needs for `object`. */
export async function observeJobRun(
  deps: JobRunReconcilerDeps,
  object: JobRunObject,
): Promise<JobRunObservation> {
  const { app, target } = submissionContext(deps, object);
  return { inputs: await gather(deps, object, target, app), target };
}

async function gather(
  deps: JobRunReconcilerDeps,
  object: JobRunObject,
  target: AwsTarget,
  app: EmrApplicationObject | undefined,
) {
  const { spec } = object;
  const status = object.status ?? {};
  const deleting = Boolean(object.metadata.deletionTimestamp);
  const cancelOnDelete = object.metadata.annotations?.[cancelOnDeleteAnnotation] === 'true';
  const hasFinalizer = object.metadata.finalizers?.includes(jobRunFinalizer) ?? false;
  const inputs: JobRunInputs = {
    application: notNeeded,
    keySource: spec.key ? 'job' : spec.applicationRef ? 'application' : 'none',
    desired: notNeeded,
    preflight: undefined,
    observed: { kind: 'notRead' },
  };

  if (status.jobRunId) {
    // Follow the run while it may still change; on deletion only when it may have to be cancelled.
    const worthReading = !deleting || (hasFinalizer && cancelOnDelete);
    if (!isFinished(status.state) && worthReading) {
      try {
        const run = await getJobRun(deps.aws, target, {
          applicationId: status.applicationId ?? '',
          jobRunId: status.jobRunId,
        });
        inputs.observed = run ? { kind: 'found', run } : { kind: 'notFound' };
      } catch (e) {
        inputs.observed = {
          kind: 'error',
          failure: e instanceof AwsCallError ? e.failure : classifyAwsError(e),
        };
      }
    }
    return inputs;
  }
  if (deleting) return inputs;

  // ---- before submission: the application, the key, the pre-flight ---------------------------
  const { application, desired, preflight } = await observeSubmission(deps, object, target, app);
  return { ...inputs, application, desired, preflight };
}
