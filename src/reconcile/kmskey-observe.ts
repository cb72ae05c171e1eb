// Observing a KmsKey: what the kind reads (its dependencies and its observation), the key as KMS
// describes it (DescribeKey and its rotation state, through the key cache unless fresh), and whether
// the namespace may use it at all. Writes nothing.

import type { KmsKeyStatus } from '../api/kmskey.ts';
import type { KeyReferencingObject, KmsKeyObject } from '../api/resources.ts';
import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import type { CallerIdentity } from '../aws/identity.ts';
import type { InventoryGap, KeyInventory } from '../keys/inventory.ts';
import type { KeyReadKind, KeyReads } from '../keys/key-cache.ts';
import type { KeyFacts, RotationFacts } from '../keys/key-facts.ts';
import type { KeyUse } from '../keys/key-usage.ts';
import { keyRefusal, roleRefusal, type TenancyRules } from '../keys/tenancy.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Results } from '../runtime/executor.ts';
import type { KubeClient } from '../runtime/kube.ts';
import type { KmsKeyObservation } from './kmskey-plan.ts';
import type { AwsUse } from './kmskey-usage.ts';

/**
 * DescribeKey and the rotation state, through the key cache unless `fresh`.
 *
 * With `pollRotation`, a fresh look at a key whose on-demand rotation this object recorded as
 * running reads DescribeKey alone while it still shows the material the object recorded: the
 * material changes when the rotation ends (KMS-009), so until then the rotation state read at the
 * rotation's first look stands, from the key cache. A look every `rotationPollMs` is then one KMS
 * call and one round trip, not three calls in two. `rotationCached` says when the rotation state was
 * not read fresh: such an observation is not fresh enough to act on.
 */
export async function readKey(
  deps: KmsKeyReconcilerDeps,
  object: KmsKeyObject,
  fresh: boolean,
  options: { pollRotation?: boolean } = {},
): Promise<KmsKeyObservation & { rotationCached?: boolean }> {
  const target = targetOf(deps, object);
  const identity = object.status?.keyArn ?? object.spec.keyId;
  try {
    if (!identity) return { kind: 'notCreated' };
    let facts = await deps.keys.describe(target, identity, fresh ? { maxAgeMs: 0 } : {});
    if (!facts) return { kind: 'notFound' };
    const recorded = object.status;
    // An on-demand rotation this object recorded as running, and DescribeKey still shows the
    // material it recorded before it.
    const recordedRunning =
      recorded?.rotation?.onDemandRotationStartDate !== undefined &&
      facts.currentKeyMaterialId === recorded.currentKeyMaterialId;
    if (fresh && options.pollRotation && recordedRunning && recorded?.currentKeyMaterialId !== undefined) {
      const rotation = await readRotation(deps, target, facts, false);
      // A cached state that does not show the rotation running (read before it began) is read
      // fresh below.
      if (rotation?.onDemandRotationStartDate !== undefined)
        return { kind: 'found', key: facts, rotation, rotationCached: true };
    }
    let rotation = await readRotation(deps, target, facts, fresh);
    // The rotation ended between the two reads: DescribeKey still showed the old material. Read
    // again, after the status that says it ended.
    if (
      fresh &&
      recordedRunning &&
      rotation !== undefined &&
      rotation.onDemandRotationStartDate === undefined
    ) {
      facts = (await deps.keys.describe(target, facts.arn, { maxAgeMs: 0 })) ?? facts;
      if (facts.currentKeyMaterialId !== recorded.currentKeyMaterialId)
        rotation = await readRotation(deps, target, facts, fresh);
    }
    return { kind: 'found', key: facts, rotation };
  } catch (e) {
    return { kind: 'error', failure: e instanceof AwsCallError ? e.failure : classifyAwsError(e) };
  }
}

/** The key's rotation state; undefined for keys that cannot rotate. */
async function readRotation(
  deps: KmsKeyReconcilerDeps,
  target: AwsTarget,
  facts: KeyFacts,
  fresh: boolean,
): Promise<RotationFacts | undefined> {
  try {
    // The completed-rotation list changes with the key material: read again when it does.
    return await deps.keys.rotation(target, facts.arn, {
      ...(fresh ? { maxAgeMs: 0 } : {}),
      ...(facts.currentKeyMaterialId ? { version: facts.currentKeyMaterialId } : {}),
    });
  } catch (e) {
    // Keys that cannot rotate (asymmetric, imported) answer UnsupportedOperation: not an error here.
    if (
      !(e instanceof AwsCallError) ||
      (e.failure.cause !== 'InvalidSpec' && e.failure.cause !== 'KeyUnusable')
    )
      throw e;
    return undefined;
  }
}

/**
 * Tenancy: a key this namespace may not use is refused before anything acts on it. A key still to
 * be created is checked as `key/*` in its Region and account, so only a rule allowing any key
 * there lets the namespace create one.
 */
export async function refusalOf(
  deps: KmsKeyReconcilerDeps,
  object: KmsKeyObject,
  observed: KmsKeyObservation,
) {
  if (!deps.tenancy) return undefined;
  // A role the namespace may not use is never assumed: say so under its own reason.
  const role = object.spec.roleArn
    ? roleRefusal(deps.tenancy, object.metadata.namespace ?? '', object.spec.roleArn)
    : undefined;
  if (role) return { reason: 'RoleNotAllowed', message: role };
  const target = targetOf(deps, object);
  let arn = observed.kind === 'found' ? observed.key.arn : undefined;
  if (!arn && observed.kind === 'notCreated') {
    const who = await deps.callerIdentity(target).catch(() => undefined);
    if (who) arn = `arn:aws:kms:${target.region}:${who.accountId}:key/*`;
  }
  const message = arn ? keyRefusal(deps.tenancy, object.metadata.namespace ?? '', arn) : undefined;
  return message ? { reason: 'KeyNotAllowed', message } : undefined;
}

export interface KmsKeyReconcilerDeps {
  /** The operator's per-namespace key allow-lists. */
  tenancy?: TenancyRules;
  kube: KubeClient;
  aws: AwsClients;
  /** KMS reads, through the operator's key cache. */
  keys: KeyReads;
  events: EventRecorder;
  /** The KmsKey cache (informer). */
  getKmsKey(key: string): KmsKeyObject | undefined;
  /** Workload objects whose spec.key.kmsKeyRef points at `namespace/name`. */
  referencesTo(key: string): KeyReferencingObject[];
  /**
   * The same, read from the API server rather than this process's cache: set when the cache does
   * not see every workload (a sharded operator), and asked before a key is let go.
   */
  liveReferencesTo?(key: string, signal: AbortSignal): Promise<KeyReferencingObject[]>;
  /**
   * Workload and job-run objects in any namespace whose status ties them to the key ARN, however
   * they name it (src/keys/key-usage.ts); with `live`, read from the API server (every shard).
   */
  usesOfKey?(arn: string, live?: AbortSignal): KeyUse[] | Promise<KeyUse[]>;
  /** Every KmsKey object (any namespace, any shard) whose status declares the key ARN. */
  declarationsOf?(arn: string): KmsKeyObject[];
  /** The key usage inventory from AWS (src/keys/inventory.ts); without it only Kubernetes counts. */
  inventory?: KeyInventory;
  /** The object of this cluster that manages an AWS resource (`Kind namespace/name`), if any. */
  managerOf?(resourceArn: string): string | undefined;
  callerIdentity(target: AwsTarget): Promise<CallerIdentity>;
  defaultRegion: string;
  /** Identifies this cluster in AWS tags (`cmk.io/owner`). */
  clusterName: string;
  now(): number;
}

/** Everything planKmsKey needs besides the object, and how it was read. */
export interface KmsKeyObservationSet {
  observed: KmsKeyObservation;
  /** Read from KMS now, not from the key cache. */
  fresh: boolean;
  referencing: KeyReferencingObject[];
  /** The references were read from the API server (every shard's workloads). */
  liveChecked: boolean;
  refusal?: { reason: string; message: string };
  /** Referencing workloads whose pre-flight says the key policy shuts their service out. */
  policyRefusals: Array<{ who: string; message: string }>;
  grants?: { count: number; limit: number };
  /** Uses of the key ARN beyond the references (other namespaces, key ids, other KmsKeys). */
  uses: KeyUse[];
  /** Another KmsKey object holds the authority to schedule this key's deletion. */
  authorityHeldBy?: { namespace: string; name: string };
  /** What AWS shows using the key (the inventory's last pass; fresh before a deletion). */
  aws: { users: AwsUse[]; at?: number; checked: boolean; unknown?: string; unread?: InventoryGap[] };
}

export function targetOf(deps: KmsKeyReconcilerDeps, o: KmsKeyObject): AwsTarget {
  const region = o.spec.region ?? deps.defaultRegion;
  // With a role, the namespace: the clients check it against the tenancy rules and tag the session.
  return {
    region,
    ...(o.spec.roleArn ? { roleArn: o.spec.roleArn, namespace: o.metadata.namespace ?? '' } : {}),
  };
}

/** The key's ARN as this reconcile knows it: created just now, observed, or recorded. */
export function keyArnOf(
  object: KmsKeyObject,
  observation: KmsKeyObservationSet,
  results: Results<KmsKeyStatus>,
): string {
  return (
    results.status.keyArn ??
    (observation.observed.kind === 'found' ? observation.observed.key.arn : object.status?.keyArn) ??
    ''
  );
}

/** KeyUsable reasons by which a workload's pre-flight says the key policy shuts its service out. */
const policyReasons = new Set(['KeyPolicyMissingPermission', 'KeyPolicyUnparseable']);

/** The referencing workloads whose own pre-flight found the key policy refuses their service. */
export function policyRefusalsOf(
  referencing: KeyReferencingObject[],
): Array<{ who: string; message: string }> {
  const refusals: Array<{ who: string; message: string }> = [];
  for (const o of referencing) {
    const conditions = (
      o.status as
        | { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> }
        | undefined
    )?.conditions;
    const usable = conditions?.find((c) => c.type === 'KeyUsable');
    if (usable?.status === 'False' && policyReasons.has(usable.reason ?? ''))
      refusals.push({
        who: `${o.kind ?? 'Workload'} ${o.metadata.namespace ?? ''}/${o.metadata.name}`,
        message: usable.message ?? '',
      });
  }
  return refusals;
}

/**
 * What a KmsKey's change makes suspect in the key cache (the operator drops it): everything after a
 * change of its spec or deletion, another key ARN, a key that stopped being usable or needs a
 * person; the key's description and rotation state after another key material (its policy, grants
 * and the rotation list of each material stay true). Nothing for the first status (ARN, material,
 * usable) or a key becoming usable: those record what this process has just read, and dropping it
 * would only read the key twice.
 */
export function keyCacheDrops(previous: KmsKeyObject, o: KmsKeyObject): 'all' | KeyReadKind[] | undefined {
  if ((previous.metadata.generation ?? null) !== (o.metadata.generation ?? null)) return 'all';
  if ((previous.metadata.deletionTimestamp ?? null) !== (o.metadata.deletionTimestamp ?? null)) return 'all';
  const changed = (before: string | undefined, after: string | undefined) =>
    before !== undefined && before !== after;
  if (changed(previous.status?.keyArn, o.status?.keyArn)) return 'all';
  const view = (x: KmsKeyObject, type: string) => {
    const c = x.status?.conditions?.find((k) => k.type === type);
    return c ? `${c.status}|${c.reason}|${c.message}` : undefined;
  };
  const usable = view(o, 'KeyUsable');
  if (usable !== view(previous, 'KeyUsable') && !usable?.startsWith('True|')) return 'all';
  const stalled = (x: KmsKeyObject) =>
    x.status?.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True') === true;
  if (stalled(o) && !stalled(previous)) return 'all';
  if (changed(previous.status?.currentKeyMaterialId, o.status?.currentKeyMaterialId))
    return ['describe', 'rotation'];
  return undefined;
}
