// The remembered pre-flight: the same inputs are evaluated once; any change in what the verdict
// depends on (the policy text, the key's state, the resource and context when the policy reads them)
// is evaluated afresh.

import { describe, expect, it } from 'vitest';
import { generateKeyPolicy } from '../../src/keys/policy.ts';
import { keyPolicyPreflight, policyReadsResource, rememberedPreflight } from '../../src/keys/preflight.ts';
import { keyFacts } from '../fixtures/keys.ts';

const arn = 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';

/** A policy whose one statement is conditioned on `key` (or names `${variable}` in a value). */
const conditioned = (key: string, value = 'x') =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'kms:*',
        Resource: '*',
        Condition: { StringEquals: { [key]: value } },
      },
    ],
  });
/** An IAM policy variable (not a template placeholder). */
const sourceArnVariable = ['$', '{aws:SourceArn}'].join('');
/** A policy that reads the resource. */
const readsResource = conditioned('aws:SourceArn', 'app/a');

describe('rememberedPreflight', () => {
  const base = {
    policy: readsResource,
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
    ['a new policy text', { policy: conditioned('aws:SourceArn', 'app/b') }],
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

  it('shares one verdict among resources when the policy reads nothing of the resource', () => {
    const { seen, check } = counted();
    const shared = {
      ...base,
      policy: conditioned('kms:ViaService', 'kinesisanalytics.eu-west-1.amazonaws.com'),
    };
    check(shared);
    check({ ...shared, resourceArn: 'app/b', encryptionContext: { applicationId: 'b' } });
    expect(seen).toHaveLength(1);
    // The key's state is still its own entry.
    check({ ...shared, resourceArn: 'app/b', key: keyFacts(arn, (k) => ({ ...k, state: 'Disabled' })) });
    expect(seen).toHaveLength(2);
  });

  it.each([
    ['aws:SourceArn', conditioned('aws:SourceArn')],
    ['an encryption context pair', conditioned('kms:EncryptionContext:aws:cassandra:tableName', 'orders')],
    ['the encryption context keys', conditioned('kms:EncryptionContextKeys', 'applicationId')],
    ['a policy variable naming the resource', conditioned('aws:PrincipalTag/app', sourceArnVariable)],
  ])('judges each resource apart when the policy reads %s', (_n, policy) => {
    const { seen, check } = counted();
    check({ ...base, policy });
    check({ ...base, policy, resourceArn: 'app/b' });
    check({ ...base, policy, resourceArn: 'app/b', encryptionContext: { applicationId: 'b' } });
    expect(seen).toHaveLength(3);
  });

  it('never answers a table the policy shuts out from the verdict of a table it lets in', () => {
    // The policy the operator generates for Keyspaces, with every statement narrowed to the table
    // `orders` (Keyspaces names the table in its encryption context).
    const generated = generateKeyPolicy({
      accountId: '111122223333',
      region: 'us-east-1',
      partition: 'aws',
      services: ['Keyspaces'],
      keyUsers: ['arn:aws:iam::111122223333:role/cmk-operator'],
    });
    const policy = JSON.stringify({
      ...generated,
      Statement: generated.Statement.map((st) => ({
        ...st,
        Condition: {
          ...(st.Condition ?? {}),
          StringEqualsIfExists: { 'kms:EncryptionContext:aws:cassandra:tableName': 'orders' },
        },
      })),
    });
    const check = rememberedPreflight(keyPolicyPreflight);
    const table = (name: string) => ({
      service: 'Keyspaces' as const,
      policy,
      key: keyFacts('arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'),
      region: 'us-east-1',
      accountId: '111122223333',
      operatorPrincipalArn: 'arn:aws:iam::111122223333:role/cmk-operator',
      resourceArn: `arn:aws:cassandra:us-east-1:111122223333:/keyspace/app/table/${name}`,
      encryptionContext: {
        'aws:cassandra:keyspaceName': 'app',
        'aws:cassandra:tableName': name,
        'aws:cassandra:subscriberId': '111122223333',
      },
    });
    expect(check(table('orders')).ok).toBe(true);
    expect(check(table('payments')).ok).toBe(false);
    expect(check(table('orders')).ok).toBe(true);
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

describe('policyReadsResource', () => {
  it('reads condition keys case-insensitively, and variables only where the document substitutes them', () => {
    expect(policyReadsResource(conditioned('AWS:SOURCEARN'))).toBe(true);
    expect(policyReadsResource(conditioned('kms:CallerAccount', '111122223333'))).toBe(false);
    const legacy = conditioned('aws:PrincipalTag/app', sourceArnVariable).replace('2012-10-17', '2008-10-17');
    expect(policyReadsResource(legacy)).toBe(false);
    expect(policyReadsResource('not json')).toBe(false);
  });
});
