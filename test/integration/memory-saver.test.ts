// `cmk-operator run` with its default `--memory-saver auto`, as real processes (a leader and a
// standby): V8's memory saver mode is on while nothing changes and off from the moment a change
// arrives until it is done; a standby, which reconciles nothing, stays on; the change itself is
// carried out as without it (src/runtime/memory-saver.ts).

import { CreateKeyCommand, GetKeyRotationStatusCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiVersion } from '../../src/api/shared.ts';
import { useEmulator } from '../fixtures/emulator.ts';
import { adminIdentity, createNamespace, eventually } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';
import { type LogLine, type Replica, readLease, startReplica, stopAllReplicas } from './support/replica.ts';

const aws = useEmulator();
let ns: string;
let kms: KMSClient;

const savesMemory = (l: LogLine) => l.msg === 'settled: memory saver on';
const busy = (l: LogLine) => l.msg === 'busy: memory saver off';

async function gauge(replica: Replica): Promise<number | undefined> {
  const { metricsUrl } = await replica.started;
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('cmk_memory_saver '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** A KMS key and a KmsKey in `namespace` that adopts it and sets its rotation period. */
async function adoptKey(namespace: string, name: string, periodInDays: number): Promise<string> {
  const arn = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const created = await adminIdentity().request(
    'POST',
    `/apis/${apiVersion}/namespaces/${namespace}/kmskeys`,
    {
      apiVersion,
      kind: 'KmsKey',
      metadata: { name },
      spec: { keyId: arn, rotation: { periodInDays } },
    },
  );
  expect(created.status).toBe(201);
  return arn;
}

async function waitReady(namespace: string, name: string): Promise<void> {
  await eventually(
    async () => {
      const res = await adminIdentity().request(
        'GET',
        `/apis/${apiVersion}/namespaces/${namespace}/kmskeys/${name}`,
      );
      const ready = (
        res.body as { status?: { conditions?: Array<{ type: string; status: string }> } }
      ).status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' ? true : undefined;
    },
    { timeoutMs: 30_000, what: `the KmsKey ${name} Ready` },
  );
}

/** A `cmk-operator run` process with a 1 s resync and a short Lease, at debug level. */
function start(name: string, accessKeyId: string, namespace: string, extraArgs: string[] = []): Replica {
  return startReplica({
    name,
    accessKeyId,
    kubeconfig: inject('kubeconfigPath'),
    awsEndpoint: aws.emulator.url,
    namespaces: [namespace],
    leaseNamespace: namespace,
    resync: '1s',
    lease: { duration: '8s', renewDeadline: '5s', retryPeriod: '1s' },
    logLevel: 'debug',
    extraArgs,
  });
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('memory-saver');
  kms = new KMSClient(aws.clientConfig());
});

afterAll(stopAllReplicas);

describe('--memory-saver auto', () => {
  it('is on while settled, off from the first change until it is done, on again after; a standby stays on; the change is made', async () => {
    const first = start('saver-a', 'AKIAREPLICA000000001', ns);
    await first.waitForLine((l) => l.msg === 'caches synced; reconciling', 30_000);
    const standby = start('saver-b', 'AKIAREPLICA000000002', ns);
    const leader = first;
    expect((await readLease(ns)).holder).toBe((await leader.started).identity);
    // Nothing to do: on after the settle, and resyncs every second leave it on. The standby's queues
    // hold every object and are never worked: it is settled too.
    await leader.waitForLine(savesMemory, 30_000);
    await standby.waitForLine(savesMemory, 30_000);
    expect(await gauge(leader)).toBe(1);
    expect(await gauge(standby)).toBe(1);
    const settledLines = leader.lines.length;
    const standbySettledLines = standby.lines.length;

    // A change: a KmsKey that adopts a key and sets its rotation period.
    const arn = await adoptKey(ns, 'adopted', 200);
    const off = await leader.waitForLine((l) => busy(l) && leader.lines.indexOf(l) >= settledLines, 30_000);
    await waitReady(ns, 'adopted');
    const again = await leader.waitForLine(
      (l) => savesMemory(l) && leader.lines.indexOf(l) > leader.lines.indexOf(off),
      30_000,
    );
    // Off before the key's first reconcile started, on only after the change was done.
    const firstReconcile = leader.lines.findIndex(
      (l, i) => i >= settledLines && typeof l['msg'] === 'string' && JSON.stringify(l).includes('adopted'),
    );
    expect(firstReconcile).toBeGreaterThan(-1);
    expect(leader.lines.indexOf(off)).toBeLessThan(firstReconcile);
    expect(again.at).toBeGreaterThanOrEqual(off.at + 2_000); // the settle time
    expect(await gauge(leader)).toBe(1);
    // The standby saw the new object in its cache and queue, and stayed on.
    expect(standby.lines.slice(standbySettledLines).filter(busy)).toEqual([]);
    expect(await gauge(standby)).toBe(1);
    const rotation = await kms.send(new GetKeyRotationStatusCommand({ KeyId: arn }));
    expect(rotation).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 200 });
  }, 120_000);

  it('with a --memory-target below the resident set, is on while changes are made too, and the changes are made', async () => {
    // A namespace and Lease of its own: the emulator starts each test afresh, so this test's first
    // key has the id of the key above, which the KmsKey there still names.
    await stopAllReplicas();
    const own = await createNamespace('memory-target');
    // No process is this small: the target holds the mode on from the first check.
    const replica = start('saver-target', 'AKIAREPLICA000000003', own, ['--memory-target', '1Mi']);
    const above = await replica.waitForLine(
      (l) => l.msg === 'above the memory target: memory saver on',
      30_000,
    );
    expect(above['why']).toBe('target');
    await replica.waitForLine((l) => l.msg === 'caches synced; reconciling', 30_000);
    const arn = await adoptKey(own, 'under-target', 190);
    await waitReady(own, 'under-target');
    // The change was reconciled (its key's rotation is set) with the mode on throughout: the
    // change reported no "busy" (that would have turned it off), and the gauge says on.
    expect(replica.lines.some((l) => JSON.stringify(l).includes('under-target'))).toBe(true);
    expect(replica.lines.filter(busy)).toEqual([]);
    expect(await gauge(replica)).toBe(1);
    const rotation = await kms.send(new GetKeyRotationStatusCommand({ KeyId: arn }));
    expect(rotation).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 190 });
  }, 120_000);
});
