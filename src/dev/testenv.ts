// `npm run testenv -- up | down | status` (node src/dev/main.ts testenv ...): a local control plane
// (and the AWS emulator, when the emulator module is present) that outlives the command, for
// running tests or poking around by hand.
//
// `up` starts a detached background process (`testenv __serve`) that owns everything and writes,
// under .testenv/: kubeconfig, env (shell exports: `source .testenv/env`, which also puts bin/ first
// on PATH), bin/ (links to the kubectl the control plane was built with, and helm when there is one,
// so the client always matches the server), state.json (what runs, its pid) and testenv.log. `down` asks that process to stop, kills it and reaps leftovers if it does
// not, and is safe to run twice. `status` says what runs. Because the control plane's binaries die
// with their owner, killing the background process by any means takes them down too.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { defineCommand } from '../cli/command.ts';
import { type Binaries, findBinaries } from './devenv/binaries.ts';
import { reapControlPlaneDir, startControlPlane } from './devenv/control-plane.ts';

interface TestenvState {
  pid: number;
  server: string;
  version: string;
  kubeconfigPath: string;
  controlPlaneDir: string;
  emulatorUrl?: string;
  startedAt: string;
}

export interface LocalEmulator {
  url: string;
  close(): Promise<void>;
}

type StartEmulator = (opts: { port?: number; host?: string; seedFile?: string }) => Promise<{
  url: string;
  port: number;
  close(): Promise<void>;
}>;

/** Credentials the emulator's seeded admin principal accepts. */
export const emulatorAwsEnvironment = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAEMULATORADMIN0001',
  AWS_SECRET_ACCESS_KEY: 'emulator-secret',
} as const;

/**
 * Starts the AWS emulator on loopback if its module is present. It is loaded by a computed path so
 * that this command keeps working (Kubernetes only) in a tree without it.
 */
export async function startEmulatorIfAvailable(
  note: (message: string) => void,
  seedFile?: string,
): Promise<LocalEmulator | undefined> {
  const modulePath = new URL('../../emulator/index.ts', import.meta.url).href;
  let start: StartEmulator | undefined;
  try {
    start = ((await import(modulePath)) as { startEmulator?: StartEmulator }).startEmulator;
  } catch (error) {
    note(`AWS emulator not started: cannot load ${modulePath} (${(error as Error).message})`);
    return undefined;
  }
  if (typeof start !== 'function') {
    note(`AWS emulator not started: ${modulePath} does not export startEmulator`);
    return undefined;
  }
  const emulator = await start({ host: '127.0.0.1', ...(seedFile ? { seedFile } : {}) });
  return { url: emulator.url, close: () => emulator.close() };
}

/** Resolves on the first SIGINT, SIGTERM or SIGHUP, which are then no longer fatal. */
export function shutdownSignal(): Promise<NodeJS.Signals> {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  return new Promise((resolveSignal) => {
    const onSignal = (signal: NodeJS.Signals) => {
      for (const s of signals) process.off(s, onSignal);
      // A second Ctrl-C while stopping falls through to Node's default: exit at once. The
      // binaries still go, because their watchdogs see this process die.
      resolveSignal(signal);
    };
    for (const s of signals) process.on(s, onSignal);
  });
}

const shellQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/** The shell exports of .testenv/env: the cluster, the tools in `binDir` first on PATH, the emulator. */
export function envFile(kubeconfigPath: string, emulatorUrl: string | undefined, binDir: string): string {
  const lines = [
    `export KUBECONFIG=${shellQuote(kubeconfigPath)}`,
    `export PATH=${shellQuote(binDir)}:"$PATH"`,
  ];
  if (emulatorUrl) {
    lines.push(`export AWS_ENDPOINT_URL=${shellQuote(emulatorUrl)}`);
    for (const [name, value] of Object.entries(emulatorAwsEnvironment)) lines.push(`export ${name}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}

function paths(dir: string) {
  return {
    state: join(dir, 'state.json'),
    env: join(dir, 'env'),
    kubeconfig: join(dir, 'kubeconfig'),
    bin: join(dir, 'bin'),
    log: join(dir, 'testenv.log'),
    controlPlane: join(dir, 'control-plane'),
  };
}

function readState(dir: string): TestenvState | undefined {
  try {
    return JSON.parse(readFileSync(paths(dir).state, 'utf8')) as TestenvState;
  } catch {
    return undefined;
  }
}

/** True if `pid` is alive and still our background process (pids get reused). */
function isServeProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('testenv') && cmdline.includes('__serve');
  } catch {
    return true; // no /proc: trust the liveness check
  }
}

function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function printSummary(dir: string, state: TestenvState): void {
  const p = paths(dir);
  const lines = [
    `kube-apiserver ${state.version} at ${state.server}`,
    `kubeconfig:    ${display(p.kubeconfig)}`,
    state.emulatorUrl ? `AWS emulator:  ${state.emulatorUrl}` : 'AWS emulator:  not running',
    `environment:   source ${display(p.env)}   (KUBECONFIG, AWS_*, and ${display(p.bin)} with kubectl first on PATH)`,
    `logs:          ${display(p.log)}, ${display(p.controlPlane)}/*.log`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function removeOutputs(dir: string): Promise<void> {
  const p = paths(dir);
  await Promise.all(
    [p.state, p.env, p.kubeconfig, p.bin].map((file) => rm(file, { force: true, recursive: true })),
  );
}

/** bin/ with links to the test kubectl (and helm), so `source env` gives the matching client. */
async function linkTools(binDir: string, binaries: Binaries): Promise<void> {
  await rm(binDir, { force: true, recursive: true });
  await mkdir(binDir, { recursive: true });
  const tools: Array<[string, string | undefined]> = [
    ['kubectl', binaries.kubectl],
    ['helm', binaries.helm],
  ];
  for (const [name, target] of tools) if (target) await symlink(resolve(target), join(binDir, name));
}

async function up(dir: string, seedFile: string | undefined): Promise<number> {
  const p = paths(dir);
  const existing = readState(dir);
  if (existing && isServeProcess(existing.pid)) {
    process.stdout.write(`testenv already running (pid ${existing.pid})\n`);
    printSummary(dir, existing);
    return 0;
  }
  if (existing) await down(dir, { quiet: true });

  // Found (or built) here, in the foreground, so a cold build shows its progress on this terminal.
  const binaries = await findBinaries();
  await mkdir(dir, { recursive: true });
  await linkTools(p.bin, binaries);
  const logFd = openSync(p.log, 'w');
  const mainPath = fileURLToPath(new URL('./main.ts', import.meta.url));
  const serveArgs = [mainPath, 'testenv', '__serve', '--dir', dir, ...(seedFile ? ['--seed', seedFile] : [])];
  const child = spawn(process.execPath, serveArgs, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: {
      ...process.env,
      TEST_ASSET_KUBE_APISERVER: binaries.kubeApiserver,
      TEST_ASSET_ETCD: binaries.etcd,
      TEST_ASSET_KUBECTL: binaries.kubectl,
    },
  });
  closeSync(logFd);
  child.unref();
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = signal ?? `exit code ${code}`;
  });

  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const state = readState(dir);
    if (state && state.pid === child.pid) {
      printSummary(dir, state);
      return 0;
    }
    if (exit) break;
    await sleep(100);
  }
  if (!exit && child.pid) process.kill(child.pid, 'SIGTERM');
  const log = existsSync(p.log)
    ? readFileSync(p.log, 'utf8').trimEnd().split('\n').slice(-30).join('\n')
    : '';
  process.stderr.write(
    `testenv: background process ${exit ? `failed (${exit})` : 'did not become ready in 180s'}; ` +
      `last lines of ${display(p.log)}:\n${log}\n`,
  );
  return 1;
}

/** The background process: owns the control plane and the emulator until a signal. */
async function serve(dir: string, seedFile: string | undefined): Promise<number> {
  const p = paths(dir);
  const log = (message: string) => process.stdout.write(`${new Date().toISOString()} ${message}\n`);
  const stopping = shutdownSignal();
  const controlPlane = await startControlPlane({ dir: p.controlPlane, log });
  let emulator: LocalEmulator | undefined;
  try {
    await copyFile(controlPlane.kubeconfigPath, p.kubeconfig);
    emulator = await startEmulatorIfAvailable(log, seedFile);
    if (emulator) log(`AWS emulator at ${emulator.url}`);
    await writeFile(p.env, envFile(resolve(p.kubeconfig), emulator?.url, resolve(p.bin)));
    const state: TestenvState = {
      pid: process.pid,
      server: controlPlane.server,
      version: controlPlane.version,
      kubeconfigPath: resolve(p.kubeconfig),
      controlPlaneDir: controlPlane.dir,
      ...(emulator ? { emulatorUrl: emulator.url } : {}),
      startedAt: new Date().toISOString(),
    };
    // Written last and atomically: its appearance is what `up` waits for.
    await writeFile(`${p.state}.tmp`, JSON.stringify(state, null, 2));
    await rename(`${p.state}.tmp`, p.state);
    log(`ready; stopping on ${await stopping}`);
  } finally {
    await emulator?.close();
    await controlPlane.stop();
    await removeOutputs(dir);
    log('stopped');
  }
  return 0;
}

async function down(dir: string, { quiet = false } = {}): Promise<number> {
  const p = paths(dir);
  const state = readState(dir);
  const say = (message: string) => quiet || process.stdout.write(`${message}\n`);
  if (state && isServeProcess(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (isServeProcess(state.pid) && Date.now() < deadline) await sleep(100);
    if (isServeProcess(state.pid)) {
      say(`testenv: pid ${state.pid} did not stop in 30s; killing it`);
      process.kill(state.pid, 'SIGKILL');
      await sleep(200);
    }
  }
  // Covers a background process that was killed before it could clean up.
  const reaped = await reapControlPlaneDir(p.controlPlane);
  await removeOutputs(dir);
  say(state || reaped === 'reaped' ? 'testenv stopped' : 'testenv is not running');
  return 0;
}

function probe(url: string, ca?: string): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const req = request(url, { ...(ca ? { ca } : {}), timeout: 3_000 }, (res) => {
      res.resume();
      resolveProbe(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveProbe(false));
    req.end();
  });
}

async function status(dir: string): Promise<number> {
  const state = readState(dir);
  if (!state || !isServeProcess(state.pid)) {
    process.stdout.write(
      `testenv is not running${state ? ` (stale state for pid ${state.pid}; run down)` : ''}\n`,
    );
    return 1;
  }
  let ca: string | undefined;
  try {
    ca = readFileSync(join(state.controlPlaneDir, 'pki', 'ca.crt'), 'utf8');
  } catch {}
  // /readyz is open to anonymous requests (system:public-info-viewer), so no client cert is needed.
  const apiserverReady = await probe(`${state.server}/readyz`, ca);
  const emulatorUp =
    state.emulatorUrl !== undefined &&
    (await fetch(state.emulatorUrl, { signal: AbortSignal.timeout(3_000) }).then(
      () => true,
      () => false,
    ));
  process.stdout.write(`testenv running (pid ${state.pid}, since ${state.startedAt})\n`);
  process.stdout.write(
    `kube-apiserver ${state.version} at ${state.server}: ${apiserverReady ? 'ready' : 'NOT READY'}\n`,
  );
  process.stdout.write(
    state.emulatorUrl
      ? `AWS emulator at ${state.emulatorUrl}: ${emulatorUp ? 'up' : 'DOWN'}\n`
      : 'AWS emulator: not started\n',
  );
  process.stdout.write(`environment: source ${display(paths(dir).env)}\n`);
  return apiserverReady && (emulatorUp || !state.emulatorUrl) ? 0 : 1;
}

export const testenvCli = defineCommand({
  name: 'node src/dev/main.ts testenv',
  args: '<up|down|status>',
  description: `  up      start etcd, kube-apiserver and the AWS emulator in the background
  down    stop everything up started (safe to run twice)
  status  say what runs`,
  flags: {
    dir: {
      type: 'string',
      metavar: 'DIR',
      default: '.testenv',
      description: 'where the state, kubeconfig and logs go',
    },
    seed: { type: 'string', metavar: 'FILE', description: "the AWS emulator's seed (YAML or JSON)" },
  },
});

export async function testenvCommand(args: string[]): Promise<number> {
  const parsed = testenvCli.parse(args);
  if (!parsed.ok) return parsed.exitCode;
  const { positionals, values } = parsed;
  const dir = resolve(values.dir);
  const seedFile = values.seed ? resolve(values.seed) : undefined;
  switch (positionals[0]) {
    case 'up':
      return up(dir, seedFile);
    case 'down':
      return down(dir);
    case 'status':
      return status(dir);
    case '__serve':
      return serve(dir, seedFile);
    case 'help':
      process.stdout.write(testenvCli.help());
      return 0;
    default:
      process.stderr.write(
        `${positionals[0] === undefined ? 'testenv: say up, down or status' : `testenv: unknown subcommand "${positionals[0]}"`}\n\n${testenvCli.help()}`,
      );
      return 2;
  }
}
