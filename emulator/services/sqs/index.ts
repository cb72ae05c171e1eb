// The Amazon SQS emulator (awsJson1_0 in query-compatible mode, target `AmazonSQS`, SigV4 name
// `sqs`): standard queues per account and region, enough for the operator's event intake and for
// tests that read the events the emulator publishes (core/trail.ts). Contract:
// - at-least-once, unordered delivery (SQS-007); a received message is invisible for its visibility
//   timeout on the emulator clock, then comes back with ApproximateReceiveCount one higher (SQS-002);
// - ReceiveMessage takes 1-10 messages and long-polls up to 20 s of real time, answering as soon as
//   a message is there (SQS-003); a long poll ends early, empty, when the world is reset or the
//   emulator closes;
// - only the newest receipt handle deletes a message (SQS-005); errors carry the query-compatible
//   code in `x-amzn-query-error` as well as `__type` (SQS-001); MD5OfBody is lower-case hex, which
//   the SDK verifies on every receive.
//
//   state.ts       queues, messages, receipt handles and long-poll waiters
//   rules.ts       bounds, attribute checks, URL parsing, MD5, errors and their wire encoding
//   operations.ts  CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, Get/SetQueueAttributes,
//                  SendMessage, ReceiveMessage, DeleteMessage, DeleteMessageBatch,
//                  ChangeMessageVisibility, PurgeQueue
// No seed section: tests create queues with CreateQueue.
//
// Choices where AWS is UNCONFIRMED (docs/aws-behaviour.md), stricter side taken:
// - DeleteMessage with an older receipt handle succeeds without deleting (AWS says it "might not"
//   delete); ChangeMessageVisibility with one is ReceiptHandleIsInvalid.
// - QueueUrl is `<the emulator's origin>/<account>/<name>` so an SDK configured only through
//   AWS_ENDPOINT_URL (which follows the URL's host) stays on the emulator; any host is accepted on
//   input, and the queue is looked up in the caller's region.
// - Cross-account queue access is AccessDenied (queue policies are not modelled).
// - Bad or missing members are InvalidParameterValue / MissingParameter (classic query codes, not in
//   the SDK model, so the SDK raises SQSServiceException with that name).
// - Not modelled: FIFO queues, dead-letter redrive, message retention expiry, the 12-hour visibility
//   ceiling, SendMessageBatch, ChangeMessageVisibilityBatch, MD5OfMessageAttributes, KMS encryption.
//
// Event readings (core/trail-events.ts), where the CloudTrail record shape is UNCONFIRMED:
// - requestParameters: the request as sent, top-level members in lowerCamelCase (KMS's documented
//   casing); nested members keep the API's casing; MSF and EMR Serverless casing is undocumented.
// - responseElements: `{keyId: <key ARN>}` only for the KMS calls documented to carry it, the bare
//   key id for RotateKeyOnDemand, null elsewhere. Keyspaces UpdateTable is recorded as AlterTable.
// - The envelope's `resources` is `[]`; detail.resources names key, alias and table ARNs.
// - Automatic rotations and the end of a deletion window (RotateKey/DeleteKey service events) are
//   not published.

import type { ServiceRuntime } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import { sqsOperations } from './operations.ts';
import { encodeSqsError } from './rules.ts';
import { createSqsStore } from './state.ts';

export function createSqsService(world: World): ServiceRuntime {
  const store = createSqsStore(world);
  world.events.connect({
    exists: (t) => store.find(t.accountId, t.region, t.queueName) !== undefined,
    deliver(t, body, now, position) {
      const q = store.find(t.accountId, t.region, t.queueName);
      if (!q) return false;
      store.enqueue(q, {
        body,
        senderId: 'events.amazonaws.com',
        now,
        ...(position !== undefined ? { position } : {}),
      });
      return true;
    },
  });
  return {
    name: 'sqs',
    protocol: 'awsJson1_0',
    targetPrefix: 'AmazonSQS',
    operations: sqsOperations(world, store),
    encodeError: encodeSqsError,
    dispose: () => store.close(),
    snapshot: () => ({
      queues: store
        .all()
        .filter((q) => !q.deleted)
        .map((q) => ({
          name: q.name,
          accountId: q.accountId,
          region: q.region,
          messages: q.messages.length,
        })),
    }),
  };
}
