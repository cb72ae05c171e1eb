// The EmrServerlessJobRun reconciler: submits a job run once, on the key its manifest declares, and
// follows it to the end. The decision is planJobRun (jobrun-plan.ts); this file gathers its inputs
// and supplies the action handlers; the generic executor (src/runtime/executor.ts) runs them and
// writes the status.
//
// Watches: EmrServerlessJobRuns; EmrServerlessApplications (mapped to the job runs that reference
// them, so a job waiting for its application's key goes on when it resolves); KmsKeys (directly or
// through the application); KeyReferenceGrants (wired in src/operator.ts).
// Owns conditions: Ready, Reconciling, Stalled (kstatus), KeyUsable (pre-flight at submission) and
// Succeeded (the run's outcome).
//
// Exactly once: StartJobRun carries clientToken `cmk-<uid>` (AWS's idempotency token: the same
// token and request return the same job run instead of starting another), the decision to submit
// is taken on the object as stored in the API server (a quorum read, never the possibly stale
// cache), and status.jobRunId is written right after the call. A crash or a failed status write
// between the call and the write leads to a second call with the same token and the same request
// body (the spec is immutable and the key is resolved again to the same value), which returns the
// same run. If the key changed in that window, AWS refuses the token (ConflictException): the object
// is Stalled (ClientTokenConflict) and nothing is submitted again.
// A finished run (SUCCESS, FAILED, CANCELLED) with its status written is never read from AWS again.
//
// Never: submits while status.jobRunId is set, or on a key that is unresolved or fails pre-flight
// (safety invariant 1); cancels a run unless the object carries cmk.io/cancel-on-delete: "true"
// (deleting the object otherwise leaves the AWS job running); acts without the leader's signal.
// Every AWS mutation is an Event and an audit log line.

import type { JobDriver } from '@aws-sdk/client-emr-serverless';
import type { EmrServerlessJobRunSpec } from '../api/workloads.ts';
import type { AwsClients } from '../aws/clients.ts';
import { startJobRun } from '../aws/emr-serverless.ts';
import { cancelJobRun } from '../aws/emr-serverless-cancel.ts';
import { AwsCallError } from '../aws/errors.ts';
import type { Condition } from '../runtime/conditions.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { executor, type ReconcilerKind } from '../runtime/executor.ts';
import type { KubeClient, KubeObject, ResourceType } from '../runtime/kube.ts';
import { type JobRunObservation as Observation, observeJobRun } from './jobrun-observe.ts';
import {
  cancelOnDeleteAnnotation,
  isFinished,
  type JobRunAction,
  type JobRunPlan,
  type JobRunStatusView,
  jobRunFinalizer,
  planJobRun,
} from './jobrun-plan.ts';
import type { KeyResolutionDeps, PreflightDeps } from './key-resolution.ts';
import { resync } from './types.ts';
import type { WorkloadObject } from './workload.ts';
import { keyLabel } from './workload-plan.ts';

export interface JobRunObject extends KubeObject {
  spec: EmrServerlessJobRunSpec;
  status?: JobRunStatusView & { conditions?: Condition[]; observedGeneration?: number };
}

/** The EmrServerlessApplication as the workload reconciler sees it (its spec's option fields typed). */
export interface EmrApplicationObject extends KubeObject {
  spec: WorkloadObject['spec'];
}

export interface JobRunReconcilerDeps extends KeyResolutionDeps, PreflightDeps {
  kube: KubeClient;
  aws: AwsClients;
  events: EventRecorder;
  type: ResourceType;
  getJobRun(key: string): JobRunObject | undefined;
  getApplication(key: string): EmrApplicationObject | undefined;
  defaultRegion: string;
  now(): number;
}

/** A finished run whose outcome is already in status: nothing to read, nothing to write. */
function settled(o: JobRunObject): boolean {
  return (
    isFinished(o.status?.state) &&
    o.status?.observedGeneration === o.metadata.generation &&
    !o.metadata.deletionTimestamp &&
    !o.metadata.finalizers?.includes(jobRunFinalizer)
  );
}

function jobDriverOf(d: EmrServerlessJobRunSpec['jobDriver']): JobDriver {
  if (d.sparkSubmit) {
    const s = d.sparkSubmit;
    return {
      sparkSubmit: {
        entryPoint: s.entryPoint,
        ...(s.entryPointArguments ? { entryPointArguments: [...s.entryPointArguments] } : {}),
        ...(s.sparkSubmitParameters ? { sparkSubmitParameters: s.sparkSubmitParameters } : {}),
      },
    };
  }
  if (d.hive) {
    const h = d.hive;
    return {
      hive: {
        query: h.query,
        ...(h.initQueryFile ? { initQueryFile: h.initQueryFile } : {}),
        ...(h.parameters ? { parameters: h.parameters } : {}),
      },
    };
  }
  // The CRD's CEL rule requires exactly one; an object that slipped past it cannot be submitted.
  throw new AwsCallError('StartJobRun', {
    cause: 'InvalidSpec',
    code: 'InvalidJobDriver',
    message: 'spec.jobDriver needs exactly one of sparkSubmit or hive',
  });
}

export function jobRunKind(
  deps: JobRunReconcilerDeps,
): ReconcilerKind<JobRunObject, Observation, JobRunAction, JobRunPlan> {
  const { type } = deps;

  return {
    type,
    finalizer: jobRunFinalizer,
    get: deps.getJobRun,
    settled,
    observe: (object) => observeJobRun(deps, object),
    plan: (object, o) =>
      planJobRun({
        now: deps.now(),
        uid: object.metadata.uid ?? '',
        deleting: Boolean(object.metadata.deletionTimestamp),
        hasFinalizer: object.metadata.finalizers?.includes(jobRunFinalizer) ?? false,
        cancelOnDelete: object.metadata.annotations?.[cancelOnDeleteAnnotation] === 'true',
        status: object.status,
        ...o.inputs,
      }),
    // Submitting is decided on the object as stored, not as cached: the cache may not show yet the
    // jobRunId this process wrote a moment ago.
    decidedOnStored: new Set(['Submit']),
    reobserveStored: true,
    handlers: {
      Submit: async (action, ctx) => {
        const { spec } = ctx.object;
        let out: Awaited<ReturnType<typeof startJobRun>>;
        try {
          out = await startJobRun(deps.aws, ctx.observation.target, {
            applicationId: action.applicationId,
            executionRoleArn: spec.executionRoleArn,
            jobDriver: jobDriverOf(spec.jobDriver),
            ...(spec.name ? { name: spec.name } : {}),
            clientToken: action.clientToken,
            setting: action.setting,
          });
        } catch (e) {
          if (!(e instanceof AwsCallError) || e.failure.cause !== 'Conflict') throw e;
          // The token was used before with another request: a run may exist; never submit another.
          const message = `StartJobRun refused clientToken ${action.clientToken}: ${e.failure.message}. A job run was submitted for this object with other parameters (its key changed while submitting); find it with aws emr-serverless list-job-runs --application-id ${action.applicationId}`;
          ctx.record({
            type: 'Warning',
            reason: 'ClientTokenConflict',
            action: 'StartJobRun',
            note: message,
          });
          return { stalled: { reason: 'ClientTokenConflict', message } };
        }
        const keyText = keyLabel(action.setting);
        ctx.audit(
          'StartJobRun',
          {
            applicationId: out.applicationId,
            jobRunId: out.jobRunId,
            key: keyText,
            clientToken: action.clientToken,
          },
          out.requestId,
        );
        ctx.record({
          type: 'Normal',
          reason: 'Submitted',
          action: 'StartJobRun',
          note: `submitted job run ${out.jobRunId} to application ${out.applicationId} with disk key ${keyText}`,
        });
        return {
          status: {
            jobRunId: out.jobRunId,
            applicationId: out.applicationId,
            ...(out.arn ? { arn: out.arn } : {}),
            state: 'SUBMITTED',
            submittedAt: new Date(deps.now()).toISOString(),
            clientToken: action.clientToken,
          },
          mutated: true,
          progress: { reason: 'Submitted', message: `job run ${out.jobRunId} is SUBMITTED` },
        };
      },
      Cancel: async (action, ctx) => {
        const out = await cancelJobRun(deps.aws, ctx.observation.target, action);
        ctx.audit('CancelJobRun', { ...action, outcome: out.outcome }, out.requestId);
        ctx.record({
          type: 'Normal',
          reason: 'CancelRequested',
          action: 'CancelJobRun',
          note: `cancelling job run ${action.jobRunId}: the object was deleted with ${cancelOnDeleteAnnotation}: "true"`,
        });
        return undefined;
      },
    },
    subject: (object, _o, results) =>
      results.status.arn ?? object.status?.arn ?? `${object.metadata.namespace}/${object.metadata.name}`,
    prune: (conditions) => conditions,
    readiness: (stored, plan, results) => ({
      readyWhen: ['KeyUsable', 'Succeeded'],
      ready: {
        reason: 'JobSucceeded',
        message: `job run ${stored.status?.jobRunId ?? results.status.jobRunId} succeeded`,
      },
      ...(plan.reconciling ? { inFlight: plan.reconciling } : {}),
    }),
    project: (stored, plan, _o, results) => ({ ...(stored.status ?? {}), ...plan.status, ...results.status }),
  };
}

export function jobRunReconciler(deps: JobRunReconcilerDeps) {
  return executor(jobRunKind(deps), deps, resync);
}
