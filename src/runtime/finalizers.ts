// Adds and removes one finalizer with a JSON Patch guarded by a `test` op (kube-rs finalizer.rs).
//
// Guarantees:
// - Another controller's finalizer is never lost: the patch tests the exact list (add) or the exact
//   entry at the index (remove) it was computed from, and carries no resourceVersion, so unrelated
//   writes to the object do not make it fail. When the test fails (the list changed underneath:
//   422, or 409), the object is re-read and the patch recomputed, at most `maxRetries` times.
// - Idempotent: adding a present finalizer or removing an absent one writes nothing.
// - A finalizer is never added to an object that is being deleted (the apiserver forbids it and
//   nothing would remove it); `addFinalizer` then returns the object unchanged.
// - `removeFinalizer` on an object that is already gone returns undefined (nothing left to hold).
// Never removes any finalizer but the named one, never deletes the object.

import {
  isConflict,
  isInvalid,
  isNotFound,
  type JsonPatchOp,
  type KubeClient,
  type KubeObject,
  type ObjectRef,
  type ResourceType,
} from './kube.ts';

export interface FinalizerDeps {
  kube: Pick<KubeClient, 'get' | 'jsonPatch'>;
}

export interface FinalizerOptions {
  maxRetries?: number;
  signal?: AbortSignal;
}

export function hasFinalizer(object: KubeObject, finalizer: string): boolean {
  return object.metadata.finalizers?.includes(finalizer) ?? false;
}

function refOf(object: KubeObject): ObjectRef {
  const { name, namespace } = object.metadata;
  return namespace ? { namespace, name } : { name };
}

/** The guarded patch that adds `finalizer`, or undefined when there is nothing to do. */
export function addFinalizerPatch(object: KubeObject, finalizer: string): JsonPatchOp[] | undefined {
  const current = object.metadata.finalizers;
  if (current?.includes(finalizer)) return undefined;
  if (!current || current.length === 0) {
    // JSON Patch cannot create a list only if absent; a `test` against null passes only when the
    // field is missing (or null), so a concurrent first finalizer makes this patch fail, not vanish.
    return [
      { op: 'test', path: '/metadata/finalizers', value: current ? [] : null },
      { op: 'add', path: '/metadata/finalizers', value: [finalizer] },
    ];
  }
  return [
    { op: 'test', path: '/metadata/finalizers', value: current },
    { op: 'add', path: '/metadata/finalizers/-', value: finalizer },
  ];
}

/** The guarded patch that removes `finalizer`, or undefined when it is absent. */
export function removeFinalizerPatch(object: KubeObject, finalizer: string): JsonPatchOp[] | undefined {
  const index = object.metadata.finalizers?.indexOf(finalizer) ?? -1;
  if (index < 0) return undefined;
  return [
    { op: 'test', path: `/metadata/finalizers/${index}`, value: finalizer },
    { op: 'remove', path: `/metadata/finalizers/${index}` },
  ];
}

async function patchWithRetry<T extends KubeObject>(
  deps: FinalizerDeps,
  type: ResourceType,
  object: T,
  patchFor: (object: T) => JsonPatchOp[] | undefined,
  options: FinalizerOptions,
): Promise<T | undefined> {
  const maxRetries = options.maxRetries ?? 5;
  const signalOption = options.signal ? { signal: options.signal } : {};
  let current = object;
  for (let attempt = 0; ; attempt++) {
    const ops = patchFor(current);
    if (!ops) return current;
    try {
      return await deps.kube.jsonPatch<T>(type, refOf(current), ops, signalOption);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      if (!(isInvalid(error) || isConflict(error)) || attempt >= maxRetries) throw error;
    }
    try {
      current = await deps.kube.get<T>(type, refOf(current), signalOption);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}

/** Ensures `finalizer` is on the object (unless it is being deleted); returns the stored object. */
export async function addFinalizer<T extends KubeObject>(
  deps: FinalizerDeps,
  type: ResourceType,
  object: T,
  finalizer: string,
  options: FinalizerOptions = {},
): Promise<T | undefined> {
  return patchWithRetry(
    deps,
    type,
    object,
    (current) => (current.metadata.deletionTimestamp ? undefined : addFinalizerPatch(current, finalizer)),
    options,
  );
}

/** Ensures `finalizer` is not on the object; returns the stored object, undefined once it is gone. */
export async function removeFinalizer<T extends KubeObject>(
  deps: FinalizerDeps,
  type: ResourceType,
  object: T,
  finalizer: string,
  options: FinalizerOptions = {},
): Promise<T | undefined> {
  return patchWithRetry(deps, type, object, (current) => removeFinalizerPatch(current, finalizer), options);
}
