// Table tests of the workload decision, shared by the three services: builders of small modifiers,
// one named case per line.

import { describe, expect, it } from 'vitest';
import { inMaintenanceWindow, nextWindowOpening } from '../../src/reconcile/maintenance-window.ts';
import {
  failedSwitchRetryMs,
  followSwitchMaxMs,
  planWorkload,
  type WorkloadPlanInput,
} from '../../src/reconcile/workload-plan.ts';
import { awsOwned as aok, cmk, keyA, keyB } from '../fixtures/keys.ts';
import {
  aws,
  deleting,
  failedSwitch,
  notFound,
  now,
  preflightFails,
  spec,
  status,
  type WorkloadMod,
  wants,
  workload,
} from '../fixtures/workload-plan.ts';

const unresolved: WorkloadMod = (i) => ({
  ...i,
  desired: {
    kind: 'unresolved',
    reason: 'KmsKeyNotReady',
    message: 'KmsKey orders-key is not Ready',
    terminal: false,
  },
});

const types = (i: WorkloadPlanInput) => planWorkload(i).actions.map((a) => a.type);
const cond = (i: WorkloadPlanInput, type: string) => planWorkload(i).conditions.find((c) => c.type === type);

describe('planWorkload: switching keys', () => {
  it.each([
    ['AWS owned -> CMK', workload('ManagedFlink'), ['ChangeKey']],
    ['CMK -> CMK', workload('Keyspaces', aws({ encryption: cmk(keyB) })), ['ChangeKey']],
    ['CMK -> AWS owned', workload('Keyspaces', aws({ encryption: cmk(keyA) }), wants(aok)), ['ChangeKey']],
    ['already on the desired key: nothing', workload('Keyspaces', aws({ encryption: cmk(keyA) })), []],
    [
      'the finalizer and the claim come first',
      workload('Keyspaces', (i) => ({ ...i, hasFinalizer: false }), aws({ tags: {} })),
      ['AddFinalizer', 'Claim', 'ChangeKey'],
    ],
    ['never switches onto a key that fails pre-flight', workload('ManagedFlink', preflightFails), []],
    [
      'never switches while AWS is transitioning',
      workload('ManagedFlink', aws({ settled: false, awsState: 'UPDATING' })),
      [],
    ],
    [
      'Observe mode never switches, tags or adds anything but the finalizer',
      workload('ManagedFlink', spec({ mode: 'Observe' }), aws({ tags: {} })),
      [],
    ],
    [
      'never acts on a resource another object claims',
      workload('Keyspaces', aws({ tags: { 'cmk.io/owner': 'other-cluster/ns/x' } })),
      [],
    ],
    ['waits for a key that does not resolve yet', workload('Keyspaces', unresolved), []],
    [
      'EMR: waits while STARTED by default',
      workload(
        'EmrServerless',
        aws({ blocker: { kind: 'ApplicationRunning', activeJobRunIds: [] }, awsState: 'STARTED' }),
      ),
      [],
    ],
    [
      'EMR StopAndUpdate: stops when no job runs',
      workload(
        'EmrServerless',
        spec({ whenStarted: 'StopAndUpdate' }),
        aws({ blocker: { kind: 'ApplicationRunning', activeJobRunIds: [] } }),
      ),
      ['Stop'],
    ],
    [
      'EMR StopAndUpdate: waits for running jobs',
      workload(
        'EmrServerless',
        spec({ whenStarted: 'StopAndUpdate' }),
        aws({ blocker: { kind: 'ApplicationRunning', activeJobRunIds: ['j1', 'j2'] } }),
      ),
      [],
    ],
    [
      'EMR: a context change is a change',
      workload(
        'EmrServerless',
        aws({ encryption: cmk(keyA, { team: 'a' }), running: false }),
        wants(cmk(keyA, { team: 'b' })),
      ),
      ['ChangeKey'],
    ],
    [
      'Keyspaces: no context to compare',
      workload('Keyspaces', aws({ encryption: cmk(keyA) }), wants(cmk(keyA, { x: 'y' }))),
      [],
    ],
    [
      'EMR: starts again after the operator stopped it',
      workload(
        'EmrServerless',
        aws({ encryption: cmk(keyA), running: false, awsState: 'STOPPED' }),
        status({ pendingStart: true }),
      ),
      ['Start'],
    ],
    [
      'a running Flink app waits for its maintenance window',
      workload('ManagedFlink', spec({ maintenanceWindow: { start: '02:00', durationMinutes: 60 } })),
      [],
    ],
    [
      'a stopped Flink app switches outside the window',
      workload(
        'ManagedFlink',
        aws({ running: false, awsState: 'READY' }),
        spec({ maintenanceWindow: { start: '02:00', durationMinutes: 60 } }),
      ),
      ['ChangeKey'],
    ],
    [
      'a switch that just failed is not retried at once',
      workload('ManagedFlink', failedSwitch(60_000, { toKey: keyA, message: 'boom' })),
      [],
    ],
    [
      'a switch refused because the key was unusable is retried as soon as the key passes pre-flight',
      workload(
        'ManagedFlink',
        failedSwitch(60_000, {
          toKey: keyA,
          message: 'KMSInvalidStateException: key is Disabled',
          failureCause: 'KeyUnusable',
        }),
      ),
      ['ChangeKey'],
    ],
    [
      '...but not while the key still fails pre-flight',
      workload(
        'ManagedFlink',
        preflightFails,
        failedSwitch(60_000, { toKey: keyA, failureCause: 'KeyUnusable' }),
      ),
      [],
    ],
    [
      'a switch that failed long ago is retried',
      workload('ManagedFlink', failedSwitch(failedSwitchRetryMs + 1, { toKey: keyA })),
      ['ChangeKey'],
    ],
  ] as const)('%s', (_name, input, expected) => {
    expect(types(input)).toEqual(expected);
  });
});

describe('planWorkload: rotation of a Flink key', () => {
  const onKey = aws({ encryption: cmk(keyA) });
  const recorded = (material: string) =>
    status({ current: { keyType: 'CustomerManaged', keyArn: keyA, keyMaterialId: material } });
  it.each([
    ['first sight records the current material', workload('ManagedFlink', onKey), [], 'True'],
    [
      'rotated material with Never: report only',
      workload('ManagedFlink', onKey, recorded('m0')),
      [],
      'False',
    ],
    [
      'rotated material with Auto: restart (stop, then start)',
      workload('ManagedFlink', onKey, recorded('m0'), spec({ restartAfterRotation: 'Auto' })),
      ['Stop'],
      'False',
    ],
    [
      'rotated material with Auto outside the window: wait',
      workload(
        'ManagedFlink',
        onKey,
        recorded('m0'),
        spec({ restartAfterRotation: 'Auto', maintenanceWindow: { start: '02:00', durationMinutes: 30 } }),
      ),
      [],
      'False',
    ],
    [
      'not running: the next start uses the current material',
      workload('ManagedFlink', onKey, recorded('m0'), aws({ running: false, awsState: 'READY' })),
      [],
      'True',
    ],
  ] as const)('%s', (_name, input, expected, materialCurrent) => {
    expect(types(input)).toEqual(expected);
    expect(cond(input, 'MaterialCurrent')?.status).toBe(materialCurrent);
  });

  it('records the material at first sight so a later rotation is noticed', () => {
    const plan = planWorkload(workload('ManagedFlink', onKey));
    expect((plan.status['current'] as { keyMaterialId?: string }).keyMaterialId).toBe('m1');
  });
});

describe('planWorkload: conditions', () => {
  it('an inaccessible Keyspaces table is reported at once with the date AWS deletes it', () => {
    const input = workload(
      'Keyspaces',
      aws({
        encryption: cmk(keyA),
        keyInaccessible: true,
        blocker: { kind: 'TableInaccessible' },
        settled: true,
      }),
    );
    const plan = planWorkload(input);
    const c = plan.conditions.find((x) => x.type === 'KeyAccessible');
    expect(c).toMatchObject({ status: 'False', reason: 'InaccessibleEncryptionCredentials' });
    expect(c?.message).toContain('2026-11-30T12:00:00.000Z');
    expect(plan.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'TableInaccessible' })]);
    expect(plan.status['deletionAfter']).toBe('2026-11-30T12:00:00.000Z');
  });

  it('keeps the first detection time across reconciles', () => {
    const since = '2026-11-20T00:00:00.000Z';
    const plan = planWorkload(
      workload('Keyspaces', aws({ keyInaccessible: true }), status({ inaccessibleSince: since })),
    );
    expect(plan.status['deletionAfter']).toBe('2026-11-27T00:00:00.000Z');
    expect(plan.events).toEqual([]);
  });

  it('Observe mode reports the drift and the plan', () => {
    const plan = planWorkload(workload('ManagedFlink', spec({ mode: 'Observe' })));
    expect(plan.conditions.find((c) => c.type === 'KeyCurrent')).toMatchObject({
      status: 'False',
      reason: 'Drift',
    });
    expect(plan.lines[0]).toContain(`to ${keyA}`);
    // Stalled, so kstatus (and Argo CD, Flux) see what Ready=False says: the operator will not fix it.
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'Drift' });
    expect(plan.outcome.kind === 'stalled' && plan.outcome.message).toContain('spec.mode: Enforce');
  });

  it('pre-flight failure names the missing permission and stalls', () => {
    const plan = planWorkload(workload('ManagedFlink', preflightFails));
    expect(plan.conditions.find((c) => c.type === 'KeyUsable')).toMatchObject({
      status: 'False',
      reason: 'KeyPolicyMissingPermission',
    });
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'KeyPolicyMissingPermission' });
  });

  it('a claim conflict is a Warning and Stalled', () => {
    const plan = planWorkload(workload('Keyspaces', aws({ tags: { 'cmk.io/owner': 'x/y/z' } })));
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'ClaimedByAnother' });
    expect(plan.events[0]).toMatchObject({ type: 'Warning', reason: 'ClaimConflict' });
  });

  it('a missing AWS resource stalls with a hint', () => {
    expect(planWorkload(workload('Keyspaces', notFound)).outcome).toMatchObject({
      kind: 'stalled',
      reason: 'ResourceNotFound',
    });
  });
});

describe('planWorkload: deletion', () => {
  it.each([
    [
      'Orphan releases the claim and the finalizer',
      workload('Keyspaces', deleting),
      ['Release', 'RemoveFinalizer'],
    ],
    [
      'RevertToAwsOwned switches back first',
      workload(
        'Keyspaces',
        deleting,
        aws({ encryption: cmk(keyA) }),
        spec({ deletionPolicy: 'RevertToAwsOwned' }),
      ),
      ['ChangeKey'],
    ],
    [
      'RevertToAwsOwned then releases once reverted',
      workload('Keyspaces', deleting, spec({ deletionPolicy: 'RevertToAwsOwned' })),
      ['Release', 'RemoveFinalizer'],
    ],
    [
      'RevertToAwsOwned waits while EMR runs',
      workload(
        'EmrServerless',
        deleting,
        aws({ encryption: cmk(keyA), blocker: { kind: 'ApplicationRunning', activeJobRunIds: [] } }),
        spec({ deletionPolicy: 'RevertToAwsOwned' }),
      ),
      [],
    ],
    [
      'a vanished resource releases the finalizer',
      workload('Keyspaces', deleting, notFound),
      ['RemoveFinalizer'],
    ],
    [
      'a resource claimed by another is not touched',
      workload('Keyspaces', deleting, aws({ tags: { 'cmk.io/owner': 'x/y/z' } })),
      ['RemoveFinalizer'],
    ],
    [
      'Observe mode only releases the finalizer',
      workload(
        'Keyspaces',
        deleting,
        spec({ mode: 'Observe', deletionPolicy: 'RevertToAwsOwned' }),
        aws({ encryption: cmk(keyA) }),
      ),
      ['RemoveFinalizer'],
    ],
  ] as const)('%s', (_name, input, expected) => {
    expect(types(input)).toEqual(expected);
  });
});

describe('maintenance windows', () => {
  const at = (iso: string) => Date.parse(iso);
  it.each([
    ['inside a daily window', '2026-11-23T02:30:00Z', { start: '02:00', durationMinutes: 60 }, true],
    ['after it', '2026-11-23T03:00:00Z', { start: '02:00', durationMinutes: 60 }, false],
    [
      'across midnight, after midnight',
      '2026-11-24T00:30:00Z',
      { start: '23:00', durationMinutes: 120 },
      true,
    ],
    [
      'on a day not listed (Monday)',
      '2026-11-23T02:30:00Z',
      { start: '02:00', durationMinutes: 60, days: ['Sat'] as const },
      false,
    ],
    [
      'across midnight from a listed day',
      '2026-11-22T00:30:00Z',
      { start: '23:00', durationMinutes: 120, days: ['Sat'] as const },
      true,
    ],
  ])('%s', (_n, t, w, expected) => {
    expect(inMaintenanceWindow(at(t), w as never)).toBe(expected);
  });
  it('finds the next opening', () => {
    expect(
      new Date(
        nextWindowOpening(at('2026-11-23T12:00:00Z'), {
          start: '02:00',
          durationMinutes: 60,
          days: ['Sat'],
        })!,
      ).toISOString(),
    ).toBe('2026-11-28T02:00:00.000Z');
  });
});

describe('planWorkload: the key being left (MSF-015)', () => {
  it('a failed check of the outgoing key blocks even a switch back to the AWS owned key', () => {
    const input = workload(
      'ManagedFlink',
      aws({ encryption: cmk(keyA), running: false, awsState: 'READY' }),
      wants(aok),
      (i) => ({
        ...i,
        preflight: { ok: false, reason: 'OutgoingKeyNotUsable', message: 'the key being left is disabled' },
      }),
    );
    expect(types(input)).toEqual([]);
    expect(cond(input, 'KeyUsable')).toMatchObject({ status: 'False', reason: 'OutgoingKeyNotUsable' });
  });
});

describe('planWorkload: EMR StopAndUpdate with cancelRunningJobs', () => {
  const started = aws({
    blocker: { kind: 'ApplicationRunning', activeJobRunIds: ['j1', 'j2'] },
    awsState: 'STARTED',
  });
  it('cancels the running jobs when told to', () => {
    const plan = planWorkload(
      workload('EmrServerless', spec({ whenStarted: 'StopAndUpdate', cancelRunningJobs: true }), started),
    );
    expect(plan.actions).toEqual([{ type: 'CancelJobRuns', jobRunIds: ['j1', 'j2'] }]);
  });
  it('waits for them otherwise', () => {
    expect(types(workload('EmrServerless', spec({ whenStarted: 'StopAndUpdate' }), started))).toEqual([]);
  });
  it('cancels only inside the maintenance window', () => {
    const input = workload(
      'EmrServerless',
      spec({
        whenStarted: 'StopAndUpdate',
        cancelRunningJobs: true,
        maintenanceWindow: { start: '02:00', durationMinutes: 30 },
      }),
      started,
    );
    expect(types(input)).toEqual([]);
  });
});

describe('planWorkload: configured but failed', () => {
  const failed = status({
    lastOperation: {
      id: 'op1',
      action: 'UpdateApplication',
      status: 'Failed',
      toKey: keyA,
      message: 'KMS key is Disabled',
    },
  });
  it('a failed Flink update that left the key configured is reported, not Ready', () => {
    const input = workload(
      'ManagedFlink',
      aws({
        encryption: cmk(keyA),
        running: false,
        awsState: 'READY',
        lastOperation: { id: 'op1', action: 'UpdateApplication', status: 'Failed' },
      }),
      failed,
    );
    expect(cond(input, 'KeyCurrent')).toMatchObject({ status: 'False', reason: 'SwitchFailed' });
    expect(planWorkload(input).outcome).toMatchObject({ kind: 'stalled', reason: 'SwitchFailed' });
  });
  it('a service without operations is judged by its state (Keyspaces ACTIVE on the key is done)', () => {
    expect(cond(workload('Keyspaces', aws({ encryption: cmk(keyA) }), failed), 'KeyCurrent')).toMatchObject({
      status: 'True',
    });
  });
  it('a later successful AWS operation clears it', () => {
    const input = workload(
      'ManagedFlink',
      aws({
        encryption: cmk(keyA),
        lastOperation: { id: 'op2', action: 'StartApplication', status: 'Succeeded' },
      }),
      failed,
    );
    expect(cond(input, 'KeyCurrent')).toMatchObject({ status: 'True' });
  });
});

describe('planWorkload: following a switch AWS is carrying out', () => {
  /** A Flink application configured with keyA and still UPDATING, our switch begun `ago` ms before. */
  const moving = (ago: number | undefined) =>
    workload(
      'ManagedFlink',
      aws({ settled: false, awsState: 'UPDATING', encryption: cmk(keyA) }),
      ago === undefined
        ? (i) => i
        : status({
            lastOperation: {
              action: 'UpdateApplication',
              status: 'InProgress',
              toKey: keyA,
              startTime: new Date(now - ago).toISOString(),
            },
          }),
    );

  it.each([
    ['just begun', 1_000, 5_000],
    ['20 s in', 20_000, 5_000],
    ['40 s in: a quarter of it', 40_000, 10_000],
    ['2 minutes in', 120_000, 30_000],
    ['an hour in: at most 30 s', 3_600_000, followSwitchMaxMs],
    ['a start time ahead of this clock', -60_000, 5_000],
    ['no switch of ours on record', undefined, 5_000],
  ])('%s: looks again after %s ms -> %s', (_n, ago, wait) => {
    const plan = planWorkload(moving(ago));
    expect(plan.actions).toEqual([]);
    expect(plan.outcome).toMatchObject({ kind: 'waiting', reason: 'Transitioning' });
    expect(plan.requeueAfterMs).toBe(wait);
  });

  it('a 3-minute switch is looked at 15 times (36 every 5 s), its end seen at most 30 s late', () => {
    let at = 5_000;
    let looks = 1;
    while (at < 180_000) {
      at += planWorkload(moving(at)).requeueAfterMs;
      looks++;
    }
    expect(looks).toBe(15);
    expect(at - 180_000).toBeLessThanOrEqual(followSwitchMaxMs);
  });
});
