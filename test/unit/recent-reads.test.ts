// The workload reconciles' reads the key usage inventory takes instead of reading again: what is
// served, from when, and what a change this process made rules out.

import { describe, expect, it } from 'vitest';
import { createRecentReads } from '../../src/aws/recent-reads.ts';

const arn = 'arn:aws:kinesisanalytics:us-east-1:111122223333:application/orders';
const onKey = (n: number) =>
  ({ type: 'CustomerManaged', keyArn: `arn:aws:kms:us-east-1:111122223333:key/${n}` }) as const;

describe('createRecentReads', () => {
  it('serves the latest read only when it began at or after the moment asked for', () => {
    const reads = createRecentReads();
    reads.record(arn, onKey(1), 100);
    expect(reads.since(arn, 100)).toEqual({ at: 100, encryption: onKey(1) });
    expect(reads.since(arn, 101)).toBeUndefined();
    expect(reads.since(`${arn}-other`, 0)).toBeUndefined();
    // With the version the answer showed, where AWS gives one.
    reads.record(arn, onKey(1), 200, '4');
    expect(reads.since(arn, 0)).toEqual({ at: 200, encryption: onKey(1), version: '4' });
  });

  it('keeps the read that began last when two answer out of order', () => {
    const reads = createRecentReads();
    reads.record(arn, onKey(2), 200);
    reads.record(arn, onKey(1), 100);
    expect(reads.since(arn, 0)?.encryption).toEqual(onKey(2));
  });

  it('after a change, serves no read that began before it, even one that answers later', () => {
    const reads = createRecentReads();
    reads.record(arn, onKey(1), 100);
    reads.forget(arn, 150);
    expect(reads.since(arn, 0)).toBeUndefined();
    reads.record(arn, onKey(1), 140);
    reads.record(arn, onKey(1), 150);
    expect(reads.since(arn, 0)).toBeUndefined();
    reads.record(arn, onKey(2), 160);
    expect(reads.since(arn, 0)?.encryption).toEqual(onKey(2));
  });

  it('holds at most maxEntries, dropping the least recently recorded', () => {
    const reads = createRecentReads({ maxEntries: 2 });
    reads.record('a', onKey(1), 1);
    reads.record('b', onKey(1), 2);
    reads.record('a', onKey(1), 3);
    reads.record('c', onKey(1), 4);
    expect(reads.size()).toBe(2);
    expect(reads.since('b', 0)).toBeUndefined();
    expect(reads.since('a', 0)?.at).toBe(3);
  });
});
