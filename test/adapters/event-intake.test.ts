// The event intake against the emulator, through the real SQSClient: a mutation made with the real
// service clients becomes an event in the queue (the emulator's trail), the intake hands the key or
// resource it names to onTargets and deletes the message only then; delivery faults (delay, drop,
// duplicate) and junk messages do not disturb it; receive errors back off without ending the loop;
// aborting ends it at once.

import {
  EMRServerlessClient,
  StartApplicationCommand as StartEmrApplication,
} from '@aws-sdk/client-emr-serverless';
import { KeyspacesClient, UpdateTableCommand } from '@aws-sdk/client-keyspaces';
import { KinesisAnalyticsV2Client, StopApplicationCommand } from '@aws-sdk/client-kinesis-analytics-v2';
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventIntake, type EventIntake, type EventIntakeOptions } from '../../src/events/intake.ts';
import { prometheusEventIntakeMetrics } from '../../src/events/metrics.ts';
import type { EventTarget } from '../../src/events/parse.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { useEmulator } from '../fixtures/emulator.ts';
import { emrApp, flinkApp, keyspacesTable, running } from '../fixtures/objects.ts';

const fixture = useEmulator();
const sqs = () => new SQSClient(fixture.clientConfig());
const kms = () => new KMSClient(fixture.clientConfig());

let intake: EventIntake | undefined;
afterEach(async () => {
  await intake?.stop();
  intake = undefined;
});

async function eventQueue(settings: Record<string, unknown> = {}) {
  const url = (await sqs().send(new CreateQueueCommand({ QueueName: 'cmk-events' }))).QueueUrl!;
  await fixture.admin.setEventQueue({ queueName: 'cmk-events', ...settings });
  return url;
}

/** Starts an intake that records every target it is handed. */
function start(queueUrl: string, options: Partial<EventIntakeOptions> = {}) {
  const seen: EventTarget[][] = [];
  intake = createEventIntake({
    client: sqs(),
    queueUrl,
    log: silentLogger(),
    waitSeconds: 1,
    backoff: { initialMs: 50, maxMs: 200 },
    onTargets: (targets) => {
      seen.push(targets);
    },
    ...options,
  });
  return { seen, intake };
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function queueDepth(url: string): Promise<number> {
  const out = await sqs().send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
  return (
    Number(out.Attributes?.['ApproximateNumberOfMessages']) +
    Number(out.Attributes?.['ApproximateNumberOfMessagesNotVisible'])
  );
}

async function newKey() {
  return (await kms().send(new CreateKeyCommand({}))).KeyMetadata!;
}

const keyTarget = (ref: string, eventName: string): EventTarget => ({
  kind: 'key',
  ref,
  region: 'us-east-1',
  eventName,
});

describe('events in, targets out', () => {
  it('DisableKey reaches onTargets as its key, and the message is deleted afterwards', async () => {
    const url = await eventQueue();
    const { seen } = start(url);
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await until('the DisableKey target', () => seen.length === 1);
    expect(seen).toEqual([[keyTarget(key.Arn!, 'DisableKey')]]);
    await until('the message to be deleted', async () => (await queueDepth(url)) === 0);
    expect(intake!.stats()).toMatchObject({ received: 1, enqueuedTargets: 1, ignored: 0, deleteFailures: 0 });
    expect(intake!.stats().lastReceiveAt).toEqual(expect.any(Number));
  });

  it('workload calls of the three services reach onTargets as their resources', async () => {
    fixture.emulator.seed(flinkApp('orders', running()));
    fixture.emulator.seed(keyspacesTable('shop', 'orders'));
    fixture.emulator.seed(emrApp('00fetl0000000001', 'etl'));
    const url = await eventQueue();
    const { seen } = start(url);
    await new KinesisAnalyticsV2Client(fixture.clientConfig()).send(
      new StopApplicationCommand({ ApplicationName: 'orders' }),
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
    await until('three targets', () => seen.length === 3);
    const base = { kind: 'resource', region: 'us-east-1' };
    expect(seen.flat()).toEqual(
      expect.arrayContaining([
        { ...base, service: 'msf', name: 'orders', eventName: 'StopApplication' },
        {
          ...base,
          service: 'keyspaces',
          keyspace: 'shop',
          table: 'orders',
          arn: 'arn:aws:cassandra:us-east-1:111122223333:/keyspace/shop/table/orders',
          eventName: 'AlterTable',
        },
        {
          ...base,
          service: 'emr-serverless',
          applicationId: '00fetl0000000001',
          eventName: 'StartApplication',
        },
      ]),
    );
  });

  it('counts messages by outcome in cmk_event_messages_total', async () => {
    const registry = new Registry();
    const url = await eventQueue();
    await sqs().send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'not an event' }));
    const { seen } = start(url, { metrics: prometheusEventIntakeMetrics(registry) });
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await until('the target', () => seen.length === 1);
    await until('both messages handled', async () => (await queueDepth(url)) === 0);
    const values = (await registry.getSingleMetric('cmk_event_messages_total')!.get()).values;
    const byOutcome = Object.fromEntries(values.map((v) => [v.labels['outcome'], v.value]));
    expect(byOutcome).toEqual({ enqueued: 1, ignored: 1, failed: 0, dropped: 0 });
  });
});

describe('what the pipeline does to events', () => {
  it('a duplicated event is handed on twice, which only enqueues the same key twice (SQS-007)', async () => {
    const url = await eventQueue({ duplicateRate: 1 });
    const { seen } = start(url);
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await until('both copies', () => seen.length === 2);
    expect(seen[0]).toEqual(seen[1]);
    await until('both deleted', async () => (await queueDepth(url)) === 0);
  });

  it('a dropped event never arrives, and the intake carries on with the next one (EVT-005)', async () => {
    const url = await eventQueue({ dropRate: 1 });
    const { seen } = start(url);
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await fixture.admin.setEventQueue({ queueName: 'cmk-events' });
    await kms().send(new EnableKeyCommand({ KeyId: key.KeyId }));
    await until('the second event', () => seen.length === 1);
    expect(seen).toEqual([[keyTarget(key.Arn!, 'EnableKey')]]);
  });

  it('a delayed event arrives when the emulator clock reaches it, while the intake long-polls', async () => {
    const url = await eventQueue({ delayMs: 300_000 });
    const { seen } = start(url);
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
    fixture.emulator.world().clock.advance(300_000);
    await until('the delayed event', () => seen.length === 1);
  });

  it('junk messages are deleted and the loop keeps going', async () => {
    const url = await eventQueue();
    for (const body of ['{', 'null', '{"source":"aws.s3","detail-type":"x","detail":{}}']) {
      await sqs().send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    }
    const { seen } = start(url);
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await until('the real event', () => seen.length === 1);
    await until('everything deleted', async () => (await queueDepth(url)) === 0);
    expect(intake!.stats()).toMatchObject({ received: 4, ignored: 3, enqueuedTargets: 1 });
  });
});

describe('failures', () => {
  it('a failed onTargets leaves the message to come back after its visibility timeout', async () => {
    const url = await eventQueue();
    let calls = 0;
    const { seen } = start(url, {
      onTargets: (targets) => {
        calls++;
        if (calls === 1) throw new Error('queue full');
        seen.push(targets);
      },
    });
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await until('the first attempt', () => calls === 1);
    expect(await queueDepth(url)).toBe(1);
    fixture.emulator.world().clock.advance(30_000);
    await until('the redelivery', () => seen.length === 1);
    await until('the delete', async () => (await queueDepth(url)) === 0);
    expect(intake!.stats()).toMatchObject({ handlerFailures: 1, enqueuedTargets: 1 });
  });

  it('a message that keeps failing is dropped after maxReceives deliveries', async () => {
    const url = await eventQueue();
    start(url, {
      maxReceives: 2,
      onTargets: () => {
        throw new Error('always');
      },
    });
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await until('the first failure', () => intake!.stats().handlerFailures === 1);
    fixture.emulator.world().clock.advance(30_000);
    await until('the drop', () => intake!.stats().dropped === 1);
    await until('the delete', async () => (await queueDepth(url)) === 0);
  });

  it('a failed delete is counted; the message comes back and is handled again', async () => {
    const url = await eventQueue();
    await fixture.admin.addFault({
      service: 'sqs',
      operation: 'DeleteMessageBatch',
      error: { code: 'InternalFailure', status: 500, rate: 1 },
      limit: 1,
    });
    const { seen } = start(url);
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await until('the failed delete', () => intake!.stats().deleteFailures === 1);
    fixture.emulator.world().clock.advance(30_000);
    await until('the second hand-over', () => seen.length === 2);
    await until('the delete', async () => (await queueDepth(url)) === 0);
  });

  it('receive errors back off and do not end the loop; it reads once the queue exists', async () => {
    const url = `${fixture.emulator.url}/111122223333/cmk-events`;
    const { seen } = start(url);
    await until('a few receive errors', () => intake!.stats().receiveErrors >= 3);
    const before = (await fixture.admin.calls({ eventName: 'ReceiveMessage' })).length;
    await new Promise((r) => setTimeout(r, 250));
    // Backed off: at most a couple of attempts in 250 ms with delays of 50 ms doubling to 200 ms.
    expect((await fixture.admin.calls({ eventName: 'ReceiveMessage' })).length - before).toBeLessThanOrEqual(
      3,
    );
    await eventQueue();
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await until('the event after recovery', () => seen.length === 1);
  });

  it('aborting ends a pending long poll within a second', async () => {
    const url = await eventQueue();
    const abort = new AbortController();
    const { intake: running } = start(url, { waitSeconds: 20, signal: abort.signal });
    await new Promise((r) => setTimeout(r, 300));
    // No receive of this intake has answered yet: it is inside its 20-second long poll. (An intake
    // of an earlier test may still be ending: only this one's 20-second receives count.)
    const answered = (await fixture.admin.calls({ eventName: 'ReceiveMessage' })).filter(
      (c) => (c.requestParameters as { WaitTimeSeconds?: number } | undefined)?.WaitTimeSeconds === 20,
    );
    expect(answered).toEqual([]);
    const started = performance.now();
    abort.abort();
    await running.done;
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('refuses settings out of range, naming the field', () => {
    expect(() => start('http://x/111122223333/q', { waitSeconds: 0 })).toThrow(
      /waitSeconds must be an integer from 1 to 20/,
    );
    expect(() => start('http://x/111122223333/q', { batch: 11 })).toThrow(
      /batch must be an integer from 1 to 10/,
    );
    intake = undefined;
  });
});
