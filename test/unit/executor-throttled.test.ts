// An action throttled through all of the SDK's attempts: the first `quietThrottledRetries` retries
// write nothing (no status, no Event) and end as a transient error with reason Throttled, so the
// queue's backoff paces them; a throttle that persists past them is reported as any failure.

import { describe, expect, it } from 'vitest';
import { AwsCallError } from '../../src/aws/errors.ts';
import { TransientError } from '../../src/runtime/errors.ts';
import { quietThrottledRetries } from '../../src/runtime/executor.ts';
import { oneObjectExecutor } from './support/one-object-executor.ts';

type Act = { type: 'Act' } | { type: 'First' };

/** One object whose plan always asks for `actions`; AWS throttles `Act` (or fails it with `code`). */
function harness(
  code = 'ThrottlingException',
  cause: 'Throttled' | 'Transient' = 'Throttled',
  actions: Act['type'][] = ['Act'],
) {
  const events: Array<{ type: string; reason: string }> = [];
  const { writes, look } = oneObjectExecutor<Act>({
    plan: { actions: actions.map((type) => ({ type })), requeueAfterMs: 0 },
    handlers: {
      First: async () => undefined,
      Act: async () => {
        throw new AwsCallError('UpdateApplication', { cause, code, message: 'Rate exceeded' });
      },
    },
    now: () => 1_000_000,
    onEvent: (e) => events.push(e),
  });
  /** The reconcile's error (it must fail). */
  const failure = (retries: number) =>
    look(retries).then(
      () => {
        throw new Error('expected the reconcile to fail');
      },
      (e: unknown) => e as TransientError,
    );
  return { writes, events, look: failure };
}

describe('an action throttled through all its attempts', () => {
  it('writes nothing and records no Event in its first retries: the backoff paces it', async () => {
    const h = harness();
    for (let retries = 0; retries < quietThrottledRetries; retries++) {
      const error = await h.look(retries);
      expect(error).toBeInstanceOf(TransientError);
      expect(error.reason).toBe('Throttled');
    }
    expect(h.writes).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it('is reported once it persists: Reconciling (Retrying) in status and a Warning Event', async () => {
    const h = harness();
    const error = await h.look(quietThrottledRetries);
    expect(error.reason).toBe('Retrying');
    expect(h.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'ActFailed' })]);
    expect(h.writes).toHaveLength(1);
    const conditions = h.writes[0]!['conditions'] as Array<{ type: string; status: string; reason: string }>;
    expect(conditions).toContainEqual(
      expect.objectContaining({ type: 'Reconciling', status: 'True', reason: 'Retrying' }),
    );
  });

  it('after another action of the same reconcile acted, is reported at once (with what that action did)', async () => {
    const h = harness('ThrottlingException', 'Throttled', ['First', 'Act']);
    const error = await h.look(0);
    expect(error.reason).toBe('Retrying');
    expect(h.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'ActFailed' })]);
    expect(h.writes).toHaveLength(1);
  });

  it('any other transient failure is reported at once', async () => {
    const h = harness('InternalFailure', 'Transient');
    const error = await h.look(0);
    expect(error.reason).toBe('Retrying');
    expect(h.events).toEqual([expect.objectContaining({ type: 'Warning' })]);
    expect(h.writes).toHaveLength(1);
  });
});
