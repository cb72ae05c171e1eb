// A poll the plan asks for is timed from the look's start: a slow look does not stretch it.

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { executor, type ReconcilerKind } from '../../src/runtime/executor.ts';
import type { KubeClient, KubeObject } from '../../src/runtime/kube.ts';

type Obj = KubeObject & { status?: Record<string, unknown> };

function reconcileTaking(lookMs: number, pollMs: number) {
  let t = 1_000_000;
  const object: Obj = {
    apiVersion: 'cmk.io/v1alpha1',
    kind: 'KmsKey',
    metadata: { name: 'k', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 1 },
  };
  const kind: ReconcilerKind<Obj, undefined, { type: 'None' }, never> = {
    type: { group: 'cmk.io', version: 'v1alpha1', plural: 'kmskeys', namespaced: true, kind: 'KmsKey' },
    finalizer: 'cmk.io/test',
    get: () => object,
    observe: async () => {
      t += lookMs;
      return undefined;
    },
    plan: () =>
      ({
        actions: [],
        conditions: [],
        events: [],
        outcome: { kind: 'continue' },
        requeueAfterMs: pollMs,
      }) as never,
    handlers: {} as never,
    subject: () => 'key',
    prune: (c) => c,
    readiness: () => ({ readyWhen: [], ready: { reason: 'Ready', message: 'ok' } }),
    project: () => ({}),
  };
  // The status write only hands the object back (no API server in a unit test).
  const kube = {
    replace: async (_t: unknown, o: Obj) => o,
    get: async () => object,
  } as unknown as KubeClient;
  const reconcile = executor(
    kind,
    { kube, events: { record: () => undefined } as never, now: () => t },
    {
      settledMs: 600_000,
      transitioningMs: 5_000,
    },
  );
  return reconcile('ns/k', {
    log: pino({ enabled: false }),
    reconcileId: 'r',
    signal: new AbortController().signal,
    retries: 0,
  });
}

describe('executor requeue', () => {
  it('is the poll interval less the time the look took', async () => {
    expect(await reconcileTaking(0, 1000)).toEqual({ requeueAfterMs: 1000 });
    expect(await reconcileTaking(300, 1000)).toEqual({ requeueAfterMs: 700 });
  });

  it('is at least a quarter of the interval after a look slower than the interval', async () => {
    expect(await reconcileTaking(2300, 1000)).toEqual({ requeueAfterMs: 250 });
  });

  it('leaves settled objects to the resync', async () => {
    expect(await reconcileTaking(300, 600_000)).toEqual({});
  });
});
