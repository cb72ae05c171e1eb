import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/runtime/clock.ts';
import {
  createMemorySaver,
  type MemoryEngine,
  type MemorySaverMode,
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

function saver(mode: MemorySaverMode, overrides: { settleMs?: number; collectEveryMs?: number } = {}) {
  const { calls, engine } = recorder();
  const changes: boolean[] = [];
  const s = createMemorySaver({
    mode,
    clock: systemClock,
    engine,
    settleMs: 2_000,
    collectEveryMs: 60_000,
    ...overrides,
    onChange: (on) => changes.push(on),
  });
  return { s, calls, changes };
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
