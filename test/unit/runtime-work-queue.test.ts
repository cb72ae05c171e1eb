import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMetricsRegistry, prometheusWorkQueueMetrics } from '../../src/runtime/metrics.ts';
import {
  createResyncGate,
  createWorkQueue,
  soonFollowUpMs,
  type WorkQueue,
} from '../../src/runtime/work-queue.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) {
    const key = (await queue.get())!;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

/** ms until `key` becomes ready after one addRateLimited, probing in 1 ms steps. */
async function rateLimitedDelay(queue: WorkQueue, key: string, limitMs = 400_000): Promise<number> {
  queue.addRateLimited(key);
  let waited = 0;
  while (queue.len() === 0 && waited <= limitMs) {
    const step = waited < 1_000 ? 1 : 1_000;
    await vi.advanceTimersByTimeAsync(step);
    waited += step;
  }
  const got = await queue.get();
  expect(got).toBe(key);
  queue.done(key);
  return waited;
}

describe('work queue: a change goes before resyncs', () => {
  it('keys added now are handed out before keys whose delayed add came due', async () => {
    const queue = createWorkQueue();
    for (const k of ['r1', 'r2', 'r3']) queue.addAfter(k, 1000);
    await vi.advanceTimersByTimeAsync(1000);
    queue.add('changed');
    expect(await drain(queue)).toEqual(['changed', 'r1', 'r2', 'r3']);
  });

  it('says which lane an in-flight key came from: a resync or retry due is periodic, a change is not', async () => {
    const queue = createWorkQueue();
    queue.addAfter('resync', 1000);
    queue.addAfter('moved-up', 1000);
    queue.addRateLimited('retry');
    await vi.advanceTimersByTimeAsync(1000);
    queue.add('changed');
    queue.add('moved-up'); // a watch event while it waited for its resync
    const lanes: Record<string, string | undefined> = {};
    while (queue.len() > 0) {
      const key = (await queue.get())!;
      lanes[key] = queue.laneOf(key);
      queue.done(key);
      expect(queue.laneOf(key)).toBeUndefined();
    }
    expect(lanes).toEqual({ changed: 'fast', 'moved-up': 'fast', resync: 'slow', retry: 'slow' });
  });

  it('a key waiting in the slow lane that is added now moves up, and runs once', async () => {
    const queue = createWorkQueue();
    for (const k of ['r1', 'r2', 'r3']) queue.addAfter(k, 1000);
    await vi.advanceTimersByTimeAsync(1000);
    queue.add('r3');
    expect(queue.len()).toBe(3);
    expect(await drain(queue)).toEqual(['r3', 'r1', 'r2']);
  });

  it('a key added now while in flight runs again from the fast lane', async () => {
    const queue = createWorkQueue();
    queue.addAfter('a', 10);
    queue.addAfter('b', 10);
    await vi.advanceTimersByTimeAsync(10);
    const first = (await queue.get())!;
    expect(first).toBe('a');
    queue.addAfter('a', 5);
    await vi.advanceTimersByTimeAsync(5); // due again while in flight: slow
    queue.add('a'); // and changed: fast
    queue.done('a');
    expect(await drain(queue)).toEqual(['a', 'b']);
  });
});

describe('work queue: a follow-up goes before resyncs', () => {
  it('a fast delayed add comes due ahead of every resync and of the changes waiting', async () => {
    const queue = createWorkQueue();
    for (const k of ['r1', 'r2', 'r3']) queue.addAfter(k, 1000);
    queue.addAfter('switched', 1000, 'fast');
    queue.add('changed-before');
    await vi.advanceTimersByTimeAsync(1000);
    queue.add('changed');
    expect(await drain(queue)).toEqual(['switched', 'changed-before', 'changed', 'r1', 'r2', 'r3']);
  });

  it('in a fleet switch, the look confirming a switch already made does not wait for every other switch', async () => {
    const queue = createWorkQueue();
    for (let i = 0; i < 1000; i++) queue.add(`w${i}`);
    // w0 switched; its follow-up comes due while 999 spec changes still wait.
    const first = (await queue.get())!;
    queue.done(first);
    queue.addAfter(first, 5000, 'fast');
    await vi.advanceTimersByTimeAsync(5000);
    expect(await queue.get()).toBe('w0');
    queue.done('w0');
    expect(await queue.get()).toBe('w1');
  });

  it('10,000 resyncs due do not hold back a follow-up', async () => {
    const queue = createWorkQueue();
    for (let i = 0; i < 10_000; i++) queue.addAfter(`r${i}`, 100);
    queue.addAfter('switched', 200, 'fast');
    await vi.advanceTimersByTimeAsync(100);
    expect(await queue.get()).toBe('r0');
    queue.done('r0');
    await vi.advanceTimersByTimeAsync(100);
    expect(await queue.get()).toBe('switched');
  });

  it('an earlier slow add and a later fast one: comes due at the earlier time, in the fast lane', async () => {
    const queue = createWorkQueue();
    queue.addAfter('other', 50);
    queue.addAfter('a', 100);
    queue.addAfter('a', 500, 'fast');
    await vi.advanceTimersByTimeAsync(100);
    expect(queue.len()).toBe(2);
    expect(await drain(queue)).toEqual(['a', 'other']);
  });

  it('an earlier fast add and a later slow one: the key stays in the fast lane', async () => {
    const queue = createWorkQueue();
    queue.addAfter('other', 50);
    queue.addAfter('a', 100, 'fast');
    queue.addAfter('a', 500);
    await vi.advanceTimersByTimeAsync(100);
    expect(await drain(queue)).toEqual(['a', 'other']);
  });

  it('a key waiting in the slow lane moves up on a fast delayed add, and runs once', async () => {
    const queue = createWorkQueue();
    for (const k of ['r1', 'r2']) queue.addAfter(k, 10);
    await vi.advanceTimersByTimeAsync(10);
    queue.addAfter('r2', 1000, 'fast');
    expect(queue.len()).toBe(2);
    expect(await drain(queue)).toEqual(['r2', 'r1']);
    await vi.advanceTimersByTimeAsync(2000);
    expect(queue.len()).toBe(0);
  });
});

describe('resync gate: resyncs of every queue yield to changes in any of them', () => {
  /** A worker's `get()` on `queue`, after the event loop had a turn; `key` is set once it gets one. */
  async function waiting(queue: WorkQueue): Promise<{ key?: string }> {
    const got: { key?: string } = {};
    void queue.get().then((k) => {
      got.key = k;
    });
    await vi.advanceTimersByTimeAsync(0);
    return got;
  }

  /** Two queues sharing a gate; `b` holds three resyncs that came due. */
  async function setup(slotsWhileBusy = 1) {
    const gate = createResyncGate({ slotsWhileBusy });
    const a = createWorkQueue({ resyncGate: gate });
    const b = createWorkQueue({ resyncGate: gate });
    for (const k of ['r1', 'r2', 'r3']) b.addAfter(k, 10);
    await vi.advanceTimersByTimeAsync(10);
    return { a, b, gate };
  }

  it('with no change anywhere, every resync starts at once', async () => {
    const { b } = await setup();
    expect([await b.get(), await b.get(), await b.get()]).toEqual(['r1', 'r2', 'r3']);
  });

  it.each([
    ['the change finishes', (q: { a: WorkQueue; b: WorkQueue }) => q.a.done('switch')],
    ['the resync in its slot finishes', (q: { a: WorkQueue; b: WorkQueue }) => q.b.done('r1')],
  ])(
    'while another queue has a change in flight, one resync runs (slotsWhileBusy) and the next starts when %s',
    async (_when, release) => {
      const q = await setup();
      q.a.add('switch');
      expect(await q.a.get()).toBe('switch');
      expect(await q.b.get()).toBe('r1');
      const second = await waiting(q.b);
      expect(second.key).toBeUndefined();
      expect(q.b.len()).toBe(2); // still in the queue, not in a worker
      release(q);
      await vi.advanceTimersByTimeAsync(0);
      expect(second.key).toBe('r2');
    },
  );

  it('tells its busy listeners when the first change arrives anywhere and when the last one is done, not per change or resync', async () => {
    const { a, b, gate } = await setup();
    const seen: boolean[] = [];
    gate.onBusy((busy) => seen.push(busy));
    expect(await b.get()).toBe('r1'); // a resync is not a change
    b.done('r1');
    expect(seen).toEqual([]);
    a.add('c1');
    b.add('c2');
    expect(seen).toEqual([true]); // told in the add itself, before any worker takes the change
    expect(gate.busy()).toBe(true);
    expect(await a.get()).toBe('c1');
    a.done('c1');
    expect(seen).toEqual([true]); // c2 still waits
    expect(await b.get()).toBe('c2');
    b.done('c2');
    expect(seen).toEqual([true, false]);
    expect(gate.busy()).toBe(false);
  });

  it('a follow-up coming due holds resyncs back but is not a change; a change to a key in flight stays one until its second run is done', async () => {
    const { a, b, gate } = await setup();
    const seen: boolean[] = [];
    gate.onBusy((busy) => seen.push(busy));
    // A reconcile asked to be looked at again in 1 s (a KmsKey after its resync): fast work, so the
    // resyncs wait for it, but nobody changed anything.
    a.addAfter('key-1', 1000, 'fast');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await b.get()).toBe('r1');
    const next = await waiting(b);
    expect(next.key).toBeUndefined();
    expect(await a.get()).toBe('key-1');
    expect(gate.busy()).toBe(false);
    // A change to it while it is in flight: busy from the add, until the run it asked for is done.
    a.add('key-1');
    expect(seen).toEqual([true]);
    a.done('key-1');
    expect(gate.busy()).toBe(true);
    expect(await a.get()).toBe('key-1');
    a.done('key-1');
    expect(seen).toEqual([true, false]);
    await vi.advanceTimersByTimeAsync(0);
    expect(next.key).toBe('r2');
    // A follow-up waiting in the queue that a change reaches becomes one.
    a.addAfter('key-2', 500, 'fast');
    await vi.advanceTimersByTimeAsync(500);
    expect(gate.busy()).toBe(false);
    a.add('key-2');
    expect(gate.busy()).toBe(true);
    expect(await a.get()).toBe('key-2');
    a.done('key-2');
    expect(seen).toEqual([true, false, true, false]);
  });

  it('a change dropped at shutdown stops being one; one in flight stays until done', async () => {
    const { a, gate } = await setup();
    a.add('in-flight');
    a.add('queued');
    expect(await a.get()).toBe('in-flight');
    a.shutdown();
    expect(gate.busy()).toBe(true);
    a.done('in-flight');
    expect(gate.busy()).toBe(false);
  });

  it('changes waiting (not only in flight) hold resyncs back, and changes are never held back', async () => {
    const { a, b } = await setup();
    a.add('c1');
    a.add('c2');
    expect(await b.get()).toBe('r1');
    const next = await waiting(b);
    expect(next.key).toBeUndefined();
    b.add('changed-in-b');
    await vi.advanceTimersByTimeAsync(0);
    expect(next.key).toBe('changed-in-b');
    expect([await a.get(), await a.get()]).toEqual(['c1', 'c2']);
  });

  it('a fast follow-up due soon (a poll every second) holds resyncs back between its looks; a later one only once due', async () => {
    const { a, b } = await setup();
    a.addAfter('rotating', soonFollowUpMs, 'fast');
    a.addAfter('switched', 5000, 'fast');
    expect(await b.get()).toBe('r1');
    const next = await waiting(b);
    expect(next.key).toBeUndefined(); // the rotation's next look is due within soonFollowUpMs
    await vi.advanceTimersByTimeAsync(soonFollowUpMs);
    expect(await a.get()).toBe('rotating');
    a.done('rotating');
    await vi.advanceTimersByTimeAsync(0);
    expect(next.key).toBe('r2'); // nothing due soon any more: the 5 s follow-up does not hold yet
    b.done('r1');
    b.done('r2');
    expect(await b.get()).toBe('r3');
  });

  it('a soon follow-up superseded by an add now is counted once; one dropped at shutdown stops holding', async () => {
    const { a, b, gate } = await setup();
    a.addAfter('rotating', 1000, 'fast');
    a.add('rotating'); // superseded by an add now: counted once, as waiting
    expect(await a.get()).toBe('rotating');
    a.done('rotating');
    expect([await b.get(), await b.get()]).toEqual(['r1', 'r2']);
    const c = createWorkQueue({ resyncGate: gate });
    c.addAfter('poll', 1000, 'fast');
    b.done('r1');
    b.done('r2');
    expect(await b.get()).toBe('r3');
    const held = await waiting(b);
    b.addAfter('r4', 1);
    await vi.advanceTimersByTimeAsync(1);
    expect(held.key).toBeUndefined(); // c's poll is due within a second: one slot only
    c.shutdown();
    await vi.advanceTimersByTimeAsync(0);
    expect(held.key).toBe('r4');
  });

  it('a queue that shuts down with changes waiting lets the resyncs of the others go', async () => {
    const { a, b } = await setup();
    a.add('c1');
    expect(await b.get()).toBe('r1');
    const next = await waiting(b);
    expect(next.key).toBeUndefined();
    a.shutdown();
    await vi.advanceTimersByTimeAsync(0);
    expect(next.key).toBe('r2');
  });

  it('a change that goes round again (re-added while in flight) keeps resyncs held back', async () => {
    const { a, b } = await setup();
    a.add('switch');
    await a.get();
    a.add('switch'); // changed again meanwhile
    expect(await b.get()).toBe('r1');
    b.done('r1');
    a.done('switch'); // runs again at once
    const next = await waiting(b);
    expect(next.key).toBe('r2'); // one slot: r1 left it
    const third = await waiting(b);
    expect(third.key).toBeUndefined();
    expect(await a.get()).toBe('switch');
    a.done('switch');
    await vi.advanceTimersByTimeAsync(0);
    expect(third.key).toBe('r3');
  });
});

describe('work queue: workers kept free for changes', () => {
  it('hands out at most maxSlowInFlight resyncs at once; a change still gets a worker at once', async () => {
    const queue = createWorkQueue({ maxSlowInFlight: 2 });
    for (const k of ['r1', 'r2', 'r3']) queue.addAfter(k, 10);
    await vi.advanceTimersByTimeAsync(10);
    expect([await queue.get(), await queue.get()]).toEqual(['r1', 'r2']);
    let third: string | undefined;
    void queue.get().then((k) => {
      third = k;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(third).toBeUndefined(); // r3 waits: two resyncs are in flight
    queue.add('changed');
    await vi.advanceTimersByTimeAsync(0);
    expect(third).toBe('changed');
    queue.done('r1');
    expect(await queue.get()).toBe('r3');
  });
});

describe('work queue: keys spread across AWS quota scopes (groupOf)', () => {
  // Keys named `<region>/<n>`; the group is the Region.
  const byRegion = (key: string) => key.split('/')[0]!;

  it('a fleet listed Region by Region is handed out across the Regions, FIFO within each', async () => {
    const queue = createWorkQueue({ groupOf: byRegion });
    for (const r of ['east', 'west', 'eu']) for (let i = 0; i < 3; i++) queue.add(`${r}/${i}`);
    expect(await drain(queue)).toEqual([
      'east/0',
      'west/0',
      'eu/0',
      'east/1',
      'west/1',
      'eu/1',
      'east/2',
      'west/2',
      'eu/2',
    ]);
  });

  it('the next key comes from the Region with the fewest keys in flight: a slow Region does not collect the workers', async () => {
    const queue = createWorkQueue({ groupOf: byRegion });
    for (let i = 0; i < 6; i++) queue.add(`east/${i}`);
    for (let i = 0; i < 6; i++) queue.add(`west/${i}`);
    // Two workers each hold an east key (waiting on east's quota), one a west key.
    const held = [await queue.get(), await queue.get(), await queue.get()];
    expect(held).toEqual(['east/0', 'west/0', 'east/1']);
    // Two east in flight against one west: the next two go to west, then they alternate.
    expect(await queue.get()).toBe('west/1');
    queue.done('west/0');
    expect(await queue.get()).toBe('west/2');
    queue.done('west/1');
    queue.done('west/2');
    // West has none in flight now, east two: west again, though east was served longer ago.
    expect(await queue.get()).toBe('west/3');
    queue.done('east/0');
    queue.done('east/1');
    expect(await queue.get()).toBe('east/2');
  });

  it('keeps the lanes: a change in a busy Region goes before a resync in an idle one', async () => {
    const queue = createWorkQueue({ groupOf: byRegion });
    queue.addAfter('west/resync', 10);
    await vi.advanceTimersByTimeAsync(10);
    queue.add('east/a');
    queue.add('east/b');
    expect(await queue.get()).toBe('east/a');
    expect(await queue.get()).toBe('east/b');
    expect(await queue.get()).toBe('west/resync');
  });

  it('a key that moved lanes is handed out once, from the lane it is in', async () => {
    const queue = createWorkQueue({ groupOf: byRegion });
    queue.addAfter('east/1', 10);
    queue.addAfter('west/1', 10);
    await vi.advanceTimersByTimeAsync(10);
    queue.add('west/1'); // moves up to the fast lane
    expect(await drain(queue)).toEqual(['west/1', 'east/1']);
  });

  it('without groupOf every key is one group: FIFO', async () => {
    const queue = createWorkQueue();
    for (const r of ['east', 'west']) for (let i = 0; i < 2; i++) queue.add(`${r}/${i}`);
    expect(await drain(queue)).toEqual(['east/0', 'east/1', 'west/0', 'west/1']);
  });
});

describe('work queue: dedupe and processing set', () => {
  it('queues a key once however often it is added, FIFO by first add', async () => {
    const queue = createWorkQueue();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.len()).toBe(2);
    expect(await drain(queue)).toEqual(['a', 'b']);
  });

  it('a key added while processing is not handed out again until done, then exactly once', async () => {
    const queue = createWorkQueue();
    queue.add('a');
    const first = await queue.get();
    expect(first).toBe('a');
    queue.add('a');
    queue.add('a');
    expect(queue.len()).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => {
      second = k;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(second).toBeUndefined();
    queue.done('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(second).toBe('a');
    queue.done('a');
    expect(queue.len()).toBe(0);
  });

  it('a waiting get receives the next added key', async () => {
    const queue = createWorkQueue();
    const pending = queue.get();
    queue.add('x');
    expect(await pending).toBe('x');
  });

  it('done without a dirty mark does not requeue', async () => {
    const queue = createWorkQueue();
    queue.add('a');
    queue.done((await queue.get())!);
    expect(queue.len()).toBe(0);
  });
});

describe('work queue: delayed adds', () => {
  it('becomes ready after the delay, not before', async () => {
    const queue = createWorkQueue();
    queue.addAfter('a', 100);
    await vi.advanceTimersByTimeAsync(99);
    expect(queue.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(queue.len()).toBe(1);
  });

  it('the earliest delayed add wins (earlier replaces later)', async () => {
    const queue = createWorkQueue();
    queue.addAfter('a', 100);
    queue.addAfter('a', 50);
    await vi.advanceTimersByTimeAsync(50);
    expect(await drain(queue)).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(100);
    expect(queue.len()).toBe(0);
  });

  it('the earliest delayed add wins (later never pushes back earlier)', async () => {
    const queue = createWorkQueue();
    queue.addAfter('a', 50);
    queue.addAfter('a', 100);
    await vi.advanceTimersByTimeAsync(50);
    expect(await drain(queue)).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(100);
    expect(queue.len()).toBe(0);
  });

  it('an immediate add supersedes a pending delayed add', async () => {
    const queue = createWorkQueue();
    queue.addAfter('a', 1_000);
    queue.add('a');
    expect(await drain(queue)).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(queue.len()).toBe(0);
  });

  it('a delayed add of a queued key is dropped (it is due now anyway)', async () => {
    const queue = createWorkQueue();
    queue.add('a');
    queue.addAfter('a', 100);
    expect(await drain(queue)).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(200);
    expect(queue.len()).toBe(0);
  });

  it('addAfter(0) is an add', () => {
    const queue = createWorkQueue();
    queue.addAfter('a', 0);
    expect(queue.len()).toBe(1);
  });
});

describe('work queue: rate limiting', () => {
  it('per-key backoff doubles from 5 ms and is capped', async () => {
    const queue = createWorkQueue({ rateLimit: { maxDelayMs: 1_000 } });
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) delays.push(await rateLimitedDelay(queue, 'k'));
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1_000, 1_000]);
    expect(queue.numRequeues('k')).toBe(10);
  });

  it('default cap is 5 minutes', async () => {
    const queue = createWorkQueue({ rateLimit: { qps: 1e9, burst: 1e9 } });
    for (let i = 0; i < 30; i++) queue.addRateLimited('k'); // failures pile up; the earliest (5 ms) wins
    await vi.advanceTimersByTimeAsync(5);
    expect(await drain(queue)).toEqual(['k']);
    // The 31st failure: 5 ms * 2^30 is far beyond the cap.
    expect(await rateLimitedDelay(queue, 'k', 400_000)).toBe(300_000);
  });

  it('forget resets the backoff of that key only', async () => {
    const queue = createWorkQueue();
    await rateLimitedDelay(queue, 'k');
    await rateLimitedDelay(queue, 'k');
    await rateLimitedDelay(queue, 'j');
    queue.forget('k');
    expect(queue.numRequeues('k')).toBe(0);
    expect(await rateLimitedDelay(queue, 'k')).toBe(5);
    expect(await rateLimitedDelay(queue, 'j')).toBe(10);
  });

  it('the global token bucket delays retries beyond its burst (max with per-key)', async () => {
    const queue = createWorkQueue({ rateLimit: { qps: 10, burst: 2 } });
    const readyAt = new Map<string, number>();
    const start = Date.now();
    for (const key of ['a', 'b', 'c', 'd', 'e']) queue.addRateLimited(key);
    for (let t = 0; t <= 400; t++) {
      while (queue.len() > 0) {
        const key = (await queue.get())!;
        readyAt.set(key, Date.now() - start);
        queue.done(key);
      }
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(Object.fromEntries(readyAt)).toEqual({ a: 5, b: 5, c: 100, d: 200, e: 300 });
  });

  it('the bucket refills over time', async () => {
    const queue = createWorkQueue({ rateLimit: { qps: 10, burst: 1 } });
    expect(await rateLimitedDelay(queue, 'a')).toBe(5);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await rateLimitedDelay(queue, 'b')).toBe(5);
  });
});

describe('work queue: shutdown', () => {
  it('resolves waiting and later gets with undefined, ignores adds, cancels delayed adds', async () => {
    const queue = createWorkQueue();
    const waiting = queue.get();
    queue.addAfter('later', 100);
    queue.shutdown();
    expect(await waiting).toBeUndefined();
    queue.add('a');
    expect(queue.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets in-flight keys finish without requeueing them', async () => {
    const queue = createWorkQueue();
    queue.add('a');
    const key = (await queue.get())!;
    queue.add('a');
    queue.shutdown();
    queue.done(key);
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });
});

describe('work queue: metrics', () => {
  it('reports depth, adds, retries, durations and unfinished work under controller-runtime names', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const queue = createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, 'kmskey') });
    const zero = await registry.metrics();
    expect(zero).toContain('workqueue_depth{name="kmskey"} 0');
    expect(zero).toContain('workqueue_adds_total{name="kmskey"} 0');
    expect(zero).toContain('workqueue_retries_total{name="kmskey"} 0');

    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.addRateLimited('c');
    let text = await registry.metrics();
    expect(text).toContain('workqueue_depth{name="kmskey"} 2');
    expect(text).toContain('workqueue_adds_total{name="kmskey"} 2');
    expect(text).toContain('workqueue_retries_total{name="kmskey"} 1');

    await vi.advanceTimersByTimeAsync(2_000);
    const key = (await queue.get())!;
    await vi.advanceTimersByTimeAsync(3_000);
    text = await registry.metrics();
    expect(text).toContain('workqueue_unfinished_work_seconds{name="kmskey"} 3');
    expect(text).toContain('workqueue_longest_running_processor_seconds{name="kmskey"} 3');
    expect(text).toContain('workqueue_queue_duration_seconds_count{name="kmskey"} 1');
    queue.done(key);
    text = await registry.metrics();
    expect(text).toContain('workqueue_work_duration_seconds_count{name="kmskey"} 1');
    expect(text).toContain('workqueue_work_duration_seconds_sum{name="kmskey"} 3');
    expect(text).toContain('workqueue_unfinished_work_seconds{name="kmskey"} 0');
  });

  it('two queues share one registry', () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, 'one') });
    expect(() => createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, 'two') })).not.toThrow();
  });
});

describe('work queue: delayed adds share one timer', () => {
  /** The system clock (fake timers) with a count of the timers set and not yet fired or cleared. */
  function countingClock() {
    const live = new Set<unknown>();
    const clock = {
      now: () => Date.now(),
      setTimeout(fn: () => void, ms: number) {
        const handle = setTimeout(() => {
          live.delete(handle);
          fn();
        }, ms);
        live.add(handle);
        return handle;
      },
      clearTimeout(handle: unknown) {
        live.delete(handle);
        clearTimeout(handle as ReturnType<typeof setTimeout>);
      },
    };
    return { clock, live: () => live.size };
  }

  it('10,000 keys waiting for their resync hold one timer, and each comes due at its own time, in time order', async () => {
    const { clock, live } = countingClock();
    const queue = createWorkQueue({ clock });
    const dueAt = (k: string) => 1000 + ((Number(k.slice(1)) * 7919) % 10_000);
    // Added in an order unrelated to when they come due.
    for (let i = 0; i < 10_000; i++) queue.addAfter(`k${i}`, dueAt(`k${i}`));
    expect(live()).toBe(1);
    const seen: string[] = [];
    for (let t = 1000; t <= 11_000; t += 1000) {
      await vi.advanceTimersByTimeAsync(1000);
      const batch = await drain(queue);
      // Each key in the second it was due in (neither early nor held back), in the order due.
      for (const k of batch) {
        expect(dueAt(k)).toBeLessThanOrEqual(t);
        expect(dueAt(k)).toBeGreaterThan(t - 1000);
      }
      expect(batch.map(dueAt)).toEqual([...batch.map(dueAt)].sort((a, b) => a - b));
      seen.push(...batch);
      expect(live()).toBeLessThanOrEqual(1);
    }
    expect(new Set(seen).size).toBe(10_000);
    expect(live()).toBe(0);
  });

  it('an earlier delayed add moves the timer up; a later one and a cancelled one do not fire early or at all', async () => {
    const { clock, live } = countingClock();
    const queue = createWorkQueue({ clock });
    queue.addAfter('late', 5000);
    queue.addAfter('cancelled', 100);
    queue.addAfter('soon', 200);
    expect(live()).toBe(1);
    queue.add('cancelled'); // added now: its delayed add is superseded
    expect(await drain(queue)).toEqual(['cancelled']);
    await vi.advanceTimersByTimeAsync(199);
    expect(queue.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(await drain(queue)).toEqual(['soon']);
    await vi.advanceTimersByTimeAsync(4799);
    expect(queue.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(await drain(queue)).toEqual(['late']);
    expect(live()).toBe(0);
  });

  it('a key superseded 1,500 times while delayed comes due once, at its last time, and nothing else is lost', async () => {
    const { clock } = countingClock();
    const queue = createWorkQueue({ clock });
    queue.addAfter('anchor', 10_000); // due first: the superseded entries pile up behind it
    // Each round a delayed add, then an add now that supersedes it: 1,500 stale entries due at
    // 20,000..21,499 ms, more than the queue keeps before it compacts them away.
    for (let i = 0; i < 1500; i++) {
      queue.addAfter('busy', 20_000);
      queue.add('busy');
      expect(await drain(queue)).toEqual(['busy']);
      await vi.advanceTimersByTimeAsync(1);
    }
    queue.addAfter('busy', 20_000); // due at 21,500
    await vi.advanceTimersByTimeAsync(10_000 - 1500);
    expect(await drain(queue)).toEqual(['anchor']);
    await vi.advanceTimersByTimeAsync(21_499 - 10_000);
    expect(queue.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(await drain(queue)).toEqual(['busy']);
  });

  it('a clock stepped back while keys wait does not hold them back', async () => {
    let offset = 0;
    const clock = {
      now: () => Date.now() - offset,
      setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
      clearTimeout: (h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>),
    };
    const queue = createWorkQueue({ clock });
    queue.addAfter('a', 1000);
    offset = 60_000; // wall time stepped back a minute
    await vi.advanceTimersByTimeAsync(1000);
    expect(await drain(queue)).toEqual(['a']);
  });

  it('a delay longer than a Node timer can hold does not wake the queue every millisecond', async () => {
    const { clock } = countingClock();
    let timersSet = 0;
    const counting = {
      ...clock,
      setTimeout: (fn: () => void, ms: number) => {
        timersSet++;
        return clock.setTimeout(fn, ms);
      },
    };
    const queue = createWorkQueue({ clock: counting });
    queue.addAfter('far', 40 * 24 * 3600_000); // 40 days
    await vi.advanceTimersByTimeAsync(1000);
    expect(timersSet).toBe(1);
    expect(queue.len()).toBe(0);
    queue.shutdown();
  });

  it('shutdown clears the timer', () => {
    const { clock, live } = countingClock();
    const queue = createWorkQueue({ clock });
    queue.addAfter('a', 1000);
    queue.shutdown();
    expect(live()).toBe(0);
  });
});
