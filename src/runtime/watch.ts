// An informer: a list+watch of one resource type kept in a local cache, with change handlers.
//
// The watch is an explicit state machine (kube-rs watcher.rs):
//   Listing --(all pages listed at rv)--> Listed(rv) --(watch opened)--> Watching(rv')
//   Watching(rv') --(stream ended by server timeout)--> Listed(rv')     re-watch at once
//   Watching/Listed --(410 Gone: HTTP or ERROR event)--> Listing        relist at once, then backoff
//   any phase --(other error)--> same phase after a reconnect backoff   (800 ms doubling to 30 s,
//                                 jittered; reset when no backoff was needed for 2 minutes)
//
// Guarantees:
// - The cache holds the latest object seen per key (`namespace/name`, or `name` when cluster-scoped),
//   as `transform` returns it (default: without the bookkeeping no code reads, src/runtime/trim.ts);
//   every listed and watched object goes through it before the cache, the indexes and the handlers.
// - A relist replaces the cache atomically and reports the difference as handler calls: onAdd for
//   new keys, onUpdate for changed resourceVersions, onDelete (with the last known object) for keys
//   that vanished while disconnected. Nothing is lost or reported twice across a 410.
// - Handlers run synchronously in event order after the cache and its indexes are updated; a
//   handler that throws is logged and does not stop the informer. Handlers must not mutate objects.
// - `lastProgress()` moves on every listed page, watch event, bookmark and clean watch end; never
//   on errors, so a stuck informer shows in the liveness probe.
// - Watches ask for bookmarks and a server-side timeout of base..2*base seconds (jittered) so
//   connections are recycled, and are abandoned after that plus a minute without a byte.
// Never retries forever without backoff; never stops on its own (only `stop()` ends it).

import type { Logger } from 'pino';
import { type Clock, sleep, systemClock } from './clock.ts';
import {
  isGone,
  type KubeClient,
  type KubeObject,
  type KubeStatus,
  objectKey,
  type ResourceType,
  type WatchEvent,
} from './kube.ts';
import { silentLogger } from './log.ts';
import { dropBookkeeping } from './trim.ts';

export type WatcherState =
  | { phase: 'Listing' }
  | { phase: 'Listed'; resourceVersion: string }
  | { phase: 'Watching'; resourceVersion: string };

export interface InformerHandlers<T extends KubeObject> {
  onAdd?(object: T): void;
  onUpdate?(previous: T, object: T): void;
  onDelete?(object: T): void;
}

/** Keys of cached objects by a derived value (e.g. the KmsKey a workload references). */
export interface Index {
  /** Cache keys whose objects map to `value`, sorted. */
  lookup(value: string): string[];
}

export interface Informer<T extends KubeObject> {
  readonly type: ResourceType;
  start(): void;
  stop(): Promise<void>;
  hasSynced(): boolean;
  /** Resolves once the first list is in the cache; rejects if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void>;
  /** Epoch ms of the last sign of life from the API server. */
  lastProgress(): number;
  state(): WatcherState;
  get(key: string): T | undefined;
  list(): T[];
  keys(): string[];
  /** Adds handlers; objects already cached are replayed to `onAdd`. Returns an unsubscribe function. */
  addHandlers(handlers: InformerHandlers<T>): () => void;
  /** An index maintained with the cache; built from the current cache when added late. */
  indexBy(valuesOf: (object: T) => Iterable<string>): Index;
}

export interface InformerOptions {
  type: ResourceType;
  /** Restrict to one namespace; cluster-wide when undefined. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** LIST page size. Default 500. */
  pageSize?: number;
  /** Server-side watch timeout base; each watch asks for base..2*base. Default 300. */
  watchTimeoutSeconds?: number;
  backoff?: Partial<ReconnectBackoffOptions>;
  /**
   * What the cache keeps of each object (client-go's SetTransform): gets the object as parsed from
   * the API server, returns what to cache (may mutate it). It must keep every field a reconcile, a
   * mapper, an index or the status writer reads. Default: `dropBookkeeping`.
   */
  transform?: <T extends KubeObject>(object: T) => T;
}

export interface InformerDeps {
  kube: Pick<KubeClient, 'list' | 'watch'>;
  clock?: Clock;
  log?: Logger;
  random?: () => number;
}

export interface ReconnectBackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Fraction of +/- jitter. */
  jitter: number;
  /** Start again from `initialMs` when the previous delay was asked for longer ago than this. */
  resetAfterMs: number;
}

export const defaultReconnectBackoff: ReconnectBackoffOptions = {
  initialMs: 800,
  maxMs: 30_000,
  jitter: 0.2,
  resetAfterMs: 120_000,
};

/** Exponential backoff that resets after a healthy period (kube-rs ResetTimerBackoff). */
export function createReconnectBackoff(
  options: Partial<ReconnectBackoffOptions> = {},
  clock: Clock = systemClock,
  random: () => number = Math.random,
): { next(): number; reset(): void } {
  const o = { ...defaultReconnectBackoff, ...options };
  let attempt = 0;
  let lastAskedAt: number | undefined;
  return {
    next() {
      const now = clock.now();
      if (lastAskedAt !== undefined && now - lastAskedAt >= o.resetAfterMs) attempt = 0;
      lastAskedAt = now;
      const base = Math.min(o.maxMs, o.initialMs * 2 ** attempt);
      attempt += 1;
      return Math.round(base * (1 + o.jitter * (2 * random() - 1)));
    },
    reset() {
      attempt = 0;
      lastAskedAt = undefined;
    },
  };
}

/** A watch ERROR event that is not 410. */
export class WatchErrorEvent extends Error {
  readonly status: KubeStatus;
  constructor(status: KubeStatus) {
    super(`watch error event: ${status.code ?? '?'} ${status.reason ?? ''} ${status.message ?? ''}`.trim());
    this.name = 'WatchErrorEvent';
    this.status = status;
  }
}

class Relist extends Error {}

/**
 * An index's two maps. Most values name one object (a resource ARN) and most objects have one value:
 * a single one is held as a plain string, a Set or an array only when there are several (10,000
 * objects under three indexes: ~4 MiB of one-element Sets and arrays otherwise).
 */
interface IndexState<T> {
  valuesOf: (object: T) => Iterable<string>;
  byValue: Map<string, string | Set<string>>;
  byKey: Map<string, string | string[]>;
}

function indexAdd(byValue: Map<string, string | Set<string>>, value: string, key: string): void {
  const held = byValue.get(value);
  if (held === undefined) byValue.set(value, key);
  else if (typeof held !== 'string') held.add(key);
  else if (held !== key) byValue.set(value, new Set([held, key]));
}

function indexRemove(byValue: Map<string, string | Set<string>>, value: string, key: string): void {
  const held = byValue.get(value);
  if (held === key) byValue.delete(value);
  else if (held !== undefined && typeof held !== 'string') {
    held.delete(key);
    if (held.size === 1) byValue.set(value, held.values().next().value as string);
  }
}

export function createInformer<T extends KubeObject>(
  options: InformerOptions,
  deps: InformerDeps,
): Informer<T> {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const log = (deps.log ?? silentLogger()).child({
    informer: options.type.plural,
    ...(options.namespace ? { namespace: options.namespace } : {}),
  });
  const pageSize = options.pageSize ?? 500;
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
  const backoff = createReconnectBackoff(options.backoff, clock, random);
  const transform = options.transform ?? dropBookkeeping;

  const cache = new Map<string, T>();
  const indexes: IndexState<T>[] = [];
  const handlerSets = new Set<InformerHandlers<T>>();
  let state: WatcherState = { phase: 'Listing' };
  let synced = false;
  let progressAt = clock.now();
  const syncWaiters = new Set<() => void>();
  let stopping: AbortController | undefined;
  let loop: Promise<void> | undefined;

  const selectors = {
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    ...(options.labelSelector !== undefined ? { labelSelector: options.labelSelector } : {}),
    ...(options.fieldSelector !== undefined ? { fieldSelector: options.fieldSelector } : {}),
  };

  function indexPut(index: IndexState<T>, key: string, object: T | undefined): void {
    const old = index.byKey.get(key);
    for (const value of typeof old === 'string' ? [old] : (old ?? [])) indexRemove(index.byValue, value, key);
    index.byKey.delete(key);
    if (!object) return;
    const values = [...new Set(index.valuesOf(object))];
    if (values.length === 0) return;
    index.byKey.set(key, values.length === 1 ? values[0]! : values);
    for (const value of values) indexAdd(index.byValue, value, key);
  }

  function put(key: string, object: T | undefined): void {
    if (object) cache.set(key, object);
    else cache.delete(key);
    for (const index of indexes) indexPut(index, key, object);
  }

  function notify(call: (handlers: InformerHandlers<T>) => void): void {
    for (const handlers of handlerSets) {
      try {
        call(handlers);
      } catch (error) {
        log.error({ err: error }, 'informer handler threw');
      }
    }
  }

  function upsert(object: T): void {
    const key = objectKey(object);
    const previous = cache.get(key);
    put(key, object);
    if (previous) notify((h) => h.onUpdate?.(previous, object));
    else notify((h) => h.onAdd?.(object));
  }

  function remove(object: T): void {
    put(objectKey(object), undefined);
    notify((h) => h.onDelete?.(object));
  }

  function progress(): void {
    progressAt = clock.now();
  }

  async function listAll(signal: AbortSignal): Promise<string> {
    const listed = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await deps.kube.list<T>(options.type, {
        ...selectors,
        limit: pageSize,
        ...(continueToken ? { continue: continueToken } : {}),
        signal,
      });
      progress();
      for (const item of page.items) listed.set(objectKey(item), transform(item));
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? '';
    } while (continueToken);

    // Apply atomically, then report the difference.
    const vanished = [...cache.entries()].filter(([key]) => !listed.has(key));
    for (const [key, object] of listed) {
      const previous = cache.get(key);
      if (previous?.metadata.resourceVersion === object.metadata.resourceVersion) continue;
      put(key, object);
      if (previous) notify((h) => h.onUpdate?.(previous, object));
      else notify((h) => h.onAdd?.(object));
    }
    for (const [key, object] of vanished) {
      put(key, undefined);
      notify((h) => h.onDelete?.(object));
    }
    if (!synced) {
      synced = true;
      for (const resolve of syncWaiters) resolve();
      syncWaiters.clear();
    }
    log.debug({ resourceVersion, objects: cache.size, vanished: vanished.length }, 'listed');
    return resourceVersion;
  }

  async function watchFrom(resourceVersion: string, signal: AbortSignal): Promise<void> {
    const timeoutSeconds = Math.round(watchTimeoutSeconds * (1 + random()));
    const events = deps.kube.watch<T>(options.type, {
      ...selectors,
      resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds,
      idleTimeoutMs: (timeoutSeconds + 60) * 1000,
      signal,
    });
    state = { phase: 'Watching', resourceVersion };
    const openedAt = clock.now();
    let received = 0;
    for await (const event of events as AsyncIterable<WatchEvent<T>>) {
      received += 1;
      if (event.type === 'ERROR') {
        if (event.object.code === 410) throw new Relist(event.object.message ?? 'resourceVersion expired');
        throw new WatchErrorEvent(event.object);
      }
      progress();
      const rv = event.object.metadata?.resourceVersion;
      if (event.type === 'ADDED' || event.type === 'MODIFIED') upsert(transform(event.object));
      else if (event.type === 'DELETED') remove(transform(event.object));
      if (rv) state = { phase: 'Watching', resourceVersion: rv };
    }
    // A server closing every watch at once (shutting down, a proxy) must not make us spin.
    if (received === 0 && clock.now() - openedAt < 1000)
      throw new Error('watch closed at once by the server');
    progress();
  }

  let lastGoneAt: number | undefined;

  async function run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        if (state.phase === 'Listing') {
          state = { phase: 'Listed', resourceVersion: await listAll(signal) };
        } else {
          await watchFrom(state.resourceVersion, signal);
          state = { phase: 'Listed', resourceVersion: state.resourceVersion };
        }
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof Relist || isGone(error)) {
          // A relist is the remedy: no reason to wait, unless 410s come in a burst.
          log.info(
            { reason: (error as Error).message, phase: state.phase },
            'resourceVersion too old; relisting',
          );
          state = { phase: 'Listing' };
          const now = clock.now();
          const burst = lastGoneAt !== undefined && now - lastGoneAt < 10_000;
          lastGoneAt = now;
          if (!burst) continue;
        }
        if (state.phase === 'Watching') state = { phase: 'Listed', resourceVersion: state.resourceVersion };
        const delayMs = backoff.next();
        log.warn({ err: error, phase: state.phase, delayMs }, 'list/watch failed; retrying after backoff');
        try {
          await sleep(clock, delayMs, signal);
        } catch {
          break;
        }
      }
    }
  }

  return {
    type: options.type,
    start() {
      if (loop) throw new Error(`informer for ${options.type.plural} already started`);
      stopping = new AbortController();
      loop = run(stopping.signal);
    },
    async stop() {
      stopping?.abort(new Error('informer stopped'));
      await loop;
    },
    hasSynced: () => synced,
    waitForSync(signal) {
      if (synced) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const done = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          syncWaiters.delete(done);
          reject(signal?.reason);
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        syncWaiters.add(done);
      });
    },
    lastProgress: () => progressAt,
    state: () => state,
    get: (key) => cache.get(key),
    list: () => [...cache.values()],
    keys: () => [...cache.keys()],
    addHandlers(handlers) {
      handlerSets.add(handlers);
      for (const object of cache.values()) {
        try {
          handlers.onAdd?.(object);
        } catch (error) {
          log.error({ err: error }, 'informer handler threw');
        }
      }
      return () => handlerSets.delete(handlers);
    },
    indexBy(valuesOf) {
      const index: IndexState<T> = { valuesOf, byValue: new Map(), byKey: new Map() };
      for (const [key, object] of cache) indexPut(index, key, object);
      indexes.push(index);
      return {
        lookup: (value) => {
          const held = index.byValue.get(value);
          return held === undefined ? [] : typeof held === 'string' ? [held] : [...held].sort();
        },
      };
    },
  };
}
