// Failure → outcome: how a failed AWS call ends a reconcile, decided in this one place for every
// kind, by the plans (a failed read) and by the executor (a failed action) alike.
//
// - stalled: a person must act (IAM or a key policy refused the call, AWS rejected the request
//   itself, a quota retrying cannot free). Shown as Stalled=True; the executor throws a
//   TerminalError, so the queue does not retry it with backoff.
// - waiting: nothing is wrong with the object; AWS did not answer a read. The plan says when to
//   look again (Reconciling=True, no backoff growth).
// - transient: an action failed in a way a retry may fix (throttling, a 5xx, a conflict, a key
//   that was unusable a moment ago). Reconciling=True; the queue retries with backoff.
//
// The reasons are a closed vocabulary (`outcomeReasons`), shared by every kind, so a dashboard,
// the Argo CD health checks and the runbooks can rely on them.

import type { AwsFailure, ErrorCause } from '../aws/errors.ts';

/** How the reconcile ends when the plan cannot proceed (plans return it; the executor maps it). */
export type PlanOutcome =
  | { kind: 'continue' }
  | { kind: 'waiting'; reason: string; message: string; retryAfterMs: number }
  | { kind: 'stalled'; reason: string; message: string };

/** A condition a plan asks for; the status writer stamps times and generations. */
export interface DesiredCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** An Event a plan or an action handler wants recorded on the object. */
export interface PlannedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
}

/** The reasons a failed AWS call is reported with, by outcome. */
export const outcomeReasons = {
  stalled: ['AccessDenied', 'AwsRejected', 'QuotaExceeded'],
  waiting: ['AwsUnavailable'],
  transient: ['Retrying'],
} as const;

export type OutcomeReason = (typeof outcomeReasons)[keyof typeof outcomeReasons][number];

export type FailureOutcome =
  | { kind: 'stalled'; reason: (typeof outcomeReasons)['stalled'][number] }
  | { kind: 'waiting'; reason: (typeof outcomeReasons)['waiting'][number] }
  | { kind: 'transient'; reason: (typeof outcomeReasons)['transient'][number] };

/** Causes only a person can fix, with the reason each is reported under. */
const stalledBy: Partial<Record<ErrorCause, FailureOutcome & { kind: 'stalled' }>> = {
  AccessDenied: { kind: 'stalled', reason: 'AccessDenied' },
  InvalidSpec: { kind: 'stalled', reason: 'AwsRejected' },
  QuotaExceeded: { kind: 'stalled', reason: 'QuotaExceeded' },
};

/**
 * The outcome of a failed AWS call. `during` says what failed: a read (`observe`: the plan waits
 * and looks again soon) or an action (`act`: the queue retries with backoff). Causes only a person
 * can fix are `stalled` either way.
 */
export function outcomeFor(failure: Pick<AwsFailure, 'cause'>, during: 'observe' | 'act'): FailureOutcome {
  const stalled = stalledBy[failure.cause];
  if (stalled) return stalled;
  return during === 'observe'
    ? { kind: 'waiting', reason: 'AwsUnavailable' }
    : { kind: 'transient', reason: 'Retrying' };
}

/** A failure as a plan outcome: stalled, or waiting `retryAfterMs` (a read that may succeed soon). */
export function planOutcomeFor(failure: AwsFailure, message: string, retryAfterMs: number): PlanOutcome {
  const o = outcomeFor(failure, 'observe');
  return o.kind === 'stalled'
    ? { kind: 'stalled', reason: o.reason, message }
    : { kind: 'waiting', reason: o.reason, message, retryAfterMs };
}
