// The workload kinds: one per AWS service, each declaring which key encrypts one existing AWS
// resource. They share a spec skeleton (identity fields, region, role, key, mode, deletion policy)
// and a status skeleton (what AWS reports, the last operation, conditions), so one reconcile core
// serves them all; only the identity fields and a few service options differ.

import Type, { type Static, type TProperties } from 'typebox';
import { type CelRule, rules, stringEnum, stringMap } from './schema.ts';
import {
  Conditions,
  EncryptionStatus,
  KeyReference,
  LocalObjectReference,
  Mode,
  ObservedGeneration,
  Region,
  RoleArn,
} from './shared.ts';

const WorkloadDeletionPolicy = stringEnum(['Orphan', 'RevertToAwsOwned'] as const, {
  description:
    "What happens to the AWS resource's encryption when this object is deleted. Orphan (default): leave it on its current key. RevertToAwsOwned: switch it back to the service's AWS owned key first.",
  default: 'Orphan',
});

function identityName(description: string, max: number, pattern: string, patternHelp: string) {
  return Type.String({
    minLength: 1,
    maxLength: max,
    description: `${description} Immutable.`,
    ...rules({ rule: `self.matches('${pattern}')`, message: patternHelp }),
  });
}

function workloadSpec<P extends TProperties>(
  identity: P,
  options: TProperties,
  identityFields: string[],
  extraRules: CelRule[] = [],
) {
  return Type.Object(
    {
      ...identity,
      region: Type.Optional(Region),
      roleArn: Type.Optional(RoleArn),
      key: KeyReference,
      mode: Type.Optional(Mode),
      deletionPolicy: Type.Optional(WorkloadDeletionPolicy),
      ...options,
    },
    {
      additionalProperties: false,
      ...rules(
        {
          rule: 'has(self.region) == has(oldSelf.region)',
          message: 'region cannot be added or removed after creation: it names where the AWS resource lives',
          fieldPath: '.region',
        },
        ...identityFields.map((f) => ({
          rule: `self.${f} == oldSelf.${f}`,
          message: `${f} is immutable: it names the AWS resource this object manages; create a new object for another resource`,
          fieldPath: `.${f}`,
        })),
        ...extraRules,
      ),
    },
  );
}

const LastOperation = Type.Object(
  {
    id: Type.Optional(
      Type.String({ maxLength: 256, description: 'AWS operation id, where the service has one.' }),
    ),
    action: Type.String({
      maxLength: 128,
      description: 'What was done (UpdateApplication, UpdateTable...).',
    }),
    status: stringEnum(['InProgress', 'Succeeded', 'Failed'] as const, { description: 'Outcome so far.' }),
    startTime: Type.String({ format: 'date-time', description: 'When it was requested.' }),
    endTime: Type.Optional(Type.String({ format: 'date-time', description: 'When it ended.' })),
    fromKey: Type.Optional(
      Type.String({ maxLength: 2048, description: 'Key before the change (ARN or AWS_OWNED).' }),
    ),
    toKey: Type.Optional(
      Type.String({ maxLength: 2048, description: 'Key after the change (ARN or AWS_OWNED).' }),
    ),
    message: Type.Optional(Type.String({ maxLength: 4096, description: 'AWS error text for a failure.' })),
    failureCause: Type.Optional(
      stringEnum(['KeyUnusable'] as const, {
        description:
          'KeyUnusable: AWS refused the switch and the key was then found disabled or pending deletion; the switch is tried again as soon as the key is usable, without the usual hold-off.',
      }),
    ),
  },
  { additionalProperties: false, description: 'The last change the operator made to the AWS resource.' },
);

function workloadStatus(extra: TProperties = {}) {
  return Type.Object(
    {
      observedGeneration: Type.Optional(ObservedGeneration),
      conditions: Type.Optional(Conditions),
      resourceArn: Type.Optional(Type.String({ maxLength: 2048, description: 'ARN of the AWS resource.' })),
      awsState: Type.Optional(
        Type.String({
          maxLength: 64,
          description:
            'Resource state as AWS reported it at the last status write. While a key switch the operator asked for is in flight (lastOperation InProgress), the status keeps the state from before it until AWS reports the end.',
        }),
      ),
      desiredKeyArn: Type.Optional(
        Type.String({ maxLength: 2048, description: 'The key the spec resolves to (ARN), or AWS_OWNED.' }),
      ),
      current: Type.Optional(EncryptionStatus),
      lastOperation: Type.Optional(LastOperation),
      pendingStart: Type.Optional(
        Type.Boolean({
          description:
            'The operator stopped the resource (to change its key or to pick up rotated key material) and will start it again.',
        }),
      ),
      plan: Type.Optional(
        Type.Array(Type.String({ maxLength: 1024 }), {
          maxItems: 20,
          description: 'What the operator would change (Observe mode) or is changing (Enforce mode).',
        }),
      ),
      ...extra,
    },
    { additionalProperties: false },
  );
}

const MaintenanceWindow = Type.Object(
  {
    days: Type.Optional(
      Type.Array(
        stringEnum(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const, {
          description: 'Day of week.',
        }),
        {
          maxItems: 7,
          description: 'Days the window opens on (UTC); every day when unset.',
          'x-kubernetes-list-type': 'set',
        },
      ),
    ),
    start: Type.String({
      maxLength: 5,
      description: 'Start time of day, HH:MM in UTC.',
      ...rules({
        rule: "self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')",
        message: 'start must be HH:MM (24-hour, UTC), e.g. 02:30',
      }),
    }),
    durationMinutes: Type.Integer({
      description: 'How long the window stays open (15-1440 minutes).',
      ...rules({
        rule: 'self >= 15 && self <= 1440',
        message: 'durationMinutes must be between 15 and 1440',
      }),
    }),
  },
  { additionalProperties: false, description: 'When disruptive actions (restarts, stops) may run.' },
);

// ---- Managed Service for Apache Flink --------------------------------------------------------

export const FlinkApplicationSpec = workloadSpec(
  {
    applicationName: identityName(
      'Name of the Managed Service for Apache Flink application.',
      128,
      '^[a-zA-Z0-9_.-]+$',
      'applicationName must be 1-128 letters, digits, _, . or -',
    ),
  },
  {
    restartAfterRotation: Type.Optional(
      stringEnum(['Never', 'Auto'] as const, {
        description:
          'Running Flink storage keeps the key material it started with until the application restarts. Auto: restart a running application that started before its key last rotated, whoever started it (within maintenanceWindow if set; with snapshots disabled only when restartWithoutSnapshots is true). Never (default): report it and wait.',
        default: 'Never',
      }),
    ),
    restartWithoutSnapshots: Type.Optional(
      Type.Boolean({
        description:
          "Let restartAfterRotation: Auto restart an application whose snapshots are disabled (ApplicationSnapshotConfiguration SnapshotsEnabled: false). Such a restart loses the application's running state, so unless this is true the operator only reports the pending restart.",
      }),
    ),
    maintenanceWindow: Type.Optional(MaintenanceWindow),
  },
  ['applicationName'],
);
export type FlinkApplicationSpec = Static<typeof FlinkApplicationSpec>;
export const FlinkApplicationStatus = workloadStatus({
  applicationVersionId: Type.Optional(Type.Integer({ description: 'ApplicationVersionId last seen.' })),
  restartPending: Type.Optional(
    Type.Boolean({
      description: 'The key material rotated and the running application has not restarted since.',
    }),
  ),
});

// ---- Amazon Keyspaces ----------------------------------------------------------------------------

export const KeyspacesTableSpec = workloadSpec(
  {
    keyspaceName: identityName(
      'Keyspace of the table.',
      48,
      '^[a-zA-Z0-9][a-zA-Z0-9_]{0,47}$',
      'keyspaceName must be 1-48 letters, digits or _, starting with a letter or digit',
    ),
    tableName: identityName(
      'Name of the table.',
      48,
      '^[a-zA-Z0-9][a-zA-Z0-9_]{0,47}$',
      'tableName must be 1-48 letters, digits or _, starting with a letter or digit',
    ),
  },
  {},
  ['keyspaceName', 'tableName'],
);
export type KeyspacesTableSpec = Static<typeof KeyspacesTableSpec>;
export const KeyspacesTableStatus = workloadStatus({
  inaccessibleSince: Type.Optional(
    Type.String({
      format: 'date-time',
      description: 'When the table was first seen INACCESSIBLE_ENCRYPTION_CREDENTIALS.',
    }),
  ),
  deletionAfter: Type.Optional(
    Type.String({
      format: 'date-time',
      description: 'When AWS deletes the table if key access is not restored (7 days).',
    }),
  ),
});

// ---- EMR Serverless ----------------------------------------------------------------------------

const EncryptionContext = stringMap({
  description:
    'Encryption context for the disk keys. Appears in plaintext in CloudTrail: never put secrets here.',
  maxProperties: 8,
  valueMaxLength: 384,
});

export const EmrServerlessApplicationSpec = workloadSpec(
  {
    applicationId: identityName(
      'EMR Serverless application ID.',
      64,
      '^[0-9a-z]+$',
      'applicationId must be the lowercase alphanumeric application ID, e.g. 00fabc123def4567',
    ),
  },
  {
    encryptionContext: Type.Optional(EncryptionContext),
    whenStarted: Type.Optional(
      stringEnum(['Wait', 'StopAndUpdate'] as const, {
        description:
          'EMR Serverless changes disk encryption only while an application is CREATED or STOPPED. Wait (default): wait until it stops. StopAndUpdate: wait for running jobs (or cancel them with cancelRunningJobs), stop, update, start again.',
        default: 'Wait',
      }),
    ),
    cancelRunningJobs: Type.Optional(
      Type.Boolean({
        description:
          'With whenStarted StopAndUpdate: cancel running jobs instead of waiting for them. Destructive.',
      }),
    ),
    maintenanceWindow: Type.Optional(MaintenanceWindow),
    jobOverridesConfigMap: Type.Optional(
      Type.Object(
        { name: Type.String({ minLength: 1, maxLength: 253, description: 'ConfigMap name.' }) },
        {
          additionalProperties: false,
          description:
            'Publish the job-level encryption overrides (StartJobRun configurationOverrides JSON and Livy Spark conf keys) in this ConfigMap, for pipelines that submit jobs themselves.',
        },
      ),
    ),
  },
  ['applicationId'],
  [
    {
      rule: "!has(self.cancelRunningJobs) || !self.cancelRunningJobs || (has(self.whenStarted) && self.whenStarted == 'StopAndUpdate')",
      message: 'cancelRunningJobs applies only with whenStarted: StopAndUpdate',
      fieldPath: '.cancelRunningJobs',
    },
    {
      rule: '!has(self.encryptionContext) || !has(self.key.awsOwned)',
      message:
        'encryptionContext applies only to a customer managed key; remove it or set key.kmsKeyRef / key.keyId',
      fieldPath: '.encryptionContext',
    },
  ],
);
export type EmrServerlessApplicationSpec = Static<typeof EmrServerlessApplicationSpec>;
export const EmrServerlessApplicationStatus = workloadStatus({
  waitingFor: Type.Optional(
    Type.String({ maxLength: 1024, description: 'What the pending key change waits for.' }),
  ),
});

export const EmrServerlessJobRunSpec = Type.Object(
  {
    applicationRef: Type.Optional(
      Type.Unsafe<{ name: string }>({
        ...LocalObjectReference,
        description:
          'The EmrServerlessApplication object (same namespace) whose application runs the job and whose key it inherits.',
      }),
    ),
    applicationId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'EMR Serverless application ID, when no EmrServerlessApplication object manages it.',
        ...rules({
          rule: "self.matches('^[0-9a-z]+$')",
          message: 'applicationId must be the lowercase alphanumeric application ID, e.g. 00fabc123def4567',
        }),
      }),
    ),
    region: Type.Optional(Region),
    roleArn: Type.Optional(RoleArn),
    name: Type.Optional(Type.String({ maxLength: 256, description: 'Job run name.' })),
    executionRoleArn: Type.String({
      maxLength: 2048,
      description: 'Runtime role of the job.',
      ...rules({
        rule: "self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]+$')",
        message: 'executionRoleArn must be an IAM role ARN: arn:aws:iam::<account>:role/<name>',
      }),
    }),
    jobDriver: Type.Object(
      {
        sparkSubmit: Type.Optional(
          Type.Object(
            {
              entryPoint: Type.String({
                minLength: 1,
                maxLength: 4096,
                description: 'Script or JAR, e.g. s3://bucket/job.py.',
              }),
              entryPointArguments: Type.Optional(
                Type.Array(Type.String({ maxLength: 10280 }), { maxItems: 1024, description: 'Arguments.' }),
              ),
              sparkSubmitParameters: Type.Optional(
                Type.String({ maxLength: 102400, description: 'spark-submit parameters.' }),
              ),
            },
            { additionalProperties: false, description: 'A Spark job.' },
          ),
        ),
        hive: Type.Optional(
          Type.Object(
            {
              query: Type.String({
                minLength: 1,
                maxLength: 10280,
                description: 'Query file, e.g. s3://bucket/q.sql.',
              }),
              initQueryFile: Type.Optional(Type.String({ maxLength: 256, description: 'Init query file.' })),
              parameters: Type.Optional(Type.String({ maxLength: 102400, description: 'Hive parameters.' })),
            },
            { additionalProperties: false, description: 'A Hive job.' },
          ),
        ),
      },
      {
        additionalProperties: false,
        description: 'What to run: exactly one of sparkSubmit or hive.',
        ...rules({
          rule: 'has(self.sparkSubmit) != has(self.hive)',
          message: 'set exactly one of sparkSubmit or hive',
        }),
      },
    ),
    key: Type.Optional(KeyReference),
    encryptionContext: Type.Optional(EncryptionContext),
  },
  {
    additionalProperties: false,
    description:
      'A job run. Submitted once; the spec cannot change afterwards (create a new object to run again).',
    ...rules(
      {
        rule: 'has(self.applicationRef) != has(self.applicationId)',
        message: 'set exactly one of applicationRef (an EmrServerlessApplication object) or applicationId',
      },
      {
        rule: '!has(self.encryptionContext) || !has(self.key) || !has(self.key.awsOwned)',
        message:
          'encryptionContext applies only to a customer managed key; remove it or set key.kmsKeyRef / key.keyId',
        fieldPath: '.encryptionContext',
      },
      {
        rule: 'self == oldSelf',
        message: 'a job run is immutable once created: create a new EmrServerlessJobRun to run again',
      },
    ),
  },
);
export type EmrServerlessJobRunSpec = Static<typeof EmrServerlessJobRunSpec>;
export const EmrServerlessJobRunStatus = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration),
    conditions: Type.Optional(Conditions),
    jobRunId: Type.Optional(Type.String({ maxLength: 64, description: 'Job run ID AWS assigned.' })),
    applicationId: Type.Optional(Type.String({ maxLength: 64, description: 'Application the job runs on.' })),
    arn: Type.Optional(Type.String({ maxLength: 2048, description: 'Job run ARN.' })),
    state: Type.Optional(
      Type.String({ maxLength: 32, description: 'Job run state (SUBMITTED ... SUCCESS/FAILED/CANCELLED).' }),
    ),
    stateDetails: Type.Optional(Type.String({ maxLength: 4096, description: 'AWS state details.' })),
    keyArn: Type.Optional(
      Type.String({ maxLength: 2048, description: 'Key the job disks use (ARN), or AWS_OWNED.' }),
    ),
    submittedAt: Type.Optional(
      Type.String({ format: 'date-time', description: 'When StartJobRun was called.' }),
    ),
    clientToken: Type.Optional(
      Type.String({ maxLength: 64, description: 'Idempotency token used for StartJobRun.' }),
    ),
  },
  { additionalProperties: false },
);

// ---- EMR Serverless interactive sessions ---------------------------------------------------------

const sessionDiskProperties = [
  'spark.emr-serverless.disk.encryptionKeyArn',
  'spark.emr-serverless.disk.encryptionContext',
] as const;

export const EmrServerlessSessionSpec = Type.Object(
  {
    applicationRef: Type.Optional(
      Type.Unsafe<{ name: string }>({
        ...LocalObjectReference,
        description:
          'The EmrServerlessApplication object (same namespace) whose application runs the session and whose key it uses unless spec.key is set.',
      }),
    ),
    applicationId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description:
          'EMR Serverless application ID, when no EmrServerlessApplication object manages it (spec.key is then required).',
        ...rules({
          rule: "self.matches('^[0-9a-z]+$')",
          message: 'applicationId must be the lowercase alphanumeric application ID, e.g. 00fabc123def4567',
        }),
      }),
    ),
    region: Type.Optional(Region),
    roleArn: Type.Optional(RoleArn),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Session name.' })),
    executionRoleArn: Type.String({
      maxLength: 2048,
      description: 'Runtime role of the session.',
      ...rules({
        rule: "self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]+$')",
        message: 'executionRoleArn must be an IAM role ARN: arn:aws:iam::<account>:role/<name>',
      }),
    }),
    idleTimeoutMinutes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10080,
        description:
          "Minutes without work after which AWS terminates the session (1-10080); AWS's default when unset.",
      }),
    ),
    sparkDefaults: Type.Optional(
      Type.Unsafe<Record<string, string>>({
        ...stringMap({
          description:
            'Further spark-defaults properties for the session (executor sizes and the like). The disk key is not set here but with spec.key and spec.encryptionContext.',
          maxProperties: 64,
          valueMaxLength: 4096,
        }),
        ...rules({
          rule: sessionDiskProperties.map((p) => `!('${p}' in self)`).join(' && '),
          message:
            'the session disk key is set with spec.key (and spec.encryptionContext), not in sparkDefaults: remove spark.emr-serverless.disk.encryptionKeyArn and spark.emr-serverless.disk.encryptionContext',
        }),
      }),
    ),
    key: Type.Optional(KeyReference),
    encryptionContext: Type.Optional(EncryptionContext),
  },
  {
    additionalProperties: false,
    description:
      'An interactive session, started once on the key of its own key reference or its application; terminated when the object is deleted. The spec cannot change afterwards (create a new object for another session).',
    ...rules(
      {
        rule: 'has(self.applicationRef) != has(self.applicationId)',
        message: 'set exactly one of applicationRef (an EmrServerlessApplication object) or applicationId',
      },
      {
        rule: '!has(self.applicationId) || has(self.key)',
        message:
          "with applicationId, set key (kmsKeyRef, keyId or awsOwned: true): a session's disk key is always named explicitly; or use applicationRef to take the application object's key",
        fieldPath: '.key',
        reason: 'FieldValueRequired',
      },
      {
        rule: '!has(self.encryptionContext) || !has(self.key) || !has(self.key.awsOwned)',
        message:
          'encryptionContext applies only to a customer managed key; remove it or set key.kmsKeyRef / key.keyId',
        fieldPath: '.encryptionContext',
      },
      {
        rule: 'self == oldSelf',
        message: 'a session is immutable once created: create a new EmrServerlessSession for another session',
      },
    ),
  },
);
export type EmrServerlessSessionSpec = Static<typeof EmrServerlessSessionSpec>;
export const EmrServerlessSessionStatus = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration),
    conditions: Type.Optional(Conditions),
    sessionId: Type.Optional(Type.String({ maxLength: 64, description: 'Session ID AWS assigned.' })),
    applicationId: Type.Optional(
      Type.String({ maxLength: 64, description: 'Application the session runs on.' }),
    ),
    arn: Type.Optional(Type.String({ maxLength: 2048, description: 'Session ARN.' })),
    state: Type.Optional(
      Type.String({
        maxLength: 32,
        description:
          'Session state (SUBMITTED, STARTING, STARTED, IDLE, BUSY, TERMINATING, TERMINATED, FAILED).',
      }),
    ),
    stateDetails: Type.Optional(Type.String({ maxLength: 4096, description: 'AWS state details.' })),
    keyArn: Type.Optional(
      Type.String({
        maxLength: 2048,
        description:
          'Key the session disks use (ARN), or AWS_OWNED; removed once the session ended (it no longer uses the key).',
      }),
    ),
    requestedAt: Type.Optional(
      Type.String({ format: 'date-time', description: 'When StartSession was called.' }),
    ),
    clientToken: Type.Optional(
      Type.String({ maxLength: 64, description: 'Idempotency token used for StartSession.' }),
    ),
  },
  { additionalProperties: false },
);
