// API-server faults: the operator recovers without being restarted and misses no change.
//
// A private control plane (restarting the shared one would break every other file) and one
// operator, in this process, whose kubeconfig points at a loopback TCP proxy in front of
// kube-apiserver, so the test can break the network between them. Three faults, each while the
// desired state changes (workloads created, switched to another key, deleted):
//   (a) every connection cut, again and again: watches die mid-stream, requests in flight fail;
//   (b) kube-apiserver restarted (etcd stays);
//   (c) a real 410 Gone: the operator is partitioned away, many writes happen, etcd is compacted
//       past every resourceVersion the operator's informers hold, and the partition heals: the
//       informers must relist.
// After each: the same operator object, never having lost its leadership, has every workload on
// its desired key in AWS and in status, every deleted workload released (finalizer removed, object
// gone), and no status invariant broken. Faults and recovery times are recorded as figures.
//
// The private control plane runs with --watch-cache=false so that watches are served by etcd:
// compaction then really expires a watched resourceVersion, as it does on any cluster once the
// apiserver's watch-cache window has moved past it (which, with the cache on, takes many minutes
// of traffic). The leader lease is longer than the default (60 s / renew 45 s) so that an apiserver
// restart on a loaded machine does not end the leadership term: with the default 10 s renew
// deadline the operator would, by design, stop and be restarted by Kubernetes; this suite is about
// what the informers and the client do, without a restart.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EMRServerlessClient, GetApplicationCommand } from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, KeyspacesClient } from '@aws-sdk/client-keyspaces';
import { DescribeApplicationCommand, KinesisAnalyticsV2Client } from '@aws-sdk/client-kinesis-analytics-v2';
import type { DestinationStream } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { customResourceDefinition, kinds } from '../../src/api/kinds.ts';
import { cmkResources } from '../../src/api/resources.ts';
import { apiVersion } from '../../src/api/shared.ts';
import { type ControlPlane, startControlPlane } from '../../src/dev/devenv/control-plane.ts';
import { keyPolicyPreflight } from '../../src/keys/preflight.ts';
import { type RunningOperator, startOperator } from '../../src/operator.ts';
import type { Condition } from '../../src/runtime/conditions.ts';
import {
  createKubeClient,
  isNotFound,
  type KubeClient,
  type KubeObject,
  loadKubeConfig,
  type ResourceType,
  resourceTypes,
} from '../../src/runtime/kube.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { recordFigures } from '../support/figures.ts';
import { eventually } from './support/cluster.ts';
import { statusViolations } from './support/invariants.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

const region = 'us-east-1';
const namespace = 'apiserver-faults';
const tester = { accessKeyId: 'AKIATESTER0000000001', secretAccessKey: 'x' };
const convergeTimeoutMs = 90_000;

let cp: ControlPlane;
let proxy: TcpProxy;
let kube: KubeClient;
let emulator: RunningEmulator;
let operator: RunningOperator;
let leadershipLost: string | undefined;
let flink: KinesisAnalyticsV2Client;
let keyspaces: KeyspacesClient;
let emr: EMRServerlessClient;

// ---- what the operator logs about its watches ---------------------------------------------------

const logCounts = { relists: new Map<string, number>(), watchFailures: 0, leadershipLost: 0 };
const relistTimes: number[] = [];
const recentLog: string[] = [];
const logSink: DestinationStream = {
  write(line: string) {
    recentLog.push(line);
    if (recentLog.length > 300) recentLog.shift();
    if (line.includes('resourceVersion too old; relisting')) {
      const informer = /"informer":"([^"]+)"/.exec(line)?.[1] ?? '?';
      logCounts.relists.set(informer, (logCounts.relists.get(informer) ?? 0) + 1);
      relistTimes.push(Date.now());
    } else if (line.includes('list/watch failed; retrying after backoff')) logCounts.watchFailures += 1;
    else if (line.includes('leadership lost')) logCounts.leadershipLost += 1;
  },
};
const totalRelists = () => [...logCounts.relists.values()].reduce((a, b) => a + b, 0);

// ---- the desired state, as the test changes it ---------------------------------------------------

type Kind = 'FlinkApplication' | 'KeyspacesTable' | 'EmrServerlessApplication';
const typeOf: Record<Kind, ResourceType> = {
  FlinkApplication: cmkResources.flinkApplication,
  KeyspacesTable: cmkResources.keyspacesTable,
  EmrServerlessApplication: cmkResources.emrServerlessApplication,
};
const serviceKinds: Kind[] = ['FlinkApplication', 'KeyspacesTable', 'EmrServerlessApplication'];
interface Desired {
  kind: Kind;
  name: string;
  key: 'a' | 'b' | 'deleted';
}
const desired = new Map<string, Desired>();
const keyArns: Record<'a' | 'b', string> = { a: '', b: '' };
let serial = 0;

interface WorkloadObject extends KubeObject {
  status?: { observedGeneration?: number; current?: { keyArn?: string }; conditions?: Condition[] };
}

const emrIdOf = (name: string) => `00fd${name.replace(/\D/g, '').padStart(12, '0')}`;

/** Seeds the AWS resource for a new workload of `kind` and creates the object on key `key`. */
async function createWorkload(kind: Kind, key: 'a' | 'b'): Promise<Desired> {
  serial += 1;
  const name = `${kind === 'FlinkApplication' ? 'app' : kind === 'KeyspacesTable' ? 'tbl' : 'emr'}${serial}`;
  let spec: Record<string, unknown>;
  if (kind === 'FlinkApplication') {
    emulator.seed({ kinesisanalytics: { applications: [{ name, status: 'READY' }] } });
    spec = { applicationName: name };
  } else if (kind === 'KeyspacesTable') {
    emulator.seed({ cassandra: { keyspaces: [{ name: `ks_${name}`, tables: [{ name }] }] } });
    spec = { keyspaceName: `ks_${name}`, tableName: name };
  } else {
    emulator.seed({ 'emr-serverless': { applications: [{ name, id: emrIdOf(name), state: 'CREATED' }] } });
    spec = { applicationId: emrIdOf(name) };
  }
  const d: Desired = { kind, name, key };
  desired.set(`${kind}/${name}`, d);
  await kube.create(typeOf[kind], {
    apiVersion,
    kind,
    metadata: { name, namespace },
    spec: { ...spec, key: { kmsKeyRef: { name: key } } },
  } as KubeObject);
  return d;
}

async function switchKey(d: Desired): Promise<void> {
  if (d.key === 'deleted') throw new Error(`${d.name} is deleted`);
  d.key = d.key === 'a' ? 'b' : 'a';
  await kube.mergePatch(
    typeOf[d.kind],
    { namespace, name: d.name },
    { spec: { key: { kmsKeyRef: { name: d.key } } } },
  );
}

async function deleteWorkload(d: Desired): Promise<void> {
  d.key = 'deleted';
  await kube.delete(typeOf[d.kind], { namespace, name: d.name });
}

const live = () => [...desired.values()].filter((d) => d.key !== 'deleted');
const pick = (kind: Kind, n: number) =>
  live()
    .filter((d) => d.kind === kind)
    .slice(0, n);

const cond = (o: WorkloadObject, type: string) => o.status?.conditions?.find((c) => c.type === type);

/** What still differs from the desired state, in status and in the objects' existence. */
async function differences(): Promise<string[]> {
  const diffs: string[] = [];
  for (const kind of serviceKinds) {
    const items = (await kube.list<WorkloadObject>(typeOf[kind], { namespace })).items;
    for (const d of [...desired.values()].filter((x) => x.kind === kind)) {
      const o = items.find((i) => i.metadata.name === d.name);
      if (d.key === 'deleted') {
        if (o)
          diffs.push(`${kind}/${d.name}: still exists (finalizers ${JSON.stringify(o.metadata.finalizers)})`);
        continue;
      }
      const arn = keyArns[d.key];
      if (!o) diffs.push(`${kind}/${d.name}: missing`);
      else if (
        o.status?.current?.keyArn !== arn ||
        o.status.observedGeneration !== o.metadata.generation ||
        cond(o, 'Ready')?.status !== 'True'
      ) {
        diffs.push(
          `${kind}/${d.name}: want key ${d.key}; status ${JSON.stringify({
            current: o.status?.current?.keyArn,
            observedGeneration: o.status?.observedGeneration,
            generation: o.metadata.generation,
            conditions: o.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
          })}`,
        );
      }
    }
  }
  return diffs;
}

/** Waits until the desired state is reached; returns how long that took from `since`. */
async function converged(since: number, what: string): Promise<number> {
  let last: string[] = [];
  try {
    await eventually(
      async () => {
        last = await differences();
        return last.length === 0 ? true : undefined;
      },
      { what, timeoutMs: convergeTimeoutMs, intervalMs: 200 },
    );
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\n${last.join('\n')}\noperator log tail:\n${recentLog.slice(-20).join('')}`,
    );
  }
  return Date.now() - since;
}

async function awsKeyOf(d: Desired): Promise<string | undefined> {
  if (d.kind === 'FlinkApplication') {
    const out = await flink.send(new DescribeApplicationCommand({ ApplicationName: d.name }));
    return out.ApplicationDetail?.ApplicationConfigurationDescription
      ?.ApplicationEncryptionConfigurationDescription?.KeyId;
  }
  if (d.kind === 'KeyspacesTable') {
    const out = await keyspaces.send(
      new GetTableCommand({ keyspaceName: `ks_${d.name}`, tableName: d.name }),
    );
    return out.encryptionSpecification?.kmsKeyIdentifier;
  }
  const out = await emr.send(new GetApplicationCommand({ applicationId: emrIdOf(d.name) }));
  return out.application?.diskEncryptionConfiguration?.encryptionKeyArn;
}

/** Everything a user relies on after a fault, asserted. */
async function expectRecovered(): Promise<void> {
  // The same operator, still leading: it was never restarted and never gave up.
  expect(leadershipLost).toBeUndefined();
  expect(operator.isLeader()).toBe(true);
  expect(logCounts.leadershipLost).toBe(0);
  // Its informers are live again (the liveness probe reads their last progress).
  expect((await fetch(`${operator.health.healthUrl}/healthz`)).status).toBe(200);
  // Every workload on its key in AWS too, not only in status.
  for (const d of live())
    expect(await awsKeyOf(d), `${d.kind}/${d.name} in AWS`).toBe(keyArns[d.key as 'a' | 'b']);
  // No status invariant broken on any object, KmsKeys included.
  const violations: string[] = [];
  for (const type of [cmkResources.kmsKey, ...serviceKinds.map((k) => typeOf[k])]) {
    for (const o of (await kube.list<WorkloadObject>(type, { namespace })).items)
      violations.push(...statusViolations({ ...o, kind: type.kind } as never));
  }
  expect(violations).toEqual([]);
}

// ---- figures ----------------------------------------------------------------------------------

interface ScenarioFigures {
  scenario: string;
  faults: number;
  detail: string;
  changes: number;
  recoveryMs: number;
}
const scenarios: ScenarioFigures[] = [];

// ---- set-up -----------------------------------------------------------------------------------

beforeAll(async () => {
  cp = await startControlPlane({ apiserverArgs: ['--watch-cache=false'] });
  kube = createKubeClient(loadKubeConfig(cp.kubeconfigPath));
  for (const def of kinds) {
    await kube.apply(
      resourceTypes.customResourceDefinition,
      customResourceDefinition(def) as unknown as KubeObject,
      {
        fieldManager: 'cmk-tests',
        force: true,
      },
    );
  }
  for (const def of kinds) {
    await eventually(
      async () => {
        const crd = await kube.get<KubeObject & { status?: { conditions?: Condition[] } }>(
          resourceTypes.customResourceDefinition,
          { name: `${def.plural}.cmk.io` },
        );
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
          ? true
          : undefined;
      },
      { what: `${def.plural} established`, timeoutMs: 30_000 },
    );
  }
  await kube.create(resourceTypes.namespace, { metadata: { name: namespace } });

  // The operator reaches the apiserver only through the proxy; TLS stays end to end.
  proxy = await startTcpProxy({ port: Number(new URL(cp.server).port) });
  const viaProxy = join(cp.dir, 'operator-via-proxy.kubeconfig');
  await writeFile(
    viaProxy,
    (await readFile(cp.kubeconfigPath, 'utf8')).replaceAll(cp.server, `https://127.0.0.1:${proxy.port}`),
    { mode: 0o600 },
  );

  emulator = await startEmulator({ config: { transitions: { default: { min: 200, max: 400 } } } });
  process.env['AWS_ENDPOINT_URL'] = emulator.url;
  process.env['AWS_REGION'] = region;
  process.env['AWS_ACCESS_KEY_ID'] = 'AKIAOPERATOR00000001';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'emulator-secret';
  const aws = { endpoint: emulator.url, region, credentials: tester };
  flink = new KinesisAnalyticsV2Client(aws);
  keyspaces = new KeyspacesClient(aws);
  emr = new EMRServerlessClient(aws);

  operator = await startOperator({
    kubeconfig: viaProxy,
    namespaces: [namespace],
    concurrency: 4,
    resyncMs: 10_000,
    healthAddress: '127.0.0.1:0',
    metricsAddress: '127.0.0.1:0',
    leaderElection: {
      enabled: true,
      namespace,
      name: 'cmk-operator',
      leaseDurationMs: 60_000,
      renewDeadlineMs: 45_000,
      retryPeriodMs: 2_000,
    },
    identity: 'apiserver-faults',
    defaultRegion: region,
    clusterName: 'it',
    policyPreflight: keyPolicyPreflight,
    log: createLogger({ level: 'info', destination: logSink }),
  });
  void operator.lostLeadership.then((reason) => {
    leadershipLost = reason;
  });

  for (const key of ['a', 'b'] as const) {
    await kube.create(cmkResources.kmsKey, {
      apiVersion,
      kind: 'KmsKey',
      metadata: { name: key, namespace },
      spec: { create: { policy: { services: ['ManagedFlink', 'Keyspaces', 'EmrServerless'] } } },
    } as KubeObject);
  }
  for (const key of ['a', 'b'] as const) {
    keyArns[key] = await eventually(
      async () => {
        const o = await kube.get<KubeObject & { status?: { keyArn?: string; conditions?: Condition[] } }>(
          cmkResources.kmsKey,
          { namespace, name: key },
        );
        return o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? o.status.keyArn
          : undefined;
      },
      { what: `KmsKey ${key} Ready`, timeoutMs: 60_000 },
    );
  }
  // Two workloads per service, on key a.
  for (const kind of serviceKinds) for (let i = 0; i < 2; i++) await createWorkload(kind, 'a');
  await converged(Date.now(), 'initial workloads on key a');
}, 180_000);

afterAll(async () => {
  if (scenarios.length > 0) {
    const stats = proxy?.stats();
    recordFigures('apiserver-faults', {
      title: 'API-server faults (connections cut, kube-apiserver restarted, 410 Gone after compaction)',
      reproduce: 'npx vitest run --project integration test/integration/reliability-apiserver.test.ts',
      figures: [
        ...scenarios.map((s) => ({
          what: `${s.scenario}: ${s.detail}; ${s.changes} changes made meanwhile; all reconciled after`,
          value: s.recoveryMs,
          unit: 'ms',
        })),
        { what: 'connections cut by the proxy', value: stats?.cut ?? 0 },
        { what: 'connections refused during partitions', value: stats?.refused ?? 0 },
        { what: 'informer relists after 410 Gone', value: totalRelists() },
        { what: 'list/watch failures retried with backoff', value: logCounts.watchFailures },
      ],
      lost: {
        'changes not reconciled': 0,
        'deleted objects left with a finalizer': 0,
        'operator restarts or lost leadership': logCounts.leadershipLost + (leadershipLost ? 1 : 0),
      },
      headline: { faultsInjected: scenarios.reduce((n, s) => n + s.faults, 0) },
    });
  }
  await operator?.stop();
  await proxy?.close();
  await emulator?.close();
  await cp?.stop();
}, 60_000);

// ---- the faults ---------------------------------------------------------------------------------

describe('API-server faults: the operator recovers in place and misses no change', () => {
  it('(a) every connection cut repeatedly while workloads are created, switched and deleted', {
    timeout: 150_000,
  }, async () => {
    await eventually(async () => (proxy.open() >= 6 ? true : undefined), { what: 'watches open' });
    const failuresBefore = logCounts.watchFailures;
    let cuts = 0;
    let cutConnections = 0;
    let changesDone = false;
    // Cut everything every 300-700 ms while the changes are made, until at least eight cuts found
    // open connections (the informers back off between reconnects, so some cuts find none).
    const cutter = (async () => {
      const until = Date.now() + 30_000;
      while (Date.now() < until && !(changesDone && cuts >= 8)) {
        await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 400)));
        const n = proxy.cut();
        cutConnections += n;
        if (n > 0) cuts += 1;
      }
    })();
    let changes = 0;
    try {
      for (const kind of serviceKinds) {
        await createWorkload(kind, 'a');
        changes += 1;
        await new Promise((r) => setTimeout(r, 250));
      }
      for (const kind of serviceKinds) {
        const [d] = pick(kind, 1);
        if (d) await switchKey(d);
        changes += 1;
        await new Promise((r) => setTimeout(r, 250));
      }
      const [victim] = pick('KeyspacesTable', 1);
      if (victim) await deleteWorkload(victim);
      changes += 1;
    } finally {
      changesDone = true;
      await cutter;
    }
    expect(cuts).toBeGreaterThanOrEqual(8);
    // The informers saw their watches die (and came back: see below).
    expect(logCounts.watchFailures - failuresBefore).toBeGreaterThanOrEqual(3);
    const healedAt = Date.now();
    const recoveryMs = await converged(healedAt, 'every change reconciled after the cuts');
    await expectRecovered();
    scenarios.push({
      scenario: '(a) connections cut',
      faults: cuts,
      detail: `${cuts} cuts of every connection (${cutConnections} connections, watches included)`,
      changes,
      recoveryMs,
    });
  });

  it('(b) kube-apiserver restarted (etcd stays) while changes are made', { timeout: 150_000 }, async () => {
    let changes = 0;
    // Changes just before the restart: the operator may not get to them before it goes down.
    for (const kind of serviceKinds) {
      const [d] = pick(kind, 1);
      if (d) await switchKey(d);
      changes += 1;
    }
    await createWorkload('FlinkApplication', 'b');
    changes += 1;
    const { downMs } = await cp.restartApiserver();
    // And right after it is back, before the operator has reconnected.
    const upAt = Date.now();
    const [toDelete] = pick('EmrServerlessApplication', 1);
    if (toDelete) await deleteWorkload(toDelete);
    await createWorkload('KeyspacesTable', 'b');
    const [again] = pick('FlinkApplication', 2).slice(1);
    if (again) await switchKey(again);
    changes += 3;
    const recoveryMs = await converged(upAt, 'every change reconciled after the restart');
    await expectRecovered();
    scenarios.push({
      scenario: '(b) kube-apiserver restarted',
      faults: 1,
      detail: `apiserver down ${downMs} ms; recovery counted from ready again`,
      changes,
      recoveryMs,
    });
  });

  it('(c) 410 Gone: partitioned, many writes, etcd compacted past the informers; they relist', {
    timeout: 150_000,
  }, async () => {
    await converged(Date.now(), 'settled before the partition');
    await eventually(async () => (proxy.open() >= 6 ? true : undefined), { what: 'watches open' });
    const relistsBefore = new Map(logCounts.relists);
    proxy.refuse();
    proxy.cut();
    let changes = 0;
    try {
      // Many writes while the operator cannot see them: every live workload switches key, two are
      // created, one deleted, and each live workload's metadata churns (annotations, no new generation).
      for (const d of live()) {
        await switchKey(d);
        changes += 1;
      }
      await createWorkload('EmrServerlessApplication', 'a');
      await createWorkload('FlinkApplication', 'b');
      changes += 2;
      const [victim] = pick('FlinkApplication', 1);
      if (victim) await deleteWorkload(victim);
      changes += 1;
      for (let round = 0; round < 3; round++) {
        for (const d of live()) {
          await kube.mergePatch(
            typeOf[d.kind],
            { namespace, name: d.name },
            { metadata: { annotations: { 'test.cmk.io/churn': String(round) } } },
          );
          changes += 1;
        }
      }
      await cp.compactEtcd();
    } finally {
      proxy.accept();
    }
    const healedAt = Date.now();
    const recoveryMs = await converged(healedAt, 'every change reconciled after the relist');
    const firstRelistMs = (relistTimes.find((t) => t >= healedAt) ?? Number.NaN) - healedAt;
    // The workload informers really got 410 and relisted (not a resumed watch).
    for (const plural of ['flinkapplications', 'keyspacestables', 'emrserverlessapplications']) {
      expect(logCounts.relists.get(plural) ?? 0, `${plural} relisted`).toBeGreaterThan(
        relistsBefore.get(plural) ?? 0,
      );
    }
    const relists = totalRelists() - [...relistsBefore.values()].reduce((a, b) => a + b, 0);
    await expectRecovered();
    // Deleted while the operator was away: released, gone.
    for (const d of [...desired.values()].filter((x) => x.key === 'deleted')) {
      const gone = await kube.get(typeOf[d.kind], { namespace, name: d.name }).catch((e: unknown) => e);
      expect(isNotFound(gone), `${d.kind}/${d.name} gone`).toBe(true);
    }
    scenarios.push({
      scenario: '(c) 410 Gone after compaction',
      // One fault (a partition with a compaction in it); the relists are its consequence.
      faults: 1,
      detail: `${relists} informer relists forced by a real 410 (etcd compacted during a partition), the first ${firstRelistMs} ms after it healed (reconnect backoff)`,
      changes,
      recoveryMs,
    });
  });
});
