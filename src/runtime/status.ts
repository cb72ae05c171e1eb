// Writes an object's status through the /status subresource, only when it changed.
//
// Guarantees:
// - No write when the computed status deep-equals (isDeepStrictEqual) the object's current status,
//   after dropping `undefined` fields from the computed one (JSON never carries them).
// - A write is a PUT carrying the object's resourceVersion, so it never overwrites a status
//   computed from older state without noticing; on 409 the object is re-read, the status is
//   computed again from the fresh object, compared again, and written again, at most
//   `maxConflictRetries` times (then the conflict is thrown: the queue backs off).
// - A 404 (object deleted meanwhile) is not an error: `{ written: false, object: undefined }`.
// Never touches spec or metadata (the /status subresource ignores them), never retries other errors.

import { isDeepStrictEqual } from 'node:util';
import { isConflict, isNotFound, type KubeClient, type KubeObject, type ResourceType } from './kube.ts';

export interface StatusWriteResult<T> {
  written: boolean;
  /** The object as stored after the write (or as read, when nothing was written); undefined if gone. */
  object: T | undefined;
  /** Writes that hit a conflict before the final outcome. */
  conflicts: number;
}

export interface StatusWriterDeps {
  kube: Pick<KubeClient, 'get' | 'replace'>;
}

/** As the API server would store it: `undefined` fields dropped (they would never compare equal). */
function normalised<S>(status: S): S {
  return status === undefined ? status : (JSON.parse(JSON.stringify(status)) as S);
}

/**
 * `computeStatus` gets the current object and returns the whole desired status; it may run again
 * on a fresh copy after a conflict, so it must be pure (conditions keep their transition times
 * because setCondition compares with the status it is given).
 */
export async function writeStatusIfChanged<T extends KubeObject & { status?: unknown }>(
  deps: StatusWriterDeps,
  type: ResourceType,
  current: T,
  computeStatus: (current: T) => T['status'],
  options: { maxConflictRetries?: number; signal?: AbortSignal } = {},
): Promise<StatusWriteResult<T>> {
  const maxConflictRetries = options.maxConflictRetries ?? 3;
  const ref = {
    name: current.metadata.name,
    ...(current.metadata.namespace ? { namespace: current.metadata.namespace } : {}),
  };
  let object = current;
  for (let conflicts = 0; ; conflicts++) {
    const status = normalised(computeStatus(object));
    if (isDeepStrictEqual(object.status, status)) return { written: false, object, conflicts };
    try {
      const written = await deps.kube.replace<T>(
        type,
        { ...object, status },
        { subresource: 'status', ...(options.signal ? { signal: options.signal } : {}) },
      );
      return { written: true, object: written, conflicts };
    } catch (error) {
      if (isNotFound(error)) return { written: false, object: undefined, conflicts };
      if (!isConflict(error) || conflicts >= maxConflictRetries) throw error;
    }
    try {
      object = await deps.kube.get<T>(type, ref, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      if (isNotFound(error)) return { written: false, object: undefined, conflicts: conflicts + 1 };
      throw error;
    }
  }
}
