// The KmsKey kind's action handlers: each KMS mutation the plan asks for, with its audit record and
// Event. The executor (src/runtime/executor.ts) runs them in plan order and maps a failure; the
// one-shot actions (a new key, an on-demand rotation) record what they do in status at once.

import type { KmsKeyStatus } from '../api/kmskey.ts';
import type { KmsKeyObject } from '../api/resources.ts';
import type { AwsClients } from '../aws/clients.ts';
import { AwsCallError } from '../aws/errors.ts';
import { createAlias, createKey, describeKey, findKeyTagged, keyMutations, keyTags } from '../aws/kms.ts';
import type { KeyFacts } from '../keys/key-facts.ts';
import { generateKeyPolicy } from '../keys/policy.ts';
import type { ActionContext, ActionHandlers, ActionResult } from '../runtime/executor.ts';
import {
  type KmsKeyObservationSet,
  type KmsKeyReconcilerDeps,
  keyArnOf,
  targetOf,
} from './kmskey-observe.ts';
import { type KmsKeyAction, type KmsKeyPlan, rotationPollMs } from './kmskey-plan.ts';
import type { PlannedEvent } from './types.ts';
import { intentTime, resync } from './types.ts';

type Context = ActionContext<KmsKeyObject, KmsKeyObservationSet>;
type Kms = ReturnType<AwsClients['kms']>;
type CreateKeyAction = Extract<KmsKeyAction, { type: 'CreateKey' }>;

/** The tag CreateKey puts on every key it makes: the object's UID, how a lost record finds its key. */
const uidTag = 'cmk.io/uid';

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

export function kmsKeyActions(
  deps: KmsKeyReconcilerDeps,
): ActionHandlers<KmsKeyObject, KmsKeyAction, KmsKeyPlan, KmsKeyObservationSet> {
  const kmsOf = (ctx: Context) => deps.aws.kms(targetOf(deps, ctx.object));
  const arnOf = (ctx: Context) => keyArnOf(ctx.object, ctx.observation, ctx.results);
  return {
    CreateKey: (action, ctx) => createKeyOnce(deps, action, ctx, kmsOf(ctx)),
    EnableKeyRotation: (action, ctx) =>
      mutation(
        ctx,
        action.type,
        () => keyMutations.enableKeyRotation(kmsOf(ctx), arnOf(ctx), action.periodInDays),
        {
          detail: { periodInDays: action.periodInDays },
          event: { type: 'Normal', reason: 'RotationEnabled', note: describeAction(action) },
        },
      ),
    DisableKeyRotation: (action, ctx) =>
      mutation(ctx, action.type, () => keyMutations.disableKeyRotation(kmsOf(ctx), arnOf(ctx)), {
        detail: {},
        event: { type: 'Normal', reason: 'RotationDisabled', note: 'automatic rotation disabled' },
      }),
    RotateKeyOnDemand: (action, ctx, plan) => rotateOnDemand(deps, action, ctx, plan, kmsOf(ctx), arnOf(ctx)),
    CancelKeyDeletion: (action, ctx) =>
      mutation(ctx, action.type, () => keyMutations.cancelKeyDeletion(kmsOf(ctx), arnOf(ctx)), {
        detail: { from: 'PendingDeletion', to: 'Disabled' },
        event: {
          type: 'Warning',
          reason: 'KeyDeletionCancelled',
          note: 'the key was scheduled for deletion while workloads use it; deletion cancelled (the key stays Disabled until enabled)',
        },
      }),
    EnableKey: (action, ctx) =>
      mutation(ctx, action.type, () => keyMutations.enableKey(kmsOf(ctx), arnOf(ctx)), {
        detail: { from: 'Disabled', to: 'Enabled' },
        event: {
          type: 'Warning',
          reason: 'KeyReenabled',
          note: 'the key was disabled while workloads use it; enabled again',
        },
      }),
    ScheduleKeyDeletion: (action, ctx) =>
      mutation(
        ctx,
        action.type,
        () => keyMutations.scheduleKeyDeletion(kmsOf(ctx), arnOf(ctx), action.pendingWindowInDays),
        {
          detail: { pendingWindowInDays: action.pendingWindowInDays },
          event: { type: 'Normal', reason: 'KeyDeletionScheduled', note: describeAction(action) },
        },
      ),
  };
}

/** One KMS mutation: the call, its audit record and its Event (the executor forgets the cached key). */
async function mutation(
  ctx: Context,
  action: string,
  call: () => Promise<{ $metadata: { requestId?: string } }>,
  record: { detail: Record<string, unknown>; event: Omit<PlannedEvent, 'action'> },
) {
  const out = await call();
  ctx.audit(action, record.detail, out.$metadata.requestId);
  ctx.record({ ...record.event, action });
  return { mutated: true };
}

/**
 * When an on-demand rotation for `token` was requested. The same request asked for again within
 * `sameIntentMs` (a throttled call, retried: AWS refused it before it acted, AWS-006) keeps the stored
 * time, so its intent is already stored and is not written again; otherwise now.
 */
export function retriedRequestAt(
  stored: { token?: string; requestedAt?: string } | undefined,
  token: string,
  now: number,
): string {
  return intentTime(stored?.requestedAt, stored?.token === token, now);
}

/**
 * An on-demand rotation, exactly once per token: the intent is written before the call, so a
 * restart after the call but before the result is recorded finds the rotation in KMS and does not
 * rotate again. A refusal settles the intent: deferred while an automatic rotation runs, stalled
 * when the per-key cap of on-demand rotations is used up (never retried for that token).
 */
async function rotateOnDemand(
  deps: KmsKeyReconcilerDeps,
  action: Extract<KmsKeyAction, { type: 'RotateKeyOnDemand' }>,
  ctx: Context,
  plan: KmsKeyPlan,
  kms: ReturnType<AwsClients['kms']>,
  keyArn: string,
) {
  const requestedAt = retriedRequestAt(
    ctx.object.status?.rotation?.pendingOnDemand,
    action.token,
    deps.now(),
  );
  await ctx.recordNow((stored) => ({
    rotation: {
      ...(stored.status?.rotation ?? { enabled: false }),
      pendingOnDemand: {
        token: action.token,
        requestedAt,
        ...(plan.status.rotation?.recent?.[0]
          ? { lastRotationBefore: plan.status.rotation.recent[0].date }
          : {}),
      },
    },
  }));
  const base = plan.status.rotation ?? { enabled: false };
  try {
    const out = await keyMutations.rotateKeyOnDemand(kms, keyArn);
    ctx.audit('RotateKeyOnDemand', { token: action.token }, out.$metadata.requestId);
    ctx.record({
      type: 'Normal',
      reason: 'RotationStarted',
      action: 'RotateKeyOnDemand',
      note: describeAction(action),
    });
    return {
      status: {
        rotation: {
          ...base,
          lastOnDemandToken: action.token,
          lastOnDemandRefusal: undefined,
          onDemandRotationStartDate: requestedAt,
        },
      },
      mutated: true,
      // The new material becomes current in the background, most often within seconds (KMS-009):
      // looked for every rotationPollMs, not after the usual transition wait.
      followAfterMs: rotationPollMs,
    };
  } catch (e) {
    if (!(e instanceof AwsCallError)) throw e;
    // KMS refused: nothing rotated, the intent is void.
    if (e.failure.cause === 'Conflict') {
      // An automatic rotation is running or due within 20 minutes: try again after it.
      return {
        deferred: {
          reason: 'RotationConflict',
          message: `on-demand rotation deferred: ${e.failure.message}`,
          retryAfterMs: 5 * 60_000,
        },
      };
    }
    if (e.failure.cause === 'QuotaExceeded') {
      // The per-key on-demand cap is used up and not adjustable: never retry this token.
      const message = `on-demand rotation for token ${action.token} refused: ${e.failure.message} (the per-key cap of on-demand rotations is used up; automatic rotation still works)`;
      ctx.record({
        type: 'Warning',
        reason: 'OnDemandRotationRefused',
        action: 'RotateKeyOnDemand',
        note: message,
      });
      return {
        status: {
          rotation: { ...base, lastOnDemandToken: action.token, lastOnDemandRefusal: message },
        },
        conditions: [
          {
            type: 'RotationCurrent',
            status: 'False' as const,
            reason: 'OnDemandRotationLimitExceeded',
            message,
          },
        ],
        stalled: { reason: 'OnDemandRotationLimitExceeded', message },
      };
    }
    throw e;
  }
}

/**
 * A key for spec.create, made at most once per object (issue #13 item 4), however often this runs:
 * - the intent (status.creation) is written before CreateKey and the key it returns recorded in it at
 *   once; status.keyArn is set, and the intent removed, only once the alias is in place;
 * - an intent without a recorded key (a retry, a restart that lost the status write) means CreateKey
 *   may have run: the key is looked for before another is made, through the alias, then by its
 *   cmk.io/uid tag (CreateKey carries the tags, KMS-020), never by creating a second one;
 * - an alias another key holds is found before CreateKey (no key made), and, taken in the moment
 *   between CreateKey and CreateAlias, refused by KMS (KMS-019) with the key already recorded: either
 *   way the object is Stalled (AliasInUse) naming the holder, and looked at again each minute.
 */
async function createKeyOnce(
  deps: KmsKeyReconcilerDeps,
  action: CreateKeyAction,
  ctx: Context,
  kms: Kms,
): Promise<ActionResult<KmsKeyStatus> | undefined> {
  const object = ctx.object;
  if (object.status?.keyArn) return undefined; // planned on a cache that lagged: the key is recorded
  const uid = object.metadata.uid ?? '';
  const intent = object.status?.creation;
  const holder = action.alias ? await describeKey(kms, action.alias) : undefined;
  const holderIsOurs =
    holder !== undefined && (holder.arn === intent?.keyArn || (await taggedWith(kms, holder.arn, uid)));
  if (holder && !holderIsOurs) return aliasInUse(ctx, action.alias!, holder.arn, intent?.keyArn);

  let key = holderIsOurs ? holder : intent ? await keyCreatedBefore(ctx, kms, intent, uid) : undefined;
  if (key === 'searchIncomplete') return searchIncomplete(ctx, uid);
  if (key) {
    ctx.log.info({ keyArn: key.arn, requestedAt: intent?.requestedAt }, 'adopting the key created earlier');
  } else {
    key = await createOnce(deps, action, ctx, kms);
  }
  if (action.alias && !holderIsOurs) {
    const alias = await createAlias(kms, action.alias, key.keyId);
    if ('heldBy' in alias) return { ...aliasInUse(ctx, action.alias, alias.heldBy, key.arn), mutated: true };
    ctx.audit('CreateAlias', { alias: action.alias, to: key.arn });
  }
  return { status: { keyArn: key.arn, keyId: key.keyId, creation: undefined }, mutated: true };
}

/** CreateKey, its intent written before the call and the key recorded at once after it. */
async function createOnce(
  deps: KmsKeyReconcilerDeps,
  action: CreateKeyAction,
  ctx: Context,
  kms: Kms,
): Promise<KeyFacts> {
  const object = ctx.object;
  const target = targetOf(deps, object);
  const who = await deps.callerIdentity(target);
  const policy = action.policy
    ? JSON.stringify(
        generateKeyPolicy({
          accountId: who.accountId,
          region: target.region,
          services: action.policy.services,
          keyAdministrators: action.policy.keyAdministrators,
          keyUsers: action.policy.keyUsers.length > 0 ? action.policy.keyUsers : who.arn ? [who.arn] : [],
        }),
      )
    : undefined;
  const requestedAt = new Date(deps.now()).toISOString();
  await ctx.recordNow(() => ({ creation: { requestedAt } }));
  let key: KeyFacts;
  try {
    key = await createKey(kms, {
      ...(action.description ? { description: action.description } : {}),
      ...(policy ? { policy } : {}),
      tags: {
        ...action.tags,
        'cmk.io/owner': `${deps.clusterName}/${object.metadata.namespace}/${object.metadata.name}`,
        ...(object.metadata.uid ? { [uidTag]: object.metadata.uid } : {}),
      },
    });
  } catch (e) {
    // Refused for what the request is (denied, invalid): no attempt made a key, the intent is void
    // and the retry creates without a search. Anything else (a timeout, a 5xx, throttling or a quota
    // after the SDK's own retries) may follow an attempt that made one: kept, so the key is looked for.
    if (
      e instanceof AwsCallError &&
      (e.failure.cause === 'AccessDenied' || e.failure.cause === 'InvalidSpec')
    )
      await ctx.recordNow(() => ({ creation: undefined }), { evenIfAborted: true });
    throw e;
  }
  // Recorded whatever happens next (leadership lost included): a retry adopts it, never makes another.
  await ctx.recordNow(() => ({ creation: { requestedAt, keyArn: key.arn } }), { evenIfAborted: true });
  ctx.audit('CreateKey', { to: key.arn, alias: action.alias });
  ctx.record({
    type: 'Normal',
    reason: 'KeyCreated',
    action: 'CreateKey',
    note: `created ${key.arn}${action.alias ? ` (alias ${action.alias} next)` : ''}`,
  });
  return key;
}

/**
 * The key an earlier CreateKey made for this object: the one recorded in the intent, else the one
 * tagged with its UID (a bounded search; 'searchIncomplete' when the bound ended it unanswered).
 * Undefined: no such key, CreateKey never reached KMS.
 */
async function keyCreatedBefore(
  ctx: Context,
  kms: Kms,
  intent: NonNullable<KmsKeyStatus['creation']>,
  uid: string,
): Promise<KeyFacts | 'searchIncomplete' | undefined> {
  if (intent.keyArn) {
    const recorded = await describeKey(kms, intent.keyArn);
    if (recorded) return recorded;
  }
  if (!uid) return undefined;
  const search = await findKeyTagged(kms, { key: uidTag, value: uid });
  ctx.log.info({ uid, ...search }, 'looked for a key created before its record was lost');
  if (search.keyArn) return describeKey(kms, search.keyArn);
  return search.complete ? undefined : 'searchIncomplete';
}

/** The key carries this object's UID tag; a key whose tags this operator may not read is not its own. */
async function taggedWith(kms: Kms, keyArn: string, uid: string): Promise<boolean> {
  try {
    return uid !== '' && (await keyTags(kms, keyArn))[uidTag] === uid;
  } catch (e) {
    if (e instanceof AwsCallError && e.failure.cause === 'AccessDenied') return false;
    throw e;
  }
}

/** Stalled: the alias is another key's. Looked at again each minute, so the key follows once it is freed. */
function aliasInUse(
  ctx: Context,
  alias: string,
  holderArn: string,
  ownKeyArn: string | undefined,
): ActionResult<KmsKeyStatus> {
  const message =
    `alias ${alias} is held by ${holderArn}, a key this KmsKey did not create; ` +
    (ownKeyArn
      ? `the key created for it, ${ownKeyArn}, is recorded in status.creation and gets the alias once it is free. `
      : 'no key was created. ') +
    `Fix: delete or re-point the alias (aws kms delete-alias --alias-name ${alias}), or delete this KmsKey and create one with another alias`;
  ctx.record({ type: 'Warning', reason: 'AliasInUse', action: 'CreateKey', note: message });
  return {
    conditions: [{ type: 'KeyUsable', status: 'False', reason: 'AliasInUse', message }],
    stalled: { reason: 'AliasInUse', message },
    deferred: { reason: 'AliasInUse', message, retryAfterMs: resync.slowMs },
  };
}

/** Stalled: CreateKey may have run, and the bounded search could not tell; creating again could orphan a key. */
function searchIncomplete(ctx: Context, uid: string): ActionResult<KmsKeyStatus> {
  const message =
    `a key creation was requested at ${ctx.object.status?.creation?.requestedAt} and its result was not recorded; ` +
    `no key tagged ${uidTag}=${uid} was found within the search bound (too many keys in the account and Region). ` +
    `Fix: find the key tagged ${uidTag}=${uid} and adopt it (a KmsKey with spec.keyId), or remove status.creation to create a new key`;
  ctx.record({ type: 'Warning', reason: 'KeySearchIncomplete', action: 'CreateKey', note: message });
  return {
    conditions: [{ type: 'KeyUsable', status: 'False', reason: 'KeySearchIncomplete', message }],
    stalled: { reason: 'KeySearchIncomplete', message },
  };
}
