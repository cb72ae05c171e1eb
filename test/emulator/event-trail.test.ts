// The emulator's event trail: once the admin API names an SQS queue, each successful mutating call on
// the allow-list lands in it as the EventBridge envelope of its CloudTrail record (EVT-001..004), with
// the delivery faults of a best-effort, at-least-once, unordered pipeline (EVT-005, SQS-007) drawn
// from the seeded PRNG. Driven through the real SDK clients and the typed admin client.

import {
  EMRServerlessClient,
  StartApplicationCommand as StartEmrApplication,
} from '@aws-sdk/client-emr-serverless';
import { KeyspacesClient, UpdateTableCommand } from '@aws-sdk/client-keyspaces';
import { KinesisAnalyticsV2Client, StartApplicationCommand } from '@aws-sdk/client-kinesis-analytics-v2';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  KMSClient,
  PutKeyPolicyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { defaultKeyPolicy } from '../../emulator/services/kms/index.ts';
import { sdkFailure, useEmulator } from '../fixtures/emulator.ts';
import { emrApp, flinkApp, keyspacesTable } from '../fixtures/objects.ts';

const fixture = useEmulator();
const account = '111122223333';
const kms = () => new KMSClient(fixture.clientConfig());
const sqs = () => new SQSClient(fixture.clientConfig());

interface Envelope {
  id: string;
  source: string;
  'detail-type': string;
  detail: {
    eventName: string;
    eventID: string;
    requestParameters: Record<string, unknown>;
    responseElements: Record<string, unknown> | null;
  } & Record<string, unknown>;
}

async function eventQueue(settings: Record<string, unknown> = {}) {
  const url = (await sqs().send(new CreateQueueCommand({ QueueName: 'cmk-events' }))).QueueUrl!;
  await fixture.admin.setEventQueue({ queueName: 'cmk-events', ...settings });
  return url;
}

/** Every message in the queue, in the order the queue hands them out. */
async function drain(url: string): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for (;;) {
    const got = await sqs().send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
    );
    if (!got.Messages?.length) return out;
    out.push(...got.Messages.map((m) => JSON.parse(m.Body!) as Envelope));
  }
}

async function newKey() {
  return (await kms().send(new CreateKeyCommand({}))).KeyMetadata!;
}

describe('the envelope (EVT-001..003)', () => {
  it('DisableKey lands in the queue as an API-call event naming the key', async () => {
    const url = await eventQueue();
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    const [event, ...rest] = await drain(url);
    expect(rest).toEqual([]);
    expect(event).toEqual({
      version: '0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      'detail-type': 'AWS API Call via CloudTrail',
      source: 'aws.kms',
      account,
      time: '2026-11-23T12:00:00Z',
      region: 'us-east-1',
      resources: [],
      detail: expect.objectContaining({
        eventVersion: '1.08',
        eventSource: 'kms.amazonaws.com',
        eventName: 'DisableKey',
        awsRegion: 'us-east-1',
        eventTime: '2026-11-23T12:00:00Z',
        eventType: 'AwsApiCall',
        readOnly: false,
        requestParameters: { keyId: key.KeyId },
        responseElements: { keyId: key.Arn },
        resources: [{ accountId: account, type: 'AWS::KMS::Key', ARN: key.Arn }],
        userIdentity: expect.objectContaining({ type: 'Root', arn: `arn:aws:iam::${account}:root` }),
      }),
    });
  });

  it('reads, failed calls and calls before a queue is named publish nothing', async () => {
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    const url = await eventQueue();
    await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }));
    await sdkFailure(kms().send(new DisableKeyCommand({ KeyId: '00000000-0000-0000-0000-000000000000' })));
    expect(await drain(url)).toEqual([]);
    expect((await fixture.admin.eventQueue()).counts.published).toBe(0);
  });

  it('every KMS mutation on the list has its event, with the record quirks KMS documents', async () => {
    const url = await eventQueue();
    const key = await newKey();
    const other = await newKey();
    const k = { KeyId: key.KeyId };
    await kms().send(new DisableKeyCommand(k));
    await kms().send(new EnableKeyCommand(k));
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: key.KeyId }));
    await kms().send(new UpdateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: other.KeyId }));
    await kms().send(new DeleteAliasCommand({ AliasName: 'alias/orders' }));
    await kms().send(new PutKeyPolicyCommand({ ...k, Policy: defaultKeyPolicy(account) }));
    await kms().send(new EnableKeyRotationCommand(k));
    await kms().send(new DisableKeyRotationCommand(k));
    await kms().send(new RotateKeyOnDemandCommand(k));
    await kms().send(new ScheduleKeyDeletionCommand({ ...k, PendingWindowInDays: 7 }));
    await kms().send(new CancelKeyDeletionCommand(k));

    const events = await drain(url);
    expect(events.map((e) => e.detail.eventName)).toEqual([
      'DisableKey',
      'EnableKey',
      'CreateAlias',
      'UpdateAlias',
      'DeleteAlias',
      'PutKeyPolicy',
      'EnableKeyRotation',
      'DisableKeyRotation',
      'RotateKeyOnDemand',
      'ScheduleKeyDeletion',
      'CancelKeyDeletion',
    ]);
    const byName = Object.fromEntries(events.map((e) => [e.detail.eventName, e.detail]));
    expect(byName['UpdateAlias']).toMatchObject({
      requestParameters: { aliasName: 'alias/orders', targetKeyId: other.KeyId },
      responseElements: { keyId: other.Arn },
      resources: [
        { type: 'AWS::KMS::Key', ARN: `arn:aws:kms:us-east-1:${account}:alias/orders` },
        { type: 'AWS::KMS::Key', ARN: other.Arn },
      ],
    });
    expect(byName['DeleteAlias']).toMatchObject({ requestParameters: { aliasName: 'alias/orders' } });
    expect(byName['RotateKeyOnDemand']!.responseElements).toEqual({ keyId: key.KeyId });
    // The deletion date is printed the way a US locale prints it, not ISO-8601.
    expect(byName['ScheduleKeyDeletion']!.responseElements).toEqual({
      keyId: key.Arn,
      keyState: 'PendingDeletion',
      deletionDate: 'Nov 30, 2026, 12:00:00 PM',
    });
    expect(byName['PutKeyPolicy']!.requestParameters).toMatchObject({
      keyId: key.KeyId,
      policy: expect.any(String),
    });
    expect(new Set(events.map((e) => e.source))).toEqual(new Set(['aws.kms']));
  });

  it('the workload services publish under their own sources; Keyspaces UpdateTable is AlterTable (EVT-004)', async () => {
    fixture.emulator.seed(flinkApp('orders'));
    fixture.emulator.seed(keyspacesTable('shop', 'orders'));
    fixture.emulator.seed(emrApp('00fetl0000000001', 'etl'));
    const url = await eventQueue();
    await new KinesisAnalyticsV2Client(fixture.clientConfig()).send(
      new StartApplicationCommand({ ApplicationName: 'orders' }),
    );
    await new KeyspacesClient(fixture.clientConfig()).send(
      new UpdateTableCommand({
        keyspaceName: 'shop',
        tableName: 'orders',
        pointInTimeRecovery: { status: 'ENABLED' },
      }),
    );
    await new EMRServerlessClient(fixture.clientConfig()).send(
      new StartEmrApplication({ applicationId: '00fetl0000000001' }),
    );
    const events = await drain(url);
    expect(events.map((e) => [e.source, e.detail['eventSource'], e.detail.eventName])).toEqual([
      ['aws.kinesisanalytics', 'kinesisanalytics.amazonaws.com', 'StartApplication'],
      ['aws.cassandra', 'cassandra.amazonaws.com', 'AlterTable'],
      ['aws.emr-serverless', 'emr-serverless.amazonaws.com', 'StartApplication'],
    ]);
    expect(events[0]!.detail.requestParameters).toMatchObject({ applicationName: 'orders' });
    expect(events[1]!.detail.requestParameters).toMatchObject({ keyspaceName: 'shop', tableName: 'orders' });
    expect(events[1]!.detail['resources']).toEqual([
      {
        accountId: account,
        type: 'AWS::Cassandra::Table',
        ARN: `arn:aws:cassandra:us-east-1:${account}:/keyspace/shop/table/orders`,
      },
    ]);
    expect(events[2]!.detail.requestParameters).toEqual({ applicationId: '00fetl0000000001' });
  });
});

describe('settings', () => {
  it('naming a queue that does not exist is refused with the fix; bad rates name the field', async () => {
    await expect(fixture.admin.setEventQueue({ queueName: 'missing' })).rejects.toThrow(/CreateQueue/);
    await sqs().send(new CreateQueueCommand({ QueueName: 'q' }));
    await expect(fixture.admin.setEventQueue({ queueName: 'q', dropRate: 2 })).rejects.toThrow(/dropRate/);
    expect((await fixture.admin.eventQueue()).settings).toBeNull();
  });

  it('clearEventQueue stops publishing', async () => {
    const url = await eventQueue();
    await fixture.admin.clearEventQueue();
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    expect(await drain(url)).toEqual([]);
  });
});

describe('delivery faults (EVT-005, SQS-007)', () => {
  const disableEnable = async (n: number) => {
    const key = await newKey();
    for (let i = 0; i < n; i++) {
      await kms().send(new (i % 2 === 0 ? DisableKeyCommand : EnableKeyCommand)({ KeyId: key.KeyId }));
    }
  };

  it('dropRate 1 loses every event and counts it', async () => {
    const url = await eventQueue({ dropRate: 1 });
    await disableEnable(3);
    expect(await drain(url)).toEqual([]);
    expect((await fixture.admin.eventQueue()).counts).toMatchObject({
      published: 3,
      dropped: 3,
      delivered: 0,
    });
  });

  it('duplicateRate 1 delivers each event twice with the same ids', async () => {
    const url = await eventQueue({ duplicateRate: 1 });
    await disableEnable(2);
    const events = await drain(url);
    expect(events.map((e) => e.detail.eventName)).toEqual([
      'DisableKey',
      'DisableKey',
      'EnableKey',
      'EnableKey',
    ]);
    expect(events[0]!.id).toBe(events[1]!.id);
    expect(events[0]!.detail.eventID).toBe(events[1]!.detail.eventID);
  });

  it('delayMs holds events back on the emulator clock', async () => {
    const url = await eventQueue({ delayMs: 120_000 });
    await disableEnable(1);
    expect(await drain(url)).toEqual([]);
    fixture.emulator.world().clock.advance(119_999);
    expect(await drain(url)).toEqual([]);
    fixture.emulator.world().clock.advance(1);
    expect((await drain(url)).map((e) => e.detail.eventName)).toEqual(['DisableKey']);
  });

  it('reorder hands queued events out of call order, the same way for the same seed', async () => {
    const order = async () => {
      fixture.emulator.reset({ seed: 7 });
      const url = await eventQueue({ reorder: true });
      const key = await newKey();
      for (let days = 7; days < 13; days++) {
        await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: days }));
        await kms().send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
      }
      return (await drain(url))
        .filter((e) => e.detail.eventName === 'ScheduleKeyDeletion')
        .map((e) => e.detail.requestParameters['pendingWindowInDays']);
    };
    const first = await order();
    expect([...first].sort((a, b) => Number(a) - Number(b))).toEqual([7, 8, 9, 10, 11, 12]);
    expect(first).not.toEqual([7, 8, 9, 10, 11, 12]);
    expect(await order()).toEqual(first);
  });
});
