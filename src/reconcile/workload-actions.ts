// The workload kind's action handlers: what each planned action does in AWS, with its audit record
// and Event. The executor (src/runtime/executor.ts) runs them in plan order, stops at the first
// failure and maps it; a handler writes its intent to status before a side effect a crash could
// otherwise lose (a switch, a stop).

import { adapterFor } from '../aws/adapters.ts';
import { cancelJobRun } from '../aws/emr-serverless-cancel.ts';
import type { AwsCallError } from '../aws/errors.ts';
import type { ActionContext, ActionHandlers, ActionResult } from '../runtime/executor.ts';
import { intentTime } from './types.ts';
import type { WorkloadReconcilerDeps } from './workload.ts';
import { answeredKey, type WorkloadObject, workloadTarget } from './workload-observe.ts';
import { keyLabel, type WorkloadAction, type WorkloadPlan, type WorkloadPlanInput } from './workload-plan.ts';

/** AWS refused the switch itself (rather than not answering): a failed switch, held off a while. */
const refusals = new Set(['InvalidSpec', 'KeyUnusable', 'AccessDenied', 'QuotaExceeded']);

type Status = NonNullable<WorkloadObject['status']>;

/** At most this many answers to switches are kept for the reconciles that follow them. */
const maxAnswered = 50_000;

/** The plan input, and whether it was read in full for acting. */
export interface WorkloadObservation {
  input: WorkloadPlanInput;
  forActing: boolean;
  /** The keys were read fresh (for a switch, a restart), not from the cache. */
  freshKeys?: boolean;
}

type Context = ActionContext<WorkloadObject, WorkloadObservation>;

const isoNow = (now: number) => new Date(now).toISOString();

/** Reconciling while a change this reconcile requested settles: the plan's first line says what. */
const progressing = (plan: WorkloadPlan) => ({
  reason: 'Progressing',
  message: plan.lines[0] ?? 'changes requested from AWS',
});

export const resourceArnOf = (o: WorkloadObservation) =>
  o.input.observed.kind === 'found' ? o.input.observed.state.resourceArn : '';

/**
 * The start time of a switch's intent. The same switch asked for again within `sameIntentMs`, before
 * AWS took it (a throttled call, retried), keeps the stored one: its intent is already stored and is
 * not written again. Otherwise now (an older intent would slow the follow-up pace, which counts from
 * the start).
 */
export function intentStart(
  stored:
    | {
        status?: string;
        startTime?: string;
        id?: string;
        endTime?: string;
        action?: string;
        fromKey?: string;
        toKey?: string;
      }
    | undefined,
  next: { action: string; fromKey: string; toKey: string; now: number },
): string {
  const same =
    stored?.status === 'InProgress' &&
    stored.id === undefined &&
    stored.endTime === undefined &&
    stored.action === next.action &&
    stored.fromKey === next.fromKey &&
    stored.toKey === next.toKey;
  return intentTime(stored?.startTime, same, next.now);
}

export function workloadActions(
  deps: WorkloadReconcilerDeps,
): ActionHandlers<WorkloadObject, WorkloadAction, WorkloadPlan, WorkloadObservation> {
  const { kind } = deps;
  const adapter = adapterFor(kind.service);
  // Handlers read the resource's identity from the object being reconciled.
  const target = (ctx: Context) => workloadTarget(deps, ctx.object.spec, ctx.object.metadata.namespace);
  const id = (ctx: Context) => kind.id(ctx.object.spec);
  return {
    Claim: async (action, ctx) => {
      const resourceArn = resourceArnOf(ctx.observation);
      await adapter.tag(deps.aws, target(ctx), resourceArn, action.tags);
      ctx.audit('Claim', { tags: action.tags });
      return undefined;
    },
    Release: async (action, ctx) => {
      const resourceArn = resourceArnOf(ctx.observation);
      await adapter.untag(deps.aws, target(ctx), resourceArn, action.tagKeys);
      ctx.audit('Release', { tagKeys: action.tagKeys });
      return undefined;
    },
    ChangeKey: async (action, ctx, plan) => {
      // Intent first: a crash after AWS accepted the change, before the result is recorded, must
      // leave a record of the switch that the next leader completes from what AWS reports.
      const fromKey = keyLabel(action.from);
      const toKey = keyLabel(action.to);
      const changeKeyOperation = adapter.capabilities.changeKeyOperation;
      const startTime = intentStart(ctx.object.status?.lastOperation, {
        action: changeKeyOperation,
        fromKey,
        toKey,
        now: ctx.observation.input.now,
      });
      const intent = {
        action: changeKeyOperation,
        status: 'InProgress' as const,
        startTime,
        fromKey,
        toKey,
      };
      // The intent is written with the whole status the switch leads to (Reconciling, the plan), so
      // AWS's answer (an operation id, a synchronous success) is kept in memory for the reconcile
      // that follows the switch (observeWorkload) rather than written again; after a crash the next
      // leader completes the switch from what AWS reports, as for a crash right after the call.
      const expected = { status: { lastOperation: intent }, mutated: true, progress: progressing(plan) };
      // Planned on a full read for acting (the executor's confirm): the change applies to that read.
      const observed = ctx.observation.input.observed;
      if (observed.kind !== 'found' || !ctx.observation.forActing)
        throw new Error(`${kind.service}: a key change planned without a full read of the resource`);
      await ctx.recordOutcomeNow(expected);
      const result = await adapter.changeKey(deps.aws, target(ctx), id(ctx), action.to, observed.state);
      const op = { ...intent, ...result.operation, startTime };
      if (deps.answered) {
        deps.answered.set(answeredKey(ctx.object), op);
        // Bounded: an entry whose workload went away mid-switch is never used up.
        if (deps.answered.size > maxAnswered) deps.answered.delete(deps.answered.keys().next().value ?? '');
      }
      ctx.audit(op.action, { from: op.fromKey, to: op.toKey, operationId: op.id }, result.requestId);
      const resourceArn = resourceArnOf(ctx.observation);
      ctx.record({
        type: 'Normal',
        reason: 'SwitchingKey',
        action: op.action,
        note: `switching ${resourceArn} from ${op.fromKey} to ${op.toKey}${op.id ? ` (operation ${op.id})` : ''}`,
      });
      return deps.answered
        ? expected
        : { status: { lastOperation: op }, mutated: true, progress: progressing(plan) };
    },
    CancelJobRuns: async (action, ctx, plan) => {
      const resource = id(ctx);
      if (resource.service !== 'EmrServerless') throw new Error(`${kind.service} has no job runs to cancel`);
      for (const jobRunId of action.jobRunIds) {
        const result = await cancelJobRun(deps.aws, target(ctx), {
          applicationId: resource.applicationId,
          jobRunId,
        });
        ctx.audit('CancelJobRun', { jobRunId, outcome: result.outcome }, result.requestId);
      }
      const resourceArn = resourceArnOf(ctx.observation);
      ctx.record({
        type: 'Warning',
        reason: 'CancellingJobs',
        action: 'CancelJobRun',
        note: `cancelling job run(s) ${action.jobRunIds.join(', ')} to stop ${resourceArn} for its key change (cancelRunningJobs: true)`,
      });
      return { mutated: true, progress: progressing(plan) };
    },
    Stop: async (action, ctx, plan) => {
      if (!adapter.stop) throw new Error(`${kind.service} cannot be stopped by the operator`);
      // Intent first: a crash right after the stop must not leave the resource stopped for good.
      await ctx.recordNow(() => ({ pendingStart: true }));
      const result = await adapter.stop(deps.aws, target(ctx), id(ctx));
      ctx.audit('Stop', { why: action.why, operationId: result.operation.id }, result.requestId);
      const resourceArn = resourceArnOf(ctx.observation);
      ctx.record({
        type: 'Normal',
        reason: 'Stopping',
        action: result.operation.action,
        note: `stopping ${resourceArn} to ${action.why}`,
      });
      const status: Partial<Status> = { pendingStart: true };
      // Forget the material the running storage used: the next start records the current one.
      const planned = plan.status['current'] as Status['current'];
      if (planned) status.current = { ...planned, keyMaterialId: undefined };
      return { status, mutated: true, progress: progressing(plan) };
    },
    Start: async (action, ctx, plan) => {
      if (!adapter.start) throw new Error(`${kind.service} cannot be started by the operator`);
      const result = await adapter.start(deps.aws, target(ctx), id(ctx));
      ctx.audit('Start', { why: action.why, operationId: result.operation.id }, result.requestId);
      const resourceArn = resourceArnOf(ctx.observation);
      ctx.record({
        type: 'Normal',
        reason: 'Starting',
        action: result.operation.action,
        note: `starting ${resourceArn}: ${action.why}`,
      });
      return { status: { pendingStart: false }, mutated: true, progress: progressing(plan) };
    },
  };
}

/**
 * A switch AWS refused for the key's sake (rather than not answering: throttling, a 5xx or a
 * conflict mean AWS did not act, and the queue's backoff retries those): recorded as a failed
 * switch, held off for a while by the plan. What the cache knew about the key is wrong now: it is
 * read again, and if it is unusable the switch waits for the key, not for the usual hold-off.
 */
export async function switchRefused(
  deps: WorkloadReconcilerDeps,
  action: WorkloadAction,
  error: AwsCallError,
  ctx: Context,
): Promise<ActionResult<Status> | undefined> {
  if (action.type !== 'ChangeKey' || !refusals.has(error.failure.cause)) return undefined;
  let keyFoundUnusable = false;
  // (Services word a disabled key differently: InvalidArgument, Validation, KMS errors.)
  if (action.to.type === 'CustomerManaged') {
    deps.keys.invalidate(action.to.keyArn);
    const facts = await deps.keys
      .describe(workloadTarget(deps, ctx.object.spec, ctx.object.metadata.namespace), action.to.keyArn, {
        maxAgeMs: 0,
      })
      .catch(() => undefined);
    keyFoundUnusable = facts !== undefined && facts.state !== 'Enabled';
  }
  const now = isoNow(deps.now());
  return {
    status: {
      lastOperation: {
        action: error.operation,
        status: 'Failed',
        startTime: now,
        endTime: now,
        fromKey: keyLabel(action.from),
        toKey: keyLabel(action.to),
        message: `${error.failure.code}: ${error.failure.message}`,
        ...(keyFoundUnusable ? { failureCause: 'KeyUnusable' as const } : {}),
      },
    },
  };
}
