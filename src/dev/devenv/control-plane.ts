// A real Kubernetes control plane on loopback: etcd plus kube-apiserver with RBAC, the envtest
// way. No controller-manager runs, so there is no garbage collection and namespaces never finish
// terminating; everything the apiserver itself does (schemas, CEL, finalizers, status, RBAC,
// conflicts, watches) is real.
//
// Guarantees:
// - Ready means ready: etcd answers /health, the apiserver answers /readyz to the admin client
//   certificate, and the `default` namespace exists.
// - No orphans. Each binary runs under a small shell watchdog that holds the read end of a pipe
//   whose write end only this Node process has; when this process ends for any reason, kill -9
//   included, the pipe closes and the watchdog terminates the binary (TERM, then KILL). As a second
//   line, each working dir records its owner (pid + start time) and the binaries' pids; starting a
//   control plane reaps the dirs of dead owners, killing a recorded pid only if its command line
//   still names that dir.
// - stop() stops the apiserver before etcd, waits for both to exit and removes the working dir.
//   It is idempotent.
// - restartApiserver() brings the apiserver back on the same port with the same flags against the
//   same etcd (fault-injection tests); etcd and the working dir are untouched.
// - Start-up failures name the process and include the tail of its log.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { type Binaries, findBinaries } from './binaries.ts';
import {
  createCertificateAuthority,
  createServiceAccountSigningKey,
  issueClientCertificate,
  issueServingCertificate,
  loadCertificateAuthority,
} from './certs.ts';

export interface ControlPlane {
  /** Admin kubeconfig (CN admin, O system:masters). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** gitVersion from /version, e.g. v1.35.4 */
  version: string;
  /** etcd client URL (http, loopback), for tests that need to compact or inspect storage. */
  etcdUrl: string;
  /** Working dir: pki/, etcd data, logs, kubeconfigs. Removed by stop(). */
  dir: string;
  mintIdentity(user: string, groups: string[]): Promise<{ kubeconfigPath: string }>;
  /**
   * Stops kube-apiserver (TERM, as a rolling restart would) and starts it again on the same port
   * with the same flags against the same etcd, so certificates, kubeconfigs and stored objects stay
   * valid. Resolves once it answers /readyz again; `downMs` is how long it did not serve.
   */
  restartApiserver(): Promise<{ downMs: number }>;
  /** Compacts etcd up to its current revision (see `compactEtcd`); returns that revision. */
  compactEtcd(): Promise<number>;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Working dir; created if absent. Default: a fresh dir under the shared control-plane root. */
  dir?: string;
  log?: (message: string) => void;
  binaries?: Binaries;
  /** Extra kube-apiserver flags (e.g. `--feature-gates=...`); a later flag wins over a default. */
  apiserverArgs?: string[];
}

/** What a running control plane publishes in its dir (control-plane.json) for other processes. */
export interface ControlPlaneInfo {
  server: string;
  version: string;
  etcdUrl: string;
  kubeconfigPath: string;
  ownerPid: number;
}

const clusterName = 'cmk-testenv';
const startTimeoutMs = 120_000;
// Grace between TERM and KILL. With etcd alive the apiserver exits in about a second; when our
// process died and etcd went with it, the apiserver would hang in shutdown, so keep this short.
const terminationGraceMs = 5_000;

/** Parent of the default working dirs; scanned for leftovers of killed runs. */
export function controlPlaneRoot(): string {
  return join(tmpdir(), 'cmk-operator-control-planes');
}

// The watchdog. Argument 1 is the pid file, the rest is the command. It keeps the original stdin
// (our pipe) on fd 3 for the watcher only; the binary gets /dev/null and no fd 3, so nothing but
// this Node process holds the write end. EOF on the pipe, whether stop() closed it or our process
// died, makes the watcher terminate the binary. If the binary exits on its own, so does the
// watchdog, with the binary's status.
const watchdogScript = `
pidfile=$1; shift
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
echo "$child" >"$pidfile"
{
  read -r _ || :
  kill -TERM "$child" 2>/dev/null
  n=0
  while kill -0 "$child" 2>/dev/null; do
    n=$((n + 1))
    if [ "$n" -ge ${terminationGraceMs / 100} ]; then kill -KILL "$child" 2>/dev/null; fi
    sleep 0.1
  done
} <&3 &
watcher=$!
exec 3<&- </dev/null
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
`;

interface SupervisedProcess {
  name: string;
  logPath: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  terminate(): Promise<void>;
}

function supervise(name: string, dir: string, binary: string, args: string[]): SupervisedProcess {
  const logPath = join(dir, `${name}.log`);
  const pidPath = join(dir, `${name}.pid`);
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', watchdogScript, 'watchdog', pidPath, binary, ...args], {
      cwd: dir,
      // Own process group: a Ctrl-C in the terminal reaches us, and we stop things in order.
      detached: true,
      stdio: ['pipe', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolveExit({ code, signal });
    });
    child.once('error', () => {
      done = true;
      resolveExit({ code: null, signal: null });
    });
  });
  // EPIPE when the watchdog is already gone is expected and harmless.
  child.stdin?.on('error', () => {});
  return {
    name,
    logPath,
    child,
    exited,
    hasExited: () => done,
    async terminate() {
      if (done) return;
      child.stdin?.end();
      const timedOut = await Promise.race([
        exited.then(() => false),
        sleep(terminationGraceMs + 5_000, true, { ref: false }),
      ]);
      if (timedOut) {
        killRecordedPid(pidPath, dir, 'SIGKILL');
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

function logTail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function startupError(member: SupervisedProcess, reason: string): Error {
  return new Error(`${member.name} ${reason}; last lines of ${member.logPath}:\n${logTail(member.logPath)}`);
}

function freePorts(count: number): Promise<number[]> {
  // Hold every listener until all are bound so the ports are distinct.
  const servers = Array.from({ length: count }, () => createServer());
  return Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolvePort, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            resolvePort(typeof address === 'object' && address ? address.port : 0);
          });
        }),
    ),
  ).finally(() => {
    for (const server of servers) server.close();
  });
}

interface Tls {
  ca: string;
  cert: string;
  key: string;
}

function httpsGet(url: string, tls: Tls): Promise<{ status: number; body: string }> {
  return new Promise((resolveResponse, reject) => {
    const req = request(url, { ...tls, method: 'GET', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolveResponse({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `probe` until it returns true; fails early if `member` exits meanwhile. */
async function waitUntil(
  member: SupervisedProcess,
  what: string,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (member.hasExited()) {
      const { code, signal } = await member.exited;
      throw startupError(member, `exited (${signal ?? `code ${code}`}) before ${what}`);
    }
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw startupError(
    member,
    `not ${what} after ${startTimeoutMs / 1000}s (last probe error: ${lastError || 'none'})`,
  );
}

function kubeconfigYaml(
  server: string,
  caPem: string,
  user: string,
  cert: { certPem: string; keyPem: string },
) {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const context = `${user}@${clusterName}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: clusterName, cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [
      {
        name: user,
        user: { 'client-certificate-data': b64(cert.certPem), 'client-key-data': b64(cert.keyPem) },
      },
    ],
    contexts: [{ name: context, context: { cluster: clusterName, user } }],
    'current-context': context,
  });
}

// ---- stale-run reaping ------------------------------------------------------------------------

function processStartTime(pid: number): string | undefined {
  try {
    // Field 22 (starttime); the command name in field 2 may contain spaces, so count from ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerRecord(): string {
  return JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) ?? null });
}

function ownerIsAlive(dir: string): boolean {
  let owner: { pid?: number; startTime?: string | null };
  try {
    owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8'));
  } catch {
    return false;
  }
  if (typeof owner.pid !== 'number' || !isAlive(owner.pid)) return false;
  // A reused pid belongs to a process that started at another time.
  return !owner.startTime || processStartTime(owner.pid) === owner.startTime;
}

function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** Kills the pid recorded in `pidPath` if that process's command line still names `dir`. */
function killRecordedPid(pidPath: string, dir: string, signal: NodeJS.Signals): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidPath, 'utf8'), 10);
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !commandLine(pid)?.includes(`${dir}/`)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes `dir` if it belongs to a control plane whose owner process is gone, killing any of its
 * binaries that survived. Returns 'live' (owner running: left alone), 'foreign' (not a control-plane
 * dir: left alone), 'reaped', or 'absent'.
 */
export async function reapControlPlaneDir(dir: string): Promise<'live' | 'foreign' | 'reaped' | 'absent'> {
  if (!existsSync(dir)) return 'absent';
  if (!existsSync(join(dir, 'owner.json'))) {
    // Only an empty dir (a start that died right after mkdir) is ours to remove without the record.
    if ((await readdir(dir)).length > 0) return 'foreign';
    await rm(dir, { recursive: true, force: true });
    return 'reaped';
  }
  if (ownerIsAlive(dir)) return 'live';
  let killed = false;
  for (const name of ['kube-apiserver', 'etcd']) {
    killed = killRecordedPid(join(dir, `${name}.pid`), dir, 'SIGKILL') || killed;
  }
  if (killed) await sleep(200);
  await rm(dir, { recursive: true, force: true });
  return 'reaped';
}

/** Reaps every dead-owner dir under the shared root; live ones (other test runs) are untouched. */
export async function reapStaleControlPlanes(root = controlPlaneRoot()): Promise<string[]> {
  const entries = await readdir(root).catch(() => [] as string[]);
  const reaped: string[] = [];
  for (const entry of entries) {
    const dir = join(root, entry);
    if ((await reapControlPlaneDir(dir)) === 'reaped') reaped.push(dir);
  }
  return reaped;
}

// ---- identities -------------------------------------------------------------------------------

/**
 * Signs a client certificate for `user` in `groups` with the control plane's client CA and writes
 * a kubeconfig for it. Works from any process that can read `dir` (e.g. a vitest worker).
 */
export async function mintIdentity(
  dir: string,
  user: string,
  groups: string[],
): Promise<{ kubeconfigPath: string; certPem: string; keyPem: string; caPem: string; server: string }> {
  const pki = join(dir, 'pki');
  const info = readControlPlaneInfo(dir);
  const [clientCaCert, clientCaKey, caPem] = await Promise.all([
    readFile(join(pki, 'client-ca.crt'), 'utf8'),
    readFile(join(pki, 'client-ca.key'), 'utf8'),
    readFile(join(pki, 'ca.crt'), 'utf8'),
  ]);
  const clientCa = await loadCertificateAuthority(clientCaCert, clientCaKey);
  const cert = await issueClientCertificate(clientCa, { user, groups });
  const safeName = user.replace(/[^A-Za-z0-9_.-]/g, '_');
  await mkdir(join(dir, 'identities'), { recursive: true });
  const kubeconfigPath = join(dir, 'identities', `${safeName}-${randomBytes(4).toString('hex')}.kubeconfig`);
  await writeFile(kubeconfigPath, kubeconfigYaml(info.server, caPem, user, cert), { mode: 0o600 });
  return { kubeconfigPath, certPem: cert.certPem, keyPem: cert.keyPem, caPem, server: info.server };
}

export function readControlPlaneInfo(dir: string): ControlPlaneInfo {
  return JSON.parse(readFileSync(join(dir, 'control-plane.json'), 'utf8')) as ControlPlaneInfo;
}

// ---- storage ----------------------------------------------------------------------------------

/**
 * Compacts etcd's history up to its current revision (physically), as the apiserver does every
 * five minutes: resource versions from before now can no longer be watched from etcd.
 */
export async function compactEtcd(etcdUrl: string): Promise<number> {
  const range = await fetch(`${etcdUrl}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from('/').toString('base64') }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!range.ok) throw new Error(`etcd range failed: ${range.status} ${await range.text()}`);
  const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
  const compaction = await fetch(`${etcdUrl}/v3/kv/compaction`, {
    method: 'POST',
    body: JSON.stringify({ revision: String(revision), physical: true }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!compaction.ok)
    throw new Error(`etcd compaction failed: ${compaction.status} ${await compaction.text()}`);
  return revision;
}

// ---- start ------------------------------------------------------------------------------------

async function prepareDir(requested: string | undefined): Promise<string> {
  if (requested === undefined) {
    await reapStaleControlPlanes();
    const dir = join(controlPlaneRoot(), `cp-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'owner.json'), ownerRecord());
    return dir;
  }
  const dir = resolve(requested);
  const previous = await reapControlPlaneDir(dir);
  if (previous === 'live') throw new Error(`a control plane owned by a running process already uses ${dir}`);
  if (previous === 'foreign')
    throw new Error(`${dir} is not empty and not a control-plane dir; refusing to use it`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'owner.json'), ownerRecord());
  return dir;
}

async function writePki(dir: string) {
  const pki = join(dir, 'pki');
  await mkdir(pki, { recursive: true });
  const [ca, clientCa, serviceAccount] = await Promise.all([
    createCertificateAuthority(`${clusterName}-ca`),
    createCertificateAuthority(`${clusterName}-client-ca`),
    createServiceAccountSigningKey(),
  ]);
  const [serving, admin] = await Promise.all([
    issueServingCertificate(ca, ['127.0.0.1', 'localhost', '::1']),
    issueClientCertificate(clientCa, { user: 'admin', groups: ['system:masters'] }),
  ]);
  const files: Record<string, string> = {
    'ca.crt': ca.certPem,
    'client-ca.crt': clientCa.certPem,
    'client-ca.key': clientCa.keyPem,
    'serving.crt': serving.certPem,
    'serving.key': serving.keyPem,
    'sa.pub': serviceAccount.publicKeyPem,
    'sa.key': serviceAccount.privateKeyPem,
  };
  await Promise.all(
    Object.entries(files).map(([name, pem]) => writeFile(join(pki, name), pem, { mode: 0o600 })),
  );
  return { pki, caPem: ca.certPem, admin };
}

function etcdArgs(dir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=default',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

function apiserverArgs(dir: string, pki: string, etcdUrl: string, port: number): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    `--secure-port=${port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--cert-dir=${join(dir, 'apiserver-certs')}`,
    `--tls-cert-file=${join(pki, 'serving.crt')}`,
    `--tls-private-key-file=${join(pki, 'serving.key')}`,
    `--client-ca-file=${join(pki, 'client-ca.crt')}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    '--authorization-mode=RBAC',
    '--disable-admission-plugins=ServiceAccount',
    `--service-account-issuer=https://127.0.0.1:${port}/`,
    `--service-account-key-file=${join(pki, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
  ];
}

function isPortClash(member: SupervisedProcess): boolean {
  return /address already in use/i.test(logTail(member.logPath, 200));
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (() => {});
  const binaries = options.binaries ?? (await findBinaries());
  const dir = await prepareDir(options.dir);
  const started: SupervisedProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    // Reverse start order: the apiserver first, so it never sees etcd vanish under it.
    stopped ??= (async () => {
      for (const member of [...started].reverse()) await member.terminate();
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const { pki, caPem, admin } = await writePki(dir);
    const tls: Tls = { ca: caPem, cert: admin.certPem, key: admin.keyPem };
    // A port picked free can be taken before the binary binds it; retry with fresh ports then.
    for (let attempt = 1; ; attempt++) {
      const [etcdPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
      const etcdUrl = `http://127.0.0.1:${etcdPort}`;
      const server = `https://127.0.0.1:${apiPort}`;
      try {
        await rm(join(dir, 'etcd'), { recursive: true, force: true });
        log(`starting etcd at ${etcdUrl}`);
        const etcd = supervise('etcd', dir, binaries.etcd, etcdArgs(dir, etcdPort, peerPort));
        started.push(etcd);
        await waitUntil(etcd, 'healthy', async () => {
          const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
          return res.ok && ((await res.json()) as { health?: string }).health === 'true';
        });

        log(`starting kube-apiserver at ${server}`);
        const flags = [...apiserverArgs(dir, pki, etcdUrl, apiPort), ...(options.apiserverArgs ?? [])];
        const apiserver = supervise('kube-apiserver', dir, binaries.kubeApiserver, flags);
        started.push(apiserver);
        await waitUntil(
          apiserver,
          'ready',
          async () => (await httpsGet(`${server}/readyz`, tls)).status === 200,
        );
        await waitUntil(
          apiserver,
          'serving the default namespace',
          async () => (await httpsGet(`${server}/api/v1/namespaces/default`, tls)).status === 200,
        );
        const version = JSON.parse((await httpsGet(`${server}/version`, tls)).body).gitVersion as string;

        const kubeconfigPath = join(dir, 'admin.kubeconfig');
        await writeFile(kubeconfigPath, kubeconfigYaml(server, caPem, 'admin', admin), { mode: 0o600 });
        const info: ControlPlaneInfo = { server, version, etcdUrl, kubeconfigPath, ownerPid: process.pid };
        await writeFile(join(dir, 'control-plane.json'), JSON.stringify(info, null, 2));
        log(`kube-apiserver ${version} ready at ${server}`);
        return {
          kubeconfigPath,
          server,
          version,
          etcdUrl,
          dir,
          mintIdentity: async (user, groups) => ({
            kubeconfigPath: (await mintIdentity(dir, user, groups)).kubeconfigPath,
          }),
          restartApiserver: async () => {
            if (stopped) throw new Error('control plane stopped');
            const index = started.findIndex((m) => m.name === 'kube-apiserver');
            const previous = started[index];
            if (!previous) throw new Error('kube-apiserver is not running');
            const downAt = Date.now();
            log('restarting kube-apiserver');
            await previous.terminate();
            // The same flags, hence the same port, serving certificate and etcd: every kubeconfig
            // and every stored object stays valid.
            const next = supervise('kube-apiserver', dir, binaries.kubeApiserver, flags);
            started[index] = next;
            await waitUntil(
              next,
              'ready',
              async () => (await httpsGet(`${server}/readyz`, tls)).status === 200,
            );
            const downMs = Date.now() - downAt;
            log(`kube-apiserver ready again after ${downMs} ms`);
            return { downMs };
          },
          compactEtcd: () => compactEtcd(etcdUrl),
          stop,
        };
      } catch (error) {
        const clash = started.some(isPortClash);
        for (const member of started.splice(0).reverse()) await member.terminate();
        if (!clash || attempt >= 3) throw error;
        log(`port clash on attempt ${attempt}, retrying with new ports`);
        for (const name of ['etcd', 'kube-apiserver']) await rm(join(dir, `${name}.log`), { force: true });
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
}
