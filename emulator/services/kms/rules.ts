// KMS rules: static facts, error shapes, state guards, rotation arithmetic and request validation,
// each citing the fact it implements. No store, no clock, no HTTP.

import type { Principal } from '../../core/identity.ts';
import { AwsError } from '../../core/protocol.ts';
import type { JsonObject } from '../../core/service.ts';
import { validator } from '../../core/validate.ts';
import type { RequestPrincipal } from '../../policy.ts';
import type { Grant, KeyRecord } from './state.ts';

export const v = validator('ValidationException');

// ---- Static facts -------------------------------------------------------------------------------

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

/** Key specs, the usages each allows, and its algorithms (SDK KeySpec / KeyUsageType). */
export const keySpecs: Record<string, SpecInfo> = {
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
export const keyUsages = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const;
export const origins = ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;

/** The GrantOperation enum (SDK). */
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

export const dayMs = 86_400_000;
/** KMS-008: on-demand rotation is refused this close to a scheduled one. */
export const conflictWindowMs = 20 * 60_000;
export const aliasPattern = /^[a-zA-Z0-9:/_-]+$/;
export const grantNamePattern = /^[a-zA-Z0-9:/_-]+$/;

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

/** The ARNs a caller is known by: its own, and for a role session the role's. */
export function callerNames(caller: Principal): Set<string | undefined> {
  const p = requestPrincipal(caller);
  return new Set([caller.arn, p.kind === 'aws' ? p.roleArn : undefined]);
}

/** KMS-018: the KMS errors and their HTTP statuses. */
export const err = {
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
  notAuthorized: (message: string) => new AwsError('NotAuthorizedException', message, 400),
};

// ---- Key states (KMS-003, KMS-004, KMS-005) -----------------------------------------------------

export function stateName(k: Pick<KeyRecord, 'state'>): string {
  return k.state === 'PendingDeletion'
    ? 'pending deletion'
    : k.state === 'PendingImport'
      ? 'pending import'
      : k.state;
}

/**
 * KMS-004, KMS-005: cryptographic operations, CreateGrant and the rotation switches need an Enabled
 * key: Disabled is DisabledException, any other state KMSInvalidStateException.
 */
export function requireUsable(k: KeyRecord): void {
  if (k.state === 'Enabled') return;
  if (k.state === 'Disabled') throw err.disabled(k);
  throw err.invalidState(`${k.arn} is ${stateName(k)}.`);
}

/** KMS-004: management calls refused while the key is pending deletion. */
export function requireNotPendingDeletion(k: KeyRecord): void {
  if (k.state === 'PendingDeletion') throw err.invalidState(`${k.arn} is pending deletion.`);
}

/** KMS-004: EnableKey and DisableKey are refused while pending deletion or import. */
export function requireTogglable(k: KeyRecord): void {
  if (k.state === 'PendingDeletion' || k.state === 'PendingImport')
    throw err.invalidState(`${k.arn} is ${stateName(k)}.`);
}

/** KMS-007: only symmetric encryption keys with KMS-generated material rotate. */
export function requireRotatable(k: KeyRecord): void {
  if (k.keySpec !== 'SYMMETRIC_DEFAULT')
    throw err.unsupported(
      `${k.arn} key spec ${k.keySpec} is not valid for this operation (only symmetric encryption keys rotate).`,
    );
  if (k.origin !== 'AWS_KMS')
    throw err.unsupported(`${k.arn} origin is ${k.origin} which is not valid for this operation.`);
}

export function requireEncryptUsage(k: KeyRecord, op: string): void {
  if (k.keyUsage !== 'ENCRYPT_DECRYPT')
    throw err.keyUsage(`${k.arn} key usage is ${k.keyUsage} which is not valid for ${op}.`);
}

/** KMS-003: the state CancelKeyDeletion returns a key to (Disabled, not Enabled). */
export function stateAfterCancelledDeletion(k: Pick<KeyRecord, 'currentMaterialId'>): string {
  return k.currentMaterialId ? 'Disabled' : 'PendingImport';
}

export function checkSpecUsage(spec: string, usage: string): void {
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

// ---- Rotation (KMS-007, KMS-008, KMS-010) -------------------------------------------------------

/**
 * KMS-007: when a rotating key's next automatic rotation falls after its period changes: the last
 * rotation (or the enable date) plus the new period, at the earliest now.
 */
export function nextRotationAfterPeriodChange(since: number, periodDays: number, now: number): number {
  return Math.max(now, since + periodDays * dayMs);
}

/** KMS-008: why an on-demand rotation is refused now, or undefined when it may start. */
export function onDemandRotationProblem(
  k: Pick<KeyRecord, 'arn' | 'onDemand' | 'rotation' | 'rotations'>,
  now: number,
  cap: number,
): AwsError | undefined {
  if (k.onDemand) return err.conflict(`A rotation of ${k.arn} is already in progress.`);
  if (k.rotation.enabled && k.rotation.nextAt !== undefined && k.rotation.nextAt - now <= conflictWindowMs)
    return err.conflict(`An automatic rotation of ${k.arn} is due within 20 minutes.`);
  const done = k.rotations.filter((r) => r.type === 'ON_DEMAND').length;
  if (done >= cap) return err.limit(`${k.arn} has used all ${cap} on-demand rotations allowed per key.`);
  return undefined;
}

// ---- Aliases ------------------------------------------------------------------------------------

/** Alias names: the `alias/` prefix, the allowed characters, and `alias/aws/` reserved for AWS managed keys. */
export function validateAliasName(name: string): void {
  if (!name.startsWith('alias/') || name.length <= 'alias/'.length)
    v.fail(`Alias must start with the prefix "alias/" followed by a name: ${name}`);
  if (!aliasPattern.test(name))
    v.fail(
      `1 validation error detected: Value '${name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${aliasPattern.source}`,
    );
  refuseReservedAlias(name);
}

export function refuseReservedAlias(name: string): void {
  if (name.startsWith('alias/aws/'))
    throw err.notAuthorized(`The alias/aws/ prefix is reserved for AWS managed keys: ${name}`);
}

/** UpdateAlias: the new target must have the same key type and usage as the current one. */
export function sameKeyType(a: KeyRecord, b: KeyRecord): boolean {
  return (
    a.keyUsage === b.keyUsage && (a.keySpec === 'SYMMETRIC_DEFAULT') === (b.keySpec === 'SYMMETRIC_DEFAULT')
  );
}

// ---- Grants (KMS-013) ---------------------------------------------------------------------------

/** KMS-013: a CreateGrant retry with the same Name and the same fields returns the existing grant. */
export function sameGrant(a: Grant, b: Omit<Grant, 'grantId' | 'creationDate'>): boolean {
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

/** Grant constraints: at most 8 encryption-context pairs, each value at most 384 characters. */
export function contextMap(value: unknown, member: string): Record<string, string> | undefined {
  const m = v.optStringMap({ [member]: value } as JsonObject, member);
  if (!m) return undefined;
  const entries = Object.entries(m);
  if (entries.length > 8) v.fail(`${member} can have at most 8 encryption context pairs`);
  for (const [ck, cv] of entries)
    if (cv.length > 384) v.fail(`${member}.${ck} must be at most 384 characters`);
  return m;
}

// ---- Request members ----------------------------------------------------------------------------

export function validateTags(list: unknown, member: string): Array<[string, string]> {
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

/** At most 50 tags per key. */
export function mergedTags(current: Map<string, string>, tags: Array<[string, string]>): Map<string, string> {
  const merged = new Map(current);
  for (const [tk, tv] of tags) merged.set(tk, tv);
  if (merged.size > 50) throw err.limit('A KMS key can have at most 50 tags.');
  return merged;
}

export function blobInput(input: JsonObject, member: string): Buffer | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
    v.fail(
      `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must be a base64 blob`,
    );
  return Buffer.from(value as string, 'base64');
}

export const keyIdInput = (input: JsonObject, member = 'KeyId') =>
  v.str(input, member, { min: 1, max: 2048 });

export function listInput(input: JsonObject, max: number, dflt: number) {
  return {
    limit: v.optInt(input, 'Limit', { min: 1, max }) ?? dflt,
    marker: v.optStr(input, 'Marker', { min: 1, max: 1024 }),
  };
}

/** KMS-014: DryRun never succeeds; a call that would have succeeded answers DryRunOperationException. */
export function checkDryRun(input: JsonObject): void {
  if (v.optBool(input, 'DryRun')) throw err.dryRun();
}

/** Pagination: opaque markers holding the next index (AWS-005: no marker on the last page). */
export function paginate<T>(items: readonly T[], limit: number, marker: string | undefined) {
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
