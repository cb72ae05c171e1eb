// Key checks as an ordered chain of named predicates (cert-manager's policy-chain habit). The first
// failure becomes the KeyUsable condition's reason and message; the same chain guards every key
// switch (safety invariant 1: never move a workload onto a key that fails pre-flight).

import type { KeyFacts } from './key-facts.ts';

export interface KeyCheckInput {
  /** Undefined when DescribeKey said the key does not exist. */
  key: KeyFacts | undefined;
  /** The key reference as the user wrote it, for messages. */
  reference: string;
  /** The Region the key must be in (the workload's, or the KmsKey's). */
  region: string;
}

export interface KeyCheckFailure {
  check: string;
  /** CamelCase condition reason. */
  reason: string;
  message: string;
}

interface KeyCheck {
  name: string;
  check(input: KeyCheckInput & { key: KeyFacts }): Omit<KeyCheckFailure, 'check'> | undefined;
}

const chain: KeyCheck[] = [
  // Pending deletion first: it is also "not enabled", but the remedy differs (cancel, then enable).
  {
    name: 'notPendingDeletion',
    check: ({ key }) =>
      key.state === 'PendingDeletion' || key.state === 'PendingReplicaDeletion'
        ? {
            reason: 'KeyPendingDeletion',
            message: `key ${key.arn} is scheduled for deletion${key.deletionDate ? ` on ${key.deletionDate}` : ''}: cancel the deletion (aws kms cancel-key-deletion) and enable the key, or set protection.cancelDeletion on its KmsKey`,
          }
        : undefined,
  },
  // Enabled: disabled keys break every workload that uses them.
  {
    name: 'enabled',
    check: ({ key }) =>
      key.state !== 'Enabled'
        ? {
            reason: key.state === 'Disabled' ? 'KeyDisabled' : 'KeyNotEnabled',
            message: `key ${key.arn} is ${key.state}: enable it (aws kms enable-key) or set protection.reenable on its KmsKey`,
          }
        : undefined,
  },
  // Customer managed: AWS managed keys cannot be put in a workload's encryption settings.
  {
    name: 'customerManaged',
    check: ({ key }) =>
      key.keyManager !== 'CUSTOMER'
        ? {
            reason: 'KeyNotCustomerManaged',
            message: `key ${key.arn} is an AWS managed key: use a customer managed key`,
          }
        : undefined,
  },
  // Symmetric encryption key: all three services accept only SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT.
  {
    name: 'symmetricEncryption',
    check: ({ key }) =>
      key.keySpec !== 'SYMMETRIC_DEFAULT' || key.keyUsage !== 'ENCRYPT_DECRYPT'
        ? {
            reason: 'KeyNotSymmetric',
            message: `key ${key.arn} is ${key.keySpec}/${key.keyUsage}: Managed Flink, Keyspaces and EMR Serverless need a SYMMETRIC_DEFAULT key with usage ENCRYPT_DECRYPT`,
          }
        : undefined,
  },
  // Same Region: the services look the key up in the workload's Region.
  {
    name: 'sameRegion',
    check: ({ key, region }) =>
      key.region !== region
        ? {
            reason: 'KeyInOtherRegion',
            message: `key ${key.arn} is in ${key.region} but the workload is in ${region}: use a key (or a multi-Region replica) in ${region}`,
          }
        : undefined,
  },
];

/** Runs the chain; undefined when the key passes every check. */
export function checkKey(input: KeyCheckInput): KeyCheckFailure | undefined {
  const { key } = input;
  if (!key) {
    return {
      check: 'exists',
      reason: 'KeyNotFound',
      message: `KMS key ${input.reference} was not found in ${input.region}: check the key ID, ARN or alias and the Region`,
    };
  }
  for (const c of chain) {
    const failure = c.check({ ...input, key });
    if (failure) return { check: c.name, ...failure };
  }
  return undefined;
}

export const keyCheckNames = ['exists', ...chain.map((c) => c.name)];
