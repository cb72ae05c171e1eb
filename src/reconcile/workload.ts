// The workload reconciler: one kind definition for FlinkApplication, KeyspacesTable and
// EmrServerlessApplication, run by the generic executor (src/runtime/executor.ts); the service
// adapter (src/aws/adapters.ts) is the only per-service part.
//
// Watches: the workload kind; KmsKeys (mapped to the workloads that reference them); KeyReferenceGrants.
// Owns conditions: Ready, Reconciling, Stalled (kstatus), KeyUsable, KeyCurrent, and per service
// MaterialCurrent (Flink) and KeyAccessible (Keyspaces).
// Plan light, act fresh: the plan is made on a light observation (memoized tags, cached key facts);
// before anything changes in AWS the resource is read again in full (and, for an action that rests
// on the key, the keys from KMS) and planned once more, so a key disabled or re-policied a moment ago
// is never switched onto, nor a resource claimed since by someone else.
// Never: switches a workload onto a key that fails pre-flight; acts in Observe mode, without the
// leader's signal, or on a resource another object claims; follows a reference into another namespace
// without a KeyReferenceGrant there. Every AWS mutation is an Event and an audit log line.

import { adapterFor } from '../aws/adapters.ts';
import { tagsMemoName } from '../aws/workload.ts';
import { conditionsByType, removeCondition } from '../runtime/conditions.ts';
import { executor, type ReconcilerKind, type Results } from '../runtime/executor.ts';
import type { KubeClient, KubeObject } from '../runtime/kube.ts';
import type { Informer } from '../runtime/watch.ts';
import { publishJobOverrides } from './job-overrides.ts';
import { resync } from './types.ts';
import {
  resourceArnOf,
  switchRefused,
  type WorkloadObservation,
  workloadActions,
} from './workload-actions.ts';
import { observeWorkload, type WorkloadObject, type WorkloadObserveDeps } from './workload-observe.ts';
import {
  planWorkload,
  type WorkloadAction,
  type WorkloadPlan,
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

export interface WorkloadReconcilerDeps extends WorkloadObserveDeps {
  kube: KubeClient;
  getWorkload(key: string): WorkloadObject | undefined;
  /** When this process first saw the object's current generation (specSeenClock). */
  specSeenAt?(object: WorkloadObject): number | undefined;
}

/**
 * When this process first saw each object's current generation (its informers' add or update):
 * a change the spec asks for was decided then, at the earliest. Forgets deleted objects.
 */
export function specSeenClock(
  informers: Array<Pick<Informer<KubeObject>, 'addHandlers'>>,
  now: () => number,
): (object: KubeObject) => number | undefined {
  const seen = new Map<string, { generation: number; at: number }>();
  const id = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}/${o.metadata.uid ?? ''}`;
  const note = (o: KubeObject) => {
    const generation = o.metadata.generation ?? 0;
    if (seen.get(id(o))?.generation !== generation) seen.set(id(o), { generation, at: now() });
  };
  for (const i of informers)
    i.addHandlers({ onAdd: note, onUpdate: (_previous, o) => note(o), onDelete: (o) => seen.delete(id(o)) });
  return (o) => {
    const s = seen.get(id(o));
    return s?.generation === (o.metadata.generation ?? 0) ? s.at : undefined;
  };
}

/**
 * The key read guarding a switch (invariant 1) began after the decision to switch began (when this
 * process saw the spec asking for it, or the observation the plan was made on) and at most this
 * long ago: the switches of one wave onto a key share its reads, about one per key per this period,
 * not one per workload.
 */
export const keyWaveMs = 5000;

/** The moment a key read must have begun at or after to guard a switch decided at `decidedAt`. */
export function freshSince(decidedAt: number, now: number): number {
  return Math.max(decidedAt, now - keyWaveMs);
}

/** Actions that rest on the keys' state and policy: planned again on fresh key reads. */
const keyActions = new Set<WorkloadAction['type']>(['ChangeKey', 'Stop', 'CancelJobRuns', 'Start']);

/** Actions that change AWS: planned again on a full, fresh observation before they run. */
const awsActions = new Set<WorkloadAction['type']>([...keyActions, 'Claim', 'Release']);

type Status = NonNullable<WorkloadObject['status']>;

type Observation = WorkloadObservation;

export function workloadKind(
  given: WorkloadReconcilerDeps,
): ReconcilerKind<WorkloadObject, Observation, WorkloadAction, WorkloadPlan> {
  // AWS's answers to this process's switches, kept between the switch and the reconcile following it.
  const deps = { ...given, answered: given.answered ?? new Map() };
  const { kind } = deps;
  return {
    type: kind.type,
    finalizer: workloadFinalizer,
    get: deps.getWorkload,
    observe: async (object, ctx) => {
      // A spec not yet acted on will most likely act: observed in full at once, rather than lightly
      // first and again for acting. A changed spec of an object already on a key most likely
      // switches it: its keys are read fresh too (a new object is most often on its key already).
      if (object.status?.observedGeneration !== object.metadata.generation) {
        const freshKeys = object.status?.observedGeneration !== undefined;
        const now = deps.now();
        const input = await observeWorkload(deps, object, {
          forActing: true,
          freshKeys,
          freshSince: freshSince(deps.specSeenAt?.(object) ?? now, now),
        });
        return { input, forActing: true, freshKeys };
      }
      return {
        input: await observeWorkload(deps, object, { ...(ctx.periodic ? { periodic: true } : {}) }),
        forActing: false,
      };
    },
    plan: (_object, observation) => planWorkload(observation.input),
    confirm: async (object, observation, plan) => {
      if (!plan.actions.some((a) => awsActions.has(a.type))) return undefined;
      const freshKeys = plan.actions.some((a) => keyActions.has(a.type));
      if (observation.forActing && (observation.freshKeys || !freshKeys)) return undefined;
      // The decision began when the spec asked for it, or else with the observation planned on.
      const decidedAt =
        object.status?.observedGeneration !== object.metadata.generation
          ? (deps.specSeenAt?.(object) ?? observation.input.now)
          : observation.input.now;
      const input = await observeWorkload(deps, object, {
        forActing: true,
        freshKeys,
        freshSince: freshSince(decidedAt, deps.now()),
        previous: observation.input,
        // Read in full a moment ago in this reconcile: the tags and operation history stand.
        ...(observation.forActing ? { factsLoadedSince: observation.input.now } : {}),
      });
      return { input, forActing: true, freshKeys };
    },
    handlers: workloadActions(deps),
    onFailure: async (action, error, ctx) => switchRefused(deps, action, error, ctx),
    afterActions: async (object, observation, plan, results, ctx) => {
      // What this reconcile changed (or tried to) is read from AWS next time, not from the memo:
      // everything after a stop or start; a key switch changes no tags, so only its operation
      // history (and, for Managed Flink, the remembered read light looks compare listings with) is read again (the reconcile following it is one read of the resource and its
      // operation, not of its tags too). A claim or release that went through changed only the
      // tags, to what this process knows: remembered as such, not read again (at 10,000 workloads,
      // 10,000 reads after an adoption).
      const resourceArn = resourceArnOf(observation);
      const acted = plan.actions.filter((a) => awsActions.has(a.type));
      // The inventory takes no read of it from before the change (src/aws/recent-reads.ts).
      if (resourceArn && acted.length > 0) deps.recentReads?.forget(resourceArn, deps.now());
      const memo = deps.observeMemo;
      if (memo && resourceArn && acted.length > 0) {
        const tags = tagsAfter(observation, acted, results);
        if (!tags && !acted.every((a) => a.type === 'ChangeKey')) memo.forgetSubject(resourceArn);
        else {
          if (tags) void memo.remember(tagsMemoName(resourceArn), async () => tags, { maxAgeMs: 0 });
          if (acted.some((a) => a.type === 'ChangeKey'))
            memo.forgetSubject(
              resourceArn,
              (name) =>
                name.startsWith(`${resourceArn}|operations`) || name.startsWith(`${resourceArn}|detail`),
            );
        }
      }
      // EMR Serverless: publish the job-level overrides for pipelines that submit jobs themselves.
      // Isolated: it never throws and never changes this object's status (job-overrides.ts).
      if (adapterFor(kind.service).capabilities.jobLevelKeys && object.spec.jobOverridesConfigMap) {
        await publishJobOverrides(
          { kube: deps.kube, events: deps.events, log: ctx.log },
          {
            owner: { type: kind.type, object },
            configMapName: object.spec.jobOverridesConfigMap.name,
            mode: object.spec.mode,
            desired: observation.input.desired,
            preflight: observation.input.preflight,
            signal: ctx.signal,
          },
        );
      }
    },
    subject: (_object, observation) => resourceArnOf(observation),
    prune: (conditions, plan) => {
      let next = conditions;
      for (const t of ['MaterialCurrent', 'KeyAccessible'])
        if (!plan.conditions.some((c) => c.type === t)) next = removeCondition(next, t);
      return next;
    },
    readiness: (_stored, plan) => ({
      readyWhen: [
        'KeyUsable',
        'KeyCurrent',
        ...plan.conditions
          .filter((c) => c.type === 'MaterialCurrent' || c.type === 'KeyAccessible')
          .map((c) => c.type),
      ],
      ready: { reason: 'OnDesiredKey', message: 'AWS reports the desired key' },
    }),
    project: (stored, plan, observation, results) =>
      projectWorkloadStatus(stored, plan, observation, results.status),
    holds: (stored, next, plan, results) => holdsSwitchIntent(stored.status, next, plan, results),
  };
}

/**
 * A switch this process asked for and AWS has not finished: the intent written before the call
 * (lastOperation InProgress, Reconciling=True, KeyCurrent=False) stands until AWS reports the end,
 * rather than being rewritten with each look in between (AWS's state, its operation id, the key the
 * configuration names). A Managed Flink update restarts the application and takes minutes: every
 * look would otherwise cost a write, and at 10,000 workloads one more write each. Until the end the
 * status keeps naming the key the running application's data is under (the old one: its state is
 * snapshotted under it and it runs on it until the restart ends). Written at once whenever anything
 * else moves: the operation ends (succeeded or failed), a new generation, an action or a failure in
 * this reconcile, or any condition's status other than KeyCurrent turning True on the desired key.
 */
export function holdsSwitchIntent(
  stored: Status | undefined,
  next: Status,
  plan: Pick<WorkloadPlan, 'actions'>,
  results: Pick<Results<unknown>, 'failure' | 'mutated'>,
): boolean {
  const was = stored?.lastOperation;
  const now = next.lastOperation;
  if (was?.status !== 'InProgress' || now?.status !== 'InProgress') return false;
  if (was.startTime !== now.startTime || was.toKey !== now.toKey) return false;
  if (plan.actions.length > 0 || results.failure || results.mutated) return false;
  if (stored?.observedGeneration !== next.observedGeneration) return false;
  const before = conditionsByType(stored?.conditions);
  const after = conditionsByType(next.conditions);
  for (const type of new Set([...before.keys(), ...after.keys()])) {
    const b = before.get(type);
    const a = after.get(type);
    if (b?.status === a?.status) continue;
    if (type === 'KeyCurrent' && b?.status === 'False' && a?.status === 'True') continue;
    return false;
  }
  return true;
}

/**
 * The resource's tags after this reconcile's AWS actions, when they included a claim or a release,
 * the rest were key switches (which change no tag) and every one went through: the tags observed
 * (fresh: a claim is planned on a full observation) with the claims' added and the releases'
 * removed. Otherwise undefined: nothing known about the tags beyond what was read.
 */
export function tagsAfter(
  observation: Observation,
  acted: readonly WorkloadAction[],
  results: Pick<Results<unknown>, 'completed' | 'failure'>,
): Record<string, string> | undefined {
  const observed = observation.input.observed;
  if (observed.kind !== 'found' || !observation.forActing || results.failure) return undefined;
  const tags = { ...observed.state.tags };
  for (const action of acted) {
    if (action.type === 'Claim') Object.assign(tags, action.tags);
    else if (action.type === 'Release') for (const k of action.tagKeys) delete tags[k];
    else if (action.type !== 'ChangeKey') return undefined;
  }
  const tagging = (types: readonly string[]) => types.filter((t) => t === 'Claim' || t === 'Release').length;
  const asked = tagging(acted.map((a) => a.type));
  return asked > 0 && tagging(results.completed) === asked ? tags : undefined;
}

/** The workload's status: what the plan derived, what the actions did, reconciled with the stored record. */
function projectWorkloadStatus(
  stored: WorkloadObject,
  plan: WorkloadPlan,
  observation: Observation,
  updates: Partial<Status>,
): Status {
  const next: Record<string, unknown> = { ...(stored.status ?? {}), ...plan.status, ...updates };
  // The cache this reconcile planned from may be older than the stored object (a status written a
  // moment ago, a conflict re-read): never replace a newer record of the last change with an older one.
  // The same change seen twice (a stale cache still held the intent written before the AWS call):
  // keep what only the stored record knows, AWS's operation id, and a failure it recorded.
  const storedOp = stored.status?.lastOperation;
  const plannedOp = next['lastOperation'] as WorkloadStatusView['lastOperation'];
  if (storedOp?.startTime) {
    const storedAt = Date.parse(storedOp.startTime);
    const plannedAt = plannedOp?.startTime ? Date.parse(plannedOp.startTime) : Number.NaN;
    if (!plannedOp || Number.isNaN(plannedAt) || storedAt > plannedAt) next['lastOperation'] = storedOp;
    else if (storedAt === plannedAt && storedOp.id && !plannedOp.id)
      next['lastOperation'] = storedOp.status === 'Failed' ? storedOp : { ...plannedOp, id: storedOp.id };
  }
  if (plan.lines.length > 0) next['plan'] = plan.lines;
  else delete next['plan'];
  if (next['waitingFor'] !== undefined && plan.status['waitingFor'] === undefined) delete next['waitingFor'];
  const observed = observation.input.observed;
  if (observed.kind === 'found' && !observed.state.keyInaccessible) {
    delete next['inaccessibleSince'];
    delete next['deletionAfter'];
  }
  return next as Status;
}

export function workloadReconciler(deps: WorkloadReconcilerDeps) {
  return executor(workloadKind(deps), deps, resync);
}
