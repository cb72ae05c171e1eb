// Prometheus metrics of the runtime, with controller-runtime's names and labels so existing
// dashboards and alerts work unchanged.
//
// Guarantees: one registry per process (or per test), never prom-client's global one; each metric
// family is registered once per registry however many queues or controllers share it; every
// labelled series a queue or controller owns exists (at zero) from the moment it is created, so a
// rate() over it is defined before the first event. Never blocks: gauges of in-flight work are
// computed at scrape time instead of by a timer.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { KubeConnections } from './kube.ts';

/** A fresh registry with Node's default metrics (event-loop lag, heap, GC, handles). */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Families a registry serves that are rendered straight to text (per-object series, which would
 * cost too much as prom-client metrics at scale; src/reconcile/resource-metrics.ts). Each render
 * hands out whole families in the Prometheus text format in chunks, each ending in a newline.
 */
type TextRender = () => AsyncIterable<string>;
const textFamilies = new WeakMap<Registry, TextRender[]>();

/** Adds `render`'s families to what `exposition(registry)` serves. */
export function registerTextFamilies(registry: Registry, render: TextRender): void {
  if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE)
    throw new Error('text families are written in the Prometheus text format; the registry serves another');
  const list = textFamilies.get(registry);
  if (list) list.push(render);
  else textFamilies.set(registry, [render]);
}

/**
 * What /metrics serves, in chunks to write as they come: the registry's metrics, then its text
 * families. Never the whole exposition as one string (at 10,000 objects it is ~10 MB).
 */
export async function* exposition(registry: Registry): AsyncGenerator<string> {
  yield await registry.metrics();
  for (const render of textFamilies.get(registry) ?? []) yield* render();
}

/** The whole exposition as one text (tests, tools). */
export function expositionText(registry: Registry): Promise<string> {
  return joinChunks(exposition(registry));
}

/** Chunks of text joined into one (tests, tools: what /metrics writes piece by piece). */
export async function joinChunks(chunks: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const chunk of chunks) text += chunk;
  return text;
}

/** What a work queue reports; `noWorkQueueMetrics` when nobody listens. */
export interface WorkQueueMetrics {
  added(): void;
  depth(n: number): void;
  retried(): void;
  /** Seconds a key waited between add and get. */
  queued(seconds: number): void;
  /** Seconds between get and done. */
  worked(seconds: number): void;
  /** Registers the scrape-time probe of work in progress (called once by the queue). */
  probeUnfinished(probe: () => { unfinishedSeconds: number; longestSeconds: number }): void;
}

export const noWorkQueueMetrics: WorkQueueMetrics = {
  added() {},
  depth() {},
  retried() {},
  queued() {},
  worked() {},
  probeUnfinished() {},
};

// client-go's workqueue buckets: 10^-8 .. 10^1 seconds.
const queueBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10];
// controller-runtime's reconcile_time_seconds buckets.
const reconcileBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
  1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

type UnfinishedProbe = () => { unfinishedSeconds: number; longestSeconds: number };

interface WorkQueueFamilies {
  depth: Gauge<'name'>;
  adds: Counter<'name'>;
  retries: Counter<'name'>;
  queueDuration: Histogram<'name'>;
  workDuration: Histogram<'name'>;
  probes: Map<string, UnfinishedProbe>;
}

const workQueueFamiliesByRegistry = new WeakMap<Registry, WorkQueueFamilies>();

function workQueueFamilies(registry: Registry): WorkQueueFamilies {
  const existing = workQueueFamiliesByRegistry.get(registry);
  if (existing) return existing;
  const probes = new Map<string, UnfinishedProbe>();
  const registers = [registry];
  const families: WorkQueueFamilies = {
    probes,
    depth: new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name'],
      registers,
    }),
    adds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    retries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    queueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name'],
      buckets: queueBuckets,
      registers,
    }),
    workDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name'],
      buckets: queueBuckets,
      registers,
    }),
  };
  new Gauge({
    name: 'workqueue_unfinished_work_seconds',
    help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration",
    labelNames: ['name'],
    registers,
    collect() {
      for (const [name, probe] of probes) this.set({ name }, probe().unfinishedSeconds);
    },
  });
  new Gauge({
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running',
    labelNames: ['name'],
    registers,
    collect() {
      for (const [name, probe] of probes) this.set({ name }, probe().longestSeconds);
    },
  });
  workQueueFamiliesByRegistry.set(registry, families);
  return families;
}

/** Work-queue metrics for the queue called `name` (label `name`), series initialised to zero. */
export function prometheusWorkQueueMetrics(registry: Registry, name: string): WorkQueueMetrics {
  const f = workQueueFamilies(registry);
  const labels = { name };
  f.depth.set(labels, 0);
  f.adds.inc(labels, 0);
  f.retries.inc(labels, 0);
  f.queueDuration.zero(labels);
  f.workDuration.zero(labels);
  f.probes.set(name, () => ({ unfinishedSeconds: 0, longestSeconds: 0 }));
  return {
    added: () => f.adds.inc(labels),
    depth: (n) => f.depth.set(labels, n),
    retried: () => f.retries.inc(labels),
    queued: (s) => f.queueDuration.observe(labels, s),
    worked: (s) => f.workDuration.observe(labels, s),
    probeUnfinished: (probe) => f.probes.set(name, probe),
  };
}

export type ReconcileResultLabel = 'success' | 'error' | 'requeue' | 'requeue_after';

/** What a controller reports; `noControllerMetrics` when nobody listens. */
export interface ControllerMetrics {
  reconciled(result: ReconcileResultLabel, seconds: number): void;
  errored(terminal: boolean): void;
  activeWorkers(delta: number): void;
  maxConcurrentReconciles(n: number): void;
}

export const noControllerMetrics: ControllerMetrics = {
  reconciled() {},
  errored() {},
  activeWorkers() {},
  maxConcurrentReconciles() {},
};

interface ControllerFamilies {
  total: Counter<'controller' | 'result'>;
  errors: Counter<'controller'>;
  terminalErrors: Counter<'controller'>;
  time: Histogram<'controller'>;
  active: Gauge<'controller'>;
  max: Gauge<'controller'>;
}

const controllerFamiliesByRegistry = new WeakMap<Registry, ControllerFamilies>();

function controllerFamilies(registry: Registry): ControllerFamilies {
  const existing = controllerFamiliesByRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const families: ControllerFamilies = {
    total: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    }),
    errors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    }),
    terminalErrors: new Counter({
      name: 'controller_runtime_terminal_reconcile_errors_total',
      help: 'Total number of terminal reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    }),
    time: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: reconcileBuckets,
      registers,
    }),
    active: new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      registers,
    }),
    max: new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'],
      registers,
    }),
  };
  controllerFamiliesByRegistry.set(registry, families);
  return families;
}

/** Controller metrics for `controller`, every series (all four results) initialised to zero. */
export function prometheusControllerMetrics(registry: Registry, controller: string): ControllerMetrics {
  const f = controllerFamilies(registry);
  const labels = { controller };
  for (const result of ['success', 'error', 'requeue', 'requeue_after'] as const) {
    f.total.inc({ controller, result }, 0);
  }
  f.errors.inc(labels, 0);
  f.terminalErrors.inc(labels, 0);
  f.time.zero(labels);
  f.active.set(labels, 0);
  f.max.set(labels, 0);
  return {
    reconciled(result, seconds) {
      f.total.inc({ controller, result });
      f.time.observe(labels, seconds);
    },
    errored(terminal) {
      f.errors.inc(labels);
      if (terminal) f.terminalErrors.inc(labels);
    },
    activeWorkers: (delta) => f.active.inc(labels, delta),
    maxConcurrentReconciles: (n) => f.max.set(labels, n),
  };
}

/**
 * API-server requests by method and status code (client-go's `rest_client_requests_total`), and AWS
 * calls by service, operation and outcome: what the operator costs the cluster and the account.
 */
export function prometheusClientMetrics(registry: Registry): {
  kubeResponse(method: string, statusCode: number): void;
  awsCall(service: string, operation: string, outcome: string): void;
} {
  const registers = [registry];
  const kube = new Counter({
    name: 'rest_client_requests_total',
    help: 'Number of HTTP requests to the Kubernetes API server, partitioned by method and status code',
    labelNames: ['method', 'code'],
    registers,
  });
  const aws = new Counter({
    name: 'cmk_aws_api_calls_total',
    help: 'AWS API calls (after SDK retries), partitioned by service, operation and outcome (ok or the AWS error code)',
    labelNames: ['service', 'operation', 'outcome'],
    registers,
  });
  return {
    kubeResponse: (method, statusCode) => kube.inc({ method, code: String(statusCode) }),
    awsCall: (service, operation, outcome) => aws.inc({ service, operation, outcome }),
  };
}

/** The Kubernetes client's connections (src/runtime/kube.ts), read at scrape time. */
export function prometheusKubeConnectionMetrics(
  registry: Registry,
  connections: () => KubeConnections,
): void {
  const registers = [registry];
  new Gauge({
    name: 'cmk_kube_connections',
    help: 'Connections to the Kubernetes API server, by state: active (a request), idle (kept alive), watch',
    labelNames: ['state'],
    registers,
    collect() {
      const c = connections();
      this.set({ state: 'active' }, c.active);
      this.set({ state: 'idle' }, c.idle);
      this.set({ state: 'watch' }, c.watches);
    },
  });
  new Gauge({
    name: 'cmk_kube_requests_waiting',
    help: 'Requests to the Kubernetes API server waiting for a connection (all --kube-connections are busy)',
    registers,
    collect() {
      this.set(connections().waiting);
    },
  });
}

/**
 * The key-state poll's reads and the changes it noticed, and the inventory's AWS calls, reported
 * apart from the reconciles' AWS calls so their share of the steady-state budget shows (the event
 * queue's are in src/events/metrics.ts).
 */
export function prometheusSignalMetrics(registry: Registry) {
  const registers = [registry];
  return {
    keyPollReads: new Counter({
      name: 'cmk_key_poll_reads_total',
      help: 'DescribeKey reads of the key-state poll, by outcome (read, failed)',
      labelNames: ['outcome'],
      registers,
    }),
    inventoryCalls: new Counter({
      name: 'cmk_inventory_aws_calls_total',
      help: 'AWS API calls of the key usage inventory (also counted in cmk_aws_api_calls_total), by service and operation',
      labelNames: ['service', 'operation'],
      registers,
    }),
    keyPollChanges: new Counter({
      name: 'cmk_key_poll_changes_total',
      help: 'Key changes the key-state poll noticed (state, deletion date or key material), each enqueuing the key’s holders and users',
      registers,
    }),
  };
}

/**
 * The key usage inventory of each Region, read at scrape time: what its last pass could not read
 * (while above 0, a key deletion in that Region waits, and DeletionBlocked names the read: an alert
 * on it finds a missing permission before a deletion does), and when its last pass ended (an alert on
 * its age finds an inventory that stopped; a KmsKey's status.usage.lastInventoryTime moves alone at
 * most hourly, so it is not the figure to alert on).
 */
export function prometheusInventoryMetrics(
  registry: Registry,
  regions: () => Array<{ region: string; unread: number; lastPassAt: number | undefined }>,
): void {
  new Gauge({
    name: 'cmk_inventory_unread',
    help: 'Listings and resources the last key usage inventory pass of a Region could not read; while above 0, key deletions there wait',
    labelNames: ['region'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of regions()) this.inc({ region: r.region }, r.unread);
    },
  });
  new Gauge({
    name: 'cmk_inventory_last_pass_timestamp_seconds',
    help: 'When the last key usage inventory pass of a Region ended (the oldest, when several roles are scanned there); absent before the first',
    labelNames: ['region'],
    registers: [registry],
    collect() {
      this.reset();
      const oldest = new Map<string, number>();
      for (const r of regions())
        if (r.lastPassAt !== undefined)
          oldest.set(r.region, Math.min(oldest.get(r.region) ?? Infinity, r.lastPassAt));
      for (const [region, at] of oldest) this.set({ region }, at / 1000);
    },
  });
}

/**
 * Whether this process holds the leader Lease (controller-runtime's `leader_election_master_status`,
 * label `name` = the Lease) and whether it is ready (every informer synced, as /readyz answers),
 * both read at scrape time. With leader election off, the process always leads.
 */
export function prometheusProcessMetrics(
  registry: Registry,
  process: { lease: string; isLeader(): boolean; ready(): boolean; memorySaver?: () => boolean },
): void {
  const registers = [registry];
  new Gauge({
    name: 'leader_election_master_status',
    help: 'Whether this process holds the leader Lease named by `name` (1) or stands by (0)',
    labelNames: ['name'],
    registers,
    collect() {
      this.set({ name: process.lease }, process.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cmk_ready',
    help: 'Whether this process is ready (1), as /readyz answers: every informer cache has synced',
    registers,
    collect() {
      this.set(process.ready() ? 1 : 0);
    },
  });
  const memorySaver = process.memorySaver;
  if (memorySaver)
    new Gauge({
      name: 'cmk_memory_saver',
      help: "Whether V8's memory saver mode is on (1): nothing has been changing for a while, or the resident set is above --memory-target (--memory-saver auto)",
      registers,
      collect() {
        this.set(memorySaver() ? 1 : 0);
      },
    });
}
