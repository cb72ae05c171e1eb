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

  it('keeps a bounded number of policy texts', () => {
    const seen: string[] = [];
    const check = rememberedPreflight(
      (i: typeof base) => {
        seen.push(i.policy);
        return { ok: true };
      },
      { maxPolicies: 2 },
    );
    for (const p of ['p1', 'p2', 'p3', 'p1']) check({ ...base, policy: p });
    // p1 was the oldest when p3 came: evaluated again.
    expect(seen).toEqual(['p1', 'p2', 'p3', 'p1']);
  });
});
