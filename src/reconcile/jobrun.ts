// The EmrServerlessJobRun reconciler: submits a job run once, on the key its manifest declares, and
// follows it to the end. The decision is planJobRun (jobrun-plan.ts); this file gathers its inputs,
// performs its actions and writes the status.
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
import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { getJobRun, startJobRun } from '../aws/emr-serverless.ts';
import { cancelJobRun } from '../aws/emr-serverless-cancel.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import { type Condition, setCondition, withKstatus } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { addFinalizer, removeFinalizer } from '../runtime/finalizers.ts';
import { isNotFound, type KubeClient, type KubeObject, type ResourceType } from '../runtime/kube.ts';
import { writeStatusIfChanged } from '../runtime/status.ts';
import {
  type ApplicationResolution,
  cancelOnDeleteAnnotation,
  isFinished,
  type JobRunAction,
  type JobRunObservation,
  type JobRunPlan,
  type JobRunStatusView,
  jobRunFinalizer,
  type KeySource,
  planJobRun,
} from './jobrun-plan.ts';
import { type KeyResolutionDeps, type PreflightDeps, preflightKey, resolveKey } from './key-resolution.ts';
import { resync } from './types.ts';
import type { WorkloadObject } from './workload.ts';
import { type DesiredKey, keyLabel, type Preflight } from './workload-plan.ts';

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

interface Inputs {
  application: ApplicationResolution;
  keySource: KeySource;
  desired: DesiredKey;
  preflight: Preflight | undefined;
  observed: JobRunObservation;
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

const emrApplicationArn = (region: string, accountId: string, applicationId: string) =>
  `arn:aws:emr-serverless:${region}:${accountId}:/applications/${applicationId}`;

export function jobRunReconciler(deps: JobRunReconcilerDeps) {
  const { type } = deps;

  /** The application object a job run references, and the AWS target both live in. */
  function context(object: JobRunObject): { app: EmrApplicationObject | undefined; target: AwsTarget } {
    const { spec } = object;
    const ns = object.metadata.namespace ?? '';
    const app = spec.applicationRef ? deps.getApplication(`${ns}/${spec.applicationRef.name}`) : undefined;
    // The job runs where its application is: an unset region or role follows the application object.
    const region = spec.region ?? app?.spec.region ?? deps.defaultRegion;
    const roleArn = spec.roleArn ?? app?.spec.roleArn;
    return { app, target: { region, ...(roleArn ? { roleArn } : {}) } };
  }

  async function gather(object: JobRunObject, target: AwsTarget, app: EmrApplicationObject | undefined) {
    const { spec } = object;
    const ns = object.metadata.namespace ?? '';
    const status = object.status ?? {};
    const deleting = Boolean(object.metadata.deletionTimestamp);
    const cancelOnDelete = object.metadata.annotations?.[cancelOnDeleteAnnotation] === 'true';
    const hasFinalizer = object.metadata.finalizers?.includes(jobRunFinalizer) ?? false;
    const inputs: Inputs = {
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

  function planFor(object: JobRunObject, inputs: Inputs, now: number): JobRunPlan {
    return planJobRun({
      now,
      uid: object.metadata.uid ?? '',
      deleting: Boolean(object.metadata.deletionTimestamp),
      hasFinalizer: object.metadata.finalizers?.includes(jobRunFinalizer) ?? false,
      cancelOnDelete: object.metadata.annotations?.[cancelOnDeleteAnnotation] === 'true',
      status: object.status,
      ...inputs,
    });
  }

  return async function reconcileJobRun(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const cached = deps.getJobRun(key);
    if (!cached || settled(cached)) return {};
    let object: JobRunObject = cached;
    const now = deps.now();
    let { app, target } = context(object);
    let inputs = await gather(object, target, app);
    let plan = planFor(object, inputs, now);

    // Submitting is decided on the object as stored, not as cached: the cache may not show yet the
    // jobRunId this process wrote a moment ago.
    if (plan.actions.some((a) => a.type === 'Submit')) {
      let fresh: JobRunObject;
      try {
        fresh = await deps.kube.get<JobRunObject>(
          type,
          { name: object.metadata.name, namespace: object.metadata.namespace ?? '' },
          { signal: ctx.signal },
        );
      } catch (e) {
        if (isNotFound(e)) return {};
        throw e;
      }
      if (fresh.metadata.resourceVersion !== object.metadata.resourceVersion) {
        object = fresh;
        ({ app, target } = context(object));
        inputs = await gather(object, target, app);
        plan = planFor(object, inputs, now);
      }
    }
    if (plan.actions.length > 0) ctx.log.debug({ actions: plan.actions.map((a) => a.type) }, 'planned');

    // ---- act ---------------------------------------------------------------------------------
    const updates: JobRunStatusView = {};
    let submitted = false;
    let actionError: AwsCallError | undefined;
    let tokenConflict: string | undefined;
    const deleting = Boolean(object.metadata.deletionTimestamp);
    const audit = (action: string, detail: Record<string, unknown>, requestId?: string) =>
      ctx.log.info({ audit: true, action, object: key, kind: type.kind, requestId, ...detail }, action);
    const record = (kind: 'Normal' | 'Warning', reason: string, action: string, note: string) =>
      deps.events.record({ type, object }, { type: kind, reason, action, note });

    const run = async (action: JobRunAction): Promise<'released' | undefined> => {
      switch (action.type) {
        case 'AddFinalizer': {
          const stored = await addFinalizer({ kube: deps.kube }, type, object, jobRunFinalizer, {
            signal: ctx.signal,
          });
          if (!stored) return 'released';
          object = stored as JobRunObject;
          return undefined;
        }
        case 'RemoveFinalizer': {
          const stored = await removeFinalizer({ kube: deps.kube }, type, object, jobRunFinalizer, {
            signal: ctx.signal,
          });
          if (!stored || deleting) return 'released';
          object = stored as JobRunObject;
          return undefined;
        }
        case 'Submit': {
          const { spec } = object;
          const out = await startJobRun(deps.aws, target, {
            applicationId: action.applicationId,
            executionRoleArn: spec.executionRoleArn,
            jobDriver: jobDriverOf(spec.jobDriver),
            ...(spec.name ? { name: spec.name } : {}),
            clientToken: action.clientToken,
            setting: action.setting,
          });
          const keyText = keyLabel(action.setting);
          Object.assign(updates, {
            jobRunId: out.jobRunId,
            applicationId: out.applicationId,
            ...(out.arn ? { arn: out.arn } : {}),
            state: 'SUBMITTED',
            submittedAt: new Date(now).toISOString(),
            clientToken: action.clientToken,
          } satisfies JobRunStatusView);
          submitted = true;
          audit(
            'StartJobRun',
            {
              applicationId: out.applicationId,
              jobRunId: out.jobRunId,
              key: keyText,
              clientToken: action.clientToken,
            },
            out.requestId,
          );
          record(
            'Normal',
            'Submitted',
            'StartJobRun',
            `submitted job run ${out.jobRunId} to application ${out.applicationId} with disk key ${keyText}`,
          );
          return undefined;
        }
        case 'Cancel': {
          const out = await cancelJobRun(deps.aws, target, action);
          audit('CancelJobRun', { ...action, outcome: out.outcome }, out.requestId);
          record(
            'Normal',
            'CancelRequested',
            'CancelJobRun',
            `cancelling job run ${action.jobRunId}: the object was deleted with ${cancelOnDeleteAnnotation}: "true"`,
          );
          return undefined;
        }
      }
    };

    for (const action of plan.actions) {
      if (ctx.signal.aborted) return { requeueAfterMs: 1000 };
      try {
        if ((await run(action)) === 'released') return {};
      } catch (e) {
        if (!(e instanceof AwsCallError)) throw e;
        if (action.type === 'Submit' && e.failure.cause === 'Conflict') {
          // The token was used before with another request: a run may exist; never submit another.
          tokenConflict = `StartJobRun refused clientToken ${action.clientToken}: ${e.failure.message}. A job run was submitted for this object with other parameters (its key changed while submitting); find it with aws emr-serverless list-job-runs --application-id ${action.applicationId}`;
          record('Warning', 'ClientTokenConflict', 'StartJobRun', tokenConflict);
        } else {
          actionError = e;
          record(
            'Warning',
            `${action.type}Failed`,
            action.type,
            `${e.operation}: ${e.failure.code}: ${e.failure.message}`,
          );
        }
        break;
      }
    }
    for (const e of plan.events) record(e.type, e.reason, e.action, e.note);

    // ---- status: written right after a submission, and whenever it changed ---------------------
    const stamp = { generation: object.metadata.generation, now };
    const compute = (fresh: JobRunObject): JobRunObject['status'] => {
      let conditions: Condition[] = fresh.status?.conditions ?? [];
      for (const c of plan.conditions) conditions = setCondition(conditions, c, stamp);
      const failure = actionError?.failure;
      const stalled = tokenConflict
        ? { reason: 'ClientTokenConflict', message: tokenConflict }
        : failure && (failure.cause === 'AccessDenied' || failure.cause === 'InvalidSpec')
          ? {
              reason: failure.cause === 'AccessDenied' ? 'AccessDenied' : 'AwsRejected',
              message: actionError?.message ?? '',
            }
          : plan.outcome.kind === 'stalled'
            ? { reason: plan.outcome.reason, message: plan.outcome.message }
            : undefined;
      const reconciling = actionError
        ? { reason: 'Retrying', message: actionError.message }
        : submitted
          ? { reason: 'Submitted', message: `job run ${updates.jobRunId} is SUBMITTED` }
          : plan.outcome.kind === 'waiting'
            ? { reason: plan.outcome.reason, message: plan.outcome.message }
            : plan.reconciling;
      conditions = withKstatus(
        conditions,
        {
          ...(stalled ? { stalled } : {}),
          ...(reconciling && !stalled ? { reconciling } : {}),
          readyWhen: ['KeyUsable', 'Succeeded'],
          ready: {
            reason: 'JobSucceeded',
            message: `job run ${fresh.status?.jobRunId ?? updates.jobRunId} succeeded`,
          },
        },
        stamp,
      );
      return {
        ...(fresh.status ?? {}),
        ...plan.status,
        ...updates,
        observedGeneration: object.metadata.generation ?? 0,
        conditions,
      };
    };
    await writeStatusIfChanged<JobRunObject>({ kube: deps.kube }, type, object, compute, {
      signal: ctx.signal,
    });

    if (actionError) throw actionError;
    if (submitted) return { requeueAfterMs: resync.transitioningMs };
    // Settled (finished, or waiting on something slow): the controller's jittered resync decides.
    if (plan.requeueAfterMs >= resync.settledMs) return {};
    return { requeueAfterMs: plan.requeueAfterMs };
  };
}
