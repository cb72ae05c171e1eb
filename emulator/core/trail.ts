// The event trail: after a successful mutating call on the allow-list (core/trail-events.ts), the
// emulator publishes the EventBridge/CloudTrail envelope into one configured SQS queue, the way a
// user's EventBridge rule with an SQS target would. Off until the admin API names a queue.
//
// Faults, drawn from a PRNG seeded from the config seed (same seed, same calls, same faults):
// - delayMs: the event is delivered that long after the call, on the emulator clock (a timeline
//   event), so a test advances the clock to see it; in AWS the lag is typically minutes (EVT-005);
// - dropRate: the event is lost (best-effort delivery, EVT-005);
// - duplicateRate: the event arrives twice, with the same envelope id (at-least-once, SQS-007);
// - reorder: each delivery is inserted at a random place in the queue instead of at its end, so
//   events already waiting come out in another order (no ordering in standard queues, SQS-007).
// Events from every region and account go to the one queue (a simplification: in AWS a rule sees
// its own region's bus).

import { randomUUID } from 'node:crypto';
import type { Timeline } from './clock.ts';
import { type Random, seededRandom } from './random.ts';
import type { CallContext, JsonObject } from './service.ts';
import { cloudTrailEvent, producesEvent } from './trail-events.ts';

export interface EventQueueSettings {
  queueName: string;
  /** Where the queue lives; default: the config's account and default region. */
  accountId?: string;
  region?: string;
  delayMs?: number;
  duplicateRate?: number;
  dropRate?: number;
  reorder?: boolean;
}

export interface EventQueueTarget {
  accountId: string;
  region: string;
  queueName: string;
}

/** Implemented by the SQS service: where events land. */
export interface EventSink {
  exists(target: EventQueueTarget): boolean;
  /** Returns false when the queue is gone. `position` in [0, 1): insert there instead of at the end. */
  deliver(target: EventQueueTarget, body: string, now: number, position?: number): boolean;
}

export interface EventTrailCounts {
  published: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Deliveries that found no queue (deleted after it was named). */
  undeliverable: number;
}

export interface EventTrail {
  /** Names the queue and faults (throws naming the bad field), or turns publishing off. */
  configure(settings: EventQueueSettings | undefined): void;
  settings(): (EventQueueSettings & EventQueueTarget) | undefined;
  counts(): EventTrailCounts;
  connect(sink: EventSink): void;
  /** Called by the server after every successful call. */
  record(ctx: CallContext, input: JsonObject, result: unknown): void;
}

const rate = (name: string, v: unknown): number => {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${name} must be a number from 0 to 1`);
  return v;
};

export function createEventTrail(deps: {
  config: { accountId: string; defaultRegion: string; seed: number };
  clock: { now(): number };
  timeline: Timeline;
}): EventTrail {
  let active: (EventQueueSettings & EventQueueTarget) | undefined;
  let random: Random = seededRandom(deps.config.seed ^ 0x7a11);
  let sink: EventSink | undefined;
  const counts: EventTrailCounts = {
    published: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    undeliverable: 0,
  };

  const deliver = (target: EventQueueTarget, body: string, reorder: boolean) => {
    const position = reorder ? random.next() : undefined;
    if (sink?.deliver(target, body, deps.clock.now(), position)) counts.delivered++;
    else counts.undeliverable++;
  };

  return {
    configure(s) {
      if (s === undefined) {
        active = undefined;
        return;
      }
      if (typeof s.queueName !== 'string' || s.queueName === '')
        throw new Error('queueName is required: the name of an SQS queue created in the emulator');
      const delayMs = s.delayMs ?? 0;
      if (!Number.isInteger(delayMs) || delayMs < 0)
        throw new Error('delayMs must be a non-negative integer');
      const resolved = {
        ...s,
        accountId: s.accountId ?? deps.config.accountId,
        region: s.region ?? deps.config.defaultRegion,
        delayMs,
        dropRate: rate('dropRate', s.dropRate),
        duplicateRate: rate('duplicateRate', s.duplicateRate),
        reorder: s.reorder === true,
      };
      if (!sink?.exists(resolved))
        throw new Error(
          `queue ${resolved.queueName} does not exist in ${resolved.accountId}/${resolved.region}: create it with SQS CreateQueue first`,
        );
      active = resolved;
      // A fresh draw sequence per configuration keeps a test's faults independent of earlier tests.
      random = seededRandom(deps.config.seed ^ 0x7a11);
    },
    settings: () => (active ? { ...active } : undefined),
    counts: () => ({ ...counts }),
    connect(s) {
      sink = s;
    },
    record(ctx, input, result) {
      const settings = active;
      if (!settings || !producesEvent(ctx.service, ctx.operation)) return;
      const event = cloudTrailEvent({ ctx, input, result }, randomUUID);
      if (!event) return;
      counts.published++;
      if (random.next() < (settings.dropRate ?? 0)) {
        counts.dropped++;
        return;
      }
      const copies = random.next() < (settings.duplicateRate ?? 0) ? 2 : 1;
      if (copies === 2) counts.duplicated++;
      const body = JSON.stringify(event);
      const target = {
        accountId: settings.accountId,
        region: settings.region,
        queueName: settings.queueName,
      };
      for (let i = 0; i < copies; i++) {
        if (!settings.delayMs) deliver(target, body, settings.reorder === true);
        else
          deps.timeline.schedule(ctx.now + settings.delayMs, 'events.deliver', () =>
            deliver(target, body, settings.reorder === true),
          );
      }
    },
  };
}
