// The KmsKey kind's action handlers: each KMS mutation the plan asks for, with its audit record and
// Event. The executor (src/runtime/executor.ts) runs them in plan order and maps a failure; the
// one-shot actions (a new key, an on-demand rotation) record what they do in status at once.

import type { KmsKeyObject } from '../api/resources.ts';
import type { AwsClients } from '../aws/clients.ts';
import { AwsCallError } from '../aws/errors.ts';
import { createKey, keyMutations } from '../aws/kms.ts';
import { generateKeyPolicy } from '../keys/policy.ts';
import type { ActionContext, ActionHandlers } from '../runtime/executor.ts';
import { type KmsKeyObservationSet, type KmsKeyReconcilerDeps, keyArnOf, targetOf } from './kmskey.ts';
import type { KmsKeyAction, KmsKeyPlan } from './kmskey-plan.ts';

type Context = ActionContext<KmsKeyObject, KmsKeyObservationSet>;

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
    CreateKey: async (action, ctx) => {
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
      const facts = await createKey(kmsOf(ctx), {
        ...(action.description ? { description: action.description } : {}),
        ...(policy ? { policy } : {}),
        ...(action.alias ? { alias: action.alias } : {}),
        tags: {
          ...action.tags,
          'cmk.io/owner': `${deps.clusterName}/${object.metadata.namespace}/${object.metadata.name}`,
          ...(object.metadata.uid ? { 'cmk.io/uid': object.metadata.uid } : {}),
        },
      });
      // Record the new key at once, whatever else happens: a crash after this line must adopt
      // it, not create another.
      await ctx.recordNow(() => ({ keyArn: facts.arn, keyId: facts.keyId }), { evenIfAborted: true });
      ctx.audit('CreateKey', { to: facts.arn, alias: action.alias });
      ctx.record({
        type: 'Normal',
        reason: 'KeyCreated',
        action: 'CreateKey',
        note: `created ${facts.arn}${action.alias ? ` with alias ${action.alias}` : ''}`,
      });
      return { status: { keyArn: facts.arn, keyId: facts.keyId }, mutated: true };
    },
    EnableKeyRotation: async (action, ctx) => {
      const out = await keyMutations.enableKeyRotation(kmsOf(ctx), arnOf(ctx), action.periodInDays);
      ctx.audit('EnableKeyRotation', { periodInDays: action.periodInDays }, out.$metadata.requestId);
      ctx.record({
        type: 'Normal',
        reason: 'RotationEnabled',
        action: 'EnableKeyRotation',
        note: describeAction(action),
      });
      return { mutated: true };
    },
    DisableKeyRotation: async (_action, ctx) => {
      const out = await keyMutations.disableKeyRotation(kmsOf(ctx), arnOf(ctx));
      ctx.audit('DisableKeyRotation', {}, out.$metadata.requestId);
      ctx.record({
        type: 'Normal',
        reason: 'RotationDisabled',
        action: 'DisableKeyRotation',
        note: 'automatic rotation disabled',
      });
      return { mutated: true };
    },
    RotateKeyOnDemand: (action, ctx, plan) => rotateOnDemand(deps, action, ctx, plan, kmsOf(ctx), arnOf(ctx)),
    CancelKeyDeletion: async (_action, ctx) => {
      const out = await keyMutations.cancelKeyDeletion(kmsOf(ctx), arnOf(ctx));
      ctx.audit('CancelKeyDeletion', { from: 'PendingDeletion', to: 'Disabled' }, out.$metadata.requestId);
      ctx.record({
        type: 'Warning',
        reason: 'KeyDeletionCancelled',
        action: 'CancelKeyDeletion',
        note: 'the key was scheduled for deletion while workloads use it; deletion cancelled (the key stays Disabled until enabled)',
      });
      return { mutated: true };
    },
    EnableKey: async (_action, ctx) => {
      const out = await keyMutations.enableKey(kmsOf(ctx), arnOf(ctx));
      ctx.audit('EnableKey', { from: 'Disabled', to: 'Enabled' }, out.$metadata.requestId);
      ctx.record({
        type: 'Warning',
        reason: 'KeyReenabled',
        action: 'EnableKey',
        note: 'the key was disabled while workloads use it; enabled again',
      });
      return { mutated: true };
    },
    ScheduleKeyDeletion: async (action, ctx) => {
      const out = await keyMutations.scheduleKeyDeletion(kmsOf(ctx), arnOf(ctx), action.pendingWindowInDays);
      ctx.audit(
        'ScheduleKeyDeletion',
        { pendingWindowInDays: action.pendingWindowInDays },
        out.$metadata.requestId,
      );
      ctx.record({
        type: 'Normal',
        reason: 'KeyDeletionScheduled',
        action: 'ScheduleKeyDeletion',
        note: describeAction(action),
      });
      return { mutated: true };
    },
  };
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
  const requestedAt = new Date(deps.now()).toISOString();
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
