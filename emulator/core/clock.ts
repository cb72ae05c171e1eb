// The emulator's clock and timeline. The clock follows wall time by default; tests freeze it and
// advance it. Asynchronous AWS behaviour (UPDATING -> ACTIVE, a 7-day deletion countdown, a rotation
// finishing) is a scheduled event on the timeline, run in time order whenever the world is settled:
// before every request and after every clock change. Nothing runs on a Node timer, so a frozen
// clock freezes every transition and a test that advances the clock sees them happen in order.

import TinyQueue from 'tinyqueue';

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

/** Events in a binary min-heap on (at, seq) (tinyqueue): O(log n) per event, so 10,000 resources stay cheap. */
export function createTimeline(): Timeline {
  const byTime = (a: Entry, b: Entry) => a.at - b.at || a.seq - b.seq;
  let heap = new TinyQueue<Entry>([], byTime);
  let seq = 0;
  let live = 0;
  return {
    schedule(at, label, run) {
      const entry: Entry = { at, seq: seq++, label, run, cancelled: false };
      heap.push(entry);
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
      for (let e = heap.peek(); e !== undefined && e.at <= now; e = heap.peek()) {
        heap.pop();
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
      heap = new TinyQueue<Entry>([], byTime);
      live = 0;
    },
  };
}
