// The emulator's clock and timeline. The clock follows wall time by default; tests freeze it and
// advance it. Asynchronous AWS behaviour (UPDATING -> ACTIVE, a 7-day deletion countdown, a rotation
// finishing) is a scheduled event on the timeline, run in time order whenever the world is settled:
// before every request and after every clock change. Nothing runs on a Node timer, so a frozen
// clock freezes every transition and a test that advances the clock sees them happen in order.

export interface Clock {
  now(): number;
  /** 'wall': now = wall time + offset; 'frozen': now stays put until advanced or set. */
  mode(): 'wall' | 'frozen';
  freeze(at?: number): void;
  unfreeze(): void;
  advance(ms: number): void;
  set(at: number): void;
}

export function createClock(wall: () => number = Date.now): Clock {
  let offset = 0;
  let frozenAt: number | undefined;
  return {
    now: () => frozenAt ?? wall() + offset,
    mode: () => (frozenAt === undefined ? 'wall' : 'frozen'),
    freeze(at) {
      frozenAt = at ?? frozenAt ?? wall() + offset;
    },
    unfreeze() {
      if (frozenAt !== undefined) offset = frozenAt - wall();
      frozenAt = undefined;
    },
    advance(ms) {
      if (frozenAt !== undefined) frozenAt += ms;
      else offset += ms;
    },
    set(at) {
      if (frozenAt !== undefined) frozenAt = at;
      else offset = at - wall();
    },
  };
}

export interface ScheduledEvent {
  readonly at: number;
  readonly label: string;
  cancel(): void;
}

interface Entry {
  at: number;
  seq: number;
  label: string;
  run: () => void;
  cancelled: boolean;
}

export interface Timeline {
  /** Runs `run` once the clock reaches `at`. Events due at the same time run in scheduling order. */
  schedule(at: number, label: string, run: () => void): ScheduledEvent;
  /** Runs every event due at or before `now`, including events those events schedule. */
  settle(now: number): number;
  pending(): number;
  clear(): void;
}

/** A binary min-heap on (at, seq): O(log n) per event, so 10,000 resources stay cheap. */
export function createTimeline(): Timeline {
  let heap: Entry[] = [];
  let seq = 0;
  const less = (a: Entry, b: Entry) => a.at < b.at || (a.at === b.at && a.seq < b.seq);
  const push = (e: Entry) => {
    heap.push(e);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = (): Entry | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  let live = 0;
  return {
    schedule(at, label, run) {
      const entry: Entry = { at, seq: seq++, label, run, cancelled: false };
      push(entry);
      live++;
      return {
        at,
        label,
        cancel() {
          if (!entry.cancelled) {
            entry.cancelled = true;
            live--;
          }
        },
      };
    },
    settle(now) {
      let ran = 0;
      while (heap.length > 0 && heap[0]!.at <= now) {
        const e = pop()!;
        if (e.cancelled) continue;
        e.cancelled = true;
        live--;
        e.run();
        ran++;
      }
      return ran;
    },
    pending: () => live,
    clear() {
      heap = [];
      live = 0;
    },
  };
}
