// Observing a job run: before submission, the application it runs in, the key it resolves to
// (its own, or its application's) and the pre-flight verdict; after submission, the run as AWS
// reports it while it may still change. Gathered into the input of planJobRun; writes nothing.

import type { EmrServerlessJobRunSpec } from '../api/workloads.ts';
import type { AwsTarget } from '../aws/clients.ts';
import { getJobRun } from '../aws/emr-serverless.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import type { EmrApplicationObject, JobRunObject, JobRunReconcilerDeps } from './jobrun.ts';
import {
  type ApplicationResolution,
  cancelOnDeleteAnnotation,
  isFinished,
  jobRunFinalizer,
  type KeySource,
  type JobRunObservation as RunObservation,
} from './jobrun-plan.ts';
import { preflightKey, resolveKey } from './key-resolution.ts';
import type { DesiredKey, Preflight } from './workload-plan.ts';

export interface JobRunInputs {
  application: ApplicationResolution;
  keySource: KeySource;
  desired: DesiredKey;
  preflight: Preflight | undefined;
  observed: RunObservation;
}

const emrApplicationArn = (region: string, accountId: string, applicationId: string) =>
  `arn:aws:emr-serverless:${region}:${accountId}:/applications/${applicationId}`;

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
  const { app, target } = context(deps, object);
  return { inputs: await gather(deps, object, target, app), target };
}

/** The application object a job run references, and the AWS target both live in. */
function context(
  deps: JobRunReconcilerDeps,
  object: JobRunObject,
): { app: EmrApplicationObject | undefined; target: AwsTarget } {
  const { spec } = object;
  const ns = object.metadata.namespace ?? '';
  const app = spec.applicationRef ? deps.getApplication(`${ns}/${spec.applicationRef.name}`) : undefined;
  // The job runs where its application is: an unset region or role follows the application object.
  const region = spec.region ?? app?.spec.region ?? deps.defaultRegion;
  const roleArn = spec.roleArn ?? app?.spec.roleArn;
  return { app, target: { region, ...(roleArn ? { roleArn } : {}) } };
}

async function gather(
  deps: JobRunReconcilerDeps,
  object: JobRunObject,
  target: AwsTarget,
  app: EmrApplicationObject | undefined,
) {
  const { spec } = object;
  const ns = object.metadata.namespace ?? '';
  const status = object.status ?? {};
  const deleting = Boolean(object.metadata.deletionTimestamp);
  const cancelOnDelete = object.metadata.annotations?.[cancelOnDeleteAnnotation] === 'true';
  const hasFinalizer = object.metadata.finalizers?.includes(jobRunFinalizer) ?? false;
  const inputs: JobRunInputs = {
    application: { kind: 'unresolved', reason: 'NotNeeded', message: '', terminal: false },
    keySource: spec.key ? 'job' : spec.applicationRef ? 'application' : 'none',
    desired: { kind: 'unresolved', reason: 'NotNeeded', message: '', terminal: false },
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
  const applicationId = spec.applicationId ?? app?.spec.applicationId;
  if (!applicationId) {
    inputs.application = {
      kind: 'unresolved',
      reason: 'ApplicationNotFound',
      message: `EmrServerlessApplication ${ns}/${spec.applicationRef?.name} does not exist`,
      terminal: false,
    };
    return inputs;
  }
  inputs.application = { kind: 'resolved', applicationId };

  const resolveAndCheck = async (
    key: NonNullable<EmrServerlessJobRunSpec['key']>,
    encryptionContext: Record<string, string> | undefined,
  ): Promise<DesiredKey> => {
    // Job runs read keys from KMS, not the cache: a submission is a one-shot action (few runs, read once).
    const { desired, facts } = await resolveKey(deps, {
      namespace: ns,
      key,
      encryptionContext,
      target,
      fresh: true,
    });
    if (desired.kind === 'resolved' && desired.setting.type === 'CustomerManaged') {
      inputs.preflight = await preflightKey(deps, {
        service: 'EmrServerless',
        id: { service: 'EmrServerless', applicationId },
        facts,
        setting: desired.setting,
        target,
        resourceArn: (accountId) => emrApplicationArn(target.region, accountId, applicationId),
        fresh: true,
      });
    }
    return desired;
  };

  if (spec.key) {
    inputs.desired = await resolveAndCheck(spec.key, spec.encryptionContext);
  } else if (app) {
    // The application's desired key, resolved exactly as its own reconciler resolves it; a job
    // context, when set, replaces the application's (the override is one object).
    inputs.desired = await resolveAndCheck(
      app.spec.key,
      spec.encryptionContext ?? app.spec.encryptionContext,
    );
  } else {
    inputs.desired = { kind: 'resolved', setting: { type: 'AwsOwned' } };
  }
  return inputs;
}
