// The informer and the typed client against the real kube-apiserver: list+watch of ConfigMaps
// (namespace-restricted and cluster-wide) and of a cluster-scoped resource, reconnection without
// loss, a real 410 leading to a relist that reports exactly what changed, and the probe/metrics
// endpoints fed by live informers.

import { Gauge } from 'prom-client';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startHealthEndpoints } from '../../src/runtime/health.ts';
import {
  createKubeClient,
  isGone,
  isNotFound,
  type KubeClient,
  type KubeObject,
  loadKubeConfig,
  type ResourceType,
  resourceTypes,
  type WatchOptions,
} from '../../src/runtime/kube.ts';
import {
  createMetricsRegistry,
  prometheusWorkQueueMetrics,
  registerTextFamilies,
} from '../../src/runtime/metrics.ts';
import { createInformer, type Informer } from '../../src/runtime/watch.ts';
import { createWorkQueue } from '../../src/runtime/work-queue.ts';
import { compactEtcd, createNamespace, eventually, uniqueName } from './support/cluster.ts';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

let kube: KubeClient;
let ns: string;
const running: Array<{ stop(): Promise<void> }> = [];

// A throwaway CRD. Its watch cache starts when it is established, so a resourceVersion read
// before that is outside the window the apiserver can serve a watch from: a guaranteed 410.
const gizmoGroup = 'relist.runtime.test.cmk.io';
const gizmos = { group: gizmoGroup, version: 'v1', plural: 'gizmos', namespaced: true, kind: 'Gizmo' };
let rvBeforeGizmos: string;

async function installGizmoCrd(): Promise<void> {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `gizmos.${gizmoGroup}` },
    spec: {
      group: gizmoGroup,
      scope: 'Namespaced',
      names: { plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo', listKind: 'GizmoList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { data: { type: 'object', additionalProperties: { type: 'string' } } },
            },
          },
        },
      ],
    },
  };
  await kube.create(resourceTypes.customResourceDefinition, crd as unknown as KubeObject);
  await eventually(
    async () => {
      const got = await kube.get<
        KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }
      >(resourceTypes.customResourceDefinition, { name: crd.metadata.name });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined;
    },
    { what: 'gizmo CRD established', timeoutMs: 30_000 },
  );
  // Established can precede the first successful LIST by a moment.
  await eventually(async () => (await kube.list(gizmos, { namespace: 'default', limit: 1 })) && true);
}

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig(inject('kubeconfigPath')));
  ns = await createNamespace('runtime-informer');
  rvBeforeGizmos = (await kube.list(resourceTypes.namespace, { limit: 1 })).metadata.resourceVersion!;
  await installGizmoCrd();
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

function configMap(name: string, data: Record<string, string> = {}, namespace = ns): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

/** Handler calls as strings, e.g. `add a`, `update a v=2`, `delete b`. */
function recorder() {
  const seen: string[] = [];
  const describe = (o: ConfigMap) =>
    [o.metadata.name, ...Object.entries(o.data ?? {}).map(([k, v]) => `${k}=${v}`)].join(' ');
  return {
    seen,
    handlers: {
      onAdd: (o: ConfigMap) => seen.push(`add ${describe(o)}`),
      onUpdate: (_p: ConfigMap, o: ConfigMap) => seen.push(`update ${describe(o)}`),
      onDelete: (o: ConfigMap) => seen.push(`delete ${o.metadata.name}`),
    },
  };
}

function started<T extends KubeObject>(informer: Informer<T>): Informer<T> {
  running.push(informer);
  informer.start();
  return informer;
}

/**
 * The real client with a switch for the network between it and the apiserver: `cut()` breaks the
 * open watches like a reset connection, `hold()` makes new watches wait until `release()`, and
 * `resumeFrom(rv)` makes the next watch start from `rv` instead of the informer's own.
 */
function unreliable(real: KubeClient) {
  const open = new Set<AbortController>();
  let held: Promise<void> | undefined;
  let releaseHeld: (() => void) | undefined;
  let nextRv: string | undefined;
  const watchRvs: string[] = [];
  const client: Pick<KubeClient, 'list' | 'watch'> = {
    list: (type, options) => real.list(type, options),
    watch: <T extends KubeObject>(type: ResourceType, options: WatchOptions = {}) =>
      (async function* () {
        if (held) await held;
        const cut = new AbortController();
        open.add(cut);
        const resourceVersion = nextRv ?? options.resourceVersion;
        nextRv = undefined;
        watchRvs.push(resourceVersion ?? '');
        try {
          yield* real.watch<T>(type, {
            ...options,
            ...(resourceVersion ? { resourceVersion } : {}),
            signal: AbortSignal.any([cut.signal, ...(options.signal ? [options.signal] : [])]),
          });
        } finally {
          open.delete(cut);
        }
      })(),
  };
  return {
    client,
    watchRvs,
    cut() {
      for (const c of open) c.abort(new Error('connection reset (test)'));
    },
    hold() {
      held = new Promise((resolve) => {
        releaseHeld = resolve;
      });
    },
    release() {
      held = undefined;
      releaseHeld?.();
    },
    resumeFrom(rv: string) {
      nextRv = rv;
    },
    openWatches: () => open.size,
  };
}

describe('typed client', () => {
  it('creates, reads, patches and deletes, with typed errors', async () => {
    const name = uniqueName('cm');
    const created = await kube.create(resourceTypes.configMap, configMap(name, { a: '1' }));
    expect(created.metadata.uid).toBeTruthy();
    const merged = await kube.mergePatch<ConfigMap>(
      resourceTypes.configMap,
      { namespace: ns, name },
      { data: { b: '2' } },
    );
    expect(merged.data).toEqual({ a: '1', b: '2' });
    const patched = await kube.jsonPatch<ConfigMap>(resourceTypes.configMap, { namespace: ns, name }, [
      { op: 'test', path: '/data/a', value: '1' },
      { op: 'remove', path: '/data/a' },
    ]);
    expect(patched.data).toEqual({ b: '2' });
    const stale = { ...created, data: { c: '3' } };
    const conflict = await kube.replace(resourceTypes.configMap, stale).catch((e: unknown) => e);
    expect(conflict).toMatchObject({ statusCode: 409, reason: 'Conflict' });
    const failedTest = await kube
      .jsonPatch(resourceTypes.configMap, { namespace: ns, name }, [
        { op: 'test', path: '/data/b', value: 'x' },
      ])
      .catch((e: unknown) => e);
    expect(failedTest).toMatchObject({ statusCode: 422 });
    const applied = await kube.apply<ConfigMap>(
      resourceTypes.configMap,
      configMap(name, { b: '2', d: '4' }),
      {
        fieldManager: 'runtime-test',
        force: true,
      },
    );
    expect(applied.data).toEqual({ b: '2', d: '4' });
    await kube.delete(resourceTypes.configMap, { namespace: ns, name });
    const gone = await kube.get(resourceTypes.configMap, { namespace: ns, name }).catch((e: unknown) => e);
    expect(isNotFound(gone)).toBe(true);
    const duplicate = await kube
      .create(resourceTypes.namespace, { metadata: { name: ns } })
      .catch((e: unknown) => e);
    expect(duplicate).toMatchObject({ statusCode: 409, reason: 'AlreadyExists' });
  });

  it('lists in pages with continue tokens', async () => {
    const pageNs = await createNamespace('runtime-pages');
    for (let i = 0; i < 5; i++) await kube.create(resourceTypes.configMap, configMap(`p${i}`, {}, pageNs));
    const first = await kube.list(resourceTypes.configMap, { namespace: pageNs, limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.metadata.continue).toBeTruthy();
    const second = await kube.list(resourceTypes.configMap, {
      namespace: pageNs,
      limit: 2,
      continue: first.metadata.continue!,
    });
    expect(second.items.map((i) => i.metadata.name)).toEqual(['p2', 'p3']);
  });

  it('answers 410 to a watch from a resourceVersion outside the history kept', async () => {
    await compactEtcd();
    const events: unknown[] = [];
    let error: unknown;
    try {
      for await (const event of kube.watch(gizmos, { namespace: ns, resourceVersion: rvBeforeGizmos })) {
        events.push(event);
        break;
      }
    } catch (e) {
      error = e;
    }
    const first = events[0] as { type: string; object: { code?: number } } | undefined;
    expect(isGone(error) || (first?.type === 'ERROR' && first.object.code === 410)).toBe(true);
  });
});

describe('informer', () => {
  it('lists, then sees adds, updates and deletes through the watch', async () => {
    const name = uniqueName('seen');
    await kube.create(resourceTypes.configMap, configMap(`${name}-pre`, { v: '0' }));
    const informer = started(
      createInformer<ConfigMap>({ type: resourceTypes.configMap, namespace: ns, pageSize: 2 }, { kube }),
    );
    const r = recorder();
    informer.addHandlers(r.handlers);
    await informer.waitForSync();
    expect(informer.get(`${ns}/${name}-pre`)?.data).toEqual({ v: '0' });

    await kube.create(resourceTypes.configMap, configMap(name, { v: '1' }));
    await kube.mergePatch(resourceTypes.configMap, { namespace: ns, name }, { data: { v: '2' } });
    await kube.delete(resourceTypes.configMap, { namespace: ns, name });
    await eventually(async () => (r.seen.includes(`delete ${name}`) ? true : undefined), {
      what: 'delete seen',
    });
    expect(r.seen.filter((s) => s.includes(`${name} `) || s.endsWith(name))).toEqual([
      `add ${name} v=1`,
      `update ${name} v=2`,
      `delete ${name}`,
    ]);
    expect(informer.get(`${ns}/${name}`)).toBeUndefined();
    expect(informer.state().phase).toBe('Watching');
  });

  it('restricted to a namespace, sees nothing of others; cluster-wide sees both', async () => {
    const other = await createNamespace('runtime-other');
    const restricted = started(
      createInformer<ConfigMap>({ type: resourceTypes.configMap, namespace: ns }, { kube }),
    );
    const clusterWide = started(createInformer<ConfigMap>({ type: resourceTypes.configMap }, { kube }));
    await Promise.all([restricted.waitForSync(), clusterWide.waitForSync()]);
    const name = uniqueName('scoped');
    await kube.create(resourceTypes.configMap, configMap(name, {}, other));
    await kube.create(resourceTypes.configMap, configMap(name, {}, ns));
    await eventually(async () =>
      clusterWide.get(`${other}/${name}`) && clusterWide.get(`${ns}/${name}`) ? true : undefined,
    );
    await eventually(async () => (restricted.get(`${ns}/${name}`) ? true : undefined));
    expect(restricted.get(`${other}/${name}`)).toBeUndefined();
    expect(restricted.keys().every((k) => k.startsWith(`${ns}/`))).toBe(true);
  });

  it('watches a cluster-scoped resource with a label selector, keyed by name', async () => {
    const label = uniqueName('sel');
    const informer = started(
      createInformer<KubeObject>(
        { type: resourceTypes.namespace, labelSelector: `runtime-test=${label}` },
        { kube },
      ),
    );
    await informer.waitForSync();
    expect(informer.keys()).toEqual([]);
    const name = uniqueName('labelled');
    await kube.create(resourceTypes.namespace, { metadata: { name, labels: { 'runtime-test': label } } });
    await eventually(async () => (informer.get(name) ? true : undefined));
    expect(informer.keys()).toEqual([name]);
  });

  it('after a broken connection resumes from its resourceVersion and misses nothing', async () => {
    const net = unreliable(kube);
    const informer = started(
      createInformer<ConfigMap>({ type: resourceTypes.configMap, namespace: ns }, { kube: net.client }),
    );
    const r = recorder();
    informer.addHandlers(r.handlers);
    await informer.waitForSync();
    await eventually(async () => (net.openWatches() === 1 ? true : undefined));
    const name = uniqueName('resume');
    net.hold();
    net.cut();
    await kube.create(resourceTypes.configMap, configMap(name, { v: '1' }));
    await kube.mergePatch(resourceTypes.configMap, { namespace: ns, name }, { data: { v: '2' } });
    net.release();
    await eventually(async () => (informer.get(`${ns}/${name}`)?.data?.['v'] === '2' ? true : undefined), {
      what: 'resumed watch delivered the changes',
    });
    expect(r.seen.filter((s) => s.includes(name))).toEqual([`add ${name} v=1`, `update ${name} v=2`]);
    // Resumed, not relisted: the second watch started where the first one stopped.
    expect(net.watchRvs).toHaveLength(2);
    expect(Number(net.watchRvs[1])).toBeGreaterThanOrEqual(Number(net.watchRvs[0]));
  });

  it('on a real 410 relists and reports exactly what changed while it was away', async () => {
    const gizmo = (name: string, v: string): ConfigMap => ({
      apiVersion: `${gizmoGroup}/v1`,
      kind: 'Gizmo',
      metadata: { name, namespace: ns },
      data: { v },
    });
    for (const n of ['same', 'changed', 'gone']) await kube.create(gizmos, gizmo(n, '1'));
    const net = unreliable(kube);
    const informer = started(
      createInformer<ConfigMap>({ type: gizmos, namespace: ns }, { kube: net.client }),
    );
    const r = recorder();
    informer.addHandlers(r.handlers);
    await informer.waitForSync();
    await eventually(async () => (net.openWatches() === 1 ? true : undefined));
    r.seen.length = 0;

    // Away: the connection breaks and, while it is down, objects change and history is compacted.
    net.hold();
    net.cut();
    await kube.mergePatch(gizmos, { namespace: ns, name: 'changed' }, { data: { v: '2' } });
    await kube.delete(gizmos, { namespace: ns, name: 'gone' });
    await kube.create(gizmos, gizmo('new', '1'));
    await compactEtcd();
    // It comes back with a resourceVersion the apiserver no longer serves, as after a long
    // partition: one from before the CRD existed, outside the watch cache and etcd's history.
    net.resumeFrom(rvBeforeGizmos);
    net.release();

    await eventually(
      async () => (informer.get(`${ns}/new`) && !informer.get(`${ns}/gone`) ? true : undefined),
      {
        what: 'relist applied',
      },
    );
    expect(r.seen.sort()).toEqual(['add new v=1', 'delete gone', 'update changed v=2']);
    expect(informer.keys().sort()).toEqual([`${ns}/changed`, `${ns}/new`, `${ns}/same`]);
    expect(net.watchRvs[1]).toBe(rvBeforeGizmos);
    // Back to watching from the relist's resourceVersion, and events flow again.
    await eventually(async () =>
      informer.state().phase === 'Watching' && net.openWatches() === 1 ? true : undefined,
    );
    await kube.create(gizmos, gizmo('after', '1'));
    await eventually(async () => (informer.get(`${ns}/after`) ? true : undefined));
    expect(r.seen.filter((s) => s.startsWith('add after'))).toEqual(['add after v=1']);
  });

  it('keeps its cache equal to the apiserver under a burst of writes', async () => {
    const burstNs = await createNamespace('runtime-burst');
    const informer = started(
      createInformer<ConfigMap>({ type: resourceTypes.configMap, namespace: burstNs }, { kube }),
    );
    await informer.waitForSync();
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const name = `b${i}`;
        await kube.create(resourceTypes.configMap, configMap(name, { v: '1' }, burstNs));
        await kube.mergePatch(resourceTypes.configMap, { namespace: burstNs, name }, { data: { v: '2' } });
        if (i % 3 === 0) await kube.delete(resourceTypes.configMap, { namespace: burstNs, name });
      }),
    );
    const truth = await kube.list<ConfigMap>(resourceTypes.configMap, { namespace: burstNs });
    const expected = truth.items.map((i) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort();
    await eventually(async () => {
      const cached = informer
        .list()
        .map((i) => `${i.metadata.name}@${i.metadata.resourceVersion}`)
        .sort();
      return JSON.stringify(cached) === JSON.stringify(expected) ? true : undefined;
    });
  });
});

describe('health endpoints', () => {
  it('serve readiness from informer sync, liveness from progress, and metrics', async () => {
    const registry = createMetricsRegistry();
    createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, 'configmaps') });
    const informers: Informer<ConfigMap>[] = [];
    const endpoints = await startHealthEndpoints({
      healthAddress: '127.0.0.1:0',
      metricsAddress: '127.0.0.1:0',
      registry,
      informers: () => informers,
    });
    running.push({ stop: () => endpoints.close() });
    const informer = createInformer<ConfigMap>({ type: resourceTypes.configMap, namespace: ns }, { kube });
    informers.push(informer);

    const notReady = await fetch(`${endpoints.healthUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toContain('[-]informer-configmaps failed: not synced');
    started(informer);
    await informer.waitForSync();
    const ready = await fetch(`${endpoints.healthUrl}/readyz`);
    expect(ready.status).toBe(200);
    const live = await fetch(`${endpoints.healthUrl}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.text()).toContain('[+]informer-configmaps ok');

    const metrics = await fetch(`${endpoints.metricsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('workqueue_depth{name="configmaps"} 0');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    // Separate listeners: the metrics port does not answer probes and vice versa.
    expect((await fetch(`${endpoints.metricsUrl}/healthz`)).status).toBe(404);
    expect((await fetch(`${endpoints.healthUrl}/metrics`)).status).toBe(404);
  });

  /** /metrics of `registry` on a listener of its own, stopped after the test. */
  async function metricsUrl(registry: ReturnType<typeof createMetricsRegistry>): Promise<string> {
    const endpoints = await startHealthEndpoints({
      healthAddress: '127.0.0.1:0',
      metricsAddress: '127.0.0.1:0',
      registry,
      informers: () => [],
    });
    running.push({ stop: () => endpoints.close() });
    return endpoints.metricsUrl;
  }

  it('streams a large exposition as it renders: every series arrives, a slow scraper included; HEAD gets headers only', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    // 200,000 series (~8 MB) in 400 chunks, as the per-object families hand them out.
    registerTextFamilies(registry, async function* () {
      yield '# HELP big_family Many series.\n# TYPE big_family gauge\n';
      for (let c = 0; c < 400; c++) {
        await new Promise((resolve) => setImmediate(resolve));
        yield Array.from({ length: 500 }, (_, i) => `big_family{n="${c * 500 + i}"} 1\n`).join('');
      }
    });
    const res = await fetch(`${await metricsUrl(registry)}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    // Read slowly, so the server must wait for the socket to drain.
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (let reads = 0; ; reads++) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (reads % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const series = text.split('\n').filter((l) => l.startsWith('big_family{'));
    expect(series).toHaveLength(200_000);
    expect(series.at(-1)).toBe('big_family{n="199999"} 1');
    const head = await fetch(`${res.url}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers 500 when a collector fails, not a cut-off 200', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    new Gauge({
      name: 'broken_gauge',
      help: 'Fails at every scrape.',
      registers: [registry],
      collect() {
        throw new Error('collector failed');
      },
    });
    const res = await fetch(`${await metricsUrl(registry)}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('internal error\n');
  });

  it('one listener serves all three when both addresses are the same', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const probe = await startHealthEndpoints({
      healthAddress: '127.0.0.1:0',
      metricsAddress: '127.0.0.1:0',
      registry,
      informers: () => [],
    });
    await probe.close();
    const port = new URL(probe.healthUrl).port;
    const shared = await startHealthEndpoints({
      healthAddress: `127.0.0.1:${port}`,
      metricsAddress: `127.0.0.1:${port}`,
      registry,
      informers: () => [],
    });
    running.push({ stop: () => shared.close() });
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await fetch(`${shared.healthUrl}${path}`)).status).toBe(200);
  });
});
