import { describe, expect, it } from 'vitest';
import { keyRefusal, parseTenancyRules, workloadRefusal } from '../../src/keys/tenancy.ts';

const rules = parseTenancyRules(`
namespaces:
  team-a:
    allowedKeyArnPatterns: ["arn:aws:kms:eu-west-1:111122223333:key/*"]
    allowedWorkloadArnPatterns: ["arn:aws:kinesisanalytics:eu-west-1:111122223333:application/team-a-*"]
  "*":
    allowedKeyArnPatterns: ["arn:aws:kms:*:444455556666:key/*"]
`);

describe('tenancy rules', () => {
  it.each([
    ['team-a, a key in its Region and account', 'team-a', 'arn:aws:kms:eu-west-1:111122223333:key/abc', true],
    ['team-a, a key in another Region', 'team-a', 'arn:aws:kms:us-east-1:111122223333:key/abc', false],
    ['another namespace falls back to *', 'team-b', 'arn:aws:kms:us-east-1:444455556666:key/abc', true],
    ['another namespace, a key outside *', 'team-b', 'arn:aws:kms:us-east-1:111122223333:key/abc', false],
  ])('%s', (_n, ns, arn, allowed) => {
    expect(keyRefusal(rules, ns, arn) === undefined).toBe(allowed);
  });

  it('limits workloads by ARN pattern, with a message naming the allowed patterns', () => {
    expect(
      workloadRefusal(
        rules,
        'team-a',
        'arn:aws:kinesisanalytics:eu-west-1:111122223333:application/team-a-orders',
      ),
    ).toBeUndefined();
    expect(
      workloadRefusal(
        rules,
        'team-a',
        'arn:aws:kinesisanalytics:eu-west-1:111122223333:application/payments',
      ),
    ).toContain('team-a-*');
    expect(workloadRefusal(rules, 'team-b', 'anything')).toBeUndefined();
  });

  it('treats regex characters in patterns literally', () => {
    const r = parseTenancyRules('namespaces: {x: {allowedKeyArnPatterns: ["arn:aws:kms:eu-west-1:1.*"]}}');
    expect(keyRefusal(r, 'x', 'arn:aws:kms:eu-west-1:1x')).toBeDefined();
  });

  it.each([
    [
      'a list of strings',
      'namespaces: {a: {allowedKeyArnPatterns: "arn:*"}}',
      'namespaces.a.allowedKeyArnPatterns',
    ],
    ['a known field', 'namespaces: {a: {allowedKeys: []}}', 'namespaces.a.allowedKeys is not a known field'],
    ['a mapping of namespaces', 'namespaces: [a]', '"namespaces" must map'],
  ])('bad files are refused naming the field: %s', (_n, text, message) => {
    expect(() => parseTenancyRules(text)).toThrow(message);
  });
});
