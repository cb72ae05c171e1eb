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

/**
 * A value as JSON carries it, to compare with what the API server stored: the same as
 * `JSON.parse(JSON.stringify(v))` (`undefined` fields dropped, `undefined` in arrays and non-finite
 * numbers as null, `toJSON` honoured), without the text in between. Plain objects, arrays and
 * primitives, which a status is made of, are copied by a walk; anything else goes through JSON.
 * `undefined` stays `undefined`.
 */
export function asJson<S>(v: S): S {
  return v === undefined ? v : (jsonValue(v) as S);
}

function jsonValue(v: unknown): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      // -0 reads back as 0.
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : null;
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) {
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          const e = jsonValue(v[i]);
          out[i] = e === undefined ? null : e;
        }
        return out;
      }
      const proto = Object.getPrototypeOf(v);
      if (
        (proto !== Object.prototype && proto !== null) ||
        typeof (v as { toJSON?: unknown }).toJSON === 'function'
      )
        return JSON.parse(JSON.stringify(v)) as unknown;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(v)) {
        const e = jsonValue((v as Record<string, unknown>)[key]);
        if (e === undefined) continue;
        if (key === '__proto__')
          Object.defineProperty(out, key, { value: e, enumerable: true, writable: true, configurable: true });
        else out[key] = e;
      }
      return out;
    }
    default:
      // undefined, functions, symbols: left out (in arrays: null, above); a bigint throws, as in JSON.
      if (typeof v === 'bigint') return JSON.stringify(v);
      return undefined;
  }
}

/** `undefined`, functions and symbols: what JSON leaves out of an object (and writes as null in an array). */
function dropped(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/**
 * Whether `stored`, a value as the API server returns it (parsed JSON), deep-equals `asJson(v)`:
 * the same answer as `isDeepStrictEqual(stored, asJson(v))`, without the copy. Every reconcile
 * compares the status it computed with the stored one, and in a settled fleet they are nearly always
 * equal; the copy and the comparison were ~5 % of what a settled operator allocated
 * (bench/results/memory-analysis.md, session 23). A value that is not a plain object, array or
 * primitive (a Date, a class instance) is compared through `asJson`, as before.
 */
export function sameAsJson(stored: unknown, v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return stored === v;
    case 'number':
      return Number.isFinite(v) ? Object.is(stored, v === 0 ? 0 : v) : stored === null;
    case 'object': {
      if (v === null) return stored === null;
      if (typeof stored !== 'object' || stored === null) return isDeepStrictEqual(stored, asJson(v));
      if (Array.isArray(v)) {
        if (!Array.isArray(stored) || Object.getPrototypeOf(stored) !== Array.prototype) return false;
        if (stored.length !== v.length) return false;
        for (let i = 0; i < v.length; i++) {
          const e: unknown = v[i];
          if (dropped(e) ? stored[i] !== null : !sameAsJson(stored[i], e)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (
        (proto !== Object.prototype && proto !== null) ||
        typeof (v as { toJSON?: unknown }).toJSON === 'function' ||
        Array.isArray(stored) ||
        Object.getPrototypeOf(stored) !== Object.prototype
      )
        return isDeepStrictEqual(stored, asJson(v));
      const from = v as Record<string, unknown>;
      const into = stored as Record<string, unknown>;
      let kept = 0;
      for (const key in from) {
        if (!Object.hasOwn(from, key)) continue;
        const e = from[key];
        if (dropped(e)) continue;
        kept++;
        if (!Object.hasOwn(into, key) || !sameAsJson(into[key], e)) return false;
      }
      let storedKeys = 0;
      for (const key in into) if (Object.hasOwn(into, key)) storedKeys++;
      return storedKeys === kept;
    }
    default:
      return isDeepStrictEqual(stored, asJson(v));
  }
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
    const computed = computeStatus(object);
    if (sameAsJson(object.status, computed)) return { written: false, object, conflicts };
    const status = asJson(computed);
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
