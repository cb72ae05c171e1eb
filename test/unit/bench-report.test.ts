// The bench's target check (bench/report.ts): the switch's "≤ 3 API writes per workload" is checked on
// the writes that grow with the fleet, and the keys' status writes are shown beside them, never hidden.

import { describe, expect, it } from 'vitest';
import { targetsMet } from '../../bench/report.ts';
import type { ScenarioResult } from '../../bench/scenarios.ts';

function switchRow(over: Partial<ScenarioResult>): ScenarioResult {
  return {
    scenario: 'switch',
    converged: true,
    timeMs: 40_000,
    floor: { timeMs: 37_500, bound: 'kinesisanalytics', terms: [], minCallsTotal: 0, minKmsCalls: 0 },
    ratio: 1.07,
    awsCalls: {},
    awsCallsTotal: 0,
    throttled: 0,
    kmsCalls: 0,
    kubeRequests: {},
    kubeRequestsPerWorkload: 3.043,
    kubeWritesPerWorkload: 3.043,
    kubeWrites: 3043,
    peakRssMiB: 140,
    peakHeapMiB: 50,
    lagP99Ms: 20,
    series: [],
    total: 1000,
    signals: { keyPollReads: 0, inventoryCalls: {}, eventMessages: 0 },
    ...over,
  } as ScenarioResult;
}

describe('targetsMet: API writes in a switch', () => {
  it('meets the target at 3 writes per workload, whatever the keys wrote on top', () => {
    const row = switchRow({ workloadWritesPerWorkload: 3, keyStatusWrites: 43 });
    expect(targetsMet(row, 1000)).toEqual({ met: true, notes: [] });
  });

  it('misses it when the workloads themselves take more than 3 writes each', () => {
    const row = switchRow({ workloadWritesPerWorkload: 3.001, keyStatusWrites: 42 });
    expect(targetsMet(row, 1000).notes).toEqual(['3.001 API writes/workload > 3']);
  });

  it('counts every write when the split is unknown (results written before it)', () => {
    const row = switchRow({});
    expect(targetsMet(row, 1000).notes).toEqual(['3.043 API writes/workload > 3']);
  });
});
