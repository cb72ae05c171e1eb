import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/runtime/clock.ts';
import {
  createMemorySaver,
  type MemoryEngine,
  type MemorySaverMode,
  type MemorySaverOptions,
} from '../../src/runtime/memory-saver.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** An engine that records what it was asked, in order. */
function recorder() {
  const calls: string[] = [];
  const engine: MemoryEngine = {
    setSaver: (on) => calls.push(on ? 'saver on' : 'saver off'),
    collect: () => calls.push('collect'),
  };
  return { calls, engine };
}

function saver(mode: MemorySaverMode, overrides: Partial<MemorySaverOptions> = {}) {
  const { calls, engine } = recorder();
  const changes: boolean[] = [];
  const reasons: Array<string | undefined> = [];
  const s = createMemorySaver({
    mode,
    clock: systemClock,
    engine,
    settleMs: 2_000,
    collectEveryMs: 60_000,
    ...overrides,
    onChange: (on, why) => {
      changes.push(on);
      reasons.push(why);
    },
  });
  return { s, calls, changes, reasons };
}

describe('memory saver, auto', () => {
  it('turns on once nothing has changed for the settle time, with one collection to hand the pages back', async () => {
    const { s, calls, changes } = saver('auto');
    await vi.advanceTimersByTimeAsync(1_999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual(['saver on', 'collect']);
    expect(s.active()).toBe(true);
    expect(changes).toEqual([true]);
  });

  it('turns off in the call that reports the first change, and does not start a settle while busy', async () => {
    const { s, calls } = saver('auto');
    await vi.advanceTimersByTimeAsync(2_000);
    s.busy(true);
    expect(s.active()).toBe(false);
    expect(calls).toEqual(['saver on', 'collect', 'saver off']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(3);
  });

  it('a change before the settle ends keeps it off; the settle starts again from the last change', async () => {
    const { s, calls } = saver('auto');
    await vi.advanceTimersByTimeAsync(1_500);
    s.busy(true);
    await vi.advanceTimersByTimeAsync(10_000);
    s.busy(false);
    await vi.advanceTimersByTimeAsync(1_000);
    s.busy(true); // a short gap between two changes is not settled
    s.busy(false);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual(['saver on', 'collect']);
  });

  it('asks for at most one collection per collectEveryMs, however often the mode flips', async () => {
    const { s, calls } = saver('auto');
    await vi.advanceTimersByTimeAsync(2_000);
    for (let i = 0; i < 5; i++) {
      s.busy(true);
      s.busy(false);
      await vi.advanceTimersByTimeAsync(2_000);
    }
    expect(calls.filter((c) => c === 'collect')).toHaveLength(1);
    expect(calls.filter((c) => c === 'saver on')).toHaveLength(6);
    await vi.advanceTimersByTimeAsync(60_000);
    s.busy(true);
    s.busy(false);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls.filter((c) => c === 'collect')).toHaveLength(2);
  });

  it('after stop, a pending settle never turns it on and reports change nothing', async () => {
    const { s, calls } = saver('auto');
    await vi.advanceTimersByTimeAsync(1_000);
    s.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    s.busy(true);
    s.busy(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([]);
  });
});

describe('memory saver, auto, with a memory target', () => {
  const MiB = 2 ** 20;
  /** A saver with a 200 MiB target over a resident set the test sets; busy from the start. */
  function targeted(mode: MemorySaverMode = 'auto') {
    const unreachable: number[] = [];
    const memory = { rss: 150 * MiB };
    const made = saver(mode, {
      targetBytes: 200 * MiB,
      rss: () => memory.rss,
      checkEveryMs: 1_000,
      giveUpMs: 60_000,
      backoffMs: 300_000,
      onTargetUnreachable: (bytes) => unreachable.push(bytes / MiB),
    });
    made.s.busy(true);
    return { ...made, memory, unreachable };
  }

  it('turns on while busy once the resident set is above the target, and off again under 90 % of it', async () => {
    const { s, calls, memory, reasons } = targeted();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.active()).toBe(false);
    memory.rss = 201 * MiB;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.active()).toBe(true);
    expect(calls).toEqual(['saver on', 'collect']);
    expect(reasons).toEqual(['target']);
    // Under the target but not under 90 % of it: stays on (no flapping at the line).
    memory.rss = 185 * MiB;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(s.active()).toBe(true);
    memory.rss = 179 * MiB;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.active()).toBe(false);
    expect(calls).toEqual(['saver on', 'collect', 'saver off']);
    // A change reported meanwhile does not turn it off while above the target.
    memory.rss = 230 * MiB;
    await vi.advanceTimersByTimeAsync(1_000);
    s.busy(true);
    expect(s.active()).toBe(true);
  });

  it('stays on when the operator settles and the resident set falls, as the settle rule says', async () => {
    const { s, memory, reasons } = targeted();
    memory.rss = 220 * MiB;
    await vi.advanceTimersByTimeAsync(1_000);
    s.busy(false);
    await vi.advanceTimersByTimeAsync(2_000);
    memory.rss = 120 * MiB;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(s.active()).toBe(true);
    expect(reasons).toEqual(['target']);
    s.busy(true);
    expect(s.active()).toBe(false);
  });

  it('gives a target it cannot reach up for a while, says so, and tries again after the back-off', async () => {
    const { s, memory, unreachable, calls } = targeted();
    memory.rss = 260 * MiB;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.active()).toBe(true);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(s.active()).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.active()).toBe(false);
    expect(unreachable).toEqual([260]);
    await vi.advanceTimersByTimeAsync(298_000);
    expect(s.active()).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(s.active()).toBe(true);
    expect(calls.filter((c) => c === 'collect')).toHaveLength(2);
  });

  it('after reaching the target, a resident set above it again gets a new minute, then is let go', async () => {
    const { s, memory, unreachable } = targeted();
    memory.rss = 230 * MiB;
    await vi.advanceTimersByTimeAsync(1_000);
    memory.rss = 195 * MiB;
    await vi.advanceTimersByTimeAsync(30_000);
    memory.rss = 210 * MiB; // the fleet grew: above the target again, at t = 31 s
    await vi.advanceTimersByTimeAsync(59_000);
    expect(s.active()).toBe(true);
    expect(unreachable).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(s.active()).toBe(false);
    expect(unreachable).toEqual([210]);
  });

  it('reports why the mode went off: the target, or a change after the settle', async () => {
    const { s, memory, changes, reasons } = targeted();
    memory.rss = 230 * MiB;
    await vi.advanceTimersByTimeAsync(1_000);
    memory.rss = 150 * MiB;
    await vi.advanceTimersByTimeAsync(1_000);
    s.busy(false);
    await vi.advanceTimersByTimeAsync(2_000);
    s.busy(true);
    expect(changes).toEqual([true, false, true, false]);
    expect(reasons).toEqual(['target', 'target', 'settled', 'settled']);
  });

  it('off and on ignore the target; stop ends the checks', async () => {
    for (const mode of ['off', 'on'] as const) {
      const { s, memory, calls } = targeted(mode);
      memory.rss = 500 * MiB;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(calls).toEqual(mode === 'on' ? ['saver on', 'collect'] : []);
      s.stop();
    }
    const { s, memory, calls } = targeted();
    s.stop();
    memory.rss = 500 * MiB;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('memory saver, on and off', () => {
  it('on: on from the start, whatever is reported', async () => {
    const { s, calls } = saver('on');
    s.busy(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.active()).toBe(true);
    expect(calls).toEqual(['saver on', 'collect']);
  });

  it("off: never touches the engine's settings", async () => {
    const { s, calls } = saver('off');
    s.busy(true);
    s.busy(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.active()).toBe(false);
    expect(calls).toEqual([]);
  });
});
