// The processes a bench run drives: the AWS emulator and the operator, each a child process of its
// own (so the operator's RSS, heap and event-loop lag are its alone, and the emulator's latency
// timers do not share the bench's event loop), plus a sampler of the operator's /metrics.

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildOperator, repoRoot } from '../scripts/build.ts';
import { operatorAccessKey, operatorSecret } from './fleet.ts';

/** The operator's TypeScript entry point (CMK_BENCH_FROM_SOURCE=1 runs it instead of the build). */
const sourceMain = resolve(import.meta.dirname, '../src/cli/main.ts');
/** The development entry point: the emulator is not part of the operator's. */
const devMain = resolve(import.meta.dirname, '../src/dev/main.ts');

/** How a child ended when stopped: SIGTERM to exit, and whether it had to be killed. */
export interface Stopped {
  /** SIGTERM → exit (0 when it had already exited). */
  ms: number;
  /** Still running after the grace period, then killed with SIGKILL. */
  killed: boolean;
}

export interface Child {
  child: ChildProcess;
  stop(): Promise<Stopped>;
}

// Children must not outlive the bench, however it ends: a signal makes the entry point exit, and
// every child still running is killed on the way out.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

async function stopChild(child: ChildProcess): Promise<Stopped> {
  if (child.exitCode !== null || child.signalCode !== null) return { ms: 0, killed: false };
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const sent = Date.now();
  let killed = false;
  child.kill('SIGTERM');
  // A process that needs SIGKILL did not shut down cleanly (a CPU profile, for one, is then lost):
  // said on stderr, so a run shows it. Writing a profile of minutes takes longer than 10 s.
  const graceS = (process.env['CMK_BENCH_NODE_ARGS'] ?? '').includes('--cpu-prof') ? 120 : 10;
  const timer = setTimeout(() => {
    console.error(
      `[bench] ${child.spawnargs.slice(1, 4).join(' ')}: no exit ${graceS} s after SIGTERM; killed`,
    );
    killed = true;
    child.kill('SIGKILL');
  }, graceS * 1000);
  await exited;
  clearTimeout(timer);
  return { ms: Date.now() - sent, killed };
}

export async function startEmulatorProcess(): Promise<Child & { url: string }> {
  const child = track(
    spawn(process.execPath, [devMain, 'emulator', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const url = await new Promise<string>((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`emulator did not start in 60 s: ${out}`)), 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    });
    child.once('exit', (code) => fail(new Error(`emulator exited early (${code}): ${out}`)));
  });
  child.stdout!.resume();
  return { child, url, stop: () => stopChild(child) };
}

export interface OperatorOptions {
  kubeconfig: string;
  /** The namespaces to watch; none: every namespace. */
  namespaces: string[];
  concurrency: number;
  resyncMs: number;
  emulatorUrl: string;
  region: string;
  logFile: string;
}

/**
 * The environment the image gives the operator: the ENV lines of the Dockerfile's last stage (among
 * them NODE_OPTIONS, the heap bounds), so the bench measures the operator's memory as it ships.
 * Only the `KEY=value` form (values optionally double-quoted); anything else is an error naming it.
 */
export function imageEnv(dockerfile: string): Record<string, string> {
  const runtime =
    dockerfile
      .replace(/\\\n/g, ' ')
      .split(/^FROM\s/m)
      .at(-1) ?? '';
  const env: Record<string, string> = {};
  for (const [, rest] of runtime.matchAll(/^ENV\s+(.*)$/gm)) {
    const pairs = /^(?:\s*[A-Za-z_][A-Za-z0-9_]*=(?:"(?:[^"\\]|\\.)*"|[^\s"]*))+\s*$/;
    if (!pairs.test(rest!)) throw new Error(`Dockerfile: cannot read "ENV ${rest}": use ENV KEY=value`);
    for (const m of rest!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)/g))
      env[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  }
  return env;
}

/**
 * The image's entry point: the Node flags the last ENTRYPOINT passes to `node` before the script (V8
 * flags that NODE_OPTIONS does not accept go there), and the script, relative to the WORKDIR.
 */
export function imageEntrypoint(dockerfile: string): { nodeArgs: string[]; script?: string } {
  const runtime = dockerfile.split(/^FROM\s/m).at(-1) ?? '';
  const entrypoint = [...runtime.matchAll(/^ENTRYPOINT\s+(.*)$/gm)].at(-1)?.[1];
  if (entrypoint === undefined) return { nodeArgs: [] };
  let args: unknown;
  try {
    args = JSON.parse(entrypoint);
  } catch {
    args = undefined;
  }
  if (!Array.isArray(args) || args[0] !== 'node')
    throw new Error(`Dockerfile: cannot read "ENTRYPOINT ${entrypoint}": use the exec form ["node", ...]`);
  const script = args.findIndex((a, i) => i > 0 && typeof a === 'string' && !a.startsWith('-'));
  return {
    nodeArgs: args.slice(1, script < 0 ? args.length : script) as string[],
    ...(script < 0 ? {} : { script: args[script] as string }),
  };
}

/** The Node flags of the image's entry point (imageEntrypoint). */
export function imageNodeArgs(dockerfile: string): string[] {
  return imageEntrypoint(dockerfile).nodeArgs;
}

let built: string | undefined;

/**
 * What the image runs, built once per bench process into a directory of its own under dist/
 * (scripts/build.ts lays it out like the image's /app; packages resolve from the repository's
 * node_modules) and removed on exit. CMK_BENCH_FROM_SOURCE=1 runs the TypeScript sources through
 * Node's type stripping instead, for comparison.
 */
function operatorEntry(image: string): string {
  if (process.env['CMK_BENCH_FROM_SOURCE'] === '1') return sourceMain;
  if (built) return built;
  const script = imageEntrypoint(image).script;
  if (!script) throw new Error('Dockerfile: the runtime stage has no ENTRYPOINT script');
  mkdirSync(join(repoRoot, 'dist'), { recursive: true });
  const dir = mkdtempSync(join(repoRoot, 'dist', 'bench-operator-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  buildOperator(dir);
  built = join(dir, script);
  return built;
}

const dockerfile = resolve(import.meta.dirname, '../Dockerfile');

/**
 * Opt-in heap snapshots of the operator (`CMK_BENCH_HEAP_SNAPSHOT_DIR=DIR`): the operator runs with
 * Node's `--heapsnapshot-signal=SIGUSR2`, writes each snapshot into DIR, and its pid is in
 * DIR/operator.pid, so `kill -USR2 $(cat DIR/operator.pid)` takes one at any moment of a run
 * (scripts/heap-analysis.ts reads them). Writing one pauses the operator for seconds and needs
 * about twice its heap: the run's timings and peak RSS are not comparable with a run without.
 */
function heapSnapshotFlags(): { flags: string[]; dir?: string } {
  const dir = process.env['CMK_BENCH_HEAP_SNAPSHOT_DIR'];
  if (!dir) return { flags: [] };
  mkdirSync(dir, { recursive: true });
  return { flags: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${resolve(dir)}`], dir };
}

export async function startOperatorProcess(
  o: OperatorOptions,
): Promise<Child & { metricsUrl: string; spawnedAt: number; startedAt: number }> {
  const image = readFileSync(dockerfile, 'utf8');
  const main = operatorEntry(image);
  const spawnedAt = Date.now();
  const snapshots = heapSnapshotFlags();
  // To try other flags than the image's: CMK_BENCH_NODE_ARGS='--optimize-for-size ...'.
  const nodeArgs = process.env['CMK_BENCH_NODE_ARGS']?.split(' ').filter(Boolean) ?? imageNodeArgs(image);
  const child = track(
    spawn(
      process.execPath,
      [
        ...nodeArgs,
        ...snapshots.flags,
        main,
        'run',
        '--kubeconfig',
        o.kubeconfig,
        ...(o.namespaces.length > 0 ? ['--namespaces', o.namespaces.join(',')] : []),
        '--concurrency',
        String(o.concurrency),
        '--resync',
        `${Math.round(o.resyncMs)}ms`,
        // The key usage inventory and the key-state poll run at their defaults (10 min, 30 s): their
        // calls are inside the steady-state budget, and reported apart (MetricsSample.signals).
        '--metrics-address',
        '127.0.0.1:0',
        '--health-address',
        '127.0.0.1:0',
        '--leader-elect',
        'false',
        '--cluster-name',
        'bench',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...imageEnv(image),
          // To try other heap bounds than the image's: CMK_BENCH_NODE_OPTIONS='--max-old-space-size=...'.
          ...(process.env['CMK_BENCH_NODE_OPTIONS'] !== undefined
            ? { NODE_OPTIONS: process.env['CMK_BENCH_NODE_OPTIONS'] }
            : {}),
          AWS_ENDPOINT_URL: o.emulatorUrl,
          AWS_REGION: o.region,
          AWS_ACCESS_KEY_ID: operatorAccessKey,
          AWS_SECRET_ACCESS_KEY: operatorSecret,
        },
      },
    ),
  );
  if (snapshots.dir) writeFileSync(join(snapshots.dir, 'operator.pid'), `${child.pid}\n`);
  const log = createWriteStream(o.logFile);
  child.stderr!.pipe(log, { end: false });
  const metricsUrl = await new Promise<string>((ok, fail) => {
    let buf = '';
    const timer = setTimeout(
      () => fail(new Error(`operator did not start in 60 s; log: ${o.logFile}`)),
      60_000,
    );
    const onData = (c: Buffer) => {
      log.write(c);
      buf += c.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (line.includes('cmk-operator started')) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stdout!.pipe(log);
          ok((JSON.parse(line) as { metrics: string }).metrics);
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => fail(new Error(`operator exited early (${code}); log: ${o.logFile}`)));
  });
  // 'cmk-operator started': modules loaded, informers and controllers running.
  const startedAt = Date.now();
  return { child, metricsUrl, spawnedAt, startedAt, stop: () => stopChild(child) };
}

/** Prometheus text format → samples (name, labels, value). Enough for counters and gauges. */
export function parseMetrics(
  text: string,
): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

export interface MetricsSample {
  t: number;
  rssBytes: number;
  heapUsedBytes: number;
  lagP99Seconds: number;
  /** rest_client_requests_total by method (all codes). */
  kubeRequests: Record<string, number>;
  /** Whether the operator exports rest_client_requests_total at all. */
  hasKubeMetric: boolean;
  /** cmk_kube_connections: the requests' connections (active + idle) and the watches'. */
  kubeConnections: { requests: number; watches: number };
  /** cmk_aws_api_calls_total by service.operation (all outcomes). */
  awsCalls: Record<string, number>;
  /** The key poll's DescribeKey reads, the inventory's AWS calls by service.operation, event messages. */
  signals: { keyPollReads: number; inventoryCalls: Record<string, number>; eventMessages: number };
}

export async function scrape(metricsUrl: string): Promise<MetricsSample | undefined> {
  try {
    const res = await fetch(`${metricsUrl.replace(/\/$/, '')}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    const samples = parseMetrics(text);
    const one = (name: string) => samples.find((s) => s.name === name)?.value ?? Number.NaN;
    const kubeRequests: Record<string, number> = {};
    const awsCalls: Record<string, number> = {};
    const signals = { keyPollReads: 0, inventoryCalls: {} as Record<string, number>, eventMessages: 0 };
    const kubeConnections = { requests: 0, watches: 0 };
    for (const s of samples) {
      if (s.name === 'rest_client_requests_total') {
        const m = s.labels['method'] ?? '?';
        kubeRequests[m] = (kubeRequests[m] ?? 0) + s.value;
      } else if (s.name === 'cmk_aws_api_calls_total') {
        const k = `${s.labels['service']}.${s.labels['operation']}`;
        awsCalls[k] = (awsCalls[k] ?? 0) + s.value;
      } else if (s.name === 'cmk_key_poll_reads_total') signals.keyPollReads += s.value;
      else if (s.name === 'cmk_event_messages_total') signals.eventMessages += s.value;
      else if (s.name === 'cmk_kube_connections') {
        if (s.labels['state'] === 'watch') kubeConnections.watches += s.value;
        else kubeConnections.requests += s.value;
      } else if (s.name === 'cmk_inventory_aws_calls_total') {
        const k = `${s.labels['service']}.${s.labels['operation']}`;
        signals.inventoryCalls[k] = (signals.inventoryCalls[k] ?? 0) + s.value;
      }
    }
    return {
      t: Date.now(),
      rssBytes: one('process_resident_memory_bytes'),
      heapUsedBytes: one('nodejs_heap_size_used_bytes'),
      lagP99Seconds: one('nodejs_eventloop_lag_p99_seconds'),
      kubeRequests,
      hasKubeMetric: text.includes('rest_client_requests_total'),
      kubeConnections,
      awsCalls,
      signals,
    };
  } catch {
    return undefined;
  }
}

/**
 * The resident set of `pid` from /proc, in bytes: now (VmRSS) or its high-water mark (VmHWM);
 * undefined where /proc cannot say.
 */
export function residentBytes(
  pid: number | undefined,
  field: 'VmRSS' | 'VmHWM' = 'VmRSS',
): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples the operator until stopped, keeping every sample:
 * - its /metrics every `everyMs` (default 5 s: at 10,000 workloads one scrape renders ~100,000
 *   per-object series, and a scrape every second took a sixth of the operator's CPU, where
 *   Prometheus scrapes every 15-60 s);
 * - its resident set from /proc every `rssEveryMs` (default 1 s), so the peak is seen as closely as
 *   before; where /proc cannot say, the scrapes' process_resident_memory_bytes count instead.
 */
export function sampler(
  metricsUrl: string,
  options: { pid?: number; everyMs?: number; rssEveryMs?: number } = {},
) {
  const everyMs = options.everyMs ?? 5_000;
  const samples: MetricsSample[] = [];
  const rss: Array<{ t: number; bytes: number }> = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    const s = await scrape(metricsUrl);
    if (s) samples.push(s);
    if (!stopped) timer = setTimeout(tick, everyMs);
  };
  const rssTimer = setInterval(() => {
    const bytes = residentBytes(options.pid);
    if (bytes !== undefined) rss.push({ t: Date.now(), bytes });
  }, options.rssEveryMs ?? 1_000);
  void tick();
  return {
    samples,
    rss,
    latest: () => samples.at(-1),
    /** A scrape now, kept with the others (for the end of a scenario). */
    async now(): Promise<MetricsSample | undefined> {
      const s = await scrape(metricsUrl);
      if (s) samples.push(s);
      return s;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(rssTimer);
    },
  };
}
