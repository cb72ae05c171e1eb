// SQS request handlers: validate the input (naming the member), find the queue from its URL, apply
// the rules and change the store. ReceiveMessage is the one handler that may wait: a long poll
// settles the world and looks again whenever a message arrives, at least every `recheckMs`, so a
// delayed event or an expired visibility timeout on the emulator clock is seen while it waits.

import { commonErrors } from '../../core/protocol.ts';
import type { CallContext, JsonHandler, JsonObject } from '../../core/service.ts';
import { validator } from '../../core/validate.ts';
import type { World } from '../../core/world.ts';
import {
  batchIdPattern,
  checkAttribute,
  computedAttributes,
  handleQueueArn,
  maxBatchEntries,
  maxMessagesPerReceive,
  maxVisibilitySeconds,
  maxWaitSeconds,
  messageSystemAttributes,
  parseQueueUrl,
  purgeIntervalMs,
  queueAttributeRules,
  queueNamePattern,
  reuseAfterDeleteMs,
  sqsErrors,
  validBodyCharacters,
} from './rules.ts';
import type { Queue, SqsMessage, SqsStore } from './state.ts';

const v = validator('InvalidParameterValue');
/** How often a waiting long poll looks again without being woken (real time). */
const recheckMs = 100;

function requiredString(input: JsonObject, member: string): string {
  if (input[member] === undefined || input[member] === null) throw sqsErrors.missingParameter(member);
  return v.str(input, member);
}

export function queueUrl(ctx: Pick<CallContext, 'endpoint'>, q: Queue): string {
  return `${ctx.endpoint ?? `https://sqs.${q.region}.amazonaws.com`}/${q.accountId}/${encodeURIComponent(q.name)}`;
}

function queueOf(store: SqsStore, ctx: CallContext, input: JsonObject): Queue {
  const url = requiredString(input, 'QueueUrl');
  const parsed = parseQueueUrl(url);
  if (!parsed) throw sqsErrors.invalidAddress(url);
  if (parsed.accountId !== ctx.accountId)
    throw commonErrors.accessDenied(
      `${ctx.caller.arn} may not use the queue of account ${parsed.accountId}: queue policies are not modelled, so the emulator refuses cross-account queue access.`,
    );
  const q = store.find(parsed.accountId, ctx.region, parsed.name);
  if (!q) throw sqsErrors.queueDoesNotExist();
  return q;
}

function stringMap(input: JsonObject, member: string): Record<string, string> {
  return v.optStringMap(input, member) ?? {};
}

function attributesOf(q: Queue, now: number): Record<string, string> {
  let visible = 0;
  let inFlight = 0;
  let delayed = 0;
  for (const m of q.messages) {
    if (m.visibleAt <= now) visible++;
    else if (m.receiveCount > 0) inFlight++;
    else delayed++;
  }
  return {
    ...q.attributes,
    ApproximateNumberOfMessages: String(visible),
    ApproximateNumberOfMessagesNotVisible: String(inFlight),
    ApproximateNumberOfMessagesDelayed: String(delayed),
    CreatedTimestamp: String(Math.floor(q.createdAt / 1000)),
    LastModifiedTimestamp: String(Math.floor(q.modifiedAt / 1000)),
    QueueArn: q.arn,
  };
}

function messageView(m: SqsMessage, systemNames: Set<string>, attributeNames: string[]): JsonObject {
  const all = systemNames.has('All');
  const system: Record<string, string> = {
    ApproximateReceiveCount: String(m.receiveCount),
    ApproximateFirstReceiveTimestamp: String(m.firstReceiveAt ?? m.sentAt),
    SentTimestamp: String(m.sentAt),
    SenderId: m.senderId,
  };
  const attributes = Object.fromEntries(
    messageSystemAttributes.filter((n) => all || systemNames.has(n)).map((n) => [n, system[n]!]),
  );
  const wanted = (name: string) =>
    attributeNames.some(
      (p) => p === 'All' || p === '.*' || p === name || (p.endsWith('.*') && name.startsWith(p.slice(0, -1))),
    );
  const messageAttributes = Object.fromEntries(
    Object.entries(m.messageAttributes ?? {}).filter(([name]) => wanted(name)),
  );
  return {
    MessageId: m.id,
    ReceiptHandle: m.handle,
    MD5OfBody: m.md5,
    Body: m.body,
    ...(Object.keys(attributes).length > 0 ? { Attributes: attributes } : {}),
    ...(Object.keys(messageAttributes).length > 0 ? { MessageAttributes: messageAttributes } : {}),
  };
}

export function sqsOperations(world: World, store: SqsStore): Record<string, JsonHandler> {
  /** Deletes by handle; throws ReceiptHandleIsInvalid for a handle this queue never issued. */
  const deleteByHandle = (q: Queue, handle: string) => {
    const entry = store.byHandle(handle);
    if (entry && entry.queue === q) {
      // A stale handle "succeeds" without deleting: only the newest one counts (SQS-005).
      if (entry.latest) store.remove(q, entry.message);
      return;
    }
    // One of this queue's handles whose message is already gone: deleting again succeeds.
    if (!entry && handleQueueArn(handle) === q.arn) return;
    throw sqsErrors.receiptHandleInvalid(handle);
  };

  return {
    CreateQueue(ctx, input) {
      const name = requiredString(input, 'QueueName');
      if (!queueNamePattern.test(name))
        throw sqsErrors.invalidParameter(
          `Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length: QueueName "${name}" (FIFO queues ending in .fifo are not modelled).`,
        );
      const given = stringMap(input, 'Attributes');
      for (const [k, value] of Object.entries(given)) checkAttribute(k, value);
      const existing = store.find(ctx.accountId, ctx.region, name);
      if (existing) {
        if (Object.entries(given).some(([k, value]) => existing.attributes[k] !== value))
          throw sqsErrors.queueNameExists(name);
        return { QueueUrl: queueUrl(ctx, existing) };
      }
      const deletedAt = store.deletedAt(ctx.accountId, ctx.region, name);
      if (deletedAt !== undefined && ctx.now - deletedAt < reuseAfterDeleteMs)
        throw sqsErrors.queueDeletedRecently(name);
      const defaults = Object.fromEntries(
        Object.entries(queueAttributeRules).flatMap(([k, r]) => (r.default ? [[k, r.default]] : [])),
      );
      const q = store.create({
        name,
        accountId: ctx.accountId,
        region: ctx.region,
        attributes: { ...defaults, ...given },
        tags: stringMap(input, 'tags'),
        createdAt: ctx.now,
      });
      return { QueueUrl: queueUrl(ctx, q) };
    },

    GetQueueUrl(ctx, input) {
      const name = requiredString(input, 'QueueName');
      const owner = v.optStr(input, 'QueueOwnerAWSAccountId') ?? ctx.accountId;
      const q = store.find(owner, ctx.region, name);
      if (!q) throw sqsErrors.queueDoesNotExist();
      return { QueueUrl: queueUrl(ctx, q) };
    },

    ListQueues(ctx, input) {
      const prefix = v.optStr(input, 'QueueNamePrefix') ?? '';
      const urls = store
        .all()
        .filter((q) => !q.deleted && q.accountId === ctx.accountId && q.region === ctx.region)
        .filter((q) => q.name.startsWith(prefix))
        .map((q) => queueUrl(ctx, q))
        .sort();
      return urls.length > 0 ? { QueueUrls: urls } : {};
    },

    DeleteQueue(ctx, input) {
      store.delete(queueOf(store, ctx, input), ctx.now);
      return {};
    },

    GetQueueAttributes(ctx, input) {
      const q = queueOf(store, ctx, input);
      const names = v.optStringList(input, 'AttributeNames') ?? [];
      const all = attributesOf(q, world.clock.now());
      const known = new Set<string>([...Object.keys(queueAttributeRules), ...computedAttributes]);
      for (const n of names) if (n !== 'All' && !known.has(n)) throw sqsErrors.invalidAttributeName(n);
      const picked = names.includes('All')
        ? all
        : Object.fromEntries(names.filter((n) => all[n] !== undefined).map((n) => [n, all[n]!]));
      return Object.keys(picked).length > 0 ? { Attributes: picked } : {};
    },

    SetQueueAttributes(ctx, input) {
      const q = queueOf(store, ctx, input);
      const given = v.object(input, 'Attributes');
      for (const [k, value] of Object.entries(given)) q.attributes[k] = checkAttribute(k, value);
      q.modifiedAt = ctx.now;
      return {};
    },

    SendMessage(ctx, input) {
      const q = queueOf(store, ctx, input);
      const body = requiredString(input, 'MessageBody');
      if (body.length === 0)
        throw sqsErrors.invalidParameter('The request must contain a non-empty MessageBody.');
      const limit = Number(q.attributes['MaximumMessageSize']);
      if (Buffer.byteLength(body, 'utf8') > limit)
        throw sqsErrors.invalidParameter(
          `One or more parameters are invalid. Reason: Message must be shorter than ${limit} bytes.`,
        );
      if (!validBodyCharacters(body)) throw sqsErrors.invalidContents();
      const delay =
        v.optInt(input, 'DelaySeconds', { min: 0, max: 900 }) ?? Number(q.attributes['DelaySeconds']);
      const m = store.enqueue(
        q,
        { body, senderId: ctx.caller.accessKeyId, now: ctx.now, delayMs: delay * 1000 },
        v.optObject(input, 'MessageAttributes'),
      );
      return { MessageId: m.id, MD5OfMessageBody: m.md5 };
    },

    async ReceiveMessage(ctx, input) {
      const q = queueOf(store, ctx, input);
      const max = v.optInt(input, 'MaxNumberOfMessages', { min: 1, max: maxMessagesPerReceive }) ?? 1;
      const visibility =
        v.optInt(input, 'VisibilityTimeout', { min: 0, max: maxVisibilitySeconds }) ??
        Number(q.attributes['VisibilityTimeout']);
      const wait =
        v.optInt(input, 'WaitTimeSeconds', { min: 0, max: maxWaitSeconds }) ??
        Number(q.attributes['ReceiveMessageWaitTimeSeconds']);
      const system = new Set([
        ...(v.optStringList(input, 'MessageSystemAttributeNames') ?? []),
        ...(v.optStringList(input, 'AttributeNames') ?? []),
      ]);
      const attributeNames = v.optStringList(input, 'MessageAttributeNames') ?? [];
      const deadline = performance.now() + wait * 1000;
      for (;;) {
        world.settle();
        const got = q.deleted ? [] : store.receive(q, max, visibility * 1000, world.clock.now());
        const left = deadline - performance.now();
        if (got.length > 0 || left <= 0 || q.deleted || store.closed()) {
          return got.length > 0 ? { Messages: got.map((m) => messageView(m, system, attributeNames)) } : {};
        }
        await store.waitFor(q, Math.min(left, recheckMs));
      }
    },

    DeleteMessage(ctx, input) {
      const q = queueOf(store, ctx, input);
      deleteByHandle(q, requiredString(input, 'ReceiptHandle'));
      return {};
    },

    DeleteMessageBatch(ctx, input) {
      const q = queueOf(store, ctx, input);
      const entries = input['Entries'];
      if (!Array.isArray(entries) || entries.length === 0) throw sqsErrors.emptyBatch();
      if (entries.length > maxBatchEntries) throw sqsErrors.tooManyEntries(entries.length);
      const seen = new Set<string>();
      for (const e of entries as JsonObject[]) {
        const id = String(e['Id'] ?? '');
        if (!batchIdPattern.test(id)) throw sqsErrors.invalidBatchId(id);
        if (seen.has(id)) throw sqsErrors.idsNotDistinct(id);
        seen.add(id);
      }
      const Successful: JsonObject[] = [];
      const Failed: JsonObject[] = [];
      for (const e of entries as JsonObject[]) {
        const Id = String(e['Id']);
        try {
          deleteByHandle(q, String(e['ReceiptHandle'] ?? ''));
          Successful.push({ Id });
        } catch (err) {
          const error = err as { code: string; message: string };
          Failed.push({ Id, SenderFault: true, Code: error.code, Message: error.message });
        }
      }
      return { Successful, Failed };
    },

    ChangeMessageVisibility(ctx, input) {
      const q = queueOf(store, ctx, input);
      const handle = requiredString(input, 'ReceiptHandle');
      const timeout = v.int(input, 'VisibilityTimeout', { min: 0, max: maxVisibilitySeconds });
      const entry = store.byHandle(handle);
      if (!entry || entry.queue !== q || !entry.latest) throw sqsErrors.receiptHandleInvalid(handle);
      const now = world.clock.now();
      if (entry.message.visibleAt <= now) throw sqsErrors.notInflight();
      entry.message.visibleAt = now + timeout * 1000;
      return {};
    },

    PurgeQueue(ctx, input) {
      const q = queueOf(store, ctx, input);
      if (q.lastPurgeAt !== undefined && ctx.now - q.lastPurgeAt < purgeIntervalMs)
        throw sqsErrors.purgeInProgress(q.name);
      store.purge(q, ctx.now);
      return {};
    },
  };
}
