// The bench's target check (bench/report.ts): the switch's "≤ 3 API writes per workload" is checked on
// the writes that grow with the fleet, and the keys' status writes are shown beside them, never hidden.
// The settled fleet's "zero writes" does not count a KmsKey's report of an inventory pass (the first
// pass of a Region may end inside the window); any other write misses it.

import { describe, expect, it } from 'vitest';
import { onlyInventoryReport, targetsMet } from '../../bench/report.ts';
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

describe('targetsMet: a time target the machine put out of reach', () => {
  const cpu = (othersBusySeconds: number) => ({ cpu: { othersBusySeconds } }) as Partial<ScenarioResult>;

  it('says so, with the arithmetic, when the other processes alone need more than the target time', () => {
    // 2.0x of a 51.9 s floor is 103.8 s; the others needed 146.5 s of both CPUs.
    const row = switchRow({ ratio: 4.13, floor: { ...switchRow({}).floor, timeMs: 51_900 }, ...cpu(146.5) });
    expect(targetsMet(row, 10_000).notes[0]).toBe(
      'time 4.13x floor > 2x (out of reach on this machine: the other processes alone needed 146.5 s of all its CPUs, more than 2x the floor, 103.8 s)',
    );
  });

  it('is a plain miss when the operator could have met it', () => {
    const row = switchRow({ ratio: 2.5, floor: { ...switchRow({}).floor, timeMs: 51_900 }, ...cpu(70.6) });
    expect(targetsMet(row, 10_000).notes[0]).toBe('time 2.5x floor > 2x');
  });
});

function steadyRow(statusWrites: number, inventoryReports: number | undefined): ScenarioResult {
  return switchRow({
    scenario: 'steady',
    ratio: 1.05,
    steady: {
      periods: 3,
      resyncMs: 30_000,
      awsReadsPerWorkloadPerResync: 0.72,
      inventoryReadsPerWorkloadPerResync: 0.01,
      kmsCallsPerKeyPerResync: 1.3,
      keyPollReadsPerKeyPerResync: 0.98,
      statusWrites,
      writesPerWorkloadPerResync: 0,
      writesByResource: statusWrites ? { 'kmskeys/status': statusWrites } : {},
      ...(inventoryReports !== undefined ? { inventoryReports } : {}),
    },
  });
}

describe('targetsMet: writes in the settled fleet', () => {
  it('meets zero writes when every write reported an inventory pass', () => {
    expect(targetsMet(steadyRow(5, 5), 1000)).toEqual({ met: true, notes: [] });
  });

  it('misses it by the writes that did not', () => {
    expect(targetsMet(steadyRow(5, 3), 1000).notes).toEqual([
      '2 API writes in the settled fleet (kmskeys/status 5)',
    ]);
    expect(targetsMet(steadyRow(2, undefined), 1000).notes).toEqual([
      '2 API writes in the settled fleet (kmskeys/status 2)',
    ]);
  });
});

describe('onlyInventoryReport', () => {
  const key = (status: Record<string, unknown>) => ({ status });
  const usage = (aws: number, at?: string) => ({
    kubernetes: 3,
    aws,
    unmanaged: 0,
    ...(at ? { lastInventoryTime: at } : {}),
  });
  const base = { keyArn: 'arn:k', keyState: 'Enabled' };

  it('is a write whose only change is the usage with a new inventory time: a first pass, or a later one', () => {
    expect(
      onlyInventoryReport(key({ ...base, usage: usage(0) }), key({ ...base, usage: usage(2, 't1') })),
    ).toBe(true);
    expect(
      onlyInventoryReport(key({ ...base, usage: usage(2, 't1') }), key({ ...base, usage: usage(2, 't2') })),
    ).toBe(true);
  });

  it('is not one when anything else moved, or the inventory time did not', () => {
    expect(
      onlyInventoryReport(
        key({ ...base, usage: usage(0) }),
        key({ ...base, keyState: 'PendingDeletion', usage: usage(2, 't1') }),
      ),
    ).toBe(false);
    expect(
      onlyInventoryReport(key({ ...base, usage: usage(2, 't1') }), key({ ...base, usage: usage(3, 't1') })),
    ).toBe(false);
    expect(onlyInventoryReport(undefined, key({ ...base, usage: usage(2, 't1') }))).toBe(false);
  });
});
