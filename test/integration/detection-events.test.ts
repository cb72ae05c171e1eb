// Detection through the event queue: the emulator publishes CloudTrail-shaped events of every
// mutating call into an SQS queue (as an EventBridge rule would), the operator long-polls it and
// looks at the affected objects at once. The key-state poll is off and the resync is 30 minutes, so
// only the queue can make these changes show in time. Duplicates, reordering and junk messages are
// harmless, and the queue drains. Measures and prints the detection latency.
// Real kube-apiserver + the AWS emulator over HTTP (KMS, Managed Flink and SQS through the real SDK).

import { KinesisAnalyticsV2Client, StopApplicationCommand } from '@aws-sdk/client-kinesis-analytics-v2';
import { DisableKeyCommand, EnableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/cluster.ts';
import { condition, queueUrl, useOperator } from './support/operator.ts';

const queue = 'cmk-operator-events';
const f = useOperator({ eventQueue: queue, keyPollMs: 0, resyncMs: 30 * 60_000 });
let kms: KMSClient;
let sqs: SQSClient;
let url: string;
let keyArn: string;
beforeAll(async () => {
  kms = new KMSClient(f.awsConfig());
  sqs = new SQSClient(f.awsConfig());
  url = await queueUrl(f.emulator.url, queue);
  await f.admin.setEventQueue({ queueName: queue });
  keyArn = await f.serviceKey('event-key');
  f.emulator.seed({ kinesisanalytics: { applications: [{ name: 'event-app', status: 'RUNNING' }] } });
  await f.create('FlinkApplication', 'event-app', {
    applicationName: 'event-app',
    key: { kmsKeyRef: { name: 'event-key' } },
  });
  await f.waitFor('FlinkApplication', 'event-app', condition('Ready', 'True'), 'event-app Ready', 60_000);
}, 120_000);

const ready = condition('Ready', 'True');
const disabled = condition('Stalled', 'True', 'KeyDisabled');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function disableAndMeasure(): Promise<number> {
  const t0 = Date.now();
  await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
  await f.waitFor('KmsKey', 'event-key', disabled, 'KmsKey Stalled', 20_000);
  const latency = Date.now() - t0;
  await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
  await f.waitFor('KmsKey', 'event-key', ready, 'KmsKey Ready again', 20_000);
  return latency;
}

async function messagesLeft(): Promise<number> {
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(attrs.Attributes?.['ApproximateNumberOfMessages'] ?? 0) +
    Number(attrs.Attributes?.['ApproximateNumberOfMessagesNotVisible'] ?? 0)
  );
}

describe('the event queue', () => {
  it('a key disabled outside Kubernetes is Stalled within 5 s at p99 (poll off, resync 30 min)', async () => {
    const latencies: number[] = [];
    for (let trial = 0; trial < 20; trial++) latencies.push(await disableAndMeasure());
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(
      `detection with the event queue (poll off, resync 30m): p50 ${p50} ms, p99 ${p99} ms over ${latencies.length} samples`,
    );
    expect(p99).toBeLessThanOrEqual(5000);
  }, 300_000);

  it('duplicated and reordered events and junk messages are harmless, and the queue drains', async () => {
    await f.admin.setEventQueue({ queueName: queue, duplicateRate: 0.5, reorder: true });
    for (const body of [
      'not json',
      '{}',
      JSON.stringify({ 'detail-type': 'Something Else', source: 'aws.s3', detail: {} }),
      JSON.stringify({
        'detail-type': 'AWS API Call via CloudTrail',
        source: 'aws.kms',
        detail: {
          eventSource: 'kms.amazonaws.com',
          eventName: 'DisableKey',
          requestParameters: { keyId: 42 },
        },
      }),
      JSON.stringify({
        'detail-type': 'AWS API Call via CloudTrail',
        source: 'aws.kinesisanalytics',
        detail: {
          eventSource: 'kinesisanalytics.amazonaws.com',
          eventName: 'StopApplication',
          requestParameters: { applicationName: 'no-such-app' },
        },
      }),
    ])
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    const latency = await disableAndMeasure();
    expect(latency).toBeLessThanOrEqual(5000);
    await eventually(async () => ((await messagesLeft()) === 0 ? true : undefined), {
      what: 'the queue drained',
      timeoutMs: 30_000,
    });
    await f.admin.setEventQueue({ queueName: queue });
  }, 120_000);

  it('an application stopped outside Kubernetes shows in its status within seconds', async () => {
    const flink = new KinesisAnalyticsV2Client(f.awsConfig());
    const t0 = Date.now();
    await flink.send(new StopApplicationCommand({ ApplicationName: 'event-app' }));
    await f.waitFor(
      'FlinkApplication',
      'event-app',
      (o: { status?: { awsState?: string } }) => (o.status?.awsState !== 'RUNNING' ? o : undefined),
      'event-app no longer RUNNING in status',
      10_000,
    );
    console.log(`an out-of-band StopApplication showed in status after ${Date.now() - t0} ms`);
    flink.destroy();
  }, 60_000);
});
