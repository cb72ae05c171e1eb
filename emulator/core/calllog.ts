// A CloudTrail-like record of every call the emulator served, for tests that assert on what the
// operator did to AWS (and what it did not do). Bounded: the oldest records fall off past `capacity`.
// Secrets never enter it: plaintext, ciphertext and secret keys are replaced by a marker.

import type { ServiceName } from './protocol.ts';

export interface CallRecord {
  eventId: number;
  eventTime: number;
  eventSource: string;
  eventName: string;
  awsRegion: string;
  userIdentity: { arn: string; accessKeyId: string; type: string };
  requestParameters: unknown;
  /** The AWS error code (the SDK's err.name), absent on success. */
  errorCode?: string;
  errorMessage?: string;
  /** Set when the error came from fault injection rather than from the service's rules. */
  injected?: boolean;
  requestId: string;
  durationMs: number;
}

const secretMembers = new Set(['Plaintext', 'CiphertextBlob', 'SecretAccessKey', 'SessionToken']);

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = secretMembers.has(k) ? '***' : redact(v, depth + 1);
  }
  return out;
}

export const eventSources: Record<ServiceName, string> = {
  kms: 'kms.amazonaws.com',
  kinesisanalytics: 'kinesisanalytics.amazonaws.com',
  cassandra: 'cassandra.amazonaws.com',
  'emr-serverless': 'emr-serverless.amazonaws.com',
  sts: 'sts.amazonaws.com',
  sqs: 'sqs.amazonaws.com',
};

export interface CallFilter {
  service?: string;
  eventName?: string;
  since?: number;
  errorCode?: string;
}

export interface CallLog {
  append(record: Omit<CallRecord, 'eventId'>): CallRecord;
  query(filter?: CallFilter): CallRecord[];
  clear(): void;
  size(): number;
}

export function createCallLog(capacity = 200_000): CallLog {
  let records: CallRecord[] = [];
  let nextId = 1;
  return {
    append(record) {
      const full = { ...record, eventId: nextId++ };
      records.push(full);
      if (records.length > capacity) records = records.slice(records.length - Math.floor(capacity * 0.9));
      return full;
    },
    query(filter = {}) {
      return records.filter(
        (r) =>
          (filter.service === undefined ||
            r.eventSource === filter.service ||
            r.eventSource === eventSources[filter.service as ServiceName]) &&
          (filter.eventName === undefined || r.eventName === filter.eventName) &&
          (filter.since === undefined || r.eventId > filter.since) &&
          (filter.errorCode === undefined || r.errorCode === filter.errorCode),
      );
    },
    clear() {
      records = [];
    },
    size: () => records.length,
  };
}
