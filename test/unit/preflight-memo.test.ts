// The remembered pre-flight: the same inputs are evaluated once; any change in what the verdict
// depends on (the policy text, the key's state, the resource, the context) is evaluated afresh.

import { describe, expect, it } from 'vitest';
import { rememberedPreflight } from '../../src/keys/preflight.ts';
import { keyFacts } from '../fixtures/keys.ts';

const arn = 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';

describe('rememberedPreflight', () => {
  const base = {
    policy: '{"Statement":[]}',
    key: keyFacts(arn),
    resourceArn: 'app/a',
    encryptionContext: {},
  };
  function counted() {
    const seen: string[] = [];
    const check = rememberedPreflight((i: typeof base) => {
      seen.push(`${i.policy}|${i.key.state}|${i.resourceArn}|${JSON.stringify(i.encryptionContext)}`);
      return { ok: i.key.state === 'Enabled' && i.policy.includes('Statement') };
    });
    return { seen, check };
  }

  it('evaluates the same inputs once', () => {
    const { seen, check } = counted();
    expect(check(base)).toEqual({ ok: true });
    expect(check({ ...base })).toEqual({ ok: true });
    expect(seen).toHaveLength(1);
  });

  it.each([
    ['a new policy text', { policy: '{"Statement":[{}]}' }],
    ['a new key state', { key: keyFacts(arn, (k) => ({ ...k, state: 'Disabled' })) }],
    ['another resource', { resourceArn: 'app/b' }],
    ['another encryption context', { encryptionContext: { applicationId: 'x' } }],
  ])('evaluates again for %s', (_n, change) => {
    const { seen, check } = counted();
    check(base);
    check({ ...base, ...change });
    expect(seen).toHaveLength(2);
  });

  it("a disabled key is never answered from the enabled key's verdict", () => {
    const { check } = counted();
    expect(check(base)).toEqual({ ok: true });
    expect(check({ ...base, key: keyFacts(arn, (k) => ({ ...k, state: 'Disabled' })) })).toEqual({
      ok: false,
    });
  });

  it('keeps at most maxEntries entries, the least recently used leaving first', () => {
    const seen: string[] = [];
    const check = rememberedPreflight(
      (i: typeof base) => {
        seen.push(i.resourceArn);
        return { ok: true };
      },
      { maxEntries: 2 },
    );
    for (const r of ['a', 'b', 'a', 'c', 'a', 'b']) check({ ...base, resourceArn: r });
    // 'a' was used again before 'c' came, so 'b' left; then 'b' is evaluated again.
    expect(seen).toEqual(['a', 'b', 'c', 'b']);
  });

  it('a policy text that differs in one character is a new entry', () => {
    const { seen, check } = counted();
    check({ ...base, policy: '{"Statement":[1]}' });
    check({ ...base, policy: '{"Statement":[2]}' });
    expect(seen).toHaveLength(2);
  });

  it('equal verdicts of different workloads are one object', () => {
    const check = rememberedPreflight((i: typeof base) => ({
      ok: true,
      notes: [`service ${i.policy.length}`],
    }));
    const a = check({ ...base, resourceArn: 'app/a' });
    const b = check({ ...base, resourceArn: 'app/b' });
    expect(b).toEqual(a);
    expect(b).toBe(a);
    const c = check({ ...base, resourceArn: 'app/c', policy: '{"Statement":[ ]}' });
    expect(c).not.toBe(a);
  });
});
