// EMR Serverless interactive sessions end to end: the operator (in this worker) against the real
// kube-apiserver and the AWS emulator. A session starts once on its application's key or its own,
// is refused before StartSession on a key that fails pre-flight (nothing created in AWS), counts as
// a user of its key while it lives, and is terminated when its object is deleted. Assertions read
// AWS through the real SDK client and the emulator's call log, Kubernetes through the API server.

import { EMRServerlessClient, GetSessionCommand, ListSessionsCommand } from '@aws-sdk/client-emr-serverless';
import { DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiVersion } from '../../src/api/shared.ts';
import { adminIdentity, eventually } from './support/cluster.ts';
import { statusViolations } from './support/invariants.ts';
import { useOperator } from './support/operator.ts';

const f = useOperator();
let kms: KMSClient;
let emr: EMRServerlessClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
  emr = new EMRServerlessClient(f.awsConfig());
});

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Session {
  kind: string;
  metadata: { name: string; uid: string; generation?: number; finalizers?: string[] };
  status?: {
    observedGeneration?: number;
    sessionId?: string;
    applicationId?: string;
    state?: string;
    keyArn?: string;
    clientToken?: string;
    conditions?: Cond[];
  };
}

let n = 0;
const unique = (p: string) => `${p}${++n}`;
const role = 'arn:aws:iam::123456789012:role/notebook';
const path = (name?: string) =>
  `/apis/${apiVersion}/namespaces/${f.namespace}/emrserverlesssessions${name ? `/${name}` : ''}`;

async function getSession(name: string): Promise<Session | undefined> {
  const res = await adminIdentity().request('GET', path(name));
  return res.status === 200 ? (res.body as Session) : undefined;
}

async function createSession(name: string, spec: Record<string, unknown>) {
  const res = await adminIdentity().request('POST', path(), {
    apiVersion,
    kind: 'EmrServerlessSession',
    metadata: { name },
    spec: { executionRoleArn: role, ...spec },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

/** Polls the session until `check` returns a value; says where it got stuck otherwise. */
async function waitForSession<T>(name: string, check: (o: Session) => T | undefined, what: string) {
  try {
    return await eventually(
      async () => {
        const o = await getSession(name);
        return o ? check(o) : undefined;
      },
      { what, timeoutMs: 30_000 },
    );
  } catch (e) {
    throw new Error(
      `${(e as Error).message}; status: ${JSON.stringify((await getSession(name))?.status ?? null)}`,
    );
  }
}

const condition = (o: Session, type: string) => o.status?.conditions?.find((c) => c.type === type);
const ready = (o: Session) => (condition(o, 'Ready')?.status === 'True' ? o : undefined);

/** An application in AWS that may run sessions, and its EmrServerlessApplication object. */
async function application(key: Record<string, unknown>) {
  const name = unique('app');
  const applicationId = `00s${String(100000000000 + n).padStart(13, '0')}`;
  f.emulator.seed({
    'emr-serverless': {
      applications: [
        {
          name,
          id: applicationId,
          state: 'CREATED',
          releaseLabel: 'emr-7.13.0',
          interactiveConfiguration: { sessionEnabled: true },
        },
      ],
    },
  });
  await f.create('EmrServerlessApplication', name, { applicationId, key });
  return { name, applicationId };
}

async function callsWithToken(eventName: string, clientToken: string) {
  const calls = await f.admin.calls({ eventName });
  return calls.filter((c) => (c.requestParameters as { clientToken?: string })?.clientToken === clientToken);
}

const sparkDefaultsOf = (s: {
  configurationOverrides?: {
    runtimeConfiguration?: Array<{ classification?: string; properties?: Record<string, string> }>;
  };
}) =>
  s.configurationOverrides?.runtimeConfiguration?.find((c) => c.classification === 'spark-defaults')
    ?.properties;

// The fixture checks the kstatus invariants of the kinds it knows; sessions are checked here.
afterEach(async () => {
  const res = await adminIdentity().request('GET', path());
  const items = (res.body as { items: Session[] }).items ?? [];
  expect(items.flatMap((o) => statusViolations({ ...o, kind: 'EmrServerlessSession' } as never))).toEqual([]);
});

describe('EmrServerlessSession', () => {
  it("starts once on its application's key, as a spark-defaults disk key, across many reconciles", async () => {
    const k = unique('k');
    const keyArn = await f.serviceKey(k);
    const app = await application({ kmsKeyRef: { name: k } });
    const name = unique('s');
    await createSession(name, {
      applicationRef: { name: app.name },
      name: 'analyst',
      sparkDefaults: { 'spark.executor.memory': '4g' },
    });
    const first = await waitForSession(name, ready, 'session Ready');
    expect(first.status).toMatchObject({
      applicationId: app.applicationId,
      state: expect.stringMatching(/^(STARTED|IDLE)$/),
      keyArn,
      clientToken: `cmk-${first.metadata.uid}`,
    });
    expect(condition(first, 'Ready')?.reason).toBe('SessionActive');
    expect(condition(first, 'KeyUsable')?.reason).toBe('PreflightPassed');
    expect(first.metadata.finalizers).toEqual(['cmk.io/session-terminate']);

    const aws = (
      await emr.send(
        new GetSessionCommand({ applicationId: app.applicationId, sessionId: first.status!.sessionId! }),
      )
    ).session!;
    expect(aws.name).toBe('analyst');
    expect(sparkDefaultsOf(aws)).toEqual({
      'spark.executor.memory': '4g',
      'spark.emr-serverless.disk.encryptionKeyArn': keyArn,
    });

    // More reconciles: its own metadata changes, its application's changes, resyncs (1.5 s).
    for (let i = 0; i < 3; i++) {
      for (const [plural, object] of [
        ['emrserverlesssessions', name],
        ['emrserverlessapplications', app.name],
      ] as const) {
        const res = await adminIdentity().request(
          'PATCH',
          `/apis/${apiVersion}/namespaces/${f.namespace}/${plural}/${object}`,
          { metadata: { annotations: { poke: String(i) } } },
          { contentType: 'application/merge-patch+json' },
        );
        expect(res.status).toBe(200);
      }
    }
    await new Promise((r) => setTimeout(r, 3500));
    expect(await callsWithToken('StartSession', first.status!.clientToken!)).toHaveLength(1);
    const listed = await emr.send(new ListSessionsCommand({ applicationId: app.applicationId }));
    expect(listed.sessions?.map((s) => s.sessionId)).toEqual([first.status!.sessionId]);
    expect((await getSession(name))?.status?.sessionId).toBe(first.status!.sessionId);
  });

  it('is refused before StartSession on a disabled key, naming the key; nothing is created in AWS', async () => {
    const app = await application({ awsOwned: true });
    const keyArn = await f.serviceKey(unique('k'));
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    const name = unique('s');
    await createSession(name, { applicationRef: { name: app.name }, key: { keyId: keyArn } });
    const refused = await waitForSession(
      name,
      (o) => {
        const c = condition(o, 'KeyUsable');
        return c?.status === 'False' && c.reason === 'KeyDisabled' ? o : undefined;
      },
      'KeyUsable=False KeyDisabled',
    );
    expect(condition(refused, 'KeyUsable')?.message).toContain(keyArn);
    expect(condition(refused, 'Stalled')).toMatchObject({ status: 'True', reason: 'KeyDisabled' });
    expect(condition(refused, 'Ready')?.status).toBe('False');
    expect(refused.status?.sessionId).toBeUndefined();
    expect(await callsWithToken('StartSession', `cmk-${refused.metadata.uid}`)).toEqual([]);
    const listed = await emr.send(new ListSessionsCommand({ applicationId: app.applicationId }));
    expect(listed.sessions).toEqual([]);
  });

  it('holds its KmsKey while it lives; deleting it terminates the session, then the key may go', async () => {
    const k = unique('k');
    await f.create('KmsKey', k, {
      create: { policy: { services: ['EmrServerless'] } },
      deletionPolicy: 'ScheduleDeletion',
    });
    const keyArn = await eventually(
      async () => {
        const o = await f.get<{ status?: { keyArn?: string; conditions?: Cond[] } }>('KmsKey', k);
        return o?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? o.status!.keyArn
          : undefined;
      },
      { what: `KmsKey ${k} Ready`, timeoutMs: 30_000 },
    );
    const app = await application({ awsOwned: true });
    const name = unique('s');
    await createSession(name, { applicationId: app.applicationId, key: { kmsKeyRef: { name: k } } });
    const live = await waitForSession(name, ready, 'session Ready');
    expect(live.status?.keyArn).toBe(keyArn);

    // The key's deletion waits for the session, which is named.
    await f.remove('KmsKey', k);
    const blocked = await eventually(
      async () => {
        const o = await f.get<{ status?: { conditions?: Cond[] } }>('KmsKey', k);
        const c = o?.status?.conditions?.find((x) => x.type === 'DeletionBlocked');
        return c?.status === 'True' ? c : undefined;
      },
      { what: 'DeletionBlocked', timeoutMs: 30_000 },
    );
    expect(blocked.message).toContain(`EmrServerlessSession ${f.namespace}/${name}`);

    // Deleting the session terminates it; the object goes once AWS reports it TERMINATED.
    const res = await adminIdentity().request('DELETE', path(name));
    expect([200, 202]).toContain(res.status);
    await eventually(async () => ((await getSession(name)) === undefined ? true : undefined), {
      what: 'session object released',
      timeoutMs: 30_000,
    });
    const aws = (
      await emr.send(
        new GetSessionCommand({ applicationId: app.applicationId, sessionId: live.status!.sessionId! }),
      )
    ).session!;
    expect(aws.state).toBe('TERMINATED');
    expect(aws.stateDetails).toBe('Session terminated by user');
    // One TerminateSession (the only one this file makes: DELETE carries its ids in the path).
    const terminations = await f.admin.calls({ eventName: 'TerminateSession' });
    expect(terminations).toHaveLength(1);

    // Nothing uses the key any more: its deletion goes on.
    await eventually(async () => ((await f.get('KmsKey', k)) === undefined ? true : undefined), {
      what: `KmsKey ${k} released`,
      timeoutMs: 30_000,
    });
  });
});
