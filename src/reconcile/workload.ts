// The workload reconciler: one implementation for FlinkApplication, KeyspacesTable and
// EmrServerlessApplication; the service adapter (src/aws/adapters.ts) is the only per-service part.
//
// Watches: the workload kind; KmsKeys (mapped to the workloads that reference them); KeyReferenceGrants.
// Owns conditions: Ready, Reconciling, Stalled (kstatus), KeyUsable, KeyCurrent, and per service
// MaterialCurrent (Flink) and KeyAccessible (Keyspaces).
// Never: switches a workload onto a key that fails pre-flight; acts in Observe mode, without the
// leader's signal, or on a resource another object claims; follows a reference into another namespace
// without a KeyReferenceGrant there. Every AWS mutation is an Event and an audit log line.

import { cmkResources, type KmsKeyObject } from '../api/resources.ts';
import type { KeyReference } from '../api/shared.ts';
import { adapterFor } from '../aws/adapters.ts';
import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { cancelJobRun } from '../aws/emr-serverless-cancel.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import type { CallerIdentity } from '../aws/identity.ts';
import type { WorkloadId, WorkloadOperation, WorkloadService } from '../aws/workload.ts';
import type { KeyReads } from '../keys/key-cache.ts';
import { type TenancyRules, workloadRefusal } from '../keys/tenancy.ts';
import { type Condition, removeCondition, setCondition, withKstatus } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { addFinalizer, removeFinalizer } from '../runtime/finalizers.ts';
import type { KubeClient, KubeObject, ResourceType } from '../runtime/kube.ts';
import { writeStatusIfChanged } from '../runtime/status.ts';
import type { TtlMemo } from '../runtime/ttl-memo.ts';
import { publishJobOverrides } from './job-overrides.ts';
import { type PolicyPreflight, preflightKey, resolveKey } from './key-resolution.ts';
import { resync } from './types.ts';
import {
  keyLabel,
  type Preflight,
  planWorkload,
  type WorkloadAction,
  type WorkloadObservation,
  type WorkloadPlanInput,
  type WorkloadSpecView,
  type WorkloadStatusView,
  workloadFinalizer,
} from './workload-plan.ts';

export interface WorkloadObject extends KubeObject {
  spec: WorkloadSpecView & {
    key: KeyReference;
    region?: string;
    roleArn?: string;
    applicationName?: string;
    keyspaceName?: string;
    tableName?: string;
    applicationId?: string;
    encryptionContext?: Record<string, string>;
    jobOverridesConfigMap?: { name: string };
  };
  status?: WorkloadStatusView & { conditions?: Condition[]; observedGeneration?: number } & Record<
      string,
      unknown
    >;
}

export interface WorkloadKind {
  type: ResourceType;
  service: WorkloadService;
  id(spec: WorkloadObject['spec']): WorkloadId;
}

/** The workload kinds the shared reconcile core serves, with how each names its AWS resource. */
export const workloadKinds: WorkloadKind[] = [
  {
    type: cmkResources.flinkApplication,
    service: 'ManagedFlink',
    id: (s) => ({ service: 'ManagedFlink', applicationName: s.applicationName ?? '' }),
  },
  {
    type: cmkResources.keyspacesTable,
    service: 'Keyspaces',
    id: (s) => ({ service: 'Keyspaces', keyspaceName: s.keyspaceName ?? '', tableName: s.tableName ?? '' }),
  },
  {
    type: cmkResources.emrServerlessApplication,
    service: 'EmrServerless',
    id: (s) => ({ service: 'EmrServerless', applicationId: s.applicationId ?? '' }),
  },
];

// Key resolution and pre-flight live in key-resolution.ts (shared with the job-run reconciler).
export type { PolicyPreflight };

export interface WorkloadReconcilerDeps {
  kube: KubeClient;
  aws: AwsClients;
  /** KMS reads, through the operator's key cache. */
  keys: KeyReads;
  /** Slow-changing AWS reads (tags, operation history) remembered between reconciles. */
  observeMemo?: TtlMemo;
  events: EventRecorder;
  kind: WorkloadKind;
  getWorkload(key: string): WorkloadObject | undefined;
  getKmsKey(key: string): KmsKeyObject | undefined;
  /** Whether workloads in `fromNamespace` may reference the KmsKey `namespace/name`. */
  referenceGranted(fromNamespace: string, kmsKeyNamespace: string, kmsKeyName: string): boolean;
  callerIdentity(target: AwsTarget): Promise<CallerIdentity>;
  /** Key-policy pre-flight; only the key-state chain runs when absent. */
  policyPreflight?: PolicyPreflight;
  defaultRegion: string;
  clusterName: string;
  /** The operator's per-namespace key and resource allow-lists. */
  tenancy?: TenancyRules;
  now(): number;
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

function isoNow(now: number): string {
  return new Date(now).toISOString();
}

/** What observeWorkload needs: the reconciler's deps without the Kubernetes writer. */
export type WorkloadObserveDeps = Pick<
  WorkloadReconcilerDeps,
  | 'aws'
  | 'keys'
  | 'observeMemo'
  | 'events'
  | 'kind'
  | 'getKmsKey'
  | 'referenceGranted'
  | 'callerIdentity'
  | 'policyPreflight'
  | 'defaultRegion'
  | 'clusterName'
  | 'tenancy'
  | 'now'
>;

/** The AWS target (Region, role) of a workload spec. */
export function workloadTarget(
  deps: Pick<WorkloadReconcilerDeps, 'defaultRegion'>,
  spec: WorkloadObject['spec'],
): AwsTarget {
  const region = spec.region ?? deps.defaultRegion;
  return { region, ...(spec.roleArn ? { roleArn: spec.roleArn } : {}) };
}

export interface ObserveOptions {
  /**
   * The reconcile is about to act on what it sees: read the resource in full from AWS, bypassing
   * the observe memo. A reconcile plans on a light observation and, when the plan would change
   * anything in AWS, observes again this way first.
   */
  forActing?: boolean;
  /** Read the keys from KMS, not the key cache: the action rests on the key (a switch, a restart). */
  freshKeys?: boolean;
  /** The light observation this one repeats: its record of the last change is carried over. */
  previous?: WorkloadPlanInput;
}

/**
 * The observe half of a reconcile: reads AWS (the resource, a finished operation), resolves the
 * desired key and runs the pre-flight; returns the input of planWorkload. Writes nothing to AWS or
 * Kubernetes; the only side effect is an Event (through deps.events) when the last operation is
 * seen to have ended.
 */
export async function observeWorkload(
  deps: WorkloadObserveDeps,
  object: WorkloadObject,
  options: ObserveOptions = {},
): Promise<WorkloadPlanInput> {
  const { kind } = deps;
  const adapter = adapterFor(kind.service);
  const spec = object.spec;
  const target = workloadTarget(deps, spec);
  const id = kind.id(spec);
  const claim = `${deps.clusterName}/${object.metadata.namespace}/${object.metadata.name}`;
  const now = deps.now();

  const fresh = options.freshKeys === true;

  // ---- observe -------------------------------------------------------------------------------
  let observed: WorkloadObservation;
  let lastOperation = object.status?.lastOperation;
  if (options.previous) lastOperation = options.previous.status?.lastOperation;
  try {
    const state = await adapter.observe(deps.aws, target, id, {
      ...(deps.observeMemo ? { memo: deps.observeMemo } : {}),
      forActing: options.forActing === true,
    });
    observed = state ? { kind: 'found', state } : { kind: 'notFound' };
    // Bring our record of the last change up to date from AWS.
    if (state && lastOperation?.status === 'InProgress') {
      let fromAws: WorkloadOperation | undefined;
      if (lastOperation.id && adapter.operation)
        fromAws = await adapter.operation(deps.aws, target, id, lastOperation.id);
      else if (state.settled && lastOperation.toKey === keyLabel(state.encryption))
        fromAws = { action: lastOperation.action, status: 'Succeeded' };
      if (fromAws && fromAws.status !== 'InProgress') {
        lastOperation = {
          ...lastOperation,
          status: fromAws.status,
          endTime: fromAws.endTime ?? isoNow(now),
          ...(fromAws.message ? { message: fromAws.message } : {}),
        };
        if (fromAws.status === 'Failed') {
          deps.events.record(
            { type: kind.type, object },
            {
              type: 'Warning',
              reason: 'SwitchFailed',
              action: lastOperation.action,
              note: `switch to ${lastOperation.toKey} failed: ${fromAws.message ?? 'no detail from AWS'}`,
            },
          );
        } else {
          deps.events.record(
            { type: kind.type, object },
            {
              type: 'Normal',
              reason: 'KeySwitched',
              action: lastOperation.action,
              note: `now on ${lastOperation.toKey} (was ${lastOperation.fromKey})`,
            },
          );
        }
      }
    }
  } catch (e) {
    observed = { kind: 'error', failure: e instanceof AwsCallError ? e.failure : classifyAwsError(e) };
  }

  const { desired, facts } = await resolveKey(deps, {
    namespace: object.metadata.namespace ?? '',
    key: spec.key,
    encryptionContext: spec.encryptionContext,
    target,
    fresh,
  });

  // Pre-flight only when a switch to a customer managed key is on the table.
  let verdict: Preflight | undefined;
  if (
    desired.kind === 'resolved' &&
    desired.setting.type === 'CustomerManaged' &&
    observed.kind === 'found'
  ) {
    const current = observed.state.encryption;
    const differs = current.type !== 'CustomerManaged' || current.keyArn !== desired.setting.keyArn;
    if (differs || kind.service === 'EmrServerless') {
      verdict = await preflightKey(deps, {
        service: kind.service,
        id,
        facts,
        setting: desired.setting,
        target,
        resourceArn: observed.state.resourceArn,
        fresh,
      });
    }
  }
  // Managed Flink also needs the key being left (MSF-015): the switch snapshots the running state
  // under it, and restores from older snapshots still decrypt with it. Checked the same way.
  if (
    kind.service === 'ManagedFlink' &&
    desired.kind === 'resolved' &&
    observed.kind === 'found' &&
    observed.state.encryption.type === 'CustomerManaged' &&
    (desired.setting.type !== 'CustomerManaged' ||
      desired.setting.keyArn !== observed.state.encryption.keyArn) &&
    (verdict === undefined || verdict.ok)
  ) {
    const outgoing = observed.state.encryption;
    const outgoingFacts = await deps.keys.describe(target, outgoing.keyArn, { fresh }).catch(() => undefined);
    const old = await preflightKey(deps, {
      service: kind.service,
      id,
      facts: outgoingFacts,
      setting: outgoing,
      target,
      resourceArn: observed.state.resourceArn,
      fresh,
    });
    if (!old.ok) {
      verdict = {
        ok: false,
        reason: 'OutgoingKeyNotUsable',
        message: `the key being left (${outgoing.keyArn}) must stay usable for the switch (Flink snapshots the running state under it): ${old.message}`,
      };
    }
  }

  const refused =
    deps.tenancy && observed.kind === 'found'
      ? workloadRefusal(deps.tenancy, object.metadata.namespace ?? '', observed.state.resourceArn)
      : undefined;
  const refusal = refused ? { reason: 'ResourceNotAllowed', message: refused } : undefined;

  return {
    now,
    service: kind.service,
    spec,
    status: { ...object.status, ...(lastOperation ? { lastOperation } : {}) },
    deleting: Boolean(object.metadata.deletionTimestamp),
    hasFinalizer: object.metadata.finalizers?.includes(workloadFinalizer) ?? false,
    desired,
    preflight: verdict,
    observed,
    claim,
    ...(refusal ? { refusal } : {}),
  };
}

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
