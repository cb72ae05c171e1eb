// Controllers declared as data and wired by one loop (after controller-runtime's Watches with
// enqueue-mapped handlers): a controller names its root kind's cache, its reconcile and what else
// it watches; each watch maps a change of a watched object to the root keys to reconcile.
//
// Guarantees:
// - The queue carries keys, never events: a mapper only says which root objects to look at again;
//   the reconcile reads everything it needs itself.
// - A change of the controller's own kind that touches only status or adds a finalizer (most often
//   the operator's own write) re-runs nothing: the reconcile that wrote it already said when to look again, and the
//   resync covers the rest (as controller-runtime's GenerationChangedPredicate does).
// - A mapper may ask for a delayed look (`afterMs`), so a burst of changes costs one reconcile.

import type { Logger } from 'pino';
import { type Controller, createController, type Reconcile } from './controller.ts';
import { type KubeObject, objectKey, type ResourceType } from './kube.ts';
import type { ControllerMetrics, WorkQueueMetrics } from './metrics.ts';
import type { Index, Informer } from './watch.ts';
import { createWorkQueue, type ResyncGate } from './work-queue.ts';

/** Informers of one kind across the watched namespaces, seen as one cache. */
export interface KindCache<T extends KubeObject> {
  readonly type: ResourceType;
  readonly informers: Informer<T>[];
  get(key: string): T | undefined;
  keys(): string[];
  list(): T[];
  indexBy(valuesOf: (o: T) => Iterable<string>): Index;
}

export function kindCache<T extends KubeObject>(type: ResourceType, informers: Informer<T>[]): KindCache<T> {
  return {
    type,
    informers,
    get: (key) => {
      for (const i of informers) {
        const hit = i.get(key);
        if (hit) return hit;
      }
      return undefined;
    },
    keys: () => informers.flatMap((i) => i.keys()),
    list: () => informers.flatMap((i) => i.list()),
    indexBy: (valuesOf) => {
      const indexes = informers.map((i) => i.indexBy(valuesOf));
      return { lookup: (value) => indexes.flatMap((ix) => ix.lookup(value)) };
    },
  };
}

/** A root key to reconcile, now or after a delay. */
export type Enqueue = string | { key: string; afterMs: number };

/** What changed: `previous` is set on updates. */
export interface Change<T extends KubeObject> {
  object: T;
  previous?: T;
}

export interface Watch<T extends KubeObject = KubeObject> {
  source: KindCache<T>;
  toKeys(change: Change<T>): Iterable<Enqueue>;
}

export interface ControllerDefinition {
  /** Controller name: metrics label, log field. */
  name: string;
  /** The root kind's cache; its own changes (beyond status) enqueue themselves. */
  root: KindCache<KubeObject>;
  reconcile: Reconcile;
  /** Other kinds whose changes map to root keys. */
  watches: Watch[];
  /** Its workers, from the process's `--concurrency` (default: that many). */
  workers?: (concurrency: number) => number;
  /**
   * The AWS quota a reconcile of the object spends (its Region and account): the queue spreads its
   * workers across them (work-queue.ts `groupOf`). Without it, or for a key not in the cache: one.
   */
  quotaScope?: (object: KubeObject) => string;
}

/**
 * Whether an update is more than a status write: a new generation (spec), or other metadata a
 * reconcile reads (labels, annotations, a finalizer removed, deletion). A finalizer added is not:
 * the reconcile that adds its own goes on with the stored object (src/runtime/executor.ts), and
 * another party's finalizer changes nothing a reconcile decides (only its own, present or not).
 */
export function changedBeyondStatus(previous: KubeObject, o: KubeObject): boolean {
  const m = (x: KubeObject) =>
    JSON.stringify([
      x.metadata.generation ?? null,
      x.metadata.labels ?? null,
      x.metadata.annotations ?? null,
      x.metadata.deletionTimestamp ?? null,
    ]);
  if (m(previous) !== m(o)) return true;
  const now = new Set(o.metadata.finalizers ?? []);
  return (previous.metadata.finalizers ?? []).some((f) => !now.has(f));
}

/** A typed watch (the mapper sees the watched kind's own type). */
export function watch<T extends KubeObject>(
  source: KindCache<T>,
  toKeys: (change: Change<T>) => Iterable<Enqueue>,
): Watch {
  return { source, toKeys } as unknown as Watch;
}

export interface WiringDeps {
  log: Logger;
  queueMetrics(name: string): WorkQueueMetrics;
  controllerMetrics(name: string): ControllerMetrics;
  concurrency: number;
  resyncMs: number;
  /** One per process: the resyncs of every controller yield to changes in any (work-queue.ts). */
  resyncGate?: ResyncGate;
}

/** A key's quota scope from the cached object ('' when it is not cached: gone or not seen yet). */
function groupOf(cache: KindCache<KubeObject>, scope: (object: KubeObject) => string) {
  return (key: string) => {
    const object = cache.get(key);
    return object ? scope(object) : '';
  };
}

/** Creates the controller's queue and workers and attaches its watches to the informers. */
export function wireController(definition: ControllerDefinition, deps: WiringDeps): Controller {
  const concurrency = Math.max(1, definition.workers?.(deps.concurrency) ?? deps.concurrency);
  const queue = createWorkQueue({
    metrics: deps.queueMetrics(definition.name),
    ...(deps.resyncGate ? { resyncGate: deps.resyncGate } : {}),
    // Two workers always free for changes: a spec change never waits for a resync to finish.
    maxSlowInFlight: Math.max(1, concurrency - 2),
    ...(definition.quotaScope ? { groupOf: groupOf(definition.root, definition.quotaScope) } : {}),
  });
  const enqueue = (keys: Iterable<Enqueue>) => {
    for (const k of keys) {
      if (typeof k === 'string') queue.add(k);
      // A delayed look a change asked for is a change, not a resync: the fast lane when due.
      else queue.addAfter(k.key, k.afterMs, 'fast');
    }
  };
  for (const i of definition.root.informers) {
    i.addHandlers({
      onAdd: (o) => queue.add(objectKey(o)),
      onUpdate: (previous, o) => {
        if (changedBeyondStatus(previous, o)) queue.add(objectKey(o));
      },
      onDelete: (o) => queue.add(objectKey(o)),
    });
  }
  for (const w of definition.watches) {
    for (const i of w.source.informers) {
      i.addHandlers({
        onAdd: (object) => enqueue(w.toKeys({ object })),
        onUpdate: (previous, object) => enqueue(w.toKeys({ object, previous })),
        onDelete: (object) => enqueue(w.toKeys({ object })),
      });
    }
  }
  return createController(
    {
      name: definition.name,
      queue,
      reconcile: definition.reconcile,
      concurrency,
      resyncMs: deps.resyncMs,
    },
    { log: deps.log, metrics: deps.controllerMetrics(definition.name) },
  );
}
