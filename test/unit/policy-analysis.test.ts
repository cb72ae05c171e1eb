// The key-policy evaluator (src/keys/policy-analysis.ts) and the policy pre-flight built on it
// (src/keys/preflight.ts): named table cases per condition operator, set prefix, Principal form,
// Action/NotAction, Resource, explicit Deny, account-root delegation and malformed documents; the
// pre-flight of each service against the generated policy and against it with each required
// statement removed; and fast-check properties (never throws; an explicit Deny is never 'allowed').

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyUser } from '../../src/api/kmskey.ts';
import type { KeyFacts } from '../../src/keys/key-facts.ts';
import { generateKeyPolicy, type KeyPolicy, type PolicyStatement } from '../../src/keys/policy.ts';
import {
  type ContextValue,
  evaluateKeyPolicy,
  type KeyPolicyRequest,
  type RequestPrincipal,
} from '../../src/keys/policy-analysis.ts';
import {
  checkServiceCanUseKey,
  keyPolicyPreflight,
  preflightChain,
  preflightCheckNames,
  type ServiceKeyUseInput,
  serviceKmsRequests,
} from '../../src/keys/preflight.ts';
import { serviceRequirements } from '../../src/keys/service-requirements.ts';
import type { PolicyPreflight } from '../../src/reconcile/key-resolution.ts';
import { keyFacts } from '../fixtures/keys.ts';

const account = '111122223333';
const otherAccount = '444455556666';
const region = 'eu-west-1';
const keyArn = `arn:aws:kms:${region}:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const operatorRole = `arn:aws:iam::${account}:role/cmk-operator`;
const operatorSession = `arn:aws:sts::${account}:assumed-role/cmk-operator/reconcile-1`;
const root = `arn:aws:iam::${account}:root`;

// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
const principalAccountVariable = '${aws:PrincipalAccount}';

const operator: RequestPrincipal = { type: 'aws', arn: operatorRole, accountId: account };
const service = (name: string): RequestPrincipal => ({ type: 'service', name });

type Statement = Record<string, unknown>;
const allow = (more: Statement = {}): Statement => ({
  Effect: 'Allow',
  Principal: { AWS: operatorRole },
  Action: 'kms:Decrypt',
  Resource: '*',
  ...more,
});
const policyOf = (...statements: Statement[]) => ({ Version: '2012-10-17', Statement: statements });

function verdict(statements: Statement | Statement[], request: Partial<KeyPolicyRequest> = {}): string {
  const list = Array.isArray(statements) ? statements : [statements];
  return evaluateKeyPolicy(policyOf(...list), {
    principal: operator,
    action: 'kms:Decrypt',
    keyArn,
    context: {},
    ...request,
  }).verdict;
}

// ---- Conditions -------------------------------------------------------------------------------------

const ctx = (context: Record<string, ContextValue>) => ({ context });
const cond = (Condition: Record<string, Record<string, unknown>>) => allow({ Condition });

describe('conditions: each operator, set prefix and IfExists', () => {
  const ok = 'allowed';
  const no = 'not-allowed';
  const via = 'kinesisanalytics.eu-west-1.amazonaws.com';
  // biome-ignore format: one named case per line
  it.each<[string, Statement, { context: Record<string, ContextValue> }, string]>([
    ['StringEquals matches', cond({ StringEquals: { 'kms:ViaService': via } }), ctx({ 'kms:ViaService': via }), ok],
    ['StringEquals is case-sensitive', cond({ StringEquals: { 'kms:ViaService': via.toUpperCase() } }), ctx({ 'kms:ViaService': via }), no],
    ['StringEquals fails on an absent key', cond({ StringEquals: { 'kms:ViaService': via } }), ctx({}), no],
    ['values within a key are OR-ed', cond({ StringEquals: { 'kms:ViaService': ['a', via] } }), ctx({ 'kms:ViaService': via }), ok],
    ['keys are AND-ed', cond({ StringEquals: { 'kms:ViaService': via, 'kms:CallerAccount': account } }), ctx({ 'kms:ViaService': via, 'kms:CallerAccount': otherAccount }), no],
    ['operators are AND-ed', cond({ StringEquals: { 'kms:ViaService': via }, Bool: { 'aws:SecureTransport': 'true' } }), ctx({ 'kms:ViaService': via }), no],
    ['condition key names are case-insensitive', cond({ StringEquals: { 'KMS:VIASERVICE': via } }), ctx({ 'kms:ViaService': via }), ok],
    ['the encryption-context key part is case-sensitive', cond({ StringEquals: { 'kms:EncryptionContext:AppId': 'a' } }), ctx({ 'kms:EncryptionContext:appid': 'a' }), no],
    ['the kms:EncryptionContext: prefix is not', cond({ StringEquals: { 'KMS:ENCRYPTIONCONTEXT:appId': 'a' } }), ctx({ 'kms:EncryptionContext:appId': 'a' }), ok],
    ['StringNotEquals with another value', cond({ StringNotEquals: { 'kms:CallerAccount': otherAccount } }), ctx({ 'kms:CallerAccount': account }), ok],
    ['StringNotEquals with the same value', cond({ StringNotEquals: { 'kms:CallerAccount': account } }), ctx({ 'kms:CallerAccount': account }), no],
    ['StringNotEquals holds on an absent key', cond({ StringNotEquals: { 'kms:CallerAccount': account } }), ctx({}), ok],
    ['StringEqualsIgnoreCase', cond({ StringEqualsIgnoreCase: { 'kms:ViaService': via.toUpperCase() } }), ctx({ 'kms:ViaService': via }), ok],
    ['StringNotEqualsIgnoreCase', cond({ StringNotEqualsIgnoreCase: { 'kms:ViaService': via.toUpperCase() } }), ctx({ 'kms:ViaService': via }), no],
    ['StringLike with *', cond({ StringLike: { 'kms:ViaService': 'cassandra.*.amazonaws.com' } }), ctx({ 'kms:ViaService': 'cassandra.us-west-2.amazonaws.com' }), ok],
    ['StringLike with ?', cond({ StringLike: { 'kms:ViaService': 'cassandra.eu-west-?.amazonaws.com' } }), ctx({ 'kms:ViaService': 'cassandra.eu-west-1.amazonaws.com' }), ok],
    ['StringLike does not match another service', cond({ StringLike: { 'kms:ViaService': 'cassandra.*.amazonaws.com' } }), ctx({ 'kms:ViaService': via }), no],
    ['StringLike treats regex characters literally', cond({ StringLike: { 'kms:ViaService': 'cassandra.(.*)' } }), ctx({ 'kms:ViaService': 'cassandra.x' }), no],
    ['StringNotLike', cond({ StringNotLike: { 'kms:ViaService': 'cassandra.*' } }), ctx({ 'kms:ViaService': via }), ok],
    ['ArnEquals', cond({ ArnEquals: { 'aws:SourceArn': `arn:aws:emr-serverless:${region}:${account}:/applications/00abc` } }), ctx({ 'aws:SourceArn': `arn:aws:emr-serverless:${region}:${account}:/applications/00abc` }), ok],
    ['ArnLike compares part by part', cond({ ArnLike: { 'aws:SourceArn': `arn:aws:emr-serverless:*:${account}:/applications/*` } }), ctx({ 'aws:SourceArn': `arn:aws:emr-serverless:${region}:${account}:/applications/00abc` }), ok],
    ['ArnLike does not let * cross a colon', cond({ ArnLike: { 'aws:SourceArn': `arn:aws:emr-serverless:*:/applications/*` } }), ctx({ 'aws:SourceArn': `arn:aws:emr-serverless:${region}:${account}:/applications/00abc` }), no],
    ['ArnLike never matches a value that is not an ARN', cond({ ArnLike: { 'aws:SourceArn': '*:*:*:*:*:*' } }), ctx({ 'aws:SourceArn': 'not-an-arn' }), no],
    ['ArnNotLike with another account', cond({ ArnNotLike: { 'aws:SourceArn': `arn:aws:*:*:${otherAccount}:*` } }), ctx({ 'aws:SourceArn': `arn:aws:kinesisanalytics:${region}:${account}:application/a` }), ok],
    ['Bool against a boolean', cond({ Bool: { 'kms:GrantIsForAWSResource': 'true' } }), ctx({ 'kms:GrantIsForAWSResource': true }), ok],
    ['Bool against a string, either case', cond({ Bool: { 'kms:GrantIsForAWSResource': 'TRUE' } }), ctx({ 'kms:GrantIsForAWSResource': 'true' }), ok],
    ['Bool false', cond({ Bool: { 'kms:GrantIsForAWSResource': false } }), ctx({ 'kms:GrantIsForAWSResource': true }), no],
    ['Null true: the key is absent', cond({ Null: { 'kms:GrantConstraintType': 'true' } }), ctx({}), ok],
    ['Null true: the key is present', cond({ Null: { 'kms:GrantConstraintType': 'true' } }), ctx({ 'kms:GrantConstraintType': 'EncryptionContextSubset' }), no],
    ['Null false: the key is present', cond({ Null: { 'kms:GrantConstraintType': 'false' } }), ctx({ 'kms:GrantConstraintType': 'EncryptionContextSubset' }), ok],
    ['NumericLessThan', cond({ NumericLessThan: { 'kms:RecipientAttestation:x': '10' } }), ctx({ 'kms:RecipientAttestation:x': 3 }), ok],
    ['NumericGreaterThanEquals at the bound', cond({ NumericGreaterThanEquals: { n: 3 } }), ctx({ n: '3' }), ok],
    ['NumericEquals with a non-number', cond({ NumericEquals: { n: '3' } }), ctx({ n: 'three' }), no],
    ['NumericNotEquals', cond({ NumericNotEquals: { n: '3' } }), ctx({ n: 4 }), ok],
    ['DateGreaterThan', cond({ DateGreaterThan: { 'aws:CurrentTime': '2026-01-01T00:00:00Z' } }), ctx({ 'aws:CurrentTime': '2026-11-23T12:00:00Z' }), ok],
    ['DateLessThan with epoch seconds', cond({ DateLessThan: { 'aws:EpochTime': '1000' } }), ctx({ 'aws:EpochTime': '2000' }), no],
    ['IpAddress in an IPv4 range', cond({ IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }), ctx({ 'aws:SourceIp': '10.1.2.3' }), ok],
    ['IpAddress outside an IPv6 range', cond({ IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }), ctx({ 'aws:SourceIp': '2001:db9::1' }), no],
    ['NotIpAddress holds on an absent key', cond({ NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }), ctx({}), ok],
    ['StringEqualsIfExists holds on an absent key', cond({ StringEqualsIfExists: { 'kms:ViaService': via } }), ctx({}), ok],
    ['StringEqualsIfExists checks a present key', cond({ StringEqualsIfExists: { 'kms:ViaService': via } }), ctx({ 'kms:ViaService': 'x' }), no],
    ['ForAllValues: a subset', cond({ 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt', 'Encrypt'] } }), ctx({ 'kms:GrantOperations': ['Decrypt'] }), ok],
    ['ForAllValues: one value outside the set', cond({ 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } }), ctx({ 'kms:GrantOperations': ['Decrypt', 'Encrypt'] }), no],
    ['ForAllValues: an absent key (the empty set)', cond({ 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } }), ctx({}), ok],
    ['ForAllValues:StringLike', cond({ 'ForAllValues:StringLike': { 'kms:GrantOperations': ['ReEncrypt*', 'Decrypt'] } }), ctx({ 'kms:GrantOperations': ['ReEncryptFrom', 'Decrypt'] }), ok],
    ['ForAnyValue: one value in the set', cond({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'applicationId' } }), ctx({ 'kms:EncryptionContextKeys': ['x', 'applicationId'] }), ok],
    ['ForAnyValue: none in the set', cond({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'applicationId' } }), ctx({ 'kms:EncryptionContextKeys': ['x'] }), no],
    ['ForAnyValue: an absent key', cond({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'applicationId' } }), ctx({}), no],
    ['ForAnyValue:StringNotEquals: one value outside', cond({ 'ForAnyValue:StringNotEquals': { 'kms:GrantOperations': 'Decrypt' } }), ctx({ 'kms:GrantOperations': ['Decrypt', 'Encrypt'] }), ok],
    ['ForAllValues:StringNotEquals: one value inside', cond({ 'ForAllValues:StringNotEquals': { 'kms:GrantOperations': 'Encrypt' } }), ctx({ 'kms:GrantOperations': ['Decrypt', 'Encrypt'] }), no],
    ['ForAllValues:StringEqualsIfExists', cond({ 'ForAllValues:StringEqualsIfExists': { 'kms:GrantOperations': 'Decrypt' } }), ctx({}), ok],
    ['a multi-valued key without a prefix: any value matches', cond({ StringEquals: { 'kms:GrantOperations': 'Encrypt' } }), ctx({ 'kms:GrantOperations': ['Decrypt', 'Encrypt'] }), ok],
    ['an empty value list never matches', cond({ StringEquals: { 'kms:ViaService': [] } }), ctx({ 'kms:ViaService': via }), no],
    ['policy variables are substituted', cond({ StringEquals: { 'aws:SourceAccount': principalAccountVariable } }), ctx({ 'aws:SourceAccount': account, 'aws:PrincipalAccount': account }), ok],
  ])('%s', (_name, statement, request, expected) => {
    expect(verdict(statement, request)).toBe(expected);
  });

  it('policy variables are literal text in 2008-10-17 policies', () => {
    const statement = cond({ StringEquals: { 'aws:SourceAccount': principalAccountVariable } });
    const request = {
      principal: operator,
      action: 'kms:Decrypt',
      context: { 'aws:SourceAccount': account, 'aws:PrincipalAccount': account },
    };
    expect(evaluateKeyPolicy({ Version: '2008-10-17', Statement: [statement] }, request).verdict).toBe(
      'not-allowed',
    );
  });

  it('a not-allowed verdict names the condition that came closest', () => {
    const v = evaluateKeyPolicy(
      policyOf({ ...cond({ StringEquals: { 'kms:ViaService': via } }), Sid: 'ViaFlink' }),
      { principal: operator, action: 'kms:Decrypt', context: { 'kms:ViaService': 'cassandra' } },
    );
    expect(v).toEqual({
      verdict: 'not-allowed',
      reason: `statement ViaFlink does not apply: condition StringEquals kms:ViaService "${via}" does not hold (request: "cassandra")`,
    });
  });
});

// ---- Principals, actions, resources ---------------------------------------------------------------

describe('principals: every form a key policy can take', () => {
  const flink = service('kinesisanalytics.amazonaws.com');
  const rootCaller: RequestPrincipal = { type: 'aws', arn: root, accountId: account };
  const strangerArn = `arn:aws:iam::${otherAccount}:role/stranger`;
  const stranger: RequestPrincipal = { type: 'aws', arn: strangerArn, accountId: otherAccount };
  const session: RequestPrincipal = { type: 'aws', arn: operatorSession, accountId: account };
  // biome-ignore format: one named case per line
  it.each<[string, unknown, RequestPrincipal, string]>([
    ['"*" allows an IAM principal', '*', operator, 'allowed'],
    ['"*" allows a service principal', '*', flink, 'allowed'],
    ['{AWS: "*"} allows a service principal too', { AWS: '*' }, flink, 'allowed'],
    ['{AWS: arn} names the principal', { AWS: operatorRole }, operator, 'allowed'],
    ['{AWS: [arns]} names the principal', { AWS: ['arn:aws:iam::111122223333:user/x', operatorRole] }, operator, 'allowed'],
    ['{AWS: arn} names someone else', { AWS: 'arn:aws:iam::111122223333:user/x' }, operator, 'not-allowed'],
    ['a role matches its assumed-role session', { AWS: operatorRole }, session, 'allowed'],
    ['a role with a path matches its session', { AWS: `arn:aws:iam::${account}:role/platform/cmk-operator` }, session, 'allowed'],
    ['a same-named role in another account does not', { AWS: `arn:aws:iam::${otherAccount}:role/cmk-operator` }, session, 'not-allowed'],
    ['the session ARN itself', { AWS: operatorSession }, session, 'allowed'],
    ['{Service: name}', { Service: 'kinesisanalytics.amazonaws.com' }, flink, 'allowed'],
    ['{Service: [names]}', { Service: ['emr-serverless.amazonaws.com', 'kinesisanalytics.amazonaws.com'] }, flink, 'allowed'],
    ['{Service} is not an IAM principal', { Service: 'kinesisanalytics.amazonaws.com' }, operator, 'not-allowed'],
    ['a similar service name does not match', { Service: 'infrastructure.kinesisanalytics.amazonaws.com' }, flink, 'not-allowed'],
    ['{AWS: arn} is not a service principal', { AWS: operatorRole }, flink, 'not-allowed'],
    ['Federated never makes these calls', { Federated: 'cognito-identity.amazonaws.com' }, operator, 'not-allowed'],
    ['the account root delegates to IAM', { AWS: root }, operator, 'allowed-if-iam-allows'],
    ['the bare account id delegates to IAM', { AWS: account }, operator, 'allowed-if-iam-allows'],
    ['the account root is named directly for the root user', { AWS: root }, rootCaller, 'allowed'],
    ['another account root does not match', { AWS: `arn:aws:iam::${otherAccount}:root` }, operator, 'not-allowed'],
    ['the account root does not cover service principals', { AWS: root }, flink, 'not-allowed'],
    ['a caller from another account also needs its IAM', { AWS: strangerArn }, stranger, 'allowed-if-iam-allows'],
  ])('%s', (_name, Principal, principal, expected) => {
    expect(verdict(allow({ Principal }), { principal })).toBe(expected);
  });

  it('a direct statement wins over the delegating root statement', () => {
    const v = evaluateKeyPolicy(policyOf(allow({ Principal: { AWS: root } }), allow({ Sid: 'Named' })), {
      principal: operator,
      action: 'kms:Decrypt',
      context: {},
    });
    expect(v).toEqual({ verdict: 'allowed', statement: 'Named' });
  });

  // biome-ignore format: one named case per line
  it.each<[string, unknown, RequestPrincipal, string]>([
    ['NotPrincipal allows everyone not listed', { AWS: 'arn:aws:iam::111122223333:user/x' }, operator, 'allowed'],
    ['NotPrincipal excludes the listed principal', { AWS: operatorRole }, operator, 'not-allowed'],
    ['NotPrincipal excludes a listed service', { Service: 'kinesisanalytics.amazonaws.com' }, flink, 'not-allowed'],
  ])('%s', (_name, NotPrincipal, principal, expected) => {
    const { Principal: _p, ...rest } = allow();
    expect(verdict({ ...rest, NotPrincipal }, { principal })).toBe(expected);
  });
});

describe('actions and resources', () => {
  // biome-ignore format: one named case per line
  it.each<[string, Statement, string, string]>([
    ['a single action', allow({ Action: 'kms:Decrypt' }), 'kms:Decrypt', 'allowed'],
    ['a list of actions', allow({ Action: ['kms:Encrypt', 'kms:Decrypt'] }), 'kms:Decrypt', 'allowed'],
    ['another action', allow({ Action: 'kms:Encrypt' }), 'kms:Decrypt', 'not-allowed'],
    ['kms:*', allow({ Action: 'kms:*' }), 'kms:CreateGrant', 'allowed'],
    ['*', allow({ Action: '*' }), 'kms:CreateGrant', 'allowed'],
    ['a prefix wildcard', allow({ Action: 'kms:GenerateDataKey*' }), 'kms:GenerateDataKeyWithoutPlaintext', 'allowed'],
    ['ReEncrypt* covers ReEncryptFrom', allow({ Action: 'kms:ReEncrypt*' }), 'kms:ReEncryptFrom', 'allowed'],
    ['actions are case-insensitive', allow({ Action: 'KMS:decrypt' }), 'kms:Decrypt', 'allowed'],
    ['NotAction allows what it does not list', { ...allow(), Action: undefined, NotAction: 'kms:ScheduleKeyDeletion' }, 'kms:Decrypt', 'allowed'],
    ['NotAction excludes what it lists', { ...allow(), Action: undefined, NotAction: ['kms:Decrypt'] }, 'kms:Decrypt', 'not-allowed'],
    ['NotAction with a wildcard', { ...allow(), Action: undefined, NotAction: 'kms:*' }, 'kms:Decrypt', 'not-allowed'],
    ['Resource naming the key', allow({ Resource: keyArn }), 'kms:Decrypt', 'allowed'],
    ['Resource naming another key', allow({ Resource: `arn:aws:kms:${region}:${account}:key/other` }), 'kms:Decrypt', 'not-allowed'],
    ['Resource with a wildcard', allow({ Resource: `arn:aws:kms:${region}:${account}:key/*` }), 'kms:Decrypt', 'allowed'],
    ['NotResource naming another key', { ...allow(), Resource: undefined, NotResource: 'arn:aws:kms:*:*:key/other' }, 'kms:Decrypt', 'allowed'],
    ['no Resource is read as this key', { ...allow(), Resource: undefined }, 'kms:Decrypt', 'allowed'],
  ])('%s', (_name, statement, action, expected) => {
    expect(verdict(JSON.parse(JSON.stringify(statement)), { action })).toBe(expected);
  });
});

describe('explicit Deny wins', () => {
  const deny = (more: Statement = {}): Statement => ({
    Sid: 'NoDecrypt',
    Effect: 'Deny',
    Principal: '*',
    Action: 'kms:Decrypt',
    Resource: '*',
    ...more,
  });
  // biome-ignore format: one named case per line
  it.each<[string, Statement[], string]>([
    ['over a direct Allow', [allow(), deny()], 'denied-explicitly'],
    ['whatever the order', [deny(), allow()], 'denied-explicitly'],
    ['over the root delegation', [allow({ Principal: { AWS: root } }), deny()], 'denied-explicitly'],
    ['through an account principal, without delegation', [allow(), deny({ Principal: { AWS: root } })], 'denied-explicitly'],
    ['through a wildcard action', [allow(), deny({ Action: 'kms:*' })], 'denied-explicitly'],
    ['through NotAction', [allow(), { ...deny({ NotAction: 'kms:Encrypt' }), Action: undefined }], 'denied-explicitly'],
    ['only when its conditions hold', [allow(), deny({ Condition: { Bool: { 'aws:ViaAWSService': 'true' } } })], 'allowed'],
    ['only for the principals it names', [allow(), deny({ Principal: { AWS: 'arn:aws:iam::111122223333:user/x' } })], 'allowed'],
    ['only for the actions it names', [allow(), deny({ Action: 'kms:Encrypt' })], 'allowed'],
  ])('%s', (_name, statements, expected) => {
    expect(verdict(JSON.parse(JSON.stringify(statements)))).toBe(expected);
  });

  it('names the denying statement', () => {
    expect(
      evaluateKeyPolicy(policyOf(allow(), deny()), {
        principal: operator,
        action: 'kms:Decrypt',
        context: {},
      }),
    ).toEqual({ verdict: 'denied-explicitly', statement: 'NoDecrypt' });
  });
});

describe('document forms and malformed policies', () => {
  const request: KeyPolicyRequest = { principal: operator, action: 'kms:Decrypt', context: {} };
  it('accepts JSON text, an object, and Statement as a single object', () => {
    expect(evaluateKeyPolicy(JSON.stringify(policyOf(allow())), request).verdict).toBe('allowed');
    expect(evaluateKeyPolicy({ Statement: allow() }, request).verdict).toBe('allowed');
    expect(evaluateKeyPolicy({ Statement: [] }, request).verdict).toBe('not-allowed');
  });

  // biome-ignore format: one named case per line
  it.each<[string, unknown, string]>([
    ['text that is not JSON', '{"Statement": [', 'not valid JSON'],
    ['null', null, 'not a JSON object'],
    ['a list', [allow()], 'not a JSON object'],
    ['JSON text of a number', '42', 'not a JSON object'],
    ['no Statement', { Version: '2012-10-17' }, 'has no Statement'],
    ['a Statement that is a string', { Statement: 'allow all' }, 'statement #1 is not an object'],
    ['an Effect in the wrong case', { Statement: [allow({ Effect: 'allow' })] }, 'Effect must be "Allow" or "Deny"'],
    ['both Action and NotAction', { Statement: [allow({ NotAction: 'kms:Encrypt' })] }, 'both Action and NotAction'],
    ['neither Action nor NotAction', { Statement: [{ ...allow(), Action: undefined }] }, 'neither Action nor NotAction'],
    ['no Principal', { Statement: [{ ...allow(), Principal: undefined }] }, 'neither Principal nor NotPrincipal'],
    ['a Principal that is a bare ARN', { Statement: [allow({ Principal: operatorRole })] }, 'Principal must be "*" or an object'],
    ['an unknown principal type', { Statement: [allow({ Principal: { IAM: operatorRole } })] }, "unknown principal type 'IAM'"],
    ['a number as an action', { Statement: [allow({ Action: [7] })] }, 'Action must be a string or a list of strings'],
    ['an empty action list', { Statement: [allow({ Action: [] })] }, 'Action is an empty list'],
    ['an unknown operator', { Statement: [cond({ StringMatches: { a: 'b' } })] }, "unsupported condition operator 'StringMatches'"],
    ['Null with IfExists', { Statement: [cond({ NullIfExists: { a: 'true' } })] }, "unsupported condition operator 'NullIfExists'"],
    ['a set prefix on Null', { Statement: [cond({ 'ForAnyValue:Null': { a: 'true' } })] }, 'unsupported condition operator'],
    ['a condition block that is a string', { Statement: [allow({ Condition: { StringEquals: 'x' } })] }, 'must map keys to values'],
    ['a condition value that is an object', { Statement: [cond({ StringEquals: { a: { b: 1 } } })] }, 'values must be strings'],
    ['a Condition that is a list', { Statement: [allow({ Condition: [] })] }, 'Condition must be an object'],
    ['the statement named by its Sid', { Statement: [allow(), allow({ Sid: 'Broken', Effect: 'Maybe' })] }, 'statement "Broken"'],
  ])('%s is unparseable, saying what is wrong', (_name, document, problem) => {
    const v = evaluateKeyPolicy(
      typeof document === 'string' ? document : JSON.parse(JSON.stringify(document)),
      request,
    );
    expect(v.verdict).toBe('unparseable');
    expect(v.verdict === 'unparseable' && v.problem).toContain(problem);
  });
});

// ---- Pre-flight -------------------------------------------------------------------------------------

const services: KeyUser[] = ['ManagedFlink', 'Keyspaces', 'EmrServerless'];
const workloads: Record<KeyUser, { resourceArn: string; encryptionContext: Record<string, string> }> = {
  ManagedFlink: {
    resourceArn: `arn:aws:kinesisanalytics:${region}:${account}:application/orders`,
    encryptionContext: {
      'aws:kinesisanalytics:arn': `arn:aws:kinesisanalytics:${region}:${account}:application/orders`,
    },
  },
  Keyspaces: {
    resourceArn: `arn:aws:cassandra:${region}:${account}:/keyspace/shop/table/orders`,
    encryptionContext: {
      'aws:cassandra:keyspaceName': 'shop',
      'aws:cassandra:tableName': 'orders',
      'aws:cassandra:subscriberId': account,
    },
  },
  EmrServerless: {
    resourceArn: `arn:aws:emr-serverless:${region}:${account}:/applications/00abc`,
    encryptionContext: { applicationId: '00abc' },
  },
};

/** The policy the operator generates for `svc`, with the operator's role as key user. */
const generated = (svc: KeyUser, opts: { root?: boolean } = {}): KeyPolicy => {
  const p = generateKeyPolicy({ accountId: account, region, services: [svc], keyUsers: [operatorRole] });
  return opts.root === false
    ? { ...p, Statement: p.Statement.filter((s) => s.Sid !== 'EnableIamPolicies') }
    : p;
};
const withoutSid = (p: KeyPolicy, sid: string): KeyPolicy => ({
  ...p,
  Statement: p.Statement.filter((s) => s.Sid !== sid),
});
const mapStatement = (p: KeyPolicy, sid: string, f: (s: PolicyStatement) => PolicyStatement): KeyPolicy => ({
  ...p,
  Statement: p.Statement.map((s) => (s.Sid === sid ? f(s) : s)),
});

const useInput = (svc: KeyUser, policy: KeyPolicy | string, more: Partial<ServiceKeyUseInput> = {}) => ({
  service: svc,
  policy: typeof policy === 'string' ? policy : JSON.stringify(policy),
  keyArn,
  region,
  accountId: account,
  operatorPrincipalArn: operatorSession,
  ...workloads[svc],
  ...more,
});
const check = (svc: KeyUser, policy: KeyPolicy | string, more: Partial<ServiceKeyUseInput> = {}) =>
  checkServiceCanUseKey(useInput(svc, policy, more));

describe('checkServiceCanUseKey', () => {
  it.each(services)('%s: the generated policy passes, with and without the account-root statement', (svc) => {
    expect(check(svc, generated(svc, { root: false }))).toMatchObject({ ok: true });
    expect(check(svc, generated(svc))).toMatchObject({ ok: true });
  });

  const cases = services.flatMap((svc) => serviceRequirements[svc].map((r) => [svc, r.sid] as const));
  it.each(cases)('%s without %s: not ok, naming the statement, its principal and its actions', (svc, sid) => {
    const v = check(svc, withoutSid(generated(svc, { root: false }), sid));
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.reason).toBe('KeyPolicyMissingPermission');
    const requirement = serviceRequirements[svc].find((r) => r.sid === sid)!;
    const principal = requirement.principal === 'keyUsers' ? operatorSession : requirement.principal.service;
    expect(new Set(v.missing.map((m) => m.requirement))).toEqual(new Set([sid]));
    expect(v.missing.map((m) => m.action).sort()).toEqual(requirement.calls.map((c) => c.action).sort());
    for (const m of v.missing) {
      expect(m.principal).toBe(principal);
      // The advice is the generator's own statement, naming the role (not the session).
      expect(m.statementToAdd).toEqual(generated(svc).Statement.find((s) => s.Sid === sid));
    }
    expect(v.message).toContain(`add statement ${sid}`);
    expect(v.message).toContain(principal);
  });

  it.each(
    services.flatMap((svc) =>
      serviceRequirements[svc].filter((r) => r.principal === 'keyUsers').map((r) => [svc, r.sid] as const),
    ),
  )('%s without %s but with the account root: ok, noting that IAM must allow it', (svc, sid) => {
    const v = check(svc, withoutSid(generated(svc), sid));
    expect(v).toMatchObject({ ok: true });
    expect(v.ok && v.notes.join('\n')).toMatch(
      /only through the account principal in statement EnableIamPolicies/,
    );
  });

  it('Managed Flink notes that the IAM side must allow the key too (MSF-010)', () => {
    const v = check('ManagedFlink', generated('ManagedFlink', { root: false }));
    expect(v.ok && v.notes).toEqual([expect.stringContaining('(MSF-010)')]);
  });

  it('Keyspaces pinned to one Region fails: it needs the key from every Region (KS-011)', () => {
    const pinned = mapStatement(
      generated('Keyspaces', { root: false }),
      'KeyspacesKeyUsersViaService',
      (s) => ({
        ...s,
        Condition: { StringEquals: { 'kms:ViaService': `cassandra.${region}.amazonaws.com` } },
      }),
    );
    const v = check('Keyspaces', pinned);
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.missing.map((m) => m.action)).toContain('kms:CreateGrant');
    expect(v.missing[0]!.condition).toMatch(/^via cassandra\.us-west-2\.amazonaws\.com: .*kms:ViaService/);
    expect(v.missing[0]!.condition).not.toContain(`via cassandra.${region}`);
    expect(v.missing[0]!.statementToAdd.Condition).toEqual({
      StringLike: { 'kms:ViaService': 'cassandra.*.amazonaws.com' },
    });
  });

  it('Keyspaces is replayed from the workload Region and two others', () => {
    const vias = new Set(
      serviceKmsRequests(useInput('Keyspaces', '{}')).flatMap((r) => (r.via ? [r.via] : [])),
    );
    expect([...vias]).toEqual([
      'cassandra.eu-west-1.amazonaws.com',
      'cassandra.us-west-2.amazonaws.com',
      'cassandra.ap-southeast-2.amazonaws.com',
    ]);
  });

  it('Managed Flink without infrastructure.kinesisanalytics.amazonaws.com fails naming it (TRAP-07)', () => {
    const p = generated('ManagedFlink');
    const v = check('ManagedFlink', {
      ...p,
      Statement: p.Statement.filter(
        (s) =>
          !(
            'Service' in s.Principal &&
            s.Principal.Service === 'infrastructure.kinesisanalytics.amazonaws.com'
          ),
      ),
    });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(new Set(v.missing.map((m) => m.principal))).toEqual(
      new Set(['infrastructure.kinesisanalytics.amazonaws.com']),
    );
    expect(v.message).toContain('infrastructure.kinesisanalytics.amazonaws.com cannot kms:DescribeKey');
  });

  it('Managed Flink grants for more than Decrypt fail (MSF-009)', () => {
    const v = checkServiceCanUseKey({
      ...useInput('ManagedFlink', generated('ManagedFlink')),
      policy: JSON.stringify(
        mapStatement(generated('ManagedFlink'), 'ManagedFlinkInfrastructureGrants', (s) => ({
          ...s,
          Condition: {
            ...s.Condition,
            StringEquals: { 'kms:GrantConstraintType': 'EncryptionContextEquals' },
          },
        })),
      ),
    });
    expect(v.ok).toBe(false);
    expect(!v.ok && v.missing[0]!.condition).toContain('kms:GrantConstraintType');
  });

  it('EMR Serverless with an encryption-context condition the workload does not send fails (TRAP-14)', () => {
    const scoped = (applicationId: string) =>
      mapStatement(generated('EmrServerless'), 'EmrServerlessServiceDisks', (s) => ({
        ...s,
        Condition: {
          ...s.Condition,
          StringEquals: {
            'aws:SourceAccount': account,
            'kms:EncryptionContext:applicationId': applicationId,
          },
        },
      }));
    expect(check('EmrServerless', scoped('00abc'))).toMatchObject({ ok: true });
    const v = check('EmrServerless', scoped('00zzz'));
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.missing.map((m) => [m.principal, m.action])).toEqual([
      ['emr-serverless.amazonaws.com', 'kms:GenerateDataKey'],
      ['emr-serverless.amazonaws.com', 'kms:Decrypt'],
    ]);
    expect(v.missing[0]!.condition).toContain('kms:EncryptionContext:applicationId');
  });

  it('EMR Serverless scoped to another account’s applications fails on aws:SourceArn', () => {
    const v = check('EmrServerless', generated('EmrServerless'), {
      resourceArn: `arn:aws:emr-serverless:${region}:${otherAccount}:/applications/00abc`,
    });
    expect(!v.ok && v.missing[0]!.condition).toContain('aws:SourceArn');
  });

  it('an explicit Deny is reported with the statement to narrow', () => {
    const p = generated('Keyspaces');
    const v = check('Keyspaces', {
      ...p,
      Statement: [
        ...p.Statement,
        {
          Sid: 'NoGrants',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'kms:CreateGrant',
          Resource: '*',
        },
      ],
    });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.missing).toEqual([
      expect.objectContaining({
        action: 'kms:CreateGrant',
        deniedBy: 'NoGrants',
        requirement: 'KeyspacesKeyUsersViaService',
      }),
    ]);
    expect(v.message).toContain('explicitly denied by statement NoGrants');
  });

  it('a policy naming another role fails for the operator, and the advice names the operator’s role', () => {
    const other = JSON.stringify(generated('EmrServerless', { root: false })).replaceAll(
      operatorRole,
      `arn:aws:iam::${account}:role/someone-else`,
    );
    const v = check('EmrServerless', other);
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.missing.map((m) => m.requirement)).toEqual([
      'EmrServerlessKeyUsersDescribe',
      'EmrServerlessKeyUsersViaService',
      'EmrServerlessKeyUsersViaService',
    ]);
    expect(v.missing[0]!.statementToAdd.Principal).toEqual({ AWS: [operatorRole] });
  });

  it('an unparseable policy fails closed', () => {
    expect(check('Keyspaces', '{"Statement":[{"Effect":"Allow"}]}')).toMatchObject({
      ok: false,
      reason: 'KeyPolicyUnparseable',
      missing: [],
      message: expect.stringContaining('could not be analysed'),
    });
  });
});

describe('preflightChain: the first failure wins, in a fixed order', () => {
  const facts = keyFacts(keyArn);
  const good = JSON.stringify(generated('Keyspaces'));
  const bad = JSON.stringify(
    withoutSid(generated('Keyspaces', { root: false }), 'KeyspacesKeyUsersViaService'),
  );
  const run = (key: Partial<KeyFacts> | undefined, policy: string | undefined) =>
    preflightChain({
      service: 'Keyspaces',
      key: key === undefined ? undefined : { ...facts, ...key },
      reference: 'alias/orders',
      policy,
      region,
      accountId: account,
      operatorPrincipalArn: operatorSession,
      ...workloads.Keyspaces,
    });

  // biome-ignore format: one named case per line
  it.each<[string, Partial<KeyFacts> | undefined, string | undefined, string | undefined]>([
    ['a usable key with a good policy passes', {}, good, undefined],
    ['a missing key', undefined, undefined, 'KeyNotFound'],
    ['pending deletion before disabled (and before the policy)', { state: 'PendingDeletion' }, bad, 'KeyPendingDeletion'],
    ['disabled before the policy', { state: 'Disabled' }, bad, 'KeyDisabled'],
    ['AWS managed before the policy', { keyManager: 'AWS' }, bad, 'KeyNotCustomerManaged'],
    ['asymmetric before the policy', { keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY' }, bad, 'KeyNotSymmetric'],
    ['another Region before the policy', { region: 'us-east-1' }, bad, 'KeyInOtherRegion'],
    ['a usable key with a policy missing a permission', {}, bad, 'KeyPolicyMissingPermission'],
    ['a usable key whose policy was not read', {}, undefined, 'KeyPolicyUnreadable'],
  ])('%s', (_name, key, policy, reason) => {
    const result = run(key, policy);
    if (reason === undefined) expect(result).toMatchObject({ ok: true });
    else expect(result).toMatchObject({ ok: false, reason });
  });

  it('names the failing check, and lists the checks in order', () => {
    expect(run({}, bad)).toMatchObject({ check: 'keyPolicyAllowsService', missing: expect.any(Array) });
    expect(run({ state: 'Disabled' }, bad)).toMatchObject({ check: 'enabled' });
    expect(preflightCheckNames).toEqual([
      'exists',
      'notPendingDeletion',
      'enabled',
      'customerManaged',
      'symmetricEncryption',
      'sameRegion',
      'keyPolicyAllowsService',
    ]);
  });

  it("keyPolicyPreflight fits the reconciler's PolicyPreflight hook", () => {
    const hook: PolicyPreflight = keyPolicyPreflight;
    const input = {
      service: 'Keyspaces' as const,
      key: facts,
      policy: bad,
      region,
      accountId: account,
      operatorPrincipalArn: operatorSession,
      ...workloads.Keyspaces,
    };
    expect(hook(input)).toMatchObject({ ok: false, reason: 'KeyPolicyMissingPermission' });
    expect(hook({ ...input, policy: good })).toMatchObject({ ok: true });
  });

  it('keeps the notes of a passing policy check', () => {
    const result = run({}, JSON.stringify(withoutSid(generated('Keyspaces'), 'KeyspacesKeyUsersViaService')));
    expect(result.ok && result.notes).toEqual([expect.stringContaining('IAM')]);
  });
});

// ---- Properties -------------------------------------------------------------------------------------

const actions = ['kms:Decrypt', 'kms:Encrypt', 'kms:CreateGrant', 'kms:DescribeKey', 'kms:GenerateDataKey'];
const arbPrincipalBlock = fc.oneof(
  fc.constant<unknown>('*'),
  fc.record({ AWS: fc.constantFrom<unknown>('*', operatorRole, root, account, [operatorRole, root]) }),
  fc.record({
    Service: fc.constantFrom<unknown>('kinesisanalytics.amazonaws.com', ['cassandra.amazonaws.com']),
  }),
);
const arbOperator = fc.constantFrom(
  'StringEquals',
  'StringNotEquals',
  'StringLike',
  'StringNotLike',
  'StringEqualsIgnoreCase',
  'ArnLike',
  'ArnNotLike',
  'Bool',
  'Null',
  'NumericLessThan',
  'ForAllValues:StringEquals',
  'ForAnyValue:StringLike',
  'StringEqualsIfExists',
);
const arbKey = fc.constantFrom(
  'kms:ViaService',
  'aws:SourceAccount',
  'kms:GrantOperations',
  'kms:EncryptionContext:a',
);
const arbValue = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom('*', 'true', '3', account, 'cassandra.*'),
);
const arbCondition = fc.dictionary(
  arbOperator,
  fc.dictionary(arbKey, fc.oneof(arbValue, fc.array(arbValue, { maxLength: 3 }))),
  {
    maxKeys: 2,
  },
);
const arbStatement = fc.record(
  {
    Sid: fc.string({ maxLength: 4 }),
    Effect: fc.constantFrom('Allow', 'Deny'),
    Principal: arbPrincipalBlock,
    Action: fc.oneof(
      fc.constantFrom<unknown>(...actions, 'kms:*', 'kms:Gen*'),
      fc.subarray(actions, { minLength: 1 }),
    ),
    Resource: fc.constantFrom<unknown>('*', keyArn, 'arn:aws:kms:*:*:key/other'),
    Condition: arbCondition,
  },
  { requiredKeys: ['Effect', 'Principal', 'Action'] },
);
const arbContext = fc.dictionary(
  arbKey,
  fc.oneof(arbValue, fc.array(arbValue, { maxLength: 3 }), fc.boolean(), fc.integer()),
  { maxKeys: 4 },
);
const arbRequestPrincipal = fc.constantFrom<RequestPrincipal>(
  operator,
  { type: 'aws', arn: operatorSession, accountId: account },
  { type: 'aws', arn: `arn:aws:iam::${otherAccount}:user/x`, accountId: otherAccount },
  service('kinesisanalytics.amazonaws.com'),
);
const verdicts = ['allowed', 'allowed-if-iam-allows', 'denied-explicitly', 'not-allowed', 'unparseable'];

describe('properties', () => {
  it('never throws, whatever the document and the request', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.string(),
          fc.record({ Statement: fc.jsonValue() }),
          fc.array(arbStatement).map((s) => ({ Statement: s })),
        ),
        fc.constantFrom(...actions, 'kms:*', ''),
        arbContext,
        arbRequestPrincipal,
        (doc, action, context, principal) => {
          const v = evaluateKeyPolicy(doc, { principal, action, keyArn, context });
          expect(verdicts).toContain(v.verdict);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a statement list with an explicit, unconditional Deny for an action never allows that action', () => {
    fc.assert(
      fc.property(
        fc.array(arbStatement, { maxLength: 6 }),
        fc.constantFrom(...actions),
        fc.nat(),
        arbContext,
        arbRequestPrincipal,
        (statements, action, at, context, principal) => {
          const deny = { Effect: 'Deny', Principal: '*', Action: action, Resource: '*' };
          const list: unknown[] = [...statements];
          list.splice(at % (list.length + 1), 0, deny);
          const v = evaluateKeyPolicy(
            { Version: '2012-10-17', Statement: list },
            { principal, action, keyArn, context },
          );
          expect(v.verdict).not.toMatch(/^allowed/);
          if (v.verdict !== 'unparseable') expect(v.verdict).toBe('denied-explicitly');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the pre-flight never throws and never passes a policy that denies one of its actions', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...services),
        fc.array(arbStatement, { maxLength: 5 }),
        fc.boolean(),
        fc.constantFrom('kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'),
        (svc, extra, addDeny, denied) => {
          const base = generated(svc);
          const statements = [...base.Statement, ...(extra as unknown as PolicyStatement[])];
          if (addDeny)
            statements.push({
              Sid: 'D',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: denied,
              Resource: '*',
            });
          const v = check(svc, { ...base, Statement: statements });
          if (addDeny) expect(v.ok).toBe(false);
          else expect(typeof v.ok).toBe('boolean');
        },
      ),
      { numRuns: 300 },
    );
  });
});
