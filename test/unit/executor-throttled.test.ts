// An action throttled through all of the SDK's attempts: the first `quietThrottledRetries` retries
// write nothing (no status, no Event) and end as a transient error with reason Throttled, so the
// queue's backoff paces them; a throttle that persists past them is reported as any failure.

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AwsCallError } from '../../src/aws/errors.ts';
import { TransientError } from '../../src/runtime/errors.ts';
import { executor, quietThrottledRetries, type ReconcilerKind } from '../../src/runtime/executor.ts';
import type { KubeObject } from '../../src/runtime/kube.ts';
import { oneObjectKube } from './support/one-object-kube.ts';

type Obj = KubeObject & { status?: Record<string, unknown> };
type Act = { type: 'Act' } | { type: 'First' };
type TestKind = ReconcilerKind<Obj, undefined, Act, never>;

/** One object whose plan always asks for `Act`, which AWS throttles (or fails with `code`). */
function harness(
  code = 'ThrottlingException',
  cause: 'Throttled' | 'Transient' = 'Throttled',
  actions: Act['type'][] = ['Act'],
) {
  const events: Array<{ type: string; reason: string }> = [];
  const { kube, writes, current } = oneObjectKube<Obj>({
    apiVersion: 'cmk.io/v1alpha1',
    kind: 'KmsKey',
    metadata: { name: 'k', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 1 },
  });
  const kind: TestKind = {
    type: { group: 'cmk.io', version: 'v1alpha1', plural: 'kmskeys', namespaced: true, kind: 'KmsKey' },
    finalizer: 'cmk.io/test',
    get: () => current(),
    observe: async () => undefined,
    plan: () =>
      ({
        actions: actions.map((type) => ({ type })),
        conditions: [],
        events: [],
        outcome: { kind: 'continue' },
        requeueAfterMs: 0,
      }) as never,
    handlers: {
      First: async () => undefined,
      Act: async () => {
        throw new AwsCallError('UpdateApplication', { cause, code, message: 'Rate exceeded' });
      },
    } as never,
    subject: () => 'key',
    prune: (c) => c,
    readiness: () => ({ readyWhen: [], ready: { reason: 'Ready', message: 'ok' } }),
    project: () => ({}),
  };
  const reconcile = executor(
    kind,
    {
      kube,
      events: { record: (_o: unknown, e: { type: string; reason: string }) => events.push(e) } as never,
      now: () => 1_000_000,
    },
    { settledMs: 600_000, transitioningMs: 5_000 },
  );
  const look = (retries: number) =>
    reconcile('ns/k', {
      log: pino({ enabled: false }),
      reconcileId: 'r',
      signal: new AbortController().signal,
      retries,
    }).then(
      () => {
        throw new Error('expected the reconcile to fail');
      },
      (e: unknown) => e as TransientError,
    );
  return { writes, events, look };
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
