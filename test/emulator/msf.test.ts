// The Managed Service for Apache Flink emulator as the operator sees it: the real
// @aws-sdk/client-kinesis-analytics-v2 (and the KMS client for keys) over HTTP against the in-process
// emulator. Transitions take exactly 1000 ms and the clock is frozen, so each test walks the status
// machine by advancing the clock.

import {
  type ApplicationDetail,
  CreateApplicationCommand,
  type CreateApplicationCommandInput,
  CreateApplicationSnapshotCommand,
  DeleteApplicationCommand,
  DeleteApplicationSnapshotCommand,
  DescribeApplicationCommand,
  DescribeApplicationOperationCommand,
  DescribeApplicationSnapshotCommand,
  KinesisAnalyticsV2Client,
  ListApplicationOperationsCommand,
  ListApplicationSnapshotsCommand,
  ListApplicationsCommand,
  ListTagsForResourceCommand,
  StartApplicationCommand,
  StopApplicationCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateApplicationCommand,
  type UpdateApplicationCommandInput,
} from '@aws-sdk/client-kinesis-analytics-v2';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  type CreateKeyCommandInput,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
  PutKeyPolicyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { sdkFailure, useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();

const account = '111122223333';
const root = `arn:aws:iam::${account}:root`;
const msfPrincipals = ['kinesisanalytics.amazonaws.com', 'infrastructure.kinesisanalytics.amazonaws.com'];
const msfKeyActions = [
  'kms:DescribeKey',
  'kms:Decrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:CreateGrant',
];
/** The usual "key administrators" statement: manage the key, never use it. */
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
const operatorKeyId = 'AKIAFLINKOPERATOR001';
const operatorArn = `arn:aws:iam::${account}:role/flink-operator`;

/**
 * A key policy MSF accepts (MSF-007/008/010): the account root administers and uses the key, the
 * listed callers may use it, and the listed MSF service principals may use it. `rootUse: false` keeps
 * root to administration only, so a caller relying on it lacks the data-plane permissions.
 */
function flinkKeyPolicy(opts: { services?: string[]; callers?: string[]; rootUse?: boolean } = {}): string {
  const services = opts.services ?? msfPrincipals;
  const statements: unknown[] = [
    {
      Sid: 'KeyAdministration',
      Effect: 'Allow',
      Principal: { AWS: root },
      Action: opts.rootUse === false ? adminActions : 'kms:*',
      Resource: '*',
    },
  ];
  if ((opts.callers ?? []).length > 0) {
    statements.push({
      Sid: 'ApplicationOperator',
      Effect: 'Allow',
      Principal: { AWS: opts.callers },
      Action: msfKeyActions,
      Resource: '*',
    });
  }
  if (services.length > 0) {
    statements.push({
      Sid: 'ManagedFlink',
      Effect: 'Allow',
      Principal: { Service: services },
      Action: msfKeyActions,
      Resource: '*',
    });
  }
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

const clients = new Map<string, KMSClient | KinesisAnalyticsV2Client>();
function kms(region = 'us-east-1'): KMSClient {
  const id = `kms/${region}`;
  let c = clients.get(id) as KMSClient | undefined;
  if (!c) {
    c = new KMSClient(fixture.clientConfig({ region }));
    clients.set(id, c);
  }
  return c;
}
function flink(opts: { region?: string; accessKeyId?: string } = {}): KinesisAnalyticsV2Client {
  const id = `msf/${opts.region ?? 'us-east-1'}/${opts.accessKeyId ?? ''}`;
  let c = clients.get(id) as KinesisAnalyticsV2Client | undefined;
  if (!c) {
    c = new KinesisAnalyticsV2Client(fixture.clientConfig(opts));
    clients.set(id, c);
  }
  return c;
}

async function createKey(
  opts: { region?: string; policy?: string; alias?: string } & Partial<CreateKeyCommandInput> = {},
): Promise<{ keyId: string; arn: string }> {
  const { region, policy, alias, ...rest } = opts;
  const out = await kms(region).send(new CreateKeyCommand({ Policy: policy ?? flinkKeyPolicy(), ...rest }));
  const meta = out.KeyMetadata!;
  if (alias) await kms(region).send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: meta.KeyId! }));
  return { keyId: meta.KeyId!, arn: meta.Arn! };
}

async function createApp(
  name: string,
  opts: { keyId?: string; runtime?: string; region?: string } & Partial<CreateApplicationCommandInput> = {},
): Promise<ApplicationDetail> {
  const { keyId, runtime, region, ...rest } = opts;
  const out = await flink({ ...(region ? { region } : {}) }).send(
    new CreateApplicationCommand({
      ApplicationName: name,
      RuntimeEnvironment: (runtime ?? 'FLINK-1_20') as CreateApplicationCommandInput['RuntimeEnvironment'],
      ServiceExecutionRole: `arn:aws:iam::${account}:role/flink-exec`,
      ...(keyId
        ? {
            ApplicationConfiguration: {
              ApplicationEncryptionConfiguration: { KeyType: 'CUSTOMER_MANAGED_KEY', KeyId: keyId },
            },
          }
        : {}),
      ...rest,
    }),
  );
  return out.ApplicationDetail!;
}

async function describeApp(name: string, client = flink()): Promise<ApplicationDetail> {
  return (await client.send(new DescribeApplicationCommand({ ApplicationName: name }))).ApplicationDetail!;
}

async function advance(ms: number): Promise<void> {
  await fixture.admin.advance({ ms });
}

async function startApp(name: string): Promise<string> {
  const out = await flink().send(new StartApplicationCommand({ ApplicationName: name }));
  await advance(1000);
  return out.OperationId!;
}

function setKey(keyId: string): UpdateApplicationCommandInput['ApplicationConfigurationUpdate'] {
  return {
    ApplicationEncryptionConfigurationUpdate: { KeyTypeUpdate: 'CUSTOMER_MANAGED_KEY', KeyIdUpdate: keyId },
  };
}
const toAwsOwned: UpdateApplicationCommandInput['ApplicationConfigurationUpdate'] = {
  ApplicationEncryptionConfigurationUpdate: { KeyTypeUpdate: 'AWS_OWNED_KEY' },
};

async function updateKey(
  name: string,
  update: UpdateApplicationCommandInput['ApplicationConfigurationUpdate'],
  client = flink(),
) {
  const current = await describeApp(name, client);
  return client.send(
    new UpdateApplicationCommand({
      ApplicationName: name,
      ConditionalToken: current.ConditionalToken!,
      ApplicationConfigurationUpdate: update,
    }),
  );
}

interface AppState {
  name: string;
  status: string;
  configuredKey: { keyType: string; keyArn?: string };
  runningStorage: { keyType: string; keyArn?: string; keyMaterialId?: string } | null;
  keyMaterialCurrent: boolean | null;
  keyAlarm: { keyArn: string; state: string } | null;
}

async function appState(name: string): Promise<AppState> {
  const state = (await fixture.admin.state())['kinesisanalytics'] as { applications: AppState[] };
  const app = state.applications.find((a) => a.name === name);
  if (!app) throw new Error(`no application ${name} in the emulator state`);
  return app;
}

async function operation(name: string, id: string) {
  return (
    await flink().send(new DescribeApplicationOperationCommand({ ApplicationName: name, OperationId: id }))
  ).ApplicationOperationInfoDetails!;
}

async function snapshots(name: string) {
  return (await flink().send(new ListApplicationSnapshotsCommand({ ApplicationName: name })))
    .SnapshotSummaries!;
}

describe('CreateApplication and DescribeApplication', () => {
  it('creates a READY application at version 1 with a conditional token and an ARN in its account and region', async () => {
    const created = await createApp('orders');
    expect(created.ApplicationStatus).toBe('READY');
    expect(created.ApplicationVersionId).toBe(1);
    expect(created.ApplicationARN).toBe(`arn:aws:kinesisanalytics:us-east-1:${account}:application/orders`);
    expect(created.ConditionalToken).toMatch(/.+/);
    expect(created.CreateTimestamp).toEqual(new Date(Date.UTC(2026, 10, 23, 12, 0, 0)));
    const described = await describeApp('orders');
    expect(described.RuntimeEnvironment).toBe('FLINK-1_20');
    expect(described.ConditionalToken).toBe(created.ConditionalToken);
  });

  it('reports no encryption description for an application created without one, AWS_OWNED_KEY when declared', async () => {
    await createApp('legacy');
    const legacy = await describeApp('legacy');
    expect(
      legacy.ApplicationConfigurationDescription?.ApplicationEncryptionConfigurationDescription,
    ).toBeUndefined();
    await createApp('declared', {
      ApplicationConfiguration: { ApplicationEncryptionConfiguration: { KeyType: 'AWS_OWNED_KEY' } },
    });
    const declared = await describeApp('declared');
    expect(
      declared.ApplicationConfigurationDescription?.ApplicationEncryptionConfigurationDescription,
    ).toEqual({
      KeyType: 'AWS_OWNED_KEY',
    });
  });

  it('resolves a CMK alias at create time and stores the key ARN', async () => {
    const key = await createKey({ alias: 'alias/flink-orders' });
    await createApp('orders', { keyId: 'alias/flink-orders' });
    const described = await describeApp('orders');
    expect(
      described.ApplicationConfigurationDescription?.ApplicationEncryptionConfigurationDescription,
    ).toEqual({
      KeyType: 'CUSTOMER_MANAGED_KEY',
      KeyId: key.arn,
    });
  });

  it('validates the CMK at create like at update: runtime before FLINK-1_20 and a disabled key are refused', async () => {
    const key = await createKey();
    const old = await sdkFailure(createApp('old-runtime', { keyId: key.arn, runtime: 'FLINK-1_18' }));
    expect(old.name).toBe('InvalidArgumentException');
    expect(old.message).toContain('FLINK-1_20');
    await kms().send(new DisableKeyCommand({ KeyId: key.keyId }));
    const disabled = await sdkFailure(createApp('disabled-key', { keyId: key.arn }));
    expect(disabled.name).toBe('InvalidArgumentException');
    expect(disabled.message).toContain(key.arn);
    await expect(describeApp('disabled-key')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('refuses a duplicate name in the same account and region but not in another region', async () => {
    await createApp('orders');
    const dup = await sdkFailure(createApp('orders'));
    expect(dup.name).toBe('ResourceInUseException');
    const other = await createApp('orders', { region: 'eu-west-1' });
    expect(other.ApplicationARN).toBe(`arn:aws:kinesisanalytics:eu-west-1:${account}:application/orders`);
  });

  it('rejects invalid input with InvalidArgumentException naming the member', async () => {
    const badName = await sdkFailure(createApp('bad name!'));
    expect(badName.name).toBe('InvalidArgumentException');
    expect(badName.message).toContain("'ApplicationName'");
    const noKeyId = await sdkFailure(
      createApp('nokey', {
        ApplicationConfiguration: { ApplicationEncryptionConfiguration: { KeyType: 'CUSTOMER_MANAGED_KEY' } },
      }),
    );
    expect(noKeyId.name).toBe('InvalidArgumentException');
    expect(noKeyId.message).toContain('KeyId');
    const badRuntime = await sdkFailure(createApp('runtime', { runtime: 'FLINK-9_9' }));
    expect(badRuntime.message).toContain("'RuntimeEnvironment'");
  });

  it('answers ResourceNotFoundException for an unknown application, with the message the SDK reads', async () => {
    const err = await sdkFailure(describeApp('ghost'));
    expect(err.name).toBe('ResourceNotFoundException');
    expect(err.message).toContain('ghost');
    expect(err.$metadata?.httpStatusCode).toBe(400);
  });

  it('sends errors with __type and a capital-M Message member on the wire', async () => {
    const res = await fetch(fixture.emulator.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'KinesisAnalytics_20180523.DescribeApplication',
      },
      body: JSON.stringify({ ApplicationName: 'ghost' }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body['__type']).toBe('ResourceNotFoundException');
    expect(body['Message']).toContain('ghost');
  });
});

describe('UpdateApplication concurrency and state rules', () => {
  it('increments the version, rotates the token, records the origin version and walks UPDATING -> READY', async () => {
    const created = await createApp('orders');
    const key = await createKey();
    const out = await flink().send(
      new UpdateApplicationCommand({
        ApplicationName: 'orders',
        CurrentApplicationVersionId: 1,
        ApplicationConfigurationUpdate: setKey(key.arn),
      }),
    );
    const d = out.ApplicationDetail!;
    expect(d.ApplicationStatus).toBe('UPDATING');
    expect(d.ApplicationVersionId).toBe(2);
    expect(d.ApplicationVersionUpdatedFrom).toBe(1);
    expect(d.ConditionalToken).not.toBe(created.ConditionalToken);
    expect(out.OperationId).toMatch(/.+/);
    const op = await operation('orders', out.OperationId!);
    expect(op).toMatchObject({ Operation: 'UpdateApplication', OperationStatus: 'IN_PROGRESS' });
    expect(op.EndTime).toBeUndefined();
    expect(op.ApplicationVersionChangeDetails).toEqual({
      ApplicationVersionUpdatedFrom: 1,
      ApplicationVersionUpdatedTo: 2,
    });
    await advance(999);
    expect((await describeApp('orders')).ApplicationStatus).toBe('UPDATING');
    await advance(1);
    expect((await describeApp('orders')).ApplicationStatus).toBe('READY');
    const done = await operation('orders', out.OperationId!);
    expect(done.OperationStatus).toBe('SUCCESSFUL');
    expect(done.EndTime!.getTime() - done.StartTime!.getTime()).toBe(1000);
  });

  it('answers ConcurrentModificationException (409) to a stale version id or a stale token', async () => {
    const created = await createApp('orders');
    const key = await createKey();
    await updateKey('orders', setKey(key.arn));
    await advance(1000);
    const staleVersion = await sdkFailure(
      flink().send(
        new UpdateApplicationCommand({
          ApplicationName: 'orders',
          CurrentApplicationVersionId: 1,
          ApplicationConfigurationUpdate: toAwsOwned,
        }),
      ),
    );
    expect(staleVersion.name).toBe('ConcurrentModificationException');
    expect(staleVersion.$metadata?.httpStatusCode).toBe(409);
    const staleToken = await sdkFailure(
      flink().send(
        new UpdateApplicationCommand({
          ApplicationName: 'orders',
          ConditionalToken: created.ConditionalToken!,
          ApplicationConfigurationUpdate: toAwsOwned,
        }),
      ),
    );
    expect(staleToken.name).toBe('ConcurrentModificationException');
    expect((await describeApp('orders')).ApplicationVersionId).toBe(2);
  });

  it('requires exactly one of CurrentApplicationVersionId and ConditionalToken', async () => {
    const created = await createApp('orders');
    const neither = await sdkFailure(
      flink().send(
        new UpdateApplicationCommand({
          ApplicationName: 'orders',
          ApplicationConfigurationUpdate: toAwsOwned,
        }),
      ),
    );
    expect(neither.name).toBe('InvalidArgumentException');
    const both = await sdkFailure(
      flink().send(
        new UpdateApplicationCommand({
          ApplicationName: 'orders',
          CurrentApplicationVersionId: 1,
          ConditionalToken: created.ConditionalToken!,
          ApplicationConfigurationUpdate: toAwsOwned,
        }),
      ),
    );
    expect(both.name).toBe('InvalidArgumentException');
  });

  it('refuses updates outside READY and RUNNING with ResourceInUseException', async () => {
    await createApp('orders');
    await flink().send(new StartApplicationCommand({ ApplicationName: 'orders' }));
    expect((await describeApp('orders')).ApplicationStatus).toBe('STARTING');
    const err = await sdkFailure(updateKey('orders', toAwsOwned));
    expect(err.name).toBe('ResourceInUseException');
    expect(err.message).toContain('STARTING');
  });

  it('answers ResourceNotFoundException when updating an unknown application', async () => {
    const err = await sdkFailure(
      flink().send(
        new UpdateApplicationCommand({
          ApplicationName: 'ghost',
          CurrentApplicationVersionId: 1,
          ApplicationConfigurationUpdate: toAwsOwned,
        }),
      ),
    );
    expect(err.name).toBe('ResourceNotFoundException');
  });
});

describe('CMK checks on UpdateApplication', () => {
  it('resolves an alias name and an alias ARN and stores the key ARN', async () => {
    const key = await createKey({ alias: 'alias/flink' });
    await createApp('orders');
    const byName = await updateKey('orders', setKey('alias/flink'));
    expect(
      byName.ApplicationDetail?.ApplicationConfigurationDescription
        ?.ApplicationEncryptionConfigurationDescription,
    ).toEqual({ KeyType: 'CUSTOMER_MANAGED_KEY', KeyId: key.arn });
    await advance(1000);
    const byAliasArn = await updateKey('orders', setKey(`arn:aws:kms:us-east-1:${account}:alias/flink`));
    expect(
      byAliasArn.ApplicationDetail?.ApplicationConfigurationDescription
        ?.ApplicationEncryptionConfigurationDescription?.KeyId,
    ).toBe(key.arn);
    await advance(1000);
    const byKeyId = await updateKey('orders', setKey(key.keyId));
    expect(
      byKeyId.ApplicationDetail?.ApplicationConfigurationDescription
        ?.ApplicationEncryptionConfigurationDescription?.KeyId,
    ).toBe(key.arn);
  });

  it('rejects a key that does not exist, naming it', async () => {
    await createApp('orders');
    const missing = `arn:aws:kms:us-east-1:${account}:key/00000000-0000-4000-8000-000000000000`;
    const err = await sdkFailure(updateKey('orders', setKey(missing)));
    expect(err.name).toBe('InvalidArgumentException');
    expect(err.message).toContain(missing);
    const alias = await sdkFailure(updateKey('orders', setKey('alias/nope')));
    expect(alias.message).toContain('alias/nope');
    expect((await describeApp('orders')).ApplicationVersionId).toBe(1);
  });

  it('rejects a disabled key and a key pending deletion, naming the key and its state', async () => {
    await createApp('orders');
    const disabled = await createKey();
    await kms().send(new DisableKeyCommand({ KeyId: disabled.keyId }));
    const d = await sdkFailure(updateKey('orders', setKey(disabled.arn)));
    expect(d.name).toBe('InvalidArgumentException');
    expect(d.message).toContain(disabled.arn);
    expect(d.message).toContain('Disabled');
    const doomed = await createKey();
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: doomed.keyId, PendingWindowInDays: 7 }));
    const p = await sdkFailure(updateKey('orders', setKey(doomed.arn)));
    expect(p.name).toBe('InvalidArgumentException');
    expect(p.message).toContain(doomed.arn);
    expect(p.message).toContain('PendingDeletion');
  });

  it('rejects asymmetric and HMAC keys', async () => {
    await createApp('orders');
    const rsa = await createKey({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' });
    const r = await sdkFailure(updateKey('orders', setKey(rsa.arn)));
    expect(r.name).toBe('InvalidArgumentException');
    expect(r.message).toContain(rsa.arn);
    expect(r.message).toContain('RSA_2048');
    const hmac = await createKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    const h = await sdkFailure(updateKey('orders', setKey(hmac.arn)));
    expect(h.message).toContain('HMAC_256');
  });

  it('rejects a key in another region', async () => {
    await createApp('orders');
    const west = await createKey({ region: 'us-west-2' });
    const err = await sdkFailure(updateKey('orders', setKey(west.arn)));
    expect(err.name).toBe('InvalidArgumentException');
    expect(err.message).toContain(west.arn);
    expect(err.message).toContain('us-west-2');
  });

  it('rejects a key whose policy omits kinesisanalytics.amazonaws.com', async () => {
    await createApp('orders');
    const key = await createKey({
      policy: flinkKeyPolicy({ services: ['infrastructure.kinesisanalytics.amazonaws.com'] }),
    });
    const err = await sdkFailure(updateKey('orders', setKey(key.arn)));
    expect(err.name).toBe('InvalidArgumentException');
    expect(err.message).toContain(key.arn);
    expect(err.message).toMatch(/(?<!infrastructure\.)kinesisanalytics\.amazonaws\.com/);
  });

  it('rejects a key whose policy omits infrastructure.kinesisanalytics.amazonaws.com', async () => {
    await createApp('orders');
    const key = await createKey({ policy: flinkKeyPolicy({ services: ['kinesisanalytics.amazonaws.com'] }) });
    const err = await sdkFailure(updateKey('orders', setKey(key.arn)));
    expect(err.name).toBe('InvalidArgumentException');
    expect(err.message).toContain('infrastructure.kinesisanalytics.amazonaws.com');
  });

  it('rejects a key with the default (root-only) policy: MSF is not named', async () => {
    await createApp('orders');
    const out = await kms().send(new CreateKeyCommand({}));
    const err = await sdkFailure(updateKey('orders', setKey(out.KeyMetadata!.Arn!)));
    expect(err.name).toBe('InvalidArgumentException');
    expect(err.message).toContain(out.KeyMetadata!.Arn!);
  });

  it('needs the caller to keep permission on the key being left, even to go back to AWS_OWNED_KEY', async () => {
    const oldKey = await createKey();
    const newKey = await createKey();
    await createApp('orders', { keyId: oldKey.arn });
    // The key administrator narrows the old key: root may manage it but no longer use it.
    await kms().send(
      new PutKeyPolicyCommand({
        KeyId: oldKey.keyId,
        PolicyName: 'default',
        Policy: flinkKeyPolicy({ rootUse: false }),
      }),
    );
    const toCmk = await sdkFailure(updateKey('orders', setKey(newKey.arn)));
    expect(toCmk.name).toBe('InvalidArgumentException');
    expect(toCmk.message).toContain(oldKey.arn);
    const toAok = await sdkFailure(updateKey('orders', toAwsOwned));
    expect(toAok.name).toBe('InvalidArgumentException');
    expect(toAok.message).toContain(oldKey.arn);
    expect((await describeApp('orders')).ApplicationVersionId).toBe(1);
  });

  it('lets a seeded operator principal switch only between keys whose policies name it', async () => {
    fixture.emulator.seed({
      principals: [
        { accessKeyId: operatorKeyId, arn: operatorArn, iamAllow: ['kinesisanalytics:*', 'kms:*'] },
      ],
    });
    const operator = flink({ accessKeyId: operatorKeyId });
    const policy = flinkKeyPolicy({ rootUse: false, callers: [operatorArn] });
    const first = await createKey({ policy });
    const second = await createKey({ policy });
    await createApp('orders');
    await updateKey('orders', setKey(first.arn), operator);
    await advance(1000);
    const notNamed = await createKey({ policy: flinkKeyPolicy({ rootUse: false }) });
    const denied = await sdkFailure(updateKey('orders', setKey(notNamed.arn), operator));
    expect(denied.name).toBe('InvalidArgumentException');
    expect(denied.message).toContain(notNamed.arn);
    await kms().send(
      new PutKeyPolicyCommand({
        KeyId: first.keyId,
        PolicyName: 'default',
        Policy: flinkKeyPolicy({ rootUse: false }),
      }),
    );
    const leaving = await sdkFailure(updateKey('orders', setKey(second.arn), operator));
    expect(leaving.message).toContain(first.arn);
  });
});

describe('key changes on running and ready applications', () => {
  it('restarts a RUNNING application: snapshot under the AWS owned key, then runs on the CMK', async () => {
    await createApp('orders');
    await startApp('orders');
    const key = await createKey();
    const out = await updateKey('orders', setKey(key.arn));
    expect(out.ApplicationDetail?.ApplicationStatus).toBe('UPDATING');
    const during = await snapshots('orders');
    expect(during).toHaveLength(1);
    expect(during[0]).toMatchObject({
      SnapshotStatus: 'CREATING',
      ApplicationVersionId: 1,
      ApplicationEncryptionConfigurationDescription: { KeyType: 'AWS_OWNED_KEY' },
    });
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('RUNNING');
    expect((await operation('orders', out.OperationId!)).OperationStatus).toBe('SUCCESSFUL');
    const after = await snapshots('orders');
    expect(after[0]?.SnapshotStatus).toBe('READY');
    const state = await appState('orders');
    expect(state.runningStorage).toMatchObject({ keyType: 'CUSTOMER_MANAGED_KEY', keyArn: key.arn });
  });

  it('keeps the snapshot of a CMK-to-CMK switch under the old key', async () => {
    const oldKey = await createKey();
    const newKey = await createKey();
    await createApp('orders', { keyId: oldKey.arn });
    await startApp('orders');
    await updateKey('orders', setKey(newKey.arn));
    await advance(1000);
    const list = await snapshots('orders');
    expect(list).toHaveLength(1);
    expect(list[0]?.ApplicationEncryptionConfigurationDescription).toEqual({
      KeyType: 'CUSTOMER_MANAGED_KEY',
      KeyId: oldKey.arn,
    });
    const described = await flink().send(
      new DescribeApplicationSnapshotCommand({
        ApplicationName: 'orders',
        SnapshotName: list[0]!.SnapshotName!,
      }),
    );
    expect(described.SnapshotDetails?.ApplicationEncryptionConfigurationDescription?.KeyId).toBe(oldKey.arn);
    expect((await appState('orders')).runningStorage?.keyArn).toBe(newKey.arn);
  });

  it('stores the new key on a READY application and uses it only from the next start', async () => {
    const key = await createKey();
    await createApp('orders');
    await updateKey('orders', setKey(key.arn));
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('READY');
    let state = await appState('orders');
    expect(state.configuredKey).toEqual({ keyType: 'CUSTOMER_MANAGED_KEY', keyArn: key.arn });
    expect(state.runningStorage).toBeNull();
    expect(await snapshots('orders')).toHaveLength(0);
    await startApp('orders');
    state = await appState('orders');
    const material = (await kms().send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata
      ?.CurrentKeyMaterialId;
    expect(state.runningStorage).toEqual({
      keyType: 'CUSTOMER_MANAGED_KEY',
      keyArn: key.arn,
      keyMaterialId: material,
    });
  });

  it('switches a running application back to AWS_OWNED_KEY with permission on the CMK it leaves', async () => {
    const key = await createKey();
    await createApp('orders', { keyId: key.arn });
    await startApp('orders');
    await updateKey('orders', toAwsOwned);
    await advance(1000);
    const d = await describeApp('orders');
    expect(d.ApplicationStatus).toBe('RUNNING');
    expect(d.ApplicationConfigurationDescription?.ApplicationEncryptionConfigurationDescription).toEqual({
      KeyType: 'AWS_OWNED_KEY',
    });
    expect((await snapshots('orders'))[0]?.ApplicationEncryptionConfigurationDescription?.KeyId).toBe(
      key.arn,
    );
  });

  it('fails the restart and leaves the application READY when the new key is disabled during UPDATING', async () => {
    const key = await createKey();
    await createApp('orders');
    await startApp('orders');
    const out = await updateKey('orders', setKey(key.arn));
    await kms().send(new DisableKeyCommand({ KeyId: key.keyId }));
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('READY');
    const op = await operation('orders', out.OperationId!);
    expect(op.OperationStatus).toBe('FAILED');
    expect(op.OperationFailureDetails?.ErrorInfo?.ErrorString).toContain(key.arn);
  });

  it('does not let key material rotation reach a running application until it restarts', async () => {
    const key = await createKey();
    await createApp('orders', { keyId: key.arn });
    await startApp('orders');
    const before = await appState('orders');
    expect(before.keyMaterialCurrent).toBe(true);
    await kms().send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
    const original = before.runningStorage?.keyMaterialId;
    for (let i = 0; i < 60; i++) {
      const m = (await kms().send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata
        ?.CurrentKeyMaterialId;
      if (m !== original) break;
      await advance(60_000);
    }
    const rotated = (await kms().send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata
      ?.CurrentKeyMaterialId;
    expect(rotated).not.toBe(original);
    const stale = await appState('orders');
    expect(stale.status).toBe('RUNNING');
    expect(stale.runningStorage?.keyMaterialId).toBe(original);
    expect(stale.keyMaterialCurrent).toBe(false);
    await flink().send(new StopApplicationCommand({ ApplicationName: 'orders' }));
    await advance(1000);
    await startApp('orders');
    const restarted = await appState('orders');
    expect(restarted.runningStorage?.keyMaterialId).toBe(rotated);
    expect(restarted.keyMaterialCurrent).toBe(true);
  });
});

describe('StartApplication and StopApplication', () => {
  it('walks READY -> STARTING -> RUNNING and reports a successful StartApplication operation', async () => {
    const created = await createApp('orders');
    const out = await flink().send(new StartApplicationCommand({ ApplicationName: 'orders' }));
    const starting = await describeApp('orders');
    expect(starting.ApplicationStatus).toBe('STARTING');
    // The conditional token moves with every accepted Start/Stop/Update; the version only with updates.
    expect(starting.ConditionalToken).not.toBe(created.ConditionalToken);
    expect(starting.ApplicationVersionId).toBe(1);
    expect((await operation('orders', out.OperationId!)).OperationStatus).toBe('IN_PROGRESS');
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('RUNNING');
    expect(await operation('orders', out.OperationId!)).toMatchObject({
      Operation: 'StartApplication',
      OperationStatus: 'SUCCESSFUL',
    });
    const again = await sdkFailure(flink().send(new StartApplicationCommand({ ApplicationName: 'orders' })));
    expect(again.name).toBe('ResourceInUseException');
  });

  it('fails a start when the configured CMK is disabled and returns the application to READY with ErrorString', async () => {
    const key = await createKey();
    await createApp('orders', { keyId: key.arn });
    await kms().send(new DisableKeyCommand({ KeyId: key.keyId }));
    const id = await startApp('orders');
    expect((await describeApp('orders')).ApplicationStatus).toBe('READY');
    const op = await operation('orders', id);
    expect(op.OperationStatus).toBe('FAILED');
    expect(op.OperationFailureDetails?.ErrorInfo?.ErrorString).toContain(key.arn);
    expect(op.OperationFailureDetails?.ErrorInfo?.ErrorString).toContain('Disabled');
    expect((await appState('orders')).runningStorage).toBeNull();
  });

  it('fails a start when the configured CMK is pending deletion', async () => {
    const key = await createKey();
    await createApp('orders', { keyId: key.arn });
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.keyId, PendingWindowInDays: 7 }));
    const id = await startApp('orders');
    const op = await operation('orders', id);
    expect(op.OperationStatus).toBe('FAILED');
    expect(op.OperationFailureDetails?.ErrorInfo?.ErrorString).toContain('PendingDeletion');
  });

  it('fails a start that restores from a snapshot under a disabled old key (MSF-018)', async () => {
    const oldKey = await createKey();
    const newKey = await createKey();
    await createApp('orders', { keyId: oldKey.arn });
    await startApp('orders');
    await flink().send(new StopApplicationCommand({ ApplicationName: 'orders' }));
    await advance(1000);
    await updateKey('orders', setKey(newKey.arn));
    await advance(1000);
    await kms().send(new DisableKeyCommand({ KeyId: oldKey.keyId }));
    const id = await startApp('orders');
    const op = await operation('orders', id);
    expect(op.OperationStatus).toBe('FAILED');
    expect(op.OperationFailureDetails?.ErrorInfo?.ErrorString).toContain(oldKey.arn);
    // Skipping the restore does not need the old key.
    await flink().send(
      new StartApplicationCommand({
        ApplicationName: 'orders',
        RunConfiguration: {
          ApplicationRestoreConfiguration: { ApplicationRestoreType: 'SKIP_RESTORE_FROM_SNAPSHOT' },
        },
      }),
    );
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('RUNNING');
  });

  it('stops RUNNING -> STOPPING -> READY with a snapshot under the running key', async () => {
    const key = await createKey();
    await createApp('orders', { keyId: key.arn });
    await startApp('orders');
    const out = await flink().send(new StopApplicationCommand({ ApplicationName: 'orders' }));
    expect((await describeApp('orders')).ApplicationStatus).toBe('STOPPING');
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('READY');
    expect((await operation('orders', out.OperationId!)).OperationStatus).toBe('SUCCESSFUL');
    const list = await snapshots('orders');
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      SnapshotStatus: 'READY',
      ApplicationEncryptionConfigurationDescription: { KeyType: 'CUSTOMER_MANAGED_KEY', KeyId: key.arn },
    });
  });

  it('force-stops without a snapshot, from STARTING too, cancelling the start', async () => {
    await createApp('orders');
    await startApp('orders');
    await flink().send(new StopApplicationCommand({ ApplicationName: 'orders', Force: true }));
    expect((await describeApp('orders')).ApplicationStatus).toBe('FORCE_STOPPING');
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('READY');
    expect(await snapshots('orders')).toHaveLength(0);
    const start = await flink().send(new StartApplicationCommand({ ApplicationName: 'orders' }));
    await flink().send(new StopApplicationCommand({ ApplicationName: 'orders', Force: true }));
    expect((await operation('orders', start.OperationId!)).OperationStatus).toBe('CANCELLED');
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('READY');
  });

  it('refuses a stop of a READY application with or without Force', async () => {
    await createApp('orders');
    const plain = await sdkFailure(flink().send(new StopApplicationCommand({ ApplicationName: 'orders' })));
    expect(plain.name).toBe('ResourceInUseException');
    const forced = await sdkFailure(
      flink().send(new StopApplicationCommand({ ApplicationName: 'orders', Force: true })),
    );
    expect(forced.name).toBe('ResourceInUseException');
  });
});

describe('a CMK that breaks while the application runs', () => {
  it('keeps the status, then fails the next update, snapshot and graceful stop until the key is enabled again', async () => {
    const key = await createKey();
    const other = await createKey();
    await createApp('orders', { keyId: key.arn });
    await startApp('orders');
    await kms().send(new DisableKeyCommand({ KeyId: key.keyId }));
    expect((await describeApp('orders')).ApplicationStatus).toBe('RUNNING');
    expect((await appState('orders')).keyAlarm).toMatchObject({ keyArn: key.arn, state: 'Disabled' });

    const update = await sdkFailure(updateKey('orders', setKey(other.arn)));
    expect(update.name).toBe('InvalidArgumentException');
    expect(update.message).toContain(key.arn);

    await flink().send(
      new CreateApplicationSnapshotCommand({ ApplicationName: 'orders', SnapshotName: 'manual-1' }),
    );
    await advance(1000);
    const manual = await flink().send(
      new DescribeApplicationSnapshotCommand({ ApplicationName: 'orders', SnapshotName: 'manual-1' }),
    );
    expect(manual.SnapshotDetails?.SnapshotStatus).toBe('FAILED');

    const stop = await flink().send(new StopApplicationCommand({ ApplicationName: 'orders' }));
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('RUNNING');
    const stopOp = await operation('orders', stop.OperationId!);
    expect(stopOp.OperationStatus).toBe('FAILED');
    expect(stopOp.OperationFailureDetails?.ErrorInfo?.ErrorString).toContain(key.arn);

    await kms().send(new EnableKeyCommand({ KeyId: key.keyId }));
    expect((await appState('orders')).keyAlarm).toBeNull();
    await updateKey('orders', setKey(other.arn));
    await advance(1000);
    expect((await appState('orders')).runningStorage?.keyArn).toBe(other.arn);
  });

  it('still force-stops an application whose key is pending deletion', async () => {
    const key = await createKey();
    await createApp('orders', { keyId: key.arn });
    await startApp('orders');
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.keyId, PendingWindowInDays: 7 }));
    expect((await describeApp('orders')).ApplicationStatus).toBe('RUNNING');
    await flink().send(new StopApplicationCommand({ ApplicationName: 'orders', Force: true }));
    await advance(1000);
    expect((await describeApp('orders')).ApplicationStatus).toBe('READY');
  });
});

describe('snapshots', () => {
  it('creates, describes, lists with pagination and deletes snapshots of a running application', async () => {
    await createApp('orders');
    const notRunning = await sdkFailure(
      flink().send(new CreateApplicationSnapshotCommand({ ApplicationName: 'orders', SnapshotName: 's0' })),
    );
    expect(notRunning.name).toBe('ResourceInUseException');
    await startApp('orders');
    for (const name of ['s1', 's2', 's3']) {
      await flink().send(
        new CreateApplicationSnapshotCommand({ ApplicationName: 'orders', SnapshotName: name }),
      );
    }
    const creating = await flink().send(
      new DescribeApplicationSnapshotCommand({ ApplicationName: 'orders', SnapshotName: 's1' }),
    );
    expect(creating.SnapshotDetails).toMatchObject({ SnapshotStatus: 'CREATING', ApplicationVersionId: 1 });
    const dup = await sdkFailure(
      flink().send(new CreateApplicationSnapshotCommand({ ApplicationName: 'orders', SnapshotName: 's1' })),
    );
    expect(dup.name).toBe('InvalidArgumentException');
    await advance(1000);
    const first = await flink().send(
      new ListApplicationSnapshotsCommand({ ApplicationName: 'orders', Limit: 2 }),
    );
    expect(first.SnapshotSummaries?.map((s) => s.SnapshotName)).toEqual(['s1', 's2']);
    expect(first.SnapshotSummaries?.every((s) => s.SnapshotStatus === 'READY')).toBe(true);
    const second = await flink().send(
      new ListApplicationSnapshotsCommand({
        ApplicationName: 'orders',
        Limit: 2,
        NextToken: first.NextToken!,
      }),
    );
    expect(second.SnapshotSummaries?.map((s) => s.SnapshotName)).toEqual(['s3']);
    expect(second.NextToken).toBeUndefined();
    const s2 = first.SnapshotSummaries![1]!;
    await flink().send(
      new DeleteApplicationSnapshotCommand({
        ApplicationName: 'orders',
        SnapshotName: 's2',
        SnapshotCreationTimestamp: s2.SnapshotCreationTimestamp!,
      }),
    );
    const missing = await sdkFailure(
      flink().send(new DescribeApplicationSnapshotCommand({ ApplicationName: 'orders', SnapshotName: 's2' })),
    );
    expect(missing.name).toBe('ResourceNotFoundException');
  });
});

describe('operations', () => {
  it('lists operations newest first, filters them and pages through them', async () => {
    await createApp('orders');
    const start = await startApp('orders');
    const update = await updateKey('orders', toAwsOwned);
    await advance(1000);
    const stop = await flink().send(new StopApplicationCommand({ ApplicationName: 'orders' }));
    await advance(1000);
    const all = await flink().send(new ListApplicationOperationsCommand({ ApplicationName: 'orders' }));
    expect(all.ApplicationOperationInfoList?.map((o) => o.OperationId)).toEqual([
      stop.OperationId,
      update.OperationId,
      start,
    ]);
    expect(all.ApplicationOperationInfoList?.map((o) => o.Operation)).toEqual([
      'StopApplication',
      'UpdateApplication',
      'StartApplication',
    ]);
    const updates = await flink().send(
      new ListApplicationOperationsCommand({ ApplicationName: 'orders', Operation: 'UpdateApplication' }),
    );
    expect(updates.ApplicationOperationInfoList).toHaveLength(1);
    const page1 = await flink().send(
      new ListApplicationOperationsCommand({ ApplicationName: 'orders', Limit: 2 }),
    );
    expect(page1.ApplicationOperationInfoList).toHaveLength(2);
    const page2 = await flink().send(
      new ListApplicationOperationsCommand({
        ApplicationName: 'orders',
        Limit: 2,
        NextToken: page1.NextToken!,
      }),
    );
    expect(page2.ApplicationOperationInfoList?.map((o) => o.OperationId)).toEqual([start]);
    expect(page2.NextToken).toBeUndefined();
    const failed = await flink().send(
      new ListApplicationOperationsCommand({ ApplicationName: 'orders', OperationStatus: 'FAILED' }),
    );
    expect(failed.ApplicationOperationInfoList).toEqual([]);
  });

  it('answers ResourceNotFoundException for an unknown operation id', async () => {
    await createApp('orders');
    const err = await sdkFailure(operation('orders', 'nope'));
    expect(err.name).toBe('ResourceNotFoundException');
  });
});

describe('DeleteApplication', () => {
  it('requires the matching CreateTimestamp, passes through DELETING and then forgets the application', async () => {
    const created = await createApp('orders');
    const wrong = await sdkFailure(
      flink().send(
        new DeleteApplicationCommand({
          ApplicationName: 'orders',
          CreateTimestamp: new Date(created.CreateTimestamp!.getTime() + 1000),
        }),
      ),
    );
    expect(wrong.name).toBe('InvalidArgumentException');
    await flink().send(
      new DeleteApplicationCommand({ ApplicationName: 'orders', CreateTimestamp: created.CreateTimestamp! }),
    );
    expect((await describeApp('orders')).ApplicationStatus).toBe('DELETING');
    const busy = await sdkFailure(updateKey('orders', toAwsOwned));
    expect(busy.name).toBe('ResourceInUseException');
    await advance(1000);
    const gone = await sdkFailure(describeApp('orders'));
    expect(gone.name).toBe('ResourceNotFoundException');
    await createApp('orders');
  });
});

describe('ListApplications', () => {
  it('pages through the applications of the caller region in name order', async () => {
    const names = ['g', 'a', 'e', 'c', 'b', 'f', 'd'];
    for (const n of names) await createApp(`app-${n}`);
    await createApp('app-elsewhere', { region: 'eu-west-1' });
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const out = await flink().send(
        new ListApplicationsCommand({ Limit: 3, ...(token ? { NextToken: token } : {}) }),
      );
      seen.push(...(out.ApplicationSummaries ?? []).map((s) => s.ApplicationName!));
      token = out.NextToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((n) => `app-${n}`));
    const summary = (await flink().send(new ListApplicationsCommand({}))).ApplicationSummaries![0]!;
    expect(summary).toMatchObject({
      ApplicationStatus: 'READY',
      ApplicationVersionId: 1,
      RuntimeEnvironment: 'FLINK-1_20',
    });
  });

  it('rejects a Limit above 50', async () => {
    const err = await sdkFailure(flink().send(new ListApplicationsCommand({ Limit: 51 })));
    expect(err.name).toBe('InvalidArgumentException');
    expect(err.message).toContain("'Limit'");
  });
});

describe('tags', () => {
  it('tags, lists and untags by application ARN, and caps user tags at 50', async () => {
    const app = await createApp('orders', { Tags: [{ Key: 'team', Value: 'data' }] });
    const arn = app.ApplicationARN!;
    await flink().send(new TagResourceCommand({ ResourceARN: arn, Tags: [{ Key: 'env', Value: 'prod' }] }));
    const listed = await flink().send(new ListTagsForResourceCommand({ ResourceARN: arn }));
    expect(listed.Tags).toEqual([
      { Key: 'team', Value: 'data' },
      { Key: 'env', Value: 'prod' },
    ]);
    await flink().send(new UntagResourceCommand({ ResourceARN: arn, TagKeys: ['team'] }));
    expect((await flink().send(new ListTagsForResourceCommand({ ResourceARN: arn }))).Tags).toEqual([
      { Key: 'env', Value: 'prod' },
    ]);
    const many = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    const tooMany = await sdkFailure(flink().send(new TagResourceCommand({ ResourceARN: arn, Tags: many })));
    expect(tooMany.name).toBe('TooManyTagsException');
    const atCreate = await sdkFailure(
      createApp('tagged', { Tags: [...many, { Key: 'one-more', Value: 'v' }] }),
    );
    expect(atCreate.name).toBe('TooManyTagsException');
    const unknown = await sdkFailure(
      flink().send(
        new ListTagsForResourceCommand({
          ResourceARN: `arn:aws:kinesisanalytics:us-east-1:${account}:application/ghost`,
        }),
      ),
    );
    expect(unknown.name).toBe('ResourceNotFoundException');
  });
});

describe('seed', () => {
  it('seeds applications with their key resolved to an ARN and a running storage on the key material', async () => {
    const key = await createKey({ alias: 'alias/seeded' });
    fixture.emulator.seed({
      kinesisanalytics: {
        applications: [
          { name: 'seeded-running', status: 'RUNNING', keyId: 'alias/seeded', tags: { team: 'data' } },
          { name: 'seeded-ready' },
        ],
      },
    });
    const running = await describeApp('seeded-running');
    expect(running.ApplicationStatus).toBe('RUNNING');
    expect(
      running.ApplicationConfigurationDescription?.ApplicationEncryptionConfigurationDescription,
    ).toEqual({
      KeyType: 'CUSTOMER_MANAGED_KEY',
      KeyId: key.arn,
    });
    const state = await appState('seeded-running');
    expect(state.runningStorage?.keyArn).toBe(key.arn);
    expect(state.keyMaterialCurrent).toBe(true);
    expect((await describeApp('seeded-ready')).ApplicationStatus).toBe('READY');
    const tags = await flink().send(new ListTagsForResourceCommand({ ResourceARN: running.ApplicationARN! }));
    expect(tags.Tags).toEqual([{ Key: 'team', Value: 'data' }]);
  });
});
