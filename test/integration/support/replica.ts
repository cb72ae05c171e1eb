// The operator as a real child process (`node src/cli/main.ts run ...`), as a Deployment's pod runs
// it: Kubernetes through a kubeconfig, AWS through the SDK's standard environment (AWS_ENDPOINT_URL,
// AWS_REGION, credentials). Each incarnation signs its AWS calls with its own access key id, so the
// emulator's call log says which process made each call. The helper keeps every JSON log line with
// its own timestamp, resolves the metrics URL from 'cmk-operator started', records when the process
// became leader, stopped leading, was killed and exited, and never leaves a child behind
// (`stopAllReplicas` in afterAll). `startRecordingProxy` puts a pass-through proxy between the
// processes and the emulator that ties every call-log entry to its request path (EMR's resource ids
// are in the path, which the call log does not keep). `leadershipTerm` turns a process's log into
// its term, for checking that every AWS mutation fell inside its caller's term. `onEmulatorCall`
// runs a test's hook (a kill) the moment the in-process emulator has served a call, before it answers.
//
// The second half is the fleet those processes work on: two service-ready KMS keys (A and B, from
// examples/emulator-seed.yaml), AWS resources of the three services seeded into the emulator, their
// cmk.io objects, and reads of both sides (status from the apiserver, the encryption AWS reports
// through the real SDK clients).

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EMRServerlessClient, GetApplicationCommand } from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, KeyspacesClient } from '@aws-sdk/client-keyspaces';
import { DescribeApplicationCommand, KinesisAnalyticsV2Client } from '@aws-sdk/client-kinesis-analytics-v2';
import { parse } from 'yaml';
import type { CallRecord } from '../../../emulator/core/calllog.ts';
import type { RunningEmulator } from '../../../emulator/index.ts';
import { apiVersion } from '../../../src/api/shared.ts';
import type { Condition } from '../../../src/runtime/conditions.ts';
import { adminIdentity } from './cluster.ts';

export interface ReplicaOptions {
  /** POD_NAME: the Lease identity is this plus a random suffix. */
  name: string;
  /** AWS access key id this process signs with (the emulator accepts any AKIA... key). */
  accessKeyId: string;
  kubeconfig: string;
  awsEndpoint: string;
  namespaces: string[];
  leaseNamespace: string;
  region?: string;
  resync?: string;
  concurrency?: number;
  /** Lease timing flags, e.g. { duration: '3s', renewDeadline: '2s', retryPeriod: '500ms' }; default: the operator's. */
  lease?: { duration: string; renewDeadline: string; retryPeriod: string };
  logLevel?: string;
  clusterName?: string;
  /** More flags of `run`, after the ones above. */
  extraArgs?: string[];
}

export interface LogLine {
  /** Epoch ms of the line's own `time`. */
  at: number;
  msg: string;
  level: string;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Epoch ms when this process saw the exit. */
  at: number;
}

export interface Replica {
  name: string;
  accessKeyId: string;
  child: ChildProcess;
  /** Every JSON log line so far (stdout), in order. */
  lines: LogLine[];
  /** Resolves once the process logged 'cmk-operator started'; rejects if it exits first. */
  started: Promise<{ identity: string; metricsUrl: string; healthUrl: string }>;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  exit?: Exit;
  /** Lease identity once started. */
  identity?: string;
  /** Time of the 'became leader' line, once logged. */
  leaderSince?: number;
  /** Time of the line saying leadership ended (renew deadline, lease taken), once logged. */
  stoppedLeadingAt?: number;
  /** When the test sent the kill signal (just before sending it). */
  killedAt?: number;
  /** Resolves with the first line `match` accepts (past or future), or rejects after timeoutMs / on exit. */
  waitForLine(match: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
  /** Sends the signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** The last lines of output (stdout and stderr), for failure messages. */
  tail(n?: number): string;
  /** Sum of controller_runtime_reconcile_total over every controller. */
  reconcileCount(): Promise<number>;
}

const running = new Set<Replica>();

export function startReplica(options: ReplicaOptions): Replica {
  const args = [
    'src/cli/main.ts',
    'run',
    '--kubeconfig',
    options.kubeconfig,
    '--namespaces',
    options.namespaces.join(','),
    '--leader-election-namespace',
    options.leaseNamespace,
    '--resync',
    options.resync ?? '1s',
    '--concurrency',
    String(options.concurrency ?? 4),
    '--health-address',
    '127.0.0.1:0',
    '--metrics-address',
    '127.0.0.1:0',
    '--cluster-name',
    options.clusterName ?? 'it',
    '--region',
    options.region ?? 'us-east-1',
    '--log-level',
    options.logLevel ?? 'info',
    ...(options.lease
      ? [
          '--lease-duration',
          options.lease.duration,
          '--renew-deadline',
          options.lease.renewDeadline,
          '--retry-period',
          options.lease.retryPeriod,
        ]
      : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      POD_NAME: options.name,
      AWS_ENDPOINT_URL: options.awsEndpoint,
      AWS_REGION: options.region ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: options.accessKeyId,
      AWS_SECRET_ACCESS_KEY: 'emulator-secret',
      LOG_LEVEL: options.logLevel ?? 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let resolveStarted: (v: { identity: string; metricsUrl: string; healthUrl: string }) => void = () => {};
  let rejectStarted: (e: Error) => void = () => {};
  const started = new Promise<{ identity: string; metricsUrl: string; healthUrl: string }>((res, rej) => {
    resolveStarted = res;
    rejectStarted = rej;
  });
  started.catch(() => {});

  const replica: Replica = {
    name: options.name,
    accessKeyId: options.accessKeyId,
    child,
    lines,
    started,
    exited: new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        const exit = { code, signal, at: Date.now() };
        replica.exit = exit;
        running.delete(replica);
        rejectStarted(
          new Error(`${options.name} exited (${code ?? signal}) before starting:\n${replica.tail()}`),
        );
        resolve(exit);
      });
    }),
    waitForLine(match, timeoutMs) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(`${options.name}: no matching log line within ${timeoutMs} ms:\n${replica.tail()}`),
          );
        }, timeoutMs);
        waiters.add(waiter);
        void replica.exited.then(() => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`${options.name} exited before the awaited log line:\n${replica.tail()}`));
        });
      });
    },
    async kill(signal = 'SIGKILL') {
      if (replica.exit) return replica.exit;
      replica.killedAt ??= Date.now();
      child.kill(signal);
      return replica.exited;
    },
    tail(n = 30) {
      return raw.slice(-n).join('\n');
    },
    async reconcileCount() {
      const { metricsUrl } = await started;
      const text = await (await fetch(`${metricsUrl}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith('controller_runtime_reconcile_total{'))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    },
  };
  running.add(replica);

  let buffer = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      raw.push(text);
      if (raw.length > 2000) raw.splice(0, 1000);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      const line = {
        ...parsed,
        at: Date.parse(String(parsed['time'])),
        msg: String(parsed['msg'] ?? ''),
      } as LogLine;
      lines.push(line);
      if (line.msg === 'cmk-operator started') {
        replica.identity = String(line['identity']);
        resolveStarted({
          identity: replica.identity,
          metricsUrl: String(line['metrics']),
          healthUrl: String(line['health']),
        });
      } else if (line.msg === 'became leader') {
        // The first of the two such lines is the elector's, written right after the winning Lease write.
        replica.leaderSince ??= line.at;
      } else if (line.msg === 'stopped leading') {
        replica.stoppedLeadingAt ??= line.at;
      }
      for (const w of [...waiters]) if (w.match(line)) w.resolve(line);
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => raw.push(chunk));
  return replica;
}

/** Kills (-9) every replica still running; for afterAll. */
export async function stopAllReplicas(): Promise<void> {
  await Promise.all([...running].map((r) => r.kill('SIGKILL')));
}

export interface LeaseView {
  holder: string;
  transitions: number;
  renewTime?: string;
  acquireTime?: string;
}

/** The Lease as the apiserver stores it now ('' holder when absent or released). */
export async function readLease(namespace: string, name = 'cmk-operator'): Promise<LeaseView> {
  const res = await adminIdentity().request(
    'GET',
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`,
  );
  if (res.status !== 200) return { holder: '', transitions: 0 };
  const spec =
    (
      res.body as {
        spec?: {
          holderIdentity?: string;
          leaseTransitions?: number;
          renewTime?: string;
          acquireTime?: string;
        };
      }
    ).spec ?? {};
  return {
    holder: spec.holderIdentity ?? '',
    transitions: spec.leaseTransitions ?? 0,
    ...(spec.renewTime ? { renewTime: spec.renewTime } : {}),
    ...(spec.acquireTime ? { acquireTime: spec.acquireTime } : {}),
  };
}

/**
 * Releases the Lease once `r` has exited, as a graceful stop would (empty holder, written with the
 * resourceVersion read, so a newer holder's Lease is never touched): a standby takes over at its next
 * retry instead of after the lease expiry. For tests whose subject is not the takeover, after a kill -9.
 */
export async function releaseLeaseOf(r: Replica, namespace: string, name = 'cmk-operator'): Promise<boolean> {
  await r.exited;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;
  const res = await adminIdentity().request('GET', path);
  const lease = res.body as { spec?: { holderIdentity?: string } };
  if (res.status !== 200 || !r.identity || lease.spec?.holderIdentity !== r.identity) return false;
  const released = await adminIdentity().request('PUT', path, {
    ...lease,
    spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 },
  });
  return released.status === 200;
}

/**
 * A process's leadership term as its own log and the test saw it: from its 'became leader' line
 * (written after the Lease write that won) to the earliest of its 'stopped leading' line, the kill
 * and its exit. Undefined when it never led.
 */
export function leadershipTerm(r: Replica): { from: number; to: number } | undefined {
  if (r.leaderSince === undefined) return undefined;
  const ends = [r.stoppedLeadingAt, r.killedAt, r.exit?.at].filter((t): t is number => t !== undefined);
  return { from: r.leaderSince, to: ends.length ? Math.min(...ends) : Number.POSITIVE_INFINITY };
}

/**
 * Calls `fn` for every call the in-process emulator logs that `match` accepts, synchronously, after
 * the service acted and before its answer is sent: a kill from `fn` lands after AWS acted and before
 * the caller heard of it (the narrowest crash window there is). Returns the undo. The emulator must
 * not be reset meanwhile (a reset makes a new world, with a new log).
 */
export function onEmulatorCall(
  emulator: RunningEmulator,
  match: (c: CallRecord) => boolean,
  fn: (c: CallRecord) => void,
): () => void {
  const log = emulator.world().log;
  const append = log.append;
  log.append = (record) => {
    const logged = append.call(log, record);
    if (match(logged)) fn(logged);
    return logged;
  };
  return () => {
    log.append = append;
  };
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** AWS API names that change something (successful calls of these are mutations). */
export function isMutatingCall(eventName: string): boolean {
  return /^(Create|Update|Delete|Start|Stop|Tag|Untag|Enable|Disable|Schedule|Cancel|Rotate|Put|Retire|Revoke)/.test(
    eventName,
  );
}

// ---- the fleet ---------------------------------------------------------------------------------

export type WorkloadKindName = 'FlinkApplication' | 'KeyspacesTable' | 'EmrServerlessApplication';

export const workloadPlurals: Record<WorkloadKindName | 'KmsKey', string> = {
  KmsKey: 'kmskeys',
  FlinkApplication: 'flinkapplications',
  KeyspacesTable: 'keyspacestables',
  EmrServerlessApplication: 'emrserverlessapplications',
};

export interface FleetWorkload {
  kind: WorkloadKindName;
  name: string;
  /** Spec identity fields (applicationName / keyspaceName+tableName / applicationId). */
  ids: Record<string, string>;
  /** The AWS resource runs (Flink RUNNING, EMR STARTED): a key switch restarts it. */
  running: boolean;
  /** What the emulator's call log calls this resource in requestParameters. */
  resource: string;
}

export interface WorkloadObject {
  metadata: { name: string; generation?: number; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    current?: { keyType?: string; keyArn?: string };
    desiredKeyArn?: string;
    awsState?: string;
    pendingStart?: boolean;
    lastOperation?: {
      action?: string;
      status?: string;
      fromKey?: string;
      toKey?: string;
      startTime?: string;
      endTime?: string;
      id?: string;
    };
  };
}

const seedFile = new URL('../../../examples/emulator-seed.yaml', import.meta.url);

/** Seeds keys A and B (policies every workload service accepts); returns their ARNs. */
export function seedKeys(emulator: RunningEmulator): { a: string; b: string } {
  const doc = parse(readFileSync(seedFile, 'utf8')) as { kms: { keys: Array<{ keyId: string }> } };
  emulator.seed({ kms: doc.kms });
  const arn = (id: string) => `arn:aws:kms:us-east-1:111122223333:key/${id}`;
  return { a: arn(doc.kms.keys[0]!.keyId), b: arn(doc.kms.keys[1]!.keyId) };
}

/** Seeds one AWS resource of `kind` on `keyArn` and describes it. */
export function seedWorkload(
  emulator: RunningEmulator,
  kind: WorkloadKindName,
  name: string,
  index: number,
  opts: { keyArn: string; running?: boolean },
): FleetWorkload {
  const running = opts.running ?? false;
  switch (kind) {
    case 'FlinkApplication':
      emulator.seed({
        kinesisanalytics: {
          applications: [
            {
              name,
              runtime: 'FLINK-1_20',
              status: running ? 'RUNNING' : 'READY',
              keyType: 'CUSTOMER_MANAGED_KEY',
              keyId: opts.keyArn,
            },
          ],
        },
      });
      return { kind, name, ids: { applicationName: name }, running, resource: name };
    case 'KeyspacesTable': {
      const keyspaceName = `ks_${name.replace(/-/g, '_')}`;
      const tableName = `t_${name.replace(/-/g, '_')}`;
      emulator.seed({
        cassandra: {
          keyspaces: [
            {
              name: keyspaceName,
              tables: [
                {
                  name: tableName,
                  encryption: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: opts.keyArn },
                },
              ],
            },
          ],
        },
      });
      return {
        kind,
        name,
        ids: { keyspaceName, tableName },
        running,
        resource: `${keyspaceName}/${tableName}`,
      };
    }
    case 'EmrServerlessApplication': {
      const id = `00r${String(index).padStart(13, '0')}`;
      emulator.seed({
        'emr-serverless': {
          applications: [
            {
              name,
              id,
              state: running ? 'STARTED' : 'CREATED',
              diskEncryption: { encryptionKeyArn: opts.keyArn },
            },
          ],
        },
      });
      return { kind, name, ids: { applicationId: id }, running, resource: id };
    }
  }
}

/**
 * A pass-through HTTP proxy in front of the emulator that remembers the path of every request by the
 * request id the emulator answered with. The emulator's call log records the body of a REST call
 * (EMR Serverless) but not its path, where the application id is; with this, every call in the log
 * can be tied to its resource, including calls whose caller was killed before the answer arrived.
 */
export interface RecordingProxy {
  url: string;
  pathOf(requestId: string): string | undefined;
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const paths = new Map<string, string>();
  const server = createServer((req, res) => {
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        const requestId = answer.headers['x-amzn-requestid'];
        if (typeof requestId === 'string' && req.url) paths.set(requestId, req.url);
        res.on('error', () => {});
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    pathOf: (requestId) => paths.get(requestId),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/**
 * The resource a call-log entry of a workload service is about ('' when it names none): from the
 * request body (Flink, Keyspaces), else from the request path (EMR Serverless), when known.
 */
export function callResource(requestParameters: unknown, path?: string): string {
  if (path) {
    const m = /\/applications\/([a-z0-9]+)/.exec(decodeURIComponent(path));
    if (m) return m[1]!;
  }
  const p = (requestParameters ?? {}) as Record<string, unknown>;
  if (typeof p['ApplicationName'] === 'string') return p['ApplicationName'];
  if (typeof p['keyspaceName'] === 'string' && typeof p['tableName'] === 'string')
    return `${p['keyspaceName']}/${p['tableName']}`;
  if (typeof p['applicationId'] === 'string') return p['applicationId'];
  return '';
}

/** The key a key-changing call asks for ('AWS_OWNED' for a service-owned key, undefined when it changes none). */
export function requestedKey(eventName: string, requestParameters: unknown): string | undefined {
  const member = (o: unknown, k: string): Record<string, unknown> | undefined =>
    o && typeof o === 'object' && k in o
      ? ((o as Record<string, unknown>)[k] as Record<string, unknown>)
      : undefined;
  const p = requestParameters;
  if (eventName === 'UpdateApplication' && member(p, 'ApplicationConfigurationUpdate')) {
    const u = member(member(p, 'ApplicationConfigurationUpdate'), 'ApplicationEncryptionConfigurationUpdate');
    if (!u) return undefined;
    return u['KeyTypeUpdate'] === 'AWS_OWNED_KEY' ? 'AWS_OWNED' : String(u['KeyIdUpdate']);
  }
  if (eventName === 'UpdateTable') {
    const e = member(p, 'encryptionSpecification');
    if (!e) return undefined;
    return e['type'] === 'AWS_OWNED_KMS_KEY' ? 'AWS_OWNED' : String(e['kmsKeyIdentifier']);
  }
  if (eventName === 'UpdateApplication' && p && typeof p === 'object' && 'diskEncryptionConfiguration' in p) {
    const d = member(p, 'diskEncryptionConfiguration');
    return typeof d?.['encryptionKeyArn'] === 'string' ? d['encryptionKeyArn'] : 'AWS_OWNED';
  }
  return undefined;
}

function path(ns: string, kind: WorkloadKindName | 'KmsKey', name?: string): string {
  return `/apis/${apiVersion}/namespaces/${ns}/${workloadPlurals[kind]}${name ? `/${name}` : ''}`;
}

export async function createObject(
  ns: string,
  kind: WorkloadKindName | 'KmsKey',
  name: string,
  spec: unknown,
): Promise<void> {
  const res = await adminIdentity().request('POST', path(ns, kind), {
    apiVersion,
    kind,
    metadata: { name },
    spec,
  });
  if (res.status !== 201)
    throw new Error(`create ${kind}/${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** JSON merge patch of the spec; returns the new generation. */
export async function patchSpec(
  ns: string,
  kind: WorkloadKindName,
  name: string,
  spec: Record<string, unknown>,
): Promise<number> {
  const res = await adminIdentity().request('PATCH', path(ns, kind, name), JSON.stringify({ spec }), {
    contentType: 'application/merge-patch+json',
  });
  if (res.status !== 200) throw new Error(`patch ${kind}/${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as WorkloadObject).metadata.generation ?? 0;
}

export async function listObjects<T = WorkloadObject>(
  ns: string,
  kind: WorkloadKindName | 'KmsKey',
): Promise<T[]> {
  const res = await adminIdentity().request('GET', path(ns, kind));
  if (res.status !== 200) throw new Error(`list ${kind}: ${res.status}`);
  return (res.body as { items: T[] }).items;
}

export async function getObject<T = WorkloadObject>(
  ns: string,
  kind: WorkloadKindName | 'KmsKey',
  name: string,
): Promise<T | undefined> {
  const res = await adminIdentity().request('GET', path(ns, kind, name));
  return res.status === 200 ? (res.body as T) : undefined;
}

export function isReady(o: { status?: { conditions?: Condition[] } }): boolean {
  return o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Ready on `keyArn` for the object's current generation. */
export function settledOn(o: WorkloadObject, keyArn: string): boolean {
  return (
    isReady(o) &&
    o.status?.observedGeneration === o.metadata.generation &&
    o.status?.current?.keyArn === keyArn
  );
}

/** Clients of the three workload services, signing as `accessKeyId` (not one of the operator's). */
export function serviceClients(endpoint: string, accessKeyId: string) {
  const config = { endpoint, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'x' } };
  return {
    flink: new KinesisAnalyticsV2Client(config),
    keyspaces: new KeyspacesClient(config),
    emr: new EMRServerlessClient(config),
  };
}

export interface AwsView {
  /** The key ARN the resource is configured with ('AWS_OWNED' for a service-owned key). */
  key: string;
  /** The service's own state word (READY, RUNNING, ACTIVE, CREATED, STARTED, ...). */
  state: string;
}

/** What AWS reports for one workload, through the real SDK. */
export async function awsView(
  clients: ReturnType<typeof serviceClients>,
  w: FleetWorkload,
): Promise<AwsView> {
  switch (w.kind) {
    case 'FlinkApplication': {
      const d = (
        await clients.flink.send(
          new DescribeApplicationCommand({ ApplicationName: w.ids['applicationName'] }),
        )
      ).ApplicationDetail;
      const e = d?.ApplicationConfigurationDescription?.ApplicationEncryptionConfigurationDescription;
      return {
        key: e?.KeyType === 'CUSTOMER_MANAGED_KEY' ? String(e.KeyId) : 'AWS_OWNED',
        state: String(d?.ApplicationStatus),
      };
    }
    case 'KeyspacesTable': {
      const t = await clients.keyspaces.send(
        new GetTableCommand({ keyspaceName: w.ids['keyspaceName'], tableName: w.ids['tableName'] }),
      );
      const e = t.encryptionSpecification;
      return {
        key: e?.type === 'CUSTOMER_MANAGED_KMS_KEY' ? String(e.kmsKeyIdentifier) : 'AWS_OWNED',
        state: String(t.status),
      };
    }
    case 'EmrServerlessApplication': {
      const a = (await clients.emr.send(new GetApplicationCommand({ applicationId: w.ids['applicationId'] })))
        .application;
      return {
        key: a?.diskEncryptionConfiguration?.encryptionKeyArn ?? 'AWS_OWNED',
        state: String(a?.state),
      };
    }
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}
