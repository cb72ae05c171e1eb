// `npm run bench`: the operator benchmark (issue #8). For each fleet size N it starts a private
// control plane, the AWS emulator (realistic latency and quotas) and the operator as child processes,
// and runs the scenarios: initial sync, key switch, key rotation, steady state. Writes results.json,
// results.md and convergence.svg to --out (default bench/results/). See bench/README.md.
//
//   node scripts/bench.ts            N = 1000, 5000, 10000 x 4 scenarios (long)
//   node scripts/bench.ts --smoke    about a minute: N = 60, short periods, a temp dir
//   node scripts/bench.ts --help     every option
//
// Exit status 1 when any scenario did not converge before its deadline (partial results written),
// 2 for an unknown option.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { scenarios as allScenarios, type Scenario } from '../bench/floor.ts';
import { type BenchReport, renderMarkdown, renderSvg } from '../bench/report.ts';
import { type BenchOptions, runBench } from '../bench/scenarios.ts';

/** A bad option or option value: its message and the usage are printed, and the exit code is 2. */
class UsageError extends Error {}

function duration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${what}: expected a duration such as 30s, 500ms or 2m, got ${text}`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm'] ?? 1);
}

function positive(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0)
    throw new UsageError(`${what}: expected a non-negative number, got ${text}`);
  return n;
}

function watchMode(text: string | undefined): BenchOptions['watch'] {
  if (text === undefined || text === 'cluster' || text === 'namespaces') return text ?? 'cluster';
  throw new UsageError(`--watch: expected cluster or namespaces, got ${text}`);
}

/** Which operator was measured: the commit, and a digest of src/ as it was when the run started. */
async function codeVersion(): Promise<{ commit: string; srcDigest: string }> {
  const root = join(import.meta.dirname, '..');
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {}
  const hash = createHash('sha256');
  const files = (await readdir(join(root, 'src'), { recursive: true }))
    .filter((f) => f.endsWith('.ts'))
    .sort();
  for (const f of files) hash.update(f).update(await readFile(join(root, 'src', f)));
  return { commit, srcDigest: hash.digest('hex').slice(0, 12) };
}

function parseOptions() {
  return parseArgs({
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      smoke: { type: 'boolean', default: false },
      n: { type: 'string' },
      scenarios: { type: 'string' },
      'latency-ms': { type: 'string' },
      'jitter-ms': { type: 'string' },
      concurrency: { type: 'string' },
      watch: { type: 'string' },
      resync: { type: 'string' },
      periods: { type: 'string' },
      samples: { type: 'string' },
      out: { type: 'string' },
    },
  });
}

const usage = `usage: node scripts/bench.ts [options]   (npm run bench)

  (no options)             N = 1000, 5000, 10000 x 4 scenarios (about 21 minutes)
  --smoke                  about a minute: N = 60, short periods, a temp dir
  --n 1000,5000            fleet sizes
  --scenarios initial,switch,rotation,steady
  --latency-ms 40 --jitter-ms 10   AWS latency of the emulator
  --concurrency 16 --resync 30s    the operator's workers and resync
  --periods 3 --samples 50         steady window (resync periods) and spec-change samples
  --watch cluster|namespaces       every namespace (the chart's default) or the fleet's only
  --out DIR                        where results.json, results.md and convergence.svg go
                                   (default bench/results/)
Method, floor model and environment variables: bench/README.md.
`;

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const smoke = values.smoke === true;
  const ns = (values.n ?? (smoke ? '60' : '1000,5000,10000')).split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 3) throw new UsageError(`--n: expected integers >= 3, got ${s}`);
    return n;
  });
  const chosen = (values.scenarios ?? allScenarios.join(',')).split(',').map((s) => s.trim()) as Scenario[];
  for (const s of chosen)
    if (!allScenarios.includes(s))
      throw new UsageError(`--scenarios: expected some of ${allScenarios.join(', ')}, got ${s}`);
  const out = resolve(
    values.out ??
      (smoke
        ? await mkdtemp(join(tmpdir(), 'cmk-bench-smoke-'))
        : join(import.meta.dirname, '../bench/results')),
  );
  await mkdir(out, { recursive: true });
  const log = (msg: string) =>
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  const base: Omit<BenchOptions, 'n'> = {
    scenarios: chosen,
    latencyMs: positive(values['latency-ms'], 40, '--latency-ms'),
    jitterMs: positive(values['jitter-ms'], 10, '--jitter-ms'),
    concurrency: positive(values.concurrency, 16, '--concurrency'),
    watch: watchMode(values.watch),
    resyncMs: duration(values.resync ?? (smoke ? '8s' : '30s'), '--resync'),
    periods: positive(values.periods, smoke ? 2 : 3, '--periods'),
    latencySamples: positive(values.samples, smoke ? 10 : 50, '--samples'),
    transitions: { flinkUpdating: [4000, 6000], keyspacesUpdating: [2500, 3500], kmsRotation: [1500, 2500] },
    minDeadlineMs: smoke ? 45_000 : 120_000,
    maxDeadlineMs: smoke ? 90_000 : 900_000,
    log,
  };
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    node: process.version,
    machine: `${cpus().length} CPU(s), ${cpus()[0]?.model ?? 'unknown'}`,
    code: await codeVersion(),
    options: { ...base, log: undefined, n: ns, smoke },
    runs: [],
  };
  const write = async () => {
    report.finishedAt = new Date().toISOString();
    await writeFile(join(out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(join(out, 'results.md'), renderMarkdown(report));
    await writeFile(join(out, 'convergence.svg'), renderSvg(report));
  };
  let failed = false;
  for (const n of ns) {
    try {
      const run = await runBench({ ...base, n });
      report.runs.push(run);
      if (run.scenarios.length < chosen.length || run.scenarios.some((s) => !s.converged)) failed = true;
    } catch (e) {
      failed = true;
      log(`N=${n} failed: ${(e as Error).stack ?? e}`);
    }
    await write();
  }
  log(`results in ${out}`);
  process.stdout.write(`${join(out, 'results.json')}\n`);
  return failed ? 1 : 0;
}

// A signal ends the run at once; the children are killed on exit (bench/processes.ts) and the
// control plane's watchdogs stop etcd and the apiserver when this process is gone.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

try {
  process.exitCode = await main();
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`${e.message}\n\n${usage}`);
  process.exitCode = 2;
}
