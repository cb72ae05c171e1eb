// How many reconciles of one controller run at once: `--concurrency` for every controller but the
// KmsKey one, which gets twice as many, at least 16 (src/reconcile/controllers.ts, kmsKeyWorkers):
// a rotation asked for on every key at once starts on every key at once.

import { describe, expect, it } from 'vitest';
import { controllerDefinitions, kmsKeyWorkers, quotaScope } from '../../src/reconcile/controllers.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { noControllerMetrics, noWorkQueueMetrics } from '../../src/runtime/metrics.ts';
import { type ControllerDefinition, type KindCache, wireController } from '../../src/runtime/wiring.ts';

/** The operator's definitions with no workload kinds: only the KmsKey controller's. */
const noKinds = {
  kmsKeys: {} as never,
  anyKmsKeys: {} as never,
  grants: {} as never,
  workloads: [],
  referencing: [],
  kmsKeysOf: () => [],
  kmsKeyReconcile: async () => ({}),
};

/** A controller whose reconciles all wait for `release`; returns how many ran at once. */
async function running(definition: Omit<ControllerDefinition, 'root' | 'reconcile'>, concurrency: number) {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let active = 0;
  let most = 0;
  const controller = wireController(
    {
      ...definition,
      root: { informers: [] } as unknown as KindCache<never>,
      reconcile: async () => {
        active += 1;
        most = Math.max(most, active);
        await gate;
        active -= 1;
        return {};
      },
    },
    {
      log: silentLogger(),
      queueMetrics: () => noWorkQueueMetrics,
      controllerMetrics: () => noControllerMetrics,
      concurrency,
      resyncMs: 60_000,
    },
  );
  controller.start();
  for (let i = 0; i < 64; i++) controller.queue.add(`k${i}`);
  await new Promise((r) => setTimeout(r, 20));
  const atOnce = controller.active();
  release();
  await controller.stop({ deadlineMs: 1_000 });
  return { atOnce, most };
}

describe('controller workers', () => {
  it('runs --concurrency reconciles at once by default', async () => {
    expect(await running({ name: 'widget', watches: [] }, 4)).toEqual({ atOnce: 4, most: 4 });
  });

  it('gives the KmsKey controller twice --concurrency, at least 16', async () => {
    // The operator's own definition of it (no workload kinds: its watches are not needed here).
    const [kmsKey] = controllerDefinitions(noKinds);
    expect(kmsKey?.name).toBe('kmskey');
    const workers = kmsKey!.workers;
    expect(await running({ name: 'kmskey', watches: [], ...(workers ? { workers } : {}) }, 4)).toEqual({
      atOnce: 16,
      most: 16,
    });
    expect(await running({ name: 'kmskey', watches: [], workers: kmsKeyWorkers }, 24)).toEqual({
      atOnce: 48,
      most: 48,
    });
  });
});

describe('controller workers across AWS quota scopes', () => {
  it("a key's scope is its Region (the default one when it names none), and its role's account", () => {
    const o = (spec: object) => ({ metadata: { name: 'x' }, spec });
    expect(quotaScope(o({ region: 'eu-west-1' }), 'us-east-1')).toBe('eu-west-1');
    expect(quotaScope(o({}), 'us-east-1')).toBe('us-east-1');
    expect(quotaScope(o({ region: 'us-east-1' }), 'us-east-1')).toBe(quotaScope(o({}), 'us-east-1'));
    // Two roles of one account share its quota; another account has its own.
    const role = (account: string, name: string) => `arn:aws:iam::${account}:role/${name}`;
    const scope = (roleArn: string) => quotaScope(o({ region: 'eu-west-1', roleArn }), 'us-east-1');
    expect(scope(role('444455556666', 'a'))).toBe('eu-west-1|444455556666');
    expect(scope(role('444455556666', 'b'))).toBe(scope(role('444455556666', 'a')));
    expect(scope(role('777788889999', 'a'))).not.toBe(scope(role('444455556666', 'a')));
  });

  it('a fleet listed Region by Region is worked in every Region at once', async () => {
    // Six objects per Region, listed (and so added) one Region after the other; 3 workers.
    const regions = ['us-east-1', 'eu-west-1', 'ap-south-1'];
    const objects = new Map(
      regions.flatMap((region) =>
        [0, 1, 2, 3, 4, 5].map((i) => [
          `ns/${region}-${i}`,
          { metadata: { name: `${region}-${i}` }, spec: { region } },
        ]),
      ),
    );
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const started: string[] = [];
    const [kmsKey] = controllerDefinitions(noKinds);
    const controller = wireController(
      {
        name: 'widget',
        watches: [],
        root: { informers: [], get: (key: string) => objects.get(key) } as unknown as KindCache<never>,
        ...(kmsKey!.quotaScope ? { quotaScope: kmsKey!.quotaScope } : {}),
        reconcile: async (key) => {
          started.push(key);
          await gate;
          return {};
        },
      },
      {
        log: silentLogger(),
        queueMetrics: () => noWorkQueueMetrics,
        controllerMetrics: () => noControllerMetrics,
        concurrency: 3,
        resyncMs: 60_000,
      },
    );
    // The informers list before the workers start (as while the operator waits for the caches).
    for (const key of objects.keys()) controller.queue.add(key);
    controller.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(started.map((k) => k.slice(3, -2)).sort()).toEqual([...regions].sort());
    release();
    await controller.stop({ deadlineMs: 1_000 });
  });
});
