// KmsKey: a customer managed KMS key the operator validates, rotates and guards. Either adopts an
// existing key (spec.keyId) or creates one (spec.create). Workloads reference it by name; while any
// does, the KmsKey's finalizer holds it and its deletion policy waits.

import Type, { type Static } from 'typebox';
import { rules, stringEnum, stringMap } from './schema.ts';
import {
  Conditions,
  keyIdentifier,
  Mode,
  ObservedGeneration,
  Region,
  RoleArn,
  WorkloadReference,
} from './shared.ts';

export const KeyUser = stringEnum(['ManagedFlink', 'Keyspaces', 'EmrServerless'] as const, {
  description: 'A service whose workloads will use the key.',
});
export type KeyUser = Static<typeof KeyUser>;

export const KmsKeyCreate = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 8192, description: 'Description of the new key.' })),
    alias: Type.Optional(
      Type.String({
        maxLength: 256,
        description: 'Alias to create for the key, e.g. alias/orders.',
        ...rules(
          {
            rule: "self.matches('^alias/[a-zA-Z0-9/_-]{1,250}$')",
            message: 'must look like alias/<name> using letters, digits, /, _ and -',
          },
          { rule: "!self.startsWith('alias/aws/')", message: 'alias/aws/ is reserved for AWS managed keys' },
        ),
      }),
    ),
    tags: Type.Optional(
      stringMap({ description: 'AWS tags for the key.', maxProperties: 40, valueMaxLength: 256 }),
    ),
    policy: Type.Optional(
      Type.Object(
        {
          services: Type.Array(KeyUser, {
            maxItems: 3,
            description:
              'Services whose workloads will use the key: the generated key policy gets the service principals, actions and conditions each needs.',
            'x-kubernetes-list-type': 'set',
          }),
          keyAdministrators: Type.Optional(
            Type.Array(Type.String({ maxLength: 2048 }), {
              maxItems: 20,
              description: 'IAM principal ARNs allowed to administer the key (no cryptographic use).',
            }),
          ),
          keyUsers: Type.Optional(
            Type.Array(Type.String({ maxLength: 2048 }), {
              maxItems: 20,
              description:
                'IAM principal ARNs that configure workloads with the key (the operator role, deploy roles): allowed through the chosen services only (kms:ViaService).',
            }),
          ),
        },
        {
          additionalProperties: false,
          description: 'Generate the key policy for the services that will use the key.',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Create a new symmetric encryption key instead of adopting one.',
  },
);

export const Rotation = Type.Object(
  {
    enabled: Type.Optional(
      Type.Boolean({
        description:
          'Automatic rotation of the key material. Unset: on for a key this object creates; an adopted key keeps the setting it has in AWS. Setting only onDemandToken never changes automatic rotation.',
      }),
    ),
    periodInDays: Type.Optional(
      Type.Integer({
        description: 'Days between automatic rotations (90-2560, AWS default 365).',
        ...rules({
          rule: 'self >= 90 && self <= 2560',
          message: 'periodInDays must be between 90 and 2560 (AWS KMS limits); AWS uses 365 when unset',
        }),
      }),
    ),
    onDemandToken: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description:
          'Set or change this value to rotate the key material once, now (RotateKeyOnDemand). The operator records the token it acted on in status and never rotates twice for the same token. AWS caps on-demand rotations per key.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Key material rotation.' },
);

export const KmsKeySpec = Type.Object(
  {
    keyId: Type.Optional(
      keyIdentifier(
        'Adopt an existing key: key ID, key ARN, alias name or alias ARN. Immutable: to move workloads to another key, point them at another KmsKey.',
      ),
    ),
    create: Type.Optional(KmsKeyCreate),
    region: Type.Optional(Region),
    roleArn: Type.Optional(RoleArn),
    mode: Type.Optional(Mode),
    rotation: Type.Optional(Rotation),
    deletionPolicy: Type.Optional(
      stringEnum(['Retain', 'ScheduleDeletion'] as const, {
        description:
          'What happens to the AWS key when this object is deleted and no workload uses it any more. Retain (default): nothing. ScheduleDeletion: schedule key deletion with pendingWindowInDays.',
        default: 'Retain',
      }),
    ),
    pendingWindowInDays: Type.Optional(
      Type.Integer({
        description:
          'Waiting period before AWS deletes the key, with deletionPolicy ScheduleDeletion (7-30, default 30).',
        ...rules({
          rule: 'self >= 7 && self <= 30',
          message: 'pendingWindowInDays must be between 7 and 30 (AWS KMS limits)',
        }),
      }),
    ),
    protection: Type.Optional(
      Type.Object(
        {
          cancelDeletion: Type.Optional(
            Type.Boolean({
              description:
                'If the key is scheduled for deletion outside Kubernetes while workloads use it, cancel the deletion.',
            }),
          ),
          reenable: Type.Optional(
            Type.Boolean({
              description:
                'If the key is disabled outside Kubernetes (or left Disabled by a cancelled deletion) while workloads use it, enable it again.',
            }),
          ),
        },
        {
          additionalProperties: false,
          description: 'Reactions to out-of-band changes that would lock workloads out.',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    ...rules(
      {
        rule: 'has(self.keyId) != has(self.create)',
        message: 'set exactly one of keyId (adopt an existing key) or create (make a new key)',
      },
      {
        rule: 'has(self.keyId) == has(oldSelf.keyId) && (!has(self.keyId) || self.keyId == oldSelf.keyId)',
        message:
          'keyId is immutable: to move workloads to another key, create another KmsKey and point the workloads at it',
        fieldPath: '.keyId',
      },
      {
        rule: 'has(self.create) == has(oldSelf.create) && (!has(self.create) || self.create == oldSelf.create)',
        message:
          'create is immutable once the key exists: create another KmsKey for a key with other settings',
        fieldPath: '.create',
      },
      {
        // Region itself is immutable once set; this closes the gap of adding or removing it, which
        // would silently re-point the object between an explicit Region and the operator's default.
        rule: 'has(self.region) == has(oldSelf.region)',
        message: 'region cannot be added or removed after creation: it names where the AWS key lives',
        fieldPath: '.region',
      },
      {
        rule: "!has(self.pendingWindowInDays) || (has(self.deletionPolicy) && self.deletionPolicy == 'ScheduleDeletion')",
        message: 'pendingWindowInDays applies only with deletionPolicy: ScheduleDeletion',
        fieldPath: '.pendingWindowInDays',
      },
    ),
  },
);
export type KmsKeySpec = Static<typeof KmsKeySpec>;

export const RotationEntry = Type.Object(
  {
    date: Type.String({ format: 'date-time', description: 'When the rotation completed.' }),
    type: stringEnum(['AUTOMATIC', 'ON_DEMAND'] as const, { description: 'How it was started.' }),
    keyMaterialId: Type.Optional(Type.String({ maxLength: 128, description: 'The new key material.' })),
  },
  { additionalProperties: false },
);

export const PendingWorkload = Type.Object(
  {
    kind: Type.String({ maxLength: 64, description: 'Kind of the workload object.' }),
    namespace: Type.String({ maxLength: 63, description: 'Namespace of the workload object.' }),
    name: Type.String({ maxLength: 253, description: 'Name of the workload object.' }),
    reason: Type.String({ maxLength: 1024, description: 'Why it is not done yet.' }),
  },
  { additionalProperties: false },
);

export const KmsKeyStatus = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration),
    conditions: Type.Optional(Conditions),
    keyArn: Type.Optional(Type.String({ maxLength: 2048, description: 'Resolved key ARN.' })),
    keyId: Type.Optional(Type.String({ maxLength: 128, description: 'Resolved key ID.' })),
    creation: Type.Optional(
      Type.Object(
        {
          requestedAt: Type.String({
            format: 'date-time',
            description: 'When CreateKey was about to be called.',
          }),
          keyArn: Type.Optional(
            Type.String({
              maxLength: 2048,
              description:
                'The key CreateKey made, recorded at once (keyArn is set once its alias is in place).',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'A key creation under way (spec.create), written before CreateKey: a retry or a restart finds the key it made (here, through its alias, or by its cmk.io/uid tag) and never creates another. Removed once keyArn is set.',
        },
      ),
    ),
    region: Type.Optional(Type.String({ maxLength: 32, description: 'Region of the key.' })),
    keyState: Type.Optional(
      Type.String({ maxLength: 64, description: 'KMS key state (Enabled, Disabled, PendingDeletion...).' }),
    ),
    keySpec: Type.Optional(Type.String({ maxLength: 64, description: 'KMS key spec.' })),
    keyUsage: Type.Optional(Type.String({ maxLength: 64, description: 'KMS key usage.' })),
    keyManager: Type.Optional(Type.String({ maxLength: 16, description: 'CUSTOMER or AWS.' })),
    origin: Type.Optional(Type.String({ maxLength: 64, description: 'Key material origin.' })),
    deletionDate: Type.Optional(
      Type.String({ format: 'date-time', description: 'When AWS deletes the key, if scheduled.' }),
    ),
    currentKeyMaterialId: Type.Optional(
      Type.String({ maxLength: 128, description: 'Current key material.' }),
    ),
    rotation: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean({ description: 'Automatic rotation on.' }),
          periodInDays: Type.Optional(Type.Integer({ description: 'Rotation period.' })),
          nextRotationDate: Type.Optional(
            Type.String({ format: 'date-time', description: 'Next automatic rotation.' }),
          ),
          onDemandRotationStartDate: Type.Optional(
            Type.String({ format: 'date-time', description: 'Start of the on-demand rotation in progress.' }),
          ),
          pendingOnDemand: Type.Optional(
            Type.Object(
              {
                token: Type.String({ maxLength: 128, description: 'Token being acted on.' }),
                requestedAt: Type.String({
                  format: 'date-time',
                  description: 'When RotateKeyOnDemand was about to be called.',
                }),
                lastRotationBefore: Type.Optional(
                  Type.String({
                    format: 'date-time',
                    description:
                      'The newest rotation KMS listed when the intent was written; a newer one means the call reached KMS.',
                  }),
                ),
              },
              {
                additionalProperties: false,
                description:
                  'Written before RotateKeyOnDemand is called, so a restart can tell whether the call reached KMS and never rotates twice for one token.',
              },
            ),
          ),
          lastOnDemandRefusal: Type.Optional(
            Type.String({
              maxLength: 2048,
              description:
                'Why KMS refused the rotation for lastOnDemandToken (the per-key cap); cleared by a new token that succeeds.',
            }),
          ),
          lastOnDemandToken: Type.Optional(
            Type.String({ maxLength: 128, description: 'The spec.rotation.onDemandToken last acted on.' }),
          ),
          recent: Type.Optional(
            Type.Array(RotationEntry, { maxItems: 10, description: 'Most recent rotations, newest first.' }),
          ),
        },
        { additionalProperties: false, description: 'Rotation as KMS reports it.' },
      ),
    ),
    usedBy: Type.Optional(
      Type.Array(WorkloadReference, {
        maxItems: 100,
        description:
          'Objects that reference this key: the first 100 by kind, namespace and name. status.workloads.total counts them all; kubectl cmk usage KEY lists every one.',
      }),
    ),
    usage: Type.Optional(
      Type.Object(
        {
          kubernetes: Type.Integer({
            description:
              'Objects in any namespace using the key: workloads and job runs on it, resolving to it or switching away from it, and other KmsKeys declaring it.',
          }),
          aws: Type.Integer({
            description:
              'Resources, snapshots, active job runs and service grants AWS shows on the key, at the last inventory pass.',
          }),
          unmanaged: Type.Integer({ description: 'Of those, the ones no object of this cluster manages.' }),
          lastInventoryTime: Type.Optional(
            Type.String({
              format: 'date-time',
              description:
                'When the inventory last scanned the key’s Region. A pass that finds the key’s users unchanged moves it at most hourly; the metric cmk_inventory_last_pass_timestamp_seconds has every pass.',
            }),
          ),
          unmanagedUsers: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  service: Type.String({
                    maxLength: 64,
                    description: 'ManagedFlink, Keyspaces or EmrServerless.',
                  }),
                  what: Type.String({
                    maxLength: 32,
                    description: 'application, table, snapshot, jobRun or grant.',
                  }),
                  resourceArn: Type.String({
                    maxLength: 2048,
                    description:
                      'The resource (for a snapshot or grant: its resource, with a suffix naming it).',
                  }),
                },
                { additionalProperties: false },
              ),
              { maxItems: 10, description: 'The first AWS users no object manages.' },
            ),
          ),
          unread: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  where: Type.String({ maxLength: 512, description: 'The listing or resource.' }),
                  reason: Type.String({ maxLength: 1024, description: 'What AWS answered.' }),
                },
                { additionalProperties: false },
              ),
              {
                maxItems: 10,
                description:
                  'What the last inventory pass of the key’s Region could not read (the first ten): a user may be behind it, so a deletion of the key waits.',
              },
            ),
          ),
        },
        {
          additionalProperties: false,
          description: 'Who uses the key, from Kubernetes and from AWS (`kubectl cmk usage` lists them all).',
        },
      ),
    ),
    workloads: Type.Optional(
      Type.Object(
        {
          total: Type.Integer({ description: 'Workloads referencing the key.' }),
          onKey: Type.Integer({ description: 'Workloads AWS reports on this key.' }),
          onCurrentMaterial: Type.Integer({ description: 'Workloads running on the current key material.' }),
          summary: Type.String({ maxLength: 64, description: 'k/n workloads done, for kubectl get.' }),
          pending: Type.Optional(
            Type.Array(PendingWorkload, {
              maxItems: 20,
              description:
                'The first 20 workloads not done yet (by kind, namespace and name), with the reason. The counts cover them all; kubectl cmk status lists every workload under its key.',
            }),
          ),
        },
        { additionalProperties: false, description: 'Switch and rotation progress across the workloads.' },
      ),
    ),
    grants: Type.Optional(
      Type.Object(
        {
          count: Type.Integer({ description: 'Grants on the key.' }),
          limit: Type.Integer({ description: 'AWS grant quota per key.' }),
        },
        { additionalProperties: false, description: 'Grant usage (Keyspaces uses 2 per table).' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type KmsKeyStatus = Static<typeof KmsKeyStatus>;
