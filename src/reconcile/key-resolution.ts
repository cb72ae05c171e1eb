// Which key a KeyReference names, and whether that key may be used: one implementation for every
// reconciler that puts a workload (or a job) on a key, so a KmsKey reference, a cross-namespace
// grant, an alias and a failing key are treated the same everywhere.
//
// Guarantees:
// - resolveKey never throws: an AWS failure while resolving becomes an unresolved key (AccessDenied
//   or KmsUnavailable, not terminal), so callers always have a DesiredKey to plan with.
// - A reference into another namespace resolves only when a KeyReferenceGrant there allows it
//   (safety invariant 4); a KmsKey resolves only once its own reconciler reports it usable.
// - preflightKey never throws either: the key-state chain (src/keys/checks.ts) first, then the
//   optional key-policy hook; a policy that cannot be read fails the pre-flight (invariant 1).
// Never writes anything, in AWS or in Kubernetes.

import type { KmsKeyObject } from '../api/resources.ts';
import type { KeyReference } from '../api/shared.ts';
import { adapterFor } from '../aws/adapters.ts';
import type { AwsTarget } from '../aws/clients.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import type { CallerIdentity } from '../aws/identity.ts';
import type { EncryptionSetting, WorkloadId, WorkloadService } from '../aws/workload.ts';
import { checkKey } from '../keys/checks.ts';
import type { KeyReads } from '../keys/key-cache.ts';
import type { KeyFacts } from '../keys/key-facts.ts';
import { keyRefusal, type TenancyRules } from '../keys/tenancy.ts';
import type { DesiredKey, Preflight } from './workload-plan.ts';

/** Pre-flight of a key for a service, beyond the key-state chain (the key-policy check). */
export type PolicyPreflight = (input: {
  service: WorkloadService;
  policy: string;
  key: KeyFacts;
  region: string;
  accountId: string;
  operatorPrincipalArn: string;
  resourceArn: string;
  encryptionContext: Record<string, string>;
}) => Preflight;

export interface KeyResolutionDeps {
  /** KMS reads, through the operator's key cache. */
  keys: KeyReads;
  getKmsKey(key: string): KmsKeyObject | undefined;
  /** Whether objects in `fromNamespace` may reference the KmsKey `namespace/name`. */
  referenceGranted(fromNamespace: string, kmsKeyNamespace: string, kmsKeyName: string): boolean;
  /** The operator's per-namespace key and resource allow-lists. */
  tenancy?: TenancyRules;
}

export interface KeyResolutionInput {
  /** Namespace of the object holding the reference (where a KmsKey reference defaults to). */
  namespace: string;
  key: KeyReference;
  encryptionContext?: Record<string, string> | undefined;
  target: AwsTarget;
  /** Read the key from KMS, not the cache (right before acting on it). */
  fresh?: boolean;
  /** With `fresh`: a read begun at or after this moment serves (src/keys/key-cache.ts). */
  freshSince?: number;
}

export interface ResolvedKey {
  desired: DesiredKey;
  /** DescribeKey of a customer managed key, for the pre-flight; absent for the AWS owned key. */
  facts?: KeyFacts;
}

/** How fresh a key read must be, as the key cache takes it. */
function freshness(input: { fresh?: boolean; freshSince?: number }) {
  return {
    fresh: input.fresh === true,
    ...(input.fresh && input.freshSince !== undefined ? { freshSince: input.freshSince } : {}),
  };
}

/** The key `input.key` names, with aliases resolved to the key ARN. Never throws. */
export async function resolveKey(deps: KeyResolutionDeps, input: KeyResolutionInput): Promise<ResolvedKey> {
  try {
    const resolved = await resolve(deps, input);
    // Tenancy: a namespace may be limited to some keys by the operator's configuration.
    const d = resolved.desired;
    if (deps.tenancy && d.kind === 'resolved' && d.setting.type === 'CustomerManaged') {
      const refusal = keyRefusal(deps.tenancy, input.namespace, d.setting.keyArn);
      if (refusal)
        return { desired: { kind: 'unresolved', reason: 'KeyNotAllowed', message: refusal, terminal: true } };
    }
    return resolved;
  } catch (e) {
    const f = e instanceof AwsCallError ? e.failure : classifyAwsError(e);
    return {
      desired: {
        kind: 'unresolved',
        reason: f.cause === 'AccessDenied' ? 'AccessDenied' : 'KmsUnavailable',
        message: `${f.code}: ${f.message}`,
        terminal: false,
      },
    };
  }
}

async function resolve(deps: KeyResolutionDeps, input: KeyResolutionInput): Promise<ResolvedKey> {
  const { key: ref, namespace: ns, target } = input;
  if (ref.awsOwned) return { desired: { kind: 'resolved', setting: { type: 'AwsOwned' } } };
  const context = input.encryptionContext;
  if (ref.kmsKeyRef) {
    const keyNs = ref.kmsKeyRef.namespace ?? ns;
    if (keyNs !== ns && !deps.referenceGranted(ns, keyNs, ref.kmsKeyRef.name)) {
      return {
        desired: {
          kind: 'unresolved',
          reason: 'ReferenceNotGranted',
          message: `KmsKey ${keyNs}/${ref.kmsKeyRef.name} is in another namespace and no KeyReferenceGrant in ${keyNs} allows namespace ${ns} to use it`,
          terminal: true,
        },
      };
    }
    const kmsKey = deps.getKmsKey(`${keyNs}/${ref.kmsKeyRef.name}`);
    if (!kmsKey) {
      return {
        desired: {
          kind: 'unresolved',
          reason: 'KmsKeyNotFound',
          message: `KmsKey ${keyNs}/${ref.kmsKeyRef.name} does not exist`,
          terminal: false,
        },
      };
    }
    const usable = kmsKey.status?.conditions?.find((c) => c.type === 'KeyUsable');
    if (!kmsKey.status?.keyArn || usable?.status !== 'True') {
      // A KmsKey that needs a person (Stalled: its key disabled, pending deletion, refused) stalls
      // every workload that depends on it, with the key's own reason; otherwise it is still coming.
      const stalled = kmsKey.status?.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True');
      return {
        desired: {
          kind: 'unresolved',
          reason: stalled && usable?.status === 'False' ? usable.reason : 'KmsKeyNotReady',
          message: `KmsKey ${keyNs}/${ref.kmsKeyRef.name} is not usable${stalled ? '' : ' yet'}${usable ? `: ${usable.message}` : ''}`,
          terminal: stalled === true,
        },
      };
    }
    const facts = await deps.keys.describe(target, kmsKey.status.keyArn, freshness(input));
    return {
      desired: {
        kind: 'resolved',
        setting: {
          type: 'CustomerManaged',
          keyArn: kmsKey.status.keyArn,
          ...(context ? { encryptionContext: context } : {}),
        },
        ...(facts?.currentKeyMaterialId ? { currentKeyMaterialId: facts.currentKeyMaterialId } : {}),
      },
      ...(facts ? { facts } : {}),
    };
  }
  const facts = await deps.keys.describe(target, ref.keyId ?? '', freshness(input));
  if (!facts) {
    return {
      desired: {
        kind: 'unresolved',
        reason: 'KeyNotFound',
        message: `KMS key ${ref.keyId} was not found in ${target.region}: check the key ID, ARN or alias and the Region`,
        terminal: false,
      },
    };
  }
  return {
    desired: {
      kind: 'resolved',
      setting: {
        type: 'CustomerManaged',
        keyArn: facts.arn,
        ...(context ? { encryptionContext: context } : {}),
      },
      ...(facts.currentKeyMaterialId ? { currentKeyMaterialId: facts.currentKeyMaterialId } : {}),
    },
    facts,
  };
}

export interface PreflightDeps {
  keys: KeyReads;
  callerIdentity(target: AwsTarget): Promise<CallerIdentity>;
  /** Key-policy pre-flight; only the key-state chain runs when absent. */
  policyPreflight?: PolicyPreflight | undefined;
}

export interface PreflightInput {
  service: WorkloadService;
  id: WorkloadId;
  facts: KeyFacts | undefined;
  setting: EncryptionSetting;
  target: AwsTarget;
  /** The resource the service encrypts; a function when only the caller's account completes it. */
  resourceArn: string | ((accountId: string) => string);
  /** Read the key policy from KMS, not the cache (right before acting on it). */
  fresh?: boolean;
  /** With `fresh`: a read begun at or after this moment serves (src/keys/key-cache.ts). */
  freshSince?: number;
}

/** Whether the service may be put on `setting` now. Never throws. */
export async function preflightKey(deps: PreflightDeps, input: PreflightInput): Promise<Preflight> {
  const { setting, facts, target } = input;
  if (setting.type !== 'CustomerManaged') return { ok: true };
  const failure = checkKey({ key: facts, reference: setting.keyArn, region: target.region });
  if (failure) return { ok: false, reason: failure.reason, message: failure.message };
  if (!deps.policyPreflight || !facts) return { ok: true };
  try {
    const who = await deps.callerIdentity(target);
    const policy = await deps.keys.policy(target, facts.arn, freshness(input));
    const resourceArn =
      typeof input.resourceArn === 'string' ? input.resourceArn : input.resourceArn(who.accountId);
    return deps.policyPreflight({
      service: input.service,
      policy,
      key: facts,
      region: target.region,
      accountId: who.accountId,
      operatorPrincipalArn: who.arn,
      resourceArn,
      encryptionContext: adapterFor(input.service).encryptionContext(
        input.id,
        { resourceArn },
        who.accountId,
      ),
    });
  } catch (e) {
    const f = e instanceof AwsCallError ? e.failure : classifyAwsError(e);
    return {
      ok: false,
      reason: f.cause === 'AccessDenied' ? 'KeyPolicyUnreadable' : 'PreflightUnavailable',
      message: `could not check the key policy: ${f.code}: ${f.message}`,
    };
  }
}
