// Table tests of each named step of the workload plan (src/reconcile/workload-plan.ts), run alone on a
// fresh draft: builders of small modifiers, one named case per line. A case's expectation reads
// `<verdict> [+Action...] [Condition=Status:Reason...]`, where the verdict is `next` (the step lets the
// next one decide), `continue` (it ends the plan with nothing to wait for), or `waiting:Reason` /
// `stalled:Reason` (it ends the plan so).

import { describe, expect, it } from 'vitest';
import {
  emrServerlessCapabilities,
  flinkCapabilities,
  keyspacesCapabilities,
} from '../../src/aws/capabilities.ts';
import type { ChangeBlocker, WorkloadCapabilities } from '../../src/aws/workload.ts';
import {
  deletionSteps,
  draftFor,
  failedSwitchRetryMs,
  materialSteps,
  type PlanStep,
  planContext,
  planWorkload,
  stopForChangeSteps,
  switchSteps,
  type WorkloadPlanInput,
  workloadPlanStepNames,
  workloadPlanSteps,
} from '../../src/reconcile/workload-plan.ts';
import { awsOwned as aok, cmk, keyA, keyB } from '../fixtures/keys.ts';
import {
  aws,
  deleting,
  failedSwitch,
  materialSince,
  materialSinceUnknown,
  noFinalizer,
  notFound,
  preflightFails,
  snapshotsDisabled,
  spec,
  startedAt,
  status,
  type WorkloadMod,
  wants,
  workload,
} from '../fixtures/workload-plan.ts';

type Mod = WorkloadMod;
/** A running Flink application on keyA, ours, wanting keyA, pre-flight passed: a settled plan. */
const input = (...mods: Mod[]): WorkloadPlanInput =>
  workload('ManagedFlink', aws({ encryption: cmk(keyA) }), ...mods);
const caps =
  (c: Partial<WorkloadCapabilities>): Mod =>
  (i) => ({ ...i, capabilities: { ...flinkCapabilities, ...i.capabilities, ...c } });
const blocked = (blocker: ChangeBlocker) => aws({ blocker });
const emrStarted = (...activeJobRunIds: string[]) =>
  aws({ blocker: { kind: 'ApplicationRunning', activeJobRunIds }, awsState: 'STARTED' });
const observe: Mod = spec({ mode: 'Observe' });
const awsError =
  (cause: 'AccessDenied' | 'InvalidSpec' | 'Throttled'): Mod =>
  (i) => ({ ...i, observed: { kind: 'error', failure: { cause, code: 'Code', message: 'no' } } });
const refused: Mod = (i) => ({ ...i, refusal: { reason: 'ResourceNotAllowed', message: 'not here' } });
const otherOwner = aws({ tags: { 'cmk.io/owner': 'x/y/z' } });
const untagged = aws({ tags: {} });
const unsettled = aws({ settled: false, awsState: 'UPDATING' });
const stopped = aws({ running: false, awsState: 'READY' });
const unresolved =
  (terminal: boolean): Mod =>
  (i) => ({
    ...i,
    desired: { kind: 'unresolved', reason: 'KmsKeyNotReady', message: 'not Ready', terminal },
  });
const outsideWindow = spec({ maintenanceWindow: { start: '02:00', durationMinutes: 60 } });
const insideWindow = spec({ maintenanceWindow: { start: '11:30', durationMinutes: 60 } });
const recorded = (keyMaterialId: string) =>
  status({ current: { keyType: 'CustomerManaged', keyArn: keyA, keyMaterialId } });

// ---- running one step ----------------------------------------------------------------------------

/** Runs the step `name` of `chain` alone on a fresh draft and summarises what it did. */
function verdict(chain: readonly PlanStep[], name: string, i: WorkloadPlanInput): string {
  const found = chain.find((s) => s.name === name);
  if (!found) throw new Error(`no step ${name}`);
  const plan = draftFor(i);
  const end = found.run(planContext(i), plan);
  const head = !end
    ? 'next'
    : end.outcome.kind === 'continue'
      ? 'continue'
      : `${end.outcome.kind}:${end.outcome.reason}`;
  return [
    head,
    ...plan.actions.map((a) => `+${a.type}`),
    ...plan.conditions.map((c) => `${c.type}=${c.status}:${c.reason}`),
  ].join(' ');
}

type Case = readonly [name: string, step: string, input: WorkloadPlanInput, expected: string];
const table = (chain: readonly PlanStep[], cases: readonly Case[]) =>
  it.each(cases)('%s', (_name, step, i, expected) => {
    expect(verdict(chain, step, i)).toBe(expected);
  });

// ---- the chains ----------------------------------------------------------------------------------

describe('the chains, in order', () => {
  it.each([
    [
      'workloadPlanSteps',
      workloadPlanStepNames,
      'deletion finalizer tenancyRefusal keyUsable resourceReadable claim keyAccessibility desiredResolved switchWhenOffKey failedInAws settledOnKey keyStillServes pendingStart material',
    ],
    [
      'deletionSteps',
      deletionSteps.map((s) => s.name),
      'noFinalizer deletionUnread notOursToTouch revertToAwsOwned release',
    ],
    [
      'switchSteps',
      switchSteps.map((s) => s.name),
      'observeOnly preflight settled recentFailure blocker maintenanceWindow change',
    ],
    [
      'stopForChangeSteps',
      stopForChangeSteps.map((s) => s.name),
      'waitForStop cancelJobs waitForJobs stopWindow stop',
    ],
    [
      'materialSteps',
      materialSteps.map((s) => s.name),
      'recordCurrentMaterial materialUnknown keepStateWithoutSnapshots restartAfterRotation restartPending materialCurrent',
    ],
  ] as const)('%s', (_chain, names, expected) => {
    expect(names.join(' ')).toBe(expected);
  });
});

describe('workloadPlanSteps', () => {
  // biome-ignore format: one named case per line
  table(workloadPlanSteps, [
    ['deletion: not deleting, next', 'deletion', input(), 'next'],
    ['deletion: deleting always ends', 'deletion', input(deleting), 'continue +Release +RemoveFinalizer'],
    ['finalizer: present, next', 'finalizer', input(), 'next'],
    ['finalizer: missing is added first', 'finalizer', input(noFinalizer), 'next +AddFinalizer'],
    ['tenancyRefusal: allowed, next', 'tenancyRefusal', input(), 'next'],
    ['tenancyRefusal: refused stalls', 'tenancyRefusal', input(refused), 'stalled:ResourceNotAllowed KeyCurrent=Unknown:ResourceNotAllowed'],
    ['keyUsable: a CMK that passes pre-flight', 'keyUsable', input(), 'next KeyUsable=True:PreflightPassed'],
    ['keyUsable: the AWS owned key', 'keyUsable', input(wants(aok)), 'next KeyUsable=True:AwsOwnedKey'],
    ['keyUsable: pre-flight failed', 'keyUsable', input(preflightFails), 'next KeyUsable=False:KeyPolicyMissingPermission'],
    ['keyUsable: the key does not resolve', 'keyUsable', input(unresolved(false)), 'next KeyUsable=False:KmsKeyNotReady'],
    ['resourceReadable: found, next', 'resourceReadable', input(), 'next'],
    ['resourceReadable: not found stalls', 'resourceReadable', input(notFound), 'stalled:ResourceNotFound KeyCurrent=Unknown:ResourceNotFound'],
    ['resourceReadable: access denied stalls', 'resourceReadable', input(awsError('AccessDenied')), 'stalled:AccessDenied KeyCurrent=Unknown:AccessDenied'],
    ['resourceReadable: a rejected read stalls', 'resourceReadable', input(awsError('InvalidSpec')), 'stalled:AwsRejected KeyCurrent=Unknown:AwsUnavailable'],
    ['resourceReadable: throttled waits', 'resourceReadable', input(awsError('Throttled')), 'waiting:AwsUnavailable KeyCurrent=Unknown:AwsUnavailable'],
    ['claim: ours, next', 'claim', input(), 'next'],
    ['claim: unclaimed is claimed', 'claim', input(untagged), 'next +Claim'],
    ['claim: unclaimed in Observe mode is left alone', 'claim', input(untagged, observe), 'next'],
    ['claim: claimed by another stalls', 'claim', input(otherOwner), 'stalled:ClaimedByAnother KeyCurrent=Unknown:ClaimedByAnother'],
    ['keyAccessibility: a service without the report says nothing', 'keyAccessibility', input(), 'next'],
    ['keyAccessibility: a service with it reports Accessible', 'keyAccessibility', input(caps(keyspacesCapabilities)), 'next KeyAccessible=True:Accessible'],
    ['keyAccessibility: inaccessible is reported at once', 'keyAccessibility', input(aws({ keyInaccessible: true })), 'next KeyAccessible=False:InaccessibleEncryptionCredentials'],
    ['desiredResolved: resolved, next', 'desiredResolved', input(), 'next'],
    ['desiredResolved: unresolved waits', 'desiredResolved', input(unresolved(false)), 'waiting:KmsKeyNotReady KeyCurrent=Unknown:KmsKeyNotReady'],
    ['desiredResolved: unresolvable stalls', 'desiredResolved', input(unresolved(true)), 'stalled:KmsKeyNotReady KeyCurrent=Unknown:KmsKeyNotReady'],
    ['switchWhenOffKey: on the key, next', 'switchWhenOffKey', input(), 'next'],
    ['switchWhenOffKey: off the key, the switch chain ends the plan', 'switchWhenOffKey', input(wants(cmk(keyB)), stopped), 'continue +ChangeKey KeyCurrent=False:Switching'],
    ['switchWhenOffKey: a context change counts where the service compares it', 'switchWhenOffKey', input(stopped, caps(emrServerlessCapabilities), wants(cmk(keyA, { team: 'b' }))), 'continue +ChangeKey KeyCurrent=False:Switching'],
    ['switchWhenOffKey: ...and not where it does not', 'switchWhenOffKey', input(stopped, wants(cmk(keyA, { team: 'b' }))), 'next'],
    ['failedInAws: no failed operation, next', 'failedInAws', input(), 'next'],
    ['failedInAws: AWS still reports the failed switch', 'failedInAws', input( failedSwitch(60_000, { id: 'op1', toKey: keyA }), aws({ lastOperation: { id: 'op1', action: 'UpdateApplication', status: 'Failed' } }), ), 'stalled:SwitchFailed KeyCurrent=False:SwitchFailed'],
    ['failedInAws: a later AWS operation clears it', 'failedInAws', input( failedSwitch(60_000, { id: 'op1', toKey: keyA }), aws({ lastOperation: { id: 'op2', action: 'StartApplication', status: 'Succeeded' } }), ), 'next'],
    ['settledOnKey: settled is current', 'settledOnKey', input(), 'next KeyCurrent=True:OnDesiredKey'],
    ['settledOnKey: configured while AWS moves, waits', 'settledOnKey', input(unsettled), 'waiting:Transitioning KeyCurrent=True:OnDesiredKey'],
    ['keyStillServes: on a key that passes, next', 'keyStillServes', input(), 'next'],
    ['keyStillServes: on a key whose policy shuts the service out, a person must act', 'keyStillServes', input(preflightFails), 'stalled:KeyPolicyMissingPermission'],
    ['pendingStart: none, next', 'pendingStart', input(stopped), 'next'],
    ['pendingStart: stopped by us is started again', 'pendingStart', input(stopped, status({ pendingStart: true })), 'continue +Start'],
    ['pendingStart: already running again, next', 'pendingStart', input(status({ pendingStart: true })), 'next'],
    ['pendingStart: Observe mode does not start', 'pendingStart', input(stopped, observe, status({ pendingStart: true })), 'next'],
    ['material: a service that keeps material until restart reports it', 'material', input(), 'next MaterialCurrent=True:CurrentMaterial'],
    ['material: a service that does not, says nothing', 'material', input(caps({ keepsMaterialUntilRestart: false })), 'next'],
    ['material: the AWS owned key has no material to track', 'material', input(wants(aok), aws({ encryption: aok })), 'next'],
  ]);
});

describe('deletionSteps', () => {
  // biome-ignore format: one named case per line
  table(deletionSteps, [
    ['noFinalizer: our finalizer is gone, nothing to clean up', 'noFinalizer', input(deleting, noFinalizer), 'continue'],
    ['noFinalizer: present, next', 'noFinalizer', input(deleting), 'next'],
    ['deletionUnread: AWS did not answer, wait', 'deletionUnread', input(deleting, awsError('Throttled')), 'waiting:AwsUnavailable'],
    ['deletionUnread: read, next', 'deletionUnread', input(deleting), 'next'],
    ['notOursToTouch: gone', 'notOursToTouch', input(deleting, notFound), 'continue +RemoveFinalizer'],
    ["notOursToTouch: another's", 'notOursToTouch', input(deleting, otherOwner), 'continue +RemoveFinalizer'],
    ['notOursToTouch: Observe mode', 'notOursToTouch', input(deleting, observe), 'continue +RemoveFinalizer'],
    ['notOursToTouch: refused', 'notOursToTouch', input(deleting, refused), 'continue +RemoveFinalizer'],
    ['notOursToTouch: ours, next', 'notOursToTouch', input(deleting), 'next'],
    ['revertToAwsOwned: Orphan, next', 'revertToAwsOwned', input(deleting), 'next'],
    ['revertToAwsOwned: already AWS owned, next', 'revertToAwsOwned', input(deleting, spec({ deletionPolicy: 'RevertToAwsOwned' }), aws({ encryption: aok })), 'next'],
    ['revertToAwsOwned: switches back', 'revertToAwsOwned', input(deleting, spec({ deletionPolicy: 'RevertToAwsOwned' })), 'continue +ChangeKey'],
    ['revertToAwsOwned: waits while AWS moves', 'revertToAwsOwned', input(deleting, spec({ deletionPolicy: 'RevertToAwsOwned' }), unsettled), 'waiting:Transitioning'],
    ['revertToAwsOwned: waits on a blocker, named', 'revertToAwsOwned', input(deleting, spec({ deletionPolicy: 'RevertToAwsOwned' }), emrStarted()), 'waiting:ApplicationRunning'],
    ['release: removes our claim, then the finalizer', 'release', input(deleting), 'continue +Release +RemoveFinalizer'],
    ['release: an unclaimed resource, only the finalizer', 'release', input(deleting, untagged), 'continue +RemoveFinalizer'],
    ['release: waits while AWS moves', 'release', input(deleting, unsettled), 'waiting:Transitioning'],
  ]);
});

describe('switchSteps', () => {
  const off = wants(cmk(keyB));
  // biome-ignore format: one named case per line
  table(switchSteps, [
    ['observeOnly: Enforce, next', 'observeOnly', input(off), 'next'],
    ['observeOnly: Observe mode reports the drift as Stalled', 'observeOnly', input(off, observe), 'stalled:Drift KeyCurrent=False:Drift'],
    ['preflight: passed, next', 'preflight', input(off), 'next'],
    ['preflight: failed, never switches', 'preflight', input(off, preflightFails), 'stalled:KeyPolicyMissingPermission KeyCurrent=False:PreflightFailed'],
    ['settled: at rest, next', 'settled', input(off), 'next'],
    ['settled: AWS moves, wait', 'settled', input(off, unsettled), 'waiting:Transitioning KeyCurrent=False:Transitioning'],
    ['recentFailure: none, next', 'recentFailure', input(off), 'next'],
    ['recentFailure: the same switch failed a minute ago, hold off', 'recentFailure', input(off, failedSwitch(60_000)), 'stalled:SwitchFailed KeyCurrent=False:SwitchFailed'],
    ['recentFailure: it failed long ago, try again', 'recentFailure', input(off, failedSwitch(failedSwitchRetryMs + 1)), 'next'],
    ['recentFailure: refused for an unusable key that passes now, try again', 'recentFailure', input(off, failedSwitch(60_000, { failureCause: 'KeyUnusable' })), 'next'],
    ['recentFailure: a failed switch to another key does not hold this one', 'recentFailure', input(off, failedSwitch(60_000, { toKey: keyA })), 'next'],
    ['blocker: none, next', 'blocker', input(off), 'next'],
    ['blocker: Transitioning waits, named', 'blocker', input(off, blocked({ kind: 'Transitioning' })), 'waiting:Transitioning KeyCurrent=False:Transitioning'],
    ['blocker: RolledBack waits, named', 'blocker', input(off, blocked({ kind: 'RolledBack' })), 'waiting:RolledBack KeyCurrent=False:RolledBack'],
    ['blocker: Terminated waits, named', 'blocker', input(off, blocked({ kind: 'Terminated' })), 'waiting:Terminated KeyCurrent=False:Terminated'],
    ['blocker: TableInaccessible waits, named', 'blocker', input(off, blocked({ kind: 'TableInaccessible' })), 'waiting:TableInaccessible KeyCurrent=False:TableInaccessible'],
    ['blocker: ApplicationRunning runs the stop chain', 'blocker', input(off, emrStarted()), 'waiting:WaitingForApplicationStop KeyCurrent=False:WaitingForApplicationStop'],
    ['maintenanceWindow: a restarting change outside the window waits', 'maintenanceWindow', input(off, outsideWindow), 'waiting:WaitingForMaintenanceWindow KeyCurrent=False:WaitingForMaintenanceWindow'],
    ['maintenanceWindow: inside the window, next', 'maintenanceWindow', input(off, insideWindow), 'next'],
    ['maintenanceWindow: not running, next', 'maintenanceWindow', input(off, outsideWindow, stopped), 'next'],
    ['maintenanceWindow: a change that restarts nothing, next', 'maintenanceWindow', input(off, outsideWindow, caps({ changeRestartsRunning: false })), 'next'],
    ['change: switches', 'change', input(off), 'continue +ChangeKey KeyCurrent=False:Switching'],
  ]);
});

describe('stopForChangeSteps', () => {
  const emr = (...mods: Mod[]) =>
    input(caps(emrServerlessCapabilities), wants(cmk(keyB)), spec({ whenStarted: 'StopAndUpdate' }), ...mods);
  // biome-ignore format: one named case per line
  table(stopForChangeSteps, [
    ['waitForStop: whenStarted Wait waits for the application to stop', 'waitForStop', emr(emrStarted(), spec({ whenStarted: 'Wait' })), 'waiting:WaitingForApplicationStop KeyCurrent=False:WaitingForApplicationStop'],
    ['waitForStop: StopAndUpdate, next', 'waitForStop', emr(emrStarted()), 'next'],
    ['cancelJobs: asked to, cancels them', 'cancelJobs', emr(emrStarted('j1', 'j2'), spec({ cancelRunningJobs: true })), 'continue +CancelJobRuns KeyCurrent=False:CancellingJobs'],
    ['cancelJobs: ...inside the maintenance window only', 'cancelJobs', emr(emrStarted('j1'), spec({ cancelRunningJobs: true }), outsideWindow), 'waiting:WaitingForMaintenanceWindow KeyCurrent=False:WaitingForMaintenanceWindow'],
    ['cancelJobs: not asked to, next', 'cancelJobs', emr(emrStarted('j1')), 'next'],
    ['cancelJobs: no jobs, next', 'cancelJobs', emr(emrStarted(), spec({ cancelRunningJobs: true })), 'next'],
    ['waitForJobs: jobs run, wait for them', 'waitForJobs', emr(emrStarted('j1')), 'waiting:WaitingForJobs KeyCurrent=False:WaitingForJobs'],
    ['waitForJobs: none, next', 'waitForJobs', emr(emrStarted()), 'next'],
    ['stopWindow: outside the window, wait', 'stopWindow', emr(emrStarted(), outsideWindow), 'waiting:WaitingForMaintenanceWindow KeyCurrent=False:WaitingForMaintenanceWindow'],
    ['stopWindow: inside, next', 'stopWindow', emr(emrStarted(), insideWindow), 'next'],
    ['stop: stops the application', 'stop', emr(emrStarted()), 'continue +Stop KeyCurrent=False:Stopping'],
  ]);
});

describe('materialSteps', () => {
  // The key's current material m1 became current at `rotation`; the application started before or after it.
  const rotation = '2026-11-20T08:00:00.000Z';
  const rotated = materialSince(rotation);
  const startedBefore = startedAt('2026-11-19T08:00:00.000Z');
  const startedAfter = startedAt('2026-11-21T08:00:00.000Z');
  const auto = spec({ restartAfterRotation: 'Auto' });
  const mayLoseState = spec({ restartWithoutSnapshots: true });
  // biome-ignore format: one named case per line
  table(materialSteps, [
    ['recordCurrentMaterial: never ends the plan', 'recordCurrentMaterial', input(), 'next'],
    ['materialUnknown: the dates were read, next', 'materialUnknown', input(startedBefore, rotated), 'next'],
    ['materialUnknown: the rotation date could not be read at first sight: Unknown, read again', 'materialUnknown', input(startedBefore, materialSinceUnknown), 'continue MaterialCurrent=Unknown:MaterialUnknown'],
    ['materialUnknown: ...with a recorded material, the ids decide, next', 'materialUnknown', input(recorded('m0'), startedBefore, materialSinceUnknown), 'next'],
    ['restartAfterRotation: recorded material rotated, Auto restarts (no start time: the ids decide)', 'restartAfterRotation', input(recorded('m0'), auto), 'continue +Stop MaterialCurrent=False:Restarting'],
    ['restartAfterRotation: a rotation before first sight, Auto restarts', 'restartAfterRotation', input(startedBefore, rotated, auto), 'continue +Stop MaterialCurrent=False:Restarting'],
    ['restartAfterRotation: started at the very moment of the rotation counts as before it', 'restartAfterRotation', input(startedAt(rotation), rotated, auto), 'continue +Stop MaterialCurrent=False:Restarting'],
    ['restartAfterRotation: restarted by someone else after the rotation, next', 'restartAfterRotation', input(recorded('m0'), startedAfter, rotated, auto), 'next'],
    ['restartAfterRotation: the key never rotated, next', 'restartAfterRotation', input(startedBefore, materialSince('original'), auto), 'next'],
    ['restartAfterRotation: no start time, not recorded: taken as current at first sight, next', 'restartAfterRotation', input(rotated, auto), 'next'],
    ['restartAfterRotation: the read failed, recorded material rotated: the ids decide, restart', 'restartAfterRotation', input(recorded('m0'), startedBefore, materialSinceUnknown, auto), 'continue +Stop MaterialCurrent=False:Restarting'],
    ['restartAfterRotation: ...inside the maintenance window only', 'restartAfterRotation', input(startedBefore, rotated, auto, outsideWindow), 'waiting:WaitingForMaintenanceWindow MaterialCurrent=False:WaitingForMaintenanceWindow'],
    ['restartAfterRotation: Never, next', 'restartAfterRotation', input(recorded('m0')), 'next'],
    ['restartAfterRotation: Observe mode, next', 'restartAfterRotation', input(recorded('m0'), observe, auto), 'next'],
    ['restartAfterRotation: not rotated, next', 'restartAfterRotation', input(recorded('m1'), auto), 'next'],
    ['restartAfterRotation: snapshots disabled but restartWithoutSnapshots: true restarts', 'restartAfterRotation', input(startedBefore, rotated, auto, snapshotsDisabled, mayLoseState), 'continue +Stop MaterialCurrent=False:Restarting'],
    ['keepStateWithoutSnapshots: snapshots disabled, Auto: reported pending, never restarted', 'keepStateWithoutSnapshots', input(startedBefore, rotated, auto, snapshotsDisabled), 'continue MaterialCurrent=False:SnapshotsDisabled'],
    ['keepStateWithoutSnapshots: ...unless restartWithoutSnapshots: true, next', 'keepStateWithoutSnapshots', input(startedBefore, rotated, auto, snapshotsDisabled, mayLoseState), 'next'],
    ['keepStateWithoutSnapshots: snapshots enabled, next', 'keepStateWithoutSnapshots', input(startedBefore, rotated, auto), 'next'],
    ['keepStateWithoutSnapshots: Never reports as usual, next', 'keepStateWithoutSnapshots', input(startedBefore, rotated, snapshotsDisabled), 'next'],
    ['keepStateWithoutSnapshots: not rotated, next', 'keepStateWithoutSnapshots', input(startedAfter, rotated, auto, snapshotsDisabled), 'next'],
    ['restartPending: rotated reports the pending restart', 'restartPending', input(recorded('m0')), 'continue MaterialCurrent=False:RestartPending'],
    ['restartPending: a rotation before first sight is reported', 'restartPending', input(startedBefore, rotated), 'continue MaterialCurrent=False:RestartPending'],
    ['restartPending: restarted by someone else after the rotation, next', 'restartPending', input(recorded('m0'), startedAfter, rotated), 'next'],
    ['restartPending: not rotated, next', 'restartPending', input(recorded('m1')), 'next'],
    ['restartPending: not running, next', 'restartPending', input(recorded('m0'), stopped), 'next'],
    ['materialCurrent: running on the current material', 'materialCurrent', input(recorded('m1')), 'next MaterialCurrent=True:CurrentMaterial'],
    ['materialCurrent: not running, the next start uses it', 'materialCurrent', input(stopped), 'next MaterialCurrent=True:NotRunning'],
  ]);

  /** The material recordCurrentMaterial leaves in status.current, if any. */
  function recordedBy(i: WorkloadPlanInput): string | undefined {
    const plan = draftFor(i);
    materialSteps.find((s) => s.name === 'recordCurrentMaterial')!.run(planContext(i), plan);
    return (plan.status['current'] as { keyMaterialId?: string }).keyMaterialId;
  }

  // biome-ignore format: one named case per line
  it.each([
    ['first sight without a start time: taken as current (the fallback)', input(), 'm1'],
    ['started after the rotation', input(startedAfter, rotated), 'm1'],
    ['restarted by someone else after the rotation: the record moves on', input(recorded('m0'), startedAfter, rotated), 'm1'],
    ['the key never rotated', input(startedBefore, materialSince('original')), 'm1'],
    ['started before the rotation: nothing recorded', input(startedBefore, rotated), undefined],
    ['the read failed at first sight: nothing recorded', input(startedBefore, materialSinceUnknown), undefined],
    ['recorded and rotated since, no start time: the old record stays', input(recorded('m0')), 'm0'],
    ['not running: nothing recorded', input(stopped, startedAfter, rotated), undefined],
  ] as const)('recordCurrentMaterial: %s', (_name, i, expected) => {
    expect(recordedBy(i)).toBe(expected);
  });

  it('with snapshots disabled the condition names the setting and the fix', () => {
    const plan = planWorkload(input(startedBefore, rotated, auto, snapshotsDisabled));
    expect(plan.actions).toEqual([]);
    expect(plan.status['restartPending']).toBe(true);
    const material = plan.conditions.find((c) => c.type === 'MaterialCurrent');
    expect(material?.message).toContain('spec.restartWithoutSnapshots: true');
    expect(material?.message).toContain('snapshots are disabled');
  });

  it('a restart decided by dates says when the application started and when the key rotated', () => {
    const plan = planWorkload(input(startedBefore, rotated, auto));
    expect(plan.actions).toEqual([{ type: 'Stop', why: 'restart to pick up rotated key material' }]);
    const material = plan.conditions.find((c) => c.type === 'MaterialCurrent');
    expect(material?.message).toContain(rotation);
    expect(material?.message).toContain('2026-11-19T08:00:00.000Z');
  });
});

describe('capabilities, not the service name', () => {
  it('the plan follows the declared capabilities whatever the service says', () => {
    const asKeyspaces = (i: WorkloadPlanInput): WorkloadPlanInput => ({ ...i, service: 'Keyspaces' });
    const a = planWorkload(input(wants(cmk(keyB)), outsideWindow));
    const b = planWorkload(input(wants(cmk(keyB)), outsideWindow, asKeyspaces));
    expect(b).toEqual(a);
    expect(a.outcome).toMatchObject({ kind: 'waiting', reason: 'WaitingForMaintenanceWindow' });
  });

  it("without capabilities, the service's declared ones apply", () => {
    const { capabilities: _, ...bare } = input(wants(cmk(keyB)), outsideWindow);
    expect(planWorkload(bare)).toEqual(planWorkload(input(wants(cmk(keyB)), outsideWindow)));
  });
});
