// Table tests of the EmrServerlessSession decision: builders of small modifiers, one named case per
// line, and a property test that no input plans a second start, a start on a failing key, or the
// release of a deleted object whose session has not ended.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SessionView } from '../../src/aws/emr-serverless.ts';
import type { EncryptionSetting } from '../../src/aws/workload.ts';
import { clientTokenFor } from '../../src/reconcile/emr-submission.ts';
import {
  planSession,
  type SessionPlan,
  type SessionPlanInput,
  sessionFinalizer,
} from '../../src/reconcile/session-plan.ts';
import { cmk, keyA } from '../fixtures/keys.ts';

const uid = '6f1c1b2e-0000-4000-8000-000000000002';
const appId = '00fabc123def4567';

type Mod = (i: SessionPlanInput) => SessionPlanInput;
function session(...mods: Mod[]): SessionPlanInput {
  const base: SessionPlanInput = {
    uid,
    deleting: false,
    hasFinalizer: true,
    status: undefined,
    application: { kind: 'resolved', applicationId: appId },
    keySource: 'application',
    desired: { kind: 'resolved', setting: cmk(keyA) },
    preflight: { ok: true },
    observed: { kind: 'notRead' },
  };
  return mods.reduce((i, m) => m(i), base);
}
const view = (state: string, stateDetails?: string): SessionView => ({
  sessionId: 's1',
  arn: `arn:aws:emr-serverless:us-east-1:111122223333:/applications/${appId}/sessions/s1`,
  state,
  ...(stateDetails ? { stateDetails } : {}),
  ended: ['TERMINATED', 'FAILED'].includes(state),
});
const started =
  (state = 'SUBMITTED'): Mod =>
  (i) => ({
    ...i,
    status: { sessionId: 's1', applicationId: appId, state, clientToken: clientTokenFor(uid), keyArn: keyA },
  });
const aws =
  (state: string, details?: string): Mod =>
  (i) => ({ ...i, observed: { kind: 'found', session: view(state, details) } });
const gone: Mod = (i) => ({ ...i, observed: { kind: 'notFound' } });
const unreadable: Mod = (i) => ({
  ...i,
  observed: {
    kind: 'error',
    failure: { cause: 'Transient', code: 'InternalServerException', message: 'boom' },
  },
});
const own: Mod = (i) => ({ ...i, keySource: 'own' });
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
const noFinalizer: Mod = (i) => ({ ...i, hasFinalizer: false });
const deleting: Mod = (i) => ({ ...i, deleting: true });

const types = (p: SessionPlan) => p.actions.map((a) => a.type);
const condition = (p: SessionPlan, type: string) => p.conditions.find((c) => c.type === type);

describe('planSession: actions', () => {
  it.each<[string, SessionPlanInput, string[]]>([
    ['a new object: finalizer first, then the start', session(noFinalizer), ['AddFinalizer', 'Start']],
    ['with its finalizer: the start', session(), ['Start']],
    ['its own key', session(own), ['Start']],
    ['the AWS owned key', session(wants({ type: 'AwsOwned' })), ['Start']],
    ['key disabled: no start', session(keyDisabled), []],
    ['KmsKey not ready: no start', session(keyNotReady), []],
    ['reference not granted: no start', session(notGranted), []],
    ['application object missing: no start', session(noApplication), []],
    ['already started: never again', session(started(), aws('STARTING')), []],
    ['started, even with a failing key now: never again', session(started(), keyDisabled, aws('IDLE')), []],
    ['ended: the finalizer goes', session(started('IDLE'), aws('TERMINATED')), ['RemoveFinalizer']],
    ['ended and recorded: nothing', session(started('TERMINATED'), noFinalizer), []],
    ['deleted before the start: released', session(deleting), ['RemoveFinalizer']],
    ['deleted without the finalizer: nothing', session(deleting, noFinalizer), []],
    ['deleted while IDLE: terminate, held', session(started('IDLE'), deleting, aws('IDLE')), ['Terminate']],
    ['deleted while STARTING: terminate, held', session(started(), deleting, aws('STARTING')), ['Terminate']],
    ['deleted while TERMINATING: held, no second call', session(started(), deleting, aws('TERMINATING')), []],
    [
      'deleted once TERMINATED: released',
      session(started(), deleting, aws('TERMINATED')),
      ['RemoveFinalizer'],
    ],
    ['deleted once FAILED: released', session(started(), deleting, aws('FAILED')), ['RemoveFinalizer']],
    ['deleted, the session gone: released', session(started(), deleting, gone), ['RemoveFinalizer']],
    ['deleted, AWS not answering: held', session(started(), deleting, unreadable), []],
  ])('%s', (_name, input, expected) => {
    expect(types(planSession(input))).toEqual(expected);
  });

  it('starts with the token of the UID, on the resolved key, on the application', () => {
    const plan = planSession(session(own, wants(cmk(keyA, { team: 'bi' }))));
    expect(plan.actions).toEqual([
      {
        type: 'Start',
        applicationId: appId,
        clientToken: `cmk-${uid}`,
        setting: cmk(keyA, { team: 'bi' }),
      },
    ]);
    expect(plan.status).toMatchObject({ applicationId: appId, keyArn: keyA, clientToken: `cmk-${uid}` });
  });

  it('keeps the recorded token', () => {
    const input = session((i) => ({ ...i, status: { clientToken: 'cmk-earlier' } }));
    expect(planSession(input).actions).toContainEqual(
      expect.objectContaining({ clientToken: 'cmk-earlier' }),
    );
  });
});

describe('planSession: conditions and outcome', () => {
  it.each<[string, SessionPlanInput, string, string, string]>([
    ['before the start', session(), 'SessionActive', 'Unknown', 'NotStarted'],
    ['own key passes', session(own), 'KeyUsable', 'True', 'PreflightPassed'],
    ["application's key passes", session(), 'KeyUsable', 'True', 'PreflightPassed'],
    ['AWS owned', session(wants({ type: 'AwsOwned' })), 'KeyUsable', 'True', 'AwsOwnedKey'],
    ['key disabled', session(keyDisabled), 'KeyUsable', 'False', 'KeyDisabled'],
    ['KmsKey not ready', session(keyNotReady), 'KeyUsable', 'False', 'KmsKeyNotReady'],
    ['STARTING', session(started(), aws('STARTING')), 'SessionActive', 'Unknown', 'Starting'],
    ['IDLE', session(started(), aws('IDLE')), 'SessionActive', 'True', 'Idle'],
    ['BUSY', session(started(), aws('BUSY')), 'SessionActive', 'True', 'Busy'],
    [
      'TERMINATED',
      session(started('IDLE'), aws('TERMINATED')),
      'SessionActive',
      'False',
      'SessionTerminated',
    ],
    ['FAILED', session(started('IDLE'), aws('FAILED')), 'SessionActive', 'False', 'SessionFailed'],
    ['gone', session(started('IDLE'), gone), 'SessionActive', 'False', 'SessionNotFound'],
  ])('%s: %s=%s (%s)', (_name, input, type, status, reason) => {
    expect(condition(planSession(input), type)).toMatchObject({ status, reason });
  });

  it.each<[string, SessionPlanInput, string, string | undefined]>([
    ['a start in flight', session(), 'continue', undefined],
    ['key disabled: stalled, naming the key', session(keyDisabled), 'stalled', 'KeyDisabled'],
    ['reference not granted: stalled', session(notGranted), 'stalled', 'ReferenceNotGranted'],
    ['KmsKey not ready: waiting', session(keyNotReady), 'waiting', 'KmsKeyNotReady'],
    ['application missing: waiting', session(noApplication), 'waiting', 'ApplicationNotFound'],
    ['IDLE: settled', session(started(), aws('IDLE')), 'continue', undefined],
    ['TERMINATED: stalled', session(started('IDLE'), aws('TERMINATED')), 'stalled', 'SessionTerminated'],
    ['FAILED: stalled', session(started('IDLE'), aws('FAILED', 'key Disabled')), 'stalled', 'SessionFailed'],
    ['GetSession failing: waiting', session(started(), unreadable), 'waiting', 'AwsUnavailable'],
    [
      'deleted, AWS not answering: waiting',
      session(started(), deleting, unreadable),
      'waiting',
      'AwsUnavailable',
    ],
  ])('%s', (_name, input, kind, reason) => {
    const outcome = planSession(input).outcome;
    expect(outcome.kind).toBe(kind);
    if (reason) expect(outcome).toMatchObject({ reason });
  });

  it('a refused key names the key and the fix', () => {
    const plan = planSession(session(keyDisabled));
    expect(plan.outcome).toMatchObject({
      message: `not starting the session: key ${keyA} is Disabled: enable it`,
    });
  });

  it('an ended session drops its key ARN, a live one keeps it', () => {
    expect(planSession(session(started('IDLE'), aws('TERMINATED'))).dropKeyArn).toBe(true);
    expect(planSession(session(started('IDLE'), aws('IDLE'))).dropKeyArn).toBe(false);
  });

  it.each<[string, SessionPlanInput, string[]]>([
    ['first seen active', session(started('STARTING'), aws('IDLE')), ['SessionStarted']],
    ['still active', session(started('IDLE'), aws('BUSY')), []],
    ['ended now', session(started('IDLE'), aws('FAILED')), ['SessionFailed']],
    ['ended before', session(started('FAILED'), aws('FAILED')), []],
  ])('events: %s', (_name, input, reasons) => {
    expect(planSession(input).events.map((e) => e.reason)).toEqual(reasons);
  });
});

describe('planSession: safety properties', () => {
  const state = fc.constantFrom(
    'SUBMITTED',
    'STARTING',
    'STARTED',
    'IDLE',
    'BUSY',
    'TERMINATING',
    'TERMINATED',
    'FAILED',
    'SOMETHING_NEW',
  );
  const input = fc.record({
    uid: fc.constant(uid),
    deleting: fc.boolean(),
    hasFinalizer: fc.boolean(),
    status: fc.option(
      fc.record(
        {
          sessionId: fc.constant('s1'),
          applicationId: fc.constant(appId),
          state,
          clientToken: fc.constant('t'),
        },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    ),
    application: fc.constantFrom(
      { kind: 'resolved' as const, applicationId: appId },
      { kind: 'unresolved' as const, reason: 'ApplicationNotFound', message: 'm', terminal: false },
    ),
    keySource: fc.constantFrom('own' as const, 'application' as const, 'none' as const),
    desired: fc.constantFrom(
      { kind: 'resolved' as const, setting: cmk(keyA) },
      { kind: 'resolved' as const, setting: { type: 'AwsOwned' as const } },
      { kind: 'unresolved' as const, reason: 'KmsKeyNotReady', message: 'm', terminal: false },
    ),
    preflight: fc.constantFrom(
      undefined,
      { ok: true as const },
      { ok: false as const, reason: 'KeyDisabled', message: 'm' },
    ),
    observed: fc.oneof(
      fc.constant({ kind: 'notRead' as const }),
      fc.constant({ kind: 'notFound' as const }),
      state.map((s) => ({ kind: 'found' as const, session: view(s) })),
    ),
  }) as fc.Arbitrary<SessionPlanInput>;

  it('never starts twice, never on a failing key, never while deleting; never releases a live session', () => {
    fc.assert(
      fc.property(input, (i) => {
        const plan = planSession(i);
        const starts = plan.actions.filter((a) => a.type === 'Start');
        if (starts.length > 0) {
          expect(starts).toHaveLength(1);
          expect(i.status?.sessionId).toBeUndefined();
          expect(i.deleting).toBe(false);
          expect(i.desired.kind).toBe('resolved');
          if (i.desired.kind === 'resolved' && i.desired.setting.type === 'CustomerManaged')
            expect(i.preflight?.ok).not.toBe(false);
        }
        if (i.deleting && plan.actions.some((a) => a.type === 'RemoveFinalizer') && i.status?.sessionId) {
          const live =
            i.observed.kind === 'found' && !['TERMINATED', 'FAILED'].includes(i.observed.session.state);
          expect(live).toBe(false);
        }
        // The finalizer comes before the start.
        const add = plan.actions.findIndex((a) => a.type === 'AddFinalizer');
        const start = plan.actions.findIndex((a) => a.type === 'Start');
        if (start >= 0 && !i.hasFinalizer) expect(add).toBeGreaterThanOrEqual(0);
        if (start >= 0 && add >= 0) expect(add).toBeLessThan(start);
      }),
      { numRuns: 2000 },
    );
  });

  it('uses the finalizer name cmk.io/session-terminate', () => {
    expect(sessionFinalizer).toBe('cmk.io/session-terminate');
  });
});
