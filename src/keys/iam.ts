// The operator's own least-privilege IAM policy and the key-policy statements each service needs,
// rendered for docs/ from the same data the pre-flight checks and the key-policy generator use
// (service-requirements.ts), so documentation, generation and checking cannot disagree. Pure.
//
// The IAM actions are the AWS API calls the adapters in src/aws/ make, named per the Service
// Authorization Reference. Keyspaces maps control-plane calls to CQL-style actions (GetTable,
// ListKeyspaces, ListTables and ListTagsForResource read system tables: cassandra:Select;
// UpdateTable: cassandra:Alter); verify them against the reference for your partition before use.

import type { KeyUser } from '../api/kmskey.ts';
import { generateKeyPolicy, type KeyPolicy } from './policy.ts';
import { serviceRequirements } from './service-requirements.ts';

export interface IamStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface IamPolicy {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

/** The operator role's policy. `*` resources: scope them to your keys and workloads where you can. */
export function operatorIamPolicy(): IamPolicy {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadKeys',
        Effect: 'Allow',
        Action: [
          'kms:DescribeKey',
          'kms:GetKeyPolicy',
          'kms:GetKeyRotationStatus',
          'kms:ListKeyRotations',
          'kms:ListGrants',
          // Finding a key whose creation was not recorded, by its cmk.io/uid tag (issue #13 item 4).
          'kms:ListKeys',
          'kms:ListResourceTags',
        ],
        Resource: '*',
      },
      {
        Sid: 'ManageKmsKeys',
        Effect: 'Allow',
        Action: [
          'kms:CreateKey',
          'kms:CreateAlias',
          'kms:TagResource',
          'kms:EnableKeyRotation',
          'kms:DisableKeyRotation',
          'kms:RotateKeyOnDemand',
          'kms:EnableKey',
          'kms:CancelKeyDeletion',
          'kms:ScheduleKeyDeletion',
        ],
        Resource: '*',
      },
      {
        Sid: 'UseKeysThroughTheWorkloadServices',
        Effect: 'Allow',
        Action: [
          'kms:Decrypt',
          'kms:Encrypt',
          'kms:GenerateDataKey',
          'kms:GenerateDataKeyWithoutPlaintext',
          'kms:ReEncryptFrom',
          'kms:ReEncryptTo',
          'kms:CreateGrant',
        ],
        Resource: '*',
        Condition: {
          'ForAnyValue:StringLike': {
            'kms:ViaService': [
              'kinesisanalytics.*.amazonaws.com',
              'cassandra.*.amazonaws.com',
              'emr-serverless.*.amazonaws.com',
            ],
          },
        },
      },
      {
        Sid: 'ManagedFlink',
        Effect: 'Allow',
        Action: [
          'kinesisanalytics:DescribeApplication',
          'kinesisanalytics:ListApplications',
          'kinesisanalytics:ListApplicationSnapshots',
          'kinesisanalytics:UpdateApplication',
          'kinesisanalytics:StartApplication',
          'kinesisanalytics:StopApplication',
          'kinesisanalytics:ListApplicationOperations',
          'kinesisanalytics:DescribeApplicationOperation',
          'kinesisanalytics:ListTagsForResource',
          'kinesisanalytics:TagResource',
          'kinesisanalytics:UntagResource',
        ],
        Resource: '*',
      },
      {
        Sid: 'Keyspaces',
        Effect: 'Allow',
        Action: ['cassandra:Select', 'cassandra:Alter', 'cassandra:TagResource', 'cassandra:UntagResource'],
        Resource: '*',
      },
      {
        Sid: 'EmrServerless',
        Effect: 'Allow',
        Action: [
          'emr-serverless:GetApplication',
          'emr-serverless:ListApplications',
          'emr-serverless:UpdateApplication',
          'emr-serverless:StartApplication',
          'emr-serverless:StopApplication',
          'emr-serverless:ListJobRuns',
          'emr-serverless:StartJobRun',
          'emr-serverless:GetJobRun',
          'emr-serverless:CancelJobRun',
          // Interactive sessions (EmrServerlessSession; EMR-012).
          'emr-serverless:StartSession',
          'emr-serverless:GetSession',
          'emr-serverless:ListSessions',
          'emr-serverless:TerminateSession',
          'emr-serverless:ListTagsForResource',
          'emr-serverless:TagResource',
          'emr-serverless:UntagResource',
        ],
        Resource: '*',
      },
      {
        Sid: 'PassJobRuntimeRoles',
        Effect: 'Allow',
        Action: ['iam:PassRole'],
        Resource: '*',
        Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } },
      },
      {
        Sid: 'AssumePerObjectRoles',
        Effect: 'Allow',
        Action: ['sts:AssumeRole'],
        Resource: 'arn:aws:iam::*:role/*',
      },
    ],
  };
}

const example = {
  accountId: '111122223333',
  region: 'eu-west-1',
  keyUsers: ['arn:aws:iam::111122223333:role/cmk-operator'],
};

/** docs/key-policies.md: per service, every statement with why, and a complete example policy. */
export function renderKeyPolicyDocs(): string {
  const out: string[] = [
    '<!-- Generated by `npm run crds` from src/keys/service-requirements.ts (the table the pre-flight checks). Do not edit. -->',
    '# Key policies per workload service',
    '',
    "What a customer managed key's policy must allow for each service. The operator's pre-flight checks",
    'exactly these before any switch, and a KmsKey with `spec.create.policy.services` is created with them.',
    "`keyUsers` means the IAM principals that configure workloads with the key (the operator's role).",
    `Examples use account ${example.accountId}, Region ${example.region}.`,
    'The ids in the Why column (MSF-008, KS-011, ...) are AWS facts described in',
    '[aws-behaviour.md](aws-behaviour.md).',
    '',
  ];
  for (const service of Object.keys(serviceRequirements) as KeyUser[]) {
    out.push(
      `## ${service}`,
      '',
      '| Statement | Principal | Actions | Conditions | Why |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const r of serviceRequirements[service]) {
      const principal = r.principal === 'keyUsers' ? 'keyUsers' : r.principal.service;
      const conditions = r.conditions
        .map((c) => `${c.operator} ${c.key} = ${Array.isArray(c.value) ? c.value.join(', ') : c.value}`)
        .join('<br>');
      out.push(`| ${r.sid} | ${principal} | ${r.actions.join(', ')} | ${conditions || '-'} | ${r.why} |`);
    }
    const policy: KeyPolicy = generateKeyPolicy({ ...example, services: [service] });
    out.push('', '```json', JSON.stringify(policy, null, 2), '```', '');
  }
  out.push(
    "## The operator's IAM policy",
    '',
    'Also in `docs/iam-policy.json`.',
    '',
    '```json',
    JSON.stringify(operatorIamPolicy(), null, 2),
    '```',
    '',
  );
  return out.join('\n');
}
