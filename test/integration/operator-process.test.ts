// The operator as a real process (`cmk-operator run`), twice: leader election on a Lease decides
// which replica acts; the standby writes nothing to AWS or to status; a process killed (-9) in the
// middle of a reconcile leaves nothing the next leader cannot finish; SIGTERM hands over at once.
// Shorter lease timings than the default (8 s / 5 s / 1 s): how long a takeover takes with the default timings is
// measured in reliability-leader.test.ts.

import { CreateKeyCommand, GetKeyRotationStatusCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EmulatorAdmin, emulatorAdmin } from '../../emulator/client.ts';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { apiVersion } from '../../src/api/shared.ts';
import { adminIdentity, createNamespace, eventually } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';
import { expectStatusInvariants } from './support/invariants.ts';
import { type Replica, readLease, startReplica, stopAllReplicas } from './support/replica.ts';

let ns: string;
let emulator: RunningEmulator;
let admin: EmulatorAdmin;
let kms: KMSClient;

function replica(name: string, accessKeyId: string): Replica {
  return startReplica({
    name,
    accessKeyId,
    kubeconfig: inject('kubeconfigPath'),
    awsEndpoint: emulator.url,
    namespaces: [ns],
    leaseNamespace: ns,
    resync: '1s',
    lease: { duration: '8s', renewDeadline: '5s', retryPeriod: '1s' },
  });
}

async function leaseHolder(): Promise<string> {
  return (await readLease(ns)).holder;
}

const mutatingKms = [
  'CreateKey',
  'EnableKeyRotation',
  'DisableKeyRotation',
  'RotateKeyOnDemand',
  'EnableKey',
  'CancelKeyDeletion',
  'ScheduleKeyDeletion',
  'CreateAlias',
];
async function mutationsBy(): Promise<Record<string, number>> {
  const calls = await admin.calls({ service: 'kms' });
  const by: Record<string, number> = {};
  for (const c of calls) {
    // Only the replicas' calls: the test itself creates keys as AKIATESTER...
    if (
      !mutatingKms.includes(c.eventName) ||
      c.errorCode ||
      !c.userIdentity.accessKeyId.startsWith('AKIAREPLICA')
    )
      continue;
    by[c.userIdentity.accessKeyId] = (by[c.userIdentity.accessKeyId] ?? 0) + 1;
  }
  return by;
}

async function createKmsKey(name: string, spec: unknown): Promise<void> {
  const res = await adminIdentity().request('POST', `/apis/${apiVersion}/namespaces/${ns}/kmskeys`, {
    apiVersion,
    kind: 'KmsKey',
    metadata: { name },
    spec,
  });
  expect(res.status).toBe(201);
}

async function isReady(name: string): Promise<true | undefined> {
  const res = await adminIdentity().request('GET', `/apis/${apiVersion}/namespaces/${ns}/kmskeys/${name}`);
  const conditions = (res.body as { status?: { conditions?: Array<{ type: string; status: string }> } })
    .status?.conditions;
  return conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
}

async function newKeyArn(): Promise<string> {
  return (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('replicas');
  emulator = await startEmulator({ config: { transitions: { default: { min: 100, max: 200 } } } });
  admin = emulatorAdmin(emulator.url);
  kms = new KMSClient({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIATESTER0000000001', secretAccessKey: 'x' },
  });
});

afterAll(async () => {
  await stopAllReplicas();
  await emulator?.close();
});

describe('two operator processes', () => {
  it('only the leader acts; after kill -9 of the leader the standby takes over and finishes the reconcile cut short', async () => {
    const a = replica('replica-a', 'AKIAREPLICAA00000001');
    await a.started;
    await eventually(async () => ((await leaseHolder()).startsWith('replica-a') ? true : undefined), {
      what: 'replica-a leads',
      timeoutMs: 30_000,
    });
    const b = replica('replica-b', 'AKIAREPLICAB00000001');
    await b.started;

    await createKmsKey('first', { keyId: await newKeyArn(), rotation: { periodInDays: 200 } });
    await eventually(() => isReady('first'), { what: 'first Ready', timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 2000)); // a resync or two on both replicas
    expect(await mutationsBy()).toEqual({ AKIAREPLICAA00000001: 1 });
    expect(await a.reconcileCount()).toBeGreaterThan(0);
    expect(await b.reconcileCount()).toBe(0);

    // Kill the leader in the middle of a reconcile: its EnableKeyRotation is held 3 s by the emulator.
    await admin.addFault({
      service: 'kms',
      operation: 'EnableKeyRotation',
      latencyMs: { min: 3000, max: 3000 },
    });
    const arn = await newKeyArn();
    await createKmsKey('second', { keyId: arn, rotation: { periodInDays: 300 } });
    await new Promise((r) => setTimeout(r, 1000));
    await a.kill('SIGKILL');
    await admin.clearFaults();

    await eventually(async () => ((await leaseHolder()).startsWith('replica-b') ? true : undefined), {
      what: 'replica-b takes over',
      timeoutMs: 30_000,
    });

    await eventually(() => isReady('second'), {
      what: 'second Ready under the new leader',
      timeoutMs: 30_000,
    });
    const rotation = await kms.send(new GetKeyRotationStatusCommand({ KeyId: arn }));
    expect(rotation).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 300 });
    expect(await b.reconcileCount()).toBeGreaterThan(0);

    // A restarted replica stands by while the other leads.
    const a2 = replica('replica-a2', 'AKIAREPLICAA00000002');
    await a2.started;
    await createKmsKey('third', { keyId: await newKeyArn(), rotation: { periodInDays: 400 } });
    await eventually(() => isReady('third'), { what: 'third Ready', timeoutMs: 30_000 });
    expect(await a2.reconcileCount()).toBe(0);
    expect(Object.keys(await mutationsBy()).sort()).toEqual(['AKIAREPLICAA00000001', 'AKIAREPLICAB00000001']);

    // SIGTERM releases the lease: the standby takes over at once, not after the lease expires.
    const released = Date.now();
    void b.kill('SIGTERM');
    await eventually(async () => ((await leaseHolder()).startsWith('replica-a2') ? true : undefined), {
      what: 'replica-a2 takes over before the 8 s lease could have expired',
      timeoutMs: 6_500,
    });
    console.log(`leader handover after SIGTERM: ${((Date.now() - released) / 1000).toFixed(1)} s`);
    // And the process itself ends, cleanly: nothing (a loop's wait, a timer) holds it open until
    // the kubelet's SIGKILL.
    const exit = await b.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - released).toBeLessThan(10_000);
    await expectStatusInvariants(ns);
  });
});
