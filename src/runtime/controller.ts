// A controller: N workers draining one work queue into `reconcile(key, ctx)`.
//
// Guarantees:
// - A key is reconciled by at most one worker at a time (the queue's processing set), and at most
//   `concurrency` reconciles run at once.
// - Outcomes (controller-runtime's): success -> forget the key's backoff and look again after a
//   jittered resync; `{ requeueAfterMs }` -> forget and look again then, but never later than the
//   resync interval (a reconcile asking for later still gets its resync); `{ requeue: true }` ->
//   rate-limited requeue; WaitingError -> look again after its `retryAfterMs`, no backoff growth;
//   TerminalError -> forget, no backoff retries (logged at error, counted), looked at again only at
//   the jittered resync (the cause may be fixed outside Kubernetes: IAM, a key policy) or on a
//   watch event; anything else ->
//   rate-limited requeue (per-key backoff, global bucket).
// - Lanes (work-queue.ts): `{ requeueAfterMs }` and WaitingError come due in the fast lane, with
//   watch events (the object is in the middle of something); resyncs and backoff in the slow one.
// - Every log line of a reconcile carries `controller`, `key` and a short random `reconcileId`.
// - stop(): takes no new key, waits for in-flight reconciles up to the deadline, then aborts their
//   `ctx.signal` and returns without waiting longer. When the start signal aborts (leadership
//   lost) in-flight reconciles are aborted at once.
// Never reconciles before start(), never swallows an error without logging and counting it.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type Clock, jitter, systemClock } from './clock.ts';
import { classifyError } from './errors.ts';
import { silentLogger } from './log.ts';
import { type ControllerMetrics, noControllerMetrics, type ReconcileResultLabel } from './metrics.ts';
import type { WorkQueue } from './work-queue.ts';

export interface ReconcileContext {
  log: Logger;
  reconcileId: string;
  /** Aborts when this reconcile must stop acting: leadership lost or the stop deadline passed. */
  signal: AbortSignal;
  /** Rate-limited retries of this key since its last success. */
  retries: number;
  /**
   * A resync or poll that came due (the queue's slow lane, not a retry): not a look a change someone
   * signalled asked for (a watch event, a nudge, a follow-up), nor a retry of one.
   */
  periodic?: boolean;
}

export interface ReconcileResult {
  /** Look again after this many ms instead of the resync interval. */
  requeueAfterMs?: number;
  /** Look again soon, with backoff (no error). */
  requeue?: boolean;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a reconcile that returns nothing is a plain success.
export type Reconcile = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

export interface ControllerDeps {
  clock?: Clock;
  log?: Logger;
  metrics?: ControllerMetrics;
  random?: () => number;
}

export interface ControllerOptions {
  name: string;
  queue: WorkQueue;
  reconcile: Reconcile;
  /** Concurrent reconciles. Default 1. */
  concurrency?: number;
  /** Look-again interval after a success. Default 10 minutes. */
  resyncMs?: number;
  /** Resync jitter fraction (+/-). Default 0.1. */
  resyncJitter?: number;
}

export interface Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  /** Starts the workers. When `signal` aborts, the controller stops and in-flight reconciles abort at once. */
  start(signal?: AbortSignal): void;
  /** Stops taking work; waits up to `deadlineMs` (default 30 s) for in-flight reconciles, then aborts them. */
  stop(options?: { deadlineMs?: number }): Promise<void>;
  /** Reconciles in flight now. */
  active(): number;
}

export function newReconcileId(): string {
  return randomUUID().slice(0, 8);
}

export function createController(options: ControllerOptions, deps: ControllerDeps = {}): Controller {
  const clock = deps.clock ?? systemClock;
  const log = (deps.log ?? silentLogger()).child({ controller: options.name });
  const metrics = deps.metrics ?? noControllerMetrics;
  const random = deps.random ?? Math.random;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const resyncMs = options.resyncMs ?? 10 * 60_000;
  const resyncJitter = options.resyncJitter ?? 0.1;
  const { queue } = options;

  const stopping = new AbortController();
  let workers: Promise<void>[] = [];
  let started = false;
  let inFlight = 0;

  metrics.maxConcurrentReconciles(concurrency);

  async function reconcileOne(key: string): Promise<void> {
    const reconcileId = newReconcileId();
    const rlog = log.child({ key, reconcileId });
    const retries = queue.numRequeues(key);
    const startedAt = clock.now();
    inFlight += 1;
    metrics.activeWorkers(1);
    let label: ReconcileResultLabel;
    try {
      const result =
        (await options.reconcile(key, {
          log: rlog,
          reconcileId,
          signal: stopping.signal,
          retries,
          // A retry (rate-limited) also comes due in the slow lane; it repeats a look someone's change may have asked for.
          periodic: queue.laneOf(key) === 'slow' && retries === 0,
        })) ?? {};
      if (result.requeue) {
        label = 'requeue';
        queue.addRateLimited(key);
      } else if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        label = 'requeue_after';
        queue.forget(key);
        // Asked for a look at a time: the object is in the middle of something (a change it made
        // that is transitioning, a poll of a blocker); it goes ahead of resyncs when due.
        queue.addAfter(key, Math.min(result.requeueAfterMs, resyncMs), 'fast');
      } else {
        label = 'success';
        queue.forget(key);
        queue.addAfter(key, jitter(resyncMs, resyncJitter, random));
      }
    } catch (thrown) {
      const error = classifyError(thrown);
      if (error.kind === 'waiting') {
        label = 'requeue_after';
        rlog.info({ reason: error.reason, retryAfterMs: error.retryAfterMs }, error.message);
        queue.forget(key);
        queue.addAfter(key, error.retryAfterMs, 'fast');
      } else if (error.kind === 'terminal') {
        label = 'error';
        metrics.errored(true);
        rlog.error(
          { err: thrown, reason: error.reason },
          `terminal reconcile error, not retried before the resync: ${error.message}`,
        );
        queue.forget(key);
        queue.addAfter(key, jitter(resyncMs, resyncJitter, random));
      } else {
        label = 'error';
        metrics.errored(false);
        rlog.warn(
          { err: thrown, reason: error.reason, retries },
          `reconcile error, will retry: ${error.message}`,
        );
        queue.addRateLimited(key);
      }
    } finally {
      inFlight -= 1;
      metrics.activeWorkers(-1);
      queue.done(key);
    }
    const seconds = (clock.now() - startedAt) / 1000;
    metrics.reconciled(label, seconds);
    rlog.debug({ result: label, seconds }, 'reconciled');
  }

  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      await reconcileOne(key);
    }
  }

  function stopNow(reason: unknown): void {
    queue.shutdown();
    if (!stopping.signal.aborted) stopping.abort(reason);
  }

  return {
    name: options.name,
    queue,
    start(signal) {
      if (started) throw new Error(`controller ${options.name} already started`);
      started = true;
      if (signal?.aborted) {
        stopNow(signal.reason);
        return;
      }
      signal?.addEventListener('abort', () => stopNow(signal.reason), { once: true });
      workers = Array.from({ length: concurrency }, () => worker());
      log.info({ concurrency }, 'controller started');
    },
    async stop(stopOptions = {}) {
      queue.shutdown();
      const all = Promise.all(workers);
      let timer: unknown;
      const deadline = new Promise<'deadline'>((resolve) => {
        timer = clock.setTimeout(() => resolve('deadline'), stopOptions.deadlineMs ?? 30_000);
      });
      const outcome = await Promise.race([all.then(() => 'drained' as const), deadline]);
      clock.clearTimeout(timer);
      if (outcome === 'deadline') {
        log.warn({ inFlight }, 'stop deadline passed; aborting in-flight reconciles');
        stopNow(new Error('controller stop deadline passed'));
      }
      log.info('controller stopped');
    },
    active: () => inFlight,
  };
}
