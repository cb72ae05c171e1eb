// The operator's own least-privilege IAM policy and the key-policy statements each service needs,
// rendered for docs/ from the same data the pre-flight checks and the key-policy generator use
// (service-requirements.ts), so documentation, generation and checking cannot disagree. Pure.
//
// The IAM actions are the AWS API calls the adapters in src/aws/ make, named per the Service
// Authorization Reference. Keyspaces maps control-plane calls to CQL-style actions (GetTable,
// ListKeyspaces, ListTables and ListTagsForResource read system tables: cassandra:Select;
// UpdateTable: cassandra:Alter); verify them against the reference for your partition before use.

import type { KeyUser } from '../api/kmskey.ts';
import { adminActions, generateKeyPolicy, type KeyPolicy } from './policy.ts';
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

/** What the operator's IAM policy is generated for. */
export interface OperatorIamPolicyInput {
  /**
   * The operator's --cluster-name. Keys it may change carry the tag cmk.io/owner = `<clusterName>/...`:
   * the keys it creates get `<clusterName>/<namespace>/<name>`; a key adopted with spec.keyId that the
   * operator must rotate, re-enable, or schedule for deletion must be given such a tag.
   */
  clusterName: string;
  /**
   * Role ARNs (IAM wildcards allowed) the objects may name in spec.roleArn: the only roles the operator
   * may assume. Empty: no AssumeRole statement (every object runs as the operator itself).
   */
  assumableRoleArns: string[];
  partition?: string;
}

/** The parameters docs/iam-policy.json is generated with: the default --cluster-name, and a placeholder role. */
export const documentedIamPolicyInput: OperatorIamPolicyInput = {
  clusterName: 'cluster',
  assumableRoleArns: ['arn:aws:iam::111122223333:role/cmk-tenant-*'],
};

export const ownerTag = 'cmk.io/owner';

/**
 * The operator role's policy. Reads stay on `*`; every KMS call that changes a key is limited to
 * keys tagged for this cluster (IAM-001), key creation to requests carrying that tag (IAM-002),
 * alias creation to those keys (IAM-003), use of keys to the workload services (kms:ViaService),
 * grants to service-made ones (KMS-030), PassRole to EMR Serverless (IAM-004), and AssumeRole to the
 * listed roles, with the session tags the operator sends and nothing else (IAM-006).
 */
export function operatorIamPolicy(input: OperatorIamPolicyInput = documentedIamPolicyInput): IamPolicy {
  const partition = input.partition ?? 'aws';
  const owned = `${input.clusterName}/*`;
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
        Sid: 'CreateKeysTaggedForThisCluster',
        Effect: 'Allow',
        Action: ['kms:CreateKey'],
        Resource: '*',
        Condition: {
          StringLike: { [`aws:RequestTag/${ownerTag}`]: owned },
          StringEquals: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT', 'kms:KeyUsage': 'ENCRYPT_DECRYPT' },
        },
      },
      {
        // CreateKey's Tags need kms:TagResource too (IAM-002); the operator tags nothing else.
        Sid: 'TagKeysAtCreation',
        Effect: 'Allow',
        Action: ['kms:TagResource'],
        Resource: '*',
        Condition: {
          StringLike: { [`aws:RequestTag/${ownerTag}`]: owned },
          StringLikeIfExists: { [`aws:ResourceTag/${ownerTag}`]: owned },
        },
      },
      {
        Sid: 'ManageKeysTaggedForThisCluster',
        Effect: 'Allow',
        Action: [
          'kms:CreateAlias',
          'kms:EnableKeyRotation',
          'kms:DisableKeyRotation',
          'kms:RotateKeyOnDemand',
          'kms:EnableKey',
          'kms:CancelKeyDeletion',
          'kms:ScheduleKeyDeletion',
        ],
        Resource: `arn:${partition}:kms:*:*:key/*`,
        Condition: { StringLike: { [`aws:ResourceTag/${ownerTag}`]: owned } },
      },
      {
        // The alias side of CreateAlias (IAM-003): aliases carry no tags; the key side is above.
        Sid: 'CreateAliases',
        Effect: 'Allow',
        Action: ['kms:CreateAlias'],
        Resource: `arn:${partition}:kms:*:*:alias/*`,
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
        ],
        Resource: '*',
        Condition: { 'ForAnyValue:StringLike': { 'kms:ViaService': viaWorkloadServices } },
      },
      {
        Sid: 'GrantsThroughTheWorkloadServices',
        Effect: 'Allow',
        Action: ['kms:CreateGrant'],
        Resource: '*',
        Condition: {
          'ForAnyValue:StringLike': { 'kms:ViaService': viaWorkloadServices },
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
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
      ...(input.assumableRoleArns.length > 0
        ? [
            {
              Sid: 'AssumeTenantRoles',
              Effect: 'Allow' as const,
              Action: ['sts:AssumeRole'],
              Resource: input.assumableRoleArns,
            },
            {
              // The session tags clients.ts sends, with this cluster's name, and no others (IAM-006).
              Sid: 'TagTenantRoleSessions',
              Effect: 'Allow' as const,
              Action: ['sts:TagSession'],
              Resource: input.assumableRoleArns,
              Condition: {
                'ForAllValues:StringEquals': { 'aws:TagKeys': ['cmk.io/cluster', 'cmk.io/namespace'] },
                StringEquals: { 'aws:RequestTag/cmk.io/cluster': input.clusterName },
              },
            },
          ]
        : []),
    ],
  };
}

const viaWorkloadServices = [
  'kinesisanalytics.*.amazonaws.com',
  'cassandra.*.amazonaws.com',
  'emr-serverless.*.amazonaws.com',
];

/**
 * The trust policy a tenant role needs so the operator may assume it for one namespace: AssumeRole
 * only with the role's ExternalId (IAM-005), TagSession only with this cluster and that namespace as
 * session tags (IAM-006).
 */
export function tenantRoleTrustPolicy(input: {
  operatorRoleArn: string;
  externalId: string;
  clusterName: string;
  namespace: string;
}): {
  Version: '2012-10-17';
  Statement: Array<Omit<IamStatement, 'Resource'> & { Principal: { AWS: string } }>;
} {
  const principal = { AWS: input.operatorRoleArn };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'OperatorWithExternalId',
        Effect: 'Allow',
        Principal: principal,
        Action: ['sts:AssumeRole'],
        Condition: { StringEquals: { 'sts:ExternalId': input.externalId } },
      },
      {
        Sid: 'OperatorForOneNamespace',
        Effect: 'Allow',
        Principal: principal,
        Action: ['sts:TagSession'],
        Condition: {
          StringEquals: {
            'aws:RequestTag/cmk.io/cluster': input.clusterName,
            'aws:RequestTag/cmk.io/namespace': input.namespace,
          },
        },
      },
    ],
  };
}

const example = {
  accountId: '111122223333',
  region: 'eu-west-1',
  keyAdministrators: ['arn:aws:iam::111122223333:role/key-admin'],
  keyUsers: ['arn:aws:iam::111122223333:role/cmk-operator'],
};

const json = (value: unknown) => ['```json', JSON.stringify(value, null, 2), '```'];

/** docs/key-policies.md: per service, every statement with why, and a complete example policy. */
export function renderKeyPolicyDocs(): string {
  const out: string[] = [
    '<!-- Generated by `npm run crds` from src/keys/service-requirements.ts (the table the pre-flight checks) and src/keys/iam.ts. Do not edit. -->',
    '# Key policies per workload service',
    '',
    "What a customer managed key's policy must allow for each service. The operator's pre-flight checks",
    'exactly these before any switch, and a KmsKey with `spec.create.policy.services` is created with them.',
    `Examples use account ${example.accountId}, Region ${example.region}.`,
    'The ids in the Why column (MSF-008, KS-011, ...) are AWS facts described in',
    '[aws-behaviour.md](aws-behaviour.md).',
    '',
    "- `keyUsers` are the IAM principals that configure workloads with the key (the operator's role, deploy",
    '  roles), allowed only through the chosen services (`kms:ViaService`). Without `spec.create.policy.keyUsers`',
    '  the operator names itself. A session ARN (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`, what the',
    '  operator is when it runs in a role) is written as its role, `arn:aws:iam::ACCT:role/NAME` (STS-002):',
    '  sessions expire and KMS accepts only IAM principals (IAM-007). A session ARN does not carry the',
    "  role's path, so a role under a path (`role/team/NAME`) must be named in `keyUsers` explicitly.",
    '- `keyAdministrators` manage the key and cannot use it: they get exactly',
    `  ${adminActions.map((a) => `\`${a}\``).join(', ')}.`,
    '  No `kms:Create*`: that wildcard includes `kms:CreateGrant`, with which an administrator could grant',
    '  itself use of the key (KMS-031).',
    '- `{application}` in a condition stands for the applications the key is for (Managed Flink',
    '  application names, EMR Serverless application ids), one value each; `*` when none is named, which',
    "  allows any application of the account and Region. Managed Flink's key-user statements require the",
    '  application ARN as encryption context (MSF-008) and its grants to be Decrypt-only grants a service',
    "  makes (MSF-009, KMS-030); EMR Serverless's service statement requires the application id as",
    '  encryption context (EMR-009, TRAP-14).',
    '- `{partition}`, `{region}`, `{account}` are those of the key.',
    "- `EnableIamPolicies`, the first statement of every generated policy (as in AWS's default key",
    "  policy), allows `kms:*` to the key's account: IAM policies in that account may grant use of the key",
    "  (IAM-008). It therefore already allows the account's `keyUsers` and `keyAdministrators` whatever",
    '  their IAM policies allow, and the key-user and administrator statements below do not narrow that.',
    '  What those statements add is use of the key by a principal that has no IAM permission for it, and',
    "  only as their conditions say. To hold a principal to those conditions, keep this key's KMS actions",
    "  out of its IAM policies (the operator's own policy, `docs/iam-policy.json`, allows key use only",
    '  through the three services). The statements for service principals (`kinesisanalytics.amazonaws.com`',
    '  and the others) are not covered by it and are always needed.',
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
    out.push('', ...json(policy), '');
  }
  const { clusterName, assumableRoleArns } = documentedIamPolicyInput;
  out.push(
    "## The operator's IAM policy",
    '',
    `Also in \`docs/iam-policy.json\`, generated for the default \`--cluster-name\` (\`${clusterName}\`) and a`,
    `placeholder tenant role (\`${assumableRoleArns.join(', ')}\`): replace both with yours.`,
    '',
    '- Reads (`kms:Describe*`, `Get*`, `List*`) are allowed on every key.',
    `- Every KMS call that changes a key (${ownerTagScoped()}) is allowed only on keys tagged`,
    `  \`${ownerTag}\` = \`${clusterName}/...\` (IAM-001). Keys the operator creates carry`,
    `  \`${ownerTag}=<cluster>/<namespace>/<name>\`. A key adopted with \`spec.keyId\` that the operator must`,
    '  rotate, re-enable, keep from deletion or schedule for deletion needs such a tag (for example the',
    "  KmsKey's own `<cluster>/<namespace>/<name>`); until then those calls fail with AccessDenied and the",
    "  KmsKey's condition says that tag is missing. Its key policy must allow the calls as well.",
    `- \`kms:CreateKey\` only with the tag \`${ownerTag}\` = \`${clusterName}/...\` in the request, for symmetric`,
    '  encryption keys (IAM-002); `kms:TagResource` only for such a request. `kms:CreateAlias` names the',
    '  alias and the key: aliases carry no tags, so the key side carries the condition (IAM-003).',
    '- Cryptographic use only through the three workload services (`kms:ViaService`), and `kms:CreateGrant`',
    '  only for grants those services make (`kms:GrantIsForAWSResource`, KMS-030).',
    '- `iam:PassRole` only to EMR Serverless (`iam:PassedToService`, IAM-004), for job runtime roles.',
    '- `sts:AssumeRole` only on the listed roles, and `sts:TagSession` only with the session tags the',
    '  operator sends: `cmk.io/cluster` (its `--cluster-name`) and `cmk.io/namespace` (the namespace of the',
    '  object naming the role) (IAM-006). Without tenant roles, leave both statements out.',
    '',
    ...json(operatorIamPolicy()),
    '',
    '## Tenant roles',
    '',
    "An object that names `spec.roleArn` has the operator assume that role. The operator's",
    '`--tenancy-config` says which namespaces may name which roles (`allowedRoleArnPatterns`; a refused role',
    "is never assumed, and the object's status names `spec.roleArn` and the fix) and, per role, the",
    "`externalId` the operator presents. The ExternalId comes from the operator's configuration, never from",
    "a namespace's spec: only then can a tenant not make the operator assume another tenant's role (IAM-005).",
    "The role's trust policy should require that ExternalId, and allow `sts:TagSession` with the",
    "operator's session tags so it serves one namespace only (a role whose trust policy cannot allow",
    '`sts:TagSession` is listed with `sessionTags: false`):',
    '',
    '```yaml',
    '# --tenancy-config',
    'namespaces:',
    '  team-a:',
    '    allowedRoleArnPatterns: ["arn:aws:iam::111122223333:role/cmk-tenant-team-a"]',
    'roles:',
    '  "arn:aws:iam::111122223333:role/cmk-tenant-team-a":',
    '    externalId: 7f0c2e9a-team-a',
    '```',
    '',
    ...json(
      tenantRoleTrustPolicy({
        operatorRoleArn: example.keyUsers[0]!,
        externalId: '7f0c2e9a-team-a',
        clusterName,
        namespace: 'team-a',
      }),
    ),
    '',
  );
  return out.join('\n');
}

function ownerTagScoped(): string {
  const statement = operatorIamPolicy().Statement.find((s) => s.Sid === 'ManageKeysTaggedForThisCluster');
  return (statement?.Action ?? []).map((a) => `\`${a}\``).join(', ');
}
