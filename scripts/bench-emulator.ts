// Throughput benchmark of the local AWS emulator: starts it as a child process on 127.0.0.1 (so the
// load generator does not share its event loop), loads a fleet of resources through the real SDK
// clients (KMS keys, Managed Flink applications, Keyspaces tables, EMR Serverless applications),
// then drives a bounded number of read requests over keep-alive HTTP with a fixed concurrency and
// prints one JSON document: requests/s, latency percentiles and the emulator's resident memory.
//
//   node scripts/bench-emulator.ts            10,000 resources, 20,000 requests, concurrency 32
//   node scripts/bench-emulator.ts --smoke    about 5 seconds: 1,000 resources, 3 s of requests
//   options: --resources N --requests N --concurrency N --url URL (an emulator already running)
//
// Exit status 1 when any request failed (a correctness problem, not a speed one); the speed target
// (2,000 req/s) is reported as `meetsTarget` because it depends on the machine.

import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateApplicationCommand as CreateEmrApplication,
  EMRServerlessClient,
} from '@aws-sdk/client-emr-serverless';
import { CreateKeyspaceCommand, CreateTableCommand, KeyspacesClient } from '@aws-sdk/client-keyspaces';
import {
  CreateApplicationCommand as CreateFlinkApplication,
  KinesisAnalyticsV2Client,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { residentBytes } from '../bench/processes.ts';
import { emulatorAdmin } from '../emulator/client.ts';

const targetRps = 2000;
const accessKeyId = 'AKIAEMULATORADMIN0001';
// Keyspaces allows 256 tables per Region, so the fleet is spread over Regions.
const regions = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'eu-west-1',
  'eu-west-2',
  'eu-central-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-northeast-1',
];

interface Options {
  smoke: boolean;
  resources: number;
  requests: number;
  concurrency: number;
  durationMs?: number;
  url?: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      resources: { type: 'string' },
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      url: { type: 'string' },
    },
  });
  const num = (v: string | undefined, d: number) => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got ${v}`);
    return n;
  };
  const smoke = values.smoke === true;
  if (
    values.url !== undefined &&
    !/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\/?$/.test(values.url)
  )
    throw new Error('--url must point at a loopback address');
  return {
    smoke,
    resources: num(values.resources, smoke ? 1000 : 10_000),
    requests: num(values.requests, smoke ? 1_000_000 : 20_000),
    concurrency: num(values.concurrency, 32),
    ...(smoke ? { durationMs: 3000 } : {}),
    ...(values.url ? { url: values.url.replace(/\/$/, '') } : {}),
  };
}

async function startChild(): Promise<{ url: string; child: ChildProcess }> {
  const main = resolve(import.meta.dirname, '../src/dev/main.ts');
  const child = spawn(process.execPath, [main, 'emulator', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) ok(m[1]!);
    });
    child.once('exit', (code) => fail(new Error(`emulator exited early (${code}): ${out}`)));
  });
  return { url, child };
}

/** Resident memory of a process in MiB, from /proc (Linux); undefined elsewhere. */
function rssMiB(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number | undefined {
  const bytes = residentBytes(pid, field);
  return bytes === undefined ? undefined : Math.round((bytes / 2 ** 20) * 10) / 10;
}

/** Runs `jobs` with at most `concurrency` in flight; stops early once `until` returns false. */
async function pool(
  count: number,
  concurrency: number,
  job: (i: number) => Promise<void>,
  until = () => true,
) {
  let next = 0;
  const worker = async () => {
    while (next < count && until()) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

interface Fleet {
  keys: Array<{ region: string; keyId: string }>;
  flink: Array<{ region: string; name: string }>;
  tables: Array<{ region: string; keyspace: string; table: string }>;
  emr: Array<{ region: string; id: string }>;
  loadSeconds: number;
}

async function loadFleet(url: string, total: number, concurrency: number): Promise<Fleet> {
  const config = (region: string) => ({
    endpoint: url,
    region,
    credentials: { accessKeyId, secretAccessKey: 'emulator-secret' },
    maxAttempts: 1,
  });
  const clients = new Map(
    regions.map((r) => [
      r,
      {
        kms: new KMSClient(config(r)),
        flink: new KinesisAnalyticsV2Client(config(r)),
        keyspaces: new KeyspacesClient(config(r)),
        emr: new EMRServerlessClient(config(r)),
      },
    ]),
  );
  const c = (i: number) => {
    const region = regions[i % regions.length]!;
    return { region, ...clients.get(region)! };
  };
  const nKeys = Math.round(total * 0.4);
  const nFlink = Math.round(total * 0.2);
  const nTables = Math.round(total * 0.2);
  const nEmr = total - nKeys - nFlink - nTables;
  const fleet: Fleet = { keys: [], flink: [], tables: [], emr: [], loadSeconds: 0 };
  // Instant transitions while loading: Keyspaces caps DDL in flight at 50 per Region, and the bench
  // measures request handling, not how long CREATING lasts.
  const admin = emulatorAdmin(url);
  const transitions = (await admin.patchConfig({}))['transitions'];
  await admin.patchConfig({ transitions: { default: { min: 0, max: 0 } } });
  const started = performance.now();

  await pool(regions.length, concurrency, async (i) => {
    await c(i).keyspaces.send(new CreateKeyspaceCommand({ keyspaceName: 'bench' }));
  });
  await pool(nKeys + nFlink + nTables + nEmr, concurrency, async (i) => {
    if (i < nKeys) {
      const { region, kms } = c(i);
      const out = await kms.send(new CreateKeyCommand({ Description: `bench key ${i}` }));
      const keyId = out.KeyMetadata!.KeyId!;
      if (i % 10 === 0)
        await kms.send(new CreateAliasCommand({ AliasName: `alias/bench-${i}`, TargetKeyId: keyId }));
      fleet.keys.push({ region, keyId });
      return;
    }
    i -= nKeys;
    if (i < nFlink) {
      const { region, flink } = c(i);
      const name = `bench-flink-${i}`;
      await flink.send(
        new CreateFlinkApplication({
          ApplicationName: name,
          RuntimeEnvironment: 'FLINK-1_20',
          ServiceExecutionRole: 'arn:aws:iam::111122223333:role/bench-flink',
          ApplicationConfiguration: {
            ApplicationCodeConfiguration: {
              CodeContentType: 'ZIPFILE',
              CodeContent: {
                S3ContentLocation: { BucketARN: 'arn:aws:s3:::bench-code', FileKey: 'app.jar' },
              },
            },
          },
        }),
      );
      fleet.flink.push({ region, name });
      return;
    }
    i -= nFlink;
    if (i < nTables) {
      const { region, keyspaces } = c(i);
      const table = `t${i}`;
      await keyspaces.send(
        new CreateTableCommand({
          keyspaceName: 'bench',
          tableName: table,
          schemaDefinition: { allColumns: [{ name: 'id', type: 'text' }], partitionKeys: [{ name: 'id' }] },
        }),
      );
      fleet.tables.push({ region, keyspace: 'bench', table });
      return;
    }
    i -= nTables;
    const { region, emr } = c(i);
    const out = await emr.send(
      new CreateEmrApplication({
        name: `bench-emr-${i}`,
        releaseLabel: 'emr-7.5.0',
        type: 'SPARK',
        clientToken: `bench-${i}`,
      }),
    );
    fleet.emr.push({ region, id: out.applicationId! });
  });
  fleet.loadSeconds = (performance.now() - started) / 1000;
  await admin.patchConfig({ transitions });
  for (const { kms, flink, keyspaces, emr } of clients.values()) {
    kms.destroy();
    flink.destroy();
    keyspaces.destroy();
    emr.destroy();
  }
  return fleet;
}

interface Call {
  operation: string;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

function authorization(region: string, service: string): string {
  // The emulator reads the credential scope and does not verify the signature.
  return `AWS4-HMAC-SHA256 Credential=${accessKeyId}/20261123/${region}/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;
}

function jsonRpc(
  operation: string,
  target: string,
  version: '1.0' | '1.1',
  region: string,
  service: string,
  input: unknown,
): Call {
  return {
    operation,
    method: 'POST',
    path: '/',
    headers: {
      'content-type': `application/x-amz-json-${version}`,
      'x-amz-target': `${target}.${operation}`,
      authorization: authorization(region, service),
    },
    body: JSON.stringify(input),
  };
}

/** The read mix an operator's reconcile loop produces: mostly key and workload descriptions. */
function callFor(i: number, fleet: Fleet): Call {
  const slot = i % 10;
  const pickOf = <T>(list: T[]) => list[(i * 7919) % list.length]!;
  if (slot < 4 || fleet.flink.length + fleet.tables.length + fleet.emr.length === 0) {
    const k = pickOf(fleet.keys);
    if (slot === 3)
      return jsonRpc('GetKeyRotationStatus', 'TrentService', '1.1', k.region, 'kms', { KeyId: k.keyId });
    return jsonRpc('DescribeKey', 'TrentService', '1.1', k.region, 'kms', { KeyId: k.keyId });
  }
  if (slot < 6) {
    const a = pickOf(fleet.flink);
    return jsonRpc('DescribeApplication', 'KinesisAnalytics_20180523', '1.1', a.region, 'kinesisanalytics', {
      ApplicationName: a.name,
    });
  }
  if (slot < 8) {
    const t = pickOf(fleet.tables);
    return jsonRpc('GetTable', 'KeyspacesService', '1.0', t.region, 'cassandra', {
      keyspaceName: t.keyspace,
      tableName: t.table,
    });
  }
  const e = pickOf(fleet.emr);
  return {
    operation: 'GetApplication',
    method: 'GET',
    path: `/applications/${encodeURIComponent(e.id)}`,
    headers: { authorization: authorization(e.region, 'emr-serverless') },
    body: '',
  };
}

function send(agent: Agent, base: URL, call: Call): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: call.method,
        path: call.path,
        headers: { ...call.headers, 'content-length': Buffer.byteLength(call.body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => ok(res.statusCode ?? 0));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(call.body);
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const v = sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  return Math.round(v * 1000) / 1000;
}

async function drive(url: string, fleet: Fleet, opts: Options) {
  const base = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const latencies = new Float64Array(opts.requests);
  const byOperation: Record<string, { count: number; errors: number; latencies: number[] }> = {};
  const statuses: Record<string, number> = {};
  let done = 0;
  let errors = 0;
  // Warm the connections and the JIT before measuring.
  await pool(Math.min(500, opts.requests), opts.concurrency, async (i) => {
    await send(agent, base, callFor(i, fleet));
  });
  const started = performance.now();
  const deadline = opts.durationMs === undefined ? Number.POSITIVE_INFINITY : started + opts.durationMs;
  await pool(
    opts.requests,
    opts.concurrency,
    async (i) => {
      const call = callFor(i, fleet);
      const t = performance.now();
      const status = await send(agent, base, call).catch(() => 0);
      const ms = performance.now() - t;
      latencies[done++] = ms;
      const op = byOperation[call.operation] ?? { count: 0, errors: 0, latencies: [] };
      byOperation[call.operation] = op;
      op.count++;
      op.latencies.push(ms);
      if (status !== 200) {
        errors++;
        op.errors++;
        statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      }
    },
    () => performance.now() < deadline,
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const sorted = latencies.subarray(0, done).sort();
  return {
    requests: done,
    seconds: Math.round(seconds * 1000) / 1000,
    requestsPerSecond: Math.round(done / seconds),
    latencyMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: percentile(sorted, 100),
    },
    errors,
    ...(errors > 0 ? { errorStatuses: statuses } : {}),
    byOperation: Object.fromEntries(
      Object.entries(byOperation).map(([name, o]) => {
        const sortedOp = Float64Array.from(o.latencies).sort();
        return [
          name,
          {
            count: o.count,
            errors: o.errors,
            p50Ms: percentile(sortedOp, 50),
            p99Ms: percentile(sortedOp, 99),
          },
        ];
      }),
    ),
  };
}

async function main(): Promise<number> {
  const opts = options();
  const started = opts.url ? undefined : await startChild();
  const url = opts.url ?? started!.url;
  const pid = started?.child.pid;
  try {
    const fleet = await loadFleet(url, opts.resources, opts.concurrency);
    const rssAfterLoad = rssMiB(pid);
    const result = await drive(url, fleet, opts);
    const report = {
      benchmark: 'emulator',
      mode: opts.smoke ? 'smoke' : 'full',
      node: process.version,
      url,
      resources: {
        total: fleet.keys.length + fleet.flink.length + fleet.tables.length + fleet.emr.length,
        kmsKeys: fleet.keys.length,
        flinkApplications: fleet.flink.length,
        keyspacesTables: fleet.tables.length,
        emrApplications: fleet.emr.length,
        loadSeconds: Math.round(fleet.loadSeconds * 1000) / 1000,
        loadRequestsPerSecond: Math.round(
          (fleet.keys.length * 1.1 + fleet.flink.length + fleet.tables.length + fleet.emr.length) /
            fleet.loadSeconds,
        ),
      },
      concurrency: opts.concurrency,
      ...result,
      rssMiB: { afterLoad: rssAfterLoad, end: rssMiB(pid), peak: rssMiB(pid, 'VmHWM') },
      targetRequestsPerSecond: targetRps,
      meetsTarget: result.requestsPerSecond >= targetRps,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return result.errors > 0 ? 1 : 0;
  } finally {
    if (started) {
      started.child.kill('SIGTERM');
      await new Promise((r) => started.child.once('exit', r));
    }
  }
}

process.exitCode = await main();
