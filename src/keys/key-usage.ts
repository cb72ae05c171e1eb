// Who uses an AWS key, by its ARN, as Kubernetes shows it: every workload or job-run object in any
// namespace whose status ties it to the key, however its spec names the key (a KmsKey reference,
// a key id, an alias), and every other KmsKey object that declares the same key. One KmsKey object
// is not the key: two namespaces may adopt one key, and a workload may name it without any KmsKey.
//
// Also: which KmsKey object holds the deletion authority for a key, when several declare it.
// Pure; the operator feeds it from its informer caches (indexed by ARN) or from the API server.

import type { KeyReferencingObject, KmsKeyObject } from '../api/resources.ts';

/** What ties an object to the key. */
export type KeyUseHow =
  /** AWS reports the resource on the key (status.current / a job run's status.keyArn). */
  | 'on-key'
  /** Its spec resolves to the key: a switch onto it may be about to happen. */
  | 'switching-to'
  /** A switch away from the key is still in flight in AWS: the key is in use until AWS confirms. */
  | 'switching-from'
  /** Another KmsKey object declares the key. */
  | 'declared-by';

export interface KeyUse {
  kind: string;
  namespace: string;
  name: string;
  how: KeyUseHow;
}

interface UseStatusView {
  current?: { keyArn?: string };
  desiredKeyArn?: string;
  keyArn?: string;
  state?: string;
  lastOperation?: { status?: string; fromKey?: string };
}

/** A job run or an interactive session that ended no longer uses its key (its disks are gone). */
const finishedJobStates = new Set(['SUCCESS', 'FAILED', 'CANCELLED', 'TERMINATED']);

/** The key ARNs an object's status ties it to, and how. Empty for a job run or session that ended. */
export function keyArnsOf(o: KeyReferencingObject): Array<{ arn: string; how: KeyUseHow }> {
  const s = (o.status as UseStatusView | undefined) ?? {};
  if (s.state !== undefined && finishedJobStates.has(s.state)) return [];
  const uses: Array<{ arn: string; how: KeyUseHow }> = [];
  const add = (arn: string | undefined, how: KeyUseHow) => {
    if (arn?.startsWith('arn:') && !uses.some((u) => u.arn === arn)) uses.push({ arn, how });
  };
  add(s.current?.keyArn, 'on-key');
  add(s.keyArn, 'on-key');
  if (s.lastOperation?.status === 'InProgress') add(s.lastOperation.fromKey, 'switching-from');
  add(s.desiredKeyArn, 'switching-to');
  return uses;
}

/**
 * The uses of `arn` among `objects` (workloads and job runs), an object once, by the strongest tie.
 * An object that is being deleted still counts while it holds a finalizer: its resource is still
 * there (a revert or a release may be in flight).
 */
export function usesOfKey(objects: Iterable<KeyReferencingObject>, arn: string): KeyUse[] {
  const uses: KeyUse[] = [];
  for (const o of objects) {
    if (o.metadata.deletionTimestamp && (o.metadata.finalizers?.length ?? 0) === 0) continue;
    const tie = keyArnsOf(o).find((u) => u.arn === arn);
    if (tie)
      uses.push({
        kind: o.kind ?? 'Workload',
        namespace: o.metadata.namespace ?? '',
        name: o.metadata.name,
        how: tie.how,
      });
  }
  return byLabel(uses);
}

/** Other KmsKey objects that declare `arn` (not `self`, not ones already let go). */
export function declarationsOf(kmsKeys: Iterable<KmsKeyObject>, arn: string, self: KmsKeyObject): KeyUse[] {
  const uses: KeyUse[] = [];
  for (const k of kmsKeys) {
    if (k.metadata.namespace === self.metadata.namespace && k.metadata.name === self.metadata.name) continue;
    if (k.status?.keyArn !== arn) continue;
    if (k.metadata.deletionTimestamp && (k.metadata.finalizers?.length ?? 0) === 0) continue;
    uses.push({
      kind: 'KmsKey',
      namespace: k.metadata.namespace ?? '',
      name: k.metadata.name,
      how: 'declared-by',
    });
  }
  return byLabel(uses);
}

const collator = new Intl.Collator();

/**
 * Uses in the order of their labels (`localeCompare`'s order). Each label is built once: a key's
 * look sorts every use of it (hundreds at a fleet's scale, several looks a second while it rotates),
 * and building both labels and comparing through `localeCompare` in every comparison was most of it.
 */
function byLabel(uses: KeyUse[]): KeyUse[] {
  const labelled = uses.map((u) => ({ u, l: label(u) }));
  labelled.sort((a, b) => collator.compare(a.l, b.l));
  for (let i = 0; i < labelled.length; i++) uses[i] = labelled[i]!.u;
  return uses;
}

function label(u: Pick<KeyUse, 'kind' | 'namespace' | 'name'>): string {
  return `${u.kind} ${u.namespace}/${u.name}`;
}

const howText: Record<KeyUseHow, string> = {
  'on-key': 'on the key',
  'switching-to': 'switching to it',
  'switching-from': 'switching away, not confirmed by AWS yet',
  'declared-by': 'declares the key',
};

/** `FlinkApplication team-a/orders (on the key), ...`, the first few, for a condition message. */
export function describeUses(uses: KeyUse[], max = 5): string {
  const names = uses.slice(0, max).map((u) => `${label(u)} (${howText[u.how]})`);
  return uses.length > max ? `${names.join(', ')} and ${uses.length - max} more` : names.join(', ');
}

/** A KmsKey's claim on a key's deletion, as the authority rule reads it. */
export interface DeletionClaim {
  namespace: string;
  name: string;
  /** The object created the key (spec.create). */
  creator: boolean;
  /** metadata.creationTimestamp (ISO). */
  since?: string;
}

/**
 * Which of the KmsKey objects that declare a key and ask for its deletion (deletionPolicy:
 * ScheduleDeletion) holds the authority: the one that created the key; else the oldest object;
 * else the first by namespace/name. Exactly one, so two objects can never both schedule it.
 */
export function deletionAuthority(claims: DeletionClaim[]): DeletionClaim | undefined {
  const rank = (c: DeletionClaim) => [
    c.creator ? 0 : 1,
    c.since ? Date.parse(c.since) : Number.MAX_SAFE_INTEGER,
  ];
  return [...claims].sort((a, b) => {
    const [ca, ta] = rank(a);
    const [cb, tb] = rank(b);
    if (ca !== cb) return (ca ?? 0) - (cb ?? 0);
    if (ta !== tb) return (ta ?? 0) - (tb ?? 0);
    return `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`);
  })[0];
}

/** The claim a KmsKey object makes on its key's deletion, or undefined when it would retain it. */
export function deletionClaimOf(k: KmsKeyObject): DeletionClaim | undefined {
  if ((k.spec.deletionPolicy ?? 'Retain') !== 'ScheduleDeletion') return undefined;
  return {
    namespace: k.metadata.namespace ?? '',
    name: k.metadata.name,
    creator: k.spec.create !== undefined,
    ...(k.metadata.creationTimestamp ? { since: k.metadata.creationTimestamp } : {}),
  };
}
