// A plain AWS SDK v3 script, nothing emulator-specific in its calls: it creates a customer managed
// KMS key, a Managed Flink application, a Keyspaces table and an EMR Serverless application, switches
// each workload to the key, and prints every state it sees while polling. It talks to
// AWS_ENDPOINT_URL (with the usual AWS_REGION and credentials variables); without it, it starts an
// in-process emulator first, so `node scripts/sdk-demo.ts` works on a bare checkout.
//
// Against real AWS this creates billable resources; it is meant for the emulator.

import { randomUUID } from 'node:crypto';
import {
  CreateApplicationCommand as CreateEmrApplication,
  EMRServerlessClient,
  GetApplicationCommand as GetEmrApplication,
  UpdateApplicationCommand as UpdateEmrApplication,
} from '@aws-sdk/client-emr-serverless';
import {
  CreateKeyspaceCommand,
  CreateTableCommand,
  GetTableCommand,
  KeyspacesClient,
  UpdateTableCommand,
} from '@aws-sdk/client-keyspaces';
import {
  CreateApplicationCommand as CreateFlinkApplication,
  DescribeApplicationCommand,
  KinesisAnalyticsV2Client,
  StartApplicationCommand,
  UpdateApplicationCommand as UpdateFlinkApplication,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startEmulator } from '../emulator/index.ts';

/** A key policy the three workload services accept (MSF-007..010, KS-010..012, EMR-007). */
function serviceReadyPolicy(accountId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AccountAdministersAndUsesTheKey',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'ManagedFlink',
        Effect: 'Allow',
        Principal: {
          Service: ['kinesisanalytics.amazonaws.com', 'infrastructure.kinesisanalytics.amazonaws.com'],
        },
        Action: [
          'kms:DescribeKey',
          'kms:Decrypt',
          'kms:GenerateDataKey',
          'kms:GenerateDataKeyWithoutPlaintext',
          'kms:CreateGrant',
        ],
        Resource: '*',
      },
      {
        Sid: 'EmrServerless',
        Effect: 'Allow',
        Principal: { Service: 'emr-serverless.amazonaws.com' },
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: '*',
      },
    ],
  });
}

const started = performance.now();
const stamp = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s`;
const say = (what: string) => process.stdout.write(`${stamp()}  ${what}\n`);

/** Polls `read` until `done`, printing each state the first time it is seen. */
async function watch(
  label: string,
  read: () => Promise<string>,
  done: (state: string) => boolean,
): Promise<string> {
  let last: string | undefined;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const state = await read();
    if (state !== last) say(`${label}: ${state}`);
    last = state;
    if (done(state)) return state;
    if (Date.now() > deadline) throw new Error(`${label}: still ${state} after 120 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const local = process.env['AWS_ENDPOINT_URL'] ? undefined : await startEmulator({ port: 0 });
  const endpoint = process.env['AWS_ENDPOINT_URL'] ?? local!.url;
  const region = process.env['AWS_REGION'] ?? 'us-east-1';
  const config = {
    endpoint,
    region,
    credentials: {
      accessKeyId: process.env['AWS_ACCESS_KEY_ID'] ?? 'AKIAEMULATORADMIN0001',
      secretAccessKey: process.env['AWS_SECRET_ACCESS_KEY'] ?? 'emulator-secret',
      ...(process.env['AWS_SESSION_TOKEN'] ? { sessionToken: process.env['AWS_SESSION_TOKEN'] } : {}),
    },
  };
  const suffix = randomUUID().slice(0, 8);
  try {
    say(`endpoint ${endpoint}${local ? ' (in-process emulator)' : ''}, region ${region}`);
    const me = await new STSClient(config).send(new GetCallerIdentityCommand({}));
    say(`caller ${me.Arn}`);

    // --- KMS: the key every workload moves to.
    const kms = new KMSClient(config);
    const key = (
      await kms.send(
        new CreateKeyCommand({
          Description: 'sdk-demo workloads key',
          Policy: serviceReadyPolicy(me.Account!),
        }),
      )
    ).KeyMetadata!;
    await kms.send(
      new CreateAliasCommand({ AliasName: `alias/sdk-demo-${suffix}`, TargetKeyId: key.KeyId! }),
    );
    say(`kms key ${key.Arn} (${key.KeyState}), alias alias/sdk-demo-${suffix}`);

    // --- Managed Flink: create, start, then switch the running application to the key (a restart).
    const flink = new KinesisAnalyticsV2Client(config);
    const appName = `sdk-demo-${suffix}`;
    const describe = async () =>
      (await flink.send(new DescribeApplicationCommand({ ApplicationName: appName }))).ApplicationDetail!;
    await flink.send(
      new CreateFlinkApplication({
        ApplicationName: appName,
        RuntimeEnvironment: 'FLINK-1_20',
        ServiceExecutionRole: `arn:aws:iam::${me.Account}:role/sdk-demo-flink`,
        ApplicationConfiguration: {
          ApplicationCodeConfiguration: {
            CodeContentType: 'ZIPFILE',
            CodeContent: {
              S3ContentLocation: { BucketARN: 'arn:aws:s3:::sdk-demo-code', FileKey: 'app.jar' },
            },
          },
        },
      }),
    );
    const flinkStatus = async () => (await describe()).ApplicationStatus!;
    await watch(`flink ${appName}`, flinkStatus, (s) => s === 'READY');
    await flink.send(new StartApplicationCommand({ ApplicationName: appName }));
    await watch(`flink ${appName}`, flinkStatus, (s) => s === 'RUNNING');
    const before = await describe();
    await flink.send(
      new UpdateFlinkApplication({
        ApplicationName: appName,
        ConditionalToken: before.ConditionalToken!,
        ApplicationConfigurationUpdate: {
          ApplicationEncryptionConfigurationUpdate: {
            KeyTypeUpdate: 'CUSTOMER_MANAGED_KEY',
            KeyIdUpdate: `alias/sdk-demo-${suffix}`,
          },
        },
      }),
    );
    await watch(`flink ${appName}`, flinkStatus, (s) => s === 'RUNNING');
    const flinkKey = (await describe()).ApplicationConfigurationDescription
      ?.ApplicationEncryptionConfigurationDescription;
    say(`flink ${appName}: encryption ${flinkKey?.KeyType} ${flinkKey?.KeyId ?? ''}`);

    // --- Keyspaces: a table on the AWS owned key, then UpdateTable to the key (one setting per call).
    const keyspaces = new KeyspacesClient(config);
    const keyspaceName = `sdk_demo_${suffix}`;
    await keyspaces.send(new CreateKeyspaceCommand({ keyspaceName }));
    await keyspaces.send(
      new CreateTableCommand({
        keyspaceName,
        tableName: 'orders',
        schemaDefinition: { allColumns: [{ name: 'id', type: 'text' }], partitionKeys: [{ name: 'id' }] },
      }),
    );
    const table = async () =>
      await keyspaces.send(new GetTableCommand({ keyspaceName, tableName: 'orders' }));
    const tableStatus = async () => (await table()).status!;
    await watch(`keyspaces ${keyspaceName}.orders`, tableStatus, (s) => s === 'ACTIVE');
    await keyspaces.send(
      new UpdateTableCommand({
        keyspaceName,
        tableName: 'orders',
        encryptionSpecification: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: key.Arn! },
      }),
    );
    await watch(`keyspaces ${keyspaceName}.orders`, tableStatus, (s) => s !== 'UPDATING');
    const spec = (await table()).encryptionSpecification;
    say(`keyspaces ${keyspaceName}.orders: encryption ${spec?.type} ${spec?.kmsKeyIdentifier ?? ''}`);

    // --- EMR Serverless: the key can only change while the application is CREATED or STOPPED.
    const emr = new EMRServerlessClient(config);
    const created = await emr.send(
      new CreateEmrApplication({
        name: `sdk-demo-${suffix}`,
        releaseLabel: 'emr-7.5.0',
        type: 'SPARK',
        clientToken: suffix,
      }),
    );
    const applicationId = created.applicationId!;
    const emrApp = async () => (await emr.send(new GetEmrApplication({ applicationId }))).application!;
    const emrState = async () => (await emrApp()).state!;
    await watch(`emr ${applicationId}`, emrState, (s) => s === 'CREATED');
    await emr.send(
      new UpdateEmrApplication({
        applicationId,
        clientToken: `${suffix}-key`,
        diskEncryptionConfiguration: { encryptionKeyArn: key.Arn! },
      }),
    );
    // UpdateApplication is synchronous: the new configuration is there at once, the state unchanged.
    const updated = await emrApp();
    say(
      `emr ${applicationId}: ${updated.state}, disk encryption ${updated.diskEncryptionConfiguration?.encryptionKeyArn ?? 'service-owned'}`,
    );
  } finally {
    await local?.close();
  }
}

await main();
