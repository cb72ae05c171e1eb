// Data shared by every plan: the conditions a plan asks for and the events it wants recorded. The
// status writer stamps times and generations; plans stay pure and comparable in tests.

export interface DesiredCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface PlannedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
}

/** How the reconcile ends when the plan cannot proceed. */
export type PlanOutcome =
  | { kind: 'continue' }
  | { kind: 'waiting'; reason: string; message: string; retryAfterMs: number }
  | { kind: 'stalled'; reason: string; message: string };

export const resync = {
  /** Settled: look again after this (jittered by the controller). */
  settledMs: 10 * 60_000,
  /** While AWS is transitioning. */
  transitioningMs: 5_000,
  /** Waiting on something slow outside (a rotation in progress, a window). */
  slowMs: 60_000,
} as const;
