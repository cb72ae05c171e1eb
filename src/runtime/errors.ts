// The reconcile error family: how a reconcile says why it could not finish, so the controller
// picks the requeue policy and the status writer picks the condition, in one place each.
//
// - TerminalError: only a spec change (or a human) can fix it. Not retried with backoff; counted,
//   logged, shown as Stalled=True with `reason`. A watch event on the object reconciles it again,
//   and so does the resync (a fix made outside Kubernetes sends no event).
// - WaitingError: nothing is wrong, something outside is still moving (AWS is UPDATING, a key is
//   pending import). Look again after `retryAfterMs`; no backoff growth, no error metric.
// - TransientError: worth retrying soon (throttling, a 5xx, a conflict). Retried with per-key
//   exponential backoff.
// Anything else thrown is treated as transient. Every error carries a CamelCase `reason` suitable
// for a condition and an event, and keeps its `cause`.

export type ReconcileErrorKind = 'terminal' | 'waiting' | 'transient';

export interface ReconcileErrorOptions {
  /** CamelCase condition reason, e.g. `KeyDisabled`. */
  reason: string;
  cause?: unknown;
}

export class TerminalError extends Error {
  readonly kind = 'terminal' as const;
  readonly reason: string;
  constructor(message: string, options: ReconcileErrorOptions) {
    super(message, { cause: options.cause });
    this.name = 'TerminalError';
    this.reason = options.reason;
  }
}

export class WaitingError extends Error {
  readonly kind = 'waiting' as const;
  readonly reason: string;
  readonly retryAfterMs: number;
  constructor(message: string, options: ReconcileErrorOptions & { retryAfterMs: number }) {
    super(message, { cause: options.cause });
    this.name = 'WaitingError';
    this.reason = options.reason;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class TransientError extends Error {
  readonly kind = 'transient' as const;
  readonly reason: string;
  constructor(message: string, options: ReconcileErrorOptions) {
    super(message, { cause: options.cause });
    this.name = 'TransientError';
    this.reason = options.reason;
  }
}

export type ReconcileError = TerminalError | WaitingError | TransientError;

export function isTerminalError(error: unknown): error is TerminalError {
  return error instanceof TerminalError;
}

export function isWaitingError(error: unknown): error is WaitingError {
  return error instanceof WaitingError;
}

/** The error as one of the family; unknown errors become transient with reason `ReconcileError`. */
export function classifyError(error: unknown): ReconcileError {
  if (error instanceof TerminalError || error instanceof WaitingError || error instanceof TransientError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TransientError(message, { reason: 'ReconcileError', cause: error });
}
