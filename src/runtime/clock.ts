// The runtime's only source of time. Every module that waits, times or schedules takes a `Clock`
// so unit tests can drive it with vitest fake timers (systemClock reads the globals at call time,
// so it follows `vi.useFakeTimers()`) or with any object of this shape.
//
// Guarantees: `sleep` settles exactly once, clears its timer when aborted and rejects with the
// signal's reason. Never reads wall time anywhere but through `now()`.

export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves after `ms` on `clock`; rejects with `signal.reason` if the signal aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits `ms` on `clock` between two rounds of a loop that checks `signal` itself: resolves early
 * when the signal aborts, and at once when it already has (a wait started after a stop that came
 * mid-round must not hold the process open for a period). Never rejects; without a signal it is
 * `sleep`.
 */
export function pause(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(clock, ms, signal).catch(() => undefined);
}

/** `ms` scaled by a uniform factor in [1 - fraction, 1 + fraction]. */
export function jitter(ms: number, fraction: number, random: () => number = Math.random): number {
  return Math.round(ms * (1 + fraction * (2 * random() - 1)));
}

/** Kubernetes MicroTime (RFC 3339 with exactly six fractional digits), as the API server parses it. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Kubernetes Time (RFC 3339, whole seconds), as apimachinery serialises metav1.Time. */
export function kubeTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
