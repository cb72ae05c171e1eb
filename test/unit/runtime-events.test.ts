import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEventRecorder, type EventSubject } from '../../src/runtime/events.ts';
import { KubeApiError, type KubeObject } from '../../src/runtime/kube.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-11-23T10:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

interface Written {
  metadata: { name: string; namespace: string };
  note: string;
  reason: string;
  series?: { count: number };
  [k: string]: unknown;
}

function fakeKube(options: { failCreates?: boolean; hang?: boolean } = {}) {
  const events = new Map<string, Written>();
  const creates: Written[] = [];
  const patches: Array<{ name: string; patch: { series: { count: number; lastObservedTime: string } } }> = [];
  return {
    events,
    creates,
    patches,
    kube: {
      create: async <T extends KubeObject>(_type: unknown, object: T): Promise<T> => {
        if (options.hang) return new Promise(() => {});
        if (options.failCreates) throw new KubeApiError('POST', '/events', 403, { reason: 'Forbidden' }, '');
        const event = object as unknown as Written;
        creates.push(event);
        events.set(event.metadata.name, event);
        return object;
      },
      mergePatch: async <T extends KubeObject>(
        _type: unknown,
        ref: { name: string },
        patch: unknown,
      ): Promise<T> => {
        const event = events.get(ref.name);
        if (!event) throw new KubeApiError('PATCH', `/events/${ref.name}`, 404, { reason: 'NotFound' }, '');
        const p = patch as { series: { count: number; lastObservedTime: string } };
        patches.push({ name: ref.name, patch: p });
        Object.assign(event, p);
        return event as unknown as T;
      },
    },
  };
}

const widgetType = {
  group: 'cmk.io',
  version: 'v1alpha1',
  plural: 'kmskeys',
  namespaced: true,
  kind: 'KmsKey',
};
function subject(name = 'orders-key', uid = 'u-1'): EventSubject {
  return { type: widgetType, object: { metadata: { name, namespace: 'team-a', uid, resourceVersion: '7' } } };
}
const warning = {
  type: 'Warning' as const,
  reason: 'KeyDisabled',
  action: 'CheckKey',
  note: 'key is disabled',
};

describe('event recorder', () => {
  it('creates an events.k8s.io/v1 Event with reporting fields and the regarding reference', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder({ reportingInstance: 'cmk-operator-abc' }, { kube: fake.kube });
    recorder.record(subject(), warning);
    await recorder.flush();
    expect(fake.creates).toHaveLength(1);
    expect(fake.creates[0]).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { namespace: 'team-a' },
      eventTime: '2026-11-23T10:00:00.000000Z',
      reportingController: 'cmk.io/operator',
      reportingInstance: 'cmk-operator-abc',
      action: 'CheckKey',
      reason: 'KeyDisabled',
      note: 'key is disabled',
      type: 'Warning',
      regarding: {
        apiVersion: 'cmk.io/v1alpha1',
        kind: 'KmsKey',
        namespace: 'team-a',
        name: 'orders-key',
        uid: 'u-1',
      },
    });
    expect(fake.creates[0]!.metadata.name).toMatch(/^orders-key\.[0-9a-f]+$/);
  });

  it('aggregates repeats into a series on the same Event, patched at most once per interval', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder(
      { reportingInstance: 'pod', seriesPatchIntervalMs: 30_000 },
      { kube: fake.kube },
    );
    recorder.record(subject(), warning);
    await vi.advanceTimersByTimeAsync(1_000);
    for (let i = 0; i < 9; i++) {
      recorder.record(subject(), warning);
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(fake.creates).toHaveLength(1);
    expect(fake.patches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fake.patches).toHaveLength(1);
    expect(fake.patches[0]!.patch.series.count).toBe(10);
    expect(fake.patches[0]!.patch.series.lastObservedTime).toBe('2026-11-23T10:00:09.000000Z');
    recorder.record(subject(), warning);
    await recorder.flush();
    expect(fake.patches.map((p) => p.patch.series.count)).toEqual([10, 11]);
    expect(fake.creates).toHaveLength(1);
  });

  it('starts a new Event when the last repeat is older than the series window', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder({ reportingInstance: 'pod' }, { kube: fake.kube });
    recorder.record(subject(), warning);
    await vi.advanceTimersByTimeAsync(7 * 60_000);
    recorder.record(subject(), warning);
    await recorder.flush();
    expect(fake.creates).toHaveLength(2);
  });

  it('different notes, reasons or objects are different Events', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder({ reportingInstance: 'pod' }, { kube: fake.kube });
    recorder.record(subject(), warning);
    recorder.record(subject(), { ...warning, note: 'other note' });
    recorder.record(subject(), { ...warning, reason: 'KeyPendingDeletion' });
    recorder.record(subject('other-key', 'u-2'), warning);
    await recorder.flush();
    expect(fake.creates).toHaveLength(4);
  });

  it('rate limits new Events per object and reason: burst 25, then one per 5 minutes', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder({ reportingInstance: 'pod' }, { kube: fake.kube });
    for (let i = 0; i < 40; i++) recorder.record(subject(), { ...warning, note: `attempt ${i}` });
    // Another reason on the same object has its own bucket.
    recorder.record(subject(), { ...warning, reason: 'AccessDenied', note: 'x' });
    await recorder.flush();
    expect(fake.creates).toHaveLength(26);
    expect(recorder.dropped()).toBe(15);
    await vi.advanceTimersByTimeAsync(4 * 60_000);
    recorder.record(subject(), { ...warning, note: 'after 4 min' });
    await vi.advanceTimersByTimeAsync(60_000);
    recorder.record(subject(), { ...warning, note: 'after 5 min' });
    recorder.record(subject(), { ...warning, note: 'still limited' });
    await recorder.flush();
    expect(fake.creates.map((e) => e.note).slice(26)).toEqual(['after 5 min']);
  });

  it('truncates notes to 1 KiB of UTF-8 on a character boundary', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder({ reportingInstance: 'pod' }, { kube: fake.kube });
    recorder.record(subject(), { ...warning, note: 'é'.repeat(1_000) });
    await recorder.flush();
    const note = fake.creates[0]!.note;
    expect(Buffer.byteLength(note)).toBeLessThanOrEqual(1024);
    expect(note).toBe('é'.repeat(512));
  });

  it('never throws or blocks: failures are logged and dropped', async () => {
    const failing = fakeKube({ failCreates: true });
    const recorder = createEventRecorder({ reportingInstance: 'pod' }, { kube: failing.kube });
    expect(() => recorder.record(subject(), warning)).not.toThrow();
    await recorder.flush();

    const hanging = fakeKube({ hang: true });
    const slow = createEventRecorder({ reportingInstance: 'pod' }, { kube: hanging.kube });
    const before = Date.now();
    slow.record(subject(), warning);
    expect(Date.now()).toBe(before);
    // A malformed subject is logged, not thrown.
    expect(() => slow.record({ type: widgetType, object: {} as KubeObject }, warning)).not.toThrow();
  });

  it('a quiet recorder forgets its series and rate buckets within two windows, and holds no timer', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder({ reportingInstance: 'pod' }, { kube: fake.kube });
    // A burst, as a fleet switch records one Event per workload.
    for (let i = 0; i < 50; i++) recorder.record(subject(`w-${i}`, `u-${i}`), warning);
    await recorder.flush();
    expect(vi.getTimerCount()).toBe(1);
    // One window on the series are at its edge and kept; past the second, gone, and no timer left.
    await vi.advanceTimersByTimeAsync(6 * 60_000);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(6 * 60_000);
    expect(vi.getTimerCount()).toBe(0);
    // What was forgotten changed nothing: the next repeat starts a new Event, as it would have.
    recorder.record(subject('w-0', 'u-0'), warning);
    await recorder.flush();
    expect(fake.creates).toHaveLength(51);
    recorder.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps a series a repeat may still join, across the sweeps', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder({ reportingInstance: 'pod' }, { kube: fake.kube });
    recorder.record(subject(), warning);
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    recorder.record(subject(), warning); // joins: the series' last repeat is now
    await vi.advanceTimersByTimeAsync(5 * 60_000); // a sweep ran at 6 minutes
    recorder.record(subject(), warning); // 5 minutes after the last repeat: still joins
    await recorder.flush();
    expect(fake.creates).toHaveLength(1);
    expect(fake.events.get(fake.creates[0]!.metadata.name)!.series?.count).toBe(3);
    recorder.close();
  });

  it('a series whose Event expired starts over with a new Event', async () => {
    const fake = fakeKube();
    const recorder = createEventRecorder(
      { reportingInstance: 'pod', seriesPatchIntervalMs: 1_000 },
      { kube: fake.kube },
    );
    recorder.record(subject(), warning);
    await recorder.flush();
    fake.events.clear(); // the apiserver's TTL removed it
    recorder.record(subject(), warning);
    await vi.advanceTimersByTimeAsync(1_000);
    await recorder.flush();
    recorder.record(subject(), warning);
    await recorder.flush();
    expect(fake.creates).toHaveLength(2);
  });
});
