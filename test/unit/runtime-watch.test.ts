import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  KubeApiError,
  type KubeList,
  type KubeObject,
  type ListOptions,
  type WatchEvent,
  type WatchOptions,
} from '../../src/runtime/kube.ts';
import { createInformer, createReconnectBackoff } from '../../src/runtime/watch.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-23T10:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

interface Cm extends KubeObject {
  data?: Record<string, string>;
}

const cmType = { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' };

function cm(name: string, rv: number, data: Record<string, string> = {}): Cm {
  return { metadata: { name, namespace: 'ns', resourceVersion: String(rv) }, data };
}

type WatchScript = (options: WatchOptions) => AsyncGenerator<WatchEvent<Cm>>;

/** Scripted API: `objects` is what LIST returns; each WATCH runs the next script (default: hang). */
function fakeApi() {
  const api = {
    objects: [] as Cm[],
    listRv: '100',
    lists: [] as ListOptions[],
    watches: [] as WatchOptions[],
    scripts: [] as WatchScript[],
    listError: undefined as Error | undefined,
  };
  const kube = {
    list: async <T extends KubeObject>(_type: unknown, options: ListOptions = {}): Promise<KubeList<T>> => {
      api.lists.push(options);
      if (api.listError) throw api.listError;
      const start = Number(options.continue ?? 0);
      const limit = options.limit ?? Infinity;
      const page = api.objects.slice(start, start + limit);
      const next = start + limit < api.objects.length ? String(start + limit) : undefined;
      return {
        metadata: { resourceVersion: api.listRv, ...(next ? { continue: next } : {}) },
        items: page as unknown as T[],
      };
    },
    watch: <T extends KubeObject>(
      _type: unknown,
      options: WatchOptions = {},
    ): AsyncIterable<WatchEvent<T>> => {
      api.watches.push(options);
      const script =
        api.scripts.shift() ??
        // biome-ignore lint/correctness/useYield: a quiet watch
        async function* quiet(o: WatchOptions) {
          await openUntilAborted(o);
        };
      return script(options) as unknown as AsyncIterable<WatchEvent<T>>;
    },
  };
  return { api, kube };
}

/** Stays open until the informer aborts it, like a real watch. */
function openUntilAborted(options: WatchOptions): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (options.signal?.aborted) reject(options.signal.reason);
    options.signal?.addEventListener('abort', () => reject(options.signal?.reason));
  });
}

function events(...list: WatchEvent<Cm>[]): WatchScript {
  return async function* (options) {
    for (const e of list) yield e;
    await openUntilAborted(options);
  };
}

function failing(error: Error): WatchScript {
  // biome-ignore lint/correctness/useYield: a watch that fails before its first event
  return async function* () {
    throw error;
  };
}

function recorder() {
  const seen: string[] = [];
  return {
    seen,
    handlers: {
      onAdd: (o: Cm) => seen.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
      onUpdate: (p: Cm, o: Cm) =>
        seen.push(`update ${o.metadata.name}@${p.metadata.resourceVersion}->${o.metadata.resourceVersion}`),
      onDelete: (o: Cm) => seen.push(`delete ${o.metadata.name}@${o.metadata.resourceVersion}`),
    },
  };
}

describe('informer', () => {
  it('lists in pages, syncs, then watches from the list resourceVersion with bookmarks and a jittered timeout', async () => {
    const { api, kube } = fakeApi();
    api.objects = [cm('a', 1), cm('b', 2), cm('c', 3), cm('d', 4), cm('e', 5)];
    const informer = createInformer<Cm>(
      { type: cmType, namespace: 'ns', pageSize: 2 },
      { kube, random: () => 0.5 },
    );
    const r = recorder();
    informer.addHandlers(r.handlers);
    informer.start();
    await informer.waitForSync();
    expect(informer.hasSynced()).toBe(true);
    expect(api.lists.map((l) => [l.limit, l.continue, l.namespace])).toEqual([
      [2, undefined, 'ns'],
      [2, '2', 'ns'],
      [2, '4', 'ns'],
    ]);
    expect(r.seen).toEqual(['add a@1', 'add b@2', 'add c@3', 'add d@4', 'add e@5']);
    await vi.advanceTimersByTimeAsync(0);
    expect(api.watches[0]).toMatchObject({
      resourceVersion: '100',
      allowWatchBookmarks: true,
      timeoutSeconds: 450,
    });
    expect(informer.state()).toEqual({ phase: 'Watching', resourceVersion: '100' });
    expect(informer.keys().sort()).toEqual(['ns/a', 'ns/b', 'ns/c', 'ns/d', 'ns/e']);
    await informer.stop();
  });

  it('applies watch events to the cache and handlers, follows bookmarks, records progress', async () => {
    const { api, kube } = fakeApi();
    api.objects = [cm('a', 1)];
    const start = Date.now();
    api.scripts.push(async function* (options) {
      yield { type: 'ADDED', object: cm('b', 101) };
      await new Promise((r) => setTimeout(r, 1_000));
      yield { type: 'MODIFIED', object: cm('a', 102, { k: 'v' }) };
      yield { type: 'DELETED', object: cm('b', 103) };
      await new Promise((r) => setTimeout(r, 1_000));
      yield { type: 'BOOKMARK', object: { metadata: { name: '', resourceVersion: '150' } } as Cm };
      await openUntilAborted(options);
    });
    const informer = createInformer<Cm>({ type: cmType }, { kube });
    const r = recorder();
    informer.addHandlers(r.handlers);
    informer.start();
    await vi.advanceTimersByTimeAsync(2_500);
    expect(r.seen).toEqual(['add a@1', 'add b@101', 'update a@1->102', 'delete b@103']);
    expect(informer.get('ns/a')?.data).toEqual({ k: 'v' });
    expect(informer.get('ns/b')).toBeUndefined();
    expect(informer.state()).toEqual({ phase: 'Watching', resourceVersion: '150' });
    expect(informer.lastProgress()).toBe(start + 2_000);
    await informer.stop();
  });

  it("caches objects without managedFields or kubectl's last-applied copy, from the list and from watch events", async () => {
    const { api, kube } = fakeApi();
    const withFields = (o: Cm): Cm => ({
      ...o,
      metadata: {
        ...o.metadata,
        managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}', team: 'a' },
      },
    });
    api.objects = [withFields(cm('a', 1))];
    api.scripts.push(events({ type: 'ADDED', object: withFields(cm('b', 101)) }));
    const informer = createInformer<Cm>({ type: cmType }, { kube });
    informer.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(informer.get('ns/a')?.metadata).toEqual({
      name: 'a',
      namespace: 'ns',
      resourceVersion: '1',
      annotations: { team: 'a' },
    });
    expect(informer.get('ns/b')?.metadata.managedFields).toBeUndefined();
    expect(informer.get('ns/b')?.metadata.resourceVersion).toBe('101');
    await informer.stop();
  });

  it('on a 410 ERROR event relists and reports exactly what changed while disconnected', async () => {
    const { api, kube } = fakeApi();
    api.objects = [cm('same', 1), cm('changed', 2), cm('gone', 3)];
    api.scripts.push(events({ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old' } }));
    const informer = createInformer<Cm>({ type: cmType }, { kube });
    const r = recorder();
    informer.addHandlers(r.handlers);
    informer.start();
    await informer.waitForSync();
    r.seen.length = 0;
    api.objects = [cm('same', 1), cm('changed', 20), cm('new', 21)];
    api.listRv = '200';
    await vi.advanceTimersByTimeAsync(0);
    expect(api.lists).toHaveLength(2);
    expect(r.seen).toEqual(['update changed@2->20', 'add new@21', 'delete gone@3']);
    expect(informer.keys().sort()).toEqual(['ns/changed', 'ns/new', 'ns/same']);
    expect(api.watches.at(-1)?.resourceVersion).toBe('200');
    await informer.stop();
  });

  it('on a 410 HTTP answer relists too', async () => {
    const { api, kube } = fakeApi();
    api.scripts.push(failing(new KubeApiError('GET', '/w', 410, { reason: 'Gone' }, '')));
    const informer = createInformer<Cm>({ type: cmType }, { kube });
    informer.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(api.lists).toHaveLength(2);
    await informer.stop();
  });

  it('other errors reconnect from the last resourceVersion with growing backoff, without relisting', async () => {
    const { api, kube } = fakeApi();
    api.scripts.push(
      async function* () {
        yield { type: 'MODIFIED', object: cm('a', 105) };
        throw new Error('connection reset');
      },
      failing(new Error('connection refused')),
      failing(new KubeApiError('GET', '/w', 500, { reason: 'InternalError' }, '')),
    );
    const informer = createInformer<Cm>({ type: cmType }, { kube, random: () => 0.5 });
    informer.start();
    const start = Date.now();
    const watchTimes: number[] = [];
    for (let t = 0; t < 6_000; t += 100) {
      await vi.advanceTimersByTimeAsync(100);
      while (watchTimes.length < api.watches.length) watchTimes.push(Date.now() - start);
    }
    expect(api.lists).toHaveLength(1);
    expect(api.watches.map((w) => w.resourceVersion)).toEqual(['100', '105', '105', '105']);
    // Opened at once (seen at the first 100 ms probe), then 800, 1600 and 3200 ms after each failure.
    expect(watchTimes).toEqual([100, 800, 2_400, 5_600]);
    await informer.stop();
  });

  it('a watch error event other than 410 backs off and resumes (no relist)', async () => {
    const { api, kube } = fakeApi();
    api.scripts.push(
      events({ type: 'ERROR', object: { code: 500, reason: 'InternalError', message: 'etcd' } }),
    );
    const informer = createInformer<Cm>({ type: cmType }, { kube, random: () => 0.5 });
    informer.start();
    await vi.advanceTimersByTimeAsync(799);
    expect(api.watches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(api.watches).toHaveLength(2);
    expect(api.lists).toHaveLength(1);
    await informer.stop();
  });

  it('a cleanly ended watch is reopened at once from the last resourceVersion', async () => {
    const { api, kube } = fakeApi();
    api.scripts.push(async function* () {
      yield { type: 'ADDED', object: cm('a', 110) };
    });
    const informer = createInformer<Cm>({ type: cmType }, { kube });
    informer.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(api.watches.map((w) => w.resourceVersion)).toEqual(['100', '110']);
    await informer.stop();
  });

  it('retries a failing LIST with backoff and is not synced meanwhile', async () => {
    const { api, kube } = fakeApi();
    api.listError = new Error('apiserver down');
    const informer = createInformer<Cm>({ type: cmType }, { kube, random: () => 0.5 });
    informer.start();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(informer.hasSynced()).toBe(false);
    expect(api.lists).toHaveLength(3); // t=0, 800, 2400
    api.listError = undefined;
    await vi.advanceTimersByTimeAsync(3_200);
    expect(informer.hasSynced()).toBe(true);
    await informer.stop();
  });

  it('keeps a secondary index in step with the cache', async () => {
    const { api, kube } = fakeApi();
    const withKey = (name: string, rv: number, key: string) => cm(name, rv, { key });
    api.objects = [withKey('flink-1', 1, 'k1'), withKey('flink-2', 2, 'k1'), withKey('flink-3', 3, 'k2')];
    api.scripts.push(
      events(
        { type: 'MODIFIED', object: withKey('flink-2', 102, 'k2') },
        { type: 'DELETED', object: withKey('flink-3', 103, 'k2') },
      ),
    );
    const informer = createInformer<Cm>({ type: cmType }, { kube });
    const early = informer.indexBy((o) => (o.data?.['key'] ? [o.data['key']] : []));
    informer.start();
    await informer.waitForSync();
    const late = informer.indexBy((o) => (o.data?.['key'] ? [o.data['key']] : []));
    expect(late.lookup('k1')).toEqual(['ns/flink-1', 'ns/flink-2']);
    await vi.advanceTimersByTimeAsync(0);
    for (const index of [early, late]) {
      expect(index.lookup('k1')).toEqual(['ns/flink-1']);
      expect(index.lookup('k2')).toEqual(['ns/flink-2']);
      expect(index.lookup('k3')).toEqual([]);
    }
    await informer.stop();
  });

  it('replays the cache to handlers added late, and survives a throwing handler', async () => {
    const { api, kube } = fakeApi();
    api.objects = [cm('a', 1)];
    api.scripts.push(events({ type: 'ADDED', object: cm('b', 101) }));
    const informer = createInformer<Cm>({ type: cmType }, { kube });
    informer.addHandlers({
      onAdd: () => {
        throw new Error('handler bug');
      },
    });
    informer.start();
    await informer.waitForSync();
    const r = recorder();
    informer.addHandlers(r.handlers);
    await vi.advanceTimersByTimeAsync(0);
    expect(r.seen).toEqual(['add a@1', 'add b@101']);
    await informer.stop();
  });
});

describe('reconnect backoff', () => {
  it('doubles from 800 ms to a 30 s cap and resets after 2 minutes without trouble', () => {
    let now = 0;
    const clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => {} };
    const backoff = createReconnectBackoff({}, clock, () => 0.5);
    const delays = Array.from({ length: 8 }, () => backoff.next());
    expect(delays).toEqual([800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000]);
    now += 119_000;
    expect(backoff.next()).toBe(30_000);
    now += 120_000;
    expect(backoff.next()).toBe(800);
  });

  it('jitters by +/-20 %', () => {
    const clock = { now: () => 0, setTimeout: () => 0, clearTimeout: () => {} };
    expect(createReconnectBackoff({}, clock, () => 0).next()).toBe(640);
    expect(createReconnectBackoff({}, clock, () => 1).next()).toBe(960);
  });
});
