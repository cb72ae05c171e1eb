// The key pre-flight of a workload switch (safety invariant 1): the key-state chain of checks.ts, then
// whether the key policy lets the service make every KMS call the workload will need. The policy part
// reads the policy (GetKeyPolicy) instead of probing with DryRun, because the statements the services
// need name service principals or carry `kms:ViaService`, which a direct call from the operator never
// matches (KMS-015, TRAP-17).
//
// Guarantees:
// - Pure: no I/O. The caller reads the key (DescribeKey) and its policy and passes them in.
// - The requests replayed are the ones service-requirements.ts describes (`calls`, `serviceKmsProfiles`):
//   service-principal calls carry aws:SourceAccount / aws:SourceArn and the encryption context,
//   CreateGrant carries kms:GrantOperations / kms:GrantConstraintType (MSF-009), calls by the
//   operator through the service carry kms:ViaService and kms:CallerAccount. Keyspaces is replayed
//   from three Regions, so a Region-pinned kms:ViaService fails as KS-011 says it will.
// - Every missing (principal, action) is returned with the statement to add, taken from
//   generateKeyPolicy so the advice is exactly what the operator would generate.
// - What the key policy delegates to IAM ('allowed-if-iam-allows') passes with a note: IAM policies
//   cannot be read from here, and the service's own check at switch time is the final word. Most
//   accounts keep the account-root statement, so failing on it would block nearly every key.
// - A policy that cannot be analysed fails closed (KeyPolicyUnparseable): never switch onto a key
//   whose policy was not understood.
// - Only the target key is checked; leaving a CMK needs the same permissions on the old key (MSF-015),
//   which the caller checks by running this on the old key.

import { createHash } from 'node:crypto';
import type { KeyUser } from '../api/kmskey.ts';
import { checkKey, keyCheckNames } from './checks.ts';
import { type KeyFacts, parseKeyArn } from './key-facts.ts';
import { generateKeyPolicy, type PolicyStatement } from './policy.ts';
import {
  type ContextValue,
  contextKeysRead,
  evaluateParsedKeyPolicy,
  type ParsedKeyPolicy,
  parseKeyPolicy,
  type RequestPrincipal,
  roleArnOfSession,
} from './policy-analysis.ts';
import {
  type CarriedContext,
  type RequiredStatement,
  serviceKmsProfiles,
  serviceRequirements,
} from './service-requirements.ts';

export interface ServiceKeyUseInput {
  service: KeyUser;
  /** The key policy as GetKeyPolicy returns it (JSON text). */
  policy: string;
  keyArn: string;
  /** The workload's Region. */
  region: string;
  /** The workload's account. */
  accountId: string;
  /** Who calls the workload API: the operator's identity or its assumed-role session. */
  operatorPrincipalArn: string;
  /** The workload's ARN (aws:SourceArn). */
  resourceArn: string;
  /** The encryption context the service puts on its KMS calls (the adapter's encryptionContext()). */
  encryptionContext: Record<string, string>;
}

export interface MissingPermission {
  /** A service principal, or the operator's ARN. */
  principal: string;
  action: string;
  /** The service-requirements.ts entry that covers it; also `statementToAdd.Sid`. */
  requirement: string;
  /** Why the closest statement did not apply, for each replayed request that failed. */
  condition?: string;
  /** A Deny statement that blocks it: adding `statementToAdd` helps only once that is narrowed. */
  deniedBy?: string;
  statementToAdd: PolicyStatement;
}

export type ServiceKeyUseVerdict =
  | { ok: true; notes: string[] }
  | {
      ok: false;
      reason: 'KeyPolicyMissingPermission' | 'KeyPolicyUnparseable';
      message: string;
      missing: MissingPermission[];
    };

/** One KMS request a service makes for a workload, as the pre-flight replays it. */
export interface ReplayedRequest {
  requirement: RequiredStatement;
  principal: RequestPrincipal;
  action: string;
  context: Record<string, ContextValue>;
  /** The kms:ViaService value, for calls made through the service. */
  via?: string;
}

const serviceNames: Record<KeyUser, string> = {
  ManagedFlink: 'Managed Service for Apache Flink',
  Keyspaces: 'Amazon Keyspaces',
  EmrServerless: 'EMR Serverless',
};

/** Regions to replay from when the service needs the key from any Region (KS-011), per partition. */
const probeRegions: Record<string, string[]> = {
  aws: ['us-west-2', 'eu-west-1', 'ap-southeast-2'],
  'aws-cn': ['cn-north-1', 'cn-northwest-1'],
  'aws-us-gov': ['us-gov-west-1', 'us-gov-east-1'],
};

function replayRegions(partition: string, region: string, reach: 'workload' | 'any'): string[] {
  if (reach === 'workload') return [region];
  const others = (probeRegions[partition] ?? probeRegions['aws']!).filter((r) => r !== region);
  return [region, ...others.slice(0, 2)];
}

const dnsSuffix = (partition: string) => (partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com');

/** The KMS requests `service` makes for one workload (what the key policy must allow). */
export function serviceKmsRequests(input: Omit<ServiceKeyUseInput, 'policy'>): ReplayedRequest[] {
  const profile = serviceKmsProfiles[input.service];
  const partition = parseKeyArn(input.keyArn)?.partition ?? 'aws';
  const callerAccount = input.operatorPrincipalArn.split(':')[4] || input.accountId;
  const caller: RequestPrincipal = { type: 'aws', arn: input.operatorPrincipalArn, accountId: callerAccount };
  const ec = input.encryptionContext;
  const ecKeys: Record<string, ContextValue> = {};
  for (const [k, v] of Object.entries(ec)) ecKeys[`kms:EncryptionContext:${k}`] = v;
  if (Object.keys(ec).length > 0) ecKeys['kms:EncryptionContextKeys'] = Object.keys(ec);
  const parts = (carries: CarriedContext[], via: string | undefined): Record<string, ContextValue> => {
    let context: Record<string, ContextValue> = {};
    for (const c of carries) {
      if (c === 'viaService' && via)
        context = {
          ...context,
          'kms:ViaService': via,
          'kms:CallerAccount': callerAccount,
          'aws:PrincipalArn': roleArnOfSession(input.operatorPrincipalArn) ?? input.operatorPrincipalArn,
          'aws:PrincipalAccount': callerAccount,
        };
      if (c === 'source')
        context = { ...context, 'aws:SourceAccount': input.accountId, 'aws:SourceArn': input.resourceArn };
      if (c === 'encryptionContext') context = { ...context, ...ecKeys };
      // A grant's constraint carries the workload's encryption context (EncryptionContextSubset).
      if (c === 'grant')
        context = {
          ...context,
          ...ecKeys,
          'kms:GrantOperations': profile.grantOperations,
          'kms:GrantConstraintType': 'EncryptionContextSubset',
          'kms:GrantIsForAWSResource': true,
        };
    }
    return context;
  };
  const out: ReplayedRequest[] = [];
  for (const requirement of serviceRequirements[input.service]) {
    const principal: RequestPrincipal =
      requirement.principal === 'keyUsers'
        ? caller
        : { type: 'service', name: requirement.principal.service };
    for (const call of requirement.calls) {
      const vias = call.carries.includes('viaService')
        ? replayRegions(partition, input.region, profile.viaServiceRegions).map(
            (r) => `${profile.viaServicePrefix}.${r}.${dnsSuffix(partition)}`,
          )
        : [undefined];
      for (const via of vias)
        out.push({
          requirement,
          principal,
          action: call.action,
          context: parts(call.carries, via),
          ...(via ? { via } : {}),
        });
    }
  }
  return out;
}

function statementsToAdd(input: Omit<ServiceKeyUseInput, 'policy'>): Map<string, PolicyStatement> {
  const generated = generateKeyPolicy({
    accountId: input.accountId,
    region: input.region,
    partition: parseKeyArn(input.keyArn)?.partition ?? 'aws',
    services: [input.service],
    // Key policies name the role, not the session (a role path, if any, must be added by hand).
    keyUsers: [roleArnOfSession(input.operatorPrincipalArn) ?? input.operatorPrincipalArn],
  });
  return new Map(generated.Statement.map((s) => [s.Sid, s]));
}

const principalName = (p: RequestPrincipal) => (p.type === 'service' ? p.name : p.arn);

/**
 * Whether the key policy lets `service` (its service principals, and the operator acting through it)
 * make every KMS call the workload needs. Never throws.
 */
export function checkServiceCanUseKey(input: ServiceKeyUseInput): ServiceKeyUseVerdict {
  const parsed = parseKeyPolicy(input.policy);
  if (!parsed.ok)
    return {
      ok: false,
      reason: 'KeyPolicyUnparseable',
      message: `the key policy of ${input.keyArn} could not be analysed (${parsed.problem}); not switching onto a key whose policy is not understood`,
      missing: [],
    };
  return judge(parsed.policy, input);
}

function judge(policy: ParsedKeyPolicy, input: ServiceKeyUseInput): ServiceKeyUseVerdict {
  const profile = serviceKmsProfiles[input.service];
  const missing = new Map<string, MissingPermission & { reasons: string[] }>();
  const delegated = new Map<string, Set<string>>();
  const iamRequired = new Set<string>();
  let toAdd: Map<string, PolicyStatement> | undefined;
  for (const r of serviceKmsRequests(input)) {
    const v = evaluateParsedKeyPolicy(policy, {
      principal: r.principal,
      action: r.action,
      keyArn: input.keyArn,
      context: r.context,
    });
    if (v.verdict === 'allowed') {
      if (profile.callerIamRequired && r.principal.type === 'aws') iamRequired.add(r.action);
      continue;
    }
    if (v.verdict === 'allowed-if-iam-allows') {
      const text =
        v.why === 'other-account'
          ? `statement ${v.statement} (the caller is in another account than the key)`
          : `the account principal in statement ${v.statement}`;
      delegated.set(text, (delegated.get(text) ?? new Set()).add(r.action));
      continue;
    }
    const principal = principalName(r.principal);
    const id = `${principal}|${r.action}`;
    toAdd ??= statementsToAdd(input);
    const entry = missing.get(id) ?? {
      principal,
      action: r.action,
      requirement: r.requirement.sid,
      statementToAdd: toAdd.get(r.requirement.sid)!,
      reasons: [],
    };
    const where = r.via ? `via ${r.via}: ` : '';
    if (v.verdict === 'denied-explicitly') {
      entry.deniedBy ??= v.statement;
      entry.reasons.push(`${where}explicitly denied by statement ${v.statement}`);
    } else if (v.verdict === 'not-allowed') entry.reasons.push(`${where}${v.reason}`);
    else entry.reasons.push(`${where}${v.problem}`);
    missing.set(id, entry);
  }

  if (missing.size > 0) {
    const list: MissingPermission[] = [...missing.values()].map(({ reasons, ...m }) => ({
      ...m,
      condition: [...new Set(reasons)].join('; '),
    }));
    return {
      ok: false,
      reason: 'KeyPolicyMissingPermission',
      message: missingMessage(input, list),
      missing: list,
    };
  }
  const notes: string[] = [];
  for (const [where, actions] of delegated)
    notes.push(
      `the key policy allows ${input.operatorPrincipalArn} ${[...actions].join(', ')} only through ${where}, so its IAM policies must allow them too; IAM cannot be read from here, and the check ${serviceNames[input.service]} makes at switch time is the final word`,
    );
  if (iamRequired.size > 0)
    notes.push(
      `${serviceNames[input.service]} also requires the IAM policies of ${input.operatorPrincipalArn} to allow ${[...iamRequired].join(', ')} on the key (MSF-010); IAM cannot be read from here`,
    );
  return { ok: true, notes };
}

function missingMessage(input: ServiceKeyUseInput, missing: MissingPermission[]): string {
  const byRequirement = new Map<string, MissingPermission[]>();
  for (const m of missing) byRequirement.set(m.requirement, [...(byRequirement.get(m.requirement) ?? []), m]);
  const parts = [...byRequirement.entries()].map(([sid, ms]) => {
    const denied = ms.find((m) => m.deniedBy)?.deniedBy;
    const why = denied
      ? `explicitly denied by statement ${denied}: narrow it, then add statement ${sid}`
      : `add statement ${sid}`;
    return `${ms[0]!.principal} cannot ${ms.map((m) => m.action).join(', ')} (${why}; ${ms[0]!.condition})`;
  });
  return `the key policy of ${input.keyArn} does not let ${serviceNames[input.service]} use the key: ${parts.join('; ')}`;
}

// ---- The whole pre-flight as one chain --------------------------------------------------------------

export interface PreflightInput extends Omit<ServiceKeyUseInput, 'policy' | 'keyArn'> {
  /** DescribeKey's answer; undefined when the key does not exist. */
  key: KeyFacts | undefined;
  /** The key reference as the user wrote it, for messages. */
  reference: string;
  /** The key policy; may be undefined only when a key-state check fails first. */
  policy: string | undefined;
}

export type PreflightResult =
  | { ok: true; notes: string[] }
  | { ok: false; check: string; reason: string; message: string; missing?: MissingPermission[] };

interface PreflightStep {
  name: string;
  run(input: PreflightInput): PreflightResult;
}

const steps: PreflightStep[] = [
  // Key state (exists, not pending deletion, enabled, customer managed, symmetric, same Region):
  // checks.ts's own chain, whose first failure names the check.
  {
    name: 'keyState',
    run: (i) => {
      const failure = checkKey({ key: i.key, reference: i.reference, region: i.region });
      return failure ? { ok: false, ...failure } : { ok: true, notes: [] };
    },
  },
  // The key policy lets the service principals and the operator (through the service) make every
  // KMS call the workload needs.
  {
    name: 'keyPolicyAllowsService',
    run: (i) => {
      if (i.policy === undefined || !i.key)
        return {
          ok: false,
          check: 'keyPolicyAllowsService',
          reason: 'KeyPolicyUnreadable',
          message: `the key policy of ${i.key?.arn ?? i.reference} was not read, so the permissions ${serviceNames[i.service]} needs cannot be checked`,
        };
      const v = checkServiceCanUseKey({ ...i, policy: i.policy, keyArn: i.key.arn });
      return v.ok ? v : { ...v, check: 'keyPolicyAllowsService' };
    },
  },
];

/** Every check of the chain, in order. */
export const preflightCheckNames = [...keyCheckNames, 'keyPolicyAllowsService'];

/**
 * The pre-flight of a switch onto a customer managed key, as one ordered chain: KeyNotFound,
 * KeyPendingDeletion, KeyDisabled, KeyNotCustomerManaged, KeyNotSymmetric, KeyInOtherRegion, then
 * KeyPolicyMissingPermission. The first failure wins; on success the notes of every step are kept.
 */
export function preflightChain(input: PreflightInput): PreflightResult {
  const notes: string[] = [];
  for (const step of steps) {
    const result = step.run(input);
    if (!result.ok) return result;
    notes.push(...result.notes);
  }
  return { ok: true, notes };
}

/**
 * The policy check in the shape the workload reconciler takes (`PolicyPreflight` in
 * src/reconcile/workload.ts): it has already run the key-state chain and passes DescribeKey's facts.
 */
export function keyPolicyPreflight(
  input: Omit<ServiceKeyUseInput, 'keyArn'> & { key: KeyFacts },
): ServiceKeyUseVerdict {
  const { key, ...rest } = input;
  return checkServiceCanUseKey({ ...rest, keyArn: key.arn });
}

/**
 * Whether a key policy can judge two resources of one service, Region, account and caller apart:
 * only through the context keys that carry the resource, `aws:SourceArn` and its encryption context
 * (`kms:EncryptionContext:<key>`, `kms:EncryptionContextKeys`; a grant's constraint carries the
 * same pairs), read as a condition key or a policy variable. A policy that cannot be parsed judges
 * every resource alike (it is refused as unparseable). Pure.
 */
export function policyReadsResource(policy: string): boolean {
  const parsed = parseKeyPolicy(policy);
  if (!parsed.ok) return false;
  for (const key of contextKeysRead(parsed.policy))
    if (key === 'aws:sourcearn' || key.startsWith('kms:encryptioncontext')) return true;
  return false;
}

/**
 * The same pre-flight, remembered: a workload checks its key at every reconcile, also once on it,
 * and the policy evaluation costs about half a millisecond, while its inputs — the key policy, the
 * key's state, the resource, the context — rarely change.
 *
 * - An entry is keyed by a SHA-256 digest of everything the verdict depends on (the policy text, the
 *   key's facts, the rest of the input), so a new policy text, a new key state or another resource
 *   is a new entry and a change is never answered from memory. The resource (`resourceArn`,
 *   `encryptionContext`) is left out of the digest when the policy reads nothing of it
 *   (policyReadsResource): then the workloads of one service, Region and caller on a key share one
 *   verdict, evaluated once, instead of one each (a fleet switch of 5,000 workloads evaluated the same
 *   policy 5,000 times and more).
 * - At most `maxEntries` entries (default 32,768), least recently used first out: about 3 MiB at the
 *   bound. At most one entry per workload and key it checks, so a fleet switch onto new keys adds
 *   entries while the old key's entries age out instead of piling up per policy.
 * - Equal verdicts are one object: the verdicts of thousands of workloads on one key differ at most
 *   in a few strings, and each distinct verdict is kept once (the last `maxVerdicts`, default 1,024).
 */
export function rememberedPreflight<
  I extends {
    policy: string;
    key: KeyFacts;
    resourceArn?: string;
    encryptionContext?: Record<string, string>;
  },
  V,
>(preflight: (input: I) => V, options: { maxEntries?: number; maxVerdicts?: number } = {}): (input: I) => V {
  const maxEntries = options.maxEntries ?? 32_768;
  const maxVerdicts = options.maxVerdicts ?? 1_024;
  const verdicts = new Map<string, V>();
  const distinct = new Map<string, V>();
  /** By the policy's digest: whether it reads the resource (the last 256 policies). */
  const readsResource = new Map<string, boolean>();
  const intern = (verdict: V): V => {
    const text = JSON.stringify(verdict);
    const known = distinct.get(text);
    if (known !== undefined) return known;
    if (distinct.size >= maxVerdicts) distinct.delete(distinct.keys().next().value as string);
    distinct.set(text, verdict);
    return verdict;
  };
  return (input) => {
    const { policy, key, ...rest } = input;
    const policyDigest = createHash('sha256').update(policy).digest('base64');
    let reads = readsResource.get(policyDigest);
    if (reads === undefined) {
      reads = policyReadsResource(policy);
      if (readsResource.size >= 256) readsResource.delete(readsResource.keys().next().value as string);
      readsResource.set(policyDigest, reads);
    }
    const { resourceArn: _resource, encryptionContext: _context, ...shared } = rest;
    const digest = createHash('sha256')
      .update(policyDigest)
      .update('\0')
      .update(JSON.stringify([key, reads ? rest : shared]))
      .digest('base64');
    const known = verdicts.get(digest);
    if (known !== undefined) {
      verdicts.delete(digest);
      verdicts.set(digest, known);
      return known;
    }
    const verdict = intern(preflight(input));
    if (verdicts.size >= maxEntries) verdicts.delete(verdicts.keys().next().value as string);
    verdicts.set(digest, verdict);
    return verdict;
  };
}
