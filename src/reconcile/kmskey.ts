// The KmsKey reconciler: the KmsKey kind, run by the generic executor (src/runtime/executor.ts).
//
// Watches: KmsKey objects, and every workload kind that can reference a KmsKey (mapped to the
// referenced KmsKey through an index, so a new or removed reference re-runs the key's reconcile).
// Owns conditions: Ready, Reconciling, Stalled (kstatus), KeyUsable, ServiceAccess, RotationCurrent, DeletionBlocked,
// DeletionAuthority.
// Acts on AWS only through src/aws/kms.ts, only in Enforce mode, only with the leader's signal.
// Reads: key facts through the key cache (one KMS read per key per TTL however many workloads re-run
// this reconcile); fresh from KMS when the object changed since it was last reconciled, while
// anything is in flight, and before any action.
// Never: schedules deletion of (or disables) a key that any workload references, or that any object
// in any namespace uses by its ARN (src/keys/key-usage.ts), or whose deletion another KmsKey holds the
// authority for; removes the
// finalizer before cleanup succeeded; acts on a key by alias after it was resolved (status.keyArn
// is the identity from then on, so re-pointing an alias never moves the object to another key).

import type { KmsKeyStatus } from '../api/kmskey.ts';
import { cmkResources, type KeyReferencingObject, type KmsKeyObject } from '../api/resources.ts';
import type { WorkloadReference } from '../api/shared.ts';
import { removeCondition } from '../runtime/conditions.ts';
import type { ReconcileContext } from '../runtime/controller.ts';
import { executor, type ReconcilerKind } from '../runtime/executor.ts';
import { outcomeFor } from '../runtime/outcome.ts';
import { progressWait, tablesVersion, workloadProgress } from './key-progress.ts';
import { kmsKeyActions } from './kmskey-actions.ts';
import {
  type KmsKeyObservationSet,
  type KmsKeyReconcilerDeps,
  keyArnOf,
  policyRefusalsOf,
  readKey,
  refusalOf,
  targetOf,
} from './kmskey-observe.ts';
import {
  type KmsKeyAction,
  type KmsKeyPlan,
  kmsKeyFinalizer,
  planKmsKey,
  reportsRotation,
} from './kmskey-plan.ts';
import { awsUses, checkAws, inventoryTimeWait, keyClaims, usageOf } from './kmskey-usage.ts';
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

/** Actions that change the key in KMS. */
const kmsChanges = new Set<string>([...awsActions, 'CreateKey']);

/** KMS changes of the key's rotation and material only: its policy and grants stay (KMS-009). */
const rotationActions = new Set<string>(['EnableKeyRotation', 'DisableKeyRotation', 'RotateKeyOnDemand']);

/** Actions that let the key go: they rest on no workload anywhere using it. */
const lettingGo = new Set<KmsKeyAction['type']>(['ScheduleKeyDeletion', 'RemoveFinalizer']);

export type { KmsKeyReconcilerDeps } from './kmskey-observe.ts';

type Observation = KmsKeyObservationSet;

const holds = (o: KeyReferencingObject) =>
  !o.metadata.deletionTimestamp || (o.metadata.finalizers?.length ?? 0) > 0;

function toReference(o: KeyReferencingObject): WorkloadReference {
  return { kind: o.kind ?? 'Workload', namespace: o.metadata.namespace ?? '', name: o.metadata.name };
}

export function kmsKeyKind(
  deps: KmsKeyReconcilerDeps,
): ReconcilerKind<KmsKeyObject, Observation, KmsKeyAction, KmsKeyPlan> {
  const type = cmkResources.kmsKey;

  /** Keys (by UID) whose spec changed in a reconcile that acted: their next look counts grants afresh. */
  const freshCountOwed = new Set<string>();
  return {
    type,
    finalizer: kmsKeyFinalizer,
    get: deps.getKmsKey,
    observe: async (object, ctx) => {
      // Fresh while something is in flight (a pending or running on-demand rotation, any Reconciling
      // state): its end should show at the next look, not a cache TTL later. Keys are few.
      const fresh =
        object.status?.observedGeneration !== object.metadata.generation ||
        object.status?.rotation?.pendingOnDemand !== undefined ||
        object.status?.rotation?.onDemandRotationStartDate !== undefined ||
        object.status?.conditions?.some((c) => c.type === 'Reconciling' && c.status === 'True') === true;
      // A rotation in progress is polled with DescribeKey alone (readKey): acting reads it all again.
      const { rotationCached, ...observed } = await readKey(deps, object, fresh, { pollRotation: true });
      const refusal = await refusalOf(deps, object, observed);
      const referencing = deps.referencesTo(keyOf(object)).filter(holds);
      const arn = object.status?.keyArn ?? (observed.kind === 'found' ? observed.key.arn : undefined);
      const uses = arn && deps.usesOfKey ? await deps.usesOfKey(arn) : [];
      const target = targetOf(deps, object);
      const seen = arn ? deps.inventory?.usersOf(target, arn) : undefined;
      const at = deps.inventory?.lastPass(target);
      const unread = deps.inventory?.gaps(target) ?? [];
      const o: Observation = {
        observed,
        fresh: fresh && !rotationCached,
        referencing,
        policyRefusals: policyRefusalsOf(referencing),
        liveChecked: false,
        ...(refusal ? { refusal } : {}),
        ...keyClaims(deps, object, arn, referencing, uses),
        aws: {
          users: awsUses(deps, seen ?? []),
          ...(at !== undefined ? { at } : {}),
          ...(unread.length > 0 ? { unread } : {}),
          checked: false,
        },
      };
      // A deletion held for AWS users looks at AWS again (a pass at most a minute old), so it goes
      // on soon after the last user moved, not at the next scheduled pass.
      if (object.metadata.deletionTimestamp && object.spec.deletionPolicy === 'ScheduleDeletion')
        return { ...o, aws: { ...(await checkAws(deps, object, o, ctx.signal, 60_000)), checked: false } };
      return o;
    },
    plan: (object, o) =>
      planKmsKey({
        now: deps.now(),
        spec: object.spec,
        status: object.status,
        deleting: Boolean(object.metadata.deletionTimestamp),
        hasFinalizer: object.metadata.finalizers?.includes(kmsKeyFinalizer) ?? false,
        region: targetOf(deps, object).region,
        observed: o.observed,
        references: o.referencing.map(toReference),
        keyUses: o.uses,
        awsUses: o.aws.users,
        ...(o.aws.unknown ? { awsUnknown: o.aws.unknown } : {}),
        policyRefusals: o.policyRefusals,
        ...(o.authorityHeldBy ? { authorityHeldBy: o.authorityHeldBy } : {}),
        ...(o.refusal ? { refusal: o.refusal } : {}),
      }),
    confirm: async (object, o, plan, ctx) => {
      if (!o.fresh && plan.actions.some((a) => awsActions.has(a.type)))
        return { ...o, observed: await readKey(deps, object, true), fresh: true };
      // Letting the key go (its deletion, or just the finalizer) rests on no workload using it. This
      // process's cache holds only its own shard: ask the API server about every workload first.
      if (deps.liveReferencesTo && !o.liveChecked && plan.actions.some((a) => lettingGo.has(a.type))) {
        const live = (await deps.liveReferencesTo(keyOf(object), ctx.signal)).filter(holds);
        const referencing = live.length > 0 ? live : o.referencing;
        const arn = object.status?.keyArn ?? (o.observed.kind === 'found' ? o.observed.key.arn : undefined);
        const uses = arn && deps.usesOfKey ? await deps.usesOfKey(arn, ctx.signal) : o.uses;
        return { ...o, liveChecked: true, referencing, ...keyClaims(deps, object, arn, referencing, uses) };
      }
      // Scheduling the deletion rests on AWS showing nothing on the key either: a fresh inventory
      // pass of its Region and its grants, read now.
      if (deps.inventory && !o.aws.checked && plan.actions.some((a) => a.type === 'ScheduleKeyDeletion')) {
        return { ...o, aws: await checkAws(deps, object, o, ctx.signal) };
      }
      return undefined;
    },
    decidedOnStored: new Set(['CreateKey', 'RotateKeyOnDemand']),
    released: {
      type: 'Normal',
      reason: 'Released',
      action: 'RemoveFinalizer',
      note: 'no workload references the key any more; finalizer removed',
    },
    complete: async (object, o, plan, ctx, { sinceStatusWriteMs, lookAgainIn }) => {
      // Keyspaces spends 2 grants per table against a 50,000-per-key quota: report usage when tables
      // use the key, counted again when the tables using it change (the version) or the spec does.
      // Not on every look of a rotation in progress (fresh, once a second): a rotation changes no
      // grant, and the count is a listing of pages (3 at 120 tables) in the rotation's path.
      const uid = object.metadata.uid ?? keyOf(object);
      const owed = freshCountOwed.delete(uid);
      if (o.observed.kind !== 'found' || !o.referencing.some((r) => (r.kind ?? '') === 'KeyspacesTable'))
        return o;
      const arn = o.observed.key.arn;
      const specChanged = object.status?.observedGeneration !== object.metadata.generation || owed;
      const storedGrants = object.status?.grants;
      // Nor ahead of an action (the rotation a new token asks for, a deletion): the count is status
      // only, and its pages would stand between the request and the call. The look that follows the
      // action (within 5 s; a rotation's next poll comes sooner) counts, afresh when the spec had changed.
      if (storedGrants && plan.actions.length > 0) {
        if (specChanged) freshCountOwed.add(uid);
        lookAgainIn(resync.transitioningMs);
        return { ...o, grants: storedGrants };
      }
      // Nor while tables move onto or off the key and a new count would only wait behind `paced`
      // below: the stored count stands, and the look when the wait ends counts (4,434 listings in
      // the 10,000-workload switch were made for counts that then waited).
      if (storedGrants && !specChanged) {
        const progress = workloadProgress(o.referencing, arn);
        const wait = progressWait(object.status?.workloads, progress, sinceStatusWriteMs);
        if (wait > 0) {
          // Counted when the wait ends, whether or not anything else is written before then (the
          // look then finds the count in the key cache when the tables did not change).
          lookAgainIn(wait);
          return { ...o, grants: storedGrants };
        }
      }
      try {
        const count = await deps.keys.grants(targetOf(deps, object), arn, {
          ...(specChanged ? { maxAgeMs: 0 } : {}),
          version: tablesVersion(o.referencing, arn),
        });
        return { ...o, grants: { count, limit: grantsPerKeyLimit } };
      } catch (e) {
        ctx.log.debug({ err: e }, 'grant count unavailable');
        return o;
      }
    },
    handlers: kmsKeyActions(deps),
    onFailure: async (action, error, ctx) => {
      // A failed call may still have changed the key (a timeout after KMS acted): forget it.
      const arn = keyArnOf(ctx.object, ctx.observation, ctx.results);
      if (arn) deps.keys.invalidate(arn);
      return {
        conditions: [
          {
            type: 'KeyUsable',
            status: 'Unknown',
            reason: outcomeFor(error.failure, 'act').reason,
            message: `${action.type} failed: ${error.failure.code}: ${error.failure.message}`,
          },
        ],
      };
    },
    afterActions: async (object, o, _plan, results) => {
      // What this reconcile changed in KMS is read back fresh next time, not served from the cache.
      // After a rotation only: the key's description and rotation state, not its policy and grant
      // count (a rotation leaves them, KMS-009; the count is a paged listing per key).
      const arn = keyArnOf(object, o, results);
      if (!results.mutated || !arn) return;
      const rotatedOnly = results.completed
        .filter((t) => kmsChanges.has(t))
        .every((t) => rotationActions.has(t));
      deps.keys.invalidate(arn, rotatedOnly ? ['describe', 'rotation', 'rotations'] : undefined);
    },
    subject: keyArnOf,
    // While users move, what moves with them (who references the key, progress, usage, grants) is
    // written at most every 15 s when nothing else changed; the start and the end of a move at once.
    // A later inventory pass that found the same users moves lastInventoryTime alone at most hourly.
    paced: {
      fields: ['usedBy', 'workloads', 'usage', 'grants'],
      wait: (stored, next, sinceWriteMs) =>
        inventoryTimeWait(stored, next, deps.now()) ??
        progressWait(stored.workloads, next.workloads, sinceWriteMs),
    },
    prune: (conditions, plan, object) => {
      let next = conditions;
      for (const t of ['DeletionBlocked', 'DeletionAuthority', 'ServiceAccess'])
        if (!plan.conditions.some((c) => c.type === t)) next = removeCondition(next, t);
      if (!reportsRotation(object.spec)) next = removeCondition(next, 'RotationCurrent');
      return next;
    },
    readiness: (stored, plan, results) => ({
      readyWhen: [
        'KeyUsable',
        ...(reportsRotation(stored.spec) ? ['RotationCurrent'] : []),
        ...(plan.conditions.some((c) => c.type === 'ServiceAccess') ? ['ServiceAccess'] : []),
      ],
      ready: { reason: 'KeyReady', message: 'key usable and configured as declared' },
      ...((plan.status.rotation?.onDemandRotationStartDate ??
      results.status.rotation?.onDemandRotationStartDate)
        ? { inFlight: { reason: 'RotationInProgress', message: 'on-demand rotation in progress' } }
        : {}),
    }),
    project: (stored, plan, o, results) => {
      const updates = results.status;
      const arn = updates.keyArn ?? plan.status.keyArn ?? stored.status?.keyArn;
      const next: KmsKeyStatus = {
        ...(stored.status ?? {}),
        ...(o.grants ? { grants: o.grants } : {}),
        ...plan.status,
        ...updates,
        workloads: workloadProgress(o.referencing, arn),
        usage: usageOf(o),
      };
      // The deletion date is AWS's: gone once the key is no longer pending deletion (a cancel).
      if (plan.status.keyState !== undefined && plan.status.deletionDate === undefined)
        delete next.deletionDate;
      if (plan.status.rotation && updates.rotation)
        next.rotation = { ...plan.status.rotation, ...updates.rotation };
      const intent = stored.status?.rotation?.pendingOnDemand;
      // A rotation KMS answered (rotated, deferred or refused) settles its intent.
      if (results.completed.includes('RotateKeyOnDemand') && next.rotation) {
        next.rotation = { ...next.rotation };
        delete next.rotation.pendingOnDemand;
      } else if (intent && next.rotation && next.rotation.lastOnDemandToken !== intent.token) {
        // The call may have reached KMS (a timeout, a crash): keep the intent for the next look.
        next.rotation = { ...next.rotation, pendingOnDemand: intent };
      }
      return next;
    },
  };
}

/** `namespace/name` of a KmsKey, the key its references are indexed by. */
function keyOf(o: KmsKeyObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export function kmsKeyReconciler(deps: KmsKeyReconcilerDeps) {
  return executor(kmsKeyKind(deps), deps, resync);
}

export type { ReconcileContext };
