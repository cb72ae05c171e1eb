// A key switch's intent start time (src/reconcile/workload-actions.ts, intentStart): the same switch
// retried soon after a throttle keeps its stored intent, so the retry writes nothing; anything else
// starts now.

import { describe, expect, it } from 'vitest';
import { sameIntentMs } from '../../src/reconcile/types.ts';
import { intentStart } from '../../src/reconcile/workload-actions.ts';

const now = Date.parse('2026-12-07T16:00:00Z');
const at = (msAgo: number) => new Date(now - msAgo).toISOString();
const next = { action: 'UpdateApplication', fromKey: 'arn:a', toKey: 'arn:b', now };
const stored = (over: Record<string, string | undefined> = {}) => ({
  action: 'UpdateApplication',
  status: 'InProgress',
  startTime: at(2_000),
  fromKey: 'arn:a',
  toKey: 'arn:b',
  ...over,
});

describe('intentStart', () => {
  it('keeps the stored start of the same switch not yet taken by AWS, asked for again within a minute', () => {
    expect(intentStart(stored(), next)).toBe(at(2_000));
    expect(intentStart(stored({ startTime: at(sameIntentMs) }), next)).toBe(at(sameIntentMs));
  });

  it('starts now for an older intent, another switch, one AWS took or one that ended', () => {
    const fresh = new Date(now).toISOString();
    expect(intentStart(undefined, next)).toBe(fresh);
    expect(intentStart(stored({ startTime: at(sameIntentMs + 1) }), next)).toBe(fresh);
    expect(intentStart(stored({ toKey: 'arn:c' }), next)).toBe(fresh);
    expect(intentStart(stored({ fromKey: 'arn:c' }), next)).toBe(fresh);
    expect(intentStart(stored({ action: 'UpdateTable' }), next)).toBe(fresh);
    expect(intentStart(stored({ id: 'op-1' }), next)).toBe(fresh);
    expect(intentStart(stored({ endTime: at(1_000) }), next)).toBe(fresh);
    expect(intentStart(stored({ status: 'Failed' }), next)).toBe(fresh);
    // A start ahead of this clock (another replica's skew) is not believed.
    expect(intentStart(stored({ startTime: at(-5_000) }), next)).toBe(fresh);
    expect(intentStart(stored({ startTime: 'not a time' }), next)).toBe(fresh);
  });
});
