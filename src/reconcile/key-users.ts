// Which Kubernetes objects use a KmsKey: the workloads and job runs whose spec.key.kmsKeyRef names
// it, as this process's caches see them or as the API server does (a sharded operator's cache holds
// only its own shard; a key is let go only after asking the API server about every shard).

import {
  cmkResources,
  type KeyReferencingObject,
  referencedKmsKey,
  referencingResources,
} from '../api/resources.ts';
import { KubeApiError, type KubeClient, type ResourceType } from '../runtime/kube.ts';
import type { Index } from '../runtime/watch.ts';
import type { KindCache } from '../runtime/wiring.ts';
import { isFinished } from './jobrun-plan.ts';

/**
 * Whether a referencing object still uses its key: a job run that finished no longer does (its
 * disks are gone), so it neither holds the KmsKey's finalizer nor counts in its progress.
 */
export function usesKey(o: KeyReferencingObject, type: ResourceType): boolean {
  if (type !== cmkResources.emrServerlessJobRun) return true;
  return !isFinished((o.status as { state?: string } | undefined)?.state);
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
 * The same, straight from the API server, other shards' objects included: cluster-wide when RBAC
 * allows it, else across `namespaces`.
 */
export async function liveReferencesTo(
  kube: KubeClient,
  namespaces: string[],
  key: string,
  signal: AbortSignal,
): Promise<KeyReferencingObject[]> {
  const found: KeyReferencingObject[] = [];
  for (const type of referencingResources) {
    let items: KeyReferencingObject[];
    try {
      items = (await kube.list<KeyReferencingObject>(type, { signal })).items;
    } catch (e) {
      if (!(e instanceof KubeApiError && e.statusCode === 403) || namespaces.length === 0) throw e;
      items = [];
      for (const namespace of namespaces)
        items.push(...(await kube.list<KeyReferencingObject>(type, { namespace, signal })).items);
    }
    for (const o of items)
      if (referencedKmsKey(o) === key && usesKey(o, type)) found.push({ ...o, kind: o.kind ?? type.kind });
  }
  return found;
}
