// Prometheus metrics of the event intake, in the pattern of src/runtime/metrics.ts: the caller's
// registry, every series created at zero so a rate() is defined before the first message.
//
//   cmk_event_messages_total{outcome}   messages handled: enqueued | ignored | failed | dropped
//   cmk_event_receive_errors_total      ReceiveMessage calls that failed (then backed off)
//   cmk_event_delete_failures_total     handled messages whose delete failed (they come back)

import { Counter, type Registry } from 'prom-client';

export type EventMessageOutcome = 'enqueued' | 'ignored' | 'failed' | 'dropped';

export interface EventIntakeMetrics {
  message(outcome: EventMessageOutcome): void;
  receiveError(): void;
  deleteFailures(n: number): void;
}

export const noEventIntakeMetrics: EventIntakeMetrics = {
  message() {},
  receiveError() {},
  deleteFailures() {},
};

const outcomes: EventMessageOutcome[] = ['enqueued', 'ignored', 'failed', 'dropped'];

/** Registers the intake's counters on `registry` (once per registry and process). */
export function prometheusEventIntakeMetrics(registry: Registry): EventIntakeMetrics {
  const registers = [registry];
  const messages = new Counter({
    name: 'cmk_event_messages_total',
    help: 'Event queue messages handled, by outcome: enqueued (targets handed on), ignored (nothing to look at), failed (handing on failed; the message comes back), dropped (failed too often; the resync covers it)',
    labelNames: ['outcome'],
    registers,
  });
  const receiveErrors = new Counter({
    name: 'cmk_event_receive_errors_total',
    help: 'Event queue ReceiveMessage calls that failed',
    registers,
  });
  const deleteFailures = new Counter({
    name: 'cmk_event_delete_failures_total',
    help: 'Handled event queue messages whose delete failed',
    registers,
  });
  for (const outcome of outcomes) messages.inc({ outcome }, 0);
  receiveErrors.inc(0);
  deleteFailures.inc(0);
  return {
    message: (outcome) => messages.inc({ outcome }),
    receiveError: () => receiveErrors.inc(),
    deleteFailures: (n) => deleteFailures.inc(n),
  };
}
