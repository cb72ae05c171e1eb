// "A customer managed key this service can use": the one check chain that Managed Service for Apache
// Flink, Keyspaces and EMR Serverless run when a workload is pointed at a KMS key (CreateApplication,
// UpdateApplication, CreateTable, UpdateTable, StartJobRun), and the small "can stored data still be
// read" rule they apply afterwards. Pure: the key directory (KMS lookups and KMS's policy verdict) is
// passed in, nothing here reads the world or throws except `requireKeyUsable`.
//
// The chain, in the order every service runs it (the first failing step decides the error):
//   format          the identifier is a form the service accepts (KMS-001; MSF-020 takes key ids, key
//                   ARNs, alias names and alias ARNs; KS-022 and EMR-011 take key ARNs only)
//   region          an ARN names the request's region (MSF-005, KS-013)
//   account         an ARN names the request's account (MSF-005, KS-013)
//   exists          KMS resolves the identifier in that account and region (KS-013)
//   scope           the resolved key lives there too (MSF only; see below)
//   customerManaged KeyManager is CUSTOMER (KMS-006)
//   symmetric       KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT (KMS-006, MSF-004, EMR-002)
//   enabled         KeyState is Enabled; Disabled, PendingDeletion and PendingImport all fail here
//                   (KMS-006, KMS-004, KS-018, KS-021)
//   policy          KMS would let the service use the key for the caller: service principals, the
//                   caller's permissions through kms:ViaService, encryption context, SourceArn
//                   (MSF-007, MSF-010, KS-010, KS-011, KS-012, EMR-006, EMR-007)
//
// Where the three services differ (each keeps its observable behaviour):
//   - MSF accepts key ids, key ARNs, alias names and alias ARNs (MSF-020: stored as the key ARN), so
//     its region/account steps apply only to ARNs, and it re-checks the resolved key's scope. For
//     Keyspaces and EMR the identifier is a key ARN in the request's scope by then, so the scope step
//     can never fail and they have no wording for it.
//   - Keyspaces rejects a malformed kmsKeyIdentifier during request validation (KS-022, parsing in
//     services/keyspaces/rules.ts), before the table is looked up, with its own alias wording; its
//     `format` step here therefore never fails on a request. EMR checks the format (EMR-011) inside the
//     chain, after CreateApplication's clientToken replay and StartJobRun's state checks.
//   - MSF checks the runtime (MSF-005, FLINK-1_20 or later) before the chain starts.
//   - Keyspaces creates its two grants after the chain passes (KS-012, KS-014); a full grant quota is
//     a Keyspaces-only failure and is not part of this chain.

import type { Principal } from './identity.ts';
import { AwsError } from './protocol.ts';
import type { KeyView, ServiceUseRequest, WorkloadService } from './world.ts';

/** The steps of the chain, in order. */
export const keyUseChecks = [
  'format',
  'region',
  'account',
  'exists',
  'scope',
  'customerManaged',
  'symmetric',
  'enabled',
  'policy',
] as const;
export type KeyUseCheck = (typeof keyUseChecks)[number];

/** What the chain may ask KMS (a subset of world.kms). */
export interface KeyDirectory {
  findKey(ref: string, region: string, accountId: string): KeyView | undefined;
  serviceUseDenied(request: ServiceUseRequest): string | undefined;
}

export interface KeyUseRequest {
  service: WorkloadService;
  /** The identifier exactly as the caller sent it. */
  ref: string;
  /** The workload's region and account (where the key must live). */
  region: string;
  accountId: string;
  caller: Principal;
  /** The workload's ARN, for aws:SourceArn conditions. */
  sourceArn: string;
  encryptionContext: Record<string, string>;
}

/** What a message may name: the request, the scope read from an ARN, the resolved key, KMS's reason. */
export interface KeyUseFacts {
  ref: string;
  region: string;
  accountId: string;
  callerArn: string;
  keyRegion?: string;
  keyAccount?: string;
  key?: KeyView;
  denied?: string;
}

export type KeyUseVerdict = { ok: true; key: KeyView } | { ok: false; check: KeyUseCheck; message: string };

type Message = (facts: KeyUseFacts) => string;

export interface KeyUseVocabulary {
  /** The error every failed step is reported as, and its HTTP status. */
  code: string;
  status: number;
  /** `key-arn`: only `arn:aws:kms:<region>:<account>:key/<id>`; `any`: key id, key ARN, alias name, alias ARN. */
  accepts: 'key-arn' | 'any';
  /** One message per step; a step without one is not made by that service (only `scope`). */
  messages: Record<Exclude<KeyUseCheck, 'scope'>, Message> & { scope?: Message };
}

/** KMS-001, KS-022, EMR-011: the shape of a key ARN (no alias ARN, no bare key id). */
export const keyArnPattern = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/([A-Za-z0-9-]+)$/;

/** KMS-001: the region and account a key ARN names, or undefined when `ref` is not a key ARN. */
export function keyArnScope(ref: string): { region: string; accountId: string } | undefined {
  const m = keyArnPattern.exec(ref);
  return m ? { region: m[1]!, accountId: m[2]! } : undefined;
}

/**
 * KMS-001: reads the scope out of an identifier a service accepts. `undefined` scope members mean the
 * identifier names no scope (a key id or alias name, which KMS resolves in the request's scope);
 * `valid: false` means the service does not accept the identifier at all.
 */
export function identifierScope(
  ref: string,
  accepts: KeyUseVocabulary['accepts'],
): { valid: boolean; region?: string; accountId?: string } {
  if (accepts === 'key-arn') {
    const scope = keyArnScope(ref);
    return scope ? { valid: true, ...scope } : { valid: false };
  }
  if (!ref.startsWith('arn:')) return { valid: true };
  const parts = ref.split(':');
  if (parts.length < 6 || parts[2] !== 'kms') return { valid: false };
  return { valid: true, region: parts[3]!, accountId: parts[4]! };
}

/** KMS-006: the key type all three workload services require. */
export function isSymmetricEncryptionKey(key: Pick<KeyView, 'keySpec' | 'keyUsage'>): boolean {
  return key.keySpec === 'SYMMETRIC_DEFAULT' && key.keyUsage === 'ENCRYPT_DECRYPT';
}

/**
 * KMS-004, KS-018, MSF-018: whether data under a key can be read or written now. Only an existing,
 * Enabled key can; this is what the services re-check when a transition completes or a key changes.
 */
export function keyServesData(key: Pick<KeyView, 'state'> | undefined): boolean {
  return key !== undefined && key.state === 'Enabled';
}

/** Runs the chain; the first failing step answers, worded the service's way. */
export function checkKeyUsable(
  directory: KeyDirectory,
  vocabulary: KeyUseVocabulary,
  request: KeyUseRequest,
): KeyUseVerdict {
  const facts: KeyUseFacts = {
    ref: request.ref,
    region: request.region,
    accountId: request.accountId,
    callerArn: request.caller.arn,
  };
  const fail = (check: KeyUseCheck, message: Message): KeyUseVerdict => ({
    ok: false,
    check,
    message: message(facts),
  });
  const m = vocabulary.messages;

  const scope = identifierScope(request.ref, vocabulary.accepts);
  if (!scope.valid) return fail('format', m.format);
  if (scope.region !== undefined) facts.keyRegion = scope.region;
  if (scope.accountId !== undefined) facts.keyAccount = scope.accountId;
  if (scope.region !== undefined && scope.region !== request.region) return fail('region', m.region);
  if (scope.accountId !== undefined && scope.accountId !== request.accountId)
    return fail('account', m.account);

  const key = directory.findKey(request.ref, request.region, request.accountId);
  if (!key) return fail('exists', m.exists);
  facts.key = key;
  if (m.scope && (key.region !== request.region || key.accountId !== request.accountId))
    return fail('scope', m.scope);
  if (key.keyManager !== 'CUSTOMER') return fail('customerManaged', m.customerManaged);
  if (!isSymmetricEncryptionKey(key)) return fail('symmetric', m.symmetric);
  if (!keyServesData(key)) return fail('enabled', m.enabled);

  const denied = directory.serviceUseDenied({
    key,
    service: request.service,
    caller: request.caller,
    region: request.region,
    accountId: request.accountId,
    sourceArn: request.sourceArn,
    encryptionContext: request.encryptionContext,
  });
  if (denied !== undefined) {
    facts.denied = denied;
    return fail('policy', m.policy);
  }
  return { ok: true, key };
}

/** The chain as the request handlers use it: the key, or the service's error. */
export function requireKeyUsable(
  directory: KeyDirectory,
  vocabulary: KeyUseVocabulary,
  request: KeyUseRequest,
): KeyView {
  const verdict = checkKeyUsable(directory, vocabulary, request);
  if (!verdict.ok) throw new AwsError(vocabulary.code, verdict.message, vocabulary.status);
  return verdict.key;
}

// ---- Each service's wording -------------------------------------------------------------------------
// The messages are the services' own and must stay byte-identical: tests and operators match on them.

/** Keyspaces and EMR Serverless word these two steps alike. */
const accountArnStyle: Message = (f) =>
  `The KMS key ${f.ref} belongs to account ${f.keyAccount}; use a KMS key in account ${f.accountId}`;
const customerManagedArnStyle: Message = (f) =>
  `The KMS key ${f.ref} is an AWS managed key; specify a customer managed key`;
const notSymmetricArnStyle =
  (service: string): Message =>
  (f) =>
    `The KMS key ${f.ref} is not a symmetric encryption key (KeySpec ${f.key!.keySpec}, KeyUsage ${f.key!.keyUsage}); ${service} supports only symmetric encryption KMS keys`;
const notEnabledArnStyle =
  (service: string): Message =>
  (f) =>
    `The KMS key ${f.ref} is ${f.key!.state}; ${service} can only use an Enabled KMS key`;
const deniedArnStyle =
  (service: string): Message =>
  (f) =>
    `${service} could not use the KMS key ${f.ref} on behalf of ${f.callerArn}: ${f.denied}`;

/** MSF: InvalidArgumentException naming the key and what is missing (MSF-004, MSF-005, MSF-010). */
export const msfKeyVocabulary: KeyUseVocabulary = {
  code: 'InvalidArgumentException',
  status: 400,
  accepts: 'any',
  messages: {
    format: (f) => `${f.ref} is not a KMS key or alias ARN.`,
    region: (f) =>
      `KMS key ${f.ref} is in region ${f.keyRegion}; the key must be in the application's region ${f.region}.`,
    account: (f) =>
      `KMS key ${f.ref} belongs to account ${f.keyAccount}; the key must be in the application's account ${f.accountId}.`,
    exists: (f) => `KMS key ${f.ref} does not exist or is not accessible in region ${f.region}.`,
    scope: (f) =>
      `KMS key ${f.key!.arn} must be in the application's account ${f.accountId} and region ${f.region}.`,
    customerManaged: (f) =>
      `KMS key ${f.key!.arn} is an AWS managed key; only customer managed keys can be used.`,
    symmetric: (f) =>
      `KMS key ${f.key!.arn} has KeySpec ${f.key!.keySpec} and KeyUsage ${f.key!.keyUsage}; only symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) are supported.`,
    enabled: (f) => `KMS key ${f.key!.arn} is ${f.key!.state}; the key must be Enabled.`,
    policy: (f) => `Managed Service for Apache Flink cannot use KMS key ${f.key!.arn}: ${f.denied}`,
  },
};

/** Keyspaces: ValidationException, the way CQL reports "Invalid Request" (KS-012, KS-013, KS-022). */
export const keyspacesKeyVocabulary: KeyUseVocabulary = {
  code: 'ValidationException',
  status: 400,
  accepts: 'key-arn',
  messages: {
    format: (f) =>
      `Invalid kmsKeyIdentifier ${f.ref}: specify the ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key-id>)`,
    region: (f) =>
      `The KMS key ${f.ref} is in ${f.keyRegion}; Amazon Keyspaces tables in ${f.region} can only use KMS keys in ${f.region}`,
    account: accountArnStyle,
    exists: (f) => `The KMS key ${f.ref} does not exist or is not accessible to Amazon Keyspaces`,
    customerManaged: customerManagedArnStyle,
    symmetric: notSymmetricArnStyle('Amazon Keyspaces'),
    enabled: notEnabledArnStyle('Amazon Keyspaces'),
    policy: deniedArnStyle('Amazon Keyspaces'),
  },
};

/** EMR Serverless: ValidationException naming the key (EMR-002, EMR-006, EMR-011). */
export const emrKeyVocabulary: KeyUseVocabulary = {
  code: 'ValidationException',
  status: 400,
  accepts: 'key-arn',
  messages: {
    format: (f) =>
      `Invalid encryptionKeyArn ${f.ref}: specify the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<key-id>); aliases are not accepted`,
    region: (f) =>
      `The KMS key ${f.ref} is in ${f.keyRegion}; EMR Serverless in ${f.region} needs a key in ${f.region}`,
    account: accountArnStyle,
    exists: (f) => `The KMS key ${f.ref} does not exist`,
    customerManaged: customerManagedArnStyle,
    symmetric: notSymmetricArnStyle('EMR Serverless'),
    enabled: notEnabledArnStyle('EMR Serverless'),
    policy: deniedArnStyle('EMR Serverless'),
  },
};
