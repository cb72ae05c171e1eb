// Which Kubernetes objects use a KmsKey: the workloads and job runs whose spec.key.kmsKeyRef names
// it, and (by the key's ARN) every object whose status ties it to the key however it names it; as
// this process's caches see them or as the API server does (a sharded operator's cache holds only
// its own shard; a key is let go only after asking the API server about every shard).

import {
  cmkResources,
  type KeyReferencingObject,
  referencedKmsKey,
  referencingResources,
} from '../api/resources.ts';
import { type KeyUse, usesOfKey } from '../keys/key-usage.ts';
import { KubeApiError, type KubeClient, type ResourceType } from '../runtime/kube.ts';
import type { Index } from '../runtime/watch.ts';
import type { KindCache } from '../runtime/wiring.ts';
import { isFinished } from './jobrun-plan.ts';
import { hasEnded } from './session-plan.ts';

/**
 * Whether a referencing object still uses its key: a job run that finished, or a session that ended,
 * no longer does (its disks are gone), so it neither holds the KmsKey's finalizer nor counts in its
 * progress.
 */
export function usesKey(o: KeyReferencingObject, type: ResourceType): boolean {
  const state = (o.status as { state?: string } | undefined)?.state;
  if (type === cmkResources.emrServerlessSession) return !hasEnded(state);
  if (type !== cmkResources.emrServerlessJobRun) return true;
  return !isFinished(state);
}

/** The objects in the caches that reference the KmsKey `key` (`namespace/name`) and still use it. */
export function referencesIn(
  caches: Array<{ type: ResourceType; cache: KindCache<KeyReferencingObject>; byKey: Index }>,
  key: string,
): KeyReferencingObject[] {
  return caches.flatMap((r) =>
    r.byKey
      .lookup(key)
      .map((k) => r.cache.get(k))
      .filter((o): o is KeyReferencingObject => o !== undefined && usesKey(o, r.type))
      .map((o) => ({ ...o, kind: o.kind ?? r.type.kind })),
  );
}

/**
 * Every workload and job-run object, straight from the API server, other shards' objects included:
 * cluster-wide when RBAC allows it, else across `namespaces`.
 */
async function listReferencing(
  kube: KubeClient,
  namespaces: string[],
  signal: AbortSignal,
  scope: 'cluster' | 'served' = 'cluster',
): Promise<Array<{ type: ResourceType; items: KeyReferencingObject[] }>> {
  const all: Array<{ type: ResourceType; items: KeyReferencingObject[] }> = [];
  const inNamespaces = async (type: ResourceType) => {
    const items: KeyReferencingObject[] = [];
    for (const namespace of namespaces)
      items.push(...(await kube.list<KeyReferencingObject>(type, { namespace, signal })).items);
    return items;
  };
  for (const type of referencingResources) {
    let items: KeyReferencingObject[];
    if (scope === 'served' && namespaces.length > 0) items = await inNamespaces(type);
    else
      try {
        items = (await kube.list<KeyReferencingObject>(type, { signal })).items;
      } catch (e) {
        if (!(e instanceof KubeApiError && e.statusCode === 403) || namespaces.length === 0) throw e;
        items = await inNamespaces(type);
      }
    all.push({ type, items: items.map((o) => ({ ...o, kind: o.kind ?? type.kind })) });
  }
  return all;
}

/** The objects referencing the KmsKey `key` that still use it, as the API server has them. */
export async function liveReferencesTo(
  kube: KubeClient,
  namespaces: string[],
  key: string,
  signal: AbortSignal,
): Promise<KeyReferencingObject[]> {
  return (await listReferencing(kube, namespaces, signal)).flatMap(({ type, items }) =>
    items.filter((o) => referencedKmsKey(o) === key && usesKey(o, type)),
  );
}

/**
 * The uses of a key ARN by workload and job-run objects, as the API server has them, in the
 * namespaces this operator serves (all when `namespaces` is empty), as its caches would: a reference
 * names one KmsKey object anywhere, but an ARN is matched only among the objects the operator serves.
 */
export async function liveUsesOf(
  kube: KubeClient,
  namespaces: string[],
  arn: string,
  signal: AbortSignal,
): Promise<KeyUse[]> {
  return usesOfKey(
    (await listReferencing(kube, namespaces, signal, 'served')).flatMap(({ items }) => items),
    arn,
  );
}

/** The uses of a key ARN in the caches (indexed by the ARNs each object's status names). */
export function cachedUsesOf(
  caches: Array<{ cache: KindCache<KeyReferencingObject>; byArn: Index }>,
  arn: string,
): KeyUse[] {
  return usesOfKey(
    caches.flatMap((r) =>
      r.byArn
        .lookup(arn)
        .map((k) => r.cache.get(k))
        .filter((o): o is KeyReferencingObject => o !== undefined)
        .map((o) => (o.kind ? o : { ...o, kind: r.cache.type.kind })),
    ),
    arn,
  );
}
