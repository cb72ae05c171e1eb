// The KmsKey reconciler.
//
// Watches: KmsKey objects, and every workload kind that can reference a KmsKey (mapped to the
// referenced KmsKey through an index, so a new or removed reference re-runs the key's reconcile).
// Owns conditions: Ready, Reconciling, Stalled (kstatus), KeyUsable, RotationCurrent, DeletionBlocked.
// Acts on AWS only through src/aws/kms.ts, only in Enforce mode, only with the leader's signal.
// Never: schedules deletion of (or disables) a key that any workload references; removes the
// finalizer before cleanup succeeded; acts on a key by alias after it was resolved (status.keyArn
// is the identity from then on, so re-pointing an alias never moves the object to another key).

import { createHash } from 'node:crypto';
import type { KmsKeyStatus } from '../api/kmskey.ts';
import { cmkResources, type KeyReferencingObject, type KmsKeyObject } from '../api/resources.ts';
import type { WorkloadReference } from '../api/shared.ts';
import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import type { CallerIdentity } from '../aws/identity.ts';
import { createKey, keyMutations } from '../aws/kms.ts';
import type { KeyReads } from '../keys/key-cache.ts';
import type { RotationFacts } from '../keys/key-facts.ts';
import { generateKeyPolicy } from '../keys/policy.ts';
import { keyRefusal, type TenancyRules } from '../keys/tenancy.ts';
import { type Condition, removeCondition, setCondition, withKstatus } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.ts';
import { WaitingError } from '../runtime/errors.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { addFinalizer, removeFinalizer } from '../runtime/finalizers.ts';
import type { KubeClient } from '../runtime/kube.ts';
import { writeStatusIfChanged } from '../runtime/status.ts';
import { type KmsKeyAction, type KmsKeyObservation, kmsKeyFinalizer, planKmsKey } from './kmskey-plan.ts';
import { resync } from './types.ts';

/** AWS's grants-per-key quota (not adjustable). */
const grantsPerKeyLimit = 50_000;

/** Plan actions that call KMS: planned again on fresh reads before they run. */
const awsActions = new Set<KmsKeyAction['type']>([
  'EnableKeyRotation',
  'DisableKeyRotation',
  'RotateKeyOnDemand',
  'EnableKey',
  'CancelKeyDeletion',
  'ScheduleKeyDeletion',
]);

export interface KmsKeyReconcilerDeps {
  /** The operator's per-namespace key allow-lists. */
  tenancy?: TenancyRules;
  kube: KubeClient;
  aws: AwsClients;
  /** KMS reads, through the operator's key cache. */
  keys: KeyReads;
  events: EventRecorder;
  /** The KmsKey cache (informer). */
  getKmsKey(key: string): KmsKeyObject | undefined;
  /** Workload objects whose spec.key.kmsKeyRef points at `namespace/name`. */
  referencesTo(key: string): KeyReferencingObject[];
  /**
   * The same, read from the API server rather than this process's cache: set when the cache does
   * not see every workload (a sharded operator), and asked before a key is let go.
   */
  liveReferencesTo?(key: string, signal: AbortSignal): Promise<KeyReferencingObject[]>;
  callerIdentity(target: AwsTarget): Promise<CallerIdentity>;
  defaultRegion: string;
  /** Identifies this cluster in AWS tags (`cmk.io/owner`). */
  clusterName: string;
  now(): number;
}

const kindOf = (o: KeyReferencingObject): string => o.kind ?? 'Workload';

function toReference(o: KeyReferencingObject): WorkloadReference {
  return { kind: kindOf(o), namespace: o.metadata.namespace ?? '', name: o.metadata.name };
}

function onKey(o: KeyReferencingObject, keyArn: string | undefined): boolean {
  const current = (o.status as { current?: { keyArn?: string }; keyArn?: string } | undefined) ?? {};
  return keyArn !== undefined && (current.current?.keyArn === keyArn || current.keyArn === keyArn);
}

/**
 * Whether a workload on the key also runs on its current material. Only Flink's running storage
 * keeps old material (it reports MaterialCurrent); Keyspaces re-wraps and EMR disks are per job.
 */
function onCurrentMaterial(o: KeyReferencingObject): boolean {
  const conditions = (o.status as { conditions?: Array<{ type: string; status: string }> } | undefined)
    ?.conditions;
  const material = conditions?.find((c) => c.type === 'MaterialCurrent');
  return material === undefined || material.status === 'True';
}

/** Why a workload is not on the key yet, in its own words (its Ready condition). */
function pendingReason(o: KeyReferencingObject): string {
  const conditions = (
    o.status as
      | { conditions?: Array<{ type: string; status: string; reason: string; message: string }> }
      | undefined
  )?.conditions;
  const ready = conditions?.find((c) => c.type === 'Ready');
  if (!ready) return 'not reconciled yet';
  return `${ready.reason}: ${ready.message}`.slice(0, 1024);
}

/** The Keyspaces tables referencing a key and whether each is on it: a version of its grant count. */
function tablesVersion(referencing: KeyReferencingObject[], keyArn: string): string {
  const tables = referencing
    .filter((o) => (o.kind ?? '') === 'KeyspacesTable')
    .map((o) => `${o.metadata.namespace}/${o.metadata.name}/${o.metadata.uid ?? ''}/${onKey(o, keyArn)}`)
    .sort();
  return createHash('sha256').update(tables.join('\n')).digest('hex').slice(0, 16);
}

function describeAction(a: KmsKeyAction): string {
  switch (a.type) {
    case 'EnableKeyRotation':
      return a.periodInDays
        ? `enable automatic rotation every ${a.periodInDays} days`
        : 'enable automatic rotation';
    case 'RotateKeyOnDemand':
      return `rotate the key material on demand (token ${a.token})`;
    case 'ScheduleKeyDeletion':
      return `schedule key deletion in ${a.pendingWindowInDays} days`;
    default:
      return a.type;
  }
}

export function kmsKeyReconciler(deps: KmsKeyReconcilerDeps) {
  return async function reconcileKmsKey(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const cached = deps.getKmsKey(key);
    if (!cached) return {};
    let object: KmsKeyObject = cached;
    const type = cmkResources.kmsKey;
    const spec = object.spec;
    const region = spec.region ?? deps.defaultRegion;
    const target: AwsTarget = { region, ...(spec.roleArn ? { roleArn: spec.roleArn } : {}) };
    const kms = deps.aws.kms(target);
    const holds = (o: KeyReferencingObject) =>
      !o.metadata.deletionTimestamp || (o.metadata.finalizers?.length ?? 0) > 0;
    let referencing = deps.referencesTo(key).filter(holds);

    // ---- observe ---------------------------------------------------------------------------
    // Key reads go through the key cache (one KMS read per key per TTL however many workloads
    // re-run this reconcile); they are fresh from KMS when the object changed since it was last
    // reconciled, while an on-demand rotation is pending, and before any action (see below).
    const identity = object.status?.keyArn ?? spec.keyId;
    const observe = async (fresh: boolean): Promise<KmsKeyObservation> => {
      try {
        if (!identity) return { kind: 'notCreated' };
        const facts = await deps.keys.describe(target, identity, fresh ? { maxAgeMs: 0 } : {});
        if (!facts) return { kind: 'notFound' };
        let rotation: RotationFacts | undefined;
        try {
          // The completed-rotation list changes with the key material: read again when it does.
          rotation = await deps.keys.rotation(target, facts.arn, {
            ...(fresh ? { maxAgeMs: 0 } : {}),
            ...(facts.currentKeyMaterialId ? { version: facts.currentKeyMaterialId } : {}),
          });
        } catch (e) {
          // Keys that cannot rotate (asymmetric, imported) answer UnsupportedOperation: not an error here.
          if (
            !(e instanceof AwsCallError) ||
            (e.failure.cause !== 'InvalidSpec' && e.failure.cause !== 'KeyUnusable')
          )
            throw e;
        }
        return { kind: 'found', key: facts, rotation };
      } catch (e) {
        return { kind: 'error', failure: e instanceof AwsCallError ? e.failure : classifyAwsError(e) };
      }
    };
    // Fresh while something is in flight (a pending or running on-demand rotation, any Reconciling
    // state): its end should show at the next look, not a cache TTL later. Keys are few.
    let freshReads =
      object.status?.observedGeneration !== object.metadata.generation ||
      object.status?.rotation?.pendingOnDemand !== undefined ||
      object.status?.rotation?.onDemandRotationStartDate !== undefined ||
      object.status?.conditions?.some((c) => c.type === 'Reconciling' && c.status === 'True') === true;
    let observed = await observe(freshReads);

    // Tenancy: a key this namespace may not use is refused before anything acts on it. A key still to
    // be created is checked as `key/*` in its Region and account, so only a rule allowing any key there
    // lets the namespace create one.
    let refusal: { reason: string; message: string } | undefined;
    if (deps.tenancy) {
      const ns = object.metadata.namespace ?? '';
      let arn = observed.kind === 'found' ? observed.key.arn : undefined;
      if (!arn && observed.kind === 'notCreated') {
        const who = await deps.callerIdentity(target).catch(() => undefined);
        if (who) arn = `arn:aws:kms:${region}:${who.accountId}:key/*`;
      }
      const message = arn ? keyRefusal(deps.tenancy, ns, arn) : undefined;
      if (message) refusal = { reason: 'KeyNotAllowed', message };
    }
    const planFor = (o: KmsKeyObject) =>
      planKmsKey({
        now: deps.now(),
        spec: o.spec,
        status: o.status,
        deleting: Boolean(o.metadata.deletionTimestamp),
        hasFinalizer: o.metadata.finalizers?.includes(kmsKeyFinalizer) ?? false,
        region,
        observed,
        references: referencing.map(toReference),
        ...(refusal ? { refusal } : {}),
      });
    let plan = planFor(object);
    if (!freshReads && plan.actions.some((a) => awsActions.has(a.type))) {
      freshReads = true;
      observed = await observe(true);
      plan = planFor(object);
    }
    // Letting the key go (its deletion, or just the finalizer) rests on no workload using it. This
    // process's cache holds only its own shard: ask the API server about every workload first.
    if (
      deps.liveReferencesTo &&
      plan.actions.some((a) => a.type === 'ScheduleKeyDeletion' || a.type === 'RemoveFinalizer')
    ) {
      const live = (await deps.liveReferencesTo(key, ctx.signal)).filter(holds);
      if (live.length > 0) {
        referencing = live;
        plan = planFor(object);
      }
    }
    // One-shot actions (a new key, an on-demand rotation) are decided on the object as stored, not
    // as cached: the cache may not yet show the status this process wrote a moment ago, and acting
    // on it would repeat the action.
    if (plan.actions.some((a) => a.type === 'CreateKey' || a.type === 'RotateKeyOnDemand')) {
      const fresh = await deps.kube.get<KmsKeyObject>(
        type,
        { name: object.metadata.name, namespace: object.metadata.namespace ?? '' },
        { signal: ctx.signal },
      );
      if (fresh.metadata.resourceVersion !== object.metadata.resourceVersion) {
        object = fresh;
        plan = planFor(fresh);
      }
    }

    if (plan.actions.length > 0) {
      ctx.log.debug(
        { actions: plan.actions.map((a) => a.type), resourceVersion: object.metadata.resourceVersion },
        'planned',
      );
    }

    // Keyspaces spends 2 grants per table against a 50,000-per-key quota: report usage when tables use the key.
    let grants: { count: number; limit: number } | undefined;
    if (observed.kind === 'found' && referencing.some((o) => (o.kind ?? '') === 'KeyspacesTable')) {
      try {
        grants = {
          // Keyspaces creates grants per table: count again when the tables using the key change.
          count: await deps.keys.grants(target, observed.key.arn, {
            ...(freshReads ? { maxAgeMs: 0 } : {}),
            version: tablesVersion(referencing, observed.key.arn),
          }),
          limit: grantsPerKeyLimit,
        };
      } catch (e) {
        ctx.log.debug({ err: e }, 'grant count unavailable');
      }
    }

    // ---- act ---------------------------------------------------------------------------------
    const statusUpdates: Partial<KmsKeyStatus> = {};
    const extraConditions: Array<{
      type: string;
      status: 'True' | 'False' | 'Unknown';
      reason: string;
      message: string;
    }> = [];
    let waiting: WaitingError | undefined;
    let mutated = false;
    let clearPendingOnDemand = false;
    let refused: { reason: string; message: string } | undefined;
    const keyArn = () =>
      statusUpdates.keyArn ?? (observed.kind === 'found' ? observed.key.arn : object.status?.keyArn) ?? '';
    const audit = (action: string, detail: Record<string, unknown>, requestId?: string) => {
      ctx.log.info(
        { audit: true, action, object: key, keyArn: keyArn(), requestId, ...detail },
        `${action} on ${keyArn()}`,
      );
    };

    for (const action of plan.actions) {
      if (ctx.signal.aborted)
        throw new WaitingError('leadership lost or stopping', { reason: 'Stopping', retryAfterMs: 1000 });
      try {
        switch (action.type) {
          case 'AddFinalizer':
            object =
              ((await addFinalizer({ kube: deps.kube }, type, object, kmsKeyFinalizer, {
                signal: ctx.signal,
              })) as KmsKeyObject | undefined) ?? object;
            break;
          case 'RemoveFinalizer':
            await removeFinalizer({ kube: deps.kube }, type, object, kmsKeyFinalizer, { signal: ctx.signal });
            deps.events.record(
              { type, object },
              {
                type: 'Normal',
                reason: 'Released',
                action: 'RemoveFinalizer',
                note: 'no workload references the key any more; finalizer removed',
              },
            );
            return {};
          case 'CreateKey': {
            const who = await deps.callerIdentity(target);
            const policy = action.policy
              ? JSON.stringify(
                  generateKeyPolicy({
                    accountId: who.accountId,
                    region,
                    services: action.policy.services,
                    keyAdministrators: action.policy.keyAdministrators,
                    keyUsers:
                      action.policy.keyUsers.length > 0 ? action.policy.keyUsers : who.arn ? [who.arn] : [],
                  }),
                )
              : undefined;
            const facts = await createKey(kms, {
              ...(action.description ? { description: action.description } : {}),
              ...(policy ? { policy } : {}),
              ...(action.alias ? { alias: action.alias } : {}),
              tags: {
                ...action.tags,
                'cmk.io/owner': `${deps.clusterName}/${object.metadata.namespace}/${object.metadata.name}`,
                ...(object.metadata.uid ? { 'cmk.io/uid': object.metadata.uid } : {}),
              },
            });
            statusUpdates.keyArn = facts.arn;
            statusUpdates.keyId = facts.keyId;
            // Record the new key at once: a crash after this line must adopt it, not create another.
            const recorded = await writeStatusIfChanged<KmsKeyObject>(
              { kube: deps.kube },
              type,
              object,
              (current) => ({
                ...current.status,
                keyArn: facts.arn,
                keyId: facts.keyId,
              }),
            );
            object = recorded.object ?? object;
            audit('CreateKey', { to: facts.arn, alias: action.alias });
            deps.events.record(
              { type, object },
              {
                type: 'Normal',
                reason: 'KeyCreated',
                action: 'CreateKey',
                note: `created ${facts.arn}${action.alias ? ` with alias ${action.alias}` : ''}`,
              },
            );
            mutated = true;
            break;
          }
          case 'EnableKeyRotation': {
            const out = await keyMutations.enableKeyRotation(kms, keyArn(), action.periodInDays);
            audit('EnableKeyRotation', { periodInDays: action.periodInDays }, out.$metadata.requestId);
            deps.events.record(
              { type, object },
              {
                type: 'Normal',
                reason: 'RotationEnabled',
                action: 'EnableKeyRotation',
                note: describeAction(action),
              },
            );
            mutated = true;
            break;
          }
          case 'DisableKeyRotation': {
            const out = await keyMutations.disableKeyRotation(kms, keyArn());
            audit('DisableKeyRotation', {}, out.$metadata.requestId);
            deps.events.record(
              { type, object },
              {
                type: 'Normal',
                reason: 'RotationDisabled',
                action: 'DisableKeyRotation',
                note: 'automatic rotation disabled',
              },
            );
            mutated = true;
            break;
          }
          case 'RotateKeyOnDemand': {
            // Intent first: a restart after the call but before the result is recorded must find
            // the rotation in KMS and not rotate again for the same token.
            const requestedAt = new Date(deps.now()).toISOString();
            const intent = await writeStatusIfChanged<KmsKeyObject>(
              { kube: deps.kube },
              type,
              object,
              (current) => ({
                ...current.status,
                rotation: {
                  ...(current.status?.rotation ?? { enabled: false }),
                  pendingOnDemand: {
                    token: action.token,
                    requestedAt,
                    ...(plan.status.rotation?.recent?.[0]
                      ? { lastRotationBefore: plan.status.rotation.recent[0].date }
                      : {}),
                  },
                },
              }),
            );
            object = intent.object ?? object;
            try {
              const out = await keyMutations.rotateKeyOnDemand(kms, keyArn());
              audit('RotateKeyOnDemand', { token: action.token }, out.$metadata.requestId);
              deps.events.record(
                { type, object },
                {
                  type: 'Normal',
                  reason: 'RotationStarted',
                  action: 'RotateKeyOnDemand',
                  note: describeAction(action),
                },
              );
              statusUpdates.rotation = {
                ...(plan.status.rotation ?? { enabled: false }),
                lastOnDemandToken: action.token,
                lastOnDemandRefusal: undefined,
                onDemandRotationStartDate: requestedAt,
              };
              clearPendingOnDemand = true;
              mutated = true;
            } catch (e) {
              if (!(e instanceof AwsCallError)) throw e;
              // KMS refused: nothing rotated, the intent is void.
              clearPendingOnDemand = true;
              if (e.failure.cause === 'Conflict') {
                // An automatic rotation is running or due within 20 minutes: try again after it.
                waiting = new WaitingError(`on-demand rotation deferred: ${e.failure.message}`, {
                  reason: 'RotationConflict',
                  retryAfterMs: 5 * 60_000,
                });
              } else if (e.failure.cause === 'QuotaExceeded') {
                // The per-key on-demand cap is used up and not adjustable: never retry this token.
                const message = `on-demand rotation for token ${action.token} refused: ${e.failure.message} (the per-key cap of on-demand rotations is used up; automatic rotation still works)`;
                statusUpdates.rotation = {
                  ...(plan.status.rotation ?? { enabled: false }),
                  lastOnDemandToken: action.token,
                  lastOnDemandRefusal: message,
                };
                refused = { reason: 'OnDemandRotationLimitExceeded', message };
                extraConditions.push({
                  type: 'RotationCurrent',
                  status: 'False',
                  reason: 'OnDemandRotationLimitExceeded',
                  message,
                });
                deps.events.record(
                  { type, object },
                  {
                    type: 'Warning',
                    reason: 'OnDemandRotationRefused',
                    action: 'RotateKeyOnDemand',
                    note: message,
                  },
                );
              } else throw e;
            }
            break;
          }
          case 'CancelKeyDeletion': {
            const out = await keyMutations.cancelKeyDeletion(kms, keyArn());
            audit('CancelKeyDeletion', { from: 'PendingDeletion', to: 'Disabled' }, out.$metadata.requestId);
            deps.events.record(
              { type, object },
              {
                type: 'Warning',
                reason: 'KeyDeletionCancelled',
                action: 'CancelKeyDeletion',
                note: 'the key was scheduled for deletion while workloads use it; deletion cancelled (the key stays Disabled until enabled)',
              },
            );
            mutated = true;
            break;
          }
          case 'EnableKey': {
            const out = await keyMutations.enableKey(kms, keyArn());
            audit('EnableKey', { from: 'Disabled', to: 'Enabled' }, out.$metadata.requestId);
            deps.events.record(
              { type, object },
              {
                type: 'Warning',
                reason: 'KeyReenabled',
                action: 'EnableKey',
                note: 'the key was disabled while workloads use it; enabled again',
              },
            );
            mutated = true;
            break;
          }
          case 'ScheduleKeyDeletion': {
            const out = await keyMutations.scheduleKeyDeletion(kms, keyArn(), action.pendingWindowInDays);
            audit(
              'ScheduleKeyDeletion',
              { pendingWindowInDays: action.pendingWindowInDays },
              out.$metadata.requestId,
            );
            deps.events.record(
              { type, object },
              {
                type: 'Normal',
                reason: 'KeyDeletionScheduled',
                action: 'ScheduleKeyDeletion',
                note: describeAction(action),
              },
            );
            mutated = true;
            break;
          }
        }
      } catch (e) {
        // A failed call may still have changed the key (a timeout after KMS acted): forget it.
        if (keyArn()) deps.keys.invalidate(keyArn());
        if (!(e instanceof AwsCallError)) throw e;
        const message = `${action.type} failed: ${e.failure.code}: ${e.failure.message}`;
        deps.events.record(
          { type, object },
          { type: 'Warning', reason: `${action.type}Failed`, action: action.type, note: message },
        );
        extraConditions.push({
          type: 'KeyUsable',
          status: 'Unknown',
          reason: e.failure.cause === 'AccessDenied' ? 'AccessDenied' : 'AwsCallFailed',
          message,
        });
        await writeStatus(object, {
          stalled:
            e.failure.cause === 'AccessDenied' || e.failure.cause === 'InvalidSpec'
              ? { reason: 'AwsCallRefused', message }
              : undefined,
        });
        throw e;
      }
    }

    // What this reconcile changed in KMS is read back fresh next time, not served from the cache.
    if (mutated && keyArn()) deps.keys.invalidate(keyArn());
    for (const e of plan.events) deps.events.record({ type, object }, e);

    // ---- status -----------------------------------------------------------------------------
    async function writeStatus(
      current: KmsKeyObject,
      override: { stalled?: { reason: string; message: string } | undefined } = {},
    ) {
      const stamp = { generation: current.metadata.generation, now: deps.now() };
      const compute = (fresh: KmsKeyObject): KmsKeyStatus => {
        let conditions: Condition[] = (fresh.status?.conditions as Condition[] | undefined) ?? [];
        for (const c of [...plan.conditions, ...extraConditions])
          conditions = setCondition(conditions, c, stamp);
        if (!plan.conditions.some((c) => c.type === 'DeletionBlocked'))
          conditions = removeCondition(conditions, 'DeletionBlocked');
        if (!spec.rotation) conditions = removeCondition(conditions, 'RotationCurrent');
        const outcome = plan.outcome;
        const stalled =
          override.stalled ??
          refused ??
          (outcome.kind === 'stalled' ? { reason: outcome.reason, message: outcome.message } : undefined);
        const inFlight =
          outcome.kind === 'waiting'
            ? { reason: outcome.reason, message: outcome.message }
            : waiting
              ? { reason: waiting.reason, message: waiting.message }
              : mutated
                ? { reason: 'Progressing', message: 'changes requested from AWS; checking they took effect' }
                : (plan.status.rotation?.onDemandRotationStartDate ??
                    statusUpdates.rotation?.onDemandRotationStartDate)
                  ? { reason: 'RotationInProgress', message: 'on-demand rotation in progress' }
                  : undefined;
        conditions = withKstatus(
          conditions,
          {
            ...(stalled ? { stalled } : {}),
            ...(inFlight ? { reconciling: inFlight } : {}),
            readyWhen: spec.rotation ? ['KeyUsable', 'RotationCurrent'] : ['KeyUsable'],
            ready: { reason: 'KeyReady', message: 'key usable and configured as declared' },
          },
          stamp,
        );
        const arn = statusUpdates.keyArn ?? plan.status.keyArn ?? fresh.status?.keyArn;
        const total = referencing.length;
        const onThisKey = referencing.filter((o) => onKey(o, arn));
        const upToDate = onThisKey.filter(onCurrentMaterial);
        const pending = referencing
          .filter((o) => !onKey(o, arn) || !onCurrentMaterial(o))
          .slice(0, 100)
          .map((o) => ({ ...toReference(o), reason: pendingReason(o) }));
        const next: KmsKeyStatus = {
          ...(fresh.status ?? {}),
          ...(grants ? { grants } : {}),
          ...plan.status,
          ...statusUpdates,
          observedGeneration: current.metadata.generation ?? 0,
          conditions,
          workloads: {
            total,
            onKey: onThisKey.length,
            onCurrentMaterial: upToDate.length,
            summary: `${upToDate.length}/${total}`,
            ...(pending.length ? { pending } : {}),
          },
        };
        if (plan.status.rotation && statusUpdates.rotation)
          next.rotation = { ...plan.status.rotation, ...statusUpdates.rotation };
        const intent = fresh.status?.rotation?.pendingOnDemand;
        if (clearPendingOnDemand && next.rotation) {
          next.rotation = { ...next.rotation };
          delete next.rotation.pendingOnDemand;
        } else if (intent && next.rotation && next.rotation.lastOnDemandToken !== intent.token) {
          // The call may have reached KMS (a timeout, a crash): keep the intent for the next look.
          next.rotation = { ...next.rotation, pendingOnDemand: intent };
        }
        return next;
      };
      const result = await writeStatusIfChanged({ kube: deps.kube }, type, current, compute, {
        signal: ctx.signal,
      });
      if (result.written) ctx.log.debug({ conflicts: result.conflicts }, 'status written');
      return result;
    }

    await writeStatus(object);
    if (waiting) throw waiting;
    if (mutated) return { requeueAfterMs: resync.transitioningMs };
    // Settled: the controller's jittered resync (--resync) decides when to look again; anything
    // sooner is capped at it by the controller (a workload of another shard sends this key no event).
    if (plan.requeueAfterMs >= resync.settledMs) return {};
    return { requeueAfterMs: plan.requeueAfterMs };
  };
}
