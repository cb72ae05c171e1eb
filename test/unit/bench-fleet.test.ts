// The order the bench applies a fleet-wide change in (bench/fleet.ts): every service's changes
// start at once, as the floor counts them, rather than one service after another.

import { describe, expect, it } from 'vitest';
import { fleetLayout, interleavedByService } from '../../bench/fleet.ts';

describe('interleavedByService', () => {
  it('takes one workload of each service in turn, each service in its own order', () => {
    const fleet = fleetLayout(10);
    const order = interleavedByService(fleet.workloads);
    expect(order.slice(0, 6).map((w) => w.name)).toEqual([
      'flink-0',
      'table-0',
      'emr-0',
      'flink-1',
      'table-1',
      'emr-1',
    ]);
    for (const service of ['kinesisanalytics', 'cassandra', 'emr-serverless'])
      expect(order.filter((w) => w.service === service)).toEqual(
        fleet.workloads.filter((w) => w.service === service),
      );
  });

  it('keeps every workload once when the services differ in size', () => {
    const fleet = fleetLayout(1000);
    const order = interleavedByService(fleet.workloads);
    expect(order).toHaveLength(fleet.workloads.length);
    expect(new Set(order).size).toBe(fleet.workloads.length);
    // 334 Flink applications against 333 of the others: the last one comes last.
    expect(order.at(-1)!.name).toBe('flink-333');
  });
});
