// What each workload service needs from a key policy (spec §3.4, §4.4, §5.4), as data. The key
// policy generator, the pre-flight policy analysis and the generated IAM/key-policy docs all read
// this one table, so they cannot disagree.

import type { KeyUser } from '../api/kmskey.ts';

export type ConditionOperator = 'StringEquals' | 'StringLike' | 'ArnLike' | 'ForAllValues:StringEquals';

export interface RequiredStatement {
  /** Stable id, also the generated statement's Sid. */
  sid: string;
  /** Who: a service principal, or 'keyUsers' (the IAM principals that configure workloads). */
  principal: { service: string } | 'keyUsers';
  actions: string[];
  /** Condition key -> [operator, value]; `{region}`, `{account}` are filled in. */
  conditions: Array<{ operator: ConditionOperator; key: string; value: string | string[] }>;
  why: string;
}

export const serviceRequirements: Record<KeyUser, RequiredStatement[]> = {
  ManagedFlink: [
    {
      sid: 'ManagedFlinkKeyUsersViaService',
      principal: 'keyUsers',
      actions: [
        'kms:DescribeKey',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'kms:GenerateDataKeyWithoutPlaintext',
        'kms:CreateGrant',
      ],
      conditions: [
        { operator: 'StringEquals', key: 'kms:ViaService', value: 'kinesisanalytics.{region}.amazonaws.com' },
      ],
      why: 'UpdateApplication validates the key and provisions storage on behalf of the caller (MSF-008, MSF-010)',
    },
    {
      sid: 'ManagedFlinkServiceDurableState',
      principal: { service: 'kinesisanalytics.amazonaws.com' },
      actions: ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKey'],
      conditions: [{ operator: 'StringEquals', key: 'aws:SourceAccount', value: '{account}' }],
      why: 'Flink reads and writes checkpoints and snapshots (durable application storage) (MSF-007, MSF-008)',
    },
    {
      sid: 'ManagedFlinkInfrastructureRunningState',
      principal: { service: 'infrastructure.kinesisanalytics.amazonaws.com' },
      actions: ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext'],
      conditions: [{ operator: 'StringEquals', key: 'aws:SourceAccount', value: '{account}' }],
      why: 'Flink provisions running application storage (MSF-007, MSF-008)',
    },
    {
      sid: 'ManagedFlinkInfrastructureGrants',
      principal: { service: 'infrastructure.kinesisanalytics.amazonaws.com' },
      actions: ['kms:CreateGrant'],
      conditions: [
        { operator: 'StringEquals', key: 'kms:GrantConstraintType', value: 'EncryptionContextSubset' },
        { operator: 'ForAllValues:StringEquals', key: 'kms:GrantOperations', value: ['Decrypt'] },
      ],
      why: 'Flink grants its running storage Decrypt only (MSF-009)',
    },
  ],
  Keyspaces: [
    {
      sid: 'KeyspacesKeyUsersViaService',
      principal: 'keyUsers',
      actions: [
        'kms:Encrypt',
        'kms:Decrypt',
        'kms:ReEncrypt*',
        'kms:GenerateDataKey*',
        'kms:DescribeKey',
        'kms:CreateGrant',
      ],
      conditions: [{ operator: 'StringLike', key: 'kms:ViaService', value: 'cassandra.*.amazonaws.com' }],
      why: 'Keyspaces acts on behalf of the principal that chose the key; the Region must be a wildcard (KS-010, KS-011, KS-012)',
    },
  ],
  EmrServerless: [
    {
      sid: 'EmrServerlessServiceDisks',
      principal: { service: 'emr-serverless.amazonaws.com' },
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      conditions: [
        { operator: 'StringEquals', key: 'aws:SourceAccount', value: '{account}' },
        {
          operator: 'ArnLike',
          key: 'aws:SourceArn',
          value: 'arn:aws:emr-serverless:{region}:{account}:/applications/*',
        },
      ],
      why: 'EMR Serverless generates and reads the data keys of worker disks (EMR-005)',
    },
    {
      sid: 'EmrServerlessKeyUsersDescribe',
      principal: 'keyUsers',
      actions: ['kms:DescribeKey'],
      conditions: [],
      why: "the submitting user's DescribeKey checks the key is enabled and symmetric (EMR-005)",
    },
    {
      sid: 'EmrServerlessKeyUsersViaService',
      principal: 'keyUsers',
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      conditions: [
        { operator: 'StringEquals', key: 'kms:ViaService', value: 'emr-serverless.{region}.amazonaws.com' },
      ],
      why: 'job submission uses the key on behalf of the submitting user (EMR-005, EMR-006)',
    },
  ],
};

export function fill(value: string, region: string, account: string): string {
  return value.replaceAll('{region}', region).replaceAll('{account}', account);
}
