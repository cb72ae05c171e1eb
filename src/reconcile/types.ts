// Data shared by every plan: the conditions a plan asks for, the events it wants recorded and how
// it ends (defined beside the executor that reads them, src/runtime/outcome.ts), and how soon to
// look again. The status writer stamps times and generations; plans stay pure and comparable in tests.

export type { DesiredCondition, PlannedEvent, PlanOutcome } from '../runtime/outcome.ts';

/**
 * A stored intent this recent, for the same request and not yet taken by AWS, is reused by the
 * request's retry (a throttled call: refused before it acted, AWS-006), so the retry does not write
 * the intent again.
 */
export const sameIntentMs = 60_000;

/**
 * The time a request's intent records: the stored one when it is the same request (`same`) and
 * stored at most `sameIntentMs` before `now`, so a retry finds its intent already written; else now.
 */
export function intentTime(stored: string | undefined, same: boolean, now: number): string {
  const age = stored ? now - Date.parse(stored) : Number.NaN;
  return same && stored && age >= 0 && age <= sameIntentMs ? stored : new Date(now).toISOString();
}

export const resync = {
  /** Settled: look again after this (jittered by the controller). */
  settledMs: 10 * 60_000,
  /** While AWS is transitioning. */
  transitioningMs: 5_000,
  /** Waiting on something slow outside (a rotation in progress, a window). */
  slowMs: 60_000,
} as const;
