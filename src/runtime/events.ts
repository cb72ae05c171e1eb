// Kubernetes Events (events.k8s.io/v1) for the objects the operator manages: the audit trail users
// see in `kubectl describe` / `kubectl events`.
//
// Guarantees:
// - `record` never blocks and never throws: it returns at once, writes in the background, logs
//   failures at debug/warn and drops the event (an event is a hint, not state).
// - Repeats aggregate like client-go's events library: an event isomorphic to one recorded in the
//   last 6 minutes (same object, type, reason, action, note) becomes a series on the existing Event
//   (series.count, series.lastObservedTime), patched at most once per `seriesPatchIntervalMs`,
//   instead of a new object.
// - New Events are rate limited per object+reason with a token bucket (default burst 25, one more
//   every 5 minutes); what the bucket refuses is dropped and counted in `dropped()`.
// - Field limits are respected: note <= 1 KiB (UTF-8, truncated), reason and action <= 128 chars.
// - Memory is bounded: at most `maxTracked` series and buckets are kept (oldest evicted first), and
//   none longer than it matters: a series past its window (a repeat would start a new Event) and a
//   bucket refilled to its burst (the same as none) are dropped within a window's time, so a burst of
//   Events (a fleet switch) does not stay in memory in a quiet fleet. No timer runs while none is kept.
// Never reads events back, never deletes them (the apiserver's TTL does).

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type Clock, microTime, systemClock, type TimerHandle } from './clock.ts';
import {
  apiVersionOf,
  isNotFound,
  type KubeClient,
  type KubeObject,
  type ResourceType,
  resourceTypes,
} from './kube.ts';
import { silentLogger } from './log.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventInput {
  type: EventType;
  /** CamelCase why, e.g. `KeyRotated`. */
  reason: string;
  /** CamelCase what the operator did or tried, e.g. `UpdateApplication`. */
  action: string;
  /** Human-readable; truncated to 1 KiB. */
  note: string;
}

/** What an event is about: an object (its type for apiVersion/kind) or a ready-made reference. */
export interface EventSubject {
  type: ResourceType;
  object: KubeObject;
}

export interface EventRecorderOptions {
  reportingController?: string;
  /** The pod name. */
  reportingInstance: string;
  burst?: number;
  refillEveryMs?: number;
  /** Repeats within this window join the existing series. Default 6 minutes (client-go). */
  seriesWindowMs?: number;
  seriesPatchIntervalMs?: number;
  maxTracked?: number;
}

export interface EventRecorderDeps {
  kube: Pick<KubeClient, 'create' | 'mergePatch'>;
  clock?: Clock;
  log?: Logger;
}

export interface EventRecorder {
  record(subject: EventSubject, event: EventInput): void;
  /** Resolves when every write started so far (and pending series patches) has finished. */
  flush(): Promise<void>;
  /** Events refused by the rate limiter since start. */
  dropped(): number;
  /** Cancels pending series patches. */
  close(): void;
}

interface Series {
  eventName: string;
  namespace: string;
  count: number;
  patchedCount: number;
  lastObservedAt: number;
  patchTimer: TimerHandle | undefined;
  /** The create is still in flight: patches wait for it. */
  created: Promise<boolean>;
}

interface Bucket {
  tokens: number;
  at: number;
}

const maxNoteBytes = 1024;

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Cut on a character boundary: drop a trailing partial sequence.
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

export function createEventRecorder(options: EventRecorderOptions, deps: EventRecorderDeps): EventRecorder {
  const clock = deps.clock ?? systemClock;
  const log = (deps.log ?? silentLogger()).child({ component: 'events' });
  const reportingController = options.reportingController ?? 'cmk.io/operator';
  const burst = options.burst ?? 25;
  const refillEveryMs = options.refillEveryMs ?? 5 * 60_000;
  const seriesWindowMs = options.seriesWindowMs ?? 6 * 60_000;
  const seriesPatchIntervalMs = options.seriesPatchIntervalMs ?? 30_000;
  const maxTracked = options.maxTracked ?? 4096;

  const series = new Map<string, Series>();
  const buckets = new Map<string, Bucket>();
  const inFlight = new Set<Promise<unknown>>();
  let droppedCount = 0;

  let sweepTimer: TimerHandle | undefined;
  /** Drops the series and buckets that no longer change anything; armed while any are kept. */
  function armSweep(): void {
    if (sweepTimer !== undefined || (series.size === 0 && buckets.size === 0)) return;
    sweepTimer = clock.setTimeout(() => {
      sweepTimer = undefined;
      const now = clock.now();
      for (const [key, entry] of series)
        if (now - entry.lastObservedAt > seriesWindowMs && entry.patchTimer === undefined) series.delete(key);
      for (const [key, bucket] of buckets)
        if (bucket.tokens + (now - bucket.at) / refillEveryMs >= burst) buckets.delete(key);
      armSweep();
    }, seriesWindowMs);
  }

  function track<P>(promise: Promise<P>): Promise<P> {
    inFlight.add(promise);
    promise.finally(() => inFlight.delete(promise)).catch(() => {});
    return promise;
  }

  function evictOldest<V>(map: Map<string, V>, onEvict?: (value: V) => void): void {
    while (map.size > maxTracked) {
      const first = map.keys().next();
      if (first.done) return;
      onEvict?.(map.get(first.value) as V);
      map.delete(first.value);
    }
  }

  function takeToken(key: string): boolean {
    const now = clock.now();
    const bucket = buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) / refillEveryMs);
    bucket.at = now;
    buckets.delete(key); // re-insert: Map order doubles as least-recently-used order
    buckets.set(key, bucket);
    evictOldest(buckets);
    armSweep();
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  function schedulePatch(entry: Series): void {
    if (entry.patchTimer !== undefined) return;
    entry.patchTimer = clock.setTimeout(() => {
      entry.patchTimer = undefined;
      track(patchSeries(entry));
    }, seriesPatchIntervalMs);
  }

  async function patchSeries(entry: Series): Promise<void> {
    if (!(await entry.created) || entry.count === entry.patchedCount) return;
    const count = entry.count;
    try {
      await deps.kube.mergePatch(
        resourceTypes.event,
        { namespace: entry.namespace, name: entry.eventName },
        { series: { count, lastObservedTime: microTime(entry.lastObservedAt) } },
      );
      entry.patchedCount = Math.max(entry.patchedCount, count);
    } catch (error) {
      // A 404 means the Event expired (TTL): the next repeat starts a fresh one.
      if (isNotFound(error)) {
        for (const [key, value] of series) if (value === entry) series.delete(key);
      }
      log.warn({ err: error, event: entry.eventName }, 'could not update event series');
    }
  }

  return {
    record(subject, input) {
      try {
        const { object, type } = subject;
        const now = clock.now();
        const note = truncateUtf8(input.note, maxNoteBytes);
        const reason = input.reason.slice(0, 128);
        const action = input.action.slice(0, 128);
        const uid = object.metadata.uid ?? '';
        const objectId = `${type.group}/${type.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}/${uid}`;
        const seriesKey = JSON.stringify([objectId, input.type, reason, action, note]);

        const existing = series.get(seriesKey);
        if (existing && now - existing.lastObservedAt <= seriesWindowMs) {
          existing.count += 1;
          existing.lastObservedAt = now;
          schedulePatch(existing);
          return;
        }
        if (existing) {
          if (existing.patchTimer !== undefined) clock.clearTimeout(existing.patchTimer);
          series.delete(seriesKey);
        }

        if (!takeToken(`${objectId}|${reason}`)) {
          droppedCount += 1;
          log.debug({ reason, object: object.metadata.name }, 'event dropped by rate limit');
          return;
        }

        const namespace = object.metadata.namespace ?? 'default';
        const eventName = `${object.metadata.name}.${now.toString(16)}${randomUUID().slice(0, 6)}`;
        const event = {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name: eventName, namespace },
          eventTime: microTime(now),
          reportingController,
          reportingInstance: options.reportingInstance,
          action,
          reason,
          note,
          type: input.type,
          regarding: {
            apiVersion: apiVersionOf(type),
            kind: type.kind,
            name: object.metadata.name,
            ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
            ...(uid ? { uid } : {}),
            ...(object.metadata.resourceVersion ? { resourceVersion: object.metadata.resourceVersion } : {}),
          },
        };
        const entry: Series = {
          eventName,
          namespace,
          count: 1,
          patchedCount: 1,
          lastObservedAt: now,
          patchTimer: undefined,
          created: Promise.resolve(false),
        };
        entry.created = track(
          deps.kube.create(resourceTypes.event, event as unknown as KubeObject).then(
            () => true,
            (error: unknown) => {
              log.warn({ err: error, reason, object: object.metadata.name }, 'could not create event');
              if (series.get(seriesKey) === entry) series.delete(seriesKey);
              return false;
            },
          ),
        );
        series.set(seriesKey, entry);
        evictOldest(series, (evicted) => {
          if (evicted.patchTimer !== undefined) clock.clearTimeout(evicted.patchTimer);
        });
      } catch (error) {
        log.warn({ err: error }, 'could not record event');
      }
    },
    async flush() {
      for (const entry of series.values()) {
        if (entry.patchTimer !== undefined) {
          clock.clearTimeout(entry.patchTimer);
          entry.patchTimer = undefined;
          track(patchSeries(entry));
        }
      }
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    dropped: () => droppedCount,
    close() {
      if (sweepTimer !== undefined) clock.clearTimeout(sweepTimer);
      sweepTimer = undefined;
      for (const entry of series.values()) {
        if (entry.patchTimer !== undefined) clock.clearTimeout(entry.patchTimer);
        entry.patchTimer = undefined;
      }
    },
  };
}
