import { describe, expect, it } from 'vitest';
import { AwsCallError } from '../../src/aws/errors.ts';
import { kstatusOf, type Results } from '../../src/runtime/executor.ts';
import type { PlanOutcome } from '../../src/runtime/outcome.ts';

const denied = new AwsCallError('UpdateTable', {
  cause: 'AccessDenied',
  code: 'AccessDeniedException',
  message: 'no',
});
const throttled = new AwsCallError('UpdateTable', {
  cause: 'Throttled',
  code: 'ThrottlingException',
  message: 'slow',
});

const results = (over: Partial<Results<object>> = {}): Results<object> => ({
  status: {},
  conditions: [],
  mutated: false,
  completed: [],
  ...over,
});
const cont: PlanOutcome = { kind: 'continue' };
const waiting: PlanOutcome = {
  kind: 'waiting',
  reason: 'Transitioning',
  message: 'UPDATING',
  retryAfterMs: 5000,
};
const stalled: PlanOutcome = { kind: 'stalled', reason: 'Drift', message: 'Observe mode' };
const inFlight = { inFlight: { reason: 'RotationInProgress', message: 'rotating' } };

describe('kstatusOf: Stalled and Reconciling in one order for every kind', () => {
  it.each([
    [
      'a refused action is Stalled with its outcome reason',
      cont,
      results({ failure: { action: 'ChangeKey', error: denied, stalled: true, reason: 'AccessDenied' } }),
      {},
      { stalled: 'AccessDenied' },
    ],
    [
      'a refused action wins over the plan being stalled',
      stalled,
      results({ failure: { action: 'ChangeKey', error: denied, stalled: true, reason: 'AccessDenied' } }),
      {},
      { stalled: 'AccessDenied' },
    ],
    [
      'a handler that dealt with a refusal stalls',
      cont,
      results({ stalled: { reason: 'ClientTokenConflict', message: 'm' } }),
      {},
      { stalled: 'ClientTokenConflict' },
    ],
    ['the plan stalls when the actions did not', stalled, results(), {}, { stalled: 'Drift' }],
    [
      'a transient failure is Reconciling (Retrying), even while the plan waits',
      waiting,
      results({ failure: { action: 'ChangeKey', error: throttled, stalled: false, reason: 'Retrying' } }),
      {},
      { reconciling: 'Retrying' },
    ],
    [
      'a deferred action is Reconciling with its reason',
      waiting,
      results({ deferred: { reason: 'RotationConflict', message: 'm', retryAfterMs: 1 } }),
      {},
      { reconciling: 'RotationConflict' },
    ],
    [
      'the plan waiting is Reconciling',
      waiting,
      results({ mutated: true }),
      {},
      { reconciling: 'Transitioning' },
    ],
    [
      'a handler names its progress',
      cont,
      results({ mutated: true, progress: { reason: 'Submitted', message: 'm' } }),
      {},
      { reconciling: 'Submitted' },
    ],
    [
      'a mutation without a named progress is Progressing',
      cont,
      results({ mutated: true }),
      {},
      { reconciling: 'Progressing' },
    ],
    [
      "the kind's own in-flight work comes last",
      cont,
      results(),
      inFlight,
      { reconciling: 'RotationInProgress' },
    ],
    ['nothing in flight, nothing stalled', cont, results(), {}, {}],
  ] as const)('%s', (_name, outcome, r, readiness, expected) => {
    const got = kstatusOf(outcome, r, readiness);
    expect({
      ...(got.stalled ? { stalled: got.stalled.reason } : {}),
      ...(got.reconciling ? { reconciling: got.reconciling.reason } : {}),
    }).toEqual(expected);
  });

  it('a refused action says which call AWS refused and why', () => {
    const got = kstatusOf(
      cont,
      results({ failure: { action: 'ChangeKey', error: denied, stalled: true, reason: 'AccessDenied' } }),
      {},
    );
    expect(got.stalled?.message).toBe('UpdateTable: AccessDeniedException: no');
  });
});
