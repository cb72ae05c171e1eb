import { describe, expect, it } from 'vitest';
import { createTtlMemo } from '../../src/runtime/ttl-memo.ts';

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('createTtlMemo', () => {
  it('serves a value while younger than the TTL and loads again after', async () => {
    const c = clock();
    const memo = createTtlMemo({ ttlMs: 1000, now: c.now });
    let loads = 0;
    const load = async () => ++loads;
    expect(await memo.remember('k', load)).toBe(1);
    c.advance(999);
    expect(await memo.remember('k', load)).toBe(1);
    c.advance(1);
    expect(await memo.remember('k', load)).toBe(2);
  });

  it('drops entries never asked for again once their TTL passed (memory for one TTL, not forever)', async () => {
    const c = clock();
    const memo = createTtlMemo({ ttlMs: 1000, maxEntries: 100_000, now: c.now });
    // A fleet whose resources change version: each version's history is read once, then superseded.
    for (let version = 0; version < 50; version++) {
      for (let r = 0; r < 100; r++)
        await memo.remember(`res-${r}|operations|${version}`, async () => version);
      c.advance(250);
    }
    // Only the loads of the last TTL (4 rounds of 100) are held, not 5,000.
    expect(memo.size()).toBeLessThanOrEqual(500);
    expect(memo.size()).toBeGreaterThanOrEqual(300);
  });

  it('keeps an entry still loading, however old, and shares it', async () => {
    const c = clock();
    const memo = createTtlMemo({ ttlMs: 1000, now: c.now });
    let release: (v: string) => void = () => {};
    const slow = memo.remember('slow', () => new Promise<string>((r) => (release = r)));
    c.advance(5000);
    await memo.remember('other', async () => 'x');
    // Still held: joining it does not start a second load.
    const joined = memo.remember('slow', async () => 'second load');
    release('first load');
    expect(await slow).toBe('first load');
    expect(await joined).toBe('first load');
  });

  it('holds at most maxEntries, the least recently loaded dropped first', async () => {
    const memo = createTtlMemo({ ttlMs: 60_000, maxEntries: 3, now: () => 0 });
    for (const k of ['a', 'b', 'c', 'd']) await memo.remember(k, async () => k);
    expect(memo.size()).toBe(3);
    let loaded = false;
    await memo.remember('a', async () => {
      loaded = true;
      return 'a';
    });
    expect(loaded).toBe(true);
  });

  it('never remembers a failed load', async () => {
    const memo = createTtlMemo({ ttlMs: 60_000, now: () => 0 });
    await expect(memo.remember('k', async () => Promise.reject(new Error('throttled')))).rejects.toThrow();
    expect(memo.size()).toBe(0);
    expect(await memo.remember('k', async () => 'ok')).toBe('ok');
  });

  it('forgets entries by key or alias', async () => {
    const memo = createTtlMemo({ ttlMs: 60_000, now: () => 0 });
    await memo.remember('alias/orders', async () => 'arn:key/1', { aliases: (v) => [v] });
    await memo.remember('other', async () => 'x');
    memo.forget((name) => name === 'arn:key/1');
    expect(memo.size()).toBe(1);
  });
});
