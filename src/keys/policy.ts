// Key policy generation for KmsKeys the operator creates: the account-root statement (so IAM can
// still administer the key and nobody is locked out), key administrators, and the statements each
// chosen service needs from service-requirements.ts.
//
// Guarantees:
// - Key administrators get an explicit list of management actions, never `kms:Create*`: that
//   wildcard includes CreateGrant, with which an administrator could grant itself (or anyone) use of
//   the key (KMS-031). Administrators manage; only key users and services use.
// - Principals are IAM ARNs: an assumed-role session ARN (what GetCallerIdentity answers inside a
//   role) becomes its role's ARN (STS-002), since a session ends within hours and KMS refuses a
//   principal that is not an IAM identity (IAM-007). A session ARN does not carry the role's path, so
//   `arn:aws:iam::ACCT:role/NAME` is right only for a role without a path; for a role under a path,
//   name it in keyUsers / keyAdministrators yourself.
// - `applications` narrows the services' statements to named workloads (the Managed Flink application
//   ARN in the encryption context and as source ARN, the EMR Serverless application id); without
//   it they allow any application of the account and Region, as `*` in those places.

import type { KeyUser } from '../api/kmskey.ts';
import { roleArnOfSession } from './policy-analysis.ts';
import { fill, fillApplications, serviceRequirements } from './service-requirements.ts';

export interface KeyPolicyInput {
  accountId: string;
  region: string;
  partition?: string;
  services: KeyUser[];
  keyAdministrators?: string[];
  /** Principals that configure workloads with the key; the operator's own role belongs here. */
  keyUsers?: string[];
  /**
   * The workloads the key is for, per service: Managed Flink application names, EMR Serverless
   * application ids. Keyspaces statements are not narrowed (KS-010..012 scope them by Region only).
   */
  applications?: { ManagedFlink?: string[]; EmrServerless?: string[] };
}

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Principal: { AWS: string | string[] } | { Service: string };
  Action: string | string[];
  Resource: '*';
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface KeyPolicy {
  Version: '2012-10-17';
  Id?: string;
  Statement: PolicyStatement[];
}

/** What key administrators may do: manage the key's state, policy, aliases, tags and grants' removal. */
export const adminActions = [
  'kms:CreateAlias',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:UpdateKeyDescription',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:GetKeyPolicy',
  'kms:PutKeyPolicy',
  'kms:ListKeyPolicies',
  'kms:GetKeyRotationStatus',
  'kms:EnableKeyRotation',
  'kms:DisableKeyRotation',
  'kms:RotateKeyOnDemand',
  'kms:ListKeyRotations',
  'kms:ListResourceTags',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ListGrants',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
];

/** The IAM principal a key policy should name for `arn`: a session's role (STS-002), else `arn`. */
export function keyPolicyPrincipal(arn: string): string {
  return roleArnOfSession(arn) ?? arn;
}

const principals = (arns: readonly string[]) => [...new Set(arns.map(keyPolicyPrincipal))];

export function generateKeyPolicy(input: KeyPolicyInput): KeyPolicy {
  const partition = input.partition ?? 'aws';
  const statements: PolicyStatement[] = [
    {
      Sid: 'EnableIamPolicies',
      Effect: 'Allow',
      Principal: { AWS: `arn:${partition}:iam::${input.accountId}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ];
  if (input.keyAdministrators?.length) {
    statements.push({
      Sid: 'KeyAdministrators',
      Effect: 'Allow',
      Principal: { AWS: principals(input.keyAdministrators) },
      Action: adminActions,
      Resource: '*',
    });
  }
  const keyUsers = principals(input.keyUsers ?? []);
  for (const service of [...new Set(input.services)].sort()) {
    const applications = service === 'Keyspaces' ? undefined : input.applications?.[service];
    for (const req of serviceRequirements[service]) {
      if (req.principal === 'keyUsers' && keyUsers.length === 0) continue;
      const condition: Record<string, Record<string, string | string[]>> = {};
      for (const c of req.conditions) {
        const values = (Array.isArray(c.value) ? c.value : [c.value]).flatMap((v) =>
          fillApplications(fill(v, input.region, input.accountId, partition), applications),
        );
        // A list stays a list (ForAllValues sets); a single value stays a string.
        const value = Array.isArray(c.value) || values.length > 1 ? values : values[0]!;
        condition[c.operator] = { ...(condition[c.operator] ?? {}), [c.key]: value };
      }
      statements.push({
        Sid: req.sid,
        Effect: 'Allow',
        Principal: req.principal === 'keyUsers' ? { AWS: keyUsers } : { Service: req.principal.service },
        Action: req.actions,
        Resource: '*',
        ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
      });
    }
  }
  return { Version: '2012-10-17', Id: 'cmk-operator', Statement: statements };
}
