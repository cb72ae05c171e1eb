import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeApiError, type KubeObject } from '../../src/runtime/kube.ts';
import { createLeaderElector, type LeaderElector, type Lease } from '../../src/runtime/leader.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-23T10:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

/** One Lease with the apiserver's optimistic concurrency; `down` makes every call fail. */
function leaseStore() {
  let stored: Lease | undefined;
  let rv = 0;
  const state = { down: false, hang: false, writes: 0, reads: 0 };
  const guard = async (signal?: AbortSignal) => {
    if (state.hang) {
      await new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason)));
    }
    if (state.down) throw new Error('connection refused');
  };
  /** Stores `object` as the next resourceVersion and answers with the stored copy. */
  const write = <T extends KubeObject>(object: T): T => {
    rv += 1;
    state.writes += 1;
    stored = {
      ...(structuredClone(object) as unknown as Lease),
      metadata: { ...object.metadata, resourceVersion: String(rv) },
    };
    return structuredClone(stored) as unknown as T;
  };
  const api = {
    get: async <T extends KubeObject>(
      _t: unknown,
      _r: unknown,
      o: { signal?: AbortSignal } = {},
    ): Promise<T> => {
      await guard(o.signal);
      state.reads += 1;
      if (!stored) throw new KubeApiError('GET', '/lease', 404, { reason: 'NotFound' }, '');
      return structuredClone(stored) as unknown as T;
    },
    create: async <T extends KubeObject>(
      _t: unknown,
      object: T,
      o: { signal?: AbortSignal } = {},
    ): Promise<T> => {
      await guard(o.signal);
      if (stored) throw new KubeApiError('POST', '/lease', 409, { reason: 'AlreadyExists' }, '');
      return write(object);
    },
    replace: async <T extends KubeObject>(
      _t: unknown,
      object: T,
      o: { signal?: AbortSignal } = {},
    ): Promise<T> => {
      await guard(o.signal);
      if (!stored) throw new KubeApiError('PUT', '/lease', 404, { reason: 'NotFound' }, '');
      if (object.metadata.resourceVersion !== stored.metadata.resourceVersion) {
        throw new KubeApiError('PUT', '/lease', 409, { reason: 'Conflict' }, '');
      }
      return write(object);
    },
  };
  return {
    api,
    state,
    lease: () => stored,
    steal(holder: string) {
      if (!stored) throw new Error('no lease');
      rv += 1;
      stored = {
        ...stored,
        metadata: { ...stored.metadata, resourceVersion: String(rv) },
        spec: { ...stored.spec, holderIdentity: holder, renewTime: new Date().toISOString() },
      };
    },
  };
}

function candidate(
  store: ReturnType<typeof leaseStore>,
  identity: string,
  reelect = false,
  random = () => 0,
) {
  const log: string[] = [];
  let signal: AbortSignal | undefined;
  const elector: LeaderElector = createLeaderElector(
    {
      namespace: 'cmk-system',
      name: 'cmk-operator',
      identity,
      reelect,
      onStartedLeading: (s) => {
        signal = s;
        log.push(`started@${Date.now()}`);
      },
      onStoppedLeading: (reason) => log.push(`stopped@${Date.now()}:${reason}`),
    },
    { kube: store.api, random },
  );
  return { elector, log, signal: () => signal };
}

/**
 * `c` is not leading a millisecond before `afterMs` from now and leads at `afterMs`, its one term
 * starting at `startedAt`.
 */
async function expectLeadsAfter(c: ReturnType<typeof candidate>, afterMs: number, startedAt: number) {
  await vi.advanceTimersByTimeAsync(afterMs - 1);
  expect(c.elector.isLeader()).toBe(false);
  await vi.advanceTimersByTimeAsync(1);
  expect(c.elector.isLeader()).toBe(true);
  expect(c.log).toEqual([`started@${startedAt}`]);
}

/** `c` crashes: its loop ends and its release never reaches the API server. */
async function crash(store: ReturnType<typeof leaseStore>, c: ReturnType<typeof candidate>) {
  store.state.down = true;
  await c.elector.stop();
  store.state.down = false;
}

/** A Lease store where candidate `a` has started and leads. */
async function aLeads() {
  const store = leaseStore();
  const a = candidate(store, 'a');
  a.elector.start();
  await vi.advanceTimersByTimeAsync(0);
  return { store, a };
}

describe('leader election', () => {
  it('the first candidate creates the lease and leads; the second waits', async () => {
    const store = leaseStore();
    const a = candidate(store, 'a');
    const b = candidate(store, 'b');
    a.elector.start();
    await vi.advanceTimersByTimeAsync(0);
    b.elector.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    expect(b.elector.leader()).toBe('a');
    expect(store.lease()?.spec).toMatchObject({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });
    expect(store.lease()?.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(a.signal()?.aborted).toBe(false);
    expect(a.elector.signal()).toBe(a.signal());
    expect(b.elector.signal().aborted).toBe(true);
    await a.elector.stop();
    await b.elector.stop();
  });

  it('renews every retry period', async () => {
    const { store, a } = await aLeads();
    const writes = store.state.writes;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.state.writes - writes).toBe(5);
    await a.elector.stop();
  });

  it('stop releases the lease and the other candidate takes over at its next retry', async () => {
    const store = leaseStore();
    const a = candidate(store, 'a');
    const b = candidate(store, 'b');
    a.elector.start();
    await vi.advanceTimersByTimeAsync(0);
    b.elector.start();
    await vi.advanceTimersByTimeAsync(5_000);
    const releasedAt = Date.now();
    await a.elector.stop();
    expect(a.signal()?.aborted).toBe(true);
    expect(store.lease()?.spec?.holderIdentity).toBe('');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(Date.now() - releasedAt).toBeLessThanOrEqual(2_000);
    expect(store.lease()?.spec?.leaseTransitions).toBe(1);
    expect(a.log).toEqual([`started@${releasedAt - 5_000}`, `stopped@${releasedAt}:stopping`]);
    await b.elector.stop();
  });

  it('a crashed leader is replaced only after the lease duration, on the survivor clock', async () => {
    const store = leaseStore();
    const a = candidate(store, 'a');
    const b = candidate(store, 'b');
    a.elector.start();
    await vi.advanceTimersByTimeAsync(0);
    // b first sees a's record as it is written: the lease runs until then + 15 s on b's clock.
    const lastRenewal = Date.now();
    b.elector.start();
    await vi.advanceTimersByTimeAsync(1_000);
    // a "crashes" before its next renewal: its loop ends and its release never reaches the API server.
    await crash(store, a);
    await expectLeadsAfter(b, 14_000, lastRenewal + 15_000);
    await b.elector.stop();
  });

  it('a standby tries again the moment the lease it saw expires, not a jittered period later', async () => {
    const { store, a } = await aLeads();
    // a crashes right after a renewal: nothing renews the lease any more.
    await crash(store, a);
    // The longest jitter: blind polls at +0, +4.4, +8.8, +13.1, +17.5 s would take over at 17.5 s.
    const b = candidate(store, 'b', false, () => 0.99);
    const firstSeen = Date.now();
    b.elector.start();
    await expectLeadsAfter(b, 15_000, firstSeen + 15_000);
    await b.elector.stop();
  });

  it('while the leader renews, a standby still polls at the jittered retry period', async () => {
    const { store, a } = await aLeads();
    const b = candidate(store, 'b', false, () => 0.5); // every 2 s x 1.6 = 3.2 s
    const reads = store.state.reads;
    b.elector.start();
    await vi.advanceTimersByTimeAsync(32_000);
    expect(b.elector.isLeader()).toBe(false);
    // a renews every 2 s (16 reads); b reads at 0, 3.2, ..., 32 s (11 reads).
    expect(store.state.reads - reads).toBe(16 + 11);
    await a.elector.stop();
    await b.elector.stop();
  });

  it('aborts the signal the moment the renew deadline passes when the API is unreachable', async () => {
    const { store, a } = await aLeads();
    const lastRenew = Date.now();
    store.state.down = true;
    await vi.advanceTimersByTimeAsync(9_999);
    expect(a.signal()?.aborted).toBe(false);
    expect(a.elector.isLeader()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(a.signal()?.aborted).toBe(true);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log.at(-1)).toBe(`stopped@${lastRenew + 10_000}:renew deadline passed`);
    await a.elector.stop();
  });

  it('a hanging API request cannot delay the deadline', async () => {
    const { store, a } = await aLeads();
    store.state.hang = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.signal()?.aborted).toBe(true);
    await a.elector.stop();
  });

  it('isLeader() answers from the clock even before the deadline timer runs', async () => {
    const { store, a } = await aLeads();
    store.state.down = true;
    vi.setSystemTime(Date.now() + 11_000); // the clock jumps; no timer has fired yet
    expect(a.elector.isLeader()).toBe(false);
    expect(a.signal()?.aborted).toBe(true);
    await a.elector.stop();
  });

  it('a leader whose lease was taken aborts at its next renewal', async () => {
    const { store, a } = await aLeads();
    store.steal('thief');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.signal()?.aborted).toBe(true);
    expect(a.log.at(-1)).toMatch(/lease taken by thief/);
    expect(a.elector.leader()).toBe('thief');
    await a.elector.stop();
    expect(store.lease()?.spec?.holderIdentity).toBe('thief');
  });

  it('after losing it stops campaigning by default (the process should restart)', async () => {
    const { store, a } = await aLeads();
    store.state.down = true;
    await vi.advanceTimersByTimeAsync(10_000);
    store.state.down = false;
    const writes = store.state.writes;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(store.state.writes).toBe(writes);
    expect(vi.getTimerCount()).toBe(0);
    await a.elector.stop();
  });

  it('with reelect, after losing it campaigns again with a fresh signal', async () => {
    const store = leaseStore();
    const a = candidate(store, 'a', true);
    a.elector.start();
    await vi.advanceTimersByTimeAsync(0);
    const first = a.signal();
    store.state.down = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(first?.aborted).toBe(true);
    store.state.down = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.signal()).not.toBe(first);
    expect(a.signal()?.aborted).toBe(false);
    await a.elector.stop();
  });

  it('two candidates racing never both lead', async () => {
    const store = leaseStore();
    const candidates = ['a', 'b', 'c'].map((id) => candidate(store, id));
    for (const c of candidates) c.elector.start();
    for (let i = 0; i < 100; i++) {
      await vi.advanceTimersByTimeAsync(500);
      expect(candidates.filter((c) => c.elector.isLeader()).length).toBeLessThanOrEqual(1);
      if (i === 50) await candidates.find((c) => c.elector.isLeader())?.elector.stop();
    }
    expect(candidates.filter((c) => c.elector.isLeader())).toHaveLength(1);
    for (const c of candidates) await c.elector.stop();
  });

  it('rejects timings that cannot be safe', () => {
    const store = leaseStore();
    expect(() =>
      createLeaderElector(
        { namespace: 'n', name: 'l', identity: 'a', leaseDurationMs: 10_000, renewDeadlineMs: 10_000 },
        { kube: store.api },
      ),
    ).toThrow();
  });
});
