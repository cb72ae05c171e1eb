// The bench's floor model (bench/floor.ts) is a pure function: these cases pin its arithmetic and
// its monotonicity, so a change to the model shows up here before it silently moves every ratio.

import { describe, expect, it } from 'vitest';
import { type FloorInput, floor, perRegionQuotas, quotaSeconds, regionQuotas } from '../../bench/floor.ts';

const unlimited = {};

function input(over: Partial<FloorInput> = {}): FloorInput {
  return {
    scenario: 'switch',
    workloads: { kinesisanalytics: 100, cassandra: 100, 'emr-serverless': 100 },
    keys: 10,
    regions: 1,
    latencyMs: 40,
    concurrency: 10,
    quotas: unlimited,
    transitionsMs: { flinkUpdating: 6000, keyspacesUpdating: 3500, kmsRotation: 2500 },
    keyspacesDdlPerRegion: 50,
    apiWriteMs: 10,
    resyncMs: 30_000,
    periods: 3,
    ...over,
  };
}

describe('quotaSeconds', () => {
  it('is zero while the burst absorbs the calls', () => {
    expect(quotaSeconds(10, { ratePerSecond: 5, burst: 10 })).toBe(0);
  });
  it('charges the calls beyond the burst at the sustained rate', () => {
    expect(quotaSeconds(60, { ratePerSecond: 5, burst: 10 })).toBe(10);
  });
  it('is zero without a quota', () => {
    expect(quotaSeconds(1e6, undefined)).toBe(0);
  });
});

describe('floor: minimal calls', () => {
  it('initial sync reads, tags and checks each key once', () => {
    const f = floor(input({ scenario: 'initial' }));
    expect(f.minCalls['kinesisanalytics.DescribeApplication']).toBe(100);
    expect(f.minCalls['kinesisanalytics.ListTagsForResource']).toBe(100);
    expect(f.minCalls['kinesisanalytics.TagResource']).toBe(100);
    expect(f.minCalls['emr-serverless.ListTagsForResource']).toBeUndefined();
    expect(f.minCalls['kms.DescribeKey']).toBe(10);
    expect(f.minKmsCalls).toBe(30);
    expect(f.minCallsTotal).toBe(100 * 3 + 100 * 3 + 100 * 2 + 30);
  });
  it('a switch mutates each workload once and confirms asynchronous changes with one more read', () => {
    const f = floor(input());
    expect(f.minCalls['kinesisanalytics.UpdateApplication']).toBe(100);
    expect(f.minCalls['kinesisanalytics.DescribeApplication']).toBe(200);
    expect(f.minCalls['cassandra.GetTable']).toBe(200);
    expect(f.minCalls['emr-serverless.GetApplication']).toBe(100);
    expect(f.minKmsCalls).toBe(20);
  });
  it('a rotation costs three KMS calls per key and nothing per workload', () => {
    const f = floor(input({ scenario: 'rotation' }));
    expect(f.minCalls).toEqual({
      'kms.RotateKeyOnDemand': 10,
      'kms.ListKeyRotations': 10,
      'kms.DescribeKey': 10,
    });
  });
  it('steady state is one read per workload (Flink, EMR Serverless: one listing per Region) and one DescribeKey per key per period', () => {
    const f = floor(input({ scenario: 'steady' }));
    expect(f.minCalls['cassandra.GetTable']).toBe(300);
    expect(f.minCalls['kinesisanalytics.DescribeApplication']).toBeUndefined();
    expect(f.minCalls['emr-serverless.GetApplication']).toBeUndefined();
    // 100 applications in one Region: 2 pages of 50, 3 periods.
    expect(f.minCalls['kinesisanalytics.ListApplications']).toBe(6);
    expect(f.minCalls['emr-serverless.ListApplications']).toBe(6);
    expect(
      floor(input({ scenario: 'steady', regions: 3 })).minCalls['kinesisanalytics.ListApplications'],
    ).toBe(9);
    expect(f.minCalls['kms.DescribeKey']).toBe(30);
    expect(f.timeMs).toBe(90_000);
    expect(f.bound).toBe('window');
  });
});

describe('floor: minimal time', () => {
  it('without quotas a switch is bound by the slowest transition plus one confirming read', () => {
    const f = floor(input());
    // key pre-flight 40 + Flink (ceil(100/10) x 3 x 40 = 1200, + 6000 + 40) + status write 10
    expect(f.timeMs).toBe(40 + 1200 + 6040 + 10);
    expect(f.bound).toBe('kinesisanalytics');
  });
  it('a tight quota takes over from the workers', () => {
    const f = floor(
      input({ quotas: { 'kinesisanalytics.UpdateApplication': { ratePerSecond: 5, burst: 10 } } }),
    );
    // (100 - 10) / 5 = 18 s to issue the updates, then the last transition
    expect(f.timeMs).toBe(40 + 18_000 + 6040 + 10);
  });
  it("a quota is per Region: the busiest Region's share of the calls sets the time", () => {
    const quotas = { 'kinesisanalytics.UpdateApplication': { ratePerSecond: 5, burst: 10 } };
    const four = floor(input({ quotas, regions: 4, concurrency: 100 }));
    // 100 updates over 4 Regions: 25 in each, (25 - 10) / 5 = 3 s, then the last transition
    expect(four.terms.find((t) => t.name === 'kinesisanalytics quota')).toEqual({
      name: 'kinesisanalytics quota',
      ms: 3000,
      explanation:
        '25 kinesisanalytics.UpdateApplication calls in each Region (100 over 4) at 5/s beyond a burst of 10',
    });
    expect(four.timeMs).toBe(40 + 3000 + 6040 + 10);
    // 3 Regions: the busiest has ceil(100 / 3) = 34.
    const three = floor(input({ quotas, regions: 3, concurrency: 100 }));
    expect(three.terms.find((t) => t.name === 'kinesisanalytics quota')?.ms).toBe(((34 - 10) / 5) * 1000);
  });
  it('Keyspaces DDL concurrency makes waves of transitions', () => {
    const f = floor(
      input({ workloads: { kinesisanalytics: 0, cassandra: 500, 'emr-serverless': 0 }, concurrency: 1000 }),
    );
    // 500 tables in one Region, 50 at a time: 10 waves x 3500 ms + one read
    expect(f.terms.find((t) => t.name === 'cassandra DDL concurrency')?.ms).toBe(10 * 3500 + 40);
    expect(f.timeMs).toBe(40 + 35_040 + 10);
  });
  it('more Regions spread the DDL waves', () => {
    const one = floor(input({ workloads: { kinesisanalytics: 0, cassandra: 500, 'emr-serverless': 0 } }));
    const five = floor(
      input({ workloads: { kinesisanalytics: 0, cassandra: 500, 'emr-serverless': 0 }, regions: 5 }),
    );
    expect(five.timeMs).toBeLessThan(one.timeMs);
  });
  it('a rotation is the rotation transition between two round trips, or the RotateKeyOnDemand quota', () => {
    expect(floor(input({ scenario: 'rotation' })).timeMs).toBe(40 + 2500 + 40 + 10);
    const capped = floor(
      input({
        scenario: 'rotation',
        keys: 105,
        quotas: { 'kms.RotateKeyOnDemand': { ratePerSecond: 5, burst: 5 } },
      }),
    );
    expect(capped.timeMs).toBe(20_000 + 10);
  });
  it('never decreases when N grows, and never increases with more workers', () => {
    for (const scenario of ['initial', 'switch'] as const) {
      let last = 0;
      for (const n of [30, 300, 3000, 30_000]) {
        const f = floor(
          input({
            scenario,
            workloads: { kinesisanalytics: n, cassandra: n, 'emr-serverless': n },
            quotas: regionQuotas(),
          }),
        );
        expect(f.timeMs).toBeGreaterThanOrEqual(last);
        last = f.timeMs;
      }
      const few = floor(input({ scenario, concurrency: 2 }));
      const many = floor(input({ scenario, concurrency: 64 }));
      expect(many.timeMs).toBeLessThanOrEqual(few.timeMs);
    }
  });
  it('every term is explained', () => {
    for (const scenario of ['initial', 'switch', 'rotation', 'steady'] as const) {
      const f = floor(input({ scenario, quotas: regionQuotas(), regions: 2 }));
      expect(f.terms.length).toBeGreaterThan(0);
      for (const t of f.terms) {
        expect(Number.isFinite(t.ms)).toBe(true);
        expect(t.explanation.length).toBeGreaterThan(10);
      }
      expect(f.timeMs).toBeGreaterThan(0);
    }
  });
});

describe('regionQuotas', () => {
  it('are the per-Region quotas, one bucket per Region in the emulator', () => {
    const q = regionQuotas();
    expect(q['kms.DescribeKey']).toEqual({ ratePerSecond: 2000, burst: 2000 });
    expect(Object.keys(q)).toEqual(Object.keys(perRegionQuotas));
  });
});
