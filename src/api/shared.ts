// Shapes shared by every kind: the key reference, the AWS target (region, role to assume), the mode,
// deletion policies, and the status conditions. Validation messages say what to write instead.

import Type, { type Static } from 'typebox';
import { rules, stringEnum } from './schema.ts';

export const group = 'cmk.io';
export const version = 'v1alpha1';
export const apiVersion = `${group}/${version}`;
export const category = 'cmk';

// Patterns are kept in one place: CEL rules, the operator's own parsing and tests use them.
export const patterns = {
  region: '^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$',
  accountId: '^[0-9]{12}$',
  keyId: '^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$',
  keyArn:
    '^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$',
  aliasName: '^alias/[a-zA-Z0-9/_-]{1,250}$',
  aliasArn: '^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:alias/[a-zA-Z0-9/_-]{1,250}$',
  roleArn: '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]{1,512}$',
  // Kubernetes object names (RFC 1123 subdomain) and namespace names (RFC 1123 label). A reference
  // that cannot name any object is refused at admission instead of waiting forever for its target.
  dnsSubdomain: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  dnsLabel: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
} as const;

/** The name of a Kubernetes object this one refers to. */
export function objectName(description: string) {
  return Type.String({
    minLength: 1,
    maxLength: 253,
    description,
    ...rules({
      rule: `self.matches('${patterns.dnsSubdomain}')`,
      message:
        'name must be a lowercase DNS subdomain (a-z, 0-9, - and .), like every Kubernetes object name',
    }),
  });
}

/** The name of a namespace this object refers to. */
export function namespaceName(description: string) {
  return Type.String({
    minLength: 1,
    maxLength: 63,
    description,
    ...rules({
      rule: `self.matches('${patterns.dnsLabel}')`,
      message: 'namespace must be a lowercase DNS label (a-z, 0-9 and -), like every namespace name',
    }),
  });
}

const keyIdentifierRule = `self.matches('${patterns.keyId}') || self.matches('${patterns.keyArn}') || self.matches('${patterns.aliasName}') || self.matches('${patterns.aliasArn}')`;

export function keyIdentifier(description: string) {
  return Type.String({
    minLength: 1,
    maxLength: 2048,
    description,
    ...rules(
      {
        rule: keyIdentifierRule,
        message:
          'must be a KMS key ID, key ARN (arn:aws:kms:<region>:<account>:key/<id>), alias name (alias/<name>) or alias ARN',
      },
      {
        rule: "!self.startsWith('alias/aws/') && !self.contains(':alias/aws/')",
        message:
          'AWS managed keys (alias/aws/...) cannot be used: create a customer managed key and reference it',
      },
    ),
  });
}

export const LocalObjectReference = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, description: 'Name of the referenced object.' }),
  },
  { additionalProperties: false },
);

export const KmsKeyObjectReference = Type.Object(
  {
    name: objectName('Name of the KmsKey object.'),
    namespace: Type.Optional(
      namespaceName(
        "Namespace of the KmsKey; defaults to this object's namespace. Another namespace must grant the reference with a KeyReferenceGrant.",
      ),
    ),
  },
  { additionalProperties: false },
);

export const KeyReference = Type.Object(
  {
    kmsKeyRef: Type.Optional(KmsKeyObjectReference),
    keyId: Type.Optional(
      keyIdentifier(
        'A KMS key the operator does not manage: key ID, key ARN, alias name (alias/orders) or alias ARN. Aliases are resolved to the key ARN before comparing with what AWS reports.',
      ),
    ),
    awsOwned: Type.Optional(
      Type.Boolean({
        description:
          "Use the service's AWS owned key (the default encryption of the service) instead of a customer managed key.",
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'The key this workload must be encrypted with: exactly one of kmsKeyRef (a KmsKey object, preferred: checked, rotation tracked, deletion guarded), keyId (a KMS key the operator does not manage) or awsOwned: true.',
    ...rules(
      {
        rule: '(has(self.kmsKeyRef) ? 1 : 0) + (has(self.keyId) ? 1 : 0) + (has(self.awsOwned) && self.awsOwned ? 1 : 0) == 1',
        message: 'set exactly one of kmsKeyRef, keyId or awsOwned: true',
      },
      {
        rule: '!has(self.awsOwned) || self.awsOwned',
        message: 'awsOwned: false is not meaningful: remove it and set kmsKeyRef or keyId',
        fieldPath: '.awsOwned',
      },
    ),
  },
);
export type KeyReference = Static<typeof KeyReference>;

export const Region = Type.String({
  minLength: 1,
  maxLength: 32,
  description: "AWS Region of the resource, e.g. eu-west-1. Defaults to the operator's region (AWS_REGION).",
  ...rules(
    { rule: `self.matches('${patterns.region}')`, message: 'must be an AWS Region code such as eu-west-1' },
    {
      rule: 'self == oldSelf',
      message: 'region is immutable: create a new object for a resource in another Region',
    },
  ),
});

export const RoleArn = Type.String({
  minLength: 1,
  maxLength: 2048,
  description:
    "IAM role the operator assumes for this object's AWS calls (for cross-account resources or per-team isolation). Defaults to the operator's own credentials.",
  ...rules({
    rule: `self.matches('${patterns.roleArn}')`,
    message: 'must be an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>',
  }),
});

export const Mode = stringEnum(['Enforce', 'Observe'] as const, {
  description:
    'Enforce: change AWS to match this spec. Observe: report drift and the planned changes in status, change nothing.',
  default: 'Enforce',
});
export type Mode = Static<typeof Mode>;

export const Condition = Type.Object(
  {
    type: Type.String({ maxLength: 316, description: 'Type of condition in CamelCase.' }),
    status: stringEnum(['True', 'False', 'Unknown'] as const, { description: 'Status of the condition.' }),
    observedGeneration: Type.Optional(
      Type.Integer({ minimum: 0, description: 'The .metadata.generation the condition was set from.' }),
    ),
    lastTransitionTime: Type.String({
      format: 'date-time',
      description: 'Last time the condition changed from one status to another.',
    }),
    reason: Type.String({
      maxLength: 1024,
      description: 'Machine-readable CamelCase reason for the last transition.',
    }),
    message: Type.String({ maxLength: 32768, description: 'Human-readable details.' }),
  },
  { additionalProperties: false },
);
export type Condition = Static<typeof Condition>;

export const Conditions = Type.Array(Condition, {
  maxItems: 16,
  description: 'Ready, Reconciling and Stalled (kstatus), plus domain conditions.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

export const ObservedGeneration = Type.Integer({
  minimum: 0,
  description: 'The .metadata.generation this status describes.',
});

export const WorkloadReference = Type.Object(
  {
    kind: Type.String({ maxLength: 64, description: 'Kind of the workload object.' }),
    namespace: Type.String({ maxLength: 63, description: 'Namespace of the workload object.' }),
    name: Type.String({ maxLength: 253, description: 'Name of the workload object.' }),
  },
  { additionalProperties: false },
);
export type WorkloadReference = Static<typeof WorkloadReference>;

/** Where the workload stands on its key, shared by all workload kinds. */
export const EncryptionStatus = Type.Object(
  {
    keyType: stringEnum(['AwsOwned', 'CustomerManaged'] as const, {
      description: 'Kind of key AWS reports.',
    }),
    keyArn: Type.Optional(
      Type.String({ maxLength: 2048, description: 'Key ARN AWS reports for the workload.' }),
    ),
    keyMaterialId: Type.Optional(
      Type.String({
        maxLength: 128,
        description: 'Key material the running workload uses, where the service exposes it.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type EncryptionStatus = Static<typeof EncryptionStatus>;
