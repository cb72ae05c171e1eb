// The operator as a real process (`cmk-operator run`), twice: leader election on a Lease decides
// which replica acts; the standby writes nothing to AWS or to status; killing the leader (-9) hands
// over within the lease duration; a process killed in the middle of a reconcile leaves nothing the
// next leader cannot finish.

import { type ChildProcess, spawn } from 'node:child_process';
import { CreateKeyCommand, GetKeyRotationStatusCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EmulatorAdmin, emulatorAdmin } from '../../emulator/client.ts';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { apiVersion } from '../../src/api/shared.ts';
import { adminIdentity, createNamespace, eventually } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';
import { expectStatusInvariants } from './support/invariants.ts';

interface Replica {
  name: string;
  accessKey: string;
  child: ChildProcess;
  metricsUrl: Promise<string>;
  output: string[];
}

let ns: string;
let emulator: RunningEmulator;
let admin: EmulatorAdmin;
let kms: KMSClient;
const replicas: Replica[] = [];

function startReplica(name: string, accessKey: string): Replica {
  const child = spawn(
    process.execPath,
    [
      'src/cli/main.ts',
      'run',
      '--kubeconfig',
      inject('kubeconfigPath'),
      '--namespaces',
      ns,
      '--leader-election-namespace',
      ns,
      '--resync',
      '1s',
      '--health-address',
      '127.0.0.1:0',
      '--metrics-address',
      '127.0.0.1:0',
      '--cluster-name',
      'it',
      '--region',
      'us-east-1',
      '--log-level',
      'info',
    ],
    {
      env: {
        ...process.env,
        POD_NAME: name,
        AWS_ENDPOINT_URL: emulator.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: accessKey,
        AWS_SECRET_ACCESS_KEY: 'emulator-secret',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  const metricsUrl = new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        output.push(line);
        if (line.includes('cmk-operator started')) resolve((JSON.parse(line) as { metrics: string }).metrics);
        nl = buffer.indexOf('\n');
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.once('exit', (code) =>
      reject(new Error(`${name} exited with ${code}: ${output.slice(-20).join('\n')}`)),
    );
  });
  metricsUrl.catch(() => {});
  const replica = { name, accessKey, child, metricsUrl, output };
  replicas.push(replica);
  return replica;
}

async function leaseHolder(): Promise<string> {
  const res = await adminIdentity().request(
    'GET',
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/cmk-operator`,
  );
  return res.status === 200
    ? ((res.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity ?? '')
    : '';
}

async function reconcileCount(replica: Replica): Promise<number> {
  const text = await (await fetch(`${await replica.metricsUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('controller_runtime_reconcile_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
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
  for (const r of replicas) r.child.kill('SIGKILL');
  await emulator?.close();
});

describe('two operator processes', () => {
  it('only the leader acts; killing it hands over within the lease duration; a reconcile cut short is finished by the next leader', async () => {
    const a = startReplica('replica-a', 'AKIAREPLICAA00000001');
    await a.metricsUrl;
    await eventually(async () => ((await leaseHolder()).startsWith('replica-a') ? true : undefined), {
      what: 'replica-a leads',
      timeoutMs: 30_000,
    });
    const b = startReplica('replica-b', 'AKIAREPLICAB00000001');
    await b.metricsUrl;

    await createKmsKey('first', { keyId: await newKeyArn(), rotation: { periodInDays: 200 } });
    await eventually(() => isReady('first'), { what: 'first Ready', timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 2000)); // a resync or two on both replicas
    expect(await mutationsBy()).toEqual({ AKIAREPLICAA00000001: 1 });
    expect(await reconcileCount(a)).toBeGreaterThan(0);
    expect(await reconcileCount(b)).toBe(0);

    // Kill the leader in the middle of a reconcile: its EnableKeyRotation is held 3 s by the emulator.
    await admin.addFault({
      service: 'kms',
      operation: 'EnableKeyRotation',
      latencyMs: { min: 3000, max: 3000 },
    });
    const arn = await newKeyArn();
    await createKmsKey('second', { keyId: arn, rotation: { periodInDays: 300 } });
    await new Promise((r) => setTimeout(r, 1000));
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await admin.clearFaults();

    await eventually(async () => ((await leaseHolder()).startsWith('replica-b') ? true : undefined), {
      what: 'replica-b takes over',
      timeoutMs: 30_000,
    });
    const takeoverMs = Date.now() - killedAt;
    console.log(`leader takeover after kill -9: ${(takeoverMs / 1000).toFixed(1)} s (lease duration 15 s)`);
    expect(takeoverMs).toBeLessThan(25_000);

    await eventually(() => isReady('second'), {
      what: 'second Ready under the new leader',
      timeoutMs: 30_000,
    });
    const rotation = await kms.send(new GetKeyRotationStatusCommand({ KeyId: arn }));
    expect(rotation).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 300 });
    expect(await reconcileCount(b)).toBeGreaterThan(0);

    // A restarted replica stands by while the other leads.
    const a2 = startReplica('replica-a2', 'AKIAREPLICAA00000002');
    await a2.metricsUrl;
    await createKmsKey('third', { keyId: await newKeyArn(), rotation: { periodInDays: 400 } });
    await eventually(() => isReady('third'), { what: 'third Ready', timeoutMs: 30_000 });
    expect(await reconcileCount(a2)).toBe(0);
    expect(Object.keys(await mutationsBy()).sort()).toEqual(['AKIAREPLICAA00000001', 'AKIAREPLICAB00000001']);

    // SIGTERM releases the lease: the standby takes over at once, not after the lease expires.
    const released = Date.now();
    b.child.kill('SIGTERM');
    await eventually(async () => ((await leaseHolder()).startsWith('replica-a2') ? true : undefined), {
      what: 'replica-a2 takes over',
      timeoutMs: 10_000,
    });
    console.log(`leader handover after SIGTERM: ${((Date.now() - released) / 1000).toFixed(1)} s`);
    await expectStatusInvariants(ns);
  });
});
