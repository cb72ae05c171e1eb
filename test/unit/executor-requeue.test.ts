// The executor's requeues: a poll the plan asks for is timed from the look's start (a slow look does not
// stretch it), and a paced status field waits out its interval before it is written.

import { describe, expect, it } from 'vitest';
import { oneObjectExecutor, type TestKind } from './support/one-object-executor.ts';

/**
 * One KmsKey-like object under the executor with a settable clock, whose plan asks for a look in
 * `pollMs`; `kind` overrides the plain kind's parts.
 */
function harness(
  pollMs: number,
  kind: (clock: { t: number }) => Partial<TestKind<{ type: 'None' }>> = () => ({}),
) {
  const clock = { t: 1_000_000 };
  const { writes, look } = oneObjectExecutor<{ type: 'None' }>({
    plan: { actions: [], requeueAfterMs: pollMs },
    overrides: kind(clock),
    now: () => clock.t,
  });
  return { clock, writes, look: () => look() };
}

function reconcileTaking(lookMs: number, pollMs: number) {
  return harness(pollMs, (clock) => ({
    observe: async () => {
      clock.t += lookMs;
      return undefined;
    },
  })).look();
}

describe('executor requeue', () => {
  it('is the poll interval less the time the look took', async () => {
    expect(await reconcileTaking(0, 1000)).toEqual({ requeueAfterMs: 1000 });
    expect(await reconcileTaking(300, 1000)).toEqual({ requeueAfterMs: 700 });
  });

  it('is at least a quarter of the interval after a look slower than the interval', async () => {
    expect(await reconcileTaking(2300, 1000)).toEqual({ requeueAfterMs: 250 });
  });

  it('leaves settled objects to the resync', async () => {
    expect(await reconcileTaking(300, 600_000)).toEqual({});
  });
});

describe('a paced status field', () => {
  /** A kind whose status is { progress, count, other }; changes of the first two alone wait 15 s. */
  function pacedReconciler() {
    const view = { progress: 0, count: 0, other: 'a' };
    const h = harness(600_000, () => ({
      project: () => ({ ...view }),
      paced: {
        fields: ['progress', 'count'],
        wait: (_stored, _next, since) => Math.max(0, 15_000 - since),
      },
    }));
    return {
      view,
      writes: h.writes,
      look: h.look,
      later: (ms: number) => {
        h.clock.t += ms;
      },
    };
  }

  it('is written at most once per wait when it is the only change, and looked at again when the wait ends', async () => {
    const r = pacedReconciler();
    expect(await r.look()).toEqual({}); // the first status: written
    expect(r.writes).toHaveLength(1);

    r.later(5_000);
    r.view.progress = 1;
    expect(await r.look()).toEqual({ requeueAfterMs: 10_000 }); // held: 5 s after the last write
    expect(r.writes).toHaveLength(1);

    r.later(4_000);
    r.view.count = 1; // another paced field: held as well
    expect(await r.look()).toEqual({ requeueAfterMs: 6_000 });
    expect(r.writes).toHaveLength(1);

    r.later(6_000);
    r.view.progress = 2;
    expect(await r.look()).toEqual({}); // the wait is over: written, with the newest values
    expect(r.writes).toHaveLength(2);
    expect(r.writes[1]).toMatchObject({ progress: 2, count: 1, other: 'a' });

    expect(await r.look()).toEqual({}); // nothing changed: nothing written, nothing waited for
    expect(r.writes).toHaveLength(2);
  });

  it('goes out at once with any other change', async () => {
    const r = pacedReconciler();
    await r.look();
    r.later(1_000);
    r.view.progress = 5;
    r.view.other = 'b';
    expect(await r.look()).toEqual({});
    expect(r.writes.at(-1)).toMatchObject({ progress: 5, other: 'b' });
    // ... and the wait counts from that write.
    r.later(1_000);
    r.view.progress = 6;
    expect(await r.look()).toEqual({ requeueAfterMs: 14_000 });
    expect(r.writes).toHaveLength(2);
  });
});

describe('a read complete() puts off', () => {
  it('is told how long ago the status was written, and its look comes when it asks, even when something else is written first', async () => {
    const seen: number[] = [];
    let other = 'a';
    const h = harness(600_000, () => ({
      project: () => ({ other }),
      // The write times are kept for kinds with paced fields.
      paced: { fields: ['count'], wait: () => 0 },
      complete: async (_object, o, _plan, _ctx, { sinceStatusWriteMs, lookAgainIn }) => {
        seen.push(sinceStatusWriteMs);
        if (sinceStatusWriteMs < 15_000) lookAgainIn(15_000 - sinceStatusWriteMs);
        return o;
      },
    }));
    expect(await h.look()).toEqual({}); // not written by this process yet: nothing put off
    expect(seen).toEqual([Infinity]);
    h.clock.t += 4_000;
    other = 'b'; // written at once; the read put off still gets its look
    expect(await h.look()).toEqual({ requeueAfterMs: 11_000 });
    expect(h.writes.at(-1)).toMatchObject({ other: 'b' });
    expect(seen[1]).toBe(4_000);
  });
});
