// Key policy generation for KmsKeys the operator creates: the account-root statement (so IAM can
// still administer the key and nobody is locked out), key administrators, and the statements each
// chosen service needs from service-requirements.ts.

import type { KeyUser } from '../api/kmskey.ts';
import { fill, serviceRequirements } from './service-requirements.ts';

export interface KeyPolicyInput {
  accountId: string;
  region: string;
  partition?: string;
  services: KeyUser[];
  keyAdministrators?: string[];
  /** Principals that configure workloads with the key; the operator's own role belongs here. */
  keyUsers?: string[];
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

const adminActions = [
  'kms:Create*',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:RotateKeyOnDemand',
];

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
      Principal: { AWS: input.keyAdministrators },
      Action: adminActions,
      Resource: '*',
    });
  }
  for (const service of [...new Set(input.services)].sort()) {
    for (const req of serviceRequirements[service]) {
      if (req.principal === 'keyUsers' && !input.keyUsers?.length) continue;
      const condition: Record<string, Record<string, string | string[]>> = {};
      for (const c of req.conditions) {
        const value = Array.isArray(c.value)
          ? c.value.map((v) => fill(v, input.region, input.accountId))
          : fill(c.value, input.region, input.accountId);
        condition[c.operator] = { ...(condition[c.operator] ?? {}), [c.key]: value };
      }
      statements.push({
        Sid: req.sid,
        Effect: 'Allow',
        Principal:
          req.principal === 'keyUsers' ? { AWS: input.keyUsers! } : { Service: req.principal.service },
        Action: req.actions,
        Resource: '*',
        ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
      });
    }
  }
  return { Version: '2012-10-17', Id: 'cmk-operator', Statement: statements };
}
