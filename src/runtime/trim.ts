// What an informer cache keeps of each object: everything a reconcile, a watch mapper, an index or
// the status writer reads, and nothing else (client-go's SetTransform, applied to every listed and
// watched object before the cache and the handlers see it).
//
// Guarantees:
// - Drops only what no code reads: `metadata.managedFields` (server-side-apply bookkeeping, often the
//   largest part of an object) and kubectl's `last-applied-configuration` annotation (a second copy
//   of the manifest). Every other field is kept as the API server sent it: the status writer
//   rebuilds status from the cached status, so nothing in status or spec may go.
// - A cached object is only ever written back through the /status subresource, which takes status
//   alone from the request and keeps metadata (annotations, managedFields) and spec as stored
//   (test/integration/cache-trim.test.ts proves it; test/unit/runtime-trim.test.ts keeps other PUTs out).
// - Repeated strings (kinds, namespaces, key ARNs, condition reasons and messages) are shared: one
//   copy for the whole cache instead of one per object. Sharing an immutable string changes no value.
// - The string pool is bounded: two generations of at most `maxEntries` each; a string not seen
//   again within a generation is forgotten (unique values such as uids pass through and age out).

import type { KubeObject } from './kube.ts';

const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';

/** Longer strings are rarely repeated byte for byte; not worth a lookup. */
const maxPooledLength = 512;

/** Fields that differ in every object: pooling them would only churn the pool. */
const uniqueMetadata = new Set(['uid', 'resourceVersion', 'name', 'creationTimestamp', 'generateName']);

export interface StringPool {
  /** The pool's copy of `text` (or `text`, now the pool's). */
  intern(text: string): string;
  size(): number;
}

export function createStringPool(maxEntries = 8192): StringPool {
  let current = new Map<string, string>();
  let previous = new Map<string, string>();
  return {
    intern(text) {
      const hit = current.get(text);
      if (hit !== undefined) return hit;
      const kept = previous.get(text) ?? text;
      if (current.size >= maxEntries) {
        previous = current;
        current = new Map();
      }
      current.set(kept, kept);
      return kept;
    },
    size: () => current.size + previous.size,
  };
}

/** Replaces, in place, every pooled string under `value` by the pool's copy. */
function internAll(value: unknown, pool: StringPool): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'string') {
        if (v.length <= maxPooledLength) value[i] = pool.intern(v);
      } else if (v !== null && typeof v === 'object') internAll(v, pool);
    }
    return;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const v = record[key];
    if (typeof v === 'string') {
      if (v.length <= maxPooledLength) record[key] = pool.intern(v);
    } else if (v !== null && typeof v === 'object') internAll(v, pool);
  }
}

/**
 * Drops the bookkeeping no code reads and returns the object. The objects that held it are rebuilt
 * rather than `delete`d from: a deleted property turns a V8 object into a hash table (about 400
 * bytes more per object's metadata, 4 MiB at 10,000 objects).
 */
export function dropBookkeeping<T extends KubeObject>(object: T): T {
  const metadata = object.metadata;
  if (!metadata) return object;
  const { managedFields, annotations, ...rest } = metadata;
  if (managedFields === undefined && annotations?.[lastApplied] === undefined) return object;
  if (annotations !== undefined) {
    const { [lastApplied]: _dropped, ...kept } = annotations;
    object.metadata = { ...rest, annotations: kept };
  } else object.metadata = rest;
  return object;
}

/**
 * The cache transform of the operator's informers: bookkeeping dropped, repeated strings shared
 * through `pool` (one pool for every informer, so a key ARN is held once however many kinds name it).
 * Mutates and returns the object it is given, which comes straight from JSON.parse.
 */
export function leanObject(pool: StringPool): <T extends KubeObject>(object: T) => T {
  return (object) => {
    dropBookkeeping(object);
    if (!object.metadata) return object;
    for (const key of Object.keys(object)) {
      const v = (object as Record<string, unknown>)[key];
      if (key === 'metadata') continue;
      if (typeof v === 'string') (object as Record<string, unknown>)[key] = pool.intern(v);
      else if (v !== null && typeof v === 'object') internAll(v, pool);
    }
    const metadata = object.metadata as Record<string, unknown>;
    for (const key of Object.keys(metadata)) {
      const v = metadata[key];
      if (uniqueMetadata.has(key)) continue;
      if (typeof v === 'string') metadata[key] = pool.intern(v);
      else if (v !== null && typeof v === 'object') internAll(v, pool);
    }
    return object;
  };
}
