// A keyed, deduplicating work queue with client-go / controller-runtime semantics.
//
// Guarantees:
// - A key is handed out to at most one worker at a time. A key added while it is being processed
//   is marked dirty and handed out once more after `done(key)`; adds before that collapse into it.
// - A queued key is queued once (FIFO by first add within its lane and group), however often it is added.
// - Delayed adds: the earliest wins. `add(key)` (now) supersedes a pending delayed add of the key;
//   a later `addAfter` never pushes back an earlier one. Delayed adds come due in time order and
//   share one timer, set for the earliest (or for one cancelled since: it then wakes the queue once
//   for nothing), whatever their number.
// - Two lanes: keys added now (`add`: a watch event, a change someone made) and follow-ups that come
//   due (`addAfter(key, ms, 'fast')`: an object in the middle of a change asked to be looked at again)
//   are handed out before keys whose resync, poll or backoff came due (`addAfter`, `addRateLimited`).
//   A key waiting in the slow lane that is added to the fast one moves up. So neither a spec change
//   nor the confirmation of a switch already made waits behind a resync of every object: at 10,000
//   objects and a 30 s resync the resyncs alone ask for more reconciles than the workers can do, and
//   follow-ups queued behind them never came. Within the fast lane, follow-ups that came due go
//   before keys added now: in a fleet switch the spec changes of every object are added at once,
//   and the look that confirms a switch already made in AWS (one read, one status write) waited
//   behind all of them, so no object was Ready until the last switch had been sent. Otherwise FIFO.
// - Across queues (`resyncGate`, shared by every controller of the process): while any of them has
//   fast-lane work waiting or in flight, all of them together run at most `slotsWhileBusy` slow-lane
//   keys at once; the rest wait in their queues (not in a worker) until the fast work is done or a
//   slot frees. So the resyncs of one kind (cheap, and due by the thousand at 10,000 objects) do not
//   take the CPU a switch of another kind needs; when nothing is changing, resyncs run at full
//   concurrency. A fast follow-up due within `soonFollowUpMs` counts as fast work from the moment it
//   is asked for: an object polled twice a second (an on-demand rotation in progress) is in the middle
//   of a change between its looks, and resyncs started between them would be in its way.
// - The gate's `busy`: a change (a key added now, fast) waiting or in flight in any queue, from the
//   add until the key is done with nothing left to run again. Follow-ups coming due are fast work
//   but not changes: the memory saver (src/runtime/memory-saver.ts) stays on through a settled
//   fleet's KmsKeys looking again a second after their resync.
// - `maxSlowInFlight`: a queue hands out at most that many slow-lane keys at once, so workers stay
//   free for a change that arrives while resyncs are due by the thousand.
// - `groupOf(key)` (optional): the AWS quota a key's reconcile spends (Region, account). Within
//   a lane the next key comes from the group with the fewest keys in flight (ties: the group served
//   least recently), FIFO within a group. AWS keeps its request quotas per account and Region: a
//   fleet listed Region by Region (one namespace per Region) was worked one Region at a time, all
//   workers waiting on that Region's quota while the others' went unused. Without it: FIFO.
// - `addRateLimited(key)`: delay = max(per-key exponential backoff, global token bucket), the
//   per-key part growing with each call until `forget(key)`.
// - After `shutdown()`: adds are ignored, pending delayed adds are cancelled, every pending and
//   future `get()` resolves `undefined`, keys still queued are dropped (the next leader or
//   process start reconciles everything anyway); `done` stays valid for in-flight keys.
// Never touches wall time or timers except through the injected clock.

import TinyQueue from 'tinyqueue';
import { type Clock, systemClock, type TimerHandle } from './clock.ts';
import { noWorkQueueMetrics, type WorkQueueMetrics } from './metrics.ts';

export interface RateLimit {
  /** First per-key backoff (ms). Default 5. */
  baseDelayMs: number;
  /** Per-key backoff ceiling (ms). Default 5 minutes. */
  maxDelayMs: number;
  /** Global token bucket refill rate. Default 10 per second. */
  qps: number;
  /** Global token bucket size. Default 100. */
  burst: number;
}

/** The longest delay a Node timer keeps (2^31 - 1 ms); longer ones fire at once. */
const maxTimerMs = 2 ** 31 - 1;

/** A fast follow-up due within this long holds the resync gate from when it is asked for. */
export const soonFollowUpMs = 2000;

export const defaultRateLimit: RateLimit = { baseDelayMs: 5, maxDelayMs: 5 * 60_000, qps: 10, burst: 100 };

export interface WorkQueueOptions {
  clock?: Clock;
  metrics?: WorkQueueMetrics;
  rateLimit?: Partial<RateLimit>;
  /** Shared by the queues of one process: resyncs yield to changes across controllers. */
  resyncGate?: ResyncGate;
  /**
   * At most this many slow-lane keys in flight from this queue: with N workers and N - 2 here, two
   * workers are always free when a change arrives, so it never waits for a resync to finish.
   */
  maxSlowInFlight?: number;
  /** The quota a key's reconcile spends (AWS account and Region); keys are spread across them. */
  groupOf?: (key: string) => string;
}

/**
 * Lets slow-lane (resync) work through only while no queue sharing it has fast work, beyond
 * `slotsWhileBusy` keys at once. Queues report their fast work and ask before handing out a slow key.
 * It also says whether a change is waiting or in flight anywhere (`busy`): fast work that someone's
 * change started (a watch event, a signal from AWS), not a follow-up a reconcile asked for.
 */
export interface ResyncGate {
  /** A queue's fast keys waiting or in flight changed by `delta`. */
  fastWork(delta: number): void;
  /** A queue's keys with a change waiting or in flight (a subset of its fast work) changed by `delta`. */
  changeWork(delta: number): void;
  /** Whether a slow key may start now; if true, `slowDone()` must follow. */
  tryStartSlow(): boolean;
  slowDone(): void;
  /** Called whenever slow keys may start again; returns an unsubscribe. */
  onOpen(listener: () => void): () => void;
  /**
   * Whether any queue sharing the gate has a change waiting or in flight now. Follow-ups a reconcile
   * asked for (a look again after a write, an on-demand rotation's polls) hold resyncs back but are
   * not changes: a settled fleet's KmsKeys ask for a few at each resync.
   */
  busy(): boolean;
  /**
   * Called when the gate goes from no change waiting or in flight to some (true) and back (false),
   * synchronously in the call that reported it; returns an unsubscribe.
   */
  onBusy(listener: (busy: boolean) => void): () => void;
}

export function createResyncGate(options: { slotsWhileBusy?: number } = {}): ResyncGate {
  const slotsWhileBusy = Math.max(1, options.slotsWhileBusy ?? 2);
  let fast = 0;
  let changes = 0;
  let slowInFlight = 0;
  const listeners = new Set<() => void>();
  const busyListeners = new Set<(busy: boolean) => void>();
  const open = () => {
    for (const l of [...listeners]) l();
  };
  return {
    fastWork(delta) {
      fast = Math.max(0, fast + delta);
      if (fast === 0) open();
    },
    changeWork(delta) {
      const wasBusy = changes > 0;
      changes = Math.max(0, changes + delta);
      if (changes > 0 !== wasBusy) for (const l of [...busyListeners]) l(changes > 0);
    },
    tryStartSlow() {
      if (fast > 0 && slowInFlight >= slotsWhileBusy) return false;
      slowInFlight += 1;
      return true;
    },
    slowDone() {
      slowInFlight = Math.max(0, slowInFlight - 1);
      open();
    },
    onOpen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    busy: () => changes > 0,
    onBusy(listener) {
      busyListeners.add(listener);
      return () => busyListeners.delete(listener);
    },
  };
}

export type Lane = 'fast' | 'slow';

export interface WorkQueue {
  add(key: string): void;
  /**
   * Adds `key` after `ms`, into `lane` when it comes due (default 'slow': a resync or poll); with
   * `ms <= 0` it is `add(key)`, fast unless `lane` says otherwise.
   */
  addAfter(key: string, ms: number, lane?: Lane): void;
  addRateLimited(key: string): void;
  /** Resets the per-key backoff of `key`. */
  forget(key: string): void;
  /** How many rate-limited adds `key` has had since the last `forget`. */
  numRequeues(key: string): number;
  /** The next key to process; waits while the queue is empty; `undefined` once shut down. */
  get(): Promise<string | undefined>;
  /** The lane an in-flight key was handed out from (undefined when it is not in flight). */
  laneOf(key: string): Lane | undefined;
  done(key: string): void;
  shutdown(): void;
  isShuttingDown(): boolean;
  /** Keys ready to be handed out (not counting delayed or in-flight ones). */
  len(): number;
}

/**
 * The keys waiting in one lane: FIFO within a group; `peek` picks the group with the fewest keys in
 * flight, ties to the group served least recently. With one group it is a FIFO list. Entries whose
 * key left the lane since (`live` false) are dropped when reached.
 */
export interface FairList {
  push(key: string, group: string): void;
  /** The next live key and its group, not removed. */
  peek(live: (key: string) => boolean, inFlight: (group: string) => number): Entry | undefined;
  /** Removes the head of `group` (what `peek` returned) and moves the group behind the others. */
  shift(group: string): void;
  clear(): void;
}

interface Entry {
  key: string;
  group: string;
}

export function fairList(): FairList {
  // Insertion order of the map: the groups from least to most recently served.
  const groups = new Map<string, string[]>();
  return {
    push(key, group) {
      const list = groups.get(group);
      if (list) list.push(key);
      else groups.set(group, [key]);
    },
    peek(live, inFlight) {
      let best: Entry | undefined;
      let bestLoad = Number.POSITIVE_INFINITY;
      for (const [group, list] of groups) {
        while (list.length > 0 && !live(list[0]!)) list.shift();
        if (list.length === 0) {
          groups.delete(group);
          continue;
        }
        const load = inFlight(group);
        if (load < bestLoad) {
          best = { key: list[0]!, group };
          bestLoad = load;
          if (load === 0) break;
        }
      }
      return best;
    },
    shift(group) {
      const list = groups.get(group);
      if (!list) return;
      list.shift();
      groups.delete(group);
      if (list.length > 0) groups.set(group, list);
    },
    clear: () => groups.clear(),
  };
}

export function createWorkQueue(options: WorkQueueOptions = {}): WorkQueue {
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics ?? noWorkQueueMetrics;
  const limit: RateLimit = { ...defaultRateLimit, ...options.rateLimit };

  // Keys waiting to be handed out, by lane. A key that moved lanes leaves a stale entry in the
  // array it left; `waiting` is the truth, and stale entries are skipped when reached.
  const fast = fairList();
  /** Fast-lane keys whose follow-up came due: handed out before `fast`. */
  const followUps = fairList();
  const slow = fairList();
  const groupOf = options.groupOf ?? (() => '');
  /** Keys in flight per group. */
  const groupLoad = new Map<string, number>();
  const inFlight = (group: string) => groupLoad.get(group) ?? 0;
  const waiting = new Map<string, Lane>();
  /** Keys added again while in flight, and the lane they go back to after `done`. */
  const rerun = new Map<string, Lane>();
  /** Keys in flight, and the lane and group each was handed out from. */
  const processing = new Map<string, { lane: Lane; group: string }>();
  const gate = options.resyncGate;
  const maxSlowInFlight = Math.max(1, options.maxSlowInFlight ?? Number.POSITIVE_INFINITY);
  let slowInFlight = 0;
  /** Reports a change in this queue's fast keys waiting or in flight to the gate. */
  const countFast = (delta: number) => {
    if (delta !== 0) gate?.fastWork(delta);
  };
  /** Sets or clears the lane `key` waits in, keeping the gate's count of fast work in step. */
  function setWaiting(key: string, lane: Lane | undefined): void {
    const before = waiting.get(key);
    if (lane === undefined) waiting.delete(key);
    else waiting.set(key, lane);
    countFast((lane === 'fast' ? 1 : 0) - (before === 'fast' ? 1 : 0));
  }
  /**
   * Keys whose fast work a change started (an add now, not a follow-up coming due), from the add
   * until the key is done with nothing left to run again: the gate's `busy`.
   */
  const changing = new Set<string>();
  const markChange = (key: string) => {
    if (changing.has(key)) return;
    changing.add(key);
    gate?.changeWork(1);
  };
  const unmarkChange = (key: string) => {
    if (changing.delete(key)) gate?.changeWork(-1);
  };
  const addedAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  /** Delayed adds; `holds`: a soon fast follow-up, counted as fast work until it comes due. */
  const delayed = new Map<string, { readyAt: number; lane: Lane; holds: boolean }>();
  // One timer for all delayed adds, set for the earliest (a timer per key was 10,000 timers, 2.7 MiB,
  // at 10,000 objects waiting for their resync). `due` orders them; an entry whose key was added
  // again, superseded or cancelled since is stale and skipped when reached.
  const byTime = (a: Due, b: Due) => a.at - b.at || a.seq - b.seq;
  let due = new TinyQueue<Due>([], byTime);
  let seq = 0;
  let timer: { handle: TimerHandle; at: number } | undefined;
  const failures = new Map<string, number>();
  const waiters: Array<(key: string | undefined) => void> = [];
  let shuttingDown = false;
  let tokens = limit.burst;
  let tokensAt = clock.now();

  metrics.probeUnfinished(() => {
    const now = clock.now();
    let unfinishedSeconds = 0;
    let longestSeconds = 0;
    for (const started of startedAt.values()) {
      const s = (now - started) / 1000;
      unfinishedSeconds += s;
      longestSeconds = Math.max(longestSeconds, s);
    }
    return { unfinishedSeconds, longestSeconds };
  });

  const isFast = (key: string) => waiting.get(key) === 'fast';
  const isSlow = (key: string) => waiting.get(key) === 'slow';

  /** The next key and its lane; a slow key only if the gate lets one start (it is then counted). */
  function next(): { key: string; group: string; lane: Lane } | undefined {
    for (const list of [followUps, fast]) {
      const found = list.peek(isFast, inFlight);
      if (found) {
        list.shift(found.group);
        return { ...found, lane: 'fast' };
      }
    }
    // A waiting key first, so the gate is asked only for a key that is really waiting.
    const found = slow.peek(isSlow, inFlight);
    if (found === undefined || slowInFlight >= maxSlowInFlight) return undefined;
    if (gate && !gate.tryStartSlow()) return undefined;
    slowInFlight += 1;
    slow.shift(found.group);
    return { ...found, lane: 'slow' };
  }

  function take(): string | undefined {
    const found = next();
    if (found === undefined) return undefined;
    const { key, group, lane } = found;
    const now = clock.now();
    groupLoad.set(group, inFlight(group) + 1);
    // In flight before it stops waiting: the gate never sees a moment without this fast key.
    processing.set(key, { lane, group });
    if (lane === 'fast') countFast(1);
    setWaiting(key, undefined);
    startedAt.set(key, now);
    metrics.queued((now - (addedAt.get(key) ?? now)) / 1000);
    addedAt.delete(key);
    metrics.depth(waiting.size);
    return key;
  }

  /** Hands waiting keys to waiting workers while there are both. */
  function serve(): void {
    while (waiters.length > 0) {
      const key = take();
      if (key === undefined) return;
      waiters.shift()!(key);
    }
  }
  const unsubscribe = gate?.onOpen(() => {
    if (!shuttingDown) serve();
  });

  function enqueue(key: string, to: Lane, followUp = false): void {
    (to === 'slow' ? slow : followUp ? followUps : fast).push(key, groupOf(key));
    setWaiting(key, to);
    if (!addedAt.has(key)) addedAt.set(key, clock.now());
    metrics.depth(waiting.size);
    serve();
  }

  function cancelDelayed(key: string): void {
    const pending = delayed.get(key);
    if (pending) {
      delayed.delete(key);
      if (pending.holds) countFast(-1);
    }
  }

  /** Adds every delayed key that came due, then sets the timer for the next one. */
  function comeDue(): void {
    // The timer measured its delay as elapsed time: everything due by the time it was set for is
    // due now, even if the clock was stepped back meanwhile (a step forward brings resyncs early).
    const now = Math.max(clock.now(), timer?.at ?? 0);
    timer = undefined;
    for (let top = due.peek(); top !== undefined && top.at <= now; top = due.peek()) {
      due.pop();
      const pending = delayed.get(top.key);
      if (pending?.readyAt !== top.at) continue; // stale
      delayed.delete(top.key);
      add(top.key, pending.lane, true);
      // After the add, so the gate never sees a moment without this follow-up.
      if (pending.holds) countFast(-1);
    }
    arm();
  }

  /** Sets the one timer for the earliest delayed add, if it is not set for that already. */
  function arm(): void {
    // Stale entries at the top would wake the queue for nothing.
    for (
      let top = due.peek();
      top !== undefined && delayed.get(top.key)?.readyAt !== top.at;
      top = due.peek()
    )
      due.pop();
    // Stale entries deeper down are dropped once they outnumber the live ones.
    if (due.length > 2 * delayed.size + 1024)
      due = new TinyQueue(
        [...delayed].map(([key, d]) => ({ at: d.readyAt, key, seq: seq++ })),
        byTime,
      );
    const next = due.peek();
    if (timer && (next === undefined || timer.at > next.at)) {
      clock.clearTimeout(timer.handle);
      timer = undefined;
    }
    if (next === undefined || timer) return;
    // Node fires a timer set beyond 2^31 - 1 ms (24.8 days) at once; a shorter one wakes the queue
    // early, finds nothing due and sets the timer again.
    const ms = Math.min(maxTimerMs, Math.max(1, next.at - clock.now()));
    timer = { handle: clock.setTimeout(comeDue, ms), at: Math.min(next.at, clock.now() + ms) };
  }

  function add(key: string, to: Lane = 'fast', followUp = false): void {
    if (shuttingDown) return;
    // Told before the key is queued, so nothing hands the change to a worker first.
    if (to === 'fast' && !followUp) markChange(key);
    if (to === 'fast') cancelDelayed(key);
    const queued = waiting.get(key) ?? rerun.get(key);
    if (queued !== undefined) {
      // Already due: a fast add moves it up.
      if (to === 'fast' && queued === 'slow') {
        if (waiting.has(key)) enqueue(key, 'fast', followUp);
        else rerun.set(key, 'fast');
      }
      return;
    }
    metrics.added();
    if (processing.has(key)) rerun.set(key, to);
    else enqueue(key, to, followUp);
  }

  function addAfter(key: string, ms: number, asked?: Lane): void {
    if (shuttingDown) return;
    if (ms <= 0) {
      add(key, asked ?? 'fast');
      return;
    }
    const lane = asked ?? 'slow';
    // Already due now (queued, or to run again after the one in flight): nothing later is earlier.
    // A fast follow-up still moves a key that waits in the slow lane up.
    if (waiting.has(key) || rerun.has(key)) {
      if (lane === 'fast') add(key, 'fast');
      return;
    }
    const readyAt = clock.now() + ms;
    const pending = delayed.get(key);
    if (pending && pending.readyAt <= readyAt) {
      // The earlier add stands; it comes due in the faster of the two lanes.
      if (lane === 'fast') pending.lane = 'fast';
      return;
    }
    cancelDelayed(key);
    const holds = lane === 'fast' && ms <= soonFollowUpMs;
    if (holds) countFast(1);
    delayed.set(key, { readyAt, lane: pending?.lane === 'fast' ? 'fast' : lane, holds });
    due.push({ at: readyAt, key, seq: seq++ });
    arm();
  }

  function globalDelayMs(): number {
    const now = clock.now();
    tokens = Math.min(limit.burst, tokens + ((now - tokensAt) / 1000) * limit.qps);
    tokensAt = now;
    tokens -= 1; // a reservation: may go negative, later callers wait behind it
    return tokens >= 0 ? 0 : Math.ceil((-tokens / limit.qps) * 1000);
  }

  function keyDelayMs(key: string): number {
    const n = failures.get(key) ?? 0;
    failures.set(key, n + 1);
    // 2^n overflows to Infinity long after it passed the cap; min() handles that.
    return Math.min(limit.maxDelayMs, limit.baseDelayMs * 2 ** n);
  }

  return {
    add,
    addAfter,
    addRateLimited(key) {
      if (shuttingDown) return;
      metrics.retried();
      addAfter(key, Math.max(keyDelayMs(key), globalDelayMs()));
    },
    forget(key) {
      failures.delete(key);
    },
    numRequeues: (key) => failures.get(key) ?? 0,
    get() {
      if (shuttingDown) return Promise.resolve(undefined);
      const key = take();
      if (key !== undefined) return Promise.resolve(key);
      return new Promise((resolve) => waiters.push(resolve));
    },
    done(key) {
      const handed = processing.get(key);
      if (handed === undefined) return;
      processing.delete(key);
      const { lane, group } = handed;
      const load = inFlight(group) - 1;
      if (load > 0) groupLoad.set(group, load);
      else groupLoad.delete(group);
      const started = startedAt.get(key);
      startedAt.delete(key);
      if (started !== undefined) metrics.worked((clock.now() - started) / 1000);
      const again = rerun.get(key);
      rerun.delete(key);
      if (again !== undefined && !shuttingDown) enqueue(key, again);
      else unmarkChange(key);
      // After the re-add, so a fast key going round again never lets resyncs in between.
      if (lane === 'fast') countFast(-1);
      else {
        slowInFlight -= 1;
        gate?.slowDone();
      }
      serve();
    },
    shutdown() {
      if (shuttingDown) return;
      shuttingDown = true;
      for (const key of [...delayed.keys()]) cancelDelayed(key);
      if (timer) clock.clearTimeout(timer.handle);
      timer = undefined;
      due = new TinyQueue<Due>([], byTime);
      for (const key of waiting.keys()) addedAt.delete(key);
      for (const key of [...waiting.keys()]) setWaiting(key, undefined);
      for (const key of [...changing]) if (!processing.has(key)) unmarkChange(key);
      unsubscribe?.();
      rerun.clear();
      fast.clear();
      followUps.clear();
      slow.clear();
      metrics.depth(0);
      for (const waiter of waiters.splice(0)) waiter(undefined);
    },
    isShuttingDown: () => shuttingDown,
    laneOf: (key) => processing.get(key)?.lane,
    len: () => waiting.size,
  };
}

interface Due {
  at: number;
  key: string;
  /** Push order: equal times come due in the order they were asked for. */
  seq: number;
}
