// The SQS emulator through the real SQSClient (awsJson1_0, query-compatible errors): queues and
// their URLs, send and receive with the MD5 the client verifies, visibility timeouts on the emulator
// clock (SQS-002), long polling that answers as soon as a message arrives and ends when the emulator
// closes (SQS-003), receipt handles (SQS-005), batches and purges (SQS-004, SQS-006).

import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../emulator/index.ts';
import { type SdkError, sdkFailure, useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const sqs = () => new SQSClient(fixture.clientConfig());

async function newQueue(name = 'events', attributes?: Record<string, string>) {
  return (await sqs().send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
}
const send = (QueueUrl: string, MessageBody: string, DelaySeconds?: number) =>
  sqs().send(new SendMessageCommand({ QueueUrl, MessageBody, DelaySeconds }));
const receive = async (QueueUrl: string, input: Partial<ReceiveMessageCommandInput> = {}) =>
  (await sqs().send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0, ...input }))).Messages ?? [];
const count = async (QueueUrl: string) => {
  const out = await sqs().send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
  return {
    visible: Number(out.Attributes?.['ApproximateNumberOfMessages']),
    inFlight: Number(out.Attributes?.['ApproximateNumberOfMessagesNotVisible']),
    delayed: Number(out.Attributes?.['ApproximateNumberOfMessagesDelayed']),
  };
};
const advance = (ms: number) => fixture.emulator.world().clock.advance(ms);

describe('queues', () => {
  it('CreateQueue answers a URL on the emulator, is idempotent, and GetQueueUrl finds it', async () => {
    const url = await newQueue('events');
    expect(url).toBe(`${fixture.emulator.url}/111122223333/events`);
    expect(await newQueue('events')).toBe(url);
    expect((await sqs().send(new GetQueueUrlCommand({ QueueName: 'events' }))).QueueUrl).toBe(url);
  });

  it('the same name with other attributes is QueueNameExists; a bad attribute names itself', async () => {
    await newQueue('events', { VisibilityTimeout: '60' });
    const e = await sdkFailure(newQueue('events', { VisibilityTimeout: '30' }));
    expect(e.name).toBe('QueueNameExists');
    const bad = await sdkFailure(newQueue('other', { VisibilityTimeout: '43201' }));
    expect(bad.name).toBe('InvalidAttributeValue');
    expect(bad.message).toContain('VisibilityTimeout');
    expect((await sdkFailure(newQueue('fifo', { FifoQueue: 'true' }))).name).toBe('InvalidAttributeName');
  });

  it('an unknown queue is QueueDoesNotExist with the query-compatible code (SQS-001)', async () => {
    const e = (await sdkFailure(sqs().send(new GetQueueUrlCommand({ QueueName: 'nope' })))) as SdkError & {
      Code?: string;
      Type?: string;
    };
    expect(e).toBeInstanceOf(QueueDoesNotExist);
    expect({ status: e.$metadata.httpStatusCode, code: e.Code, type: e.Type }).toEqual({
      status: 400,
      code: 'AWS.SimpleQueueService.NonExistentQueue',
      type: 'Sender',
    });
    const url = `${fixture.emulator.url}/111122223333/nope`;
    expect((await sdkFailure(receive(url))).name).toBe('QueueDoesNotExist');
  });

  it('a deleted queue is gone, and its name is refused for 60 s on the emulator clock (SQS-006)', async () => {
    const url = await newQueue('short-lived');
    await sqs().send(new DeleteQueueCommand({ QueueUrl: url }));
    expect((await sdkFailure(send(url, 'x'))).name).toBe('QueueDoesNotExist');
    expect((await sdkFailure(newQueue('short-lived'))).name).toBe('QueueDeletedRecently');
    advance(60_000);
    expect(await newQueue('short-lived')).toBe(url);
  });
});

describe('send and receive', () => {
  it('a message comes back with its body, a lower-case MD5 the client accepts, and its receive count', async () => {
    const url = await newQueue();
    const body = JSON.stringify({ hello: 'wörld ✓' });
    const sent = await send(url, body);
    const [m] = await receive(url, { MessageSystemAttributeNames: ['All'] });
    expect(m).toMatchObject({ MessageId: sent.MessageId, Body: body, MD5OfBody: sent.MD5OfMessageBody });
    expect(m!.Attributes).toMatchObject({
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.UTC(2026, 10, 23, 12, 0, 0)),
    });
  });

  it('takes at most MaxNumberOfMessages (1 by default, 1-10)', async () => {
    const url = await newQueue();
    for (let i = 0; i < 12; i++) await send(url, `m${i}`);
    expect(await receive(url)).toHaveLength(1);
    expect(await receive(url, { MaxNumberOfMessages: 10 })).toHaveLength(10);
    const e = await sdkFailure(receive(url, { MaxNumberOfMessages: 11 }));
    expect(e.name).toBe('InvalidParameterValue');
    expect(e.message).toContain('MaxNumberOfMessages');
  });

  it('refuses a body with characters SQS does not carry', async () => {
    const url = await newQueue();
    expect((await sdkFailure(send(url, 'a\u0001b'))).name).toBe('InvalidMessageContents');
  });

  it('DelaySeconds hides a message until the emulator clock passes it', async () => {
    const url = await newQueue();
    await send(url, 'later', 5);
    expect(await receive(url)).toEqual([]);
    expect(await count(url)).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
    advance(5_000);
    expect((await receive(url)).map((m) => m.Body)).toEqual(['later']);
  });
});

describe('visibility timeout (SQS-002)', () => {
  it('a received message is invisible until the timeout, then comes back with the count one higher', async () => {
    const url = await newQueue();
    await send(url, 'once');
    const [first] = await receive(url, { VisibilityTimeout: 30, MessageSystemAttributeNames: ['All'] });
    expect(await receive(url)).toEqual([]);
    expect(await count(url)).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    advance(29_999);
    expect(await receive(url)).toEqual([]);
    advance(1);
    const [again] = await receive(url, { MessageSystemAttributeNames: ['ApproximateReceiveCount'] });
    expect(again!.MessageId).toBe(first!.MessageId);
    expect(again!.ReceiptHandle).not.toBe(first!.ReceiptHandle);
    expect(again!.Attributes).toEqual({ ApproximateReceiveCount: '2' });
  });

  it("the queue's VisibilityTimeout applies when the receive names none", async () => {
    const url = await newQueue('slow', { VisibilityTimeout: '120' });
    await send(url, 'x');
    await receive(url);
    advance(119_000);
    expect(await receive(url)).toEqual([]);
    advance(1_000);
    expect(await receive(url)).toHaveLength(1);
  });

  it('ChangeMessageVisibility 0 releases an in-flight message at once; on a visible one it is MessageNotInflight', async () => {
    const url = await newQueue();
    await send(url, 'x');
    const [m] = await receive(url, { VisibilityTimeout: 300 });
    const change = (VisibilityTimeout: number) =>
      sqs().send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: m!.ReceiptHandle,
          VisibilityTimeout,
        }),
      );
    await change(0);
    expect((await sdkFailure(change(10))).name).toBe('MessageNotInflight');
    expect(await receive(url)).toHaveLength(1);
  });
});

describe('receipt handles (SQS-005)', () => {
  it('only the newest handle deletes; an older one succeeds without deleting', async () => {
    const url = await newQueue();
    await send(url, 'x');
    const [first] = await receive(url, { VisibilityTimeout: 0 });
    const [second] = await receive(url, { VisibilityTimeout: 0 });
    await sqs().send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first!.ReceiptHandle }));
    expect(await count(url)).toMatchObject({ visible: 1 });
    await sqs().send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: second!.ReceiptHandle }));
    expect(await count(url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    // Deleting again with a handle of this queue is harmless.
    await sqs().send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: second!.ReceiptHandle }));
  });

  it('a handle the queue never issued is ReceiptHandleIsInvalid (404)', async () => {
    const url = await newQueue();
    const e = await sdkFailure(
      sqs().send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'garbage' })),
    );
    expect({ name: e.name, status: e.$metadata.httpStatusCode }).toEqual({
      name: 'ReceiptHandleIsInvalid',
      status: 404,
    });
  });

  it('DeleteMessageBatch reports each entry; empty, oversized and repeated-id batches are refused (SQS-004)', async () => {
    const url = await newQueue();
    await send(url, 'a');
    await send(url, 'b');
    const got = await receive(url, { MaxNumberOfMessages: 2 });
    const batch = (Entries: Array<{ Id: string; ReceiptHandle: string }>) =>
      sqs().send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries }));
    const out = await batch([
      { Id: 'a', ReceiptHandle: got[0]!.ReceiptHandle! },
      { Id: 'b', ReceiptHandle: got[1]!.ReceiptHandle! },
      { Id: 'c', ReceiptHandle: 'garbage' },
    ]);
    expect(out.Successful?.map((s) => s.Id)).toEqual(['a', 'b']);
    expect(out.Failed).toEqual([
      expect.objectContaining({ Id: 'c', SenderFault: true, Code: 'ReceiptHandleIsInvalid' }),
    ]);
    expect(await count(url)).toMatchObject({ visible: 0, inFlight: 0 });
    expect((await sdkFailure(batch([]))).name).toBe('EmptyBatchRequest');
    const eleven = Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, ReceiptHandle: 'h' }));
    expect((await sdkFailure(batch(eleven))).name).toBe('TooManyEntriesInBatchRequest');
    expect(
      (
        await sdkFailure(
          batch([
            { Id: 'x', ReceiptHandle: 'h' },
            { Id: 'x', ReceiptHandle: 'h' },
          ]),
        )
      ).name,
    ).toBe('BatchEntryIdsNotDistinct');
  });
});

describe('PurgeQueue (SQS-006)', () => {
  it('empties the queue, at most once per 60 s', async () => {
    const url = await newQueue();
    await send(url, 'a');
    await sqs().send(new PurgeQueueCommand({ QueueUrl: url }));
    expect(await count(url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    const e = await sdkFailure(sqs().send(new PurgeQueueCommand({ QueueUrl: url })));
    expect({ name: e.name, status: e.$metadata.httpStatusCode }).toEqual({
      name: 'PurgeQueueInProgress',
      status: 403,
    });
    advance(60_000);
    await sqs().send(new PurgeQueueCommand({ QueueUrl: url }));
  });
});

describe('long polling (SQS-003)', () => {
  it('answers as soon as a message arrives, well before WaitTimeSeconds', async () => {
    const url = await newQueue();
    const started = performance.now();
    const polling = receive(url, { WaitTimeSeconds: 10 });
    setTimeout(() => void send(url, 'arrived'), 200);
    expect((await polling).map((m) => m.Body)).toEqual(['arrived']);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('answers empty after WaitTimeSeconds when nothing comes; more than 20 s is refused', async () => {
    const url = await newQueue();
    const started = performance.now();
    expect(await receive(url, { WaitTimeSeconds: 1 })).toEqual([]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect((await sdkFailure(receive(url, { WaitTimeSeconds: 21 }))).name).toBe('InvalidParameterValue');
  });

  it('sees a message whose visibility timeout ends on the emulator clock while it waits', async () => {
    const url = await newQueue();
    await send(url, 'x');
    await receive(url, { VisibilityTimeout: 30 });
    const polling = receive(url, { WaitTimeSeconds: 10 });
    setTimeout(() => advance(30_000), 200);
    expect(await polling).toHaveLength(1);
  });

  it('ends, empty, when the emulator closes, so the server shuts down at once', async () => {
    const own = await startEmulator({ port: 0 });
    const client = new SQSClient({ ...fixture.clientConfig(), endpoint: own.url });
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'q' }));
    const polling = client.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 })).catch((e) => e);
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    await own.close();
    await polling;
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('ends when the world is reset', async () => {
    const url = await newQueue();
    const polling = receive(url, { WaitTimeSeconds: 20 });
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    fixture.emulator.reset();
    expect(await polling).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
