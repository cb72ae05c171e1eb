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

describe('a paced status field', () => {
  /** A kind whose status is { progress, other }; `wait` holds progress-only changes for 15 s. */
  function pacedReconciler() {
    let t = 1_000_000;
    const view = { progress: 0, count: 0, other: 'a' };
    const writes: Array<Record<string, unknown>> = [];
    let object: Obj = {
      apiVersion: 'cmk.io/v1alpha1',
      kind: 'KmsKey',
      metadata: { name: 'k', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 1 },
    };
    const kind: ReconcilerKind<Obj, undefined, { type: 'None' }, never> = {
      type: { group: 'cmk.io', version: 'v1alpha1', plural: 'kmskeys', namespaced: true, kind: 'KmsKey' },
      finalizer: 'cmk.io/test',
      get: () => object,
      observe: async () => undefined,
      plan: () =>
        ({
          actions: [],
          conditions: [],
          events: [],
          outcome: { kind: 'continue' },
          requeueAfterMs: 600_000,
        }) as never,
      handlers: {} as never,
      subject: () => 'key',
      prune: (c) => c,
      readiness: () => ({ readyWhen: [], ready: { reason: 'Ready', message: 'ok' } }),
      project: () => ({ ...view }),
      paced: {
        fields: ['progress', 'count'],
        wait: (_stored, _next, since) => Math.max(0, 15_000 - since),
      },
    };
    const kube = {
      replace: async (_t: unknown, o: Obj) => {
        writes.push(o.status!);
        object = { ...o, metadata: { ...o.metadata, resourceVersion: String(writes.length + 1) } };
        return object;
      },
      get: async () => object,
    } as unknown as KubeClient;
    const reconcile = executor(
      kind,
      { kube, events: { record: () => undefined } as never, now: () => t },
      { settledMs: 600_000, transitioningMs: 5_000 },
    );
    const look = () =>
      reconcile('ns/k', {
        log: pino({ enabled: false }),
        reconcileId: 'r',
        signal: new AbortController().signal,
        retries: 0,
      });
    return {
      view,
      writes,
      look,
      later: (ms: number) => {
        t += ms;
      },
    };
  }

  it('is written at most once per wait when it is the only change, and looked at again when the wait ends', async () => {
    const r = pacedReconciler();
    expect(await r.look()).toEqual({}); // the first status: written
    expect(r.writes).toHaveLength(1);

    r.later(5_000);
    r.view.progress = 1;
    expect(await r.look()).toEqual({ requeueAfterMs: 10_000 }); // held: 5 s after the last write
    expect(r.writes).toHaveLength(1);

    r.later(4_000);
    r.view.count = 1; // another paced field: held as well
    expect(await r.look()).toEqual({ requeueAfterMs: 6_000 });
    expect(r.writes).toHaveLength(1);

    r.later(6_000);
    r.view.progress = 2;
    expect(await r.look()).toEqual({}); // the wait is over: written, with the newest values
    expect(r.writes).toHaveLength(2);
    expect(r.writes[1]).toMatchObject({ progress: 2, count: 1, other: 'a' });

    expect(await r.look()).toEqual({}); // nothing changed: nothing written, nothing waited for
    expect(r.writes).toHaveLength(2);
  });

  it('goes out at once with any other change', async () => {
    const r = pacedReconciler();
    await r.look();
    r.later(1_000);
    r.view.progress = 5;
    r.view.other = 'b';
    expect(await r.look()).toEqual({});
    expect(r.writes.at(-1)).toMatchObject({ progress: 5, other: 'b' });
    // ... and the wait counts from that write.
    r.later(1_000);
    r.view.progress = 6;
    expect(await r.look()).toEqual({ requeueAfterMs: 14_000 });
    expect(r.writes).toHaveLength(2);
  });
});
