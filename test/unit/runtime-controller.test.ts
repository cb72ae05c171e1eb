import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createController, type Reconcile } from '../../src/runtime/controller.ts';
import { TerminalError, TransientError, WaitingError } from '../../src/runtime/errors.ts';
import {
  createMetricsRegistry,
  prometheusControllerMetrics,
  prometheusWorkQueueMetrics,
} from '../../src/runtime/metrics.ts';
import { createWorkQueue } from '../../src/runtime/work-queue.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A controller whose reconcile records the (fake) time of every call per key. */
function harness(reconcile: Reconcile, options: { concurrency?: number; resyncMs?: number } = {}) {
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const queue = createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, 'widget') });
  const calls: Array<{ key: string; at: number }> = [];
  const start = Date.now();
  const controller = createController(
    {
      name: 'widget',
      queue,
      concurrency: options.concurrency ?? 1,
      resyncMs: options.resyncMs ?? 600_000,
      reconcile: (key, ctx) => {
        calls.push({ key, at: Date.now() - start });
        return reconcile(key, ctx);
      },
    },
    { metrics: prometheusControllerMetrics(registry, 'widget'), random: () => 0.5 },
  );
  const metric = async (line: string): Promise<number> => {
    const found = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${line} `));
    return Number(found?.split(' ')[1]);
  };
  return {
    controller,
    queue,
    calls,
    registry,
    metric,
    times: (key: string) => calls.filter((c) => c.key === key).map((c) => c.at),
  };
}

describe('controller outcomes', () => {
  it('success forgets and looks again after the (jittered) resync interval', async () => {
    const h = harness(async () => {}, { resyncMs: 1_000 });
    h.controller.start();
    h.queue.add('ns/a');
    await vi.advanceTimersByTimeAsync(2_500);
    expect(h.times('ns/a')).toEqual([0, 1_000, 2_000]);
    expect(await h.metric('controller_runtime_reconcile_total{controller="widget",result="success"}')).toBe(
      3,
    );
    await h.controller.stop();
  });

  it('tells a reconcile whether it is periodic: a resync is; a change, a follow-up and a retry are not', async () => {
    const seen: Array<{ n: number; periodic: boolean | undefined }> = [];
    let n = 0;
    const h = harness(
      async (_key, ctx) => {
        n += 1;
        seen.push({ n, periodic: ctx.periodic });
        if (n === 2) return { requeueAfterMs: 100 }; // a follow-up asked for
        if (n === 4) throw new Error('boom'); // retried with backoff
        return undefined;
      },
      { resyncMs: 1_000 },
    );
    h.controller.start();
    h.queue.add('ns/a'); // 1: a change (watch event)
    await vi.advanceTimersByTimeAsync(5_000); // 2: resync; 3: its follow-up; 4: resync, fails; 5: the retry
    await h.controller.stop();
    expect(seen.slice(0, 5)).toEqual([
      { n: 1, periodic: false },
      { n: 2, periodic: true },
      { n: 3, periodic: false },
      { n: 4, periodic: true },
      { n: 5, periodic: false },
    ]);
  });

  it('resync is jittered by +/-10 %', async () => {
    const queue = createWorkQueue();
    const at: number[] = [];
    const controller = createController(
      { name: 'j', queue, resyncMs: 1_000, reconcile: async () => void at.push(Date.now()) },
      { random: () => 1 },
    );
    controller.start();
    queue.add('k');
    await vi.advanceTimersByTimeAsync(1_200);
    expect(at[1]! - at[0]!).toBe(1_100);
    await controller.stop();
  });

  it('requeueAfter looks again after exactly that long', async () => {
    const h = harness(async () => ({ requeueAfterMs: 250 }));
    h.controller.start();
    h.queue.add('k');
    await vi.advanceTimersByTimeAsync(600);
    expect(h.times('k')).toEqual([0, 250, 500]);
    expect(
      await h.metric('controller_runtime_reconcile_total{controller="widget",result="requeue_after"}'),
    ).toBe(3);
    await h.controller.stop();
  });

  it('a requeueAfter and a WaitingError come due ahead of resyncs that are due', async () => {
    const first = new Set<string>();
    const h = harness(async (key) => {
      const again = first.has(key);
      first.add(key);
      if (key === 'switched' && !again) return { requeueAfterMs: 500 };
      if (key === 'waiting' && !again)
        throw new WaitingError('not yet', { reason: 'Transitioning', retryAfterMs: 500 });
      await new Promise((r) => setTimeout(r, 100));
    });
    h.controller.start();
    h.queue.add('switched');
    h.queue.add('waiting');
    // Ten resyncs, due at 1 ms, each taking 100 ms: r0-r4 run before the follow-ups are due at 500 ms.
    for (let i = 0; i < 10; i++) h.queue.addAfter(`r${i}`, 1);
    await vi.advanceTimersByTimeAsync(1_200);
    const order = h.calls.map((c) => c.key).slice(0, 11);
    expect(order).toEqual([
      'switched',
      'waiting',
      'r0',
      'r1',
      'r2',
      'r3',
      'r4',
      'switched',
      'waiting',
      'r5',
      'r6',
    ]);
    const stopped = h.controller.stop();
    await vi.advanceTimersByTimeAsync(200);
    await stopped;
  });

  it('a requeueAfter longer than the resync interval waits only the resync interval', async () => {
    const h = harness(async () => ({ requeueAfterMs: 60_000 }), { resyncMs: 1_000 });
    h.controller.start();
    h.queue.add('k');
    await vi.advanceTimersByTimeAsync(2_500);
    expect(h.times('k')).toEqual([0, 1_000, 2_000]);
    await h.controller.stop();
  });

  it('a thrown error is retried with growing backoff and counted', async () => {
    const h = harness(async () => {
      throw new Error('boom');
    });
    h.controller.start();
    h.queue.add('k');
    await vi.advanceTimersByTimeAsync(100);
    expect(h.times('k')).toEqual([0, 5, 15, 35, 75]);
    expect(await h.metric('controller_runtime_reconcile_errors_total{controller="widget"}')).toBe(5);
    expect(await h.metric('controller_runtime_terminal_reconcile_errors_total{controller="widget"}')).toBe(0);
    expect(await h.metric('workqueue_retries_total{name="widget"}')).toBe(5);
    await h.controller.stop();
  });

  it('a TransientError backs off like any error', async () => {
    const h = harness(async () => {
      throw new TransientError('throttled', { reason: 'Throttled' });
    });
    h.controller.start();
    h.queue.add('k');
    await vi.advanceTimersByTimeAsync(20);
    expect(h.times('k')).toEqual([0, 5, 15]);
    await h.controller.stop();
  });

  it('a TerminalError is not retried with backoff: counted as terminal, looked at again only at the resync', async () => {
    const h = harness(
      async () => {
        throw new TerminalError('key is asymmetric', { reason: 'KeyNotSymmetric' });
      },
      { resyncMs: 600_000 },
    );
    h.controller.start();
    h.queue.add('k');
    // No backoff retries (a TransientError would have run again within the first second).
    await vi.advanceTimersByTimeAsync(500_000);
    expect(h.times('k')).toEqual([0]);
    expect(await h.metric('controller_runtime_reconcile_errors_total{controller="widget"}')).toBe(1);
    expect(await h.metric('controller_runtime_terminal_reconcile_errors_total{controller="widget"}')).toBe(1);
    expect(await h.metric('controller_runtime_reconcile_total{controller="widget",result="error"}')).toBe(1);
    // A person may fix the cause outside Kubernetes (IAM, a key policy), which sends no watch event:
    // the resync (jittered by 10%) looks again.
    await vi.advanceTimersByTimeAsync(200_000);
    expect(h.times('k')).toHaveLength(2);
    expect(h.times('k')[1]).toBeGreaterThanOrEqual(540_000);
    // A watch event (spec change) reconciles it again at once.
    h.queue.add('k');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.times('k')).toHaveLength(3);
    await h.controller.stop();
  });

  it('a WaitingError looks again after its delay without growing the backoff', async () => {
    let n = 0;
    const h = harness(async () => {
      n += 1;
      if (n === 1) throw new Error('first a failure');
      throw new WaitingError('application UPDATING', { reason: 'Updating', retryAfterMs: 1_000 });
    });
    h.controller.start();
    h.queue.add('k');
    await vi.advanceTimersByTimeAsync(2_100);
    expect(h.times('k')).toEqual([0, 5, 1_005, 2_005]);
    expect(h.queue.numRequeues('k')).toBe(0);
    expect(await h.metric('controller_runtime_reconcile_errors_total{controller="widget"}')).toBe(1);
    await h.controller.stop();
  });

  it('success after failures resets the backoff', async () => {
    let n = 0;
    const h = harness(async () => {
      n += 1;
      if (n <= 3) throw new Error('flaky');
      return { requeueAfterMs: 10_000 };
    });
    h.controller.start();
    h.queue.add('k');
    await vi.advanceTimersByTimeAsync(100);
    expect(h.queue.numRequeues('k')).toBe(0);
    await h.controller.stop();
  });

  it('initialises every metric series at zero', async () => {
    const h = harness(async () => {});
    const text = await h.registry.metrics();
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
      expect(text).toContain(`controller_runtime_reconcile_total{controller="widget",result="${result}"} 0`);
    }
    expect(text).toContain('controller_runtime_reconcile_errors_total{controller="widget"} 0');
    expect(text).toContain('controller_runtime_terminal_reconcile_errors_total{controller="widget"} 0');
    expect(text).toContain('controller_runtime_active_workers{controller="widget"} 0');
    expect(text).toContain('controller_runtime_max_concurrent_reconciles{controller="widget"} 1');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_count{controller="widget"} 0');
  });
});

describe('controller concurrency', () => {
  it('runs at most `concurrency` reconciles at once and never one key twice at once', async () => {
    let active = 0;
    let maxActive = 0;
    const activeKeys = new Set<string>();
    let overlap = false;
    const h = harness(
      async (key) => {
        if (activeKeys.has(key)) overlap = true;
        activeKeys.add(key);
        active += 1;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 100));
        active -= 1;
        activeKeys.delete(key);
        return { requeueAfterMs: 1 };
      },
      { concurrency: 3 },
    );
    h.controller.start();
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) h.queue.add(key);
    await vi.advanceTimersByTimeAsync(50);
    expect(await h.metric('controller_runtime_active_workers{controller="widget"}')).toBe(3);
    expect(h.controller.active()).toBe(3);
    for (let i = 0; i < 20; i++) {
      h.queue.add('a'); // hammer one key while it may be in flight
      await vi.advanceTimersByTimeAsync(37);
    }
    expect(maxActive).toBe(3);
    expect(overlap).toBe(false);
    expect(await h.metric('controller_runtime_max_concurrent_reconciles{controller="widget"}')).toBe(3);
    const stopping = h.controller.stop({ deadlineMs: 1_000 });
    await vi.advanceTimersByTimeAsync(100);
    await stopping;
  });
});

describe('controller logging', () => {
  it('every line of a reconcile carries controller, key and a short reconcile id', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(JSON.parse(String(chunk)));
        callback();
      },
    });
    const queue = createWorkQueue();
    const controller = createController(
      {
        name: 'widget',
        queue,
        reconcile: async (_key, ctx) => {
          ctx.log.info('observing');
          ctx.log.info('acting');
          return { requeueAfterMs: 10 };
        },
      },
      { log: pino({ level: 'info' }, sink) },
    );
    controller.start();
    queue.add('ns/a');
    await vi.advanceTimersByTimeAsync(15);
    await controller.stop();
    const reconcileLines = lines.filter((l) => l['msg'] === 'observing' || l['msg'] === 'acting');
    expect(reconcileLines).toHaveLength(4);
    for (const line of reconcileLines) {
      expect(line).toMatchObject({ controller: 'widget', key: 'ns/a' });
      expect(line['reconcileId']).toMatch(/^[0-9a-f]{8}$/);
    }
    expect(reconcileLines[0]!['reconcileId']).toBe(reconcileLines[1]!['reconcileId']);
    expect(reconcileLines[0]!['reconcileId']).not.toBe(reconcileLines[2]!['reconcileId']);
  });
});

describe('controller stop', () => {
  it('waits for in-flight reconciles and takes no new work', async () => {
    const gate = deferred();
    let finished = false;
    const h = harness(async () => {
      await gate.promise;
      finished = true;
    });
    h.controller.start();
    h.queue.add('a');
    h.queue.add('b');
    await vi.advanceTimersByTimeAsync(0);
    let stopped = false;
    const stopping = h.controller.stop({ deadlineMs: 10_000 }).then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stopped).toBe(false);
    gate.resolve();
    await vi.advanceTimersByTimeAsync(0);
    await stopping;
    expect(finished).toBe(true);
    expect(h.times('b')).toEqual([]);
  });

  it('aborts in-flight reconciles at the deadline and returns', async () => {
    let aborted = false;
    const h = harness(
      (_key, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    );
    h.controller.start();
    h.queue.add('a');
    await vi.advanceTimersByTimeAsync(0);
    const stopping = h.controller.stop({ deadlineMs: 5_000 });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(aborted).toBe(true);
  });

  it('returns at the deadline even if a reconcile ignores its signal', async () => {
    const h = harness(() => new Promise(() => {}));
    h.controller.start();
    h.queue.add('a');
    await vi.advanceTimersByTimeAsync(0);
    const stopping = h.controller.stop({ deadlineMs: 1_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(stopping).resolves.toBeUndefined();
  });

  it('aborts in-flight reconciles at once when the start signal aborts (leadership lost)', async () => {
    let abortedAt: number | undefined;
    const leadership = new AbortController();
    const h = harness(
      (_key, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            abortedAt = Date.now();
            resolve();
          });
        }),
    );
    h.controller.start(leadership.signal);
    h.queue.add('a');
    await vi.advanceTimersByTimeAsync(100);
    const lostAt = Date.now();
    leadership.abort(new Error('lease lost'));
    expect(abortedAt).toBe(lostAt);
    expect(h.queue.isShuttingDown()).toBe(true);
    await h.controller.stop();
  });
});
