// SQS rules as pure functions and constants, each with the rule id it implements: queue names and
// URLs, queue attributes and their bounds, message-body checks, the MD5 the SDK verifies, and the
// errors with the query-compatible codes the client reads. No store, no clock, no HTTP.

import { createHash } from 'node:crypto';
import { AwsError, type EncodedResponse, encodeError } from '../../core/protocol.ts';

/** Long polling waits at most 20 s; a receive takes 1-10 messages (SQS-003). */
export const maxWaitSeconds = 20;
export const maxMessagesPerReceive = 10;
/** Visibility timeout bounds, 0 s to 12 h, queue default 30 s (SQS-002). */
export const maxVisibilitySeconds = 43_200;
/** A deleted queue's name cannot be used again for 60 s; PurgeQueue once per 60 s (SQS-006). */
export const reuseAfterDeleteMs = 60_000;
export const purgeIntervalMs = 60_000;
/** DeleteMessageBatch takes 1-10 entries with distinct ids (SQS-004). */
export const maxBatchEntries = 10;

export const queueNamePattern = /^[A-Za-z0-9_-]{1,80}$/;
export const batchIdPattern = /^[A-Za-z0-9_-]{1,80}$/;

interface AttributeRule {
  /** Default as SQS reports it; absent = not set unless given. */
  default?: string;
  /** Integer bounds; absent = any string. */
  min?: number;
  max?: number;
}

/** Settable queue attributes (standard queues only) and their bounds (SQS-002, SQS-003). */
export const queueAttributeRules: Record<string, AttributeRule> = {
  VisibilityTimeout: { default: '30', min: 0, max: maxVisibilitySeconds },
  DelaySeconds: { default: '0', min: 0, max: 900 },
  ReceiveMessageWaitTimeSeconds: { default: '0', min: 0, max: maxWaitSeconds },
  MessageRetentionPeriod: { default: '345600', min: 60, max: 1_209_600 },
  MaximumMessageSize: { default: '262144', min: 1024, max: 262_144 },
  Policy: {},
  RedrivePolicy: {},
  RedriveAllowPolicy: {},
  KmsMasterKeyId: {},
  KmsDataKeyReusePeriodSeconds: { min: 60, max: 86_400 },
  SqsManagedSseEnabled: {},
};

/** Read-only attributes GetQueueAttributes computes. */
export const computedAttributes = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
] as const;

/** Message system attributes ReceiveMessage can return (strings, timestamps in epoch ms). */
export const messageSystemAttributes = [
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'SentTimestamp',
  'SenderId',
] as const;

/** The query-compatible code the client matches besides the shape name (SQS-001). */
const queryCodes: Record<string, string> = {
  QueueDoesNotExist: 'AWS.SimpleQueueService.NonExistentQueue',
  QueueNameExists: 'QueueAlreadyExists',
  QueueDeletedRecently: 'AWS.SimpleQueueService.QueueDeletedRecently',
  MessageNotInflight: 'AWS.SimpleQueueService.MessageNotInflight',
  PurgeQueueInProgress: 'AWS.SimpleQueueService.PurgeQueueInProgress',
  EmptyBatchRequest: 'AWS.SimpleQueueService.EmptyBatchRequest',
  TooManyEntriesInBatchRequest: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  BatchEntryIdsNotDistinct: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
  InvalidBatchEntryId: 'AWS.SimpleQueueService.InvalidBatchEntryId',
  UnsupportedOperation: 'AWS.SimpleQueueService.UnsupportedOperation',
};

export const sqsErrors = {
  queueDoesNotExist: () => new AwsError('QueueDoesNotExist', 'The specified queue does not exist.', 400),
  invalidAddress: (url: string) =>
    new AwsError('InvalidAddress', `The address ${url} is not valid for this endpoint.`, 404),
  queueNameExists: (name: string) =>
    new AwsError(
      'QueueNameExists',
      `A queue named ${name} already exists with different attributes; use the same attributes or another name.`,
      400,
    ),
  queueDeletedRecently: (name: string) =>
    new AwsError(
      'QueueDeletedRecently',
      `You must wait 60 seconds after deleting a queue before you can create another queue named ${name}.`,
      400,
    ),
  receiptHandleInvalid: (handle: string) =>
    new AwsError(
      'ReceiptHandleIsInvalid',
      `The input receipt handle "${handle}" is not a valid receipt handle.`,
      404,
    ),
  notInflight: () => new AwsError('MessageNotInflight', 'The message is not in flight.', 400),
  purgeInProgress: (name: string) =>
    new AwsError(
      'PurgeQueueInProgress',
      `Only one PurgeQueue operation on ${name} is allowed every 60 seconds.`,
      403,
    ),
  emptyBatch: () =>
    new AwsError('EmptyBatchRequest', 'There should be at least one entry in the request.', 400),
  tooManyEntries: (n: number) =>
    new AwsError(
      'TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are ${maxBatchEntries}. You have sent ${n}.`,
      400,
    ),
  idsNotDistinct: (id: string) => new AwsError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`, 400),
  invalidBatchId: (id: string) =>
    new AwsError(
      'InvalidBatchEntryId',
      `A batch entry id can only contain alphanumeric characters, hyphens and underscores, 1-80 long: "${id}".`,
      400,
    ),
  invalidAttributeName: (name: string) =>
    new AwsError('InvalidAttributeName', `Unknown Attribute ${name}.`, 400),
  invalidAttributeValue: (name: string, why: string) =>
    new AwsError('InvalidAttributeValue', `Invalid value for the parameter ${name}: ${why}`, 400),
  invalidContents: () =>
    new AwsError(
      'InvalidMessageContents',
      'Invalid binary character in the message body: only #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF are allowed.',
      400,
    ),
  /** Bad or missing members: the classic query code, not in the SDK model (UNCONFIRMED for JSON). */
  invalidParameter: (message: string) => new AwsError('InvalidParameterValue', message, 400),
  missingParameter: (member: string) =>
    new AwsError('MissingParameter', `The request must contain the parameter ${member}.`, 400),
};

/**
 * SQS speaks awsJson1_0 in query-compatible mode: the error code travels in `x-amzn-query-error`
 * (`Code;Sender`) as well as in a namespaced `__type`, and the client prefers the header (SQS-001).
 */
export function encodeSqsError(error: AwsError, requestId: string): EncodedResponse {
  const base = encodeError('sqs', 'awsJson1_0', error, requestId);
  const fault = error.status >= 500 ? 'Receiver' : 'Sender';
  const body = JSON.parse(base.body) as Record<string, unknown>;
  body['__type'] = `com.amazonaws.sqs#${error.code}`;
  return {
    status: base.status,
    headers: { ...base.headers, 'x-amzn-query-error': `${queryCodes[error.code] ?? error.code};${fault}` },
    body: JSON.stringify(body),
  };
}

/** Lower-case hex MD5 of the UTF-8 body: the client refuses a receive whose MD5OfBody differs (SQS-001). */
export function md5Hex(body: string): string {
  return createHash('md5').update(body, 'utf8').digest('hex');
}

/** SQS accepts only XML-safe characters in a body (SQS-004). */
export function validBodyCharacters(body: string): boolean {
  for (const ch of body) {
    const c = ch.codePointAt(0)!;
    const ok =
      c === 0x9 ||
      c === 0xa ||
      c === 0xd ||
      (c >= 0x20 && c <= 0xd7ff) ||
      (c >= 0xe000 && c <= 0xfffd) ||
      (c >= 0x10000 && c <= 0x10ffff);
    if (!ok) return false;
  }
  return true;
}

/** Checks one settable attribute; throws InvalidAttributeName/Value naming it. */
export function checkAttribute(name: string, value: unknown): string {
  const rule = queueAttributeRules[name];
  if (!rule) {
    if (name === 'FifoQueue' || name === 'ContentBasedDeduplication')
      throw sqsErrors.invalidAttributeName(`${name} (the emulator models standard queues only)`);
    throw sqsErrors.invalidAttributeName(name);
  }
  if (typeof value !== 'string') throw sqsErrors.invalidAttributeValue(name, 'attribute values are strings');
  if (rule.min !== undefined || rule.max !== undefined) {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < (rule.min ?? 0) || n > (rule.max ?? Number.MAX_SAFE_INTEGER))
      throw sqsErrors.invalidAttributeValue(name, `expected an integer from ${rule.min} to ${rule.max}.`);
  }
  return value;
}

/** A queue's account and name from its URL (`<scheme>://<host>/<account>/<name>`). */
export function parseQueueUrl(url: string): { accountId: string; name: string } | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const m = /^\/(\d{12})\/([^/]+)\/?$/.exec(path);
  return m ? { accountId: m[1]!, name: decodeURIComponent(m[2]!) } : undefined;
}

export function queueArn(region: string, accountId: string, name: string): string {
  return `arn:aws:sqs:${region}:${accountId}:${name}`;
}

/** The queue ARN a receipt handle of ours was issued for, or undefined when it is not one of ours. */
export function handleQueueArn(handle: string): string | undefined {
  const parts = Buffer.from(handle, 'base64').toString('utf8').split('|');
  return parts.length === 4 && parts[0]!.startsWith('arn:aws:sqs:') ? parts[0] : undefined;
}
