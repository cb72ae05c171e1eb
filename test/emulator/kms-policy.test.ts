// Key-policy authorization of KMS calls through the real SDK with seeded principals (IAM delegation
// through the account principal, named principals, explicit Deny, conditions, grants, cross-account,
// DryRun outcomes), and `world.kms.serviceUseDenied`: what MSF, Keyspaces and EMR Serverless need
// from a key policy, with a complete policy and with each required statement removed.

import {
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ListAliasesCommand,
  RevokeGrantCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../emulator/core/identity.ts';
import type { KeyView, ServiceUseRequest } from '../../emulator/core/world.ts';
import { sdkFailure, useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const partnerAccount = '444455556666';
const root = `arn:aws:iam::${account}:root`;
const adminArn = `arn:aws:iam::${account}:user/admin`;
const appRole = `arn:aws:iam::${account}:role/app`;
const appSession = `arn:aws:sts::${account}:assumed-role/app/worker-1`;
const nobodyArn = `arn:aws:iam::${account}:user/nobody`;
const partnerArn = `arn:aws:iam::${partnerAccount}:user/partner`;

const principals = [
  { accessKeyId: 'AKIAADMIN00000000001', arn: adminArn, iamAllow: ['kms:*'] },
  {
    accessKeyId: 'AKIAAPPSESSION000001',
    arn: appSession,
    iamAllow: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'],
  },
  { accessKeyId: 'AKIANOBODY0000000001', arn: nobodyArn, iamAllow: [] },
  { accessKeyId: 'AKIAPARTNER000000001', arn: partnerArn, iamAllow: ['kms:*'] },
  {
    accessKeyId: 'AKIAPARTNERNOIAM0001',
    arn: `arn:aws:iam::${partnerAccount}:user/partner-noiam`,
    iamAllow: [],
  },
];

const as = (accessKeyId?: string) =>
  new KMSClient(fixture.clientConfig(accessKeyId === undefined ? {} : { accessKeyId }));
const admin = () => as('AKIAADMIN00000000001');
const app = () => as('AKIAAPPSESSION000001');
const nobody = () => as('AKIANOBODY0000000001');
const partner = () => as('AKIAPARTNER000000001');

async function denied(p: Promise<unknown>) {
  const e = await sdkFailure(p);
  expect({ name: e.name, status: e.$metadata.httpStatusCode }).toEqual({
    name: 'AccessDeniedException',
    status: 400,
  });
  return e.message;
}

type Statement = Record<string, unknown>;
const rootStatement: Statement = {
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: root },
  Action: 'kms:*',
  Resource: '*',
};

/** Seeds principals and one key with the given statements; returns the key ARN. */
function seedKey(statements: Statement[], keyId = '0badc0de-0000-4000-8000-000000000001'): string {
  fixture.emulator.seed({
    principals,
    kms: { keys: [{ keyId, policy: { Version: '2012-10-17', Statement: statements } }] },
  });
  return `arn:aws:kms:us-east-1:${account}:key/${keyId}`;
}

const bytes = new Uint8Array([1, 2, 3]);

describe('key policy authorization of direct calls', () => {
  it('the account principal delegates to IAM: allowed actions pass, others are denied', async () => {
    const key = seedKey([rootStatement]);
    await admin().send(new DisableKeyCommand({ KeyId: key }));
    await admin().send(new ScheduleKeyDeletionCommand({ KeyId: key, PendingWindowInDays: 7 }));
    const other = seedKey([rootStatement], '0badc0de-0000-4000-8000-000000000002');
    await app().send(new EncryptCommand({ KeyId: other, Plaintext: bytes }));
    const message = await denied(app().send(new DisableKeyCommand({ KeyId: other })));
    expect(message).toBe(
      `User: ${appSession} is not authorized to perform: kms:DisableKey on resource: ${other} because no identity-based policy allows the kms:DisableKey action`,
    );
    await denied(nobody().send(new DescribeKeyCommand({ KeyId: other })));
  });

  it('unknown access keys are the account root: allowed by the root statement, denied without it', async () => {
    const withRoot = seedKey([rootStatement]);
    await as('AKIAUNKNOWN000000001').send(new DisableKeyCommand({ KeyId: withRoot }));
    const withoutRoot = seedKey(
      [{ Effect: 'Allow', Principal: { AWS: adminArn }, Action: 'kms:*', Resource: '*' }],
      '0badc0de-0000-4000-8000-000000000002',
    );
    const message = await denied(
      as('AKIAUNKNOWN000000001').send(new DescribeKeyCommand({ KeyId: withoutRoot })),
    );
    expect(message).toContain('because no resource-based policy allows the kms:DescribeKey action');
    await admin().send(new DescribeKeyCommand({ KeyId: withoutRoot }));
  });

  it('a statement naming a role allows its sessions without any IAM allowance', async () => {
    const key = seedKey([
      rootStatement,
      {
        Sid: 'AppRole',
        Effect: 'Allow',
        Principal: { AWS: appRole },
        Action: 'kms:GenerateDataKey',
        Resource: '*',
      },
    ]);
    // The session's IAM allowances do not include GenerateDataKey; the key policy names the role itself.
    await app().send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' }));
  });

  it('an explicit Deny wins over every Allow', async () => {
    const key = seedKey([
      rootStatement,
      {
        Sid: 'NoDeletion',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:ScheduleKeyDeletion',
        Resource: '*',
      },
    ]);
    const message = await denied(admin().send(new ScheduleKeyDeletionCommand({ KeyId: key })));
    expect(message).toContain('with an explicit deny in a resource-based policy');
    await admin().send(new DisableKeyCommand({ KeyId: key }));
  });

  it('conditions on the encryption context, ViaService, rotation period and deletion window are enforced', async () => {
    const key = seedKey([
      {
        Sid: 'Admin',
        Effect: 'Allow',
        Principal: { AWS: adminArn },
        Action: ['kms:Describe*', 'kms:Get*', 'kms:List*', 'kms:Disable*', 'kms:Encrypt', 'kms:PutKeyPolicy'],
        Resource: '*',
      },
      {
        Sid: 'ShortRotation',
        Effect: 'Allow',
        Principal: { AWS: adminArn },
        Action: 'kms:EnableKeyRotation',
        Resource: '*',
        Condition: { NumericLessThanEquals: { 'kms:RotationPeriodInDays': '180' } },
      },
      {
        Sid: 'LongWindow',
        Effect: 'Allow',
        Principal: { AWS: adminArn },
        Action: 'kms:ScheduleKeyDeletion',
        Resource: '*',
        Condition: { NumericGreaterThanEquals: { 'kms:ScheduleKeyDeletionPendingWindowInDays': 30 } },
      },
      {
        Sid: 'TenantA',
        Effect: 'Allow',
        Principal: { AWS: appRole },
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: { StringEquals: { 'kms:EncryptionContext:tenant': 'a' } },
      },
      {
        Sid: 'ViaFlinkOnly',
        Effect: 'Allow',
        Principal: { AWS: appRole },
        Action: 'kms:GenerateDataKey',
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': 'kinesisanalytics.us-east-1.amazonaws.com' } },
      },
    ]);
    await denied(admin().send(new EnableKeyRotationCommand({ KeyId: key, RotationPeriodInDays: 365 })));
    await denied(admin().send(new EnableKeyRotationCommand({ KeyId: key })));
    await admin().send(new EnableKeyRotationCommand({ KeyId: key, RotationPeriodInDays: 180 }));
    await denied(admin().send(new ScheduleKeyDeletionCommand({ KeyId: key, PendingWindowInDays: 7 })));

    const forA = await admin().send(
      new EncryptCommand({ KeyId: key, Plaintext: bytes, EncryptionContext: { tenant: 'a' } }),
    );
    const forB = await admin().send(
      new EncryptCommand({ KeyId: key, Plaintext: bytes, EncryptionContext: { tenant: 'b' } }),
    );
    await app().send(
      new DecryptCommand({ CiphertextBlob: forA.CiphertextBlob, EncryptionContext: { tenant: 'a' } }),
    );
    await denied(
      app().send(
        new DecryptCommand({ CiphertextBlob: forB.CiphertextBlob, EncryptionContext: { tenant: 'b' } }),
      ),
    );
    // Direct calls never carry kms:ViaService, so a ViaService-only statement never matches them.
    await denied(app().send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })));
    await admin().send(new ScheduleKeyDeletionCommand({ KeyId: key, PendingWindowInDays: 30 }));
  });

  it('conditions on grant operations and constraint type limit CreateGrant', async () => {
    const key = seedKey([
      rootStatement,
      {
        Sid: 'DecryptOnlyGrants',
        Effect: 'Allow',
        Principal: { AWS: appRole },
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: {
          'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt', 'RetireGrant'] },
          StringEquals: { 'kms:GrantConstraintType': 'EncryptionContextSubset' },
          Bool: { 'kms:GrantIsForAWSResource': 'false' },
        },
      },
    ]);
    const grant = (Operations: Array<'Decrypt' | 'Encrypt' | 'RetireGrant'>, constrained = true) =>
      app().send(
        new CreateGrantCommand({
          KeyId: key,
          GranteePrincipal: nobodyArn,
          Operations,
          ...(constrained ? { Constraints: { EncryptionContextSubset: { tenant: 'a' } } } : {}),
        }),
      );
    await grant(['Decrypt']);
    await grant(['Decrypt', 'RetireGrant']);
    await denied(grant(['Decrypt', 'Encrypt']));
    await denied(grant(['Decrypt'], false));
  });

  it('a grant lets its grantee use the key within its constraints until revoked', async () => {
    const key = seedKey([rootStatement]);
    const forA = await admin().send(
      new EncryptCommand({ KeyId: key, Plaintext: bytes, EncryptionContext: { tenant: 'a' } }),
    );
    const decrypt = (tenant: string) =>
      nobody().send(
        new DecryptCommand({ CiphertextBlob: forA.CiphertextBlob, EncryptionContext: { tenant } }),
      );
    await denied(decrypt('a'));
    const g = await admin().send(
      new CreateGrantCommand({
        KeyId: key,
        GranteePrincipal: nobodyArn,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextSubset: { tenant: 'a' } },
      }),
    );
    const out = await decrypt('a');
    expect(Buffer.from(out.Plaintext!)).toEqual(Buffer.from(bytes));
    // Outside the grant's constraint the grant does not apply: denied before the ciphertext is checked.
    await denied(decrypt('b'));
    await denied(
      nobody().send(new EncryptCommand({ KeyId: key, Plaintext: bytes, EncryptionContext: { tenant: 'a' } })),
    );
    await admin().send(new RevokeGrantCommand({ KeyId: key, GrantId: g.GrantId }));
    await denied(decrypt('a'));
  });

  it('grant constraints skip DescribeKey and match context keys case-insensitively; sub-grants stay within the grant', async () => {
    const key = seedKey([rootStatement]);
    await admin().send(
      new CreateGrantCommand({
        KeyId: key,
        GranteePrincipal: nobodyArn,
        Operations: ['DescribeKey', 'Decrypt', 'CreateGrant'],
        Constraints: { EncryptionContextSubset: { Tenant: 'a' } },
      }),
    );
    await nobody().send(new DescribeKeyCommand({ KeyId: key }));
    const forA = await admin().send(
      new EncryptCommand({ KeyId: key, Plaintext: bytes, EncryptionContext: { tenant: 'a' } }),
    );
    await nobody().send(
      new DecryptCommand({ CiphertextBlob: forA.CiphertextBlob, EncryptionContext: { tenant: 'a' } }),
    );
    const subGrant = (Operations: Array<'Decrypt' | 'Encrypt'>, context?: Record<string, string>) =>
      nobody().send(
        new CreateGrantCommand({
          KeyId: key,
          GranteePrincipal: appRole,
          Operations,
          ...(context ? { Constraints: { EncryptionContextSubset: context } } : {}),
        }),
      );
    await subGrant(['Decrypt'], { tenant: 'a', table: 't' });
    await denied(subGrant(['Encrypt'], { tenant: 'a' }));
    await denied(subGrant(['Decrypt']));
  });

  it('cross-account use needs the key policy to name the account and the caller IAM to allow it', async () => {
    const key = seedKey([
      rootStatement,
      {
        Sid: 'Partner',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${partnerAccount}:root` },
        Action: ['kms:DescribeKey', 'kms:Decrypt', 'kms:ScheduleKeyDeletion'],
        Resource: '*',
      },
    ]);
    const d = await partner().send(new DescribeKeyCommand({ KeyId: key }));
    expect(d.KeyMetadata?.AWSAccountId).toBe(account);
    const { CiphertextBlob } = await admin().send(new EncryptCommand({ KeyId: key, Plaintext: bytes }));
    await partner().send(new DecryptCommand({ CiphertextBlob }));
    await denied(as('AKIAPARTNERNOIAM0001').send(new DescribeKeyCommand({ KeyId: key })));
    // Not on the list: denied. Not a cross-account operation: not found.
    await denied(partner().send(new EncryptCommand({ KeyId: key, Plaintext: bytes })));
    const e = await sdkFailure(partner().send(new ScheduleKeyDeletionCommand({ KeyId: key })));
    expect(e.name).toBe('NotFoundException');
    // A bare key id is looked up in the caller's own account.
    expect(
      (await sdkFailure(partner().send(new DescribeKeyCommand({ KeyId: key.split('/')[1] })))).name,
    ).toBe('NotFoundException');
  });

  it('aws:PrincipalArn matches the role of an assumed-role session', async () => {
    const key = seedKey([
      rootStatement,
      {
        Sid: 'AppByPrincipalArn',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'kms:GenerateDataKey',
        Resource: '*',
        Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${account}:role/app*` } },
      },
    ]);
    await app().send(new GenerateDataKeyCommand({ KeyId: key, NumberOfBytes: 16 }));
    await denied(nobody().send(new GenerateDataKeyCommand({ KeyId: key, NumberOfBytes: 16 })));
  });

  it('IAM-only operations (CreateKey, ListAliases) follow the caller IAM allowances', async () => {
    seedKey([rootStatement]);
    await denied(nobody().send(new CreateKeyCommand({})));
    await denied(nobody().send(new ListAliasesCommand({})));
    await admin().send(new CreateKeyCommand({}));
  });

  it('DryRun answers DryRunOperationException when allowed and AccessDeniedException when not', async () => {
    const key = seedKey([rootStatement]);
    const dry = (client: KMSClient) =>
      client.send(new DecryptCommand({ KeyId: key, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] }));
    const allowed = await sdkFailure(dry(app()));
    expect({ name: allowed.name, status: allowed.$metadata.httpStatusCode }).toEqual({
      name: 'DryRunOperationException',
      status: 412,
    });
    await denied(dry(nobody()));
    await denied(
      nobody().send(
        new CreateGrantCommand({
          KeyId: key,
          GranteePrincipal: appRole,
          Operations: ['Decrypt'],
          DryRun: true,
        }),
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// serviceUseDenied

const operatorRole = `arn:aws:iam::${account}:role/operator`;
const operator: Principal = {
  arn: operatorRole,
  accountId: account,
  accessKeyId: 'AKIAOPERATOR00000001',
  type: 'role',
  iamAllow: ['kms:*', 'kinesisanalytics:*', 'cassandra:*', 'emr-serverless:*'],
};
const adminStatement: Statement = {
  Sid: 'KeyAdmin',
  Effect: 'Allow',
  Principal: { AWS: adminArn },
  Action: 'kms:*',
  Resource: '*',
};

let seeded = 0;
/** Seeds a key with its own id, so one test can compare several policies. */
function keyWith(statements: Statement[]): KeyView {
  seeded++;
  const arn = seedKey(statements, `5eed0000-0000-4000-8000-${String(seeded).padStart(12, '0')}`);
  return fixture.emulator.world().kms.findKey(arn, 'us-east-1', account)!;
}

function useRequest(
  key: KeyView,
  service: ServiceUseRequest['service'],
  sourceArn: string,
  encryptionContext: Record<string, string> = {},
  caller: Principal = operator,
): ServiceUseRequest {
  return { key, service, caller, region: 'us-east-1', accountId: account, sourceArn, encryptionContext };
}

const without = (statements: Statement[], sid: string) => statements.filter((s) => s['Sid'] !== sid);

describe('serviceUseDenied: Managed Service for Apache Flink (MSF-007..010)', () => {
  const appArn = `arn:aws:kinesisanalytics:us-east-1:${account}:application/orders`;
  const complete: Statement[] = [
    adminStatement,
    {
      Sid: 'OperatorDescribe',
      Effect: 'Allow',
      Principal: { AWS: operatorRole },
      Action: 'kms:DescribeKey',
      Resource: '*',
      Condition: { StringEquals: { 'kms:ViaService': 'kinesisanalytics.us-east-1.amazonaws.com' } },
    },
    {
      Sid: 'OperatorUse',
      Effect: 'Allow',
      Principal: { AWS: operatorRole },
      Action: [
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'kms:GenerateDataKeyWithoutPlaintext',
        'kms:CreateGrant',
      ],
      Resource: '*',
      Condition: {
        StringEquals: {
          'kms:ViaService': 'kinesisanalytics.us-east-1.amazonaws.com',
          'kms:EncryptionContext:aws:kinesisanalytics:arn': appArn,
        },
      },
    },
    {
      Sid: 'FlinkService',
      Effect: 'Allow',
      Principal: { Service: 'kinesisanalytics.amazonaws.com' },
      Action: ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: { StringEquals: { 'aws:SourceAccount': account }, ArnLike: { 'aws:SourceArn': appArn } },
    },
    {
      Sid: 'FlinkInfrastructure',
      Effect: 'Allow',
      Principal: { Service: 'infrastructure.kinesisanalytics.amazonaws.com' },
      Action: ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext'],
      Resource: '*',
    },
    {
      Sid: 'FlinkInfrastructureGrants',
      Effect: 'Allow',
      Principal: { Service: 'infrastructure.kinesisanalytics.amazonaws.com' },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:GrantConstraintType': 'EncryptionContextSubset' },
        'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt'] },
      },
    },
  ];
  const check = (statements: Statement[], caller: Principal = operator, sourceArn = appArn) =>
    fixture.emulator
      .world()
      .kms.serviceUseDenied(useRequest(keyWith(statements), 'kinesisanalytics', sourceArn, {}, caller));

  it('allows a complete policy', () => {
    expect(check(complete)).toBeUndefined();
  });

  it.each([
    ['OperatorDescribe', operatorRole, 'kms:DescribeKey'],
    ['OperatorUse', operatorRole, 'kms:Decrypt'],
    ['FlinkService', 'service principal kinesisanalytics.amazonaws.com', 'kms:DescribeKey'],
    [
      'FlinkInfrastructure',
      'service principal infrastructure.kinesisanalytics.amazonaws.com',
      'kms:DescribeKey',
    ],
    [
      'FlinkInfrastructureGrants',
      'service principal infrastructure.kinesisanalytics.amazonaws.com',
      'kms:CreateGrant',
    ],
  ])('without %s names %s and %s', (sid, who, action) => {
    const message = check(without(complete, sid));
    expect(message).toContain(who);
    expect(message).toContain(`perform ${action}`);
    expect(message).toContain(`arn:aws:kms:us-east-1:${account}:key/`);
  });

  it('names the failing condition for another application ARN, and the ViaService the caller needs', () => {
    const other = `arn:aws:kinesisanalytics:us-east-1:${account}:application/other`;
    const message = check(complete, operator, other);
    expect(message).toContain('kms:EncryptionContext:aws:kinesisanalytics:arn');
    const pinned = complete.map((s) =>
      s['Sid'] === 'OperatorDescribe'
        ? {
            ...s,
            Condition: { StringEquals: { 'kms:ViaService': 'kinesisanalytics.eu-west-1.amazonaws.com' } },
          }
        : s,
    );
    expect(check(pinned)).toMatch(/via kinesisanalytics\.us-east-1\.amazonaws\.com .*kms:ViaService/);
  });

  it('requires the caller IAM policy to allow the key too (MSF-010)', () => {
    const limited: Principal = { ...operator, iamAllow: ['kinesisanalytics:*'] };
    expect(check(complete, limited)).toMatch(
      /^The IAM policies of arn:aws:iam::111122223333:role\/operator do not allow kms:DescribeKey on arn:aws:kms:us-east-1:111122223333:key\/5eed/,
    );
  });

  it('an explicit Deny on a service principal is reported as such', () => {
    const message = check([
      ...complete,
      {
        Sid: 'NoInfra',
        Effect: 'Deny',
        Principal: { Service: 'infrastructure.kinesisanalytics.amazonaws.com' },
        Action: 'kms:*',
        Resource: '*',
      },
    ]);
    expect(message).toContain('statement "NoInfra" explicitly denies');
  });
});

describe('serviceUseDenied: Amazon Keyspaces (KS-010..012)', () => {
  const tableArn = `arn:aws:cassandra:us-east-1:${account}:/keyspace/shop/table/orders`;
  const context = {
    'aws:cassandra:keyspaceName': 'shop',
    'aws:cassandra:tableName': 'orders',
    'aws:cassandra:subscriberId': account,
  };
  const usersStatement: Statement = {
    Sid: 'KeyspacesViaService',
    Effect: 'Allow',
    Principal: { AWS: operatorRole },
    Action: [
      'kms:Encrypt',
      'kms:Decrypt',
      'kms:ReEncrypt*',
      'kms:GenerateDataKey*',
      'kms:DescribeKey',
      'kms:CreateGrant',
    ],
    Resource: '*',
    Condition: { StringLike: { 'kms:ViaService': 'cassandra.*.amazonaws.com' } },
  };
  const check = (statements: Statement[], ctx: Record<string, string> = context) =>
    fixture.emulator
      .world()
      .kms.serviceUseDenied(useRequest(keyWith(statements), 'cassandra', tableArn, ctx));

  it('allows a complete policy, also with the account principal delegating to an IAM policy that allows kms:*', () => {
    expect(check([adminStatement, usersStatement])).toBeUndefined();
    expect(check([rootStatement])).toBeUndefined();
  });

  it('without the caller statement names the caller, the ViaService and the action', () => {
    expect(check([adminStatement])).toMatch(
      /^The key policy of arn:aws:kms:us-east-1:111122223333:key\/5eed\S+ does not allow the caller arn:aws:iam::111122223333:role\/operator via cassandra\.us-east-1\.amazonaws\.com to perform kms:DescribeKey: no statement allows arn:aws:iam::111122223333:role\/operator to perform kms:DescribeKey$/,
    );
  });

  it('each required action is checked', () => {
    for (const [missing, action] of [
      ['kms:ReEncrypt*', 'kms:ReEncryptFrom'],
      ['kms:GenerateDataKey*', 'kms:GenerateDataKey'],
      ['kms:CreateGrant', 'kms:CreateGrant'],
      ['kms:Encrypt', 'kms:Encrypt'],
    ] as const) {
      const actions = (usersStatement['Action'] as string[]).filter((a) => a !== missing);
      expect(check([adminStatement, { ...usersStatement, Action: actions }])).toContain(`perform ${action}`);
    }
  });

  it('a Region-pinned kms:ViaService fails: Keyspaces needs the permission in every Region (KS-011)', () => {
    const pinned = {
      ...usersStatement,
      Condition: { StringEquals: { 'kms:ViaService': 'cassandra.us-east-1.amazonaws.com' } },
    };
    expect(check([adminStatement, pinned])).toContain('via cassandra.us-west-2.amazonaws.com');
  });

  it('encryption-context conditions are checked against the table context', () => {
    const scoped = {
      ...usersStatement,
      Action: (usersStatement['Action'] as string[]).filter((a) => a !== 'kms:DescribeKey'),
      Condition: {
        StringLike: { 'kms:ViaService': 'cassandra.*.amazonaws.com' },
        StringEquals: { 'kms:EncryptionContext:aws:cassandra:keyspaceName': 'shop' },
      },
    };
    const describe = { ...usersStatement, Sid: 'Describe', Action: 'kms:DescribeKey' };
    expect(check([adminStatement, scoped, describe])).toBeUndefined();
    expect(
      check([adminStatement, scoped, describe], { ...context, 'aws:cassandra:keyspaceName': 'other' }),
    ).toContain('kms:EncryptionContext:aws:cassandra:keyspaceName');
  });
});

describe('serviceUseDenied: EMR Serverless (EMR-007)', () => {
  const appArn = `arn:aws:emr-serverless:us-east-1:${account}:/applications/00abc`;
  const complete: Statement[] = [
    adminStatement,
    {
      Sid: 'EmrService',
      Effect: 'Allow',
      Principal: { Service: 'emr-serverless.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: {
        ArnLike: { 'aws:SourceArn': `arn:aws:emr-serverless:us-east-1:${account}:/applications/*` },
        StringEquals: { 'aws:SourceAccount': account, 'kms:EncryptionContext:applicationId': '00abc' },
      },
    },
    {
      Sid: 'SubmitterDescribe',
      Effect: 'Allow',
      Principal: { AWS: operatorRole },
      Action: 'kms:DescribeKey',
      Resource: '*',
    },
    {
      Sid: 'SubmitterCrypto',
      Effect: 'Allow',
      Principal: { AWS: operatorRole },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: { StringEquals: { 'kms:ViaService': 'emr-serverless.us-east-1.amazonaws.com' } },
    },
  ];
  const check = (
    statements: Statement[],
    ctx: Record<string, string> = { applicationId: '00abc' },
    source = appArn,
  ) =>
    fixture.emulator
      .world()
      .kms.serviceUseDenied(useRequest(keyWith(statements), 'emr-serverless', source, ctx));

  it('allows a complete policy', () => {
    expect(check(complete)).toBeUndefined();
  });

  it("without the submitter's data-key permission through EMR Serverless names the caller (EMR-006)", () => {
    const message = check(without(complete, 'SubmitterCrypto'));
    expect(message).toContain(operatorRole);
    expect(message).toContain('kms:GenerateDataKey');
  });

  it('without the service statement names emr-serverless.amazonaws.com and kms:GenerateDataKey', () => {
    const message = check(without(complete, 'EmrService'));
    expect(message).toContain(
      'service principal emr-serverless.amazonaws.com to perform kms:GenerateDataKey',
    );
  });

  it('without the submitter statement names the caller and kms:DescribeKey', () => {
    const message = check(without(complete, 'SubmitterDescribe'));
    expect(message).toContain(
      `the caller ${operatorRole} via emr-serverless.us-east-1.amazonaws.com to perform kms:DescribeKey`,
    );
  });

  it('names the failing condition for another application', () => {
    expect(check(complete, { applicationId: '00zzz' })).toContain('kms:EncryptionContext:applicationId');
    expect(
      check(
        complete,
        { applicationId: '00abc' },
        `arn:aws:emr-serverless:us-east-1:999988887777:/applications/00abc`,
      ),
    ).toContain('aws:SourceArn');
  });
});
