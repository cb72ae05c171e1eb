// Locates the upstream binaries a local control plane needs, in the envtest order of precedence:
// TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD / TEST_ASSET_KUBECTL name single binaries, then
// KUBEBUILDER_ASSETS names a directory, then scripts/test-binaries.sh builds them once into a cache
// (or just prints the cache directory when they are already there). helm and kubeconform are
// reported when found beside them, for callers that want them.
//
// Never skips: when a required binary cannot be found or built, it throws naming each one and
// where it looked.

import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Binaries {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
  helm?: string;
  kubeconform?: string;
}

type Env = Record<string, string | undefined>;

const required = [
  { key: 'kubeApiserver', file: 'kube-apiserver', override: 'TEST_ASSET_KUBE_APISERVER' },
  { key: 'etcd', file: 'etcd', override: 'TEST_ASSET_ETCD' },
  { key: 'kubectl', file: 'kubectl', override: 'TEST_ASSET_KUBECTL' },
] as const;
const optional = [
  { key: 'helm', file: 'helm' },
  { key: 'kubeconform', file: 'kubeconform' },
] as const;

const buildScript = fileURLToPath(new URL('../../../scripts/test-binaries.sh', import.meta.url));

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** What the environment alone provides, without building anything. */
export function binariesFromEnvironment(env: Env = process.env): Partial<Binaries> {
  const found: Partial<Binaries> = {};
  const assets = env['KUBEBUILDER_ASSETS'];
  for (const { key, file, override } of required) {
    const single = env[override];
    if (single) {
      // An explicit override that points nowhere is a mistake worth stopping for, not a fallback.
      if (!isExecutable(single)) throw new Error(`${override}=${single} is not an executable file`);
      found[key] = single;
    } else if (assets && isExecutable(join(assets, file))) {
      found[key] = join(assets, file);
    }
  }
  for (const { key, file } of optional) {
    if (assets && isExecutable(join(assets, file))) found[key] = join(assets, file);
  }
  return found;
}

let cacheDirPromise: Promise<string> | undefined;

/**
 * Runs scripts/test-binaries.sh (build on a cache miss, reuse on a hit) and returns its cache dir.
 * Concurrent callers on this machine are serialised with flock(1) when it is installed, so two test
 * runs never build the same binaries at once.
 */
export function buildBinaries(env: Env = process.env): Promise<string> {
  cacheDirPromise ??= runBuildScript(env).catch((error: unknown) => {
    cacheDirPromise = undefined;
    throw error;
  });
  return cacheDirPromise;
}

function runBuildScript(env: Env): Promise<string> {
  const cacheRoot = env['CMK_BIN_CACHE'] || join(homedir(), '.cache', 'cmk-operator');
  mkdirSync(cacheRoot, { recursive: true });
  const flock = ['/usr/bin/flock', '/bin/flock'].find(isExecutable);
  const [command, args] = flock
    ? [flock, [join(cacheRoot, 'build.lock'), 'bash', buildScript]]
    : ['bash', [buildScript]];
  return new Promise((resolve, reject) => {
    // Build logs go to our stderr so a cold build (minutes) shows progress instead of silence.
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', (error) => reject(new Error(`could not run ${buildScript}: ${error.message}`)));
    child.on('close', (code, signal) => {
      const dir = stdout.trim().split('\n').at(-1)?.trim();
      if (code !== 0 || !dir) {
        reject(new Error(`${buildScript} failed (${signal ?? `exit ${code}`}); its log is above on stderr`));
      } else {
        resolve(dir);
      }
    });
  });
}

/**
 * All binaries the control plane and the playground need. Builds them only when the environment
 * does not already provide every required one.
 */
export async function findBinaries(env: Env = process.env): Promise<Binaries> {
  const found = binariesFromEnvironment(env);
  const complete = required.every(({ key }) => found[key] !== undefined);
  const cacheDir = complete ? undefined : await buildBinaries(env);
  const searched = [env['KUBEBUILDER_ASSETS'], cacheDir].filter((dir): dir is string => !!dir);
  const missing: string[] = [];
  for (const { key, file, override } of required) {
    if (found[key] === undefined && cacheDir && isExecutable(join(cacheDir, file)))
      found[key] = join(cacheDir, file);
    if (found[key] === undefined) missing.push(`${file} (set ${override} or put it in KUBEBUILDER_ASSETS)`);
  }
  if (missing.length > 0) {
    throw new Error(
      `missing test binaries: ${missing.join(', ')}; searched ${searched.join(', ') || 'nothing'}`,
    );
  }
  for (const { key, file } of optional) {
    const dirs = [env['KUBEBUILDER_ASSETS'], cacheDir].filter((dir): dir is string => !!dir);
    found[key] ??= dirs.map((dir) => join(dir, file)).find(isExecutable);
  }
  return found as Binaries;
}
