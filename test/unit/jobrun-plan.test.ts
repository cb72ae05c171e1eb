// Table tests of the EmrServerlessJobRun decision: builders of small modifiers, one named case per
// line, and a property test that no input ever plans a second submission or one on a failing key.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JobRunView } from '../../src/aws/emr-serverless.ts';
import type { EncryptionSetting } from '../../src/aws/workload.ts';
import {
  clientTokenFor,
  type JobRunPlan,
  type JobRunPlanInput,
  planJobRun,
} from '../../src/reconcile/jobrun-plan.ts';
import { cmk, keyA } from '../fixtures/keys.ts';

const uid = '6f1c1b2e-0000-4000-8000-000000000001';
const appId = '00fabc123def4567';
const now = Date.UTC(2026, 10, 23, 12, 0, 0);

type Mod = (i: JobRunPlanInput) => JobRunPlanInput;
function jobRun(...mods: Mod[]): JobRunPlanInput {
  const base: JobRunPlanInput = {
    now,
    uid,
    deleting: false,
    hasFinalizer: false,
    cancelOnDelete: false,
    status: undefined,
    application: { kind: 'resolved', applicationId: appId },
    keySource: 'application',
    desired: { kind: 'resolved', setting: cmk(keyA) },
    preflight: { ok: true },
    observed: { kind: 'notRead' },
  };
  return mods.reduce((i, m) => m(i), base);
}
const run = (state: string, stateDetails?: string): JobRunView => ({
  jobRunId: 'jr1',
  arn: `arn:aws:emr-serverless:us-east-1:111122223333:/applications/${appId}/jobruns/jr1`,
  state,
  ...(stateDetails ? { stateDetails } : {}),
  finished: ['SUCCESS', 'FAILED', 'CANCELLED'].includes(state),
});
const submitted =
  (state = 'SUBMITTED'): Mod =>
  (i) => ({
    ...i,
    status: { jobRunId: 'jr1', applicationId: appId, state, clientToken: clientTokenFor(uid), keyArn: keyA },
  });
const aws =
  (state: string, details?: string): Mod =>
  (i) => ({ ...i, observed: { kind: 'found', run: run(state, details) } });
const own: Mod = (i) => ({ ...i, keySource: 'job' });
const wants =
  (setting: EncryptionSetting): Mod =>
  (i) => ({ ...i, desired: { kind: 'resolved', setting } });
const keyDisabled: Mod = (i) => ({
  ...i,
  preflight: { ok: false, reason: 'KeyDisabled', message: `key ${keyA} is Disabled: enable it` },
});
const keyNotReady: Mod = (i) => ({
  ...i,
  desired: {
    kind: 'unresolved',
    reason: 'KmsKeyNotReady',
    message: 'KmsKey ns/k is not usable yet',
    terminal: false,
  },
});
const notGranted: Mod = (i) => ({
  ...i,
  desired: { kind: 'unresolved', reason: 'ReferenceNotGranted', message: 'no grant', terminal: true },
});
const noApplication: Mod = (i) => ({
  ...i,
  application: { kind: 'unresolved', reason: 'ApplicationNotFound', message: 'missing', terminal: false },
});
const cancelOnDelete: Mod = (i) => ({ ...i, cancelOnDelete: true });
const withFinalizer: Mod = (i) => ({ ...i, hasFinalizer: true });
const deleting: Mod = (i) => ({ ...i, deleting: true });
const awsError: Mod = (i) => ({
  ...i,
  observed: {
    kind: 'error',
    failure: { cause: 'Transient', code: 'InternalServerException', message: 'boom' },
  },
});

const types = (p: JobRunPlan) => p.actions.map((a) => a.type);
const cond = (p: JobRunPlan, type: string) => p.conditions.find((c) => c.type === type);

describe('before submission', () => {
  it.each<[string, Mod[], string[], string]>([
    ['submits on the resolved key', [], ['Submit'], 'continue'],
    [
      'adds the finalizer before submitting when cancel-on-delete is set',
      [cancelOnDelete],
      ['AddFinalizer', 'Submit'],
      'continue',
    ],
    ['refuses a key that fails pre-flight', [keyDisabled], [], 'stalled'],
    ['waits for a KmsKey that is not ready', [keyNotReady], [], 'waiting'],
    ['stalls on a reference without a grant', [notGranted], [], 'stalled'],
    ['waits for its application object', [noApplication], [], 'waiting'],
    [
      'never submits while deleting',
      [deleting, withFinalizer, cancelOnDelete],
      ['RemoveFinalizer'],
      'continue',
    ],
  ])('%s', (_name, mods, actions, outcome) => {
    const plan = planJobRun(jobRun(...mods));
    expect(types(plan)).toEqual(actions);
    expect(plan.outcome.kind).toBe(outcome);
  });

  it('submits with the clientToken derived from the UID and records the key as intent', () => {
    const plan = planJobRun(jobRun(wants(cmk(keyA, { team: 'etl' }))));
    expect(plan.actions).toEqual([
      {
        type: 'Submit',
        applicationId: appId,
        clientToken: `cmk-${uid}`,
        setting: cmk(keyA, { team: 'etl' }),
      },
    ]);
    expect(plan.status).toMatchObject({ applicationId: appId, keyArn: keyA, clientToken: `cmk-${uid}` });
    expect(plan.reconciling?.reason).toBe('Submitting');
    expect(cond(plan, 'KeyUsable')).toMatchObject({ status: 'True', reason: 'PreflightPassed' });
    expect(cond(plan, 'KeyUsable')?.message).toContain("its application's key");
  });

  it('keeps a recorded clientToken', () => {
    const plan = planJobRun(jobRun((i) => ({ ...i, status: { clientToken: 'cmk-older' } })));
    expect(plan.actions).toEqual([expect.objectContaining({ type: 'Submit', clientToken: 'cmk-older' })]);
  });

  it('names the key in the refusal', () => {
    const plan = planJobRun(jobRun(own, keyDisabled));
    expect(cond(plan, 'KeyUsable')).toMatchObject({ status: 'False', reason: 'KeyDisabled' });
    expect(cond(plan, 'KeyUsable')?.message).toContain(keyA);
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'KeyDisabled' });
  });

  it('submits without an override for the AWS owned key, saying the job inherits', () => {
    const plan = planJobRun(jobRun(wants({ type: 'AwsOwned' }), (i) => ({ ...i, preflight: undefined })));
    expect(plan.actions).toEqual([
      expect.objectContaining({ type: 'Submit', setting: { type: 'AwsOwned' } }),
    ]);
    expect(plan.status.keyArn).toBe('AWS_OWNED');
    expect(cond(plan, 'KeyUsable')?.reason).toBe('AwsOwnedKey');
  });

  it('records no key when neither the job nor an application object names one', () => {
    const plan = planJobRun(
      jobRun((i) => ({
        ...i,
        keySource: 'none',
        desired: { kind: 'resolved', setting: { type: 'AwsOwned' } },
      })),
    );
    expect(plan.status.keyArn).toBeUndefined();
    expect(cond(plan, 'KeyUsable')?.reason).toBe('ApplicationConfiguration');
  });
});

describe('after submission', () => {
  it.each<[string, Mod[], string, string | undefined, number]>([
    ['SUBMITTED polls fast', [submitted(), aws('SUBMITTED')], 'continue', 'Submitted', 5_000],
    ['SCHEDULED polls fast', [submitted(), aws('SCHEDULED')], 'continue', 'Scheduled', 5_000],
    ['RUNNING polls fast', [submitted(), aws('RUNNING')], 'continue', 'Running', 5_000],
    ['CANCELLING polls fast', [submitted('RUNNING'), aws('CANCELLING')], 'continue', 'Cancelling', 5_000],
    ['an unknown state polls fast', [submitted(), aws('WARMING_UP')], 'continue', 'WarmingUp', 5_000],
    ['SUCCESS settles', [submitted('RUNNING'), aws('SUCCESS')], 'continue', undefined, 600_000],
    ['FAILED stalls', [submitted('RUNNING'), aws('FAILED', 'key disabled')], 'stalled', undefined, 600_000],
    ['CANCELLED stalls', [submitted('RUNNING'), aws('CANCELLED')], 'stalled', undefined, 600_000],
    ['a read error waits', [submitted(), awsError], 'waiting', undefined, 5_000],
  ])('%s', (_name, mods, outcome, reconciling, requeue) => {
    const plan = planJobRun(jobRun(...mods));
    expect(plan.actions).toEqual([]);
    expect(plan.outcome.kind).toBe(outcome);
    expect(plan.reconciling?.reason).toBe(reconciling);
    expect(plan.requeueAfterMs).toBe(requeue);
  });

  it('never submits again, whatever the key does now', () => {
    const plan = planJobRun(jobRun(submitted('RUNNING'), aws('RUNNING'), keyDisabled));
    expect(types(plan)).toEqual([]);
  });

  it('reports SUCCESS once as an event and as Succeeded=True', () => {
    const plan = planJobRun(jobRun(submitted('RUNNING'), aws('SUCCESS')));
    expect(cond(plan, 'Succeeded')).toMatchObject({ status: 'True', reason: 'JobSucceeded' });
    expect(plan.events.map((e) => e.reason)).toEqual(['JobSucceeded']);
    expect(plan.status.state).toBe('SUCCESS');
  });

  it('reports a failure with AWS stateDetails', () => {
    const plan = planJobRun(jobRun(submitted('RUNNING'), aws('FAILED', 'KMS key is Disabled')));
    expect(cond(plan, 'Succeeded')).toMatchObject({ status: 'False', reason: 'JobFailed' });
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'JobFailed' });
    expect(plan.outcome.kind === 'stalled' && plan.outcome.message).toContain('KMS key is Disabled');
    expect(plan.status.stateDetails).toBe('KMS key is Disabled');
    expect(plan.events.map((e) => e.type)).toEqual(['Warning']);
  });

  it('reproduces a recorded outcome without reading AWS, and without a new event', () => {
    const plan = planJobRun(jobRun(submitted('SUCCESS')));
    expect(cond(plan, 'Succeeded')).toMatchObject({ status: 'True', reason: 'JobSucceeded' });
    expect(plan.events).toEqual([]);
  });

  it('stalls when the run disappeared', () => {
    const plan = planJobRun(jobRun(submitted(), (i) => ({ ...i, observed: { kind: 'notFound' } })));
    expect(plan.outcome).toMatchObject({ kind: 'stalled', reason: 'JobRunNotFound' });
  });

  it('drops the finalizer once the run finished', () => {
    const plan = planJobRun(jobRun(submitted('RUNNING'), aws('SUCCESS'), cancelOnDelete, withFinalizer));
    expect(types(plan)).toEqual(['RemoveFinalizer']);
  });

  it('drops the finalizer when the annotation is removed', () => {
    const plan = planJobRun(jobRun(submitted(), aws('RUNNING'), withFinalizer));
    expect(types(plan)).toEqual(['RemoveFinalizer']);
  });
});

describe('deletion', () => {
  it.each<[string, Mod[], string[]]>([
    ['without a finalizer: nothing to do', [submitted(), aws('RUNNING'), deleting], []],
    [
      'cancels a running job when asked to, then releases',
      [submitted(), aws('RUNNING'), deleting, withFinalizer, cancelOnDelete],
      ['Cancel', 'RemoveFinalizer'],
    ],
    [
      'does not cancel twice (CANCELLING)',
      [submitted(), aws('CANCELLING'), deleting, withFinalizer, cancelOnDelete],
      ['RemoveFinalizer'],
    ],
    [
      'a finished job is released',
      [submitted('SUCCESS'), deleting, withFinalizer, cancelOnDelete],
      ['RemoveFinalizer'],
    ],
    [
      'without the annotation the job is left running',
      [submitted(), aws('RUNNING'), deleting, withFinalizer],
      ['RemoveFinalizer'],
    ],
    ['never submitted: released', [deleting, withFinalizer, cancelOnDelete], ['RemoveFinalizer']],
    ['a read error holds the object', [submitted(), awsError, deleting, withFinalizer, cancelOnDelete], []],
  ])('%s', (_name, mods, actions) => {
    expect(types(planJobRun(jobRun(...mods)))).toEqual(actions);
  });

  it('cancels the recorded run on its application', () => {
    const plan = planJobRun(jobRun(submitted(), aws('RUNNING'), deleting, withFinalizer, cancelOnDelete));
    expect(plan.actions[0]).toEqual({ type: 'Cancel', applicationId: appId, jobRunId: 'jr1' });
  });
});

describe('planJobRun (property)', () => {
  const states = [
    'SUBMITTED',
    'PENDING',
    'SCHEDULED',
    'QUEUED',
    'RUNNING',
    'SUCCESS',
    'FAILED',
    'CANCELLING',
    'CANCELLED',
    'ODD',
  ];
  const input = fc.record({
    deleting: fc.boolean(),
    hasFinalizer: fc.boolean(),
    cancelOnDelete: fc.boolean(),
    jobRunId: fc.option(fc.constant('jr1'), { nil: undefined }),
    recordedState: fc.option(fc.constantFrom(...states), { nil: undefined }),
    observedState: fc.option(fc.constantFrom(...states), { nil: undefined }),
    preflightOk: fc.boolean(),
    resolved: fc.boolean(),
    appResolved: fc.boolean(),
    awsOwned: fc.boolean(),
  });

  it('never submits twice, while deleting, or onto a key that is unresolved or fails pre-flight', () => {
    fc.assert(
      fc.property(input, (r) => {
        const plan = planJobRun({
          now,
          uid,
          deleting: r.deleting,
          hasFinalizer: r.hasFinalizer,
          cancelOnDelete: r.cancelOnDelete,
          status: r.jobRunId
            ? {
                jobRunId: r.jobRunId,
                applicationId: appId,
                ...(r.recordedState ? { state: r.recordedState } : {}),
              }
            : undefined,
          application: r.appResolved
            ? { kind: 'resolved', applicationId: appId }
            : { kind: 'unresolved', reason: 'ApplicationNotFound', message: 'm', terminal: false },
          keySource: 'application',
          desired: r.resolved
            ? { kind: 'resolved', setting: r.awsOwned ? { type: 'AwsOwned' } : cmk(keyA) }
            : { kind: 'unresolved', reason: 'KmsKeyNotReady', message: 'm', terminal: false },
          preflight: r.preflightOk ? { ok: true } : { ok: false, reason: 'KeyDisabled', message: 'm' },
          observed: r.observedState ? { kind: 'found', run: run(r.observedState) } : { kind: 'notRead' },
        });
        const submits = plan.actions.filter((a) => a.type === 'Submit');
        const keyBad = !r.resolved || (!r.awsOwned && !r.preflightOk);
        if (r.jobRunId || r.deleting || keyBad || !r.appResolved) expect(submits).toEqual([]);
        expect(submits.length).toBeLessThanOrEqual(1);
        // The finalizer comes before the submission.
        const add = types(plan).indexOf('AddFinalizer');
        const submit = types(plan).indexOf('Submit');
        if (submit >= 0 && r.cancelOnDelete && !r.hasFinalizer) expect(add).toBeGreaterThanOrEqual(0);
        if (submit >= 0 && add >= 0) expect(add).toBeLessThan(submit);
        // Cancel only on deletion, only when asked.
        if (plan.actions.some((a) => a.type === 'Cancel')) expect(r.deleting && r.cancelOnDelete).toBe(true);
        // Conditions use CamelCase reasons.
        for (const c of plan.conditions) expect(c.reason).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
      }),
    );
  });
});
