// When a light look may rest on a listing shared with other looks (MSF-027): only for a workload
// whose stored status says it is settled.

import { describe, expect, it } from 'vitest';
import { settledAsStored, type WorkloadObject } from '../../src/reconcile/workload-observe.ts';

function workload(status: WorkloadObject['status'], generation = 2): WorkloadObject {
  return {
    apiVersion: 'cmk.io/v1alpha1',
    kind: 'FlinkApplication',
    metadata: { name: 'orders', namespace: 'data', generation },
    spec: { key: { kmsKeyRef: { name: 'k' } } },
    ...(status ? { status } : {}),
  } as WorkloadObject;
}
const ready = (status: 'True' | 'False') => [
  { type: 'Ready', status, reason: 'r', message: 'm', lastTransitionTime: '' },
];

describe('settledAsStored', () => {
  it('is true for a workload Ready for its generation with nothing in flight', () => {
    const w = workload({ observedGeneration: 2, conditions: ready('True') });
    expect(settledAsStored(w, undefined)).toBe(true);
    expect(settledAsStored(w, { action: 'UpdateApplication', status: 'Succeeded' })).toBe(true);
  });

  it('is false while a change of this process is in flight', () => {
    const w = workload({ observedGeneration: 2, conditions: ready('True') });
    expect(settledAsStored(w, { action: 'UpdateApplication', status: 'InProgress' })).toBe(false);
  });

  it('is false for a new generation, a workload not Ready (waiting for a restart), or no status', () => {
    expect(settledAsStored(workload({ observedGeneration: 1, conditions: ready('True') }), undefined)).toBe(
      false,
    );
    expect(settledAsStored(workload({ observedGeneration: 2, conditions: ready('False') }), undefined)).toBe(
      false,
    );
    expect(settledAsStored(workload({ observedGeneration: 2 }), undefined)).toBe(false);
    expect(settledAsStored(workload(undefined), undefined)).toBe(false);
  });
});
