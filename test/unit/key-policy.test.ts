import { describe, expect, it } from 'vitest';
import {
  adminActions,
  generateKeyPolicy,
  type KeyPolicy,
  keyPolicyPrincipal,
} from '../../src/keys/policy.ts';
import { roleArnOfSession } from '../../src/keys/policy-analysis.ts';

const account = '111122223333';
const operatorRole = `arn:aws:iam::${account}:role/cmk-operator`;
const base = { accountId: account, region: 'eu-west-1', keyUsers: [operatorRole] };

const statement = (p: KeyPolicy, sid: string) => p.Statement.find((s) => s.Sid === sid);

describe('generateKeyPolicy', () => {
  it('always keeps the account-root statement so the key cannot lock its owners out', () => {
    const policy = generateKeyPolicy({ ...base, services: [] });
    expect(policy.Statement[0]).toMatchObject({
      Principal: { AWS: `arn:aws:iam::${account}:root` },
      Action: 'kms:*',
    });
  });

  it('gives key administrators an explicit list with no cryptographic action and no CreateGrant (KMS-031)', () => {
    const policy = generateKeyPolicy({
      ...base,
      services: [],
      keyAdministrators: [`arn:aws:iam::${account}:role/admin`],
    });
    const actions = statement(policy, 'KeyAdministrators')?.Action as string[];
    expect(actions).toEqual(adminActions);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    for (const forbidden of [
      'kms:CreateGrant',
      'kms:Decrypt',
      'kms:Encrypt',
      'kms:GenerateDataKey',
      'kms:ReEncryptFrom',
    ])
      expect(actions).not.toContain(forbidden);
    expect(actions).toEqual(
      expect.arrayContaining(['kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy', 'kms:RevokeGrant']),
    );
  });

  it('names the role, not the session, when given an assumed-role session ARN (STS-002)', () => {
    const session = `arn:aws:sts::${account}:assumed-role/cmk-operator/cmk-operator-pod-1`;
    const policy = generateKeyPolicy({
      ...base,
      services: ['ManagedFlink'],
      keyUsers: [session, operatorRole],
      keyAdministrators: [`arn:aws:sts::${account}:assumed-role/admin/alice`],
    });
    expect(statement(policy, 'ManagedFlinkKeyUsersViaService')?.Principal).toEqual({ AWS: [operatorRole] });
    expect(statement(policy, 'KeyAdministrators')?.Principal).toEqual({
      AWS: [`arn:aws:iam::${account}:role/admin`],
    });
  });

  it('names both Managed Flink service principals and limits every grant to Decrypt (MSF-007, MSF-009)', () => {
    const policy = generateKeyPolicy({ ...base, services: ['ManagedFlink'] });
    const services = policy.Statement.flatMap((s) => ('Service' in s.Principal ? [s.Principal.Service] : []));
    expect(services).toEqual(
      expect.arrayContaining([
        'kinesisanalytics.amazonaws.com',
        'infrastructure.kinesisanalytics.amazonaws.com',
      ]),
    );
    for (const sid of ['ManagedFlinkInfrastructureGrants', 'ManagedFlinkKeyUsersGrants'])
      expect(statement(policy, sid)?.Condition).toMatchObject({
        'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt'] },
        StringEquals: { 'kms:GrantConstraintType': 'EncryptionContextSubset' },
      });
  });

  it("binds the caller's Managed Flink use to the application ARN and its grants to the service (MSF-008, KMS-030)", () => {
    const policy = generateKeyPolicy({ ...base, services: ['ManagedFlink'] });
    const appArns = `arn:aws:kinesisanalytics:eu-west-1:${account}:application/*`;
    expect(statement(policy, 'ManagedFlinkKeyUsersDescribe')?.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'kinesisanalytics.eu-west-1.amazonaws.com' },
    });
    expect(statement(policy, 'ManagedFlinkKeyUsersViaService')?.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'kinesisanalytics.eu-west-1.amazonaws.com' },
      StringLike: { 'kms:EncryptionContext:aws:kinesisanalytics:arn': appArns },
    });
    expect(statement(policy, 'ManagedFlinkKeyUsersGrants')?.Condition).toMatchObject({
      StringLike: { 'kms:EncryptionContext:aws:kinesisanalytics:arn': appArns },
      Bool: { 'kms:GrantIsForAWSResource': 'true' },
    });
    expect(statement(policy, 'ManagedFlinkServiceDurableState')?.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': account },
      ArnLike: { 'aws:SourceArn': appArns },
    });
  });

  it('names each application when told which ones the key is for', () => {
    const policy = generateKeyPolicy({
      ...base,
      partition: 'aws-cn',
      region: 'cn-north-1',
      services: ['ManagedFlink', 'EmrServerless'],
      applications: { ManagedFlink: ['orders', 'payments'], EmrServerless: ['00abc'] },
    });
    expect(statement(policy, 'ManagedFlinkKeyUsersViaService')?.Condition?.['StringLike']).toEqual({
      'kms:EncryptionContext:aws:kinesisanalytics:arn': [
        `arn:aws-cn:kinesisanalytics:cn-north-1:${account}:application/orders`,
        `arn:aws-cn:kinesisanalytics:cn-north-1:${account}:application/payments`,
      ],
    });
    expect(statement(policy, 'EmrServerlessServiceDisks')?.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': account },
      ArnLike: { 'aws:SourceArn': `arn:aws-cn:emr-serverless:cn-north-1:${account}:/applications/00abc` },
      StringLike: { 'kms:EncryptionContext:applicationId': '00abc' },
    });
  });

  it('uses a Region wildcard in the Keyspaces kms:ViaService condition (KS-011)', () => {
    const policy = generateKeyPolicy({ ...base, services: ['Keyspaces'] });
    expect(statement(policy, 'KeyspacesKeyUsersViaService')?.Condition).toEqual({
      StringLike: { 'kms:ViaService': 'cassandra.*.amazonaws.com' },
    });
  });

  it("scopes the EMR Serverless service principal to this account's applications and their id in the context (EMR-007, EMR-009)", () => {
    const policy = generateKeyPolicy({ ...base, services: ['EmrServerless'] });
    expect(statement(policy, 'EmrServerlessServiceDisks')?.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': account },
      ArnLike: { 'aws:SourceArn': `arn:aws:emr-serverless:eu-west-1:${account}:/applications/*` },
      StringLike: { 'kms:EncryptionContext:applicationId': '*' },
    });
  });

  it('leaves out key-user statements when no key users are named', () => {
    const policy = generateKeyPolicy({ accountId: account, region: 'eu-west-1', services: ['Keyspaces'] });
    expect(policy.Statement.map((s) => s.Sid)).toEqual(['EnableIamPolicies']);
  });
});

describe('the role of an assumed-role session (STS-002)', () => {
  it.each([
    ['a session', `arn:aws:sts::${account}:assumed-role/cmk-operator/pod-1`, operatorRole],
    [
      'a session name with dots and @',
      `arn:aws:sts::${account}:assumed-role/ops/a.b@c`,
      `arn:aws:iam::${account}:role/ops`,
    ],
    [
      'another partition',
      'arn:aws-cn:sts::444455556666:assumed-role/r/s',
      'arn:aws-cn:iam::444455556666:role/r',
    ],
    // The session ARN has no path: a role created under /team/ comes back without it.
    [
      'a role that had a path',
      `arn:aws:sts::${account}:assumed-role/deployer/s`,
      `arn:aws:iam::${account}:role/deployer`,
    ],
  ])('%s', (_n, session, role) => {
    expect(roleArnOfSession(session)).toBe(role);
    expect(keyPolicyPrincipal(session)).toBe(role);
  });

  it.each([
    ['a role', operatorRole],
    ['a user', `arn:aws:iam::${account}:user/alice`],
    ['the account', `arn:aws:iam::${account}:root`],
    ['a session ARN without a session name', `arn:aws:sts::${account}:assumed-role/cmk-operator`],
  ])('leaves %s as it is', (_n, arn) => {
    expect(roleArnOfSession(arn)).toBeUndefined();
    expect(keyPolicyPrincipal(arn)).toBe(arn);
  });
});
