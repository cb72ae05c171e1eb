// Per-object metrics from status (src/reconcile/resource-metrics.ts): what an on-call person reads
// off a dashboard or an alert must be what `kubectl get` shows, and a status field that is gone, or
// malformed, leaves no sample behind.

import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { KeyReferencingObject, KmsKeyObject } from '../../src/api/resources.ts';
import {
  kmsKeySamples,
  registerResourceMetrics,
  resourceMetricFamilies,
  resourceMetricsChunks,
  resourceMetricsText,
  type Sample,
  workloadSamples,
} from '../../src/reconcile/resource-metrics.ts';
import { expositionText } from '../../src/runtime/metrics.ts';
import type { KindCache } from '../../src/runtime/wiring.ts';

const now = Date.parse('2026-12-10T00:00:00Z');
const day = 86_400;

type Cond = { type: string; status: string; reason: string };
const cond = (type: string, status: string, reason: string): Cond => ({ type, status, reason });

function workload(name: string, status?: Record<string, unknown>): KeyReferencingObject {
  return {
    apiVersion: 'cmk.io/v1alpha1',
    kind: 'FlinkApplication',
    metadata: { namespace: 'team-a', name },
    spec: { applicationName: name, key: { awsOwned: true } } as never,
    ...(status ? { status } : {}),
  };
}

function kmsKey(status?: KmsKeyObject['status'], created = '2026-01-01T00:00:00Z'): KmsKeyObject {
  return {
    apiVersion: 'cmk.io/v1alpha1',
    kind: 'KmsKey',
    metadata: { namespace: 'keys', name: 'orders', creationTimestamp: created },
    spec: {},
    ...(status ? { status } : {}),
  };
}

/** `metric{extra labels} value`, without the kind/namespace/name every sample carries. */
function lines(samples: Sample[]): string[] {
  return samples.map(({ metric, labels, value }) => {
    const { kind: _k, namespace: _n, name: _m, ...extra } = labels;
    const l = Object.entries(extra).map(([k, v]) => `${k}=${v}`);
    return `${metric}${l.length > 0 ? `{${l.join(',')}}` : ''} ${value}`;
  });
}

describe('workloadSamples', () => {
  it.each([
    ['no status yet: nothing', undefined, []],
    [
      'Ready on its key',
      { conditions: [cond('Ready', 'True', 'Ready'), cond('KeyCurrent', 'True', 'OnDesiredKey')] },
      ['cmk_object_condition{condition=Ready,status=True,reason=Ready} 1', 'cmk_workload_on_desired_key 1'],
    ],
    [
      'Observe mode, off its key',
      { conditions: [cond('KeyCurrent', 'False', 'Drift')] },
      ['cmk_workload_on_desired_key 0'],
    ],
    [
      'KeyCurrent Unknown: no claim either way',
      { conditions: [cond('KeyCurrent', 'Unknown', 'AwsUnavailable')] },
      [],
    ],
    [
      'Stalled with its reason; domain conditions other than the key ones are not series',
      { conditions: [cond('Stalled', 'True', 'KeyDisabled'), cond('KeyUsable', 'False', 'KeyDisabled')] },
      ['cmk_object_condition{condition=Stalled,status=True,reason=KeyDisabled} 1'],
    ],
    [
      'a restart pending after a rotation',
      { conditions: [cond('MaterialCurrent', 'False', 'RestartPending')] },
      ['cmk_workload_on_current_key_material 0'],
    ],
    [
      'a table AWS deletes unless access returns',
      {
        deletionAfter: '2026-12-17T00:00:00Z',
        conditions: [cond('KeyAccessible', 'False', 'InaccessibleEncryptionCredentials')],
      },
      [`cmk_keyspaces_table_deletion_timestamp_seconds ${Date.parse('2026-12-17T00:00:00Z') / 1000}`],
    ],
    ['a deletion date that is no date: no sample', { deletionAfter: 'soon' }, []],
    ['conditions that are not a list: nothing', { conditions: 'Ready' }, []],
    [
      'a condition without status or reason still shows, as Unknown',
      { conditions: [{ type: 'Reconciling' }] },
      ['cmk_object_condition{condition=Reconciling,status=Unknown,reason=} 1'],
    ],
  ] as const)('%s', (_name, status, expected) => {
    expect(lines(workloadSamples('FlinkApplication', workload('orders', status as never)))).toEqual(expected);
  });

  it('labels every sample with the kind, namespace and name', () => {
    const [s] = workloadSamples(
      'KeyspacesTable',
      workload('t', { conditions: [cond('Ready', 'True', 'Ready')] }),
    );
    expect(s?.labels).toMatchObject({ kind: 'KeyspacesTable', namespace: 'team-a', name: 't' });
  });
});

describe('kmsKeySamples', () => {
  const rotated = '2026-09-11T00:00:00Z'; // 90 days before `now`
  it.each([
    ['no status yet: nothing', undefined, []],
    ['enabled', { keyState: 'Enabled' }, ['cmk_kmskey_state{state=Enabled} 1']],
    [
      'pending deletion, with its date',
      { keyState: 'PendingDeletion', deletionDate: '2026-12-17T00:00:00Z' },
      [
        'cmk_kmskey_state{state=PendingDeletion} 1',
        `cmk_kmskey_deletion_timestamp_seconds ${Date.parse('2026-12-17T00:00:00Z') / 1000}`,
      ],
    ],
    [
      'usage from Kubernetes and from the last inventory pass',
      { usage: { kubernetes: 3, aws: 5, unmanaged: 2, lastInventoryTime: '2026-12-09T23:50:00Z' } },
      [
        'cmk_kmskey_users{source=kubernetes} 3',
        'cmk_kmskey_users{source=aws} 5',
        'cmk_kmskey_users{source=aws_unmanaged} 2',
        `cmk_kmskey_last_inventory_timestamp_seconds ${Date.parse('2026-12-09T23:50:00Z') / 1000}`,
      ],
    ],
    [
      'grants and their quota',
      { grants: { count: 40_100, limit: 50_000 } },
      ['cmk_kmskey_grants 40100', 'cmk_kmskey_grants_limit 50000'],
    ],
    [
      'rotation on: age of the newest rotation, and the period',
      {
        rotation: {
          enabled: true,
          periodInDays: 90,
          recent: [
            { date: '2026-06-13T00:00:00Z', type: 'AUTOMATIC' },
            { date: rotated, type: 'ON_DEMAND' },
          ],
        },
      },
      [`cmk_kmskey_rotation_age_seconds ${90 * day}`, `cmk_kmskey_rotation_period_seconds ${90 * day}`],
    ],
    [
      "rotation on without a period: AWS's default, 365 days",
      { rotation: { enabled: true, recent: [{ date: rotated, type: 'AUTOMATIC' }] } },
      [`cmk_kmskey_rotation_age_seconds ${90 * day}`, `cmk_kmskey_rotation_period_seconds ${365 * day}`],
    ],
    [
      'rotation off: an age but no period, so no overdue alert',
      { rotation: { enabled: false, recent: [{ date: rotated, type: 'ON_DEMAND' }] } },
      [`cmk_kmskey_rotation_age_seconds ${90 * day}`],
    ],
    [
      'never rotated: the age of the object (a lower bound)',
      { rotation: { enabled: false } },
      [`cmk_kmskey_rotation_age_seconds ${(now - Date.parse('2026-01-01T00:00:00Z')) / 1000}`],
    ],
    [
      'malformed numbers and dates: no samples for them',
      {
        deletionDate: 'tomorrow',
        grants: { count: 'many', limit: 50_000 },
        rotation: { enabled: false, recent: [{ date: 'x', type: 'AUTOMATIC' }] },
      },
      [
        'cmk_kmskey_grants_limit 50000',
        `cmk_kmskey_rotation_age_seconds ${(now - Date.parse('2026-01-01T00:00:00Z')) / 1000}`,
      ],
    ],
  ] as const)('%s', (_name, status, expected) => {
    expect(lines(kmsKeySamples(kmsKey(status as never), now))).toEqual(expected);
  });
});

function cacheOf<T extends KeyReferencingObject | KmsKeyObject>(
  kind: string,
  objects: Map<string, T>,
): KindCache<T> {
  return {
    type: { group: 'cmk.io', version: 'v1alpha1', plural: `${kind.toLowerCase()}s`, namespaced: true, kind },
    informers: [],
    get: (k) => objects.get(k),
    keys: () => [...objects.keys()],
    list: () => [...objects.values()],
    indexBy: () => ({ lookup: () => [] }),
  };
}

describe('registerResourceMetrics', () => {
  it('serves what the caches hold at each scrape: a deleted object is gone from the next one', async () => {
    const keys = new Map([['keys/orders', kmsKey({ keyState: 'Disabled' })]]);
    const apps = new Map([
      ['team-a/orders', workload('orders', { conditions: [cond('KeyCurrent', 'True', 'OnDesiredKey')] })],
    ]);
    const registry = new Registry();
    registerResourceMetrics(
      registry,
      { kmsKeys: cacheOf('KmsKey', keys), referencing: [{ cache: cacheOf('FlinkApplication', apps) }] },
      () => now,
    );
    const first = await expositionText(registry);
    expect(first).toContain(
      'cmk_kmskey_state{kind="KmsKey",namespace="keys",name="orders",state="Disabled"} 1',
    );
    expect(first).toContain(
      'cmk_workload_on_desired_key{kind="FlinkApplication",namespace="team-a",name="orders"} 1',
    );

    keys.set('keys/orders', kmsKey({ keyState: 'Enabled' }));
    apps.delete('team-a/orders');
    await new Promise((resolve) => setImmediate(resolve));
    const second = await expositionText(registry);
    expect(second).toContain(
      'cmk_kmskey_state{kind="KmsKey",namespace="keys",name="orders",state="Enabled"} 1',
    );
    expect(second).not.toContain('state="Disabled"');
    expect(second).not.toMatch(/cmk_workload_on_desired_key\{/);
  });
});

describe('resourceMetricsText', () => {
  /** What prom-client's gauges serve for the same samples: the format the text must keep. */
  async function viaGauges(keys: KmsKeyObject[], apps: KeyReferencingObject[]): Promise<string> {
    const registry = new Registry();
    const gauges = new Map(
      Object.entries(resourceMetricFamilies).map(([metric, f]) => [
        metric,
        new Gauge({
          name: metric,
          help: f.help,
          labelNames: ['kind', 'namespace', 'name', ...f.labels],
          registers: [registry],
        }),
      ]),
    );
    const samples = [
      ...keys.flatMap((k) => kmsKeySamples(k, now)),
      ...apps.flatMap((a) => workloadSamples('FlinkApplication', a)),
    ];
    for (const s of samples) gauges.get(s.metric)!.set(s.labels, s.value);
    return registry.metrics();
  }

  it("serves, family by family, what prom-client's gauges would, escaping included", async () => {
    const keys = [
      kmsKey({
        keyState: 'PendingDeletion',
        deletionDate: '2026-12-17T00:00:00Z',
        usage: { kubernetes: 3, aws: 5, unmanaged: 2 },
        conditions: [cond('Ready', 'False', 'KeyPendingDeletion')],
      } as never),
    ];
    const apps = ['orders', 'payments', 'ledger'].map((name, i) =>
      workload(name, {
        conditions: [
          cond('Ready', 'True', 'Ready'),
          cond('Reconciling', 'False', i === 1 ? 'a "quoted" \\ reason\nover two lines' : 'Done'),
          cond('KeyCurrent', i === 2 ? 'False' : 'True', 'OnDesiredKey'),
          cond('MaterialCurrent', 'True', 'OnCurrentMaterial'),
        ],
      }),
    );
    const render = resourceMetricsText(
      {
        kmsKeys: cacheOf('KmsKey', new Map(keys.map((k) => [k.metadata.name, k]))),
        referencing: [{ cache: cacheOf('FlinkApplication', new Map(apps.map((a) => [a.metadata.name, a]))) }],
      },
      () => now,
    );
    const ours = await render();
    expect(ours).toContain(String.raw`reason="a \"quoted\" \\ reason\nover two lines"`);
    expect(ours.endsWith('\n')).toBe(true);
    // A family is one block: HELP, TYPE, then its series (their order within it aside).
    const blocks = (text: string) =>
      text
        .trim()
        .split(/\n(?=# HELP )/)
        .map((block) => {
          const [help, type, ...series] = block.trim().split('\n');
          return [help, type, ...series.sort()];
        });
    expect(blocks(ours)).toEqual(blocks(await viaGauges(keys, apps)));
    // The second scrape of unchanged objects is the same text.
    expect(await render()).toBe(ours);
  });

  it('a family with tens of thousands of series renders whole', async () => {
    const apps = new Map(
      Array.from({ length: 40_000 }, (_, i) => {
        const a = workload(`app-${i}`, { conditions: [cond('KeyCurrent', 'True', 'OnDesiredKey')] });
        return [a.metadata.name, a] as const;
      }),
    );
    const text = await resourceMetricsText(
      { kmsKeys: cacheOf('KmsKey', new Map()), referencing: [{ cache: cacheOf('FlinkApplication', apps) }] },
      () => now,
    )();
    expect(text.match(/^cmk_workload_on_desired_key\{/gm)).toHaveLength(40_000);
  });

  it('hands the text out in chunks of at most 512 series, never the whole exposition at once', async () => {
    const apps = new Map(
      Array.from({ length: 10_000 }, (_, i) => {
        const a = workload(`app-${i}`, {
          conditions: [cond('KeyCurrent', 'True', 'OnDesiredKey'), cond('Ready', 'True', 'Ready')],
        });
        return [a.metadata.name, a] as const;
      }),
    );
    const caches = {
      kmsKeys: cacheOf('KmsKey', new Map()),
      referencing: [{ cache: cacheOf('FlinkApplication', apps) }],
    };
    const chunks: string[] = [];
    for await (const chunk of resourceMetricsChunks(caches, () => now)()) chunks.push(chunk);
    const text = chunks.join('');
    expect(text).toBe(await resourceMetricsText(caches, () => now)());
    expect(text.match(/^cmk_workload_on_desired_key\{/gm)).toHaveLength(10_000);
    for (const chunk of chunks) {
      expect(chunk.endsWith('\n')).toBe(true);
      expect(chunk.split('\n').length - 1).toBeLessThanOrEqual(512);
    }
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(128 * 1024);
    expect(text.length).toBeGreaterThan(20 * Math.max(...chunks.map((c) => c.length)));
  });

  it('hands out each chunk as soon as it is full: a scrape holds one chunk of text, not the whole exposition', async () => {
    let statusReads = 0;
    const apps = new Map(
      Array.from({ length: 10_000 }, (_, i) => {
        const a = workload(`app-${i}`, {
          conditions: [cond('Ready', 'True', 'Ready'), cond('KeyCurrent', 'True', 'OnDesiredKey')],
        });
        const status = a.status;
        Object.defineProperty(a, 'status', {
          get: () => {
            statusReads++;
            return status;
          },
        });
        return [a.metadata.name, a] as const;
      }),
    );
    const chunks = resourceMetricsChunks(
      { kmsKeys: cacheOf('KmsKey', new Map()), referencing: [{ cache: cacheOf('FlinkApplication', apps) }] },
      () => now,
    )();
    const first = await chunks.next();
    expect(first.value).toMatch(/^cmk_object_condition\{/m);
    // The first 512 lines need about 510 objects' Ready condition; gathering every family first
    // would have read all 10,000 objects before anything went out.
    expect(statusReads).toBeLessThanOrEqual(512);
    let rest = 0;
    for await (const chunk of chunks) rest += chunk.split('\n').length - 1;
    // All of it still comes out: 2 series per object, HELP and TYPE of every family.
    expect(rest + first.value!.split('\n').length - 1).toBe(
      2 * 10_000 + 2 * Object.keys(resourceMetricFamilies).length,
    );
  });

  it('yields to the event loop while it renders: other work runs between slices of objects', async () => {
    const apps = new Map(
      Array.from({ length: 10_000 }, (_, i) => {
        const a = workload(`app-${i}`, { conditions: [cond('KeyCurrent', 'True', 'OnDesiredKey')] });
        return [a.metadata.name, a] as const;
      }),
    );
    const render = resourceMetricsText(
      { kmsKeys: cacheOf('KmsKey', new Map()), referencing: [{ cache: cacheOf('FlinkApplication', apps) }] },
      () => now,
    );
    // Work that arrives while the scrape is under way (a watch event, a reconcile's answer).
    const ran: number[] = [];
    let done = false;
    const tick = () => {
      ran.push(Date.now());
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const text = await render();
    done = true;
    expect(ran.length).toBeGreaterThanOrEqual(10_000 / 500 - 1);
    expect(text.match(/^cmk_workload_on_desired_key\{/gm)).toHaveLength(10_000);
  });
});
