// The operator's IAM policy (docs/iam-policy.json) is exactly what its AWS adapters call: every SDK
// command used in src/aws/ is allowed, and every allowed action is used by some command. And it is
// least privilege: evaluated with the emulator's condition logic (emulator/policy.ts), every KMS call
// that changes a key is allowed on this cluster's tagged keys only (IAM-001..003), and AssumeRole /
// TagSession only on the roles it was generated for (IAM-006).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { actionMatches, failedCondition, likeMatch, type RequestContext } from '../../emulator/policy.ts';
import { ownerTagScopedKmsOperations } from '../../src/aws/errors.ts';
import { type IamPolicy, operatorIamPolicy, tenantRoleTrustPolicy } from '../../src/keys/iam.ts';

const awsDir = join(process.cwd(), 'src', 'aws');

/** IAM actions per SDK command, by the client module the command comes from. */
function actionsFor(client: string, command: string): string[] {
  const op = command.replace(/Command$/, '');
  switch (client) {
    case 'kms':
      return [`kms:${op}`];
    case 'kinesis-analytics-v2':
      return [`kinesisanalytics:${op}`];
    case 'emr-serverless':
      return op === 'StartJobRun' ? ['emr-serverless:StartJobRun', 'iam:PassRole'] : [`emr-serverless:${op}`];
    case 'keyspaces':
      return (
        {
          GetTable: ['cassandra:Select'],
          ListKeyspaces: ['cassandra:Select'],
          ListTables: ['cassandra:Select'],
          ListTagsForResource: ['cassandra:Select'],
          UpdateTable: ['cassandra:Alter'],
        }[op] ?? [`cassandra:${op}`]
      );
    case 'sts':
      return op === 'GetCallerIdentity' ? [] : [`sts:${op}`];
    default:
      throw new Error(`unknown client ${client}`);
  }
}

function usedActions(): Set<string> {
  const used = new Set<string>();
  for (const file of readdirSync(awsDir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(awsDir, file), 'utf8');
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g)) {
      for (const entry of m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, ''))) {
        // `ListApplicationsCommand as ListFlinkApplicationsCommand`: the command, and its local name.
        const [name = '', local = name] = entry.split(/\s+as\s+/);
        if (name.endsWith('Command') && text.includes(`new ${local}(`))
          for (const a of actionsFor(m[2]!, name)) used.add(a);
      }
    }
  }
  // CreateKey with Tags needs kms:TagResource as well.
  if (used.has('kms:CreateKey')) used.add('kms:TagResource');
  // Role assumption goes through @aws-sdk/credential-providers (fromTemporaryCredentials) in clients.ts,
  // with session tags (IAM-006).
  used.add('sts:AssumeRole');
  used.add('sts:TagSession');
  // Switching a workload to a key makes the service use it on the caller's behalf (kms:ViaService).
  for (const a of [
    'kms:Decrypt',
    'kms:Encrypt',
    'kms:GenerateDataKey',
    'kms:GenerateDataKeyWithoutPlaintext',
    'kms:ReEncryptFrom',
    'kms:ReEncryptTo',
    'kms:CreateGrant',
  ]) {
    used.add(a);
  }
  return used;
}

describe('the operator IAM policy', () => {
  const granted = new Set(operatorIamPolicy().Statement.flatMap((s) => s.Action));
  const used = usedActions();

  it('allows every AWS call the adapters make', () => {
    expect([...used].filter((a) => !granted.has(a)).sort()).toEqual([]);
  });

  it('allows nothing the operator never calls', () => {
    expect([...granted].filter((a) => !used.has(a)).sort()).toEqual([]);
  });
});

// ---- Least privilege ----------------------------------------------------------------------------------

const cluster = 'prod-eu';
const tenantRole = 'arn:aws:iam::111122223333:role/cmk-tenant-a';
const policy = operatorIamPolicy({ clusterName: cluster, assumableRoleArns: [tenantRole] });
const key = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const alias = 'arn:aws:kms:eu-west-1:111122223333:alias/orders';

/** Whether some statement allows the request (identity policies have no Deny here). */
function allows(p: IamPolicy, action: string, resource: string, context: RequestContext = {}): boolean {
  return p.Statement.some(
    (s) =>
      actionMatches(s.Action, action) &&
      [s.Resource].flat().some((r) => likeMatch(r, resource)) &&
      failedCondition(s.Condition, context) === undefined,
  );
}

const tagged = (owner: string): RequestContext => ({ 'aws:ResourceTag/cmk.io/owner': owner });
const reads = [
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListKeyRotations',
  'kms:ListGrants',
  'kms:ListKeys',
  'kms:ListResourceTags',
];
const viaService = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:CreateGrant',
];
const keyMutations = [...new Set(policy.Statement.flatMap((s) => s.Action))].filter(
  (a) =>
    a.startsWith('kms:') &&
    !reads.includes(a) &&
    !viaService.includes(a) &&
    a !== 'kms:CreateKey' &&
    a !== 'kms:TagResource',
);

describe('the operator IAM policy is scoped by the owner tag', () => {
  it('has key mutations to scope, and the AccessDenied hint names exactly them', () => {
    expect(keyMutations.sort()).toEqual(ownerTagScopedKmsOperations.map((o) => `kms:${o}`).sort());
    expect(keyMutations).toEqual(
      expect.arrayContaining(['kms:ScheduleKeyDeletion', 'kms:EnableKey', 'kms:CancelKeyDeletion']),
    );
  });

  it.each(keyMutations)('%s: only on a key tagged for this cluster', (action) => {
    expect(allows(policy, action, key, tagged(`${cluster}/team-a/orders-key`))).toBe(true);
    expect(allows(policy, action, key, tagged('prod-eu-2/team-a/orders-key'))).toBe(false);
    expect(allows(policy, action, key, tagged('other/team-a/orders-key'))).toBe(false);
    expect(allows(policy, action, key)).toBe(false);
  });

  it('CreateAlias: any alias name, but only pointing at a key tagged for this cluster (IAM-003)', () => {
    expect(allows(policy, 'kms:CreateAlias', alias)).toBe(true);
    expect(allows(policy, 'kms:CreateAlias', key, tagged(`${cluster}/ns/k`))).toBe(true);
    expect(allows(policy, 'kms:CreateAlias', key)).toBe(false);
  });

  it('CreateKey: only symmetric encryption keys carrying the owner tag of this cluster (IAM-002)', () => {
    const request = { 'kms:KeySpec': 'SYMMETRIC_DEFAULT', 'kms:KeyUsage': 'ENCRYPT_DECRYPT' };
    const owner = { 'aws:RequestTag/cmk.io/owner': `${cluster}/team-a/orders-key` };
    expect(allows(policy, 'kms:CreateKey', '*', { ...request, ...owner })).toBe(true);
    expect(allows(policy, 'kms:CreateKey', '*', request)).toBe(false);
    expect(
      allows(policy, 'kms:CreateKey', '*', { ...request, 'aws:RequestTag/cmk.io/owner': 'other/x/y' }),
    ).toBe(false);
    expect(
      allows(policy, 'kms:CreateKey', '*', {
        ...owner,
        'kms:KeySpec': 'RSA_2048',
        'kms:KeyUsage': 'ENCRYPT_DECRYPT',
      }),
    ).toBe(false);
    // CreateKey's tags: the same request tag; never re-tagging another cluster's key.
    expect(allows(policy, 'kms:TagResource', key, owner)).toBe(true);
    expect(allows(policy, 'kms:TagResource', key, {})).toBe(false);
    expect(allows(policy, 'kms:TagResource', key, { ...owner, ...tagged('other/x/y') })).toBe(false);
  });

  it('reads stay on every key; key use only through the workload services; grants only for them', () => {
    for (const a of reads) expect(allows(policy, a, key)).toBe(true);
    const via = { 'kms:ViaService': 'kinesisanalytics.eu-west-1.amazonaws.com' };
    expect(allows(policy, 'kms:Decrypt', key, via)).toBe(true);
    expect(allows(policy, 'kms:Decrypt', key)).toBe(false);
    expect(allows(policy, 'kms:CreateGrant', key, { ...via, 'kms:GrantIsForAWSResource': 'true' })).toBe(
      true,
    );
    expect(allows(policy, 'kms:CreateGrant', key, via)).toBe(false);
  });

  it('PassRole only to EMR Serverless (IAM-004)', () => {
    const role = 'arn:aws:iam::111122223333:role/job-runtime';
    expect(
      allows(policy, 'iam:PassRole', role, { 'iam:PassedToService': 'emr-serverless.amazonaws.com' }),
    ).toBe(true);
    expect(allows(policy, 'iam:PassRole', role, { 'iam:PassedToService': 'ec2.amazonaws.com' })).toBe(false);
  });
});

describe('the operator IAM policy assumes only the listed roles', () => {
  it('AssumeRole and TagSession on the allow-list only, with the operator session tags (IAM-006)', () => {
    expect(allows(policy, 'sts:AssumeRole', tenantRole)).toBe(true);
    expect(allows(policy, 'sts:AssumeRole', 'arn:aws:iam::111122223333:role/cmk-tenant-b')).toBe(false);
    expect(allows(policy, 'sts:AssumeRole', 'arn:aws:iam::444455556666:role/cmk-tenant-a')).toBe(false);
    const tags = {
      'aws:TagKeys': ['cmk.io/cluster', 'cmk.io/namespace'],
      'aws:RequestTag/cmk.io/cluster': cluster,
      'aws:RequestTag/cmk.io/namespace': 'team-a',
    };
    expect(allows(policy, 'sts:TagSession', tenantRole, tags)).toBe(true);
    expect(
      allows(policy, 'sts:TagSession', tenantRole, { ...tags, 'aws:RequestTag/cmk.io/cluster': 'other' }),
    ).toBe(false);
    expect(
      allows(policy, 'sts:TagSession', tenantRole, {
        ...tags,
        'aws:TagKeys': [...tags['aws:TagKeys'], 'team'],
      }),
    ).toBe(false);
    expect(allows(policy, 'sts:TagSession', 'arn:aws:iam::111122223333:role/cmk-tenant-b', tags)).toBe(false);
  });

  it('takes role patterns as given and leaves STS out entirely without tenant roles', () => {
    const patterned = operatorIamPolicy({
      clusterName: cluster,
      assumableRoleArns: ['arn:aws:iam::111122223333:role/cmk-tenant-*'],
    });
    expect(allows(patterned, 'sts:AssumeRole', tenantRole)).toBe(true);
    expect(allows(patterned, 'sts:AssumeRole', 'arn:aws:iam::111122223333:role/admin')).toBe(false);
    const none = operatorIamPolicy({ clusterName: cluster, assumableRoleArns: [] });
    expect(none.Statement.flatMap((s) => s.Action).filter((a) => a.startsWith('sts:'))).toEqual([]);
  });

  it("a tenant role's trust policy asks for the ExternalId and one namespace's session tags (IAM-005)", () => {
    const trust = tenantRoleTrustPolicy({
      operatorRoleArn: 'arn:aws:iam::111122223333:role/cmk-operator',
      externalId: 'x-team-a',
      clusterName: cluster,
      namespace: 'team-a',
    });
    const asIdentityPolicy: IamPolicy = {
      Version: '2012-10-17',
      Statement: trust.Statement.map((s) => ({ ...s, Resource: tenantRole })),
    };
    expect(allows(asIdentityPolicy, 'sts:AssumeRole', tenantRole, { 'sts:ExternalId': 'x-team-a' })).toBe(
      true,
    );
    expect(allows(asIdentityPolicy, 'sts:AssumeRole', tenantRole, { 'sts:ExternalId': 'x-team-b' })).toBe(
      false,
    );
    expect(allows(asIdentityPolicy, 'sts:AssumeRole', tenantRole)).toBe(false);
    const ns = (n: string) => ({
      'aws:RequestTag/cmk.io/cluster': cluster,
      'aws:RequestTag/cmk.io/namespace': n,
    });
    expect(allows(asIdentityPolicy, 'sts:TagSession', tenantRole, ns('team-a'))).toBe(true);
    expect(allows(asIdentityPolicy, 'sts:TagSession', tenantRole, ns('team-b'))).toBe(false);
  });
});
