// The KMS emulator (awsJson1_1, target `TrentService`): customer managed keys with their state machine,
// aliases, key policies (evaluated on every call by emulator/policy.ts), grants, automatic and
// on-demand rotation on the emulator clock, scheduled deletion, tags, and envelope "encryption" that
// ties a ciphertext to its key, key material and encryption context. It also implements `world.kms`,
// the only way the workload emulators (MSF, Keyspaces, EMR Serverless) reach KMS.
//
// Seed section `kms` (the `kms` mapping of a seed document):
//   keys:
//     - keyId: 1234abcd-...          # optional, generated otherwise
//       alias: alias/app             # or aliases: [alias/a, alias/b]
//       description: text
//       keySpec: SYMMETRIC_DEFAULT   # RSA_2048, HMAC_256, ...
//       keyUsage: ENCRYPT_DECRYPT
//       origin: AWS_KMS              # EXTERNAL -> PendingImport
//       multiRegion: false
//       state: Enabled               # Enabled | Disabled | PendingDeletion (window: pendingWindowInDays, default 30)
//       policy: {...} or "json"      # default: the account-root "Enable IAM User Permissions" policy
//       rotation: { enabled: true, periodInDays: 365 }
//       tags: { team: data }         # or [{ TagKey, TagValue }]
//       region: us-east-1            # default config.defaultRegion
//       accountId: "111122223333"    # default config.accountId
//
// Choices where AWS is UNCONFIRMED (spec §2) — the stricter behaviour was picked:
// - management operations (rotation, deletion, Enable/DisableKey, policies, grants, tags, ListAliases
//   KeyId, CreateAlias TargetKeyId) given an alias name or alias ARN answer NotFoundException; only
//   DescribeKey and the cryptographic operations resolve aliases;
// - a key ARN of another Region answers NotFoundException; a key ARN of another account answers
//   NotFoundException except on the operations documented as cross-account (DescribeKey,
//   GetKeyRotationStatus, ListGrants, CreateGrant, RetireGrant, RevokeGrant and the cryptographic ones);
// - PendingWindowInDays outside 7-30 and RotationPeriodInDays outside 90-2560 are ValidationException;
// - cryptographic calls and CreateGrant on a PendingDeletion key answer KMSInvalidStateException (D6);
// - an alias under the reserved `alias/aws/` prefix answers NotAuthorizedException; a name without the
//   `alias/` prefix answers ValidationException;
// - after an automatic rotation was missed while the key was Disabled or PendingDeletion, EnableKey
//   rotates at once and restarts the schedule from then (D13: "a year" read as the rotation period);
// - changing the period of a key that already rotates moves NextRotationDate to the last automatic
//   rotation (or the enable date) plus the new period, and at the earliest to now;
// - EnableKeyRotation without RotationPeriodInDays sets the period back to 365;
// - CreateGrant with both EncryptionContextEquals and EncryptionContextSubset is a ValidationException;
// - AccessDeniedException and ValidationException are sent with HTTP 400;
// - the key-policy lockout safety check of CreateKey/PutKeyPolicy is enforced (MalformedPolicyDocument
//   unless BypassPolicyLockoutSafetyCheck), as AWS does.
// Not modelled: AWS managed keys (`alias/aws/...`), custom key stores, multi-Region replicas,
// ImportKeyMaterial, asymmetric signing/MAC operations, grant eventual consistency.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { ScheduledEvent } from '../core/clock.ts';
import { iamAllows, type Principal } from '../core/identity.ts';
import { AwsError, commonErrors, epochSeconds } from '../core/protocol.ts';
import { seededRandom } from '../core/random.ts';
import type { CallContext, JsonHandler, JsonObject, ServiceRuntime } from '../core/service.ts';
import { validator } from '../core/validate.ts';
import type { KeyView, KmsAccess, World } from '../core/world.ts';
import {
  evaluateKeyPolicy,
  type PolicyDocument,
  PolicyParseError,
  parseKeyPolicy,
  type RequestContext,
  type RequestPrincipal,
  serviceUseDenied,
} from '../policy.ts';

// ---------------------------------------------------------------------------------------------------
// Static facts

interface SpecInfo {
  usages: readonly string[];
  encryption?: readonly string[];
  signing?: readonly string[];
  mac?: readonly string[];
  agreement?: readonly string[];
}

const rsaSigning = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
];
const rsa: SpecInfo = {
  usages: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'],
  encryption: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'],
  signing: rsaSigning,
};
const ecc = (alg: string, agreement: boolean): SpecInfo => ({
  usages: agreement ? ['SIGN_VERIFY', 'KEY_AGREEMENT'] : ['SIGN_VERIFY'],
  signing: [alg],
  ...(agreement ? { agreement: ['ECDH'] } : {}),
});
const hmac = (alg: string): SpecInfo => ({ usages: ['GENERATE_VERIFY_MAC'], mac: [alg] });
const mlDsa: SpecInfo = { usages: ['SIGN_VERIFY'], signing: ['ML_DSA_SHAKE_256'] };

const keySpecs: Record<string, SpecInfo> = {
  SYMMETRIC_DEFAULT: { usages: ['ENCRYPT_DECRYPT'], encryption: ['SYMMETRIC_DEFAULT'] },
  RSA_2048: rsa,
  RSA_3072: rsa,
  RSA_4096: rsa,
  ECC_NIST_P256: ecc('ECDSA_SHA_256', true),
  ECC_NIST_P384: ecc('ECDSA_SHA_384', true),
  ECC_NIST_P521: ecc('ECDSA_SHA_512', true),
  ECC_SECG_P256K1: ecc('ECDSA_SHA_256', false),
  HMAC_224: hmac('HMAC_SHA_224'),
  HMAC_256: hmac('HMAC_SHA_256'),
  HMAC_384: hmac('HMAC_SHA_384'),
  HMAC_512: hmac('HMAC_SHA_512'),
  ML_DSA_44: mlDsa,
  ML_DSA_65: mlDsa,
  ML_DSA_87: mlDsa,
};
const keyUsages = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const;
const origins = ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;

export const grantOperations = [
  'CreateGrant',
  'Decapsulate',
  'Decrypt',
  'DeriveSharedSecret',
  'DescribeKey',
  'Encapsulate',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateMac',
  'GetPublicKey',
  'ReEncryptFrom',
  'ReEncryptTo',
  'RetireGrant',
  'Sign',
  'Verify',
  'VerifyMac',
] as const;

const dayMs = 86_400_000;
const conflictWindowMs = 20 * 60_000;
const aliasPattern = /^[a-zA-Z0-9:/_-]+$/;
const grantNamePattern = /^[a-zA-Z0-9:/_-]+$/;

// ---------------------------------------------------------------------------------------------------
// State

interface Grant {
  keyId: string;
  grantId: string;
  name?: string;
  granteePrincipal?: string;
  granteeServicePrincipal?: string;
  retiringPrincipal?: string;
  retiringServicePrincipal?: string;
  operations: string[];
  constraints?: {
    EncryptionContextSubset?: Record<string, string>;
    EncryptionContextEquals?: Record<string, string>;
    SourceArn?: string;
  };
  creationDate: number;
  issuingAccount: string;
}

interface RotationEntry {
  materialId: string;
  date: number;
  type: 'AUTOMATIC' | 'ON_DEMAND';
}

interface KeyRecord {
  keyId: string;
  arn: string;
  accountId: string;
  region: string;
  description: string;
  keyUsage: string;
  keySpec: string;
  origin: string;
  state: string;
  keyManager: 'CUSTOMER' | 'AWS';
  creationDate: number;
  multiRegion: boolean;
  policyText: string;
  policy: PolicyDocument;
  tags: Map<string, string>;
  aliases: Set<string>;
  grants: Map<string, Grant>;
  /** Grant ids by grantee principal and by name: authorization and Name idempotency stay O(1) at 50,000 grants. */
  grantsByGrantee: Map<string, Set<string>>;
  grantsByName: Map<string, Set<string>>;
  materials: Map<string, Buffer>;
  /** Empty while PendingImport (no material yet). */
  currentMaterialId: string;
  initialMaterialId: string;
  initialMaterialDate: number;
  rotation: {
    enabled: boolean;
    periodDays: number;
    /** When automatic rotation was (re)started; the base for a period change before the first rotation. */
    since: number;
    nextAt?: number;
    event?: ScheduledEvent;
    /** An automatic rotation fell due while the key could not rotate; EnableKey catches up. */
    missed: boolean;
  };
  onDemand?: { startedAt: number; event: ScheduledEvent };
  rotations: RotationEntry[];
  deletion?: { date: number; windowDays: number; event: ScheduledEvent };
}

interface AliasRecord {
  name: string;
  arn: string;
  targetKeyId: string;
  creationDate: number;
  lastUpdatedDate: number;
}

const v = validator('ValidationException');

export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${accountId}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    },
    null,
    2,
  );
}

/** The principal as key policies see it: sessions of an assumed role also match the role's ARN. */
export function requestPrincipal(caller: Principal): RequestPrincipal {
  let roleArn = caller.roleArn;
  const session = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(caller.arn);
  if (!roleArn && session) roleArn = `arn:${session[1]}:iam::${session[2]}:role/${session[3]}`;
  return { kind: 'aws', arn: caller.arn, accountId: caller.accountId, iamAllow: caller.iamAllow, roleArn };
}

const err = {
  notFound: (message: string) => new AwsError('NotFoundException', message, 404),
  invalidState: (message: string) => new AwsError('KMSInvalidStateException', message, 409),
  disabled: (k: KeyRecord) => new AwsError('DisabledException', `${k.arn} is disabled.`, 409),
  dryRun: () =>
    new AwsError(
      'DryRunOperationException',
      'The request would have succeeded, but the DryRun option is set.',
      412,
    ),
  conflict: (message: string) => new AwsError('ConflictException', message, 409),
  limit: (message: string) => new AwsError('LimitExceededException', message, 400),
  unsupported: (message: string) => new AwsError('UnsupportedOperationException', message, 400),
  invalidArn: (message: string) => new AwsError('InvalidArnException', message, 400),
  invalidMarker: () => new AwsError('InvalidMarkerException', 'The pagination marker is invalid.', 400),
  keyUsage: (message: string) => new AwsError('InvalidKeyUsageException', message, 400),
  ciphertext: (message = 'The ciphertext is invalid or does not match the encryption context.') =>
    new AwsError('InvalidCiphertextException', message, 400),
  malformedPolicy: (message: string) => new AwsError('MalformedPolicyDocumentException', message, 400),
  tag: (message: string) => new AwsError('TagException', message, 400),
};

function stateName(k: KeyRecord): string {
  return k.state === 'PendingDeletion'
    ? 'pending deletion'
    : k.state === 'PendingImport'
      ? 'pending import'
      : k.state;
}

// ---------------------------------------------------------------------------------------------------
// Ciphertext envelope: "EKMS1" | u16 header length | {"k": key ARN, "m": material id} | iv | tag | data.
// AES-256-GCM under the material's random key, with the canonical encryption context as AAD, so a
// wrong context or a foreign blob fails authentication the way KMS reports InvalidCiphertext.

const magic = Buffer.from('EKMS1');

function canonicalContext(ec: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(ec ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries));
}

function seal(
  keyArn: string,
  materialId: string,
  material: Buffer,
  plaintext: Buffer,
  ec?: Record<string, string>,
) {
  const header = Buffer.from(JSON.stringify({ k: keyArn, m: materialId }));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', material, iv);
  cipher.setAAD(canonicalContext(ec));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(header.length);
  return Buffer.concat([magic, len, header, iv, cipher.getAuthTag(), data]);
}

interface Envelope {
  keyArn: string;
  materialId: string;
  iv: Buffer;
  tag: Buffer;
  data: Buffer;
}

function openEnvelope(blob: Buffer): Envelope | undefined {
  if (blob.length < magic.length + 2 || !blob.subarray(0, magic.length).equals(magic)) return undefined;
  const len = blob.readUInt16BE(magic.length);
  const start = magic.length + 2;
  if (blob.length < start + len + 28) return undefined;
  try {
    const h = JSON.parse(blob.subarray(start, start + len).toString('utf8')) as { k?: unknown; m?: unknown };
    if (typeof h.k !== 'string' || typeof h.m !== 'string') return undefined;
    const rest = blob.subarray(start + len);
    return {
      keyArn: h.k,
      materialId: h.m,
      iv: rest.subarray(0, 12),
      tag: rest.subarray(12, 28),
      data: rest.subarray(28),
    };
  } catch {
    return undefined;
  }
}

function unseal(env: Envelope, material: Buffer, ec?: Record<string, string>): Buffer | undefined {
  try {
    const d = createDecipheriv('aes-256-gcm', material, env.iv);
    d.setAAD(canonicalContext(ec));
    d.setAuthTag(env.tag);
    return Buffer.concat([d.update(env.data), d.final()]);
  } catch {
    return undefined;
  }
}

function blobInput(input: JsonObject, member: string): Buffer | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
    v.fail(
      `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must be a base64 blob`,
    );
  return Buffer.from(value as string, 'base64');
}

// ---------------------------------------------------------------------------------------------------
// Pagination: opaque markers holding the next index.

function paginate<T>(items: readonly T[], limit: number, marker: string | undefined) {
  let start = 0;
  if (marker !== undefined) {
    const decoded = Buffer.from(marker, 'base64url').toString('utf8');
    const m = /^p:(\d+)$/.exec(decoded);
    if (!m) throw err.invalidMarker();
    start = Number(m[1]);
    if (start > items.length) throw err.invalidMarker();
  }
  const page = items.slice(start, start + limit);
  const next = start + page.length;
  const truncated = next < items.length;
  return {
    page,
    truncated,
    nextMarker: truncated ? Buffer.from(`p:${next}`).toString('base64url') : undefined,
  };
}

// ---------------------------------------------------------------------------------------------------

export function createKmsService(world: World): ServiceRuntime {
  // Ids come from their own seeded stream so that creating keys does not shift transition durations.
  const ids = seededRandom(world.config.seed ^ 0x6b6d73);
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += ids.int(0, 15).toString(16);
    return s;
  };
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[ids.int(0, 3)]}${hex(3)}-${hex(12)}`;

  const scopeOf = (accountId: string, region: string) => `${accountId}/${region}`;
  /** Keys by `<account>/<region>/<keyId>`. */
  const keys = new Map<string, KeyRecord>();
  /** Keys per account+Region, for ListKeys. */
  const keysByScope = new Map<string, Map<string, KeyRecord>>();
  /** Keys by bare key id, for KmsAccess calls that pass only an id. */
  const byKeyId = new Map<string, KeyRecord>();
  /** Aliases per account+Region by name, with a lazily sorted name list for ListAliases. */
  const aliasesByScope = new Map<string, Map<string, AliasRecord>>();
  const sortedAliasNames = new Map<string, string[]>();
  const grantTokens = new Map<string, { key: KeyRecord; grantId: string }>();
  const listeners: Array<(key: KeyView, deleted: boolean) => void> = [];

  const scopeMap = <T>(m: Map<string, Map<string, T>>, scope: string): Map<string, T> => {
    let inner = m.get(scope);
    if (!inner) {
      inner = new Map();
      m.set(scope, inner);
    }
    return inner;
  };

  const view = (k: KeyRecord): KeyView => ({
    keyId: k.keyId,
    arn: k.arn,
    accountId: k.accountId,
    region: k.region,
    state: k.state,
    keySpec: k.keySpec,
    keyUsage: k.keyUsage,
    keyManager: k.keyManager,
    origin: k.origin,
    currentKeyMaterialId: k.currentMaterialId,
  });

  function notify(k: KeyRecord, deleted = false): void {
    const snapshot = view(k);
    for (const l of listeners) {
      try {
        l(snapshot, deleted);
      } catch (e) {
        process.stderr.write(`[emulator] kms onKeyChange listener failed: ${(e as Error)?.stack ?? e}\n`);
      }
    }
  }

  // -- lookup ---------------------------------------------------------------------------------------

  type Lookup = { key?: KeyRecord; alias?: boolean; error?: AwsError };

  /** Resolves any identifier without deciding which kinds the operation accepts. */
  function lookup(ref: string, region: string, accountId: string): Lookup {
    if (ref.startsWith('arn:')) {
      const parts = ref.split(':');
      const [, partition, svc, r, acct] = parts;
      const resource = parts.slice(5).join(':');
      if (
        parts.length < 6 ||
        !partition?.startsWith('aws') ||
        svc !== 'kms' ||
        !r ||
        !/^\d{12}$/.test(acct ?? '')
      )
        return { error: err.invalidArn(`Invalid arn ${ref}`) };
      if (r !== region) return { error: err.notFound(`Invalid arn ${ref}: the key is in another Region`) };
      if (resource.startsWith('key/')) {
        const key = keys.get(`${acct}/${r}/${resource.slice(4)}`);
        return key ? { key } : { error: err.notFound(`Key '${ref}' does not exist`) };
      }
      if (resource.startsWith('alias/')) {
        const alias = aliasesByScope.get(scopeOf(acct!, r))?.get(resource);
        const key = alias ? keys.get(`${acct}/${r}/${alias.targetKeyId}`) : undefined;
        return key
          ? { key, alias: true }
          : { alias: true, error: err.notFound(`Alias ${ref} is not found.`) };
      }
      return { error: err.invalidArn(`Invalid arn ${ref}`) };
    }
    if (ref.startsWith('alias/')) {
      const alias = aliasesByScope.get(scopeOf(accountId, region))?.get(ref);
      const key = alias ? keys.get(`${accountId}/${region}/${alias.targetKeyId}`) : undefined;
      return key
        ? { key, alias: true }
        : {
            alias: true,
            error: err.notFound(`Alias arn:aws:kms:${region}:${accountId}:${ref} is not found.`),
          };
    }
    const key = keys.get(`${accountId}/${region}/${ref}`);
    return key
      ? { key }
      : { error: err.notFound(`Key 'arn:aws:kms:${region}:${accountId}:key/${ref}' does not exist`) };
  }

  interface KeyRefRules {
    /** DescribeKey and cryptographic operations accept alias names and alias ARNs. */
    aliases?: boolean;
    /** The operation is documented as usable on a key of another account (by ARN). */
    crossAccount?: boolean;
  }

  function keyFor(ctx: CallContext, ref: string, rules: KeyRefRules = {}): KeyRecord {
    const found = lookup(ref, ctx.region, ctx.accountId);
    if (found.alias && !rules.aliases)
      throw err.notFound(`${ref} is an alias; this operation takes a key ID or key ARN`);
    if (found.error) throw found.error;
    const key = found.key!;
    if (key.accountId !== ctx.accountId && !rules.crossAccount)
      throw err.notFound(`Key '${key.arn}' does not exist in account ${ctx.accountId}`);
    return key;
  }

  const keyIdInput = (input: JsonObject, member = 'KeyId') => v.str(input, member, { min: 1, max: 2048 });

  /** What a grant must cover for a call: its encryption context, and for CreateGrant the new grant. */
  interface GrantUse {
    ec?: Record<string, string> | undefined;
    newGrant?: { operations: readonly string[]; equals: boolean };
  }

  // -- authorization --------------------------------------------------------------------------------

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

  function encryptionContextConditions(
    ec: Record<string, string> | undefined,
  ): Record<string, string | string[]> {
    const c: Record<string, string | string[]> = {};
    if (!ec) return c;
    for (const [k, val] of Object.entries(ec)) c[`kms:EncryptionContext:${k}`] = val;
    c['kms:EncryptionContextKeys'] = Object.keys(ec);
    return c;
  }

  /**
   * Whether a grant lets the caller do `op`. Encryption-context constraints apply only to operations
   * that take a context (grant constraint keys compare case-insensitively, values exactly, as KMS
   * documents); DescribeKey and RetireGrant ignore them. CreateGrant through a grant needs the new
   * grant to stay within the parent's operations and be at least as strictly constrained.
   */
  function grantAllows(ctx: CallContext, k: KeyRecord, op: string, use: GrantUse): boolean {
    if (k.grants.size === 0) return false;
    const p = requestPrincipal(ctx.caller);
    const names = new Set([ctx.caller.arn, p.kind === 'aws' ? p.roleArn : undefined]);
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
  function authorize(
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
    if (grant && (grantOperations as readonly string[]).includes(op) && grantAllows(ctx, k, op, grant))
      return;
    throw commonErrors.accessDenied(
      decision.iamDenied
        ? `${who} because no identity-based policy allows the ${action} action`
        : `${who} because no resource-based policy allows the ${action} action`,
    );
  }

  /** Operations that KMS authorizes with IAM policies only (no key is involved). */
  function authorizeIam(ctx: CallContext, op: string, resource = '*'): void {
    if (!iamAllows(ctx.caller.iamAllow, `kms:${op}`))
      throw commonErrors.accessDenied(
        `User: ${ctx.caller.arn} is not authorized to perform: kms:${op} on resource: ${resource} because no identity-based policy allows the kms:${op} action`,
      );
  }

  // -- state guards ---------------------------------------------------------------------------------

  /** Cryptographic operations and CreateGrant (spec §2.3). */
  function requireUsable(k: KeyRecord): void {
    if (k.state === 'Enabled') return;
    if (k.state === 'Disabled') throw err.disabled(k);
    throw err.invalidState(`${k.arn} is ${stateName(k)}.`);
  }

  function requireNotPendingDeletion(k: KeyRecord): void {
    if (k.state === 'PendingDeletion') throw err.invalidState(`${k.arn} is pending deletion.`);
  }

  function requireRotatable(k: KeyRecord): void {
    if (k.keySpec !== 'SYMMETRIC_DEFAULT')
      throw err.unsupported(
        `${k.arn} key spec ${k.keySpec} is not valid for this operation (only symmetric encryption keys rotate).`,
      );
    if (k.origin !== 'AWS_KMS')
      throw err.unsupported(`${k.arn} origin is ${k.origin} which is not valid for this operation.`);
  }

  function requireEncryptUsage(k: KeyRecord, op: string): void {
    if (k.keyUsage !== 'ENCRYPT_DECRYPT')
      throw err.keyUsage(`${k.arn} key usage is ${k.keyUsage} which is not valid for ${op}.`);
  }

  // -- key lifecycle --------------------------------------------------------------------------------

  function insertKey(k: KeyRecord): void {
    keys.set(`${k.accountId}/${k.region}/${k.keyId}`, k);
    scopeMap(keysByScope, scopeOf(k.accountId, k.region)).set(k.keyId, k);
    byKeyId.set(k.keyId, k);
  }

  function parsePolicyOrThrow(text: string): PolicyDocument {
    try {
      return parseKeyPolicy(text);
    } catch (e) {
      if (e instanceof PolicyParseError) throw err.malformedPolicy(e.message);
      throw e;
    }
  }

  function lockoutCheck(ctx: CallContext, policy: PolicyDocument, keyArn: string): void {
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

  function newMaterial(k: KeyRecord): string {
    const id = hex(64);
    k.materials.set(id, randomBytes(32));
    return id;
  }

  function validateTags(list: unknown, member: string): Array<[string, string]> {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list))
      return v.fail(
        `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must be a list`,
      );
    return list.map((t, i) => {
      const o = (t ?? {}) as JsonObject;
      const key = v.str(o, 'TagKey', { min: 1, max: 128 });
      const value = v.str(o, 'TagValue', { min: 0, max: 256 });
      if (key.toLowerCase().startsWith('aws:'))
        throw err.tag(`Tag key ${key} at ${member}.${i + 1} uses the reserved prefix aws:`);
      return [key, value];
    });
  }

  function addTags(k: KeyRecord, tags: Array<[string, string]>): void {
    const merged = new Map(k.tags);
    for (const [tk, tv] of tags) merged.set(tk, tv);
    if (merged.size > 50) throw err.limit('A KMS key can have at most 50 tags.');
    k.tags = merged;
  }

  interface NewKeyOptions {
    accountId: string;
    region: string;
    now: number;
    keyId?: string;
    description?: string;
    keyUsage?: string;
    keySpec?: string;
    origin?: string;
    policyText?: string;
    policy?: PolicyDocument;
    multiRegion?: boolean;
  }

  /** Parsed default policies are shared between keys (policies are never mutated in place). */
  const defaultPolicies = new Map<string, PolicyDocument>();
  function defaultPolicyDoc(accountId: string): PolicyDocument {
    let doc = defaultPolicies.get(accountId);
    if (!doc) {
      doc = parseKeyPolicy(defaultKeyPolicy(accountId));
      defaultPolicies.set(accountId, doc);
    }
    return doc;
  }

  function buildKey(o: NewKeyOptions): KeyRecord {
    const multiRegion = o.multiRegion ?? false;
    const keyId = o.keyId ?? (multiRegion ? `mrk-${hex(32)}` : uuid());
    const origin = o.origin ?? 'AWS_KMS';
    const policyText = o.policyText ?? defaultKeyPolicy(o.accountId);
    const k: KeyRecord = {
      keyId,
      arn: `arn:aws:kms:${o.region}:${o.accountId}:key/${keyId}`,
      accountId: o.accountId,
      region: o.region,
      description: o.description ?? '',
      keyUsage: o.keyUsage ?? 'ENCRYPT_DECRYPT',
      keySpec: o.keySpec ?? 'SYMMETRIC_DEFAULT',
      origin,
      state: origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
      keyManager: 'CUSTOMER',
      creationDate: o.now,
      multiRegion,
      policyText,
      policy:
        o.policy ??
        (o.policyText === undefined ? defaultPolicyDoc(o.accountId) : parsePolicyOrThrow(policyText)),
      tags: new Map(),
      aliases: new Set(),
      grants: new Map(),
      grantsByGrantee: new Map(),
      grantsByName: new Map(),
      materials: new Map(),
      currentMaterialId: '',
      initialMaterialId: '',
      initialMaterialDate: o.now,
      rotation: { enabled: false, periodDays: 365, since: o.now, missed: false },
      rotations: [],
    };
    if (origin !== 'EXTERNAL') {
      k.currentMaterialId = newMaterial(k);
      k.initialMaterialId = k.currentMaterialId;
    }
    return k;
  }

  function checkSpecUsage(spec: string, usage: string): void {
    const info = keySpecs[spec];
    if (!info)
      v.fail(
        `1 validation error detected: Value '${spec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [${Object.keys(keySpecs).join(', ')}]`,
      );
    if (!info!.usages.includes(usage))
      v.fail(
        `KeyUsage ${usage} is not compatible with KeySpec ${spec}. Valid key usages: ${info!.usages.join(', ')}`,
      );
  }

  function rotateNow(k: KeyRecord, type: RotationEntry['type'], at: number): void {
    const id = newMaterial(k);
    k.rotations.push({ materialId: id, date: at, type });
    k.currentMaterialId = id;
    notify(k);
  }

  function scheduleAutomatic(k: KeyRecord, at: number): void {
    k.rotation.event?.cancel();
    k.rotation.nextAt = at;
    k.rotation.event = world.timeline.schedule(at, `kms.rotate ${k.keyId}`, () => {
      k.rotation.event = undefined;
      if (!k.rotation.enabled || keys.get(`${k.accountId}/${k.region}/${k.keyId}`) !== k) return;
      if (k.state !== 'Enabled') {
        // Disabled and PendingDeletion keys do not rotate; EnableKey catches up.
        k.rotation.missed = true;
        return;
      }
      rotateNow(k, 'AUTOMATIC', at);
      k.rotation.since = at;
      scheduleAutomatic(k, at + k.rotation.periodDays * dayMs);
    });
  }

  function enableRotation(k: KeyRecord, periodDays: number, now: number): void {
    if (!k.rotation.enabled) {
      k.rotation = { enabled: true, periodDays, since: now, missed: false };
      scheduleAutomatic(k, now + periodDays * dayMs);
      return;
    }
    if (periodDays !== k.rotation.periodDays) {
      k.rotation.periodDays = periodDays;
      scheduleAutomatic(k, Math.max(now, k.rotation.since + periodDays * dayMs));
    }
  }

  function disableRotation(k: KeyRecord): void {
    k.rotation.event?.cancel();
    k.rotation = {
      enabled: false,
      periodDays: k.rotation.periodDays,
      since: k.rotation.since,
      missed: false,
    };
  }

  function deleteKey(k: KeyRecord): void {
    keys.delete(`${k.accountId}/${k.region}/${k.keyId}`);
    keysByScope.get(scopeOf(k.accountId, k.region))?.delete(k.keyId);
    if (byKeyId.get(k.keyId) === k) byKeyId.delete(k.keyId);
    const scope = scopeOf(k.accountId, k.region);
    const scopeAliases = aliasesByScope.get(scope);
    for (const a of k.aliases) scopeAliases?.delete(a);
    if (k.aliases.size > 0) sortedAliasNames.delete(scope);
    k.aliases.clear();
    k.rotation.event?.cancel();
    k.onDemand?.event.cancel();
    k.grants.clear();
    k.grantsByGrantee.clear();
    k.grantsByName.clear();
    notify(k, true);
  }

  function scheduleDeletion(k: KeyRecord, windowDays: number, now: number): void {
    const date = now + windowDays * dayMs;
    k.state = 'PendingDeletion';
    k.deletion = {
      date,
      windowDays,
      event: world.timeline.schedule(date, `kms.delete ${k.keyId}`, () => deleteKey(k)),
    };
  }

  function metadata(k: KeyRecord): JsonObject {
    const info = keySpecs[k.keySpec];
    const m: JsonObject = {
      AWSAccountId: k.accountId,
      KeyId: k.keyId,
      Arn: k.arn,
      CreationDate: epochSeconds(k.creationDate),
      Enabled: k.state === 'Enabled',
      Description: k.description,
      KeyUsage: k.keyUsage,
      KeyState: k.state,
      Origin: k.origin,
      KeyManager: k.keyManager,
      CustomerMasterKeySpec: k.keySpec,
      KeySpec: k.keySpec,
      MultiRegion: k.multiRegion,
    };
    if (k.deletion) m['DeletionDate'] = epochSeconds(k.deletion.date);
    if (k.keyUsage === 'ENCRYPT_DECRYPT' && info?.encryption) m['EncryptionAlgorithms'] = info.encryption;
    if (k.keyUsage === 'SIGN_VERIFY' && info?.signing) m['SigningAlgorithms'] = info.signing;
    if (k.keyUsage === 'GENERATE_VERIFY_MAC' && info?.mac) m['MacAlgorithms'] = info.mac;
    if (k.keyUsage === 'KEY_AGREEMENT' && info?.agreement) m['KeyAgreementAlgorithms'] = info.agreement;
    if (k.currentMaterialId && k.keySpec === 'SYMMETRIC_DEFAULT')
      m['CurrentKeyMaterialId'] = k.currentMaterialId;
    if (k.multiRegion)
      m['MultiRegionConfiguration'] = {
        MultiRegionKeyType: 'PRIMARY',
        PrimaryKey: { Arn: k.arn, Region: k.region },
        ReplicaKeys: [],
      };
    return m;
  }

  // -- aliases --------------------------------------------------------------------------------------

  function validateAliasName(name: string): void {
    if (!name.startsWith('alias/') || name.length <= 'alias/'.length)
      v.fail(`Alias must start with the prefix "alias/" followed by a name: ${name}`);
    if (!aliasPattern.test(name))
      v.fail(
        `1 validation error detected: Value '${name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${aliasPattern.source}`,
      );
    if (name.startsWith('alias/aws/'))
      throw new AwsError(
        'NotAuthorizedException',
        `The alias/aws/ prefix is reserved for AWS managed keys: ${name}`,
        400,
      );
  }

  function aliasEntry(a: AliasRecord): JsonObject {
    return {
      AliasName: a.name,
      AliasArn: a.arn,
      TargetKeyId: a.targetKeyId,
      CreationDate: epochSeconds(a.creationDate),
      LastUpdatedDate: epochSeconds(a.lastUpdatedDate),
    };
  }

  function addAlias(k: KeyRecord, name: string, now: number): void {
    const scope = scopeOf(k.accountId, k.region);
    const inScope = scopeMap(aliasesByScope, scope);
    if (inScope.has(name))
      throw new AwsError(
        'AlreadyExistsException',
        `An alias with the name arn:aws:kms:${k.region}:${k.accountId}:${name} already exists`,
        409,
      );
    if (k.aliases.size >= world.config.aliasesPerKey)
      throw err.limit(
        `The key ${k.arn} already has ${k.aliases.size} aliases (the limit is ${world.config.aliasesPerKey}).`,
      );
    inScope.set(name, {
      name,
      arn: `arn:aws:kms:${k.region}:${k.accountId}:${name}`,
      targetKeyId: k.keyId,
      creationDate: now,
      lastUpdatedDate: now,
    });
    sortedAliasNames.delete(scope);
    k.aliases.add(name);
  }

  // -- grants ---------------------------------------------------------------------------------------

  function grantEntry(g: Grant): JsonObject {
    const e: JsonObject = {
      KeyId: g.keyId,
      GrantId: g.grantId,
      CreationDate: epochSeconds(g.creationDate),
      IssuingAccount: g.issuingAccount,
      Operations: g.operations,
    };
    if (g.name !== undefined) e['Name'] = g.name;
    if (g.granteePrincipal) e['GranteePrincipal'] = g.granteePrincipal;
    if (g.granteeServicePrincipal) e['GranteeServicePrincipal'] = g.granteeServicePrincipal;
    if (g.retiringPrincipal) e['RetiringPrincipal'] = g.retiringPrincipal;
    if (g.retiringServicePrincipal) e['RetiringServicePrincipal'] = g.retiringServicePrincipal;
    if (g.constraints) e['Constraints'] = g.constraints;
    return e;
  }

  function sameGrant(a: Grant, b: Omit<Grant, 'grantId' | 'creationDate'>): boolean {
    return (
      a.name === b.name &&
      a.granteePrincipal === b.granteePrincipal &&
      a.granteeServicePrincipal === b.granteeServicePrincipal &&
      a.retiringPrincipal === b.retiringPrincipal &&
      a.retiringServicePrincipal === b.retiringServicePrincipal &&
      JSON.stringify([...a.operations].sort()) === JSON.stringify([...b.operations].sort()) &&
      JSON.stringify(a.constraints ?? null) === JSON.stringify(b.constraints ?? null)
    );
  }

  function issueToken(k: KeyRecord, grantId: string): string {
    const token = randomBytes(48).toString('base64url');
    grantTokens.set(token, { key: k, grantId });
    return token;
  }

  function storeGrant(k: KeyRecord, g: Grant): void {
    if (k.grants.size >= world.config.grantsPerKey)
      throw err.limit(
        `The key ${k.arn} already has ${k.grants.size} grants (the limit is ${world.config.grantsPerKey}).`,
      );
    k.grants.set(g.grantId, g);
    const index = (m: Map<string, Set<string>>, by: string | undefined) => {
      if (by === undefined) return;
      let ids = m.get(by);
      if (!ids) {
        ids = new Set();
        m.set(by, ids);
      }
      ids.add(g.grantId);
    };
    index(k.grantsByGrantee, g.granteePrincipal);
    index(k.grantsByName, g.name);
  }

  function removeGrant(k: KeyRecord, grantId: string): void {
    const g = k.grants.get(grantId);
    if (!g) return;
    k.grants.delete(grantId);
    if (g.granteePrincipal !== undefined) k.grantsByGrantee.get(g.granteePrincipal)?.delete(grantId);
    if (g.name !== undefined) k.grantsByName.get(g.name)?.delete(grantId);
  }

  function contextMap(value: unknown, member: string): Record<string, string> | undefined {
    const m = v.optStringMap({ [member]: value } as JsonObject, member);
    if (!m) return undefined;
    const entries = Object.entries(m);
    if (entries.length > 8) v.fail(`${member} can have at most 8 encryption context pairs`);
    for (const [ck, cv] of entries)
      if (cv.length > 384) v.fail(`${member}.${ck} must be at most 384 characters`);
    return m;
  }

  // -- cryptographic helpers ------------------------------------------------------------------------

  function cryptoKey(ctx: CallContext, input: JsonObject): KeyRecord {
    return keyFor(ctx, keyIdInput(input), { aliases: true, crossAccount: true });
  }

  function requestAliasContext(input: JsonObject): RequestContext {
    const ref = input['KeyId'];
    if (typeof ref !== 'string') return {};
    if (ref.startsWith('alias/')) return { 'kms:RequestAlias': ref };
    const m = /^arn:[^:]+:kms:[^:]+:\d{12}:(alias\/.+)$/.exec(ref);
    return m ? { 'kms:RequestAlias': m[1]! } : {};
  }

  function checkDryRun(input: JsonObject): void {
    if (v.optBool(input, 'DryRun')) throw err.dryRun();
  }

  function encrypt(k: KeyRecord, plaintext: Buffer, ec: Record<string, string> | undefined): Buffer {
    return seal(k.arn, k.currentMaterialId, k.materials.get(k.currentMaterialId)!, plaintext, ec);
  }

  function generateDataKey(ctx: CallContext, input: JsonObject, op: string) {
    const spec = v.optEnum(input, 'KeySpec', ['AES_256', 'AES_128'] as const);
    const bytes = v.optInt(input, 'NumberOfBytes', { min: 1, max: 1024 });
    if ((spec === undefined) === (bytes === undefined))
      v.fail('Please specify either number of bytes or key spec (exactly one of KeySpec and NumberOfBytes).');
    const ec = v.optStringMap(input, 'EncryptionContext');
    v.optStringList(input, 'GrantTokens');
    const k = cryptoKey(ctx, input);
    authorize(ctx, k, op, { ...encryptionContextConditions(ec), ...requestAliasContext(input) }, { ec });
    requireUsable(k);
    requireEncryptUsage(k, op);
    if (k.keySpec !== 'SYMMETRIC_DEFAULT')
      throw err.keyUsage(`${k.arn} is not a symmetric encryption key; ${op} needs one.`);
    checkDryRun(input);
    const plaintext = randomBytes(bytes ?? (spec === 'AES_128' ? 16 : 32));
    return {
      plaintext,
      out: {
        KeyId: k.arn,
        CiphertextBlob: encrypt(k, plaintext, ec).toString('base64'),
        KeyMaterialId: k.currentMaterialId,
      } as JsonObject,
    };
  }

  function listInput(input: JsonObject, max: number, dflt: number) {
    return {
      limit: v.optInt(input, 'Limit', { min: 1, max }) ?? dflt,
      marker: v.optStr(input, 'Marker', { min: 1, max: 1024 }),
    };
  }

  // -- operations -----------------------------------------------------------------------------------

  const operations: Record<string, JsonHandler> = {
    CreateKey(ctx, input) {
      authorizeIam(ctx, 'CreateKey');
      const description = v.optStr(input, 'Description', { max: 8192 });
      const keySpec =
        v.optEnum(input, 'KeySpec', Object.keys(keySpecs)) ??
        v.optEnum(input, 'CustomerMasterKeySpec', Object.keys(keySpecs)) ??
        'SYMMETRIC_DEFAULT';
      const keyUsage = v.optEnum(input, 'KeyUsage', keyUsages) ?? 'ENCRYPT_DECRYPT';
      const origin = v.optEnum(input, 'Origin', origins) ?? 'AWS_KMS';
      const policyText = v.optStr(input, 'Policy', { min: 1, max: 32768 });
      const bypass = v.optBool(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
      const multiRegion = v.optBool(input, 'MultiRegion') ?? false;
      const tags = validateTags(input['Tags'], 'Tags');
      checkSpecUsage(keySpec, keyUsage);
      if (origin === 'AWS_CLOUDHSM' || origin === 'EXTERNAL_KEY_STORE')
        throw err.unsupported(
          `Origin ${origin} needs a custom key store, which the emulator does not model.`,
        );
      if (v.optStr(input, 'CustomKeyStoreId'))
        throw err.unsupported('Custom key stores are not modelled by the emulator.');
      const policy = policyText === undefined ? undefined : parsePolicyOrThrow(policyText);
      const k = buildKey({
        accountId: ctx.accountId,
        region: ctx.region,
        now: ctx.now,
        description,
        keySpec,
        keyUsage,
        origin,
        multiRegion,
        ...(policyText !== undefined ? { policyText, policy } : {}),
      });
      if (policy && !bypass) lockoutCheck(ctx, policy, k.arn);
      addTags(k, tags);
      insertKey(k);
      return { KeyMetadata: metadata(k) };
    },

    DescribeKey(ctx, input) {
      v.optStringList(input, 'GrantTokens');
      const k = keyFor(ctx, keyIdInput(input), { aliases: true, crossAccount: true });
      authorize(ctx, k, 'DescribeKey', requestAliasContext(input), {});
      return { KeyMetadata: metadata(k) };
    },

    ListKeys(ctx, input) {
      const { limit, marker } = listInput(input, 1000, 100);
      authorizeIam(ctx, 'ListKeys');
      const all = [...(keysByScope.get(scopeOf(ctx.accountId, ctx.region))?.values() ?? [])];
      const { page, truncated, nextMarker } = paginate(all, limit, marker);
      return {
        Keys: page.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })),
        Truncated: truncated,
        ...(nextMarker ? { NextMarker: nextMarker } : {}),
      };
    },

    UpdateKeyDescription(ctx, input) {
      const description = v.str(input, 'Description', { max: 8192 });
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'UpdateKeyDescription');
      requireNotPendingDeletion(k);
      k.description = description;
      return {};
    },

    EnableKey(ctx, input) {
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'EnableKey');
      if (k.state === 'PendingDeletion' || k.state === 'PendingImport')
        throw err.invalidState(`${k.arn} is ${stateName(k)}.`);
      if (k.state === 'Enabled') return {};
      k.state = 'Enabled';
      notify(k);
      if (k.rotation.enabled && k.rotation.missed) {
        k.rotation.missed = false;
        rotateNow(k, 'AUTOMATIC', ctx.now);
        k.rotation.since = ctx.now;
        scheduleAutomatic(k, ctx.now + k.rotation.periodDays * dayMs);
      }
      return {};
    },

    DisableKey(ctx, input) {
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'DisableKey');
      if (k.state === 'PendingDeletion' || k.state === 'PendingImport')
        throw err.invalidState(`${k.arn} is ${stateName(k)}.`);
      if (k.state === 'Disabled') return {};
      k.state = 'Disabled';
      notify(k);
      return {};
    },

    // -- aliases

    CreateAlias(ctx, input) {
      const name = v.str(input, 'AliasName', { min: 1, max: 256 });
      const target = keyIdInput(input, 'TargetKeyId');
      validateAliasName(name);
      authorizeIam(ctx, 'CreateAlias', `arn:aws:kms:${ctx.region}:${ctx.accountId}:${name}`);
      const k = keyFor(ctx, target);
      authorize(ctx, k, 'CreateAlias');
      requireNotPendingDeletion(k);
      addAlias(k, name, ctx.now);
      return {};
    },

    UpdateAlias(ctx, input) {
      const name = v.str(input, 'AliasName', { min: 1, max: 256 });
      const target = keyIdInput(input, 'TargetKeyId');
      validateAliasName(name);
      authorizeIam(ctx, 'UpdateAlias', `arn:aws:kms:${ctx.region}:${ctx.accountId}:${name}`);
      const scope = scopeOf(ctx.accountId, ctx.region);
      const alias = aliasesByScope.get(scope)?.get(name);
      if (!alias)
        throw err.notFound(`Alias arn:aws:kms:${ctx.region}:${ctx.accountId}:${name} is not found.`);
      const from = keys.get(`${ctx.accountId}/${ctx.region}/${alias.targetKeyId}`)!;
      const to = keyFor(ctx, target);
      authorize(ctx, from, 'UpdateAlias');
      authorize(ctx, to, 'UpdateAlias');
      requireNotPendingDeletion(to);
      if (
        from.keyUsage !== to.keyUsage ||
        (from.keySpec === 'SYMMETRIC_DEFAULT') !== (to.keySpec === 'SYMMETRIC_DEFAULT')
      )
        v.fail('The new target key must have the same key type and key usage as the current target key.');
      if (from === to) return {};
      if (to.aliases.size >= world.config.aliasesPerKey)
        throw err.limit(
          `The key ${to.arn} already has ${to.aliases.size} aliases (the limit is ${world.config.aliasesPerKey}).`,
        );
      from.aliases.delete(name);
      to.aliases.add(name);
      alias.targetKeyId = to.keyId;
      alias.lastUpdatedDate = ctx.now;
      return {};
    },

    DeleteAlias(ctx, input) {
      const name = v.str(input, 'AliasName', { min: 1, max: 256 });
      if (!name.startsWith('alias/')) v.fail(`Alias must start with the prefix "alias/": ${name}`);
      if (name.startsWith('alias/aws/'))
        throw new AwsError(
          'NotAuthorizedException',
          `The alias/aws/ prefix is reserved for AWS managed keys: ${name}`,
          400,
        );
      authorizeIam(ctx, 'DeleteAlias', `arn:aws:kms:${ctx.region}:${ctx.accountId}:${name}`);
      const scope = scopeOf(ctx.accountId, ctx.region);
      const alias = aliasesByScope.get(scope)?.get(name);
      if (!alias)
        throw err.notFound(`Alias arn:aws:kms:${ctx.region}:${ctx.accountId}:${name} is not found.`);
      const k = keys.get(`${ctx.accountId}/${ctx.region}/${alias.targetKeyId}`)!;
      authorize(ctx, k, 'DeleteAlias');
      aliasesByScope.get(scope)!.delete(name);
      sortedAliasNames.delete(scope);
      k.aliases.delete(name);
      return {};
    },

    ListAliases(ctx, input) {
      const { limit, marker } = listInput(input, 100, 50);
      const keyRef = v.optStr(input, 'KeyId', { min: 1, max: 2048 });
      authorizeIam(ctx, 'ListAliases');
      const scope = scopeOf(ctx.accountId, ctx.region);
      const inScope = aliasesByScope.get(scope);
      let names: string[];
      if (keyRef !== undefined) {
        names = [...keyFor(ctx, keyRef).aliases].sort();
      } else {
        names = sortedAliasNames.get(scope) ?? [...(inScope?.keys() ?? [])].sort();
        sortedAliasNames.set(scope, names);
      }
      const { page, truncated, nextMarker } = paginate(names, limit, marker);
      return {
        Aliases: page.map((n) => aliasEntry(inScope!.get(n)!)),
        Truncated: truncated,
        ...(nextMarker ? { NextMarker: nextMarker } : {}),
      };
    },

    // -- key policies

    GetKeyPolicy(ctx, input) {
      const name = v.optStr(input, 'PolicyName', { min: 1, max: 128, pattern: /^[\w]+$/ }) ?? 'default';
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'GetKeyPolicy');
      if (name !== 'default')
        throw err.notFound(`No such policy exists: ${name} (the only policy name is "default")`);
      return { Policy: k.policyText, PolicyName: 'default' };
    },

    PutKeyPolicy(ctx, input) {
      const name = v.optStr(input, 'PolicyName', { min: 1, max: 128, pattern: /^[\w]+$/ }) ?? 'default';
      const text = v.str(input, 'Policy', { min: 1, max: 32768 });
      const bypass = v.optBool(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'PutKeyPolicy');
      if (name !== 'default')
        throw err.notFound(`No such policy exists: ${name} (the only policy name is "default")`);
      const policy = parsePolicyOrThrow(text);
      if (!bypass) lockoutCheck(ctx, policy, k.arn);
      k.policy = policy;
      k.policyText = text;
      notify(k);
      return {};
    },

    ListKeyPolicies(ctx, input) {
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'ListKeyPolicies');
      return { PolicyNames: ['default'], Truncated: false };
    },

    // -- rotation

    EnableKeyRotation(ctx, input) {
      const period = v.optInt(input, 'RotationPeriodInDays', { min: 90, max: 2560 }) ?? 365;
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'EnableKeyRotation', { 'kms:RotationPeriodInDays': String(period) });
      requireRotatable(k);
      requireUsable(k);
      enableRotation(k, period, ctx.now);
      return {};
    },

    DisableKeyRotation(ctx, input) {
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'DisableKeyRotation');
      requireRotatable(k);
      requireUsable(k);
      disableRotation(k);
      return {};
    },

    GetKeyRotationStatus(ctx, input) {
      const k = keyFor(ctx, keyIdInput(input), { crossAccount: true });
      authorize(ctx, k, 'GetKeyRotationStatus');
      if (k.keySpec !== 'SYMMETRIC_DEFAULT') requireRotatable(k);
      if (k.state === 'PendingImport') throw err.invalidState(`${k.arn} is pending import.`);
      const pendingDeletion = k.state === 'PendingDeletion';
      const enabled = k.rotation.enabled && !pendingDeletion;
      const out: JsonObject = { KeyId: k.arn, KeyRotationEnabled: enabled };
      if (enabled) {
        out['RotationPeriodInDays'] = k.rotation.periodDays;
        if (k.rotation.nextAt !== undefined) out['NextRotationDate'] = epochSeconds(k.rotation.nextAt);
      }
      if (k.onDemand) out['OnDemandRotationStartDate'] = epochSeconds(k.onDemand.startedAt);
      return out;
    },

    RotateKeyOnDemand(ctx, input) {
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'RotateKeyOnDemand');
      requireRotatable(k);
      requireUsable(k);
      if (k.onDemand) throw err.conflict(`A rotation of ${k.arn} is already in progress.`);
      if (
        k.rotation.enabled &&
        k.rotation.nextAt !== undefined &&
        k.rotation.nextAt - ctx.now <= conflictWindowMs
      )
        throw err.conflict(`An automatic rotation of ${k.arn} is due within 20 minutes.`);
      const done = k.rotations.filter((r) => r.type === 'ON_DEMAND').length;
      if (done >= world.config.onDemandRotationCap)
        throw err.limit(
          `${k.arn} has used all ${world.config.onDemandRotationCap} on-demand rotations allowed per key.`,
        );
      const at = ctx.now + world.transitionMs('kms.ROTATION');
      k.onDemand = {
        startedAt: ctx.now,
        event: world.timeline.schedule(at, `kms.rotate-on-demand ${k.keyId}`, () => {
          k.onDemand = undefined;
          rotateNow(k, 'ON_DEMAND', at);
        }),
      };
      return { KeyId: k.arn };
    },

    ListKeyRotations(ctx, input) {
      const { limit, marker } = listInput(input, 1000, 100);
      const include =
        v.optEnum(input, 'IncludeKeyMaterial', ['ROTATIONS_ONLY', 'ALL_KEY_MATERIAL'] as const) ??
        'ROTATIONS_ONLY';
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'ListKeyRotations');
      requireRotatable(k);
      const state = (id: string) => (id === k.currentMaterialId ? 'CURRENT' : 'NON_CURRENT');
      const entries: JsonObject[] = [];
      if (include === 'ALL_KEY_MATERIAL' && k.initialMaterialId)
        entries.push({
          KeyId: k.keyId,
          KeyMaterialId: k.initialMaterialId,
          KeyMaterialState: state(k.initialMaterialId),
        });
      for (const r of k.rotations)
        entries.push({
          KeyId: k.keyId,
          KeyMaterialId: r.materialId,
          KeyMaterialState: state(r.materialId),
          RotationDate: epochSeconds(r.date),
          RotationType: r.type,
        });
      const { page, truncated, nextMarker } = paginate(entries, limit, marker);
      return { Rotations: page, Truncated: truncated, ...(nextMarker ? { NextMarker: nextMarker } : {}) };
    },

    // -- deletion

    ScheduleKeyDeletion(ctx, input) {
      const days = v.optInt(input, 'PendingWindowInDays', { min: 7, max: 30 }) ?? 30;
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'ScheduleKeyDeletion', {
        'kms:ScheduleKeyDeletionPendingWindowInDays': String(days),
      });
      requireNotPendingDeletion(k);
      scheduleDeletion(k, days, ctx.now);
      notify(k);
      return {
        KeyId: k.arn,
        DeletionDate: epochSeconds(k.deletion!.date),
        KeyState: 'PendingDeletion',
        PendingWindowInDays: days,
      };
    },

    CancelKeyDeletion(ctx, input) {
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'CancelKeyDeletion');
      if (k.state !== 'PendingDeletion')
        throw err.invalidState(`${k.arn} is not pending deletion (it is ${k.state}).`);
      k.deletion?.event.cancel();
      k.deletion = undefined;
      k.state = k.currentMaterialId ? 'Disabled' : 'PendingImport';
      notify(k);
      return { KeyId: k.arn };
    },

    // -- grants

    CreateGrant(ctx, input) {
      const grantee = v.optStr(input, 'GranteePrincipal', { min: 1, max: 256 });
      const granteeService = v.optStr(input, 'GranteeServicePrincipal', { min: 1, max: 256 });
      if ((grantee === undefined) === (granteeService === undefined))
        v.fail('Specify exactly one of GranteePrincipal and GranteeServicePrincipal.');
      const ops = v.optStringList(input, 'Operations');
      if (!ops || ops.length === 0)
        v.fail(
          "1 validation error detected: Value null at 'operations' failed to satisfy constraint: Member must not be null",
        );
      for (const op of ops!)
        if (!(grantOperations as readonly string[]).includes(op))
          v.fail(
            `1 validation error detected: Value '${op}' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [${grantOperations.join(', ')}]`,
          );
      const retiring = v.optStr(input, 'RetiringPrincipal', { min: 1, max: 256 });
      const retiringService = v.optStr(input, 'RetiringServicePrincipal', { min: 1, max: 256 });
      const name = v.optStr(input, 'Name', { min: 1, max: 256, pattern: grantNamePattern });
      const rawConstraints = v.optObject(input, 'Constraints');
      let constraints: Grant['constraints'];
      if (rawConstraints) {
        const subset = contextMap(rawConstraints['EncryptionContextSubset'], 'EncryptionContextSubset');
        const equals = contextMap(rawConstraints['EncryptionContextEquals'], 'EncryptionContextEquals');
        const sourceArn = v.optStr(rawConstraints, 'SourceArn', { min: 1, max: 2048 });
        if (subset && equals)
          v.fail('Specify only one of EncryptionContextSubset and EncryptionContextEquals.');
        constraints = {
          ...(subset ? { EncryptionContextSubset: subset } : {}),
          ...(equals ? { EncryptionContextEquals: equals } : {}),
          ...(sourceArn ? { SourceArn: sourceArn } : {}),
        };
      }
      if (granteeService && (!constraints?.SourceArn || !retiringService))
        v.fail(
          'A grant for a GranteeServicePrincipal needs a SourceArn constraint and a RetiringServicePrincipal.',
        );
      v.optStringList(input, 'GrantTokens');
      const k = keyFor(ctx, keyIdInput(input), { crossAccount: true });
      const ec = constraints?.EncryptionContextEquals ?? constraints?.EncryptionContextSubset;
      const grantCtx: Record<string, string | string[]> = {
        'kms:GrantOperations': ops!,
        'kms:GrantIsForAWSResource': 'false',
        ...(grantee ? { 'kms:GranteePrincipal': grantee } : {}),
        ...(retiring ? { 'kms:RetiringPrincipal': retiring } : {}),
        ...encryptionContextConditions(ec),
      };
      if (constraints?.EncryptionContextEquals)
        grantCtx['kms:GrantConstraintType'] = 'EncryptionContextEquals';
      else if (constraints?.EncryptionContextSubset)
        grantCtx['kms:GrantConstraintType'] = 'EncryptionContextSubset';
      authorize(ctx, k, 'CreateGrant', grantCtx, {
        ec,
        newGrant: { operations: ops!, equals: constraints?.EncryptionContextEquals !== undefined },
      });
      requireUsable(k);
      checkDryRun(input);
      const fields: Omit<Grant, 'grantId' | 'creationDate'> = {
        keyId: k.arn,
        operations: [...ops!],
        issuingAccount: `arn:aws:iam::${ctx.accountId}:root`,
        ...(name !== undefined ? { name } : {}),
        ...(grantee ? { granteePrincipal: grantee } : {}),
        ...(granteeService ? { granteeServicePrincipal: granteeService } : {}),
        ...(retiring ? { retiringPrincipal: retiring } : {}),
        ...(retiringService ? { retiringServicePrincipal: retiringService } : {}),
        ...(constraints ? { constraints } : {}),
      };
      if (name !== undefined) {
        for (const id of k.grantsByName.get(name) ?? []) {
          const g = k.grants.get(id)!;
          if (sameGrant(g, fields)) return { GrantId: g.grantId, GrantToken: issueToken(k, g.grantId) };
        }
      }
      const grant: Grant = { ...fields, grantId: hex(64), creationDate: ctx.now };
      storeGrant(k, grant);
      return { GrantId: grant.grantId, GrantToken: issueToken(k, grant.grantId) };
    },

    ListGrants(ctx, input) {
      const { limit, marker } = listInput(input, 100, 50);
      const grantId = v.optStr(input, 'GrantId', { min: 1, max: 128 });
      const grantee = v.optStr(input, 'GranteePrincipal', { min: 1, max: 256 });
      const k = keyFor(ctx, keyIdInput(input), { crossAccount: true });
      authorize(ctx, k, 'ListGrants');
      let grants: Grant[];
      if (grantId !== undefined) {
        const g = k.grants.get(grantId);
        grants = g ? [g] : [];
      } else grants = [...k.grants.values()];
      if (grantee !== undefined)
        grants = grants.filter(
          (g) => g.granteePrincipal === grantee || g.granteeServicePrincipal === grantee,
        );
      const { page, truncated, nextMarker } = paginate(grants, limit, marker);
      return {
        Grants: page.map(grantEntry),
        Truncated: truncated,
        ...(nextMarker ? { NextMarker: nextMarker } : {}),
      };
    },

    RetireGrant(ctx, input) {
      const token = v.optStr(input, 'GrantToken', { min: 1, max: 8192 });
      const grantId = v.optStr(input, 'GrantId', { min: 1, max: 128 });
      const keyRef = v.optStr(input, 'KeyId', { min: 1, max: 2048 });
      let k: KeyRecord;
      let id: string;
      if (token !== undefined) {
        const t = grantTokens.get(token);
        if (!t) throw new AwsError('InvalidGrantTokenException', 'The grant token is not valid.', 400);
        k = t.key;
        id = t.grantId;
      } else {
        if (grantId === undefined || keyRef === undefined)
          v.fail('Specify either GrantToken, or both KeyId and GrantId.');
        if (!keyRef!.startsWith('arn:')) throw err.invalidArn('RetireGrant takes the key ARN in KeyId.');
        k = keyFor(ctx, keyRef!, { crossAccount: true });
        id = grantId!;
      }
      const g = k.grants.get(id);
      if (!g) throw err.notFound(`Grant ${id} does not exist on ${k.arn}.`);
      const p = requestPrincipal(ctx.caller);
      const me = new Set([ctx.caller.arn, p.kind === 'aws' ? p.roleArn : undefined]);
      const allowedByGrant =
        (g.retiringPrincipal !== undefined && me.has(g.retiringPrincipal)) ||
        (g.granteePrincipal !== undefined &&
          me.has(g.granteePrincipal) &&
          g.operations.includes('RetireGrant'));
      if (!allowedByGrant) authorize(ctx, k, 'RetireGrant');
      checkDryRun(input);
      removeGrant(k, id);
      return {};
    },

    RevokeGrant(ctx, input) {
      const grantId = v.str(input, 'GrantId', { min: 1, max: 128 });
      const k = keyFor(ctx, keyIdInput(input), { crossAccount: true });
      authorize(ctx, k, 'RevokeGrant');
      if (!k.grants.has(grantId)) throw err.notFound(`Grant ${grantId} does not exist on ${k.arn}.`);
      checkDryRun(input);
      removeGrant(k, grantId);
      return {};
    },

    // -- cryptographic operations

    Encrypt(ctx, input) {
      const plaintext = blobInput(input, 'Plaintext');
      if (!plaintext)
        v.fail(
          "1 validation error detected: Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
        );
      if (plaintext!.length < 1 || plaintext!.length > 4096)
        v.fail(
          "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096",
        );
      const ec = v.optStringMap(input, 'EncryptionContext');
      const algorithm = v.optStr(input, 'EncryptionAlgorithm');
      v.optStringList(input, 'GrantTokens');
      const k = cryptoKey(ctx, input);
      authorize(
        ctx,
        k,
        'Encrypt',
        {
          ...encryptionContextConditions(ec),
          ...requestAliasContext(input),
          'kms:EncryptionAlgorithm': algorithm ?? 'SYMMETRIC_DEFAULT',
        },
        { ec },
      );
      requireUsable(k);
      requireEncryptUsage(k, 'Encrypt');
      const allowed = keySpecs[k.keySpec]?.encryption ?? [];
      const alg = algorithm ?? (k.keySpec === 'SYMMETRIC_DEFAULT' ? 'SYMMETRIC_DEFAULT' : undefined);
      if (!alg || !allowed.includes(alg))
        throw err.keyUsage(
          `Encryption algorithm ${alg ?? '(none)'} is not valid for ${k.arn}; valid: ${allowed.join(', ')}`,
        );
      checkDryRun(input);
      return {
        KeyId: k.arn,
        CiphertextBlob: encrypt(k, plaintext!, ec).toString('base64'),
        EncryptionAlgorithm: alg,
      };
    },

    Decrypt(ctx, input) {
      const modifiers = v.optStringList(input, 'DryRunModifiers') ?? [];
      for (const m of modifiers)
        if (m !== 'IGNORE_CIPHERTEXT')
          v.fail(
            `1 validation error detected: Value '${m}' at 'dryRunModifiers' failed to satisfy constraint: Member must satisfy enum value set: [IGNORE_CIPHERTEXT]`,
          );
      const dryRun = v.optBool(input, 'DryRun') ?? false;
      if (modifiers.length > 0 && !dryRun)
        v.fail('DryRunModifiers can only be used with DryRun set to true.');
      const ignoreCiphertext = modifiers.includes('IGNORE_CIPHERTEXT');
      const ec = v.optStringMap(input, 'EncryptionContext');
      const algorithm = v.optStr(input, 'EncryptionAlgorithm');
      v.optStringList(input, 'GrantTokens');
      const keyRef = v.optStr(input, 'KeyId', { min: 1, max: 2048 });
      const blob = blobInput(input, 'CiphertextBlob');
      if (ignoreCiphertext && keyRef === undefined)
        v.fail('KeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT.');
      if (!ignoreCiphertext && !blob)
        v.fail(
          "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null",
        );
      const named = keyRef !== undefined ? cryptoKey(ctx, input) : undefined;
      let env: Envelope | undefined;
      let k: KeyRecord;
      if (ignoreCiphertext) {
        k = named!;
      } else {
        env = openEnvelope(blob!);
        if (!env) throw err.ciphertext('The ciphertext is invalid.');
        const found = lookup(env.keyArn, ctx.region, ctx.accountId);
        if (!found.key) {
          if (env.keyArn.split(':')[3] !== ctx.region)
            throw err.ciphertext('The ciphertext was made in another Region.');
          throw found.error ?? err.ciphertext();
        }
        if (named && named !== found.key)
          throw new AwsError(
            'IncorrectKeyException',
            'The key ID in the request does not identify a KMS key that can perform this operation.',
            400,
          );
        k = found.key;
      }
      authorize(
        ctx,
        k,
        'Decrypt',
        {
          ...encryptionContextConditions(ec),
          ...requestAliasContext(input),
          'kms:EncryptionAlgorithm': algorithm ?? 'SYMMETRIC_DEFAULT',
        },
        { ec },
      );
      requireUsable(k);
      requireEncryptUsage(k, 'Decrypt');
      if (dryRun) throw err.dryRun();
      const material = k.materials.get(env!.materialId);
      const plaintext = material ? unseal(env!, material, ec) : undefined;
      if (!plaintext) throw err.ciphertext();
      return {
        KeyId: k.arn,
        Plaintext: plaintext.toString('base64'),
        EncryptionAlgorithm: algorithm ?? keySpecs[k.keySpec]?.encryption?.[0] ?? 'SYMMETRIC_DEFAULT',
        KeyMaterialId: env!.materialId,
      };
    },

    GenerateDataKey(ctx, input) {
      const { plaintext, out } = generateDataKey(ctx, input, 'GenerateDataKey');
      return { ...out, Plaintext: plaintext.toString('base64') };
    },

    GenerateDataKeyWithoutPlaintext(ctx, input) {
      return generateDataKey(ctx, input, 'GenerateDataKeyWithoutPlaintext').out;
    },

    // -- tags

    TagResource(ctx, input) {
      const tags = validateTags(input['Tags'], 'Tags');
      if (input['Tags'] === undefined)
        v.fail(
          "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
        );
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'TagResource');
      requireNotPendingDeletion(k);
      addTags(k, tags);
      return {};
    },

    UntagResource(ctx, input) {
      const tagKeys = v.optStringList(input, 'TagKeys');
      if (!tagKeys)
        v.fail(
          "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
        );
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'UntagResource');
      requireNotPendingDeletion(k);
      for (const t of tagKeys!) k.tags.delete(t);
      return {};
    },

    ListResourceTags(ctx, input) {
      const { limit, marker } = listInput(input, 50, 50);
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'ListResourceTags');
      const { page, truncated, nextMarker } = paginate([...k.tags], limit, marker);
      return {
        Tags: page.map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
        Truncated: truncated,
        ...(nextMarker ? { NextMarker: nextMarker } : {}),
      };
    },
  };

  // -- KmsAccess ------------------------------------------------------------------------------------

  function keyByRef(ref: string): KeyRecord | undefined {
    if (ref.startsWith('arn:')) {
      const [, , , region, account] = ref.split(':');
      return region && account ? lookup(ref, region, account).key : undefined;
    }
    return byKeyId.get(ref);
  }

  const access: KmsAccess = {
    findKey(ref, region, accountId) {
      const k = lookup(ref, region, accountId).key;
      return k ? view(k) : undefined;
    },
    serviceUseDenied(req) {
      const k = keyByRef(req.key.arn);
      if (!k) return `Key '${req.key.arn}' does not exist`;
      const p = requestPrincipal(req.caller);
      return serviceUseDenied(k.policy, {
        service: req.service,
        keyArn: k.arn,
        caller: {
          arn: req.caller.arn,
          accountId: req.caller.accountId,
          iamAllow: req.caller.iamAllow,
          roleArn: p.kind === 'aws' ? p.roleArn : undefined,
        },
        region: req.region,
        accountId: req.accountId,
        sourceArn: req.sourceArn,
        encryptionContext: req.encryptionContext,
      });
    },
    createServiceGrant(keyId, grant) {
      const k = keyByRef(keyId);
      if (!k) throw err.notFound(`Key '${keyId}' does not exist`);
      const g: Grant = {
        keyId: k.arn,
        grantId: hex(64),
        name: grant.name,
        granteeServicePrincipal: grant.granteeServicePrincipal,
        operations: [...grant.operations],
        creationDate: world.clock.now(),
        issuingAccount: `arn:aws:iam::${k.accountId}:root`,
        ...(grant.retiringServicePrincipal
          ? { retiringServicePrincipal: grant.retiringServicePrincipal }
          : {}),
        ...(grant.encryptionContextSubset
          ? { constraints: { EncryptionContextSubset: { ...grant.encryptionContextSubset } } }
          : {}),
      };
      storeGrant(k, g);
      return g.grantId;
    },
    retireServiceGrant(keyId, grantId) {
      const k = keyByRef(keyId);
      if (k) removeGrant(k, grantId);
    },
    grantCount(keyId) {
      return keyByRef(keyId)?.grants.size ?? 0;
    },
    onKeyChange(listener) {
      listeners.push(listener);
    },
  };
  world.kms = access;

  // -- seed -----------------------------------------------------------------------------------------

  function seed(section: unknown, w: World): void {
    if (section === null || typeof section !== 'object' || Array.isArray(section))
      throw new Error('seed: kms must be a mapping with a `keys` list');
    const list = (section as Record<string, unknown>)['keys'] ?? [];
    if (!Array.isArray(list)) throw new Error('seed: kms.keys must be a list');
    const now = w.clock.now();
    for (const [i, raw] of list.entries()) {
      const where = `seed: kms.keys[${i}]`;
      if (raw === null || typeof raw !== 'object') throw new Error(`${where} must be a mapping`);
      const s = raw as Record<string, unknown>;
      const str = (name: string): string | undefined => {
        const x = s[name];
        if (x === undefined || x === null) return undefined;
        if (typeof x !== 'string' && typeof x !== 'number')
          throw new Error(`${where}.${name} must be a string`);
        return String(x);
      };
      const keySpec = str('keySpec') ?? 'SYMMETRIC_DEFAULT';
      const keyUsage =
        str('keyUsage') ??
        (keySpec.startsWith('HMAC')
          ? 'GENERATE_VERIFY_MAC'
          : keySpec.startsWith('ECC') || keySpec.startsWith('ML_DSA')
            ? 'SIGN_VERIFY'
            : 'ENCRYPT_DECRYPT');
      if (!keySpecs[keySpec]?.usages.includes(keyUsage))
        throw new Error(`${where}: keyUsage ${keyUsage} does not fit keySpec ${keySpec}`);
      let policyText: string | undefined;
      if (typeof s['policy'] === 'string') policyText = s['policy'];
      else if (s['policy'] !== undefined && s['policy'] !== null) policyText = JSON.stringify(s['policy']);
      let policy: PolicyDocument | undefined;
      if (policyText !== undefined) {
        try {
          policy = parseKeyPolicy(policyText);
        } catch (e) {
          throw new Error(`${where}.policy: ${(e as Error).message}`);
        }
      }
      const accountId = str('accountId') ?? w.config.accountId;
      const region = str('region') ?? w.config.defaultRegion;
      const keyId = str('keyId');
      if (keyId !== undefined && keys.has(`${accountId}/${region}/${keyId}`))
        throw new Error(`${where}: key ${keyId} already exists in ${accountId}/${region}`);
      const k = buildKey({
        accountId,
        region,
        now,
        keySpec,
        keyUsage,
        ...(keyId !== undefined ? { keyId } : {}),
        ...(str('description') !== undefined ? { description: str('description') } : {}),
        ...(str('origin') !== undefined ? { origin: str('origin') } : {}),
        ...(s['multiRegion'] === true ? { multiRegion: true } : {}),
        ...(policyText !== undefined ? { policyText, policy } : {}),
      });
      const tags = s['tags'];
      if (Array.isArray(tags))
        addTags(
          k,
          tags.map((t: { TagKey: string; TagValue: string }) => [t.TagKey, t.TagValue]),
        );
      else if (tags && typeof tags === 'object')
        addTags(
          k,
          Object.entries(tags as Record<string, unknown>).map(([tk, tv]) => [tk, String(tv)]),
        );
      insertKey(k);
      const aliasNames = [
        ...(s['alias'] !== undefined ? [String(s['alias'])] : []),
        ...(Array.isArray(s['aliases']) ? s['aliases'].map(String) : []),
      ];
      for (const a of aliasNames) {
        const name = a.startsWith('alias/') ? a : `alias/${a}`;
        addAlias(k, name, now);
      }
      const rotation = s['rotation'] as { enabled?: boolean; periodInDays?: number } | undefined;
      if (rotation?.enabled) {
        const period = rotation.periodInDays ?? 365;
        if (period < 90 || period > 2560) throw new Error(`${where}.rotation.periodInDays must be 90-2560`);
        if (keySpec !== 'SYMMETRIC_DEFAULT' || k.origin !== 'AWS_KMS')
          throw new Error(`${where}: only symmetric AWS_KMS keys rotate`);
        enableRotation(k, period, now);
      }
      const state = str('state') ?? k.state;
      if (state === 'Disabled') k.state = 'Disabled';
      else if (state === 'PendingDeletion') {
        const days = Number(s['pendingWindowInDays'] ?? 30);
        if (!(days >= 7 && days <= 30)) throw new Error(`${where}.pendingWindowInDays must be 7-30`);
        scheduleDeletion(k, days, now);
      } else if (state !== 'Enabled' && state !== 'PendingImport')
        throw new Error(`${where}.state must be Enabled, Disabled or PendingDeletion`);
    }
  }

  return {
    name: 'kms',
    protocol: 'awsJson1_1',
    targetPrefix: 'TrentService',
    operations,
    seed,
    snapshot: () => ({
      keys: [...keys.values()].map((k) => ({
        keyId: k.keyId,
        arn: k.arn,
        state: k.state,
        keySpec: k.keySpec,
        aliases: [...k.aliases],
        rotationEnabled: k.rotation.enabled,
        ...(k.rotation.nextAt !== undefined && k.rotation.enabled
          ? { nextRotation: new Date(k.rotation.nextAt).toISOString() }
          : {}),
        rotations: k.rotations.length,
        currentKeyMaterialId: k.currentMaterialId,
        grants: k.grants.size,
        ...(k.deletion ? { deletionDate: new Date(k.deletion.date).toISOString() } : {}),
      })),
    }),
  };
}
