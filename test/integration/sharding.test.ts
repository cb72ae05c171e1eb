// Sharding by label: two operators watch the same namespace, one reconciling objects labelled
// cmk.io/shard=a, the other cmk.io/shard=b, each with its own Lease and its own AWS identity. Each
// acts only on its shard; a workload may use a key the other shard manages; and a key is never let
// go while a workload of another shard still uses it (the reference check reads the API server).

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EmulatorAdmin, emulatorAdmin } from '../../emulator/client.ts';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { apiVersion } from '../../src/api/shared.ts';
import { keyPolicyPreflight } from '../../src/keys/preflight.ts';
import { type RunningOperator, startOperator } from '../../src/operator.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { adminIdentity, createNamespace, eventually } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';
import { expectStatusInvariants } from './support/invariants.ts';
import { plurals } from './support/operator.ts';

const shards = {
  a: { accessKeyId: 'AKIASHARDA0000000001', lease: 'cmk-operator-a' },
  b: { accessKeyId: 'AKIASHARDB0000000001', lease: 'cmk-operator-b' },
} as const;
type Shard = keyof typeof shards;

let ns: string;
let emulator: RunningEmulator;
let admin: EmulatorAdmin;
const operators: RunningOperator[] = [];

interface Obj {
  metadata: { name: string; labels?: Record<string, string> };
  status?: {
    keyArn?: string;
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  };
}

async function create(kind: string, name: string, shard: Shard | undefined, spec: unknown): Promise<void> {
  const res = await adminIdentity().request('POST', `/apis/${apiVersion}/namespaces/${ns}/${plurals[kind]}`, {
    apiVersion,
    kind,
    metadata: { name, ...(shard ? { labels: { 'cmk.io/shard': shard } } : {}) },
    spec,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

async function get(kind: string, name: string): Promise<Obj | undefined> {
  const res = await adminIdentity().request(
    'GET',
    `/apis/${apiVersion}/namespaces/${ns}/${plurals[kind]}/${name}`,
  );
  return res.status === 200 ? (res.body as Obj) : undefined;
}

const conditionOf = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

async function readyArn(name: string): Promise<string> {
  return eventually(
    async () => {
      const o = await get('KmsKey', name);
      return conditionOf(o, 'Ready')?.status === 'True' ? o?.status?.keyArn : undefined;
    },
    { what: `KmsKey ${name} Ready`, timeoutMs: 30_000 },
  );
}

/** AWS calls, by which shard's operator made them. */
async function callsBy(shard: Shard) {
  return (await admin.calls()).filter((c) => c.userIdentity.accessKeyId === shards[shard].accessKeyId);
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('shard');
  emulator = await startEmulator({ config: { transitions: { default: { min: 200, max: 400 } } } });
  admin = emulatorAdmin(emulator.url);
  process.env['AWS_ENDPOINT_URL'] = emulator.url;
  for (const shard of ['a', 'b'] as const) {
    operators.push(
      await startOperator({
        kubeconfig: inject('kubeconfigPath'),
        namespaces: [ns],
        labelSelector: `cmk.io/shard=${shard}`,
        awsCredentials: { accessKeyId: shards[shard].accessKeyId, secretAccessKey: 'emulator-secret' },
        concurrency: 2,
        resyncMs: 1500,
        healthAddress: '127.0.0.1:0',
        metricsAddress: '127.0.0.1:0',
        leaderElection: { enabled: true, namespace: ns, name: shards[shard].lease },
        identity: `shard-${shard}`,
        defaultRegion: 'us-east-1',
        clusterName: 'it',
        policyPreflight: keyPolicyPreflight,
        log: silentLogger(),
      }),
    );
  }
});

afterAll(async () => {
  if (ns) await expectStatusInvariants(ns);
  await Promise.all(operators.map((o) => o.stop()));
  await emulator?.close();
});

describe('sharding by label selector', () => {
  it('each shard acts only on its own objects, under its own Lease, and may use the other shard’s keys', {
    timeout: 90_000,
  }, async () => {
    const policy = { create: { policy: { services: ['ManagedFlink', 'Keyspaces', 'EmrServerless'] } } };
    await create('KmsKey', 'key-a', 'a', policy);
    await create('KmsKey', 'key-b', 'b', {
      ...policy,
      deletionPolicy: 'ScheduleDeletion',
      pendingWindowInDays: 7,
    });
    const [arnA, arnB] = [await readyArn('key-a'), await readyArn('key-b')];

    emulator.seed({
      kinesisanalytics: { applications: [{ name: 'orders', status: 'READY' }] },
      cassandra: { keyspaces: [{ name: 'ks_shard', tables: [{ name: 'events' }] }] },
    });
    // Across shards: the shard-a application uses shard b's key, the shard-b table shard a's.
    await create('FlinkApplication', 'orders', 'a', {
      applicationName: 'orders',
      key: { kmsKeyRef: { name: 'key-b' } },
    });
    await create('KeyspacesTable', 'events', 'b', {
      keyspaceName: 'ks_shard',
      tableName: 'events',
      key: { kmsKeyRef: { name: 'key-a' } },
    });
    // No shard owns an unlabelled object.
    await create('FlinkApplication', 'nobody', undefined, {
      applicationName: 'orders',
      key: { awsOwned: true },
    });

    for (const [kind, name] of [
      ['FlinkApplication', 'orders'],
      ['KeyspacesTable', 'events'],
    ] as const) {
      await eventually(
        async () => (conditionOf(await get(kind, name), 'Ready')?.status === 'True' ? true : undefined),
        {
          what: `${kind}/${name} Ready`,
          timeoutMs: 30_000,
        },
      );
    }

    const [byA, byB] = [await callsBy('a'), await callsBy('b')];
    const created = (calls: typeof byA) =>
      calls.filter((c) => c.eventName === 'CreateKey' && !c.errorCode).length;
    expect([created(byA), created(byB)]).toEqual([1, 1]);
    const mutations = (calls: typeof byA, eventName: string) =>
      calls.filter((c) => c.eventName === eventName && !c.errorCode).length;
    expect(mutations(byA, 'UpdateApplication')).toBe(1);
    expect(mutations(byB, 'UpdateApplication')).toBe(0);
    expect(mutations(byB, 'UpdateTable')).toBe(1);
    expect(mutations(byA, 'UpdateTable')).toBe(0);
    // Neither shard touched the other's resource, even to read it.
    expect(byA.some((c) => c.eventSource.startsWith('cassandra.'))).toBe(false);
    expect(byB.some((c) => c.eventSource.startsWith('kinesisanalytics.'))).toBe(false);
    expect(arnA).not.toBe(arnB);

    for (const shard of ['a', 'b'] as const) {
      const lease = await adminIdentity().request(
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${shards[shard].lease}`,
      );
      expect((lease.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity).toBe(
        `shard-${shard}`,
      );
    }
    expect((await get('FlinkApplication', 'nobody'))?.status).toBeUndefined();
  });

  it('a key is not let go while another shard’s workload uses it', { timeout: 60_000 }, async () => {
    // key-b (shard b, deletionPolicy ScheduleDeletion) is used by the shard-a application only.
    const res = await adminIdentity().request('DELETE', `/apis/${apiVersion}/namespaces/${ns}/kmskeys/key-b`);
    expect([200, 202]).toContain(res.status);
    const blocked = await eventually(
      async () => {
        const c = conditionOf(await get('KmsKey', 'key-b'), 'DeletionBlocked');
        return c?.status === 'True' ? c : undefined;
      },
      { what: 'key-b DeletionBlocked', timeoutMs: 20_000 },
    );
    expect(blocked.message).toContain('orders');
    // Held well past a few resyncs: no deletion scheduled, the finalizer kept.
    await new Promise((r) => setTimeout(r, 4000));
    expect((await callsBy('b')).some((c) => c.eventName === 'ScheduleKeyDeletion')).toBe(false);
    expect(await get('KmsKey', 'key-b')).toBeDefined();

    // Once the application moves off it, shard b lets the key go.
    const app = (
      await adminIdentity().request('GET', `/apis/${apiVersion}/namespaces/${ns}/flinkapplications/orders`)
    ).body as { spec: Record<string, unknown> };
    app.spec['key'] = { awsOwned: true };
    const put = await adminIdentity().request(
      'PUT',
      `/apis/${apiVersion}/namespaces/${ns}/flinkapplications/orders`,
      app,
    );
    expect(put.status).toBe(200);
    await eventually(async () => ((await get('KmsKey', 'key-b')) === undefined ? true : undefined), {
      what: 'key-b released',
      timeoutMs: 30_000,
    });
    const scheduled = (await callsBy('b')).filter(
      (c) => c.eventName === 'ScheduleKeyDeletion' && !c.errorCode,
    );
    expect(scheduled).toHaveLength(1);
  });
});
