// What each workload service needs from a key policy (MSF-007..010, KS-010..012, EMR-007), as data,
// in the narrowest form the services' own KMS calls still pass (MSF-008, MSF-009, EMR-007): the
// caller's Managed Flink statements bound to the application ARN in the encryption context, its
// grants to service-made Decrypt grants, EMR Serverless's disks to the application id. The key
// policy generator, the pre-flight policy analysis and the generated IAM/key-policy docs all read
// this one table, so they cannot disagree. `calls` and `serviceKmsProfiles` say how the service's own
// KMS requests look (which action, which condition keys they carry), so the pre-flight
// (src/keys/preflight.ts) can replay them against a key policy it did not generate.

import type { KeyUser } from '../api/kmskey.ts';

export type ConditionOperator =
  | 'StringEquals'
  | 'StringLike'
  | 'ArnLike'
  | 'Bool'
  | 'ForAllValues:StringEquals';

export interface RequiredStatement {
  /** Stable id, also the generated statement's Sid. */
  sid: string;
  /** Who: a service principal, or 'keyUsers' (the IAM principals that configure workloads). */
  principal: { service: string } | 'keyUsers';
  actions: string[];
  /**
   * Condition key -> [operator, value]; `{partition}`, `{region}`, `{account}` are filled in, and a value with
   * `{application}` becomes one value per application the key is generated for (Managed Flink
   * application names, EMR Serverless application ids), or `*` when none is named.
   */
  conditions: Array<{ operator: ConditionOperator; key: string; value: string | string[] }>;
  why: string;
  /**
   * The concrete KMS requests the service makes under this statement (no wildcards: `kms:ReEncrypt*`
   * is ReEncryptFrom and ReEncryptTo), with the context each carries.
   */
  calls: ServiceKmsCall[];
}

/**
 * Condition keys a service's KMS request carries:
 * - viaService: the caller acting through the service: `kms:ViaService`, `kms:CallerAccount`,
 *   `aws:PrincipalArn`, `aws:PrincipalAccount`;
 * - source: `aws:SourceAccount` and `aws:SourceArn` (the workload), on service-principal calls;
 * - encryptionContext: `kms:EncryptionContext:<key>` and `kms:EncryptionContextKeys`;
 * - grant: a CreateGrant for the service's own use: `kms:GrantOperations` (the profile's operations),
 *   `kms:GrantConstraintType = EncryptionContextSubset`, `kms:GrantIsForAWSResource`, and the
 *   constraint's encryption context.
 */
export type CarriedContext = 'viaService' | 'source' | 'encryptionContext' | 'grant';

export interface ServiceKmsCall {
  action: string;
  carries: CarriedContext[];
}

export interface ServiceKmsProfile {
  /** `kms:ViaService` is `<viaServicePrefix>.<region>.<dns suffix>`. */
  viaServicePrefix: string;
  /** 'workload': the service calls KMS from the workload's Region; 'any': from any Region (KS-011). */
  viaServiceRegions: 'workload' | 'any';
  /** The operations of the grants the service creates (`kms:GrantOperations`). */
  grantOperations: string[];
  /** The caller's IAM policy must allow the key too, whatever the key policy says (MSF-010). */
  callerIamRequired: boolean;
}

export const serviceKmsProfiles: Record<KeyUser, ServiceKmsProfile> = {
  ManagedFlink: {
    viaServicePrefix: 'kinesisanalytics',
    viaServiceRegions: 'workload',
    grantOperations: ['Decrypt'], // MSF-009
    callerIamRequired: true,
  },
  Keyspaces: {
    viaServicePrefix: 'cassandra',
    viaServiceRegions: 'any',
    // KS-016
    grantOperations: [
      'DescribeKey',
      'GenerateDataKey',
      'Decrypt',
      'Encrypt',
      'ReEncryptFrom',
      'ReEncryptTo',
      'RetireGrant',
    ],
    callerIamRequired: false,
  },
  EmrServerless: {
    viaServicePrefix: 'emr-serverless',
    viaServiceRegions: 'workload',
    grantOperations: [],
    callerIamRequired: false,
  },
};

const via = (action: string, ...more: CarriedContext[]): ServiceKmsCall => ({
  action,
  carries: ['viaService', ...more],
});
const fromService = (action: string, ...more: CarriedContext[]): ServiceKmsCall => ({
  action,
  carries: ['source', ...more],
});

const msfContextKey = 'kms:EncryptionContext:aws:kinesisanalytics:arn';
const msfApplicationArn = 'arn:{partition}:kinesisanalytics:{region}:{account}:application/{application}';

export const serviceRequirements: Record<KeyUser, RequiredStatement[]> = {
  ManagedFlink: [
    {
      sid: 'ManagedFlinkKeyUsersDescribe',
      principal: 'keyUsers',
      actions: ['kms:DescribeKey'],
      conditions: [
        { operator: 'StringEquals', key: 'kms:ViaService', value: 'kinesisanalytics.{region}.amazonaws.com' },
      ],
      why: 'UpdateApplication resolves and validates the key on behalf of the caller (MSF-008, MSF-010)',
      calls: [via('kms:DescribeKey')],
    },
    {
      sid: 'ManagedFlinkKeyUsersViaService',
      principal: 'keyUsers',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext'],
      conditions: [
        { operator: 'StringEquals', key: 'kms:ViaService', value: 'kinesisanalytics.{region}.amazonaws.com' },
        { operator: 'StringLike', key: msfContextKey, value: msfApplicationArn },
      ],
      why: "UpdateApplication provisions storage on behalf of the caller, for the application's ARN only (MSF-008, MSF-010)",
      // MSF-008: everything but DescribeKey carries the application ARN as encryption context.
      calls: [
        via('kms:Decrypt', 'encryptionContext'),
        via('kms:GenerateDataKey', 'encryptionContext'),
        via('kms:GenerateDataKeyWithoutPlaintext', 'encryptionContext'),
      ],
    },
    {
      sid: 'ManagedFlinkKeyUsersGrants',
      principal: 'keyUsers',
      actions: ['kms:CreateGrant'],
      conditions: [
        { operator: 'StringEquals', key: 'kms:ViaService', value: 'kinesisanalytics.{region}.amazonaws.com' },
        { operator: 'StringLike', key: msfContextKey, value: msfApplicationArn },
        { operator: 'Bool', key: 'kms:GrantIsForAWSResource', value: 'true' },
        { operator: 'StringEquals', key: 'kms:GrantConstraintType', value: 'EncryptionContextSubset' },
        { operator: 'ForAllValues:StringEquals', key: 'kms:GrantOperations', value: ['Decrypt'] },
      ],
      why: "the caller's grant for running storage: made by the service (KMS-030), Decrypt only, within the application's context (MSF-008, MSF-009)",
      calls: [via('kms:CreateGrant', 'grant')],
    },
    {
      sid: 'ManagedFlinkServiceDurableState',
      principal: { service: 'kinesisanalytics.amazonaws.com' },
      actions: ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKey'],
      conditions: [
        { operator: 'StringEquals', key: 'aws:SourceAccount', value: '{account}' },
        { operator: 'ArnLike', key: 'aws:SourceArn', value: msfApplicationArn },
      ],
      why: 'Flink reads and writes checkpoints and snapshots (durable application storage) of the application (MSF-007, MSF-008)',
      calls: [
        fromService('kms:DescribeKey'),
        fromService('kms:GenerateDataKey', 'encryptionContext'),
        fromService('kms:Decrypt', 'encryptionContext'),
      ],
    },
    {
      sid: 'ManagedFlinkInfrastructureRunningState',
      principal: { service: 'infrastructure.kinesisanalytics.amazonaws.com' },
      actions: ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext'],
      conditions: [{ operator: 'StringEquals', key: 'aws:SourceAccount', value: '{account}' }],
      why: 'Flink provisions running application storage (MSF-007, MSF-008)',
      calls: [
        fromService('kms:DescribeKey'),
        fromService('kms:Decrypt', 'encryptionContext'),
        fromService('kms:GenerateDataKeyWithoutPlaintext', 'encryptionContext'),
      ],
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
      calls: [fromService('kms:CreateGrant', 'grant')],
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
      // KS-010 spells out the wildcards; every call but DescribeKey carries the table's context.
      calls: [
        via('kms:DescribeKey'),
        via('kms:Encrypt', 'encryptionContext'),
        via('kms:Decrypt', 'encryptionContext'),
        via('kms:ReEncryptFrom', 'encryptionContext'),
        via('kms:ReEncryptTo', 'encryptionContext'),
        via('kms:GenerateDataKey', 'encryptionContext'),
        via('kms:GenerateDataKeyWithoutPlaintext', 'encryptionContext'),
        via('kms:CreateGrant', 'grant'),
      ],
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
          value: 'arn:{partition}:emr-serverless:{region}:{account}:/applications/{application}',
        },
        // EMR-009: the context carries the application id (TRAP-14: whether EMR adds it to a custom
        // context is unconfirmed; the emulator and the adapter assume it does).
        { operator: 'StringLike', key: 'kms:EncryptionContext:applicationId', value: '{application}' },
      ],
      why: "EMR Serverless generates and reads the data keys of the application's worker disks (EMR-007, EMR-009)",
      calls: [
        fromService('kms:GenerateDataKey', 'encryptionContext'),
        fromService('kms:Decrypt', 'encryptionContext'),
      ],
    },
    {
      sid: 'EmrServerlessKeyUsersDescribe',
      principal: 'keyUsers',
      actions: ['kms:DescribeKey'],
      conditions: [],
      why: "the submitting user's DescribeKey checks the key is enabled and symmetric (EMR-007)",
      // EMR makes this check on the caller's behalf, so the request comes via the service.
      calls: [via('kms:DescribeKey')],
    },
    {
      sid: 'EmrServerlessKeyUsersViaService',
      principal: 'keyUsers',
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      conditions: [
        { operator: 'StringEquals', key: 'kms:ViaService', value: 'emr-serverless.{region}.amazonaws.com' },
      ],
      why: 'job submission uses the key on behalf of the submitting user (EMR-007, EMR-006)',
      calls: [via('kms:GenerateDataKey', 'encryptionContext'), via('kms:Decrypt', 'encryptionContext')],
    },
  ],
};

export function fill(value: string, region: string, account: string, partition = 'aws'): string {
  return value
    .replaceAll('{partition}', partition)
    .replaceAll('{region}', region)
    .replaceAll('{account}', account);
}

/** `value` with `{application}` filled in once per application (`*` when none is named). */
export function fillApplications(value: string, applications: readonly string[] | undefined): string[] {
  if (!value.includes('{application}')) return [value];
  const names = applications?.length ? applications : ['*'];
  return names.map((a) => value.replaceAll('{application}', a));
}
