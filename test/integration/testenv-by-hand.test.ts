// The README's "Running the operator by hand" recipe, as written: `testenv up` in a directory of its
// own, `source <dir>/env` (KUBECONFIG, the emulator's AWS settings, and the testenv's kubectl first
// on PATH), the CRDs with that kubectl, the operator as a process with the documented flags (free
// ports), a KmsKey the operator creates, `kubectl wait` for Ready, then `testenv down`.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries } from '../../src/dev/devenv/binaries.ts';
import { eventually } from './support/cluster.ts';
import { type RunResult, repoRoot } from './support/helm.ts';

const node = join(repoRoot, 'node_modules/.bin/node');

/** Runs a command in the repository; stdin is `input`, or closed. Never throws on an exit code. */
function run(file: string, args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** The README's operator flags for a by-hand run. */
const operatorFlags = [
  '--health-address=127.0.0.1:0',
  '--metrics-address=127.0.0.1:0',
  '--resync=30s',
  '--key-poll=5s',
];

describe('running the operator by hand against `npm run testenv -- up`', () => {
  let dir: string;
  let operator: ChildProcess | undefined;
  let operatorLog = '';

  /** `bash -c script` in the repository after `source <dir>/env`. */
  const shell = (script: string, input?: string) =>
    run('bash', ['-c', `set -e; source "$TESTENV_DIR/env"; ${script}`], {
      env: { TESTENV_DIR: dir },
      ...(input ? { input } : {}),
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cmk-testenv-'));
    const up = await run(node, [join(repoRoot, 'src/dev/main.ts'), 'testenv', 'up', '--dir', dir]);
    expect(up.code, up.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    operator?.kill('SIGTERM');
    if (dir) {
      await run(node, [join(repoRoot, 'src/dev/main.ts'), 'testenv', 'down', '--dir', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('source env puts the testenv kubectl first on PATH and points it at the testenv', async () => {
    const which = await shell('command -v kubectl');
    expect(which.stdout.trim()).toBe(join(dir, 'bin/kubectl'));
    expect(realpathSync(which.stdout.trim())).toBe(realpathSync((await findBinaries()).kubectl));
    const version = await shell('kubectl version -o json');
    expect(version.code, version.stderr).toBe(0);
    expect(JSON.parse(version.stdout).serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+/);
  });

  it('the CRDs, the operator with the documented flags, and a KmsKey it creates reaches Ready', async () => {
    const crds = await shell('kubectl apply --server-side -f crds/');
    expect(crds.code, crds.stderr).toBe(0);
    await shell('kubectl wait --for=condition=Established crd --all --timeout=60s');

    operator = spawn(
      'bash',
      ['-c', `source "$TESTENV_DIR/env"; exec "${node}" bin/cmk-operator.ts run ${operatorFlags.join(' ')}`],
      { cwd: repoRoot, env: { ...process.env, TESTENV_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    operator.stdout!.on('data', (chunk: Buffer) => {
      operatorLog += chunk.toString();
    });
    operator.stderr!.on('data', (chunk: Buffer) => {
      operatorLog += chunk.toString();
    });
    // The start-up line names the health and metrics URLs (port 0: ports the system picked).
    const started = await eventually(
      async () =>
        operatorLog
          .split('\n')
          .filter((l) => l.includes('"cmk-operator started"'))
          .map((l) => JSON.parse(l) as { health: string; metrics: string })[0],
      { what: `the operator's start-up line (log so far: ${operatorLog.slice(-500)})`, timeoutMs: 30_000 },
    );
    expect(started.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    expect((await fetch(`${started.health}/healthz`)).status).toBe(200);

    const key = await shell(
      'kubectl apply -f - && kubectl wait --for=condition=Ready kmskey/by-hand --timeout=60s',
      'apiVersion: cmk.io/v1alpha1\nkind: KmsKey\nmetadata:\n  name: by-hand\n  namespace: default\nspec:\n  create: {}\n',
    );
    expect(key.code, `${key.stderr}\n${operatorLog.slice(-2000)}`).toBe(0);
    expect(key.stdout).toContain('kmskey.cmk.io/by-hand condition met');
  });

  it('testenv down removes what up wrote', async () => {
    operator?.kill('SIGTERM');
    operator = undefined;
    const down = await run(node, [join(repoRoot, 'src/dev/main.ts'), 'testenv', 'down', '--dir', dir]);
    expect(down.code, down.stderr).toBe(0);
    for (const f of ['env', 'kubeconfig', 'bin', 'state.json'])
      expect(existsSync(join(dir, f)), f).toBe(false);
  });
});
