// Who may do what to a key: the key policy evaluated for the caller (emulator/policy.ts), grants for
// the grantable operations, IAM-only operations, and the policy lockout safety check. Pure: every
// function reads the key record and the call context it is given and either returns or throws the
// AccessDenied/MalformedPolicy error in AWS's wording.

import { iamAllows } from '../../core/identity.ts';
import { commonErrors } from '../../core/protocol.ts';
import type { CallContext, JsonObject } from '../../core/service.ts';
import { evaluateKeyPolicy, type PolicyDocument, type RequestContext } from '../../policy.ts';
import { callerNames, err, grantOperations, requestPrincipal } from './rules.ts';
import type { KeyRecord } from './state.ts';

/** What a grant must cover for a call: its encryption context, and for CreateGrant the new grant. */
export interface GrantUse {
  ec?: Record<string, string> | undefined;
  newGrant?: { operations: readonly string[]; equals: boolean };
}

/** The condition keys every key-policy evaluation sees. */
function baseContext(ctx: CallContext, k: KeyRecord): Record<string, string | string[]> {
  const principal = requestPrincipal(ctx.caller);
  const c: Record<string, string | string[]> = {
    'kms:CallerAccount': ctx.caller.accountId,
    'aws:PrincipalArn': principal.kind === 'aws' ? (principal.roleArn ?? ctx.caller.arn) : ctx.caller.arn,
    'aws:PrincipalAccount': ctx.caller.accountId,
    'aws:RequestedRegion': ctx.region,
    'kms:KeySpec': k.keySpec,
    'kms:KeyUsage': k.keyUsage,
    'kms:KeyOrigin': k.origin,
    'kms:MultiRegion': String(k.multiRegion),
    'kms:ResourceAliases': [...k.aliases],
  };
  for (const [tk, tv] of k.tags) c[`aws:ResourceTag/${tk}`] = tv;
  return c;
}

/** `kms:EncryptionContext:<key>` and `kms:EncryptionContextKeys` for a request's context. */
export function encryptionContextConditions(
  ec: Record<string, string> | undefined,
): Record<string, string | string[]> {
  const c: Record<string, string | string[]> = {};
  if (!ec) return c;
  for (const [k, val] of Object.entries(ec)) c[`kms:EncryptionContext:${k}`] = val;
  c['kms:EncryptionContextKeys'] = Object.keys(ec);
  return c;
}

/** `kms:RequestAlias` when the request named the key through an alias. */
export function requestAliasContext(input: JsonObject): RequestContext {
  const ref = input['KeyId'];
  if (typeof ref !== 'string') return {};
  if (ref.startsWith('alias/')) return { 'kms:RequestAlias': ref };
  const m = /^arn:[^:]+:kms:[^:]+:\d{12}:(alias\/.+)$/.exec(ref);
  return m ? { 'kms:RequestAlias': m[1]! } : {};
}

/**
 * KMS-013: whether a grant lets the caller do `op`. Encryption-context constraints apply only to
 * operations that take a context (grant constraint keys compare case-insensitively, values exactly, as
 * KMS documents); DescribeKey and RetireGrant ignore them. CreateGrant through a grant needs the new
 * grant to stay within the parent's operations and be at least as strictly constrained.
 */
export function grantAllows(ctx: CallContext, k: KeyRecord, op: string, use: GrantUse): boolean {
  if (k.grants.size === 0) return false;
  const names = callerNames(ctx.caller);
  const candidates = [...names].flatMap((n) => (n ? [...(k.grantsByGrantee.get(n) ?? [])] : []));
  const lower = (m: Record<string, string> | undefined) =>
    new Map(Object.entries(m ?? {}).map(([ck, cv]) => [ck.toLowerCase(), cv]));
  const actual = lower(use.ec);
  const constrained = !['DescribeKey', 'RetireGrant'].includes(op);
  for (const id of candidates) {
    const g = k.grants.get(id);
    if (!g?.granteePrincipal || !names.has(g.granteePrincipal) || !g.operations.includes(op)) continue;
    if (use.newGrant) {
      if (!use.newGrant.operations.every((o) => g.operations.includes(o))) continue;
      if (g.constraints?.EncryptionContextEquals && !use.newGrant.equals) continue;
    }
    if (constrained) {
      const subset = g.constraints?.EncryptionContextSubset;
      const equals = g.constraints?.EncryptionContextEquals;
      if (subset && ![...lower(subset)].every(([ck, cv]) => actual.get(ck) === cv)) continue;
      if (equals) {
        const want = lower(equals);
        if (actual.size !== want.size || ![...want].every(([ck, cv]) => actual.get(ck) === cv)) continue;
      }
    }
    return true;
  }
  return false;
}

/**
 * Evaluates the key policy (and grants for grantable operations) for the caller; throws
 * AccessDeniedException in AWS's wording when the call is not allowed.
 */
export function authorize(
  ctx: CallContext,
  k: KeyRecord,
  op: string,
  extra: RequestContext = {},
  grant?: GrantUse,
): void {
  const action = `kms:${op}`;
  const decision = evaluateKeyPolicy(k.policy, {
    principal: requestPrincipal(ctx.caller),
    action,
    resource: k.arn,
    context: { ...baseContext(ctx, k), ...extra },
  });
  if (decision.effect === 'Allow') return;
  const who = `User: ${ctx.caller.arn} is not authorized to perform: ${action} on resource: ${k.arn}`;
  if (decision.effect === 'ExplicitDeny')
    throw commonErrors.accessDenied(`${who} with an explicit deny in a resource-based policy`);
  if (grant && (grantOperations as readonly string[]).includes(op) && grantAllows(ctx, k, op, grant)) return;
  throw commonErrors.accessDenied(
    decision.iamDenied
      ? `${who} because no identity-based policy allows the ${action} action`
      : `${who} because no resource-based policy allows the ${action} action`,
  );
}

/** Operations that KMS authorizes with IAM policies only (no key is involved). */
export function authorizeIam(ctx: CallContext, op: string, resource = '*'): void {
  if (!iamAllows(ctx.caller.iamAllow, `kms:${op}`))
    throw commonErrors.accessDenied(
      `User: ${ctx.caller.arn} is not authorized to perform: kms:${op} on resource: ${resource} because no identity-based policy allows the kms:${op} action`,
    );
}

/** The lockout safety check of CreateKey/PutKeyPolicy: the caller must keep kms:PutKeyPolicy. */
export function lockoutCheck(ctx: CallContext, policy: PolicyDocument, keyArn: string): void {
  const d = evaluateKeyPolicy(policy, {
    principal: requestPrincipal(ctx.caller),
    action: 'kms:PutKeyPolicy',
    resource: keyArn,
    context: { 'kms:CallerAccount': ctx.caller.accountId, 'aws:PrincipalAccount': ctx.caller.accountId },
  });
  if (d.effect !== 'Allow')
    throw err.malformedPolicy(
      'The new key policy will not allow you to update the key policy in the future.',
    );
}
