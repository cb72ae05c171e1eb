// The runtime wired together the way a controller uses it, on the real apiserver: leader lease ->
// informer -> work queue -> controller -> finalizer + status writer + events. A toy reconciler for
// KmsKey (no AWS) checks the plumbing: the object settles Ready, nothing is written again once
// settled (no hot loop), deletion runs through the finalizer, and losing the lease stops acting.

import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiVersion, group, version } from '../../src/api/shared.ts';
import { type Condition, setCondition, withKstatus } from '../../src/runtime/conditions.ts';
import { createController, type Reconcile } from '../../src/runtime/controller.ts';
import { createEventRecorder } from '../../src/runtime/events.ts';
import { addFinalizer, removeFinalizer } from '../../src/runtime/finalizers.ts';
import {
  createKubeClient,
  type KubeClient,
  type KubeObject,
  loadKubeConfig,
  objectKey,
  parseObjectKey,
  type ResourceType,
  resourceTypes,
} from '../../src/runtime/kube.ts';
import { createLeaderElector, type Lease } from '../../src/runtime/leader.ts';
import {
  createMetricsRegistry,
  prometheusControllerMetrics,
  prometheusWorkQueueMetrics,
} from '../../src/runtime/metrics.ts';
import { writeStatusIfChanged } from '../../src/runtime/status.ts';
import { createInformer } from '../../src/runtime/watch.ts';
import { createWorkQueue } from '../../src/runtime/work-queue.ts';
import { createNamespace, eventually, uniqueName } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';

interface KmsKey extends KubeObject {
  spec: { keyId: string };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

const kmsKeys: ResourceType = { group, version, plural: 'kmskeys', namespaced: true, kind: 'KmsKey' };
const finalizer = 'cmk.io/kms-key-protection';
let kube: KubeClient;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig(inject('kubeconfigPath')));
  await installCrds();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The whole wiring for one namespace; `statusWrites` counts real writes. */
async function startOperator(ns: string, leaseName: string, identity: string) {
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const informer = createInformer<KmsKey>({ type: kmsKeys, namespace: ns }, { kube });
  const queue = createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, 'kmskey') });
  informer.addHandlers({
    onAdd: (o) => queue.add(objectKey(o)),
    onUpdate: (_p, o) => queue.add(objectKey(o)),
    onDelete: (o) => queue.add(objectKey(o)),
  });
  const events = createEventRecorder({ reportingInstance: identity }, { kube });
  let statusWrites = 0;

  const reconcile: Reconcile = async (key, ctx) => {
    const cached = informer.get(key);
    if (!cached) return; // gone: nothing to do
    if (cached.metadata.deletionTimestamp) {
      // Cleanup would go here; only then is the finalizer removed.
      await removeFinalizer({ kube }, kmsKeys, cached, finalizer, { signal: ctx.signal });
      events.record(
        { type: kmsKeys, object: cached },
        { type: 'Normal', reason: 'Released', action: 'RemoveFinalizer', note: 'released' },
      );
      return;
    }
    const current = await addFinalizer({ kube }, kmsKeys, cached, finalizer, { signal: ctx.signal });
    if (!current) return;
    const result = await writeStatusIfChanged({ kube }, kmsKeys, current, (obj) => {
      const stamp = { generation: obj.metadata.generation, now: Date.now() };
      let conditions = setCondition(
        obj.status?.conditions,
        { type: 'KeyUsable', status: 'True', reason: 'KeyEnabled' },
        stamp,
      );
      conditions = withKstatus(conditions, { readyWhen: ['KeyUsable'] }, stamp);
      return { observedGeneration: obj.metadata.generation, conditions };
    });
    if (result.written) {
      statusWrites += 1;
      events.record(
        { type: kmsKeys, object: current },
        { type: 'Normal', reason: 'KeyReady', action: 'Reconcile', note: 'key usable' },
      );
    }
    ctx.log.info({ written: result.written }, 'reconciled');
    return { requeueAfterMs: 300 }; // look again fast, to prove that looking does not write
  };

  const controller = createController(
    { name: 'kmskey', queue, reconcile, concurrency: 2 },
    { metrics: prometheusControllerMetrics(registry, 'kmskey') },
  );
  const elector = createLeaderElector(
    {
      namespace: ns,
      name: leaseName,
      identity,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 400,
      onStartedLeading: (signal) => {
        informer.start();
        controller.start(signal);
      },
    },
    { kube },
  );
  elector.start();
  const stop = async () => {
    await elector.stop();
    await controller.stop({ deadlineMs: 2_000 });
    await informer.stop();
    await events.flush();
    events.close();
  };
  cleanups.push(stop);
  return { informer, controller, elector, registry, statusWrites: () => statusWrites, stop };
}

describe('runtime wired together', () => {
  it('settles a KmsKey Ready, then stops writing; deletion runs through the finalizer', async () => {
    const ns = await createNamespace('runtime-e2e');
    const op = await startOperator(ns, 'cmk-operator', uniqueName('pod'));
    const name = uniqueName('key');
    await kube.create<KmsKey>(kmsKeys, {
      apiVersion,
      kind: 'KmsKey',
      metadata: { name, namespace: ns },
      spec: { keyId: 'alias/orders' },
    });

    const ready = await eventually(async () => {
      const k = await kube.get<KmsKey>(kmsKeys, { namespace: ns, name });
      return k.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? k : undefined;
    });
    expect(ready.metadata.finalizers).toEqual([finalizer]);
    expect(ready.status?.observedGeneration).toBe(1);

    // Several requeues later, nothing more was written.
    await new Promise((r) => setTimeout(r, 1_500));
    const settled = await kube.get<KmsKey>(kmsKeys, { namespace: ns, name });
    expect(settled.metadata.resourceVersion).toBe(ready.metadata.resourceVersion);
    expect(op.statusWrites()).toBe(1);
    const metrics = await op.registry.metrics();
    const requeues = Number(
      /controller_runtime_reconcile_total\{controller="kmskey",result="requeue_after"\} (\d+)/.exec(
        metrics,
      )?.[1],
    );
    expect(requeues).toBeGreaterThan(3);

    await kube.delete(kmsKeys, parseObjectKey(`${ns}/${name}`));
    await eventually(async () =>
      (await kube.get(kmsKeys, { namespace: ns, name }).catch(() => 'gone')) === 'gone' ? true : undefined,
    );
    const reasons = await eventually(async () => {
      const events = await kube.list<KubeObject & { reason: string; regarding: { name: string } }>(
        resourceTypes.event,
        { namespace: ns },
      );
      const found = events.items.filter((e) => e.regarding.name === name).map((e) => e.reason);
      return found.includes('Released') ? found.sort() : undefined;
    });
    expect(reasons).toEqual(['KeyReady', 'Released']);
  });

  it('stops acting the moment its lease is taken', async () => {
    const ns = await createNamespace('runtime-e2e');
    const op = await startOperator(ns, 'cmk-operator', 'pod-a');
    await eventually(async () => (op.elector.isLeader() ? true : undefined));
    const lease = await kube.get<Lease>(resourceTypes.lease, { namespace: ns, name: 'cmk-operator' });
    await kube.replace<Lease>(resourceTypes.lease, {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: 'pod-b',
        renewTime: new Date().toISOString().replace('Z', '000Z'),
      },
    });
    await eventually(async () => (op.controller.queue.isShuttingDown() ? true : undefined), {
      timeoutMs: 3_000,
    });
    // Objects created now are not reconciled by the deposed replica.
    const name = uniqueName('key');
    await kube.create<KmsKey>(kmsKeys, {
      apiVersion,
      kind: 'KmsKey',
      metadata: { name, namespace: ns },
      spec: { keyId: 'alias/x' },
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const untouched = await kube.get<KmsKey>(kmsKeys, { namespace: ns, name });
    expect(untouched.metadata.finalizers).toBeUndefined();
    expect(untouched.status).toBeUndefined();
  });
});
