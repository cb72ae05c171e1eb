// The STS emulator (awsQuery, 2011-06-15): GetCallerIdentity and AssumeRole, enough for an operator
// that assumes a per-tenant role before touching KMS and the workload services. A session created by
// AssumeRole is registered as a principal, so later calls signed with its access key act as the role:
// KMS key policies see `arn:aws:sts::<acct>:assumed-role/<role>/<session>`, and the role's `iamAllow`
// (narrowed by an inline session policy) bounds what the session may do.
//
// Seed: none of its own. Roles come from the top-level `roles: [{arn, iamAllow?}]` section.
//
// Choices where AWS is not modelled or not documented (stricter side taken):
// - Which roles may be assumed: when roles are seeded, only those (anything else is AccessDenied, as
//   when a trust policy does not name the caller). When none are seeded, any role ARN in the
//   caller's own account, as an administrator; cross-account roles must be seeded. Trust policies
//   are modelled only as far as a seeded role's `trust` says: an `externalId` that AssumeRole must
//   present exactly (IAM-005), whether `sts:TagSession` is allowed, and `aws:RequestTag` patterns the
//   session tags must match (IAM-006); every refusal is AccessDenied, as AWS gives no other hint. A
//   role without `trust` takes any ExternalId and any tags (trust not modelled).
// - Session tags are recorded on the session's principal (`sessionTags`, the principal tags it
//   carries); role chaining does not pass them on (transitive tags are not modelled).
// - The caller needs `sts:AssumeRole` in its iamAllow. A seeded principal whose ARN is the account
//   root is refused ("Roles may not be assumed by root accounts"); unknown access keys (the
//   emulator's implicit administrator) may assume roles.
// - DurationSeconds 900-43200 (default 3600); a role's own MaxSessionDuration is not modelled, but
//   role chaining (an assumed-role session calling AssumeRole) is capped at 3600 as in AWS.
// - Inline session policies (`Policy`) narrow the session: an action is allowed only if both the
//   role's iamAllow and an Allow statement of the policy allow it (patterns are intersected when one
//   contains the other; partial overlaps are dropped, so the session can only end up with less).
//   Deny statements, resources and conditions in session policies are not evaluated. Managed session
//   policies (`PolicyArns`) are rejected: the emulator cannot know what they allow.
// - Session credentials never expire: tests advance the emulator clock by days while the SDK
//   refreshes credentials on wall time, so expiring them would break flows that are valid in AWS.

import { createHash } from 'node:crypto';
import type { Principal, Role } from '../core/identity.ts';
import { iamAllows, wildcardMatch } from '../core/identity.ts';
import { AwsError, xmlEscape } from '../core/protocol.ts';
import { seededRandom } from '../core/random.ts';
import type { CallContext, JsonObject, ServiceRuntime } from '../core/service.ts';
import type { World } from '../core/world.ts';

const namespace = 'https://sts.amazonaws.com/doc/2011-06-15/';
const upperAlnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const base64Chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const namePattern = /^[\w+=,.@-]*$/;
const roleArnPattern = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;

const validationError = (message: string) => new AwsError('ValidationError', message, 400);

function constraint(member: string, value: unknown, text: string): AwsError {
  return validationError(
    `1 validation error detected: Value ${JSON.stringify(value) ?? 'null'} at '${member}' failed to satisfy constraint: ${text}`,
  );
}

/** Query-protocol members arrive as strings; `member` is the camelCase name AWS uses in messages. */
function optString(
  input: JsonObject,
  name: string,
  member: string,
  opts: { min?: number; max?: number; pattern?: RegExp } = {},
): string | undefined {
  const value = input[name];
  if (value === undefined) return undefined;
  const s = String(value);
  if (opts.min !== undefined && s.length < opts.min)
    throw constraint(member, s, `Member must have length greater than or equal to ${opts.min}`);
  if (opts.max !== undefined && s.length > opts.max)
    throw constraint(member, s, `Member must have length less than or equal to ${opts.max}`);
  if (opts.pattern && !opts.pattern.test(s))
    throw constraint(member, s, `Member must satisfy regular expression pattern: ${opts.pattern.source}`);
  return s;
}

function requiredString(
  input: JsonObject,
  name: string,
  member: string,
  opts: { min?: number; max?: number; pattern?: RegExp } = {},
): string {
  const s = optString(input, name, member, opts);
  if (s === undefined) throw constraint(member, null, 'Member must not be null');
  return s;
}

function optInteger(input: JsonObject, name: string, member: string, min: number, max: number) {
  const value = input[name];
  if (value === undefined) return undefined;
  const s = String(value);
  if (!/^-?\d+$/.test(s)) throw constraint(member, s, 'Member must be an integer');
  const n = Number(s);
  if (n < min) throw constraint(member, n, `Member must have value greater than or equal to ${min}`);
  if (n > max) throw constraint(member, n, `Member must have value less than or equal to ${max}`);
  return n;
}

/** Members of a query-protocol list (`Tags.member.1.Key`...) grouped by index, in index order. */
function listMembers(input: JsonObject, list: string): Array<Record<string, string>> {
  const byIndex = new Map<number, Record<string, string>>();
  const prefix = `${list}.member.`;
  for (const [k, raw] of Object.entries(input)) {
    if (!k.startsWith(prefix)) continue;
    const rest = k.slice(prefix.length);
    const dot = rest.indexOf('.');
    const index = Number(dot === -1 ? rest : rest.slice(0, dot));
    if (!Number.isInteger(index)) continue;
    const entry = byIndex.get(index) ?? {};
    entry[dot === -1 ? '' : rest.slice(dot + 1)] = String(raw);
    byIndex.set(index, entry);
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, e]) => e);
}

/** The Allow actions of an inline session policy; throws MalformedPolicyDocument on bad JSON. */
function sessionPolicyActions(policy: string): string[] {
  const malformed = (why: string) => new AwsError('MalformedPolicyDocument', why, 400);
  let doc: unknown;
  try {
    doc = JSON.parse(policy);
  } catch {
    throw malformed('The policy is not in the valid JSON format.');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw malformed('The policy is not in the valid JSON format.');
  const statements = (doc as JsonObject)['Statement'];
  const list = Array.isArray(statements) ? statements : statements === undefined ? [] : [statements];
  if (list.length === 0) throw malformed('Syntax errors in policy.');
  const actions: string[] = [];
  for (const st of list) {
    if (st === null || typeof st !== 'object') throw malformed('Syntax errors in policy.');
    const s = st as JsonObject;
    if (s['Effect'] !== 'Allow' && s['Effect'] !== 'Deny') throw malformed('Syntax errors in policy.');
    if (s['Effect'] !== 'Allow') continue;
    const action = s['Action'];
    for (const a of Array.isArray(action) ? action : action === undefined ? [] : [action]) {
      if (typeof a !== 'string') throw malformed('Syntax errors in policy.');
      actions.push(a);
    }
  }
  return actions;
}

/**
 * Patterns allowed by both lists. Where one pattern contains the other the narrower one survives;
 * patterns that only partly overlap are dropped, so the result never allows more than either list.
 */
export function intersectAllow(role: string[] | undefined, session: string[]): string[] {
  if (role === undefined) return [...session];
  const out = new Set<string>();
  for (const r of role) {
    for (const s of session) {
      if (wildcardMatch(r, s, true)) out.add(s);
      else if (wildcardMatch(s, r, true)) out.add(r);
    }
  }
  return [...out];
}

/**
 * IAM-005, IAM-006: what a role's modelled trust policy refuses. The ExternalId must be exactly the
 * trusted one (absent or different alike); tags need sts:TagSession and must match every
 * `aws:RequestTag` pattern. Throws AccessDenied naming the STS action refused.
 */
function trustRefusal(
  ctx: CallContext,
  role: Role,
  externalId: string | undefined,
  tags: Record<string, string>,
): void {
  const trust = role.trust;
  if (!trust) return;
  const denied = (action: string) =>
    new AwsError(
      'AccessDenied',
      `User: ${ctx.caller.arn} is not authorized to perform: ${action} on resource: ${role.arn}`,
      403,
    );
  if (trust.externalId !== undefined && externalId !== trust.externalId) throw denied('sts:AssumeRole');
  const tagged = Object.keys(tags).length > 0;
  if (tagged && trust.tagSession !== true) throw denied('sts:TagSession');
  for (const [key, patterns] of Object.entries(trust.requestTags ?? {})) {
    const value = tags[key];
    if (value === undefined || !patterns.some((p) => wildcardMatch(p, value)))
      throw denied(tagged ? 'sts:TagSession' : 'sts:AssumeRole');
  }
}

/** A stable IAM-style unique id (AROA..., AIDA...) for an ARN, so GetCallerIdentity is repeatable. */
function uniqueId(prefix: string, arn: string): string {
  const digest = createHash('sha256').update(arn).digest();
  let id = prefix;
  for (let i = 0; id.length < 21; i++) id += upperAlnum[digest[i]! % upperAlnum.length];
  return id;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function envelope(action: string, result: string, requestId: string): string {
  return (
    `<${action}Response xmlns="${namespace}"><${action}Result>${result}</${action}Result>` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
  );
}

const el = (name: string, value: string | number) => `<${name}>${xmlEscape(String(value))}</${name}>`;

export function userIdFor(p: Principal): string {
  switch (p.type) {
    case 'root':
      return p.accountId;
    case 'user':
      return uniqueId('AIDA', p.arn);
    case 'role':
      return uniqueId('AROA', p.arn);
    case 'assumed-role': {
      const session = p.arn.slice(p.arn.lastIndexOf('/') + 1);
      return `${uniqueId('AROA', p.roleArn ?? p.arn)}:${session}`;
    }
  }
}

export function createStsService(world: World): ServiceRuntime {
  // Its own stream, so drawing session keys does not shift fault or transition draws.
  const random = seededRandom(world.config.seed ^ 0x737473);
  const pick = (alphabet: string, n: number) =>
    Array.from({ length: n }, () => alphabet[random.int(0, alphabet.length - 1)]).join('');
  let sessions = 0;

  function assumableRole(ctx: CallContext, roleArn: string): Role {
    const denied = () =>
      new AwsError(
        'AccessDenied',
        `User: ${ctx.caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        403,
      );
    if (!iamAllows(ctx.caller.iamAllow, 'sts:AssumeRole')) throw denied();
    const seededCaller = world.identities.all().some((p) => p.accessKeyId === ctx.caller.accessKeyId);
    if (ctx.caller.type === 'root' && seededCaller)
      throw new AwsError('AccessDenied', 'Roles may not be assumed by root accounts.', 403);
    const roles = world.identities.roles;
    if (roles.size > 0) {
      const role = roles.get(roleArn);
      if (!role) throw denied();
      return role;
    }
    const account = roleArnPattern.exec(roleArn)?.[1];
    if (account !== ctx.accountId) throw denied();
    return { arn: roleArn };
  }

  const operations = {
    GetCallerIdentity(ctx: CallContext) {
      const p = ctx.caller;
      return envelope(
        'GetCallerIdentity',
        el('Arn', p.arn) + el('UserId', userIdFor(p)) + el('Account', p.accountId),
        ctx.requestId,
      );
    },

    AssumeRole(ctx: CallContext, input: JsonObject) {
      const roleArn = requiredString(input, 'RoleArn', 'roleArn', { min: 20, max: 2048 });
      const sessionName = requiredString(input, 'RoleSessionName', 'roleSessionName', {
        min: 2,
        max: 64,
        pattern: namePattern,
      });
      const duration = optInteger(input, 'DurationSeconds', 'durationSeconds', 900, 43200) ?? 3600;
      const policy = optString(input, 'Policy', 'policy', { min: 1, max: 2048 });
      optString(input, 'SerialNumber', 'serialNumber', { min: 9, max: 256, pattern: /^[\w+=/:,.@-]*$/ });
      optString(input, 'TokenCode', 'tokenCode', { min: 6, max: 6, pattern: /^\d*$/ });
      const sourceIdentity = optString(input, 'SourceIdentity', 'sourceIdentity', {
        min: 2,
        max: 64,
        pattern: namePattern,
      });
      const tags = listMembers(input, 'Tags');
      if (tags.length > 50)
        throw constraint('tags', `[${tags.length} tags]`, 'Member must have length less than or equal to 50');
      tags.forEach((t, i) => {
        optString(t, 'Key', `tags.${i + 1}.member.key`, { min: 1, max: 128 });
        if (t['Key'] === undefined)
          throw constraint(`tags.${i + 1}.member.key`, null, 'Member must not be null');
        optString(t, 'Value', `tags.${i + 1}.member.value`, { max: 256 });
      });
      if (listMembers(input, 'PolicyArns').length > 0)
        throw validationError(
          'PolicyArns (managed session policies) are not modelled by the emulator; use an inline Policy',
        );

      const externalId = optString(input, 'ExternalId', 'externalId', {
        min: 2,
        max: 1224,
        pattern: /^[\w+=,.@:/-]*$/,
      });
      const match = roleArnPattern.exec(roleArn);
      if (!match) throw validationError(`${roleArn} is invalid`);
      const role = assumableRole(ctx, roleArn);
      const sessionTags = Object.fromEntries(tags.map((t) => [t['Key']!, t['Value'] ?? '']));
      trustRefusal(ctx, role, externalId, sessionTags);
      if (ctx.caller.type === 'assumed-role' && duration > 3600)
        throw validationError(
          'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.',
        );

      // Session tags and the inline policy share one packed budget; its exact size is AWS-internal.
      const packed =
        policy === undefined && tags.length === 0
          ? undefined
          : Math.ceil(
              (((policy?.length ?? 0) +
                tags.reduce((n, t) => n + (t['Key'] ?? '').length + (t['Value'] ?? '').length, 0)) /
                2048) *
                100,
            );
      if (packed !== undefined && packed > 100)
        throw new AwsError(
          'PackedPolicyTooLarge',
          `Packed size of session policies and session tags exceeds the limit (${packed}%).`,
          400,
        );
      const iamAllow =
        policy === undefined ? role.iamAllow : intersectAllow(role.iamAllow, sessionPolicyActions(policy));

      const roleAccount = match[1]!;
      const roleName = match[2]!;
      const arn = `arn:aws:sts::${roleAccount}:assumed-role/${roleName}/${sessionName}`;
      const accessKeyId = `ASIA${pick(upperAlnum, 16)}`;
      const principal: Principal = {
        arn,
        accountId: roleAccount,
        accessKeyId,
        type: 'assumed-role',
        roleArn,
        ...(iamAllow === undefined ? {} : { iamAllow }),
        ...(tags.length > 0 ? { sessionTags } : {}),
      };
      world.identities.add(principal);
      sessions++;

      const credentials =
        el('AccessKeyId', accessKeyId) +
        el('SecretAccessKey', pick(base64Chars, 40)) +
        el('SessionToken', `IQoJb3JpZ2luX2VtdWxhdG9y${pick(base64Chars, 340)}`) +
        el('Expiration', isoSeconds(ctx.now + duration * 1000));
      const user = el('AssumedRoleId', userIdFor(principal)) + el('Arn', arn);
      return envelope(
        'AssumeRole',
        `<Credentials>${credentials}</Credentials><AssumedRoleUser>${user}</AssumedRoleUser>` +
          (packed === undefined ? '' : el('PackedPolicySize', packed)) +
          (sourceIdentity === undefined ? '' : el('SourceIdentity', sourceIdentity)),
        ctx.requestId,
      );
    },
  };

  return {
    name: 'sts',
    protocol: 'awsQuery',
    operations: operations as unknown as ServiceRuntime['operations'],
    routes: [],
    snapshot: () => ({ sessions, roles: [...world.identities.roles.keys()] }),
  };
}
