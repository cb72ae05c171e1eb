// The event intake: long-polls the SQS queue an EventBridge rule feeds with CloudTrail-recorded API
// calls (EVT-002), turns each message into the keys and resources it names (parse.ts) and hands them
// to `onTargets`, which enqueues the affected objects. Optional: the periodic resync stays the
// safety net, because delivery is best effort and minutes late (EVT-005).
//
// Guarantees:
// - A message is deleted only after `onTargets` resolved for it (its objects are enqueued), so a
//   crash in between redelivers it after the visibility timeout rather than losing it. Messages that
//   name nothing (malformed, foreign, failed calls) are deleted at once and logged at debug.
// - Duplicates and reordering are harmless (SQS-007): the operator only *enqueues* a key, the work
//   queue folds repeats, and the reconcile reads AWS afresh, so neither the order nor the number of
//   copies of an event changes the outcome. Nothing here deduplicates or orders.
// - A message whose `onTargets` keeps failing is dropped (deleted, counted, logged at error) once
//   SQS has delivered it `maxReceives` times, so one poison message cannot loop forever.
// - Receive errors (throttling, a deleted queue, no permission, network) never end the loop: it
//   backs off exponentially with jitter (the watch's reconnect backoff, reset after a good receive)
//   and tries again. Only the abort signal or stop() ends it, within one in-flight request, which
//   the signal aborts.
// - The SQS client's own request timeout must be longer than `waitSeconds` (SQS-003).

import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from 'pino';
import { type Clock, pause, systemClock } from '../runtime/clock.ts';
import { createReconnectBackoff, type ReconnectBackoffOptions } from '../runtime/watch.ts';
import { type EventIntakeMetrics, noEventIntakeMetrics } from './metrics.ts';
import { type EventTarget, eventTargetsOf } from './parse.ts';

export interface EventIntakeOptions {
  client: Pick<SQSClient, 'send'>;
  queueUrl: string;
  /** Enqueues what the targets name; the message is deleted once this resolves. */
  onTargets(targets: EventTarget[]): void | Promise<void>;
  log: Logger;
  /** Long-poll wait, 1-20 s (default 20). */
  waitSeconds?: number;
  /** Messages per receive, 1-10 (default 10). */
  batch?: number;
  /** Deliveries after which a message that keeps failing is dropped (default 5). */
  maxReceives?: number;
  signal?: AbortSignal;
  clock?: Clock;
  random?: () => number;
  /** Receive-error backoff; default 1 s doubling to 60 s, reset after 2 healthy minutes. */
  backoff?: Partial<ReconnectBackoffOptions>;
  metrics?: EventIntakeMetrics;
}

export interface EventIntakeStats {
  /** Messages received. */
  received: number;
  /** Targets handed to onTargets that it accepted. */
  enqueuedTargets: number;
  ignored: number;
  /** onTargets failures (the message comes back after its visibility timeout). */
  handlerFailures: number;
  /** Messages dropped after maxReceives failed deliveries. */
  dropped: number;
  receiveErrors: number;
  deleteFailures: number;
  /** Epoch ms of the last successful receive (empty or not), for liveness. */
  lastReceiveAt?: number;
}

export interface EventIntake {
  stats(): EventIntakeStats;
  /** Aborts the loop and resolves when it has ended. */
  stop(): Promise<void>;
  /** Resolves when the loop has ended (stop() or the signal). */
  readonly done: Promise<void>;
}

const defaultBackoff: Partial<ReconnectBackoffOptions> = { initialMs: 1_000, maxMs: 60_000 };

function checkRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`event intake: ${field} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

/** Starts the intake loop at once; see the module comment for what it guarantees. */
export function createEventIntake(options: EventIntakeOptions): EventIntake {
  const waitSeconds = checkRange('waitSeconds', options.waitSeconds ?? 20, 1, 20);
  const batch = checkRange('batch', options.batch ?? 10, 1, 10);
  const maxReceives = checkRange('maxReceives', options.maxReceives ?? 5, 1, 1000);
  if (!options.queueUrl)
    throw new Error('event intake: queueUrl is required (the URL of the SQS queue the rule feeds)');
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics ?? noEventIntakeMetrics;
  const log = options.log.child({ component: 'event-intake' });
  const backoff = createReconnectBackoff({ ...defaultBackoff, ...options.backoff }, clock, options.random);
  const stopping = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stopping.signal]) : stopping.signal;
  const stats: EventIntakeStats = {
    received: 0,
    enqueuedTargets: 0,
    ignored: 0,
    handlerFailures: 0,
    dropped: 0,
    receiveErrors: 0,
    deleteFailures: 0,
  };

  /** Whether the message is done with (to be deleted). */
  async function handle(message: Message): Promise<boolean> {
    const parsed = eventTargetsOf(message.Body ?? '');
    if (!Array.isArray(parsed)) {
      stats.ignored++;
      metrics.message('ignored');
      log.debug({ messageId: message.MessageId, reason: parsed.ignored }, 'event ignored');
      return true;
    }
    try {
      await options.onTargets(parsed);
      stats.enqueuedTargets += parsed.length;
      metrics.message('enqueued');
      log.debug({ messageId: message.MessageId, targets: parsed }, 'event targets enqueued');
      return true;
    } catch (err) {
      const receives = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
      if (receives >= maxReceives) {
        stats.dropped++;
        metrics.message('dropped');
        log.error(
          { err, messageId: message.MessageId, receives },
          'event dropped after repeated failures to enqueue its targets; the periodic resync still covers them',
        );
        return true;
      }
      stats.handlerFailures++;
      metrics.message('failed');
      log.warn(
        { err, messageId: message.MessageId, receives },
        'enqueueing event targets failed; SQS redelivers it',
      );
      return false;
    }
  }

  async function remove(messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    const entries = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' }));
    try {
      const out = await options.client.send(
        new DeleteMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: entries }),
        { abortSignal: signal },
      );
      const failed = out.Failed ?? [];
      if (failed.length > 0) {
        stats.deleteFailures += failed.length;
        metrics.deleteFailures(failed.length);
        log.warn(
          { failed },
          'deleting handled events failed; they come back and are handled again (harmless)',
        );
      }
    } catch (err) {
      if (signal.aborted) return;
      stats.deleteFailures += messages.length;
      metrics.deleteFailures(messages.length);
      log.warn({ err }, 'deleting handled events failed; they come back and are handled again (harmless)');
    }
  }

  async function loop(): Promise<void> {
    log.info({ queueUrl: options.queueUrl, waitSeconds, batch }, 'event intake started');
    while (!signal.aborted) {
      let messages: Message[];
      try {
        const out = await options.client.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: batch,
            WaitTimeSeconds: waitSeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
        stats.lastReceiveAt = clock.now();
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        stats.receiveErrors++;
        metrics.receiveError();
        const delayMs = backoff.next();
        log.warn({ err, delayMs }, 'receiving from the event queue failed; retrying after a backoff');
        await pause(clock, delayMs, signal);
        continue;
      }
      stats.received += messages.length;
      const done: Message[] = [];
      for (const m of messages) if (await handle(m)) done.push(m);
      await remove(done);
    }
    log.info('event intake stopped');
  }

  const done = loop().catch((err: unknown) => {
    // Unreachable by design (every await above is guarded); logged rather than left unhandled.
    log.error({ err }, 'event intake ended unexpectedly');
  });
  return {
    stats: () => ({ ...stats }),
    stop: async () => {
      stopping.abort(new Error('event intake stopped'));
      await done;
    },
    done,
  };
}
