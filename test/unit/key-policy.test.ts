import { describe, expect, it } from 'vitest';
import { generateKeyPolicy } from '../../src/keys/policy.ts';

const base = {
  accountId: '111122223333',
  region: 'eu-west-1',
  keyUsers: ['arn:aws:iam::111122223333:role/cmk-operator'],
};

describe('generateKeyPolicy', () => {
  it('always keeps the account-root statement so the key cannot lock its owners out', () => {
    const policy = generateKeyPolicy({ ...base, services: [] });
    expect(policy.Statement[0]).toMatchObject({
      Principal: { AWS: 'arn:aws:iam::111122223333:root' },
      Action: 'kms:*',
    });
  });

  it('names both Managed Flink service principals and limits its grants to Decrypt', () => {
    const policy = generateKeyPolicy({ ...base, services: ['ManagedFlink'] });
    const services = policy.Statement.flatMap((s) => ('Service' in s.Principal ? [s.Principal.Service] : []));
    expect(services).toEqual(
      expect.arrayContaining([
        'kinesisanalytics.amazonaws.com',
        'infrastructure.kinesisanalytics.amazonaws.com',
      ]),
    );
    const grants = policy.Statement.find((s) => s.Sid === 'ManagedFlinkInfrastructureGrants');
    expect(grants?.Condition?.['ForAllValues:StringEquals']).toEqual({ 'kms:GrantOperations': ['Decrypt'] });
    const users = policy.Statement.find((s) => s.Sid === 'ManagedFlinkKeyUsersViaService');
    expect(users?.Condition?.['StringEquals']).toEqual({
      'kms:ViaService': 'kinesisanalytics.eu-west-1.amazonaws.com',
    });
  });

  it('uses a Region wildcard in the Keyspaces kms:ViaService condition (KS-011)', () => {
    const policy = generateKeyPolicy({ ...base, services: ['Keyspaces'] });
    expect(policy.Statement.find((s) => s.Sid === 'KeyspacesKeyUsersViaService')?.Condition).toEqual({
      StringLike: { 'kms:ViaService': 'cassandra.*.amazonaws.com' },
    });
  });

  it("scopes the EMR Serverless service principal to this account's applications", () => {
    const policy = generateKeyPolicy({ ...base, services: ['EmrServerless'] });
    expect(policy.Statement.find((s) => s.Sid === 'EmrServerlessServiceDisks')?.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': '111122223333' },
      ArnLike: { 'aws:SourceArn': 'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/*' },
    });
  });

  it('leaves out key-user statements when no key users are named', () => {
    const policy = generateKeyPolicy({
      accountId: '111122223333',
      region: 'eu-west-1',
      services: ['Keyspaces'],
    });
    expect(policy.Statement.map((s) => s.Sid)).toEqual(['EnableIamPolicies']);
  });
});
