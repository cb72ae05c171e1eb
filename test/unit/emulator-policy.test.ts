// Key-policy evaluation as pure functions (emulator/policy.ts): condition operators with their set
// prefixes and IfExists, condition-key lookup, principal matching and IAM delegation, explicit Deny,
// the reasons given for a denial, policy validation, and the service-use checks.

import { describe, expect, it } from 'vitest';
import {
  type AuthRequest,
  arnMatch,
  contextValue,
  evaluateCondition,
  evaluateKeyPolicy,
  likeMatch,
  type PolicyDocument,
  PolicyParseError,
  parseKeyPolicy,
  parseOperator,
  type RequestPrincipal,
  serviceUseDenied,
  serviceUses,
} from '../../emulator/policy.ts';

const account = '111122223333';
const keyArn = `arn:aws:kms:us-east-1:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

describe('parseOperator', () => {
  it('splits set prefixes and IfExists and rejects unknown operators', () => {
    expect(parseOperator('StringEquals')).toEqual({ base: 'StringEquals', ifExists: false });
    expect(parseOperator('ForAllValues:StringLike')).toEqual({
      base: 'StringLike',
      set: 'ForAllValues',
      ifExists: false,
    });
    expect(parseOperator('ForAnyValue:StringEqualsIfExists')).toEqual({
      base: 'StringEquals',
      set: 'ForAnyValue',
      ifExists: true,
    });
    expect(parseOperator('NumericLessThanEqualsIfExists')).toEqual({
      base: 'NumericLessThanEquals',
      ifExists: true,
    });
    expect(parseOperator('StringSortOf')).toBeUndefined();
    expect(parseOperator('NullIfExists')).toBeUndefined();
  });
});

describe('evaluateCondition', () => {
  const ctx = {
    'kms:ViaService': 'cassandra.us-east-1.amazonaws.com',
    'kms:EncryptionContext:tenant': 'Acme',
    'kms:EncryptionContextKeys': ['tenant', 'table'],
    'kms:GrantOperations': ['Decrypt', 'RetireGrant'],
    'kms:RotationPeriodInDays': '180',
    'kms:GrantIsForAWSResource': 'true',
    'aws:SourceArn': 'arn:aws:emr-serverless:us-east-1:111122223333:/applications/00abc',
    'aws:PrincipalArn': 'arn:aws:iam::111122223333:role/app',
    'aws:CurrentTime': '2026-11-23T12:00:00Z',
  };
  const ok = (op: string, key: string, value: unknown) => evaluateCondition(op, key, value, ctx);

  it('StringEquals, StringNotEquals and the IgnoreCase variants', () => {
    expect(ok('StringEquals', 'kms:EncryptionContext:tenant', 'Acme')).toBe(true);
    expect(ok('StringEquals', 'kms:EncryptionContext:tenant', 'acme')).toBe(false);
    expect(ok('StringEquals', 'kms:EncryptionContext:tenant', ['x', 'Acme'])).toBe(true); // values are ORed
    expect(ok('StringEqualsIgnoreCase', 'kms:EncryptionContext:tenant', 'ACME')).toBe(true);
    expect(ok('StringNotEquals', 'kms:EncryptionContext:tenant', 'Other')).toBe(true);
    expect(ok('StringNotEquals', 'kms:EncryptionContext:tenant', ['Other', 'Acme'])).toBe(false); // matches none
    expect(ok('StringNotEqualsIgnoreCase', 'kms:EncryptionContext:tenant', 'acme')).toBe(false);
  });

  it('StringLike and StringNotLike with * and ? wildcards', () => {
    expect(ok('StringLike', 'kms:ViaService', 'cassandra.*.amazonaws.com')).toBe(true);
    expect(ok('StringLike', 'kms:ViaService', 'kinesisanalytics.*.amazonaws.com')).toBe(false);
    expect(ok('StringLike', 'kms:ViaService', 'cassandra.us-east-?.amazonaws.com')).toBe(true);
    expect(ok('StringEquals', 'kms:ViaService', 'cassandra.*.amazonaws.com')).toBe(false); // no wildcards in Equals
    expect(ok('StringNotLike', 'kms:ViaService', 'kinesisanalytics.*')).toBe(true);
  });

  it('ArnLike/ArnEquals compare ARN segments with wildcards; ArnNotLike negates', () => {
    expect(
      ok('ArnLike', 'aws:SourceArn', 'arn:aws:emr-serverless:us-east-1:111122223333:/applications/*'),
    ).toBe(true);
    expect(ok('ArnLike', 'aws:SourceArn', 'arn:aws:emr-serverless:*:*:/applications/*')).toBe(true);
    expect(
      ok('ArnEquals', 'aws:SourceArn', 'arn:aws:emr-serverless:us-east-1:999988887777:/applications/*'),
    ).toBe(false);
    expect(ok('ArnNotLike', 'aws:SourceArn', 'arn:aws:emr-serverless:*:999988887777:*')).toBe(true);
    expect(arnMatch('arn:aws:iam::*:role/app', 'arn:aws:iam::111122223333:role/app')).toBe(true);
    expect(arnMatch('arn:aws:iam::*:role/app', 'not-an-arn')).toBe(false);
  });

  it('Numeric and Date comparisons', () => {
    expect(ok('NumericLessThanEquals', 'kms:RotationPeriodInDays', '180')).toBe(true);
    expect(ok('NumericLessThan', 'kms:RotationPeriodInDays', 180)).toBe(false);
    expect(ok('NumericGreaterThanEquals', 'kms:RotationPeriodInDays', '90')).toBe(true);
    expect(ok('NumericGreaterThan', 'kms:RotationPeriodInDays', '365')).toBe(false);
    expect(ok('NumericEquals', 'kms:RotationPeriodInDays', '180')).toBe(true);
    expect(ok('NumericNotEquals', 'kms:RotationPeriodInDays', '180')).toBe(false);
    expect(ok('NumericEquals', 'kms:RotationPeriodInDays', 'abc')).toBe(false);
    expect(ok('DateLessThan', 'aws:CurrentTime', '2027-01-01T00:00:00Z')).toBe(true);
    expect(ok('DateGreaterThan', 'aws:CurrentTime', '2027-01-01T00:00:00Z')).toBe(false);
  });

  it('Bool and Null', () => {
    expect(ok('Bool', 'kms:GrantIsForAWSResource', 'true')).toBe(true);
    expect(ok('Bool', 'kms:GrantIsForAWSResource', true)).toBe(true);
    expect(ok('Bool', 'kms:GrantIsForAWSResource', 'false')).toBe(false);
    expect(ok('Null', 'kms:ViaService', 'false')).toBe(true);
    expect(ok('Null', 'kms:ViaService', 'true')).toBe(false);
    expect(ok('Null', 'aws:SourceAccount', 'true')).toBe(true);
  });

  it('a missing key fails positive operators and satisfies negated ones; IfExists makes it pass', () => {
    expect(ok('StringEquals', 'aws:SourceAccount', account)).toBe(false);
    expect(ok('StringNotEquals', 'aws:SourceAccount', account)).toBe(true);
    expect(ok('ArnNotLike', 'aws:SourceAccount', 'arn:*')).toBe(true);
    expect(ok('StringEqualsIfExists', 'aws:SourceAccount', account)).toBe(true);
    expect(ok('StringEqualsIfExists', 'kms:ViaService', 'kinesisanalytics.us-east-1.amazonaws.com')).toBe(
      false,
    );
  });

  it('ForAllValues: every request value must match; an empty or missing set passes', () => {
    expect(
      ok('ForAllValues:StringEquals', 'kms:GrantOperations', ['Decrypt', 'RetireGrant', 'Encrypt']),
    ).toBe(true);
    expect(ok('ForAllValues:StringEquals', 'kms:GrantOperations', ['Decrypt'])).toBe(false);
    expect(ok('ForAllValues:StringEquals', 'kms:Missing', ['Decrypt'])).toBe(true);
    expect(evaluateCondition('ForAllValues:StringEquals', 'k', ['a'], { k: [] })).toBe(true);
    expect(ok('ForAllValues:StringNotEquals', 'kms:GrantOperations', ['Encrypt'])).toBe(true);
    expect(ok('ForAllValues:StringNotEquals', 'kms:GrantOperations', ['Decrypt'])).toBe(false);
  });

  it('ForAnyValue: one request value must match; a missing set fails', () => {
    expect(ok('ForAnyValue:StringEquals', 'kms:EncryptionContextKeys', 'table')).toBe(true);
    expect(ok('ForAnyValue:StringEquals', 'kms:EncryptionContextKeys', 'region')).toBe(false);
    expect(ok('ForAnyValue:StringLike', 'kms:EncryptionContextKeys', 'ta*')).toBe(true);
    expect(ok('ForAnyValue:StringEquals', 'kms:Missing', 'x')).toBe(false);
  });

  it('a single-valued operator on a multi-valued key matches when any value does', () => {
    expect(ok('StringEquals', 'kms:GrantOperations', 'Decrypt')).toBe(true);
    expect(ok('StringNotEquals', 'kms:GrantOperations', 'Decrypt')).toBe(false);
  });

  it('substitutes policy variables from the request', () => {
    const c = {
      'aws:PrincipalArn': 'arn:aws:iam::111122223333:role/app',
      'kms:EncryptionContext:owner': 'arn:aws:iam::111122223333:role/app',
    };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
    expect(evaluateCondition('StringEquals', 'kms:EncryptionContext:owner', '${aws:PrincipalArn}', c)).toBe(
      true,
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
    expect(evaluateCondition('StringEquals', 'kms:EncryptionContext:owner', '${aws:SourceArn}', c)).toBe(
      false,
    );
  });

  it('unknown operators never hold', () => {
    expect(ok('StringSortOf', 'kms:ViaService', 'x')).toBe(false);
  });
});

describe('contextValue', () => {
  it('condition key names are case-insensitive; the encryption-context key part is not', () => {
    const c = { 'kms:ViaService': 'x', 'kms:EncryptionContext:Tenant': 'a' };
    expect(contextValue(c, 'KMS:viaservice')).toEqual(['x']);
    expect(contextValue(c, 'kms:encryptioncontext:Tenant')).toEqual(['a']);
    expect(contextValue(c, 'kms:EncryptionContext:tenant')).toBeUndefined();
  });

  it('likeMatch treats regex metacharacters literally', () => {
    expect(likeMatch('a.b', 'axb')).toBe(false);
    expect(likeMatch('a.b', 'a.b')).toBe(true);
    expect(likeMatch('kms:Generate*', 'kms:generatedatakey', true)).toBe(true);
  });
});

const user = (arn: string, iamAllow?: string[], accountId = account): RequestPrincipal => ({
  kind: 'aws',
  arn,
  accountId,
  iamAllow,
});
const svc = (service: string): RequestPrincipal => ({ kind: 'service', service });

function decide(policy: PolicyDocument, principal: RequestPrincipal, action: string, context = {}) {
  const request: AuthRequest = { principal, action, resource: keyArn, context };
  return evaluateKeyPolicy(policy, request);
}

describe('evaluateKeyPolicy', () => {
  const root: PolicyDocument['Statement'][number] = {
    Sid: 'Root',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${account}:root` },
    Action: 'kms:*',
    Resource: '*',
  };

  it('the account principal matches every principal of the account and delegates to IAM', () => {
    const p = { Statement: [root] };
    expect(decide(p, user(`arn:aws:iam::${account}:root`), 'kms:Decrypt').effect).toBe('Allow');
    expect(decide(p, user(`arn:aws:iam::${account}:user/a`, ['kms:*']), 'kms:Decrypt').effect).toBe('Allow');
    const d = decide(p, user(`arn:aws:iam::${account}:user/a`, ['kms:Encrypt']), 'kms:Decrypt');
    expect(d).toMatchObject({ effect: 'ImplicitDeny', iamDenied: true });
    expect(d.reason).toContain('delegates to IAM');
    expect(
      decide(p, user('arn:aws:iam::999988887777:user/a', ['kms:*'], '999988887777'), 'kms:Decrypt').effect,
    ).toBe('ImplicitDeny');
    // A bare account id means the same as the root ARN.
    expect(
      decide(
        { Statement: [{ ...root, Principal: { AWS: account } }] },
        user(`arn:aws:iam::${account}:user/a`, ['kms:*']),
        'kms:Decrypt',
      ).effect,
    ).toBe('Allow');
  });

  it('a named principal needs no IAM allowance in its own account; sessions match their role', () => {
    const p = {
      Statement: [
        {
          Effect: 'Allow' as const,
          Principal: { AWS: [`arn:aws:iam::${account}:role/app`] },
          Action: 'kms:Decrypt',
          Resource: '*',
        },
      ],
    };
    const session: RequestPrincipal = {
      kind: 'aws',
      arn: `arn:aws:sts::${account}:assumed-role/app/s1`,
      accountId: account,
      iamAllow: [],
      roleArn: `arn:aws:iam::${account}:role/app`,
    };
    expect(decide(p, session, 'kms:Decrypt').effect).toBe('Allow');
    expect(decide(p, session, 'kms:Encrypt').reason).toContain('no statement allows');
  });

  it('a principal of another account needs its own IAM allowance even when named', () => {
    const partner = 'arn:aws:iam::999988887777:user/p';
    const p = {
      Statement: [
        { Effect: 'Allow' as const, Principal: { AWS: partner }, Action: 'kms:Decrypt', Resource: '*' },
      ],
    };
    expect(decide(p, user(partner, ['kms:Decrypt'], '999988887777'), 'kms:Decrypt').effect).toBe('Allow');
    expect(decide(p, user(partner, [], '999988887777'), 'kms:Decrypt')).toMatchObject({
      effect: 'ImplicitDeny',
      iamDenied: true,
    });
  });

  it('service principals match Service entries and "*", never the account principal', () => {
    const p = {
      Statement: [
        root,
        {
          Effect: 'Allow' as const,
          Principal: { Service: ['emr-serverless.amazonaws.com'] },
          Action: 'kms:Decrypt',
          Resource: '*',
        },
      ],
    };
    expect(decide(p, svc('emr-serverless.amazonaws.com'), 'kms:Decrypt').effect).toBe('Allow');
    expect(decide(p, svc('emr-serverless.amazonaws.com'), 'kms:Encrypt').effect).toBe('ImplicitDeny');
    expect(decide(p, svc('cassandra.amazonaws.com'), 'kms:Decrypt').effect).toBe('ImplicitDeny');
    expect(
      decide({ Statement: [{ ...root, Principal: '*' }] }, svc('cassandra.amazonaws.com'), 'kms:Decrypt')
        .effect,
    ).toBe('Allow');
  });

  it('an explicit Deny wins, and applies to the whole account without IAM delegation', () => {
    const p = {
      Statement: [
        root,
        {
          Sid: 'NoDelete',
          Effect: 'Deny' as const,
          Principal: { AWS: `arn:aws:iam::${account}:root` },
          Action: ['kms:ScheduleKeyDeletion', 'kms:Disable*'],
          Resource: '*',
        },
      ],
    };
    const d = decide(p, user(`arn:aws:iam::${account}:user/a`, ['kms:*']), 'kms:DisableKey');
    expect(d).toMatchObject({ effect: 'ExplicitDeny', statement: '"NoDelete"' });
    expect(decide(p, user(`arn:aws:iam::${account}:user/a`, []), 'kms:ScheduleKeyDeletion').effect).toBe(
      'ExplicitDeny',
    );
    expect(decide(p, user(`arn:aws:iam::${account}:user/a`, ['kms:*']), 'kms:EnableKey').effect).toBe(
      'Allow',
    );
  });

  it('a Deny whose condition does not hold does not deny', () => {
    const p = {
      Statement: [
        root,
        {
          Effect: 'Deny' as const,
          Principal: '*',
          Action: 'kms:*',
          Resource: '*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    };
    expect(
      decide(p, user(`arn:aws:iam::${account}:root`), 'kms:Decrypt', { 'aws:SecureTransport': 'true' })
        .effect,
    ).toBe('Allow');
  });

  it('NotAction, NotPrincipal and Resource are honoured', () => {
    const p = {
      Statement: [
        { Effect: 'Allow' as const, Principal: '*', NotAction: 'kms:ScheduleKeyDeletion', Resource: keyArn },
        {
          Effect: 'Allow' as const,
          Principal: '*',
          Action: 'kms:ScheduleKeyDeletion',
          Resource: 'arn:aws:kms:*:*:key/other',
        },
      ],
    };
    const a = user(`arn:aws:iam::${account}:user/a`, []);
    expect(decide(p, a, 'kms:Decrypt').effect).toBe('Allow');
    expect(decide(p, a, 'kms:ScheduleKeyDeletion').effect).toBe('ImplicitDeny');
    const np = {
      Statement: [
        {
          Effect: 'Deny' as const,
          NotPrincipal: { AWS: `arn:aws:iam::${account}:user/admin` },
          Action: 'kms:PutKeyPolicy',
          Resource: '*',
        },
        root,
      ],
    };
    expect(decide(np, user(`arn:aws:iam::${account}:user/admin`, ['kms:*']), 'kms:PutKeyPolicy').effect).toBe(
      'Allow',
    );
    expect(decide(np, user(`arn:aws:iam::${account}:user/a`, ['kms:*']), 'kms:PutKeyPolicy').effect).toBe(
      'ExplicitDeny',
    );
  });

  it('explains the closest statement whose condition failed', () => {
    const p = {
      Statement: [
        {
          Sid: 'ViaFlink',
          Effect: 'Allow' as const,
          Principal: { AWS: `arn:aws:iam::${account}:role/op` },
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': 'kinesisanalytics.us-east-1.amazonaws.com' } },
        },
      ],
    };
    const d = decide(p, user(`arn:aws:iam::${account}:role/op`, ['kms:*']), 'kms:Decrypt');
    expect(d.reason).toBe(
      'statement "ViaFlink" does not apply: condition StringEquals kms:ViaService "kinesisanalytics.us-east-1.amazonaws.com" (request value: absent from the request)',
    );
  });
});

describe('parseKeyPolicy', () => {
  it('accepts a single statement object and a list', () => {
    const one = parseKeyPolicy(
      JSON.stringify({ Statement: { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' } }),
    );
    expect(one.Statement).toHaveLength(1);
  });

  it.each([
    ['not JSON', '{'],
    ['no statement', '{"Version":"2012-10-17"}'],
    ['a bad version', '{"Version":"2020-01-01","Statement":[]}'],
    [
      'a bad effect',
      JSON.stringify({ Statement: [{ Effect: 'Permit', Principal: '*', Action: 'kms:*', Resource: '*' }] }),
    ],
    ['no principal', JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] })],
    ['no resource', JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*' }] })],
    [
      'a bad principal',
      JSON.stringify({
        Statement: [{ Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 'kms:*', Resource: '*' }],
      }),
    ],
    [
      'a bad action',
      JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'decrypt', Resource: '*' }] }),
    ],
    [
      'an unknown condition operator',
      JSON.stringify({
        Statement: [
          {
            Effect: 'Allow',
            Principal: '*',
            Action: 'kms:*',
            Resource: '*',
            Condition: { Fuzzy: { a: 'b' } },
          },
        ],
      }),
    ],
  ])('rejects %s', (_what, text) => {
    expect(() => parseKeyPolicy(text)).toThrow(PolicyParseError);
  });
});

describe('serviceUses and serviceUseDenied', () => {
  const caller = { arn: `arn:aws:iam::${account}:role/op`, accountId: account, iamAllow: ['kms:*'] };
  const input = (service: 'kinesisanalytics' | 'cassandra' | 'emr-serverless') => ({
    service,
    keyArn,
    caller,
    region: 'eu-west-1',
    accountId: account,
    sourceArn: `arn:aws:kinesisanalytics:eu-west-1:${account}:application/a`,
    encryptionContext: {},
  });

  it('MSF needs both service principals and the caller via kinesisanalytics.<region>', () => {
    const uses = serviceUses(input('kinesisanalytics'));
    const who = new Set(uses.map((u) => (u.principal.kind === 'service' ? u.principal.service : 'caller')));
    expect(who).toEqual(
      new Set(['caller', 'kinesisanalytics.amazonaws.com', 'infrastructure.kinesisanalytics.amazonaws.com']),
    );
    const decrypt = uses.find((u) => u.principal.kind === 'aws' && u.action === 'kms:Decrypt')!;
    expect(decrypt.context).toMatchObject({
      'kms:ViaService': 'kinesisanalytics.eu-west-1.amazonaws.com',
      'kms:EncryptionContext:aws:kinesisanalytics:arn': `arn:aws:kinesisanalytics:eu-west-1:${account}:application/a`,
    });
    const grant = uses.find((u) => u.principal.kind === 'service' && u.action === 'kms:CreateGrant')!;
    expect(grant.context).toMatchObject({
      'kms:GrantOperations': ['Decrypt'],
      'kms:GrantConstraintType': 'EncryptionContextSubset',
      'kms:GrantIsForAWSResource': 'true',
    });
  });

  it('the account-root policy is enough for Keyspaces, but not for MSF or EMR (service principals)', () => {
    const rootOnly = parseKeyPolicy(
      JSON.stringify({
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${account}:root` },
            Action: 'kms:*',
            Resource: '*',
          },
        ],
      }),
    );
    expect(serviceUseDenied(rootOnly, input('cassandra'))).toBeUndefined();
    expect(serviceUseDenied(rootOnly, input('kinesisanalytics'))).toContain(
      'service principal kinesisanalytics.amazonaws.com to perform kms:DescribeKey',
    );
    expect(serviceUseDenied(rootOnly, input('emr-serverless'))).toContain(
      'service principal emr-serverless.amazonaws.com to perform kms:GenerateDataKey',
    );
  });
});
