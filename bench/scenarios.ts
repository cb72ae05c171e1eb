// One bench run for one fleet size N: a private control plane, the emulator and the operator as
// child processes, the fleet seeded, then the scenarios in order — (a) initial sync, (b) key switch,
// (c) rotation, (d) steady state plus the spec-change latency probe — each bounded by a deadline.
// A scenario that misses its deadline is recorded with its partial time series and the run stops
// for that N (the later scenarios start from its end state).

import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMRServerlessClient, GetApplicationCommand } from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, KeyspacesClient } from '@aws-sdk/client-keyspaces';
import { DescribeApplicationCommand, KinesisAnalyticsV2Client } from '@aws-sdk/client-kinesis-analytics-v2';
import { type EmulatorAdmin, emulatorAdmin } from '../emulator/client.ts';
import type { CallRecord } from '../emulator/core/calllog.ts';
import { customResourceDefinition, kinds } from '../src/api/kinds.ts';
import { startControlPlane } from '../src/dev/devenv/control-plane.ts';
import { type CpuUse, cpuBetween, cpuSnapshot } from './cpu.ts';
import {
  accountId,
  type Fleet,
  type FleetWorkload,
  fleetLayout,
  interleavedByService,
  keyFor,
  kmsKeyManifest,
  operatorAccessKey,
  seedDocument,
  workloadManifest,
} from './fleet.ts';
import { type Floor, type FloorInput, floor, regionQuotas, type Scenario } from './floor.ts';
import { type BenchKube, benchKube, type KubeObject, pool } from './kube.ts';
import {
  type MetricsSample,
  parseMetrics,
  sampler,
  startEmulatorProcess,
  startOperatorProcess,
} from './processes.ts';
import { onlyInventoryReport } from './report.ts';

export interface BenchOptions {
  n: number;
  scenarios: Scenario[];
  latencyMs: number;
  jitterMs: number;
  concurrency: number;
  resyncMs: number;
  periods: number;
  latencySamples: number;
  /**
   * What the operator watches: `cluster`, every namespace (the chart's default install: one watch per
   * kind), or `namespaces`, the fleet's namespaces only (`--namespaces`: one watch per kind and
   * namespace, as an install with watchNamespaces set).
   */
  watch: 'cluster' | 'namespaces';
  /** Transition durations given to the emulator ({min,max} ms) and, as max, to the floor. */
  transitions: {
    flinkUpdating: [number, number];
    keyspacesUpdating: [number, number];
    kmsRotation: [number, number];
  };
  /** Lower bound of every scenario's deadline; the deadline is max(this, 10 x floor). */
  minDeadlineMs: number;
  /** Upper bound of every scenario's deadline. */
  maxDeadlineMs: number;
  log: (msg: string) => void;
}

export interface ScenarioResult {
  scenario: Scenario;
  converged: boolean;
  error?: string;
  timeMs: number;
  /**
   * The switch: when the bench's last spec change was stored (from the scenario's start). The API
   * server takes the changes at the pace the machine's CPU allows it while the operator works: no
   * workload can switch before its change is there.
   */
  changesAppliedMs?: number;
  floor: Floor;
  /** timeMs / floor.timeMs (steady state: AWS calls / minimal calls). */
  ratio: number;
  awsCalls: Record<string, number>;
  awsCallsTotal: number;
  throttled: number;
  kmsCalls: number;
  kubeRequests: Record<string, number>;
  kubeRequestsPerWorkload: number;
  kubeWritesPerWorkload: number;
  /** The operator's API writes in the scenario (POST, PUT, PATCH, DELETE). */
  kubeWrites: number;
  /**
   * The operator's writes that are not a KmsKey's status, per workload: the writes that grow with the
   * fleet (a workload's status writes, its Events, finalizer patches). The issue's "≤ 3 API writes per
   * workload" is checked on this; `keyStatusWrites` are the keys' progress, paced per key, not per
   * workload.
   */
  workloadWritesPerWorkload?: number;
  /** Writes of `kmskeys/status` in the scenario (the API server's count: only the operator writes it). */
  keyStatusWrites?: number;
  /** The API server's count of the scenario's writes of cmk.io resources and Events, by resource. */
  writesByResource?: Record<string, number>;
  peakRssMiB: number;
  peakHeapMiB: number;
  lagP99Ms: number;
  /** The most connections to the API server the operator had open at a scrape (cmk_kube_connections). */
  peakKubeConnections?: { requests: number; watches: number };
  /** Converged workloads (or keys, for rotation) over time since the scenario started. */
  series: Array<{ tMs: number; converged: number }>;
  total: number;
  /**
   * Calls of the operator's background work in the scenario, from its /metrics (also in awsCalls):
   * the key-state poll's DescribeKey reads, the key usage inventory's AWS calls, event messages.
   */
  signals: { keyPollReads: number; inventoryCalls: Record<string, number>; eventMessages: number };
  /**
   * CPU seconds per part of the bench in the scenario (including the settle second after it) and
   * the machine's busy share: near 1 means the scenario was bound by CPU, not by AWS.
   */
  cpu?: CpuUse;
  /** Steady state only. */
  steady?: {
    periods: number;
    resyncMs: number;
    /** Including the inventory's reads (its share is in the next field). */
    awsReadsPerWorkloadPerResync: number;
    inventoryReadsPerWorkloadPerResync: number;
    /** Including the key poll's reads (its share is in the next field). */
    kmsCallsPerKeyPerResync: number;
    keyPollReadsPerKeyPerResync: number;
    statusWrites: number;
    writesPerWorkloadPerResync: number;
    /** The API server's count of the window's writes by resource (e.g. `kmskeys/status`). */
    writesByResource?: Record<string, number>;
    /** Of the writes, KmsKey status writes that only report an inventory pass (`onlyInventoryReport`). */
    inventoryReports?: number;
  };
  /** Steady state only: spec change → first AWS call for that resource, idle queue. */
  specChangeLatency?: { samples: number; p50Ms: number; p99Ms: number; maxMs: number; missing: number };
  verifiedInAws?: { checked: number; wrong: number };
}

export interface RunResult {
  n: number;
  regions: number;
  keys: number;
  counts: Record<string, number>;
  concurrency: number;
  watch: BenchOptions['watch'];
  latencyMs: number;
  jitterMs: number;
  resyncMs: number;
  apiWriteMs: number;
  apiRequestsSource: string;
  /** Operator process spawn → its 'cmk-operator started' log line (not in the initial sync time). */
  operatorStartupMs: number;
  /**
   * SIGTERM → exit of the operator after the last scenario (a rollout's stop: reconciles in flight
   * finish, an inventory pass is cut, the Lease is released); killed when it took longer than 10 s.
   */
  operatorShutdown?: { ms: number; killed: boolean };
  scenarios: ScenarioResult[];
  wallMs: number;
}

const writeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface Condition {
  type: string;
  status: string;
}

function ready(o: KubeObject | undefined): boolean {
  const st = o?.status as { conditions?: Condition[]; observedGeneration?: number } | undefined;
  if (!o || !st) return false;
  if (st.observedGeneration !== o.metadata.generation) return false;
  return st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function workloadConverged(o: KubeObject | undefined, desiredArn: string): boolean {
  if (!ready(o)) return false;
  const current = (o!.status as { current?: { keyArn?: string } }).current;
  return current?.keyArn === desiredArn;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Emulator fault rules: latency on every call, and the quotas as token buckets. */
function faultRules(opts: BenchOptions) {
  const rules: Array<Record<string, unknown>> = [
    {
      service: '*',
      operation: '*',
      latencyMs: { min: Math.max(0, opts.latencyMs - opts.jitterMs), max: opts.latencyMs + opts.jitterMs },
    },
  ];
  for (const [op, q] of Object.entries(regionQuotas())) {
    const [service, operation] = op.split('.') as [string, string];
    rules.push({ service, operation, quota: q });
  }
  return rules;
}

export async function runBench(opts: BenchOptions): Promise<RunResult> {
  const started = Date.now();
  const log = opts.log;
  const fleet = fleetLayout(opts.n);
  const work = await mkdtemp(join(tmpdir(), `cmk-bench-${opts.n}-`));
  log(
    `N=${opts.n}: ${fleet.counts.kinesisanalytics} Flink, ${fleet.counts.cassandra} Keyspaces, ${fleet.counts['emr-serverless']} EMR; ${fleet.regions.length} Region(s), ${fleet.keys.length} keys; work dir ${work}`,
  );
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const cp = await startControlPlane({ log: () => {} });
    cleanups.push(() => cp.stop());
    const kube = benchKube(cp.kubeconfigPath);
    cleanups.push(async () => kube.close());
    await installCrds(kube);

    const emulator = await startEmulatorProcess();
    cleanups.push(() => emulator.stop());
    const admin = emulatorAdmin(emulator.url);
    const transitions = {
      default: { min: 1000, max: 2000 },
      'kinesisanalytics.UPDATING': {
        min: opts.transitions.flinkUpdating[0],
        max: opts.transitions.flinkUpdating[1],
      },
      'cassandra.UPDATING': {
        min: opts.transitions.keyspacesUpdating[0],
        max: opts.transitions.keyspacesUpdating[1],
      },
      'kms.ROTATION': { min: opts.transitions.kmsRotation[0], max: opts.transitions.kmsRotation[1] },
    };
    await admin.patchConfig({ transitions });
    const seedStarted = Date.now();
    await admin.seed(seedDocument(fleet));
    log(`seeded the emulator in ${Date.now() - seedStarted} ms`);
    const rules = faultRules(opts);
    await admin.setFaults(rules as never);

    // The fleet in Kubernetes, before the operator starts: (a) measures an operator that finds it.
    const writeLatencies: number[] = [];
    const create = async (path: string, body: unknown) => {
      const t = performance.now();
      const res = await kube.request('POST', path, body);
      writeLatencies.push(performance.now() - t);
      if (res.status >= 300 && res.status !== 409)
        throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    };
    for (const ns of fleet.namespaces)
      await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    for (const k of fleet.keys)
      await create(`/apis/cmk.io/v1alpha1/namespaces/${k.namespace}/kmskeys`, kmsKeyManifest(k));
    const createStarted = Date.now();
    await pool(fleet.workloads.length, 16, async (i) => {
      const w = fleet.workloads[i]!;
      await create(`/apis/cmk.io/v1alpha1/namespaces/${w.namespace}/${w.plural}`, workloadManifest(fleet, w));
    });
    const apiWriteMs = round(percentile(writeLatencies, 50), 1);
    log(
      `created ${fleet.workloads.length} workloads in ${Date.now() - createStarted} ms (median write ${apiWriteMs} ms)`,
    );

    // Watches: the bench's view of every object, to judge convergence without listing.
    const objects = new Map<string, KubeObject>();
    const keyOf = (plural: string, ns: string | undefined, name: string) => `${plural}/${ns}/${name}`;
    /** KmsKey status changes seen that only report an inventory pass (bench/report.ts). */
    let inventoryReports = 0;
    const watches = ['kmskeys', 'flinkapplications', 'keyspacestables', 'emrserverlessapplications'].map(
      (plural) =>
        kube.watch(`/apis/cmk.io/v1alpha1/${plural}`, (type, o) => {
          const k = keyOf(plural, o.metadata.namespace, o.metadata.name);
          if (type === 'MODIFIED' && plural === 'kmskeys' && onlyInventoryReport(objects.get(k), o))
            inventoryReports++;
          if (type === 'DELETED') objects.delete(k);
          else objects.set(k, o);
        }),
    );
    cleanups.push(async () => {
      for (const w of watches) w.stop();
    });
    await Promise.all(watches.map((w) => w.synced));

    const operator = await startOperatorProcess({
      kubeconfig: cp.kubeconfigPath,
      namespaces: opts.watch === 'namespaces' ? fleet.namespaces : [],
      concurrency: opts.concurrency,
      resyncMs: opts.resyncMs,
      emulatorUrl: emulator.url,
      region: fleet.regions[0]!,
      logFile: join(work, 'operator.log'),
    });
    cleanups.push(() => operator.stop());
    const metrics = sampler(operator.metricsUrl, { pid: operator.child.pid });
    cleanups.push(async () => metrics.stop());
    // Known after the first scrape: the operator's own counter, or the API server's as a fallback.
    for (let i = 0; i < 50 && metrics.samples.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const fromOperator = metrics.latest()?.hasKubeMetric ?? false;
    const apiRequestsSource = fromOperator
      ? 'operator /metrics rest_client_requests_total{method,code}'
      : "kube-apiserver /metrics apiserver_request_total{group='cmk.io'} minus the bench's own requests (misses the operator's Events)";

    const desiredSlot = new Map<FleetWorkload, number>(fleet.workloads.map((w) => [w, w.slot]));
    const workloadOk = (w: FleetWorkload) =>
      workloadConverged(
        objects.get(keyOf(w.plural, w.namespace, w.name)),
        keyFor(fleet, w.region, desiredSlot.get(w)!).arn,
      );
    const keysOk = () => fleet.keys.every((k) => ready(objects.get(keyOf('kmskeys', k.namespace, k.name))));

    const floorInput = (scenario: Scenario): FloorInput => ({
      scenario,
      workloads: fleet.counts,
      keys: fleet.keys.length,
      regions: fleet.regions.length,
      latencyMs: opts.latencyMs,
      concurrency: opts.concurrency,
      quotas: regionQuotas(),
      transitionsMs: {
        flinkUpdating: opts.transitions.flinkUpdating[1],
        keyspacesUpdating: opts.transitions.keyspacesUpdating[1],
        kmsRotation: opts.transitions.kmsRotation[1],
      },
      keyspacesDdlPerRegion: 50,
      apiWriteMs,
      resyncMs: opts.resyncMs,
      periods: opts.periods,
    });

    const results: ScenarioResult[] = [];
    for (const scenario of opts.scenarios) {
      const fl = floor(floorInput(scenario));
      const deadlineMs = Math.min(opts.maxDeadlineMs, Math.max(opts.minDeadlineMs, 10 * fl.timeMs));
      log(
        `N=${opts.n} ${scenario}: floor ${round(fl.timeMs / 1000)} s (bound: ${fl.bound}), deadline ${round(deadlineMs / 1000)} s`,
      );
      // The API server's counters say which resources were written (the operator's own counter has no
      // resource label). In the steady window nothing but the operator writes; in the others the
      // bench's own writes are spec patches, never a status. Read before the CPU snapshot, so the API
      // server's rendering of its /metrics is not counted as the scenario's (nor the read after it).
      const writesBefore = await apiserverWritesByResource(kube);
      const inventoryReportsBefore = inventoryReports;
      let before = (await metrics.now()) ?? metrics.latest() ?? emptySample();
      const rssFrom = metrics.rss.length;
      const cpuBefore = cpuSnapshot();
      const apiserverBefore = fromOperator ? {} : await apiserverCmkRequests(kube);
      const sampleFrom = metrics.samples.length;
      await admin.clearCalls();
      const callsFrom = Date.now();
      const r = await runScenario(scenario, {
        opts,
        fleet,
        kube,
        admin,
        objects,
        keyOf,
        desiredSlot,
        workloadOk,
        keysOk,
        deadlineMs,
        operatorStartedAt: operator.startedAt,
      });
      // Let the last scrape land so the counters cover the scenario. After a change, also let its
      // own follow-ups end (the reads of workloads whose key changed, one look after a change):
      // they are this scenario's calls, and the next scenario starts on a settled fleet (a rotation
      // right after a switch otherwise shared the machine with the switch's last looks, and counted
      // their calls). Not after the steady window: its calls are counted per resync period of the
      // window, and calls after it would count as the window's.
      await new Promise((res) => setTimeout(res, scenario === 'steady' ? 1200 : followUpsEndMs));
      const callWindowMs = Date.now() - callsFrom;
      const calls = (await admin.calls()).filter((c) => c.userIdentity.accessKeyId === operatorAccessKey);
      // To see which resource was called how often (bench/README.md): CMK_BENCH_CALLS_DIR=DIR keeps
      // each scenario's operator calls as DIR/<n>-<scenario>.json.
      const callsDir = process.env['CMK_BENCH_CALLS_DIR'];
      if (callsDir) {
        await mkdir(callsDir, { recursive: true });
        await writeFile(join(callsDir, `${opts.n}-${scenario}.json`), JSON.stringify(calls));
      }
      let after = (await metrics.now()) ?? metrics.latest() ?? before;
      if (!fromOperator) {
        // The bench's own requests in the window: its patches (one per workload for a switch, one
        // per key for a rotation) and the status polls of nothing else (watches stay open).
        const own: Record<string, number> = {
          PATCH:
            scenario === 'switch' ? fleet.workloads.length : scenario === 'rotation' ? fleet.keys.length : 0,
        };
        const counted = diff(await apiserverCmkRequests(kube), apiserverBefore);
        before = { ...before, kubeRequests: {} };
        after = { ...after, kubeRequests: diff(counted, own) };
      }
      const window = metrics.samples.slice(sampleFrom);
      const result = summarise(scenario, fl, r, calls, callWindowMs, before, after, window, fleet, opts);
      // The resident set sampled from /proc every second, where it could be read.
      const rss = metrics.rss.slice(rssFrom);
      if (rss.length > 0) result.peakRssMiB = round(Math.max(...rss.map((x) => x.bytes)) / 2 ** 20, 1);
      result.cpu = cpuBetween(cpuBefore, cpuSnapshot());
      const writesByResource = diff(await apiserverWritesByResource(kube), writesBefore);
      result.writesByResource = writesByResource;
      result.keyStatusWrites = writesByResource['kmskeys/status'] ?? 0;
      result.workloadWritesPerWorkload = round(
        Math.max(0, result.kubeWrites - result.keyStatusWrites) / fleet.workloads.length,
        3,
      );
      if (result.steady) {
        result.steady.writesByResource = writesByResource;
        result.steady.inventoryReports = inventoryReports - inventoryReportsBefore;
      }
      if (scenario === 'steady' && result.converged) {
        result.specChangeLatency = await latencyProbe(opts, fleet, kube, admin, desiredSlot);
        log(
          `spec change -> first AWS call: p50 ${result.specChangeLatency.p50Ms} ms, p99 ${result.specChangeLatency.p99Ms} ms`,
        );
      }
      if ((scenario === 'initial' || scenario === 'switch') && result.converged) {
        await admin.clearFaults();
        result.verifiedInAws = await verifyInAws(emulator.url, fleet, desiredSlot);
        await admin.setFaults(rules as never);
        if (result.verifiedInAws.wrong > 0) {
          result.converged = false;
          result.error = `${result.verifiedInAws.wrong} workloads report the desired key but AWS disagrees`;
        }
      }
      results.push(result);
      log(
        `N=${opts.n} ${scenario}: ${result.converged ? 'converged' : 'NOT converged'} in ${round(result.timeMs / 1000)} s, floor ${round(fl.timeMs / 1000)} s, ratio ${round(result.ratio)}; AWS calls ${result.awsCallsTotal} (min ${fl.minCallsTotal}), KMS ${result.kmsCalls}, peak RSS ${result.peakRssMiB} MiB${result.error ? `; ${result.error}` : ''}`,
      );
      if (!result.converged) break;
    }
    // Stopped here, as a rollout stops it, to time its shutdown (the cleanup then finds it gone).
    metrics.stop();
    const operatorShutdown = await operator.stop();
    log(
      `N=${opts.n}: operator ${operatorShutdown.killed ? 'killed' : 'exited'} ${round(operatorShutdown.ms / 1000)} s after SIGTERM`,
    );
    return {
      n: opts.n,
      regions: fleet.regions.length,
      keys: fleet.keys.length,
      counts: fleet.counts,
      concurrency: opts.concurrency,
      watch: opts.watch,
      latencyMs: opts.latencyMs,
      jitterMs: opts.jitterMs,
      resyncMs: opts.resyncMs,
      apiWriteMs,
      apiRequestsSource,
      operatorStartupMs: operator.startedAt - operator.spawnedAt,
      operatorShutdown,
      scenarios: results,
      wallMs: Date.now() - started,
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e) => log(`cleanup: ${(e as Error).message}`));
    // CMK_BENCH_LOG_DIR=DIR keeps the operator's log (JSON lines) as DIR/<n>-operator.log.
    const logDir = process.env['CMK_BENCH_LOG_DIR'];
    if (logDir)
      await mkdir(logDir, { recursive: true })
        .then(() => copyFile(join(work, 'operator.log'), join(logDir, `${opts.n}-operator.log`)))
        .catch((e) => log(`operator log not kept: ${(e as Error).message}`));
    await rm(work, { recursive: true, force: true }).catch(() => {});
  }
}

function emptySample(): MetricsSample {
  return {
    t: Date.now(),
    rssBytes: 0,
    heapUsedBytes: 0,
    lagP99Seconds: 0,
    kubeRequests: {},
    hasKubeMetric: false,
    kubeConnections: { requests: 0, watches: 0 },
    awsCalls: {},
    signals: { keyPollReads: 0, inventoryCalls: {}, eventMessages: 0 },
  };
}

/** The API server's `apiserver_request_total`, summed by `key` of each sample's labels (undefined: left out). */
async function apiserverRequests(
  kube: BenchKube,
  key: (labels: Record<string, string>) => string | undefined,
): Promise<Record<string, number>> {
  const res = await kube.request('GET', '/metrics');
  const out: Record<string, number> = {};
  if (res.status !== 200 || typeof res.body !== 'string') return out;
  for (const s of parseMetrics(res.body)) {
    if (s.name !== 'apiserver_request_total') continue;
    const k = key(s.labels);
    if (k !== undefined) out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** An API server verb as the HTTP method the client sent. */
const methodOf = (verb: string) =>
  verb === 'LIST' || verb === 'WATCH' ? 'GET' : verb === 'APPLY' ? 'PATCH' : verb;

/**
 * The API server's own count of requests to the cmk.io group, by verb (the fallback when the
 * operator does not export rest_client_requests_total). It includes the bench's requests, which
 * the caller subtracts, and misses the operator's requests outside cmk.io (Events).
 */
function apiserverCmkRequests(kube: BenchKube): Promise<Record<string, number>> {
  return apiserverRequests(kube, (l) => (l['group'] === 'cmk.io' ? methodOf(l['verb'] ?? '?') : undefined));
}

/**
 * The API server's write requests by resource, `plural[/subresource]`: of every client, on the cmk.io
 * kinds and Events (the API server's own lease renewals left out).
 */
function apiserverWritesByResource(kube: BenchKube): Promise<Record<string, number>> {
  return apiserverRequests(kube, (l) => {
    const resource = l['resource'] ?? '?';
    if (!writeMethods.has(methodOf(l['verb'] ?? '')) || (l['group'] !== 'cmk.io' && resource !== 'events'))
      return undefined;
    return l['subresource'] ? `${resource}/${l['subresource']}` : resource;
  });
}

async function installCrds(kube: BenchKube): Promise<void> {
  for (const def of kinds) {
    const crd = customResourceDefinition(def) as { metadata: { name: string } };
    const res = await kube.request(
      'PATCH',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=cmk-bench&force=true`,
      JSON.stringify(crd),
      'application/apply-patch+yaml',
    );
    if (res.status >= 300) throw new Error(`installing ${crd.metadata.name}: ${res.status}`);
  }
  const deadline = Date.now() + 60_000;
  for (const def of kinds) {
    for (;;) {
      const res = await kube.request(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${def.plural}.cmk.io`,
      );
      const conditions = (res.body as { status?: { conditions?: Condition[] } }).status?.conditions;
      if (conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${def.plural} not Established in 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  // Discovery of the new group can lag Established by a moment.
  for (;;) {
    const res = await kube.request('GET', '/apis/cmk.io/v1alpha1/flinkapplications?limit=1');
    if (res.status === 200) break;
    if (Date.now() > deadline) throw new Error('cmk.io/v1alpha1 not served in 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface ScenarioContext {
  opts: BenchOptions;
  fleet: Fleet;
  kube: BenchKube;
  admin: EmulatorAdmin;
  objects: Map<string, KubeObject>;
  keyOf(plural: string, ns: string | undefined, name: string): string;
  desiredSlot: Map<FleetWorkload, number>;
  workloadOk(w: FleetWorkload): boolean;
  keysOk(): boolean;
  deadlineMs: number;
  operatorStartedAt: number;
}

interface ScenarioRun {
  converged: boolean;
  error?: string;
  timeMs: number;
  /** A change's scenario: when the bench's last change to the fleet was stored, from its start. */
  changesAppliedMs?: number;
  series: Array<{ tMs: number; converged: number }>;
  total: number;
}

/** Polls `count` every 250 ms until it reaches `total` or the deadline passes. */
async function waitConverged(
  t0: number,
  total: number,
  count: () => number,
  deadlineMs: number,
): Promise<ScenarioRun> {
  const series: Array<{ tMs: number; converged: number }> = [];
  let lastRecorded = -1;
  for (;;) {
    const now = Date.now();
    const c = count();
    if (c !== lastRecorded || now - t0 - (series.at(-1)?.tMs ?? 0) >= 1000) {
      series.push({ tMs: now - t0, converged: c });
      lastRecorded = c;
    }
    if (c >= total) return { converged: true, timeMs: now - t0, series, total };
    if (now - t0 > deadlineMs)
      return {
        converged: false,
        error: `deadline of ${Math.round(deadlineMs / 1000)} s passed with ${c}/${total} converged`,
        timeMs: now - t0,
        series,
        total,
      };
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function runScenario(scenario: Scenario, ctx: ScenarioContext): Promise<ScenarioRun> {
  const { fleet, kube } = ctx;
  const countWorkloads = () => {
    let n = 0;
    for (const w of fleet.workloads) if (ctx.workloadOk(w)) n++;
    return ctx.keysOk() ? n : Math.min(n, fleet.workloads.length - 1);
  };
  switch (scenario) {
    case 'initial':
      // From the operator's start: it lists, checks the keys, reads every workload, claims it.
      return waitConverged(ctx.operatorStartedAt, fleet.workloads.length, countWorkloads, ctx.deadlineMs);
    case 'switch': {
      const t0 = Date.now();
      for (const w of fleet.workloads)
        ctx.desiredSlot.set(w, (ctx.desiredSlot.get(w)! + 1) % fleet.keysPerRegion);
      const order = interleavedByService(fleet.workloads);
      const patching = pool(order.length, 16, async (i) => {
        const w = order[i]!;
        const name = keyFor(fleet, w.region, ctx.desiredSlot.get(w)!).name;
        const res = await kube.request(
          'PATCH',
          `/apis/cmk.io/v1alpha1/namespaces/${w.namespace}/${w.plural}/${w.name}`,
          { spec: { key: { kmsKeyRef: { name } } } },
          'application/merge-patch+json',
        );
        if (res.status >= 300) throw new Error(`PATCH ${w.name}: ${res.status}`);
      });
      const run = waitConverged(t0, fleet.workloads.length, countWorkloads, ctx.deadlineMs);
      await patching;
      const changesAppliedMs = Date.now() - t0;
      ctx.opts.log(
        `${fleet.workloads.length} spec changes applied in ${(changesAppliedMs / 1000).toFixed(1)} s`,
      );
      return { ...(await run), changesAppliedMs };
    }
    case 'rotation': {
      const token = `bench-${Date.now()}`;
      const material = new Map<string, string | undefined>();
      for (const k of fleet.keys) {
        const o = ctx.objects.get(ctx.keyOf('kmskeys', k.namespace, k.name));
        material.set(
          k.name + k.namespace,
          (o?.status as { currentKeyMaterialId?: string } | undefined)?.currentKeyMaterialId,
        );
      }
      const expectedPerKey = new Map<string, number>();
      for (const w of fleet.workloads) {
        const k = keyFor(fleet, w.region, ctx.desiredSlot.get(w)!);
        expectedPerKey.set(k.name + k.namespace, (expectedPerKey.get(k.name + k.namespace) ?? 0) + 1);
      }
      const t0 = Date.now();
      await pool(fleet.keys.length, 16, async (i) => {
        const k = fleet.keys[i]!;
        const res = await kube.request(
          'PATCH',
          `/apis/cmk.io/v1alpha1/namespaces/${k.namespace}/kmskeys/${k.name}`,
          { spec: { rotation: { onDemandToken: token } } },
          'application/merge-patch+json',
        );
        if (res.status >= 300)
          throw new Error(`PATCH kmskey ${k.name}: ${res.status} ${JSON.stringify(res.body)}`);
      });
      const rotated = () => {
        let n = 0;
        for (const k of fleet.keys) {
          const o = ctx.objects.get(ctx.keyOf('kmskeys', k.namespace, k.name));
          const st = o?.status as
            | {
                currentKeyMaterialId?: string;
                rotation?: { lastOnDemandToken?: string; pendingOnDemand?: unknown };
                workloads?: { total: number; onKey: number; onCurrentMaterial: number };
              }
            | undefined;
          const expected = expectedPerKey.get(k.name + k.namespace) ?? 0;
          if (
            ready(o) &&
            st?.rotation?.lastOnDemandToken === token &&
            st.rotation.pendingOnDemand === undefined &&
            st.currentKeyMaterialId !== undefined &&
            st.currentKeyMaterialId !== material.get(k.name + k.namespace) &&
            st.workloads?.total === expected &&
            st.workloads.onKey === expected &&
            st.workloads.onCurrentMaterial === expected
          )
            n++;
        }
        return n;
      };
      return waitConverged(t0, fleet.keys.length, rotated, ctx.deadlineMs);
    }
    case 'steady': {
      // Nothing to converge: K resync periods with everything settled (checked at both ends).
      const t0 = Date.now();
      const window = ctx.opts.resyncMs * ctx.opts.periods;
      const series: Array<{ tMs: number; converged: number }> = [];
      while (Date.now() - t0 < window) {
        series.push({ tMs: Date.now() - t0, converged: countWorkloads() });
        await new Promise((r) => setTimeout(r, 1000));
      }
      const c = countWorkloads();
      series.push({ tMs: Date.now() - t0, converged: c });
      const ok = series.every((s) => s.converged === fleet.workloads.length);
      return {
        converged: ok,
        ...(ok ? {} : { error: 'a workload left the converged state during steady state' }),
        timeMs: Date.now() - t0,
        series,
        total: fleet.workloads.length,
      };
    }
  }
}

/** Two of the operator's looks after a change (resync.transitioningMs, 5 s) and a scrape. */
const followUpsEndMs = 11_000;

function summarise(
  scenario: Scenario,
  fl: Floor,
  r: ScenarioRun,
  calls: CallRecord[],
  /** From clearing the emulator's call log to reading it: the time the calls were made in. */
  callWindowMs: number,
  before: MetricsSample,
  after: MetricsSample,
  window: MetricsSample[],
  fleet: Fleet,
  opts: BenchOptions,
): ScenarioResult {
  const awsCalls: Record<string, number> = {};
  let throttled = 0;
  for (const c of calls) {
    const service = c.eventSource.replace('.amazonaws.com', '');
    const k = `${service}.${c.eventName}`;
    awsCalls[k] = (awsCalls[k] ?? 0) + 1;
    if (c.errorCode === 'ThrottlingException') throttled++;
  }
  const awsCallsTotal = calls.length;
  const kmsCalls = Object.entries(awsCalls)
    .filter(([k]) => k.startsWith('kms.'))
    .reduce((a, [, v]) => a + v, 0);
  const kubeRequests = diff(after.kubeRequests, before.kubeRequests);
  const totalKube = Object.values(kubeRequests).reduce((a, b) => a + b, 0);
  const writes = Object.entries(kubeRequests)
    .filter(([m]) => writeMethods.has(m))
    .reduce((a, [, v]) => a + v, 0);
  const n = fleet.workloads.length;
  const peak = (f: (s: MetricsSample) => number) =>
    window.reduce((m, s) => (Number.isFinite(f(s)) ? Math.max(m, f(s)) : m), 0);
  const inventoryCalls = diff(after.signals.inventoryCalls, before.signals.inventoryCalls);
  const signals = {
    keyPollReads: after.signals.keyPollReads - before.signals.keyPollReads,
    inventoryCalls,
    eventMessages: after.signals.eventMessages - before.signals.eventMessages,
  };
  const result: ScenarioResult = {
    scenario,
    converged: r.converged,
    ...(r.error ? { error: r.error } : {}),
    timeMs: r.timeMs,
    ...(r.changesAppliedMs !== undefined ? { changesAppliedMs: r.changesAppliedMs } : {}),
    floor: fl,
    ratio: scenario === 'steady' ? awsCallsTotal / Math.max(1, fl.minCallsTotal) : r.timeMs / fl.timeMs,
    awsCalls,
    awsCallsTotal,
    throttled,
    kmsCalls,
    kubeRequests,
    kubeRequestsPerWorkload: round(totalKube / n, 3),
    kubeWritesPerWorkload: round(writes / n, 3),
    kubeWrites: writes,
    peakRssMiB: round(peak((s) => s.rssBytes) / 2 ** 20, 1),
    peakHeapMiB: round(peak((s) => s.heapUsedBytes) / 2 ** 20, 1),
    lagP99Ms: round(peak((s) => s.lagP99Seconds) * 1000, 1),
    peakKubeConnections: {
      requests: peak((s) => s.kubeConnections.requests),
      watches: peak((s) => s.kubeConnections.watches),
    },
    series: r.series,
    total: r.total,
    signals,
  };
  if (scenario === 'steady') {
    // Per resync period of the time the calls were counted over (the window and the scrape after it).
    const periods = callWindowMs / opts.resyncMs;
    const reads = calls.filter(
      (c) => /^(Describe|Get|List)/.test(c.eventName) && !c.eventSource.startsWith('kms'),
    ).length;
    const inventoryReads = Object.entries(inventoryCalls)
      .filter(([k]) => !k.startsWith('kms.') && /^(Describe|Get|List)/.test(k.slice(k.indexOf('.') + 1)))
      .reduce((a, [, v]) => a + v, 0);
    const statusWrites = writes;
    result.steady = {
      periods: round(periods),
      resyncMs: opts.resyncMs,
      awsReadsPerWorkloadPerResync: round(reads / n / periods, 3),
      inventoryReadsPerWorkloadPerResync: round(inventoryReads / n / periods, 3),
      kmsCallsPerKeyPerResync: round(kmsCalls / fleet.keys.length / periods, 3),
      keyPollReadsPerKeyPerResync: round(signals.keyPollReads / fleet.keys.length / periods, 3),
      statusWrites,
      writesPerWorkloadPerResync: round(statusWrites / n / periods, 4),
    };
  }
  return result;
}

/**
 * Spec change → first AWS call, with an idle queue: one workload at a time (Flink and Keyspaces,
 * whose calls name the resource in requestParameters), PATCH its key, find the first operator call
 * for that resource in the emulator's call log. Both clocks are this machine's wall clock.
 */
async function latencyProbe(
  opts: BenchOptions,
  fleet: Fleet,
  kube: BenchKube,
  admin: EmulatorAdmin,
  desiredSlot: Map<FleetWorkload, number>,
): Promise<NonNullable<ScenarioResult['specChangeLatency']>> {
  const candidates = fleet.workloads.filter((w) => w.awsName !== undefined);
  const latencies: number[] = [];
  let missing = 0;
  const samples = Math.min(opts.latencySamples, candidates.length);
  await admin.clearCalls();
  let last = 0;
  for (let i = 0; i < samples; i++) {
    const w = candidates[Math.floor((i * candidates.length) / samples)]!;
    last = (await admin.calls({ since: last })).at(-1)?.eventId ?? last;
    const slot = (desiredSlot.get(w)! + 1) % fleet.keysPerRegion;
    desiredSlot.set(w, slot);
    const t0 = Date.now();
    const res = await kube.request(
      'PATCH',
      `/apis/cmk.io/v1alpha1/namespaces/${w.namespace}/${w.plural}/${w.name}`,
      { spec: { key: { kmsKeyRef: { name: keyFor(fleet, w.region, slot).name } } } },
      'application/merge-patch+json',
    );
    if (res.status >= 300) throw new Error(`PATCH ${w.name}: ${res.status}`);
    const deadline = t0 + 10_000;
    let found: CallRecord | undefined;
    while (!found && Date.now() < deadline) {
      const calls = await admin.calls({ since: last });
      found = calls.find((c) => {
        if (c.userIdentity.accessKeyId !== operatorAccessKey) return false;
        const p = c.requestParameters as { ApplicationName?: string; tableName?: string } | undefined;
        return p?.ApplicationName === w.awsName || p?.tableName === w.awsName;
      });
      if (!found) await new Promise((r) => setTimeout(r, 20));
    }
    if (found) latencies.push(found.eventTime - t0);
    else missing++;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    samples: latencies.length,
    p50Ms: round(percentile(latencies, 50), 0),
    p99Ms: round(percentile(latencies, 99), 0),
    maxMs: round(Math.max(...latencies), 0),
    missing,
  };
}

/** Reads every workload from AWS (faults off) and counts those not on their desired key. */
async function verifyInAws(
  url: string,
  fleet: Fleet,
  desiredSlot: Map<FleetWorkload, number>,
): Promise<{ checked: number; wrong: number }> {
  const credentials = { accessKeyId: 'AKIABENCHVERIFIER001', secretAccessKey: 'x' };
  const clients = new Map(
    fleet.regions.map((region) => {
      const cfg = { endpoint: url, region, credentials, maxAttempts: 3 };
      return [
        region,
        {
          flink: new KinesisAnalyticsV2Client(cfg),
          keyspaces: new KeyspacesClient(cfg),
          emr: new EMRServerlessClient(cfg),
        },
      ] as const;
    }),
  );
  let wrong = 0;
  await pool(fleet.workloads.length, 32, async (i) => {
    const w = fleet.workloads[i]!;
    const c = clients.get(w.region)!;
    const want = keyFor(fleet, w.region, desiredSlot.get(w)!).arn;
    let got: string | undefined;
    if (w.service === 'kinesisanalytics') {
      const out = await c.flink.send(new DescribeApplicationCommand({ ApplicationName: w.awsName }));
      got =
        out.ApplicationDetail?.ApplicationConfigurationDescription
          ?.ApplicationEncryptionConfigurationDescription?.KeyId;
    } else if (w.service === 'cassandra') {
      const out = await c.keyspaces.send(
        new GetTableCommand({ keyspaceName: 'bench', tableName: w.awsName }),
      );
      got = out.encryptionSpecification?.kmsKeyIdentifier;
    } else {
      const out = await c.emr.send(new GetApplicationCommand({ applicationId: w.awsId }));
      got = out.application?.diskEncryptionConfiguration?.encryptionKeyArn;
    }
    if (got !== want && got !== want.replace(`:${accountId}:key/`, `:${accountId}:key/`)) wrong++;
  });
  for (const c of clients.values()) {
    c.flink.destroy();
    c.keyspaces.destroy();
    c.emr.destroy();
  }
  return { checked: fleet.workloads.length, wrong };
}
