// CI smoke run of the benchmark (`npm run bench -- --smoke`), so the harness cannot rot: it starts
// its own control plane, the emulator and the operator as child processes, runs the four scenarios
// at N=60 and writes results. Asserts that the results are complete, every scenario converged (and
// was checked against AWS where keys moved), and the floor ratios are finite.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/report.ts';

const root = resolve(import.meta.dirname, '../..');

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(root, 'scripts/bench.ts'), ...args], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      fail(new Error(`bench --smoke did not finish in ${timeoutMs / 1000} s:\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      ok({ code, stderr });
    });
  });
}

describe('npm run bench -- --smoke', () => {
  let out: string | undefined;
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('runs every scenario to convergence and writes complete results', { timeout: 170_000 }, async () => {
    out = await mkdtemp(join(tmpdir(), 'cmk-bench-smoke-test-'));
    const { code, stderr } = await run(['--smoke', '--out', out], 160_000);
    expect(code, stderr).toBe(0);

    const report = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as BenchReport;
    expect(report.runs).toHaveLength(1);
    const [runResult] = report.runs;
    expect(runResult!.n).toBe(60);
    expect(runResult!.scenarios.map((s) => s.scenario)).toEqual(['initial', 'switch', 'rotation', 'steady']);
    // The operator stops as a rollout stops it, within the bench's 10 s: not killed.
    expect(runResult!.operatorShutdown?.killed, `shutdown ${runResult!.operatorShutdown?.ms} ms`).toBe(false);
    expect(stderr).not.toContain('after SIGTERM; killed');
    for (const s of runResult!.scenarios) {
      expect(s.converged, `${s.scenario}: ${s.error}`).toBe(true);
      expect(Number.isFinite(s.ratio) && s.ratio > 0, `${s.scenario} ratio ${s.ratio}`).toBe(true);
      expect(s.floor.timeMs).toBeGreaterThan(0);
      expect(s.series.length).toBeGreaterThan(0);
      expect(s.peakRssMiB).toBeGreaterThan(0);
      // Every part of the bench is found in the process tree and used CPU in every scenario.
      for (const part of ['operator', 'kube-apiserver', 'emulator'] as const)
        expect(s.cpu?.seconds[part], `${s.scenario} ${part} CPU`).toBeGreaterThan(0);
      expect(s.cpu!.machineBusy).toBeGreaterThan(0);
      expect(s.cpu!.machineBusy).toBeLessThanOrEqual(1);
      expect(s.cpu!.machineStolen).toBeGreaterThanOrEqual(0);
      expect(s.cpu!.machineStolen).toBeLessThanOrEqual(s.cpu!.machineBusy);
    }
    const byName = Object.fromEntries(runResult!.scenarios.map((s) => [s.scenario, s]));
    // The operator's requests to the API server stay within --kube-connections (32 by default);
    // its watches are on connections of their own.
    for (const s of runResult!.scenarios)
      expect(s.peakKubeConnections?.requests, s.scenario).toBeLessThanOrEqual(32);
    expect(byName['initial']!.peakKubeConnections?.requests).toBeGreaterThan(0);
    expect(byName['initial']!.peakKubeConnections?.watches).toBeGreaterThan(0);
    // The key switch really moved every workload: each needed its own mutation, and AWS agrees.
    const sw = byName['switch']!;
    expect(sw.verifiedInAws).toEqual({ checked: 60, wrong: 0 });
    expect(byName['initial']!.verifiedInAws).toEqual({ checked: 60, wrong: 0 });
    const updates =
      (sw.awsCalls['kinesisanalytics.UpdateApplication'] ?? 0) +
      (sw.awsCalls['cassandra.UpdateTable'] ?? 0) +
      (sw.awsCalls['emr-serverless.UpdateApplication'] ?? 0);
    expect(updates).toBeGreaterThanOrEqual(60);
    expect(byName['rotation']!.awsCalls['kms.RotateKeyOnDemand']).toBeGreaterThanOrEqual(runResult!.keys);
    const steady = byName['steady']!;
    expect(steady.steady?.periods).toBeGreaterThanOrEqual(1.9);
    expect(steady.specChangeLatency?.samples).toBeGreaterThan(0);

    const md = await readFile(join(out, 'results.md'), 'utf8');
    expect(md).toContain('## N = 60');
    expect(md).toContain('| scenario | machine busy (stolen) | operator (ms per workload)');
    const svg = await readFile(join(out, 'convergence.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('<polyline');
  });
});

describe('scripts/bench.ts options', () => {
  it.each([
    [['--n', '2'], '--n: expected integers >= 3, got 2'],
    [['--resync', 'soon'], '--resync: expected a duration such as 30s, 500ms or 2m, got soon'],
    [
      ['--scenarios', 'initial,warp'],
      '--scenarios: expected some of initial, switch, rotation, steady, got warp',
    ],
    [['--latency-ms=-1'], '--latency-ms: expected a non-negative number, got -1'],
    [['--no-such-option'], "Unknown option '--no-such-option'"],
  ])('%j: names the option and the fix, prints the usage, exits 2, starts nothing', async (args, message) => {
    const { code, stderr } = await run(args, 30_000);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain('usage: node scripts/bench.ts');
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr).not.toContain('[bench');
  });
});
