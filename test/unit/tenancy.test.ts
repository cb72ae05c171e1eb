import { describe, expect, it } from 'vitest';
import {
  assumeRoleRules,
  keyRefusal,
  parseTenancyRules,
  roleRefusal,
  workloadRefusal,
} from '../../src/keys/tenancy.ts';

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
    [
      'role patterns as a list',
      'namespaces: {a: {allowedRoleArnPatterns: "arn:aws:iam::*"}}',
      'namespaces.a.allowedRoleArnPatterns must be a list of ARN patterns',
    ],
    ['a known top-level field', 'namespace: {}', 'namespace is not a known field (namespaces, roles)'],
    ['roles keyed by role ARN', 'roles: {"arn:aws:iam::111122223333:user/u": {}}', 'must be an IAM role ARN'],
    [
      'an ExternalId STS accepts',
      'roles: {"arn:aws:iam::111122223333:role/r": {externalId: "has space"}}',
      'roles["arn:aws:iam::111122223333:role/r"].externalId must be 2 to 1224 characters',
    ],
    [
      'a known role field',
      'roles: {"arn:aws:iam::111122223333:role/r": {externalID: "abc"}}',
      'externalID is not a known field (externalId, sessionTags)',
    ],
    [
      'sessionTags as a boolean',
      'roles: {"arn:aws:iam::111122223333:role/r": {sessionTags: "no"}}',
      'sessionTags must be true or false',
    ],
  ])('bad files are refused naming the field: %s', (_n, text, message) => {
    expect(() => parseTenancyRules(text)).toThrow(message);
  });
});

describe('tenancy rules for roles', () => {
  const roles = parseTenancyRules(`
namespaces:
  team-a:
    allowedRoleArnPatterns: ["arn:aws:iam::111122223333:role/cmk-team-a-*"]
  locked:
    allowedRoleArnPatterns: []
  "*":
    allowedKeyArnPatterns: ["arn:aws:kms:*:*:key/*"]
roles:
  "arn:aws:iam::111122223333:role/cmk-team-a-orders":
    externalId: "7f0c2e9a-team-a"
  "arn:aws:iam::111122223333:role/legacy":
    sessionTags: false
`);

  it.each([
    ['team-a, its own role', 'team-a', 'arn:aws:iam::111122223333:role/cmk-team-a-orders', true],
    ["team-a, another team's role", 'team-a', 'arn:aws:iam::111122223333:role/cmk-team-b-orders', false],
    [
      'team-a, its role name in another account',
      'team-a',
      'arn:aws:iam::444455556666:role/cmk-team-a-orders',
      false,
    ],
    ['a namespace allowed no role', 'locked', 'arn:aws:iam::111122223333:role/cmk-team-a-orders', false],
    ['the "*" entry without a role list allows any role', 'team-c', 'arn:aws:iam::111122223333:role/x', true],
  ])('%s', (_n, ns, arn, allowed) => {
    expect(roleRefusal(roles, ns, arn) === undefined).toBe(allowed);
  });

  it('says which field to change and where the allow-list lives', () => {
    const message = roleRefusal(roles, 'team-a', 'arn:aws:iam::111122223333:role/admin');
    expect(message).toContain('spec.roleArn');
    expect(message).toContain('cmk-team-a-*');
    expect(message).toContain('namespaces.team-a.allowedRoleArnPatterns in --tenancy-config');
    expect(roleRefusal(roles, 'locked', 'arn:aws:iam::111122223333:role/admin')).toContain('allow no role');
  });

  it('gives each role its ExternalId and session-tag choice; unknown roles get tags and no ExternalId', () => {
    expect(assumeRoleRules(roles, 'arn:aws:iam::111122223333:role/cmk-team-a-orders')).toEqual({
      sessionTags: true,
      externalId: '7f0c2e9a-team-a',
    });
    expect(assumeRoleRules(roles, 'arn:aws:iam::111122223333:role/legacy')).toEqual({ sessionTags: false });
    expect(assumeRoleRules(roles, 'arn:aws:iam::111122223333:role/other')).toEqual({ sessionTags: true });
    expect(assumeRoleRules(undefined, 'arn:aws:iam::111122223333:role/other')).toEqual({ sessionTags: true });
  });
});
