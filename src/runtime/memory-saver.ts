// V8's memory saver mode while the operator has nothing to change: a settled fleet costs a few
// resyncs a second, and the heap a burst of changes grew to (a fleet switch, an initial sync) is
// handed back instead of kept until the next burst.
//
// Why: V8 sizes its heap for throughput. After a burst it keeps the pages it grew to (garbage
// waiting for a collection, fragmented pages it does not compact), so a settled operator held what
// the busiest minute of its life needed. Memory saver mode makes V8 collect sooner and compact
// harder; it costs CPU, which a settled operator has to spare and a busy one does not
// (bench/results/memory-analysis.md has the figures).
//
// Guarantees:
// - `auto`: on only after `settleMs` without a change waiting or in flight in any controller (the
//   resync gate's `busy`); the first change turns it off at once, in the call that reports it,
//   before that change's reconcile is handed to a worker. Resyncs of a settled fleet leave it on,
//   and so do the follow-ups reconciles ask for (a KmsKey looking again a second after its resync):
//   counted as changes, they turned it off for a few seconds at a time in a settled fleet of
//   10,000, and V8 let the old generation grow by 20-30 MiB each time.
// - Turning it on asks V8 for one full collection, so the pages are returned then rather than at
//   V8's next collection: that comes only when the old generation reaches the limit V8 set while
//   the mode was off, which a short busy stretch can have raised by tens of MiB (at 10,000
//   workloads, 6 s at ~218 MiB after a rotation's follow-ups, where a collection brings it to ~185).
//   At most one such collection per `collectEveryMs`, however often the mode flips; with the mode
//   on V8 collects the old generation about once a second anyway, so one more is cheap.
// - A memory target (`targetBytes`, `auto` only), like Go's soft memory limit: while the resident
//   set is above it, the mode is on whatever the controllers are doing, until the resident set is
//   back under 90 % of the target. A busy operator then pays CPU for staying small; below the
//   target it pays nothing. The resident set is read every `checkEveryMs`.
// - A target the process cannot reach (its live data alone is larger) is not chased: when the
//   resident set has not come under the target within `giveUpMs` of the mode going on for it, the
//   mode is left to the settle rule again for `backoffMs`, and `onTargetUnreachable` says so. The
//   minute starts again whenever the resident set goes back above the target after reaching it.
// - `on`: on from the start and never turned off; `off`: V8's settings are never touched.
// - `stop()` cancels a pending turn-on; the mode is left as it is (the process is ending).
// - The engine is injected: unit tests drive it with a fake clock and a recording engine.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Clock, TimerHandle } from './clock.ts';

export type MemorySaverMode = 'auto' | 'on' | 'off';

export const memorySaverModes: readonly MemorySaverMode[] = ['auto', 'on', 'off'];

/** What the saver asks of the JavaScript engine. */
export interface MemoryEngine {
  setSaver(on: boolean): void;
  /** One full collection, started now; the caller does not wait for it. */
  collect(): void;
}

type GcFunction = (options: { type: 'major'; execution: 'async' }) => Promise<void>;

/**
 * Node's V8. `--memory-saver-mode` is read by V8 at each collection decision, so setting it on a
 * running isolate takes effect at the next one. `collect` gets V8's `gc` function from a fresh
 * context after allowing it (the main context's globals stay as they are).
 */
export function v8Engine(): MemoryEngine {
  let gc: GcFunction | undefined;
  return {
    setSaver(on) {
      setFlagsFromString(on ? '--memory-saver-mode' : '--no-memory-saver-mode');
    },
    collect() {
      if (!gc) {
        setFlagsFromString('--expose-gc');
        gc = runInNewContext('gc') as GcFunction;
      }
      void gc({ type: 'major', execution: 'async' }).catch(() => undefined);
    },
  };
}

export interface MemorySaverOptions {
  mode: MemorySaverMode;
  clock: Clock;
  engine?: MemoryEngine;
  /** How long without a change before the mode turns on. Default 2 s. */
  settleMs?: number;
  /** At most one requested collection per this long. Default 10 s. */
  collectEveryMs?: number;
  /** Called with every change of the mode (metrics, logs): why it is on, or why it had been on. */
  onChange?: (on: boolean, why: MemorySaverReason | undefined) => void;
  /** Resident set the process aims to stay under (`auto` only); 0 or unset: none. */
  targetBytes?: number;
  /** The resident set now. Default: `process.memoryUsage.rss()`. */
  rss?: () => number;
  /** How often the resident set is compared with the target. Default 1 s. */
  checkEveryMs?: number;
  /** How long the mode may stay on for the target without reaching it. Default 60 s. */
  giveUpMs?: number;
  /** After giving up, how long before the target counts again. Default 5 min. */
  backoffMs?: number;
  /** The target was not reached within `giveUpMs`: the resident set then. */
  onTargetUnreachable?: (rssBytes: number) => void;
}

/** Why the mode is on: nothing is changing, or the resident set is above the target. */
export type MemorySaverReason = 'settled' | 'target' | 'always';

export interface MemorySaver {
  /** Whether any controller has a change waiting or in flight (the resync gate reports it). */
  busy(isBusy: boolean): void;
  active(): boolean;
  stop(): void;
}

export const defaultSettleMs = 2_000;
export const defaultCollectEveryMs = 10_000;
/** Below this share of the target the resident set is back under it. */
const relievedShare = 0.9;

export function createMemorySaver(options: MemorySaverOptions): MemorySaver {
  const { mode, clock } = options;
  const engine = options.engine ?? v8Engine();
  const settleMs = options.settleMs ?? defaultSettleMs;
  const collectEveryMs = options.collectEveryMs ?? defaultCollectEveryMs;
  const targetBytes = mode === 'auto' ? (options.targetBytes ?? 0) : 0;
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  const checkEveryMs = options.checkEveryMs ?? 1_000;
  const giveUpMs = options.giveUpMs ?? 60_000;
  const backoffMs = options.backoffMs ?? 300_000;
  let settled = false;
  let lastCollect = Number.NEGATIVE_INFINITY;
  let pending: TimerHandle | undefined;
  let stopped = false;
  // The target's state: on for it since when, whether it got under the target since, no new
  // episode before `backoffUntil`.
  let pressureSince: number | undefined;
  let reached = false;
  let backoffUntil = Number.NEGATIVE_INFINITY;
  let check: TimerHandle | undefined;

  const why = (): MemorySaverReason | undefined =>
    mode === 'on' ? 'always' : settled ? 'settled' : pressureSince !== undefined ? 'target' : undefined;
  // Why the mode is on now (undefined: off), as last set.
  let reason: MemorySaverReason | undefined;
  const update = () => {
    const was = reason;
    reason = why();
    const on = reason !== undefined;
    if (on === (was !== undefined)) return;
    engine.setSaver(on);
    if (on && clock.now() - lastCollect >= collectEveryMs) {
      lastCollect = clock.now();
      engine.collect();
    }
    options.onChange?.(on, on ? reason : was);
  };
  const cancel = () => {
    if (pending === undefined) return;
    clock.clearTimeout(pending);
    pending = undefined;
  };
  const settleLater = () => {
    pending = clock.setTimeout(() => {
      pending = undefined;
      settled = true;
      update();
    }, settleMs);
  };
  const checkTarget = () => {
    check = undefined;
    if (stopped) return;
    const now = clock.now();
    const bytes = rss();
    if (pressureSince === undefined) {
      if (bytes > targetBytes && now >= backoffUntil) {
        pressureSince = now;
        reached = false;
        update();
      }
    } else if (bytes <= targetBytes * relievedShare) {
      pressureSince = undefined;
      update();
    } else if (bytes <= targetBytes) reached = true;
    else if (reached) {
      // Back above after reaching it (more to hold): a new minute to reach it again.
      reached = false;
      pressureSince = now;
    } else if (now - pressureSince >= giveUpMs) {
      pressureSince = undefined;
      backoffUntil = now + backoffMs;
      options.onTargetUnreachable?.(bytes);
      update();
    }
    check = clock.setTimeout(checkTarget, checkEveryMs);
  };

  if (mode === 'on') update();
  // Nothing is waiting at start: the first reconciles report themselves before the settle ends.
  if (mode === 'auto') settleLater();
  if (targetBytes > 0) check = clock.setTimeout(checkTarget, checkEveryMs);

  return {
    busy(isBusy) {
      if (mode !== 'auto' || stopped) return;
      if (isBusy) {
        cancel();
        settled = false;
        update();
      } else if (!settled && pending === undefined) settleLater();
    },
    active: () => reason !== undefined,
    stop() {
      stopped = true;
      cancel();
      if (check !== undefined) clock.clearTimeout(check);
      check = undefined;
    },
  };
}
