import { describe, expect, it } from 'vitest';
import { holdsSwitchIntent } from '../../src/reconcile/workload.ts';
import type { WorkloadObject } from '../../src/reconcile/workload-observe.ts';

type Status = NonNullable<WorkloadObject['status']>;

const op = (status: 'InProgress' | 'Succeeded' | 'Failed', extra: object = {}) => ({
  action: 'UpdateApplication',
  status,
  startTime: '2026-12-06T01:00:00.000Z',
  fromKey: 'key-a',
  toKey: 'key-b',
  ...extra,
});
const cond = (type: string, status: string, reason = 'R') => ({
  type,
  status,
  reason,
  message: '',
  lastTransitionTime: '2026-12-06T01:00:00Z',
});

/** The intent written before UpdateApplication. */
const intent = {
  observedGeneration: 2,
  awsState: 'RUNNING',
  current: { keyType: 'CustomerManaged', keyArn: 'key-a' },
  lastOperation: op('InProgress'),
  conditions: [
    cond('Ready', 'Unknown', 'Progressing'),
    cond('Reconciling', 'True', 'Progressing'),
    cond('KeyCurrent', 'False', 'Switching'),
    cond('KeyUsable', 'True'),
  ],
} as unknown as Status;

/** A look while AWS is still updating: its state, its operation id, the configured key. */
const updating = {
  ...intent,
  awsState: 'UPDATING',
  current: { keyType: 'CustomerManaged', keyArn: 'key-b' },
  lastOperation: op('InProgress', { id: 'op-1' }),
  conditions: [
    cond('Ready', 'Unknown', 'Transitioning'),
    cond('Reconciling', 'True', 'Transitioning'),
    cond('KeyCurrent', 'True', 'OnDesiredKey'),
    cond('KeyUsable', 'True'),
  ],
} as unknown as Status;

const quiet = { actions: [] };
const none = { mutated: false };

describe('a switch in flight: the intent stands until AWS reports the end', () => {
  it('holds while AWS is still carrying out the switch', () => {
    expect(holdsSwitchIntent(intent, updating, quiet, none)).toBe(true);
  });

  it.each([
    ['the operation ended', { ...updating, lastOperation: op('Succeeded', { id: 'op-1' }) }],
    ['the operation failed', { ...updating, lastOperation: op('Failed', { id: 'op-1' }) }],
    [
      'a newer switch began',
      { ...updating, lastOperation: op('InProgress', { startTime: '2026-12-06T02:00:00Z' }) },
    ],
    ['a new generation of the spec', { ...updating, observedGeneration: 3 }],
    [
      'the key became unusable',
      { ...updating, conditions: [...(updating.conditions ?? []).slice(0, 3), cond('KeyUsable', 'False')] },
    ],
    [
      'the resource is Stalled',
      { ...updating, conditions: [...(updating.conditions ?? []), cond('Stalled', 'True')] },
    ],
  ])('writes when %s', (_what, next) => {
    expect(holdsSwitchIntent(intent, next as Status, quiet, none)).toBe(false);
  });

  it('writes when this reconcile acted or failed, and when nothing was in flight', () => {
    expect(holdsSwitchIntent(intent, updating, { actions: [{ type: 'Start' } as never] }, none)).toBe(false);
    expect(holdsSwitchIntent(intent, updating, quiet, { mutated: true })).toBe(false);
    expect(holdsSwitchIntent(intent, updating, quiet, { mutated: false, failure: {} as never })).toBe(false);
    const settled = { ...intent, lastOperation: op('Succeeded') } as Status;
    expect(holdsSwitchIntent(settled, updating, quiet, none)).toBe(false);
    expect(holdsSwitchIntent(undefined, updating, quiet, none)).toBe(false);
  });
});
