import { describe, expect, it } from 'vitest';
import { memoized, memoizedLatest } from '../../src/aws/workload.ts';
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

  it('peek answers only from a loaded entry within the TTL, with when its load began, and never loads', async () => {
    const c = clock(5_000);
    const memo = createTtlMemo({ ttlMs: 1000, now: c.now });
    expect(memo.peek('k')).toBeUndefined();
    let finish: (v: number) => void = () => {};
    const loading = memo.remember('k', () => new Promise<number>((r) => (finish = r)));
    expect(memo.peek('k')).toBeUndefined(); // still loading
    finish(7);
    await loading;
    const hit = memo.peek<number>('k');
    expect(hit?.at).toBe(5_000);
    expect(await hit?.value).toBe(7);
    c.advance(1000);
    expect(memo.peek('k')).toBeUndefined(); // past the TTL
    expect(memo.size()).toBe(1); // and peek dropped or loaded nothing
  });

  it('loadedSince serves what was loaded since a moment even with maxAgeMs 0, and nothing older', async () => {
    const c = clock(10_000);
    const memo = createTtlMemo({ ttlMs: 60_000, now: c.now });
    let loads = 0;
    const load = async () => ++loads;
    await memo.remember('old', load);
    c.advance(500);
    const reconcileBegan = c.now();
    await memo.remember('tags', load, { maxAgeMs: 0 });
    c.advance(30);
    // The confirmation of the same reconcile: its own read stands, the older one is read again.
    expect(await memo.remember('tags', load, { maxAgeMs: 0, loadedSince: reconcileBegan })).toBe(2);
    expect(await memo.remember('old', load, { maxAgeMs: 0, loadedSince: reconcileBegan })).toBe(3);
    // Never past the TTL.
    c.advance(60_000);
    expect(await memo.remember('tags', load, { maxAgeMs: 0, loadedSince: reconcileBegan })).toBe(4);
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

  it("forgets one subject's entries, all or those a match accepts, and nothing of another subject", async () => {
    let loads = 0;
    const memo = createTtlMemo({ ttlMs: 60_000, now: () => 0 });
    const load = async () => ++loads;
    for (const k of ['arn:a|tags', 'arn:a|operations|1', 'arn:ab|tags', 'arn:b|tags', 'plain'])
      await memo.remember(k, load);
    memo.forgetSubject('arn:a', (n) => n.startsWith('arn:a|operations'));
    expect(memo.size()).toBe(4);
    await memo.remember('arn:a|tags', load);
    expect(loads).toBe(5); // still remembered
    memo.forgetSubject('arn:a');
    expect(memo.size()).toBe(3);
    for (const k of ['arn:ab|tags', 'arn:b|tags', 'plain']) await memo.remember(k, load);
    expect(loads).toBe(5); // the others untouched ('arn:ab' is not 'arn:a')
    await memo.remember('arn:a|tags', load);
    expect(loads).toBe(6);
  });

  it('a subject is found through an alias, and its index follows evictions, expiry and failures', async () => {
    let t = 0;
    const memo = createTtlMemo({ ttlMs: 1_000, maxEntries: 2, now: () => t });
    await memo.remember('k1', async () => 'v', { aliases: () => ['arn:x|alias'] });
    memo.forgetSubject('arn:x');
    expect(memo.size()).toBe(0);
    await memo.remember('arn:y|1', async () => 1);
    await memo.remember('arn:y|2', async () => 2);
    await memo.remember('arn:z|1', async () => 3); // evicts arn:y|1
    expect(memo.size()).toBe(2);
    await expect(memo.remember('arn:z|2', async () => Promise.reject(new Error('no')))).rejects.toThrow();
    t = 5_000;
    await memo.remember('arn:w|1', async () => 4); // sweeps the expired ones
    expect(memo.size()).toBe(1);
    // Nothing left behind in the index: forgetting every subject leaves the live entry alone.
    for (const subject of ['arn:x', 'arn:y', 'arn:z']) memo.forgetSubject(subject);
    expect(memo.size()).toBe(1);
    memo.forgetSubject('arn:w');
    expect(memo.size()).toBe(0);
  });
});

describe('memoizedLatest (a Flink application operation history, keyed by version)', () => {
  it('drops the superseded versions of the same resource and nothing else', async () => {
    const memo = createTtlMemo({ ttlMs: 3_600_000, now: () => 0 });
    const options = { memo };
    await memoized(options, 'arn:app/a|tags', async () => 'tags a');
    await memoized(options, 'arn:app/b|operations|1', async () => 'b1');
    await memoizedLatest(options, 'arn:app/a|operations|', '1', async () => 'a1');
    expect(memo.size()).toBe(3);
    // The application changed version: its old history goes, its tags and b's history stay.
    expect(await memoizedLatest(options, 'arn:app/a|operations|', '2', async () => 'a2')).toBe('a2');
    expect(memo.size()).toBe(3);
    // The new version is served from the memo, and so is what stayed.
    expect(await memoizedLatest(options, 'arn:app/a|operations|', '2', async () => 'a2 again')).toBe('a2');
    expect(await memoized(options, 'arn:app/a|tags', async () => 'tags again')).toBe('tags a');
    expect(await memoized(options, 'arn:app/b|operations|1', async () => 'b1 again')).toBe('b1');
  });
});
