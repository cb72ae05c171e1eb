// The runtime's writers against the real kube-apiserver and the project's own KmsKey CRD: status
// through /status only when it changed (counted by resourceVersion) and across a conflict,
// guarded finalizer patches that keep a concurrent foreign finalizer, and events.k8s.io/v1 Events
// with series aggregation.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiVersion, group, version } from '../../src/api/shared.ts';
import { type Condition, setCondition, withKstatus } from '../../src/runtime/conditions.ts';
import { createEventRecorder } from '../../src/runtime/events.ts';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../src/runtime/finalizers.ts';
import {
  createKubeClient,
  type KubeClient,
  type KubeList,
  type KubeObject,
  loadKubeConfig,
  type ResourceType,
  resourceTypes,
} from '../../src/runtime/kube.ts';
import { writeStatusIfChanged } from '../../src/runtime/status.ts';
import { createInformer } from '../../src/runtime/watch.ts';
import { createNamespace, eventually, uniqueName } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';

interface KmsKey extends KubeObject {
  spec: { keyId: string };
  status?: { observedGeneration?: number; conditions?: Condition[]; keyState?: string };
}

const kmsKeys: ResourceType = { group, version, plural: 'kmskeys', namespaced: true, kind: 'KmsKey' };
const finalizer = 'cmk.io/kms-key-protection';
let kube: KubeClient;
let ns: string;

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig(inject('kubeconfigPath')));
  await installCrds();
  ns = await createNamespace('runtime-writes');
});

async function createKey(name = uniqueName('key')): Promise<KmsKey> {
  return kube.create<KmsKey>(kmsKeys, {
    apiVersion,
    kind: 'KmsKey',
    metadata: { name, namespace: ns },
    spec: { keyId: 'alias/orders' },
  });
}

/** The status a KmsKey reconcile would compute: a domain condition plus kstatus, from `keyState`. */
function keyStatus(keyState: string, now: number) {
  return (current: KmsKey): KmsKey['status'] => {
    const stamp = { generation: current.metadata.generation, now };
    let conditions = setCondition(
      current.status?.conditions,
      {
        type: 'KeyUsable',
        status: keyState === 'Enabled' ? 'True' : 'False',
        reason: keyState === 'Enabled' ? 'KeyEnabled' : 'KeyDisabled',
        message: `key state ${keyState}`,
      },
      stamp,
    );
    conditions = withKstatus(conditions, { readyWhen: ['KeyUsable'] }, stamp);
    return { observedGeneration: current.metadata.generation, keyState, conditions };
  };
}

describe('status writer', () => {
  it('writes through /status only when the status changed', async () => {
    const key = await createKey();
    const t0 = Date.parse('2026-11-23T10:00:00Z');

    const first = await writeStatusIfChanged({ kube }, kmsKeys, key, keyStatus('Enabled', t0));
    expect(first.written).toBe(true);
    const rvAfterFirst = first.object!.metadata.resourceVersion;
    expect(first.object!.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
      'Ready=True',
      'KeyUsable=True',
    ]);

    // Same facts an hour later: the computed status is deep-equal, nothing is written.
    for (let i = 0; i < 3; i++) {
      const again = await writeStatusIfChanged(
        { kube },
        kmsKeys,
        first.object!,
        keyStatus('Enabled', t0 + 3_600_000),
      );
      expect(again.written).toBe(false);
    }
    const read = await kube.get<KmsKey>(kmsKeys, { namespace: ns, name: key.metadata.name });
    expect(read.metadata.resourceVersion).toBe(rvAfterFirst);

    // A real change is written, and the transition time moves only for conditions whose status changed.
    const changed = await writeStatusIfChanged(
      { kube },
      kmsKeys,
      read,
      keyStatus('Disabled', t0 + 7_200_000),
    );
    expect(changed.written).toBe(true);
    expect(changed.object!.metadata.resourceVersion).not.toBe(rvAfterFirst);
    const ready = changed.object!.status!.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready).toMatchObject({
      status: 'False',
      reason: 'KeyDisabled',
      lastTransitionTime: '2026-11-23T12:00:00Z',
    });
    // The spec is untouched by a status write.
    expect(changed.object!.spec).toEqual(key.spec);
    expect(changed.object!.metadata.generation).toBe(1);
  });

  it('survives a conflict: re-reads, recomputes from the fresh object and writes once', async () => {
    const key = await createKey();
    const stale = key;
    // Someone else changes the object after we read it.
    await kube.mergePatch(
      kmsKeys,
      { namespace: ns, name: key.metadata.name },
      { metadata: { labels: { team: 'a' } } },
    );
    const seenBy: string[] = [];
    const result = await writeStatusIfChanged({ kube }, kmsKeys, stale, (current) => {
      seenBy.push(current.metadata.resourceVersion!);
      return keyStatus('Enabled', Date.now())(current);
    });
    expect(result).toMatchObject({ written: true, conflicts: 1 });
    expect(seenBy).toHaveLength(2);
    expect(seenBy[1]).not.toBe(seenBy[0]);
    expect(result.object!.metadata.labels).toEqual({ team: 'a' });
    expect(result.object!.status?.keyState).toBe('Enabled');
  });

  it('gives up after the bounded retries and reports the conflict', async () => {
    const key = await createKey();
    let n = 0;
    const interfering = {
      get: async <T extends KubeObject>(type: ResourceType, ref: { namespace?: string; name: string }) => {
        // Every re-read is immediately outdated by another writer.
        const fresh = await kube.get<T>(type, ref);
        await kube.mergePatch(kmsKeys, ref, { metadata: { labels: { n: String(++n) } } });
        return fresh;
      },
      replace: kube.replace,
    };
    await kube.mergePatch(
      kmsKeys,
      { namespace: ns, name: key.metadata.name },
      { metadata: { labels: { n: '0' } } },
    );
    const failure = await writeStatusIfChanged(
      { kube: interfering },
      kmsKeys,
      key,
      keyStatus('Enabled', Date.now()),
      {
        maxConflictRetries: 2,
      },
    ).catch((e: unknown) => e);
    expect(failure).toMatchObject({ statusCode: 409 });
    expect(n).toBe(2);
  });

  it('treats a deleted object as nothing to write', async () => {
    const key = await createKey();
    await kube.delete(kmsKeys, { namespace: ns, name: key.metadata.name });
    const result = await writeStatusIfChanged({ kube }, kmsKeys, key, keyStatus('Enabled', Date.now()));
    expect(result).toMatchObject({ written: false, object: undefined });
  });

  it('an informer sees exactly one MODIFIED per real status change', async () => {
    const key = await createKey();
    const informer = createInformer<KmsKey>(
      { type: kmsKeys, namespace: ns, fieldSelector: `metadata.name=${key.metadata.name}` },
      { kube },
    );
    let updates = 0;
    informer.addHandlers({
      onUpdate: () => {
        updates += 1;
      },
    });
    informer.start();
    try {
      await informer.waitForSync();
      let current = key;
      for (const state of ['Enabled', 'Enabled', 'Disabled', 'Disabled', 'Disabled', 'Enabled']) {
        current = (await writeStatusIfChanged({ kube }, kmsKeys, current, keyStatus(state, Date.now())))
          .object!;
      }
      await eventually(async () =>
        informer.get(`${ns}/${key.metadata.name}`)?.status?.keyState === 'Enabled' && updates >= 3
          ? true
          : undefined,
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(updates).toBe(3);
    } finally {
      await informer.stop();
    }
  });
});

describe('finalizers', () => {
  it('adds and removes ours, idempotently', async () => {
    const key = await createKey();
    const added = (await addFinalizer({ kube }, kmsKeys, key, finalizer))!;
    expect(added.metadata.finalizers).toEqual([finalizer]);
    const again = (await addFinalizer({ kube }, kmsKeys, added, finalizer))!;
    expect(again.metadata.resourceVersion).toBe(added.metadata.resourceVersion);
    const removed = (await removeFinalizer({ kube }, kmsKeys, added, finalizer))!;
    expect(removed.metadata.finalizers).toBeUndefined();
  });

  it('keeps a foreign finalizer added concurrently (first-finalizer race)', async () => {
    const key = await createKey(); // our copy: no finalizers
    await kube.jsonPatch(kmsKeys, { namespace: ns, name: key.metadata.name }, [
      { op: 'add', path: '/metadata/finalizers', value: ['other.example.com/hold'] },
    ]);
    const result = (await addFinalizer({ kube }, kmsKeys, key, finalizer))!;
    expect(result.metadata.finalizers).toEqual(['other.example.com/hold', finalizer]);
  });

  it('keeps a foreign finalizer added concurrently (append race)', async () => {
    const key = await createKey();
    const withOne = (await kube.jsonPatch<KmsKey>(kmsKeys, { namespace: ns, name: key.metadata.name }, [
      { op: 'add', path: '/metadata/finalizers', value: ['a.example.com/one'] },
    ]))!;
    await kube.jsonPatch(kmsKeys, { namespace: ns, name: key.metadata.name }, [
      { op: 'add', path: '/metadata/finalizers/-', value: 'b.example.com/two' },
    ]);
    const result = (await addFinalizer({ kube }, kmsKeys, withOne, finalizer))!;
    expect(result.metadata.finalizers).toEqual(['a.example.com/one', 'b.example.com/two', finalizer]);
  });

  it('removes only ours when a foreign finalizer moved it to another index', async () => {
    const key = await createKey();
    const ours = (await addFinalizer({ kube }, kmsKeys, key, finalizer))!; // [ours]
    await kube.jsonPatch(kmsKeys, { namespace: ns, name: key.metadata.name }, [
      { op: 'add', path: '/metadata/finalizers/0', value: 'other.example.com/hold' },
    ]); // [other, ours]; our copy still says [ours] at index 0
    const result = (await removeFinalizer({ kube }, kmsKeys, ours, finalizer))!;
    expect(result.metadata.finalizers).toEqual(['other.example.com/hold']);
  });

  it('holds deletion until removed; never adds to a deleting object', async () => {
    const key = (await addFinalizer({ kube }, kmsKeys, await createKey(), finalizer))!;
    await kube.delete(kmsKeys, { namespace: ns, name: key.metadata.name });
    const deleting = await kube.get<KmsKey>(kmsKeys, { namespace: ns, name: key.metadata.name });
    expect(deleting.metadata.deletionTimestamp).toBeTruthy();
    const other = 'other.example.com/late';
    const unchanged = (await addFinalizer({ kube }, kmsKeys, deleting, other))!;
    expect(hasFinalizer(unchanged, other)).toBe(false);
    await removeFinalizer({ kube }, kmsKeys, deleting, finalizer);
    await eventually(async () =>
      (await kube.get(kmsKeys, { namespace: ns, name: key.metadata.name }).catch(() => 'gone')) === 'gone'
        ? true
        : undefined,
    );
    // Removing from an object that is gone is done, not an error.
    expect(await removeFinalizer({ kube }, kmsKeys, deleting, finalizer)).toBeUndefined();
  });
});

describe('events', () => {
  interface EventObject extends KubeObject {
    reason: string;
    note: string;
    type: string;
    action: string;
    reportingController: string;
    reportingInstance: string;
    regarding: { kind: string; name: string; uid?: string };
    series?: { count: number; lastObservedTime: string };
  }

  const recorders: Array<{ close(): void }> = [];
  afterAll(() => {
    for (const r of recorders) r.close();
  });

  async function eventsFor(name: string): Promise<EventObject[]> {
    const list = await kube.list<EventObject>(resourceTypes.event, { namespace: ns });
    return (list as KubeList<EventObject>).items.filter((e) => e.regarding.name === name);
  }

  it('records an events.k8s.io/v1 Event about the object', async () => {
    const key = await createKey();
    const recorder = createEventRecorder({ reportingInstance: 'cmk-operator-0' }, { kube });
    recorders.push(recorder);
    recorder.record(
      { type: kmsKeys, object: key },
      { type: 'Warning', reason: 'KeyDisabled', action: 'CheckKey', note: 'key alias/orders is Disabled' },
    );
    await recorder.flush();
    const [event, ...rest] = await eventsFor(key.metadata.name);
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      reason: 'KeyDisabled',
      action: 'CheckKey',
      type: 'Warning',
      note: 'key alias/orders is Disabled',
      reportingController: 'cmk.io/operator',
      reportingInstance: 'cmk-operator-0',
      regarding: { kind: 'KmsKey', name: key.metadata.name, uid: key.metadata.uid },
    });
  });

  it('aggregates repeats into one Event with a series count', async () => {
    const key = await createKey();
    const recorder = createEventRecorder(
      { reportingInstance: 'cmk-operator-0', seriesPatchIntervalMs: 50 },
      { kube },
    );
    recorders.push(recorder);
    const repeat = { type: 'Normal' as const, reason: 'KeyChecked', action: 'CheckKey', note: 'key usable' };
    for (let i = 0; i < 5; i++) recorder.record({ type: kmsKeys, object: key }, repeat);
    await recorder.flush();
    const events = await eventsFor(key.metadata.name);
    expect(events).toHaveLength(1);
    expect(events[0]!.series?.count).toBe(5);
    expect(events[0]!.series?.lastObservedTime).toMatch(/\.\d{6}Z$/);
  });
});
