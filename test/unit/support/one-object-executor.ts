// One KmsKey-like object under the executor, for its unit tests: no API server in a unit test, so
// a status write stores what it is given (with the next resourceVersion) and is counted. The test
// gives the plan and the handlers; `overrides` replaces any other part of the plain kind.

import pino from 'pino';
import type { ReconcileResult } from '../../../src/runtime/controller.ts';
import { executor, type ReconcilerKind } from '../../../src/runtime/executor.ts';
import type { KubeClient, KubeObject } from '../../../src/runtime/kube.ts';

export type Obj = KubeObject & { status?: Record<string, unknown> };
export type TestKind<A extends { type: string }> = ReconcilerKind<Obj, undefined, A, never>;

export function oneObjectExecutor<A extends { type: string }>(parts: {
  plan: { actions: A[]; requeueAfterMs: number };
  handlers?: Record<string, () => Promise<unknown>>;
  overrides?: Partial<TestKind<A>>;
  now: () => number;
  onEvent?: (event: { type: string; reason: string }) => void;
}) {
  const writes: Array<Record<string, unknown>> = [];
  let object: Obj = {
    apiVersion: 'cmk.io/v1alpha1',
    kind: 'KmsKey',
    metadata: { name: 'k', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 1 },
  };
  const kube = {
    replace: async (_t: unknown, o: Obj) => {
      writes.push(o.status!);
      object = { ...o, metadata: { ...o.metadata, resourceVersion: String(writes.length + 1) } };
      return object;
    },
    get: async () => object,
  } as unknown as KubeClient;
  const plain: TestKind<A> = {
    type: { group: 'cmk.io', version: 'v1alpha1', plural: 'kmskeys', namespaced: true, kind: 'KmsKey' },
    finalizer: 'cmk.io/test',
    get: () => object,
    observe: async () => undefined,
    plan: () => ({ ...parts.plan, conditions: [], events: [], outcome: { kind: 'continue' } }) as never,
    handlers: (parts.handlers ?? {}) as never,
    subject: () => 'key',
    prune: (c) => c,
    readiness: () => ({ readyWhen: [], ready: { reason: 'Ready', message: 'ok' } }),
    project: () => ({}),
  };
  const reconcile = executor(
    { ...plain, ...parts.overrides },
    {
      kube,
      events: { record: (_o: unknown, e: { type: string; reason: string }) => parts.onEvent?.(e) } as never,
      now: parts.now,
    },
    { settledMs: 600_000, transitioningMs: 5_000 },
  );
  /** One reconcile, as the `retries`-th rate-limited retry since the last success. */
  const look = (retries = 0): Promise<ReconcileResult> =>
    reconcile('ns/k', {
      log: pino({ enabled: false }),
      reconcileId: 'r',
      signal: new AbortController().signal,
      retries,
    });
  return { writes, look };
}
