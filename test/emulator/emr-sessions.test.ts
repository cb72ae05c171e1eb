// EMR Serverless interactive sessions in the emulator through the real @aws-sdk/client-emr-serverless
// over HTTP (EMR-012, EMR-013): StartSession's preconditions, the session's disk key from the
// spark-defaults runtime configuration (checked with the shared key-usable chain, worded the EMR way),
// idempotency by clientToken, the state walk over the emulator timeline, GetSession, ListSessions
// (filters, pages), TerminateSession, and sessions failing when their key stops being usable.

import {
  CreateApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
  GetSessionCommand,
  ListSessionsCommand,
  ListTagsForResourceCommand,
  paginateListSessions,
  type SessionState,
  StartSessionCommand,
  type StartSessionCommandInput,
  StopApplicationCommand,
  TagResourceCommand,
  TerminateSessionCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { sdkFailure, useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const frozenAt = Date.UTC(2026, 10, 23, 12, 0, 0);
/** When sessionApp's application is CREATED and the tests start their sessions. */
const t0 = frozenAt + 1000;
const role = `arn:aws:iam::${account}:role/emr-session`;
const keyProperty = 'spark.emr-serverless.disk.encryptionKeyArn';
const contextProperty = 'spark.emr-serverless.disk.encryptionContext';

const emr = () => new EMRServerlessClient(fixture.clientConfig());
const kms = () => new KMSClient(fixture.clientConfig());
const advance = (ms: number) => fixture.emulator.world().clock.advance(ms);

/** A key whose policy lets emr-serverless.amazonaws.com use it (or not). */
async function emrKey(opts: { allowService?: boolean } = {}) {
  const statements: unknown[] = [
    {
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${account}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ];
  if (opts.allowService !== false)
    statements.push({
      Effect: 'Allow',
      Principal: { Service: 'emr-serverless.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
    });
  const out = await kms().send(
    new CreateKeyCommand({ Policy: JSON.stringify({ Version: '2012-10-17', Statement: statements }) }),
  );
  return out.KeyMetadata!.Arn!;
}

/** A CREATED application (auto-start on) that may run sessions unless told otherwise. */
async function sessionApp(
  opts: { sessions?: boolean; releaseLabel?: string; diskKey?: string; autoStart?: boolean } = {},
) {
  const out = await emr().send(
    new CreateApplicationCommand({
      name: 'notebooks',
      releaseLabel: opts.releaseLabel ?? 'emr-7.13.0',
      type: 'SPARK',
      ...(opts.sessions === false ? {} : { interactiveConfiguration: { sessionEnabled: true } }),
      ...(opts.diskKey ? { diskEncryptionConfiguration: { encryptionKeyArn: opts.diskKey } } : {}),
      ...(opts.autoStart === false ? { autoStartConfiguration: { enabled: false } } : {}),
    }),
  );
  advance(1000);
  return out.applicationId!;
}

const withDiskKey = (keyArn: string, context?: string) => ({
  configurationOverrides: {
    runtimeConfiguration: [
      {
        classification: 'spark-defaults',
        properties: { [keyProperty]: keyArn, ...(context ? { [contextProperty]: context } : {}) },
      },
    ],
  },
});

async function start(applicationId: string, extra: Partial<StartSessionCommandInput> = {}) {
  return emr().send(new StartSessionCommand({ applicationId, executionRoleArn: role, ...extra }));
}

async function session(applicationId: string, sessionId: string) {
  return (await emr().send(new GetSessionCommand({ applicationId, sessionId }))).session!;
}

describe('StartSession and the session lifecycle (EMR-012)', () => {
  it('walks SUBMITTED -> STARTING -> STARTED -> IDLE, starting the application on the way', async () => {
    const applicationId = await sessionApp();
    const out = await start(applicationId, { name: 'analyst', tags: { team: 'bi' } });
    expect(out.sessionId).toMatch(/^00f[0-9a-z]{13}$/);
    expect(out.arn).toBe(
      `arn:aws:emr-serverless:us-east-1:${account}:/applications/${applicationId}/sessions/${out.sessionId}`,
    );
    const seen: Array<string | undefined> = [(await session(applicationId, out.sessionId!)).state];
    for (let i = 0; i < 3; i++) {
      advance(1000);
      seen.push((await session(applicationId, out.sessionId!)).state);
    }
    expect(seen).toEqual(['SUBMITTED', 'STARTING', 'STARTED', 'IDLE']);
    const s = await session(applicationId, out.sessionId!);
    expect(s).toMatchObject({
      applicationId,
      sessionId: out.sessionId,
      name: 'analyst',
      releaseLabel: 'emr-7.13.0',
      executionRoleArn: role,
      idleTimeoutMinutes: 60,
      tags: { team: 'bi' },
    });
    expect(s.createdAt?.getTime()).toBe(t0);
    expect(s.startedAt?.getTime()).toBe(t0 + 2000);
    expect(s.idleSince?.getTime()).toBe(t0 + 3000);
    expect((await emr().send(new GetApplicationCommand({ applicationId }))).application?.state).toBe(
      'STARTED',
    );
  });

  it('terminates after idleTimeoutMinutes, and a live session keeps the application from stopping', async () => {
    const applicationId = await sessionApp();
    const { sessionId } = await start(applicationId, { idleTimeoutMinutes: 5 });
    advance(3000);
    const stop = await sdkFailure(emr().send(new StopApplicationCommand({ applicationId })));
    expect(stop.name).toBe('ValidationException');
    expect(stop.message).toContain(`cannot be stopped while sessions are active: ${sessionId} (IDLE)`);
    advance(5 * 60_000);
    const s = await session(applicationId, sessionId!);
    expect(s.state).toBe('TERMINATED');
    expect(s.stateDetails).toContain('5 idle minutes');
    expect(s.endedAt?.getTime()).toBe(t0 + 3000 + 5 * 60_000);
  });

  it('TerminateSession: TERMINATING -> TERMINATED; again while TERMINATING is fine, once ended it is refused', async () => {
    const applicationId = await sessionApp();
    const { sessionId } = await start(applicationId);
    advance(3000);
    const out = await emr().send(new TerminateSessionCommand({ applicationId, sessionId }));
    expect(out).toMatchObject({ applicationId, sessionId });
    expect((await session(applicationId, sessionId!)).state).toBe('TERMINATING');
    await emr().send(new TerminateSessionCommand({ applicationId, sessionId }));
    advance(1000);
    const s = await session(applicationId, sessionId!);
    expect(s).toMatchObject({ state: 'TERMINATED', stateDetails: 'Session terminated by user' });
    const again = await sdkFailure(emr().send(new TerminateSessionCommand({ applicationId, sessionId })));
    expect(again.name).toBe('ValidationException');
    expect(again.message).toContain('already in a terminal state: TERMINATED');
  });

  it('a session that is not there is ResourceNotFoundException for Get and Terminate', async () => {
    const applicationId = await sessionApp();
    for (const call of [
      emr().send(new GetSessionCommand({ applicationId, sessionId: '00fmissing000001' })),
      emr().send(new TerminateSessionCommand({ applicationId, sessionId: '00fmissing000001' })),
    ]) {
      const e = await sdkFailure(call);
      expect(e.name).toBe('ResourceNotFoundException');
      expect(e.$metadata.httpStatusCode).toBe(404);
    }
  });

  it.each([
    [
      'interactive sessions not enabled',
      { sessions: false },
      'Interactive sessions are not enabled for application',
    ],
    ['a release before emr-7.13.0', { releaseLabel: 'emr-7.12.0' }, 'need emr-7.13.0 or later'],
    ['auto-start off on a CREATED application', { autoStart: false }, 'auto-start is disabled'],
  ])('refuses to start a session: %s', async (_name, opts, message) => {
    const applicationId = await sessionApp(opts);
    const e = await sdkFailure(start(applicationId));
    expect(e.name).toBe('ValidationException');
    expect(e.message).toContain(message);
    expect((await emr().send(new ListSessionsCommand({ applicationId }))).sessions).toEqual([]);
  });

  it('runs as an IAM role', async () => {
    const applicationId = await sessionApp();
    const role2 = await sdkFailure(
      emr().send(
        new StartSessionCommand({ applicationId, executionRoleArn: `arn:aws:iam::${account}:user/alice` }),
      ),
    );
    expect(role2.message).toContain('expected an IAM role ARN');
  });

  it('is idempotent on clientToken; the same token with other parameters is a ConflictException', async () => {
    const applicationId = await sessionApp();
    const a = await start(applicationId, { clientToken: 'cmk-1' });
    const b = await start(applicationId, { clientToken: 'cmk-1' });
    expect(b.sessionId).toBe(a.sessionId);
    const e = await sdkFailure(start(applicationId, { clientToken: 'cmk-1', name: 'other' }));
    expect(e.name).toBe('ConflictException');
    expect(e.$metadata.httpStatusCode).toBe(409);
    const listed = await emr().send(new ListSessionsCommand({ applicationId }));
    expect(listed.sessions?.map((s) => s.sessionId)).toEqual([a.sessionId]);
  });

  it('sessions are tagged through their ARN', async () => {
    const applicationId = await sessionApp();
    const { arn } = await start(applicationId, { tags: { a: '1' } });
    await emr().send(new TagResourceCommand({ resourceArn: arn, tags: { b: '2' } }));
    const tags = await emr().send(new ListTagsForResourceCommand({ resourceArn: arn }));
    expect(tags.tags).toEqual({ a: '1', b: '2' });
  });
});

describe("the session's disk key (EMR-013)", () => {
  it('is the spark-defaults disk key, with its context, echoed by GetSession as submitted', async () => {
    const keyArn = await emrKey();
    const applicationId = await sessionApp();
    const overrides = withDiskKey(keyArn, 'team:bi,purpose:adhoc');
    const { sessionId } = await start(applicationId, overrides);
    advance(3000);
    const s = await session(applicationId, sessionId!);
    expect(s.state).toBe('IDLE');
    expect(s.configurationOverrides).toEqual(overrides.configurationOverrides);
  });

  it.each([
    ['an alias ARN', (arn: string) => arn.replace(/key\/.*/, 'alias/notebooks'), 'aliases are not accepted'],
    ['a bare key id', (arn: string) => arn.split('/')[1]!, 'specify the ARN of a KMS key'],
  ])('refuses %s with the EMR wording', async (_name, ref, message) => {
    const keyArn = await emrKey();
    const applicationId = await sessionApp();
    const e = await sdkFailure(start(applicationId, withDiskKey(ref(keyArn))));
    expect(e.name).toBe('ValidationException');
    expect(e.message).toContain(message);
  });

  it('refuses a disabled key, and a key whose policy leaves EMR Serverless out, naming the key', async () => {
    const disabled = await emrKey();
    await kms().send(new DisableKeyCommand({ KeyId: disabled }));
    const denied = await emrKey({ allowService: false });
    const applicationId = await sessionApp();
    for (const keyArn of [disabled, denied]) {
      const e = await sdkFailure(start(applicationId, withDiskKey(keyArn)));
      expect(e.name).toBe('ValidationException');
      expect(e.message).toContain(keyArn);
    }
    expect((await emr().send(new ListSessionsCommand({ applicationId }))).sessions).toEqual([]);
  });

  it("without a disk property the session inherits the application's key, which is checked too", async () => {
    const keyArn = await emrKey();
    const applicationId = await sessionApp({ diskKey: keyArn });
    await kms().send(new DisableKeyCommand({ KeyId: keyArn }));
    const e = await sdkFailure(start(applicationId));
    expect(e.message).toContain(keyArn);
  });

  it('a context without a key ARN, or one that is not key:value pairs, is refused', async () => {
    const applicationId = await sessionApp();
    const contextOnly = {
      configurationOverrides: {
        runtimeConfiguration: [
          { classification: 'spark-defaults', properties: { [contextProperty]: 'a:b' } },
        ],
      },
    };
    expect((await sdkFailure(start(applicationId, contextOnly))).message).toContain(
      `requires ${keyProperty}`,
    );
    const keyArn = await emrKey();
    expect((await sdkFailure(start(applicationId, withDiskKey(keyArn, 'team')))).message).toContain(
      'expected key1:value1,key2:value2',
    );
  });

  it('a live session fails at once when its key is disabled, naming the key; an ended one is left alone', async () => {
    const keyArn = await emrKey();
    const applicationId = await sessionApp();
    const live = await start(applicationId, withDiskKey(keyArn));
    const ended = await start(applicationId, { ...withDiskKey(keyArn), name: 'ended' });
    advance(3000);
    await emr().send(new TerminateSessionCommand({ applicationId, sessionId: ended.sessionId }));
    advance(1000);
    await kms().send(new DisableKeyCommand({ KeyId: keyArn }));
    const failed = await session(applicationId, live.sessionId!);
    expect(failed.state).toBe('FAILED');
    expect(failed.stateDetails).toContain(`${keyArn} used for disk encryption is Disabled`);
    expect((await session(applicationId, ended.sessionId!)).state).toBe('TERMINATED');
  });

  it('a session whose key is disabled while it is still SUBMITTED fails too', async () => {
    const keyArn = await emrKey();
    const applicationId = await sessionApp();
    const { sessionId } = await start(applicationId, withDiskKey(keyArn));
    await kms().send(new DisableKeyCommand({ KeyId: keyArn }));
    advance(3000);
    const s = await session(applicationId, sessionId!);
    expect(s.state).toBe('FAILED');
    expect(s.stateDetails).toContain(keyArn);
  });
});

describe('ListSessions', () => {
  it('lists newest first, in pages, filtered by state and creation time', async () => {
    const applicationId = await sessionApp();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await start(applicationId, { name: `s${i}` })).sessionId!);
      advance(10);
    }
    await emr().send(new TerminateSessionCommand({ applicationId, sessionId: ids[0] }));
    advance(3000);

    const pages: string[][] = [];
    for await (const page of paginateListSessions(
      { client: emr(), pageSize: 2, stopOnSameToken: true },
      { applicationId },
    ))
      pages.push((page.sessions ?? []).map((s) => s.sessionId!));
    expect(pages).toEqual([[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]);

    const idle = await emr().send(
      new ListSessionsCommand({ applicationId, states: ['IDLE' as SessionState] }),
    );
    expect(idle.sessions?.map((s) => s.sessionId)).toEqual([ids[4], ids[3], ids[2], ids[1]]);
    const ended = await emr().send(new ListSessionsCommand({ applicationId, states: ['TERMINATED'] }));
    expect(ended.sessions?.map((s) => s.sessionId)).toEqual([ids[0]]);
    const late = await emr().send(
      new ListSessionsCommand({ applicationId, createdAtAfter: new Date(t0 + 25) }),
    );
    expect(late.sessions?.map((s) => s.sessionId)).toEqual([ids[4], ids[3]]);
    // A summary carries no configurationOverrides: a key audit reads GetSession per session.
    expect(Object.keys(idle.sessions![0]!)).not.toContain('configurationOverrides');
  });

  it('refuses an unknown state and a page size above 50', async () => {
    const applicationId = await sessionApp();
    const state = await sdkFailure(
      emr().send(new ListSessionsCommand({ applicationId, states: ['RUNNING' as SessionState] })),
    );
    expect(state.message).toContain("at 'states' failed to satisfy constraint");
    const size = await sdkFailure(emr().send(new ListSessionsCommand({ applicationId, maxResults: 51 })));
    expect(size.message).toContain('between 1 and 50');
  });
});

describe('UpdateApplication turns sessions on', () => {
  it('interactiveConfiguration.sessionEnabled, set while CREATED, lets StartSession through', async () => {
    const applicationId = await sessionApp({ sessions: false });
    await emr().send(
      new UpdateApplicationCommand({ applicationId, interactiveConfiguration: { sessionEnabled: true } }),
    );
    expect((await start(applicationId)).sessionId).toBeDefined();
  });
});
