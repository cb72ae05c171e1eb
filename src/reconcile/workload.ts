import { adapterFor } from '../aws/adapters.ts';
import { cancelJobRun } from '../aws/emr-serverless-cancel.ts';
import { AwsCallError } from '../aws/errors.ts';
import type { WorkloadService } from '../aws/workload.ts';
import { type Condition, removeCondition, setCondition, withKstatus } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.ts';
import { addFinalizer, removeFinalizer } from '../runtime/finalizers.ts';
import type { KubeClient } from '../runtime/kube.ts';
import { writeStatusIfChanged } from '../runtime/status.ts';
import { publishJobOverrides } from './job-overrides.ts';
import { resync } from './types.ts';
import {
  observeWorkload,
  type WorkloadObject,
  type WorkloadObserveDeps,
  workloadTarget,
} from './workload-observe.ts';
import {
  keyLabel,
  planWorkload,
  type WorkloadAction,
  type WorkloadStatusView,
  workloadFinalizer,
} from './workload-plan.ts';

export type { PolicyPreflight } from './key-resolution.ts';
export {
  observeWorkload,
  type WorkloadKind,
  type WorkloadObject,
  workloadKinds,
  workloadTarget,
} from './workload-observe.ts';

function isoNow(now: number): string {
  return new Date(now).toISOString();
}

export interface WorkloadReconcilerDeps extends WorkloadObserveDeps {
  kube: KubeClient;
  getWorkload(key: string): WorkloadObject | undefined;
}

/** The AWS call a key change is, per service (the intent's record names it before the call). */
const changeKeyAction: Record<WorkloadService, string> = {
  ManagedFlink: 'UpdateApplication',
  Keyspaces: 'UpdateTable',
  EmrServerless: 'UpdateApplication',
};

/** Actions that rest on the keys' state and policy: planned again on fresh key reads. */
const keyActions = new Set<WorkloadAction['type']>(['ChangeKey', 'Stop', 'CancelJobRuns', 'Start']);

/** Actions that change AWS: planned again on a full, fresh observation before they run. */
const awsActions = new Set<WorkloadAction['type']>([...keyActions, 'Claim', 'Release']);

export function workloadReconciler(deps: WorkloadReconcilerDeps) {
  const { kind } = deps;
  const adapter = adapterFor(kind.service);

  return async function reconcileWorkload(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const cached = deps.getWorkload(key);
    if (!cached) return {};
    let object: WorkloadObject = cached;
    const spec = object.spec;
    const target = workloadTarget(deps, spec);
    const id = kind.id(spec);

    // ---- observe, then plan ------------------------------------------------------------------
    let input = await observeWorkload(deps, object);
    let plan = planWorkload(input);
    // The plan was made on a light observation (memoized tags, cached key facts): before anything
    // changes in AWS, read the resource again in full (and, for an action that rests on the key, the
    // keys from KMS) and plan once more, so a key disabled or re-policied a moment ago is never
    // switched onto, nor a resource claimed since by someone else.
    if (plan.actions.some((a) => awsActions.has(a.type))) {
      const freshKeys = plan.actions.some((a) => keyActions.has(a.type));
      input = await observeWorkload(deps, object, { forActing: true, freshKeys, previous: input });
      plan = planWorkload(input);
    }
    const { now, observed, desired, preflight: verdict } = input;
    if (plan.actions.length > 0) ctx.log.debug({ actions: plan.actions.map((a) => a.type) }, 'planned');

    // ---- act ---------------------------------------------------------------------------------
    const updates: Record<string, unknown> = {};
    let mutated = false;
    const resourceArn = observed.kind === 'found' ? observed.state.resourceArn : '';
    const audit = (action: string, detail: Record<string, unknown>, requestId?: string) =>
      ctx.log.info(
        { audit: true, action, object: key, kind: kind.type.kind, resourceArn, requestId, ...detail },
        `${action} on ${resourceArn}`,
      );
    const record = (type: 'Normal' | 'Warning', reason: string, action: string, note: string) =>
      deps.events.record({ type: kind.type, object }, { type, reason, action, note });

    /** Writes `patch` into status now, before an AWS call whose outcome a crash could otherwise lose. */
    const recordIntent = async (patch: Record<string, unknown>) => {
      const written = await writeStatusIfChanged<WorkloadObject>(
        { kube: deps.kube },
        kind.type,
        object,
        (fresh) => ({ ...(fresh.status ?? {}), ...patch }) as WorkloadObject['status'],
        { signal: ctx.signal },
      );
      object = written.object ?? object;
      Object.assign(updates, patch);
    };

    const run = async (action: WorkloadAction): Promise<'released' | undefined> => {
      switch (action.type) {
        case 'AddFinalizer':
          object =
            ((await addFinalizer({ kube: deps.kube }, kind.type, object, workloadFinalizer, {
              signal: ctx.signal,
            })) as WorkloadObject | undefined) ?? object;
          return undefined;
        case 'RemoveFinalizer':
          await removeFinalizer({ kube: deps.kube }, kind.type, object, workloadFinalizer, {
            signal: ctx.signal,
          });
          return 'released';
        case 'Claim':
          await adapter.tag(deps.aws, target, resourceArn, action.tags);
          audit('Claim', { tags: action.tags });
          return undefined;
        case 'Release':
          await adapter.untag(deps.aws, target, resourceArn, action.tagKeys);
          audit('Release', { tagKeys: action.tagKeys });
          return undefined;
        case 'ChangeKey': {
          // Intent first: a crash after AWS accepted the change, before the result is recorded, must
          // leave a record of the switch that the next leader completes from what AWS reports.
          const startTime = isoNow(now);
          const intent = {
            action: changeKeyAction[kind.service],
            status: 'InProgress' as const,
            startTime,
            fromKey: keyLabel(action.from),
            toKey: keyLabel(action.to),
          };
          await recordIntent({ lastOperation: intent });
          const result = await adapter.changeKey(deps.aws, target, id, action.to);
          const op = { ...intent, ...result.operation, startTime };
          updates['lastOperation'] = op;
          audit(op.action, { from: op.fromKey, to: op.toKey, operationId: op.id }, result.requestId);
          record(
            'Normal',
            'SwitchingKey',
            op.action,
            `switching ${resourceArn} from ${op.fromKey} to ${op.toKey}${op.id ? ` (operation ${op.id})` : ''}`,
          );
          mutated = true;
          return undefined;
        }
        case 'CancelJobRuns': {
          if (id.service !== 'EmrServerless') throw new Error(`${kind.service} has no job runs to cancel`);
          for (const jobRunId of action.jobRunIds) {
            const result = await cancelJobRun(deps.aws, target, {
              applicationId: id.applicationId,
              jobRunId,
            });
            audit('CancelJobRun', { jobRunId, outcome: result.outcome }, result.requestId);
          }
          record(
            'Warning',
            'CancellingJobs',
            'CancelJobRun',
            `cancelling job run(s) ${action.jobRunIds.join(', ')} to stop ${resourceArn} for its key change (cancelRunningJobs: true)`,
          );
          mutated = true;
          return undefined;
        }
        case 'Stop': {
          if (!adapter.stop) throw new Error(`${kind.service} cannot be stopped by the operator`);
          // Intent first: a crash right after the stop must not leave the resource stopped for good.
          await recordIntent({ pendingStart: true });
          const result = await adapter.stop(deps.aws, target, id);
          audit('Stop', { why: action.why, operationId: result.operation.id }, result.requestId);
          record('Normal', 'Stopping', result.operation.action, `stopping ${resourceArn} to ${action.why}`);
          updates['pendingStart'] = true;
          // Forget the material the running storage used: the next start records the current one.
          if (plan.status['current'])
            updates['current'] = { ...(plan.status['current'] as object), keyMaterialId: undefined };
          mutated = true;
          return undefined;
        }
        case 'Start': {
          if (!adapter.start) throw new Error(`${kind.service} cannot be started by the operator`);
          const result = await adapter.start(deps.aws, target, id);
          audit('Start', { why: action.why, operationId: result.operation.id }, result.requestId);
          record('Normal', 'Starting', result.operation.action, `starting ${resourceArn}: ${action.why}`);
          updates['pendingStart'] = false;
          mutated = true;
          return undefined;
        }
      }
    };

    let actionError: AwsCallError | undefined;
    for (const action of plan.actions) {
      if (ctx.signal.aborted) return { requeueAfterMs: 1000 };
      try {
        if ((await run(action)) === 'released') return {};
      } catch (e) {
        if (!(e instanceof AwsCallError)) throw e;
        actionError = e;
        record(
          'Warning',
          `${action.type}Failed`,
          action.type,
          `${action.type} failed: ${e.failure.code}: ${e.failure.message}`,
        );
        // Only a refusal is a failed switch (held off for a while); throttling, a 5xx or a conflict
        // means AWS did not act, and the queue's backoff retries it.
        const refused = ['InvalidSpec', 'KeyUnusable', 'AccessDenied', 'QuotaExceeded'].includes(
          e.failure.cause,
        );
        if (action.type === 'ChangeKey' && refused) {
          // Refused for the key's sake: what the cache knew about it is wrong now. Read it again; if it
          // is unusable, the switch waits for the key, not for the usual hold-off.
          let keyFoundUnusable = false;
          const to = action.to;
          // (Services word a disabled key differently: InvalidArgument, Validation, KMS errors.)
          if (to.type === 'CustomerManaged') {
            deps.keys.invalidate(to.keyArn);
            const facts = await deps.keys.describe(target, to.keyArn, { maxAgeMs: 0 }).catch(() => undefined);
            keyFoundUnusable = facts !== undefined && facts.state !== 'Enabled';
          }
          updates['lastOperation'] = {
            action: e.operation,
            status: 'Failed',
            startTime: isoNow(now),
            endTime: isoNow(now),
            fromKey: keyLabel(action.from),
            toKey: keyLabel(action.to),
            message: `${e.failure.code}: ${e.failure.message}`,
            ...(keyFoundUnusable ? { failureCause: 'KeyUnusable' } : {}),
          };
        }
        break;
      }
    }
    // What this reconcile changed (or tried to) is read from AWS next time, not from the memo.
    if (resourceArn && plan.actions.some((a) => awsActions.has(a.type)))
      deps.observeMemo?.forget((name) => name.startsWith(`${resourceArn}|`));
    for (const e of plan.events) record(e.type, e.reason, e.action, e.note);

    // EMR Serverless: publish the job-level overrides for pipelines that submit jobs themselves.
    // Isolated: it never throws and never changes this object's status (src/reconcile/job-overrides.ts).
    if (kind.service === 'EmrServerless' && spec.jobOverridesConfigMap) {
      await publishJobOverrides(
        { kube: deps.kube, events: deps.events, log: ctx.log },
        {
          owner: { type: kind.type, object },
          configMapName: spec.jobOverridesConfigMap.name,
          mode: spec.mode,
          desired,
          preflight: verdict,
          signal: ctx.signal,
        },
      );
    }

    // ---- status -------------------------------------------------------------------------------
    const stamp = { generation: object.metadata.generation, now };
    const compute = (fresh: WorkloadObject): WorkloadObject['status'] => {
      let conditions: Condition[] = fresh.status?.conditions ?? [];
      for (const c of plan.conditions) conditions = setCondition(conditions, c, stamp);
      for (const t of ['MaterialCurrent', 'KeyAccessible']) {
        if (!plan.conditions.some((c) => c.type === t)) conditions = removeCondition(conditions, t);
      }
      const failure = actionError?.failure;
      const stalled =
        failure && (failure.cause === 'AccessDenied' || failure.cause === 'InvalidSpec')
          ? {
              reason: failure.cause === 'AccessDenied' ? 'AccessDenied' : 'AwsRejected',
              message: `${actionError?.operation}: ${failure.code}: ${failure.message}`,
            }
          : plan.outcome.kind === 'stalled'
            ? { reason: plan.outcome.reason, message: plan.outcome.message }
            : undefined;
      const reconciling = actionError
        ? { reason: 'Retrying', message: actionError.message }
        : plan.outcome.kind === 'waiting'
          ? { reason: plan.outcome.reason, message: plan.outcome.message }
          : mutated
            ? { reason: 'Progressing', message: plan.lines[0] ?? 'changes requested from AWS' }
            : undefined;
      const readyWhen = [
        'KeyUsable',
        'KeyCurrent',
        ...plan.conditions
          .filter((c) => c.type === 'MaterialCurrent' || c.type === 'KeyAccessible')
          .map((c) => c.type),
      ];
      conditions = withKstatus(
        conditions,
        {
          ...(stalled ? { stalled } : {}),
          ...(reconciling && !stalled ? { reconciling: reconciling } : {}),
          readyWhen,
          ready: { reason: 'OnDesiredKey', message: 'AWS reports the desired key' },
        },
        stamp,
      );
      const next: Record<string, unknown> = { ...(fresh.status ?? {}), ...plan.status, ...updates };
      // The cache this reconcile planned from may be older than the stored object (a status written a
      // moment ago, a conflict re-read): never replace a newer record of the last change with an older one.
      // The same change seen twice (a stale cache still held the intent written before the AWS call):
      // keep what only the stored record knows, AWS's operation id, and a failure it recorded.
      const storedOp = fresh.status?.lastOperation;
      const plannedOp = next['lastOperation'] as WorkloadStatusView['lastOperation'];
      if (storedOp?.startTime) {
        const stored = Date.parse(storedOp.startTime);
        const planned = plannedOp?.startTime ? Date.parse(plannedOp.startTime) : Number.NaN;
        if (!plannedOp || Number.isNaN(planned) || stored > planned) next['lastOperation'] = storedOp;
        else if (stored === planned && storedOp.id && !plannedOp.id)
          next['lastOperation'] = storedOp.status === 'Failed' ? storedOp : { ...plannedOp, id: storedOp.id };
      }
      next['observedGeneration'] = object.metadata.generation ?? 0;
      next['conditions'] = conditions;
      if (plan.lines.length > 0) next['plan'] = plan.lines;
      else delete next['plan'];
      if (next['waitingFor'] !== undefined && plan.status['waitingFor'] === undefined)
        delete next['waitingFor'];
      if (observed.kind === 'found' && !observed.state.keyInaccessible) {
        delete next['inaccessibleSince'];
        delete next['deletionAfter'];
      }
      return next as WorkloadObject['status'];
    };
    await writeStatusIfChanged<WorkloadObject>({ kube: deps.kube }, kind.type, object, compute, {
      signal: ctx.signal,
    });

    if (actionError) throw actionError;
    if (mutated) return { requeueAfterMs: resync.transitioningMs };
    // Settled: the controller's jittered resync decides; anything sooner is capped at it by the controller.
    if (plan.requeueAfterMs >= resync.settledMs) return {};
    return { requeueAfterMs: plan.requeueAfterMs };
  };
}
