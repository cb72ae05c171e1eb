// The Kubernetes client's connections against the real API server (src/runtime/kube.ts): requests
// share a bounded pool and wait for a free connection beyond it; watches never take a request's
// place; idle connections close; a client certificate handed out anew is used from then on.

import type { RequestOptions } from 'node:https';
import { beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  createKubeClient,
  KubeApiError,
  type KubeClient,
  type KubeObject,
  resourceTypes,
} from '../../src/runtime/kube.ts';
import { type KubeAccess, loadKubeAccess } from '../../src/runtime/kubeconfig.ts';
import { createNamespace, mintClusterIdentity } from './support/cluster.ts';

let ns: string;
const admin = (): KubeAccess => loadKubeAccess(inject('kubeconfigPath'));

beforeAll(async () => {
  ns = await createNamespace('kconn');
});

/** Samples `client.connections()` at every turn of the event loop until `done` settles. */
async function sampled<T>(client: KubeClient, done: Promise<T>) {
  const samples: ReturnType<KubeClient['connections']>[] = [];
  let settled = false;
  void done.finally(() => {
    settled = true;
  });
  while (!settled) {
    samples.push(client.connections());
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { result: await done, samples };
}

describe('the Kubernetes client', () => {
  it('runs many requests at once over at most maxConnections connections, the rest waiting their turn', async () => {
    const client = createKubeClient(admin(), { maxConnections: 3 });
    try {
      const names = Array.from({ length: 24 }, (_, i) => `cm-${i}`);
      const { result, samples } = await sampled(
        client,
        Promise.all(
          names.map((name) =>
            client.create<KubeObject & { data: Record<string, string> }>(resourceTypes.configMap, {
              metadata: { name, namespace: ns },
              data: { n: name },
            }),
          ),
        ),
      );
      expect(result.map((cm) => cm.metadata.name)).toEqual(names);
      expect(Math.max(...samples.map((s) => s.active + s.idle))).toBe(3);
      expect(Math.max(...samples.map((s) => s.waiting))).toBeGreaterThan(10);
      const after = client.connections();
      expect(after).toEqual({ active: 0, idle: 3, waiting: 0, watches: 0 });
      const listed = await client.list(resourceTypes.configMap, { namespace: ns });
      expect(listed.items.filter((cm) => cm.metadata.name.startsWith('cm-'))).toHaveLength(24);
    } finally {
      client.close();
    }
  });

  it('opens watches on connections of their own, so watches never hold up requests', async () => {
    const client = createKubeClient(admin(), { maxConnections: 1 });
    const stop = new AbortController();
    try {
      const watches = Array.from({ length: 3 }, () =>
        (async () => {
          for await (const _ of client.watch(resourceTypes.configMap, {
            namespace: ns,
            signal: stop.signal,
          })) {
            // keep watching until aborted
          }
        })().catch(() => undefined),
      );
      await vi.waitFor(() => expect(client.connections().watches).toBe(3), { timeout: 10_000 });
      // The one request connection is free for requests: a GET answers at once.
      const got = await client.get(resourceTypes.namespace, { name: ns });
      expect(got.metadata.name).toBe(ns);
      expect(client.connections()).toMatchObject({ active: 0, idle: 1, waiting: 0, watches: 3 });
      stop.abort();
      await Promise.all(watches);
      await vi.waitFor(() => expect(client.connections().watches).toBe(0), { timeout: 10_000 });
    } finally {
      stop.abort();
      client.close();
    }
  });

  it('fails a request that waits for a connection longer than its timeout, or is aborted while waiting, at once', async () => {
    const client = createKubeClient(admin(), { maxConnections: 1 });
    const hold = new AbortController();
    try {
      // A watch made as a plain request holds the only request connection until aborted.
      const holding = client
        .request('GET', `/api/v1/namespaces/${ns}/configmaps`, {
          query: { watch: 'true' },
          signal: hold.signal,
          timeoutMs: 60_000,
        })
        .catch((e: Error) => e);
      await vi.waitFor(() => expect(client.connections().active).toBe(1));
      const t0 = Date.now();
      const timedOut = await client
        .request('GET', `/api/v1/namespaces/${ns}`, { timeoutMs: 300 })
        .catch((e: Error) => e);
      expect((timedOut as Error).message).toContain('no connection free in 300 ms');
      expect(Date.now() - t0).toBeLessThan(2_000);
      const aborted = new AbortController();
      const pending = client
        .get(resourceTypes.namespace, { name: ns }, { signal: aborted.signal })
        .catch((e: Error) => e);
      await vi.waitFor(() => expect(client.connections().waiting).toBe(1));
      const t1 = Date.now();
      aborted.abort(new Error('stopping'));
      expect(((await pending) as Error).message).toBe('stopping');
      expect(Date.now() - t1).toBeLessThan(500);
      expect(client.connections()).toMatchObject({ active: 1, waiting: 0 });
      hold.abort();
      await holding;
      expect((await client.get(resourceTypes.namespace, { name: ns })).metadata.name).toBe(ns);
    } finally {
      hold.abort();
      client.close();
    }
  });

  it('closes a connection idle for idleConnectionMs, and opens a new one for the next request', async () => {
    const client = createKubeClient(admin(), { idleConnectionMs: 300 });
    try {
      await client.get(resourceTypes.namespace, { name: ns });
      expect(client.connections()).toMatchObject({ active: 0, idle: 1 });
      await vi.waitFor(() => expect(client.connections().idle).toBe(0), { timeout: 5_000, interval: 50 });
      expect((await client.get(resourceTypes.namespace, { name: ns })).metadata.name).toBe(ns);
      expect(client.connections()).toMatchObject({ active: 0, idle: 1 });
    } finally {
      client.close();
    }
  });

  it('uses a client certificate handed out anew (an exec plugin renewing it) from the next connection on', async () => {
    const user = `kconn-${ns}`;
    const minted = loadKubeAccess((await mintClusterIdentity(user)).kubeconfigPath);
    let current = admin();
    const access: KubeAccess = {
      server: current.server,
      proxied: false,
      apply: (options: RequestOptions) => current.apply(options),
    };
    const client = createKubeClient(access);
    try {
      expect((await client.get(resourceTypes.namespace, { name: ns })).metadata.name).toBe(ns);
      current = minted;
      const refused = await client.get(resourceTypes.namespace, { name: ns }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(KubeApiError);
      expect((refused as KubeApiError).statusCode).toBe(403);
      expect((refused as KubeApiError).message).toContain(`User "${user}"`);
      current = admin();
      expect((await client.get(resourceTypes.namespace, { name: ns })).metadata.name).toBe(ns);
    } finally {
      client.close();
    }
  });
});
