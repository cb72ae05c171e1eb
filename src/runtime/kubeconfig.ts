// How the operator reaches the API server: a kubeconfig's current context, or the pod's service
// account. The common cases (client certificates, a token or token file, in-cluster) are read here
// directly; anything else (exec and auth-provider plugins, proxies, several KUBECONFIG files) is
// handed to @kubernetes/client-node, imported only then. The reason is memory: client-node's module
// graph (its generated API) costs ~87 MiB of resident memory, a third of a 256 MiB pod, for what is
// a file read and a header in the usual deployment.
//
// Guarantees:
// - Token files (the projected service-account token) are read again at least every minute, so a
//   rotated token is picked up without a restart.
// - A kubeconfig this loader cannot fully honour is never half-applied: it goes to client-node whole.
// - Errors name the file and the missing piece.

import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

export interface KubeAccess {
  /** https://host:port, without a trailing slash. */
  server: string;
  /** The context's namespace (kubeconfig) or the pod's (in-cluster), when known. */
  namespace?: string;
  /** Whether requests go through a proxy agent of client-node's (no keep-alive agent of our own). */
  proxied: boolean;
  /** Applies TLS material and credentials to a request's options. */
  apply(options: RequestOptions): Promise<void>;
}

const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';
const tokenRereadMs = 60_000;

/** A kubeconfig from `path`, else KUBECONFIG, else ~/.kube/config, else the pod's service account. */
export function loadKubeAccess(path?: string): KubeAccess {
  if (path) return fromFile(path);
  const env = process.env['KUBECONFIG'];
  if (env) {
    const files = env.split(process.platform === 'win32' ? ';' : ':').filter(Boolean);
    if (files.length === 1) return fromFile(files[0]!);
    if (files.length > 1)
      throw new Error(`KUBECONFIG names ${files.length} files: pass the one to use with --kubeconfig`);
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return fromFile(home);
  return inClusterAccess();
}

/** The pod's service account: KUBERNETES_SERVICE_HOST/PORT, and the token, CA and namespace files. */
export function inClusterAccess(dir = serviceAccountDir): KubeAccess {
  const host = process.env['KUBERNETES_SERVICE_HOST'];
  const port = process.env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (!host)
    throw new Error(
      'no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) and not in a pod (KUBERNETES_SERVICE_HOST unset)',
    );
  const ca = readFileSync(join(dir, 'ca.crt'));
  const token = tokenFile(join(dir, 'token'));
  const nsFile = join(dir, 'namespace');
  const namespace = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : undefined;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ...(namespace ? { namespace } : {}),
    proxied: false,
    apply: async (options) => {
      options.ca = ca;
      header(options, 'Authorization', `Bearer ${token()}`);
    },
  };
}

function fromFile(file: string): KubeAccess {
  let doc: Record<string, unknown>;
  try {
    doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`kubeconfig ${file}: ${(e as Error).message}`);
  }
  const pick = <T>(list: unknown, name: string | undefined, what: string, inner: string): T => {
    const found = Array.isArray(list)
      ? (list as Array<Record<string, unknown>>).find((x) => x && x['name'] === name)
      : undefined;
    const value = found?.[inner] as T | undefined;
    if (!value) throw new Error(`kubeconfig ${file}: no ${what} "${name ?? ''}"`);
    return value;
  };
  const contextName = doc['current-context'] as string | undefined;
  const context = pick<{ cluster?: string; user?: string; namespace?: string }>(
    doc['contexts'],
    contextName,
    'context',
    'context',
  );
  const cluster = pick<Record<string, unknown>>(doc['clusters'], context.cluster, 'cluster', 'cluster');
  const user = context.user
    ? pick<Record<string, unknown>>(doc['users'], context.user, 'user', 'user')
    : ({} as Record<string, unknown>);
  const server = String(cluster['server'] ?? '').replace(/\/+$/, '');
  if (!server) throw new Error(`kubeconfig ${file}: cluster "${context.cluster}" has no server`);

  // Plugins and proxies are client-node's business.
  if (user['exec'] || user['auth-provider'] || cluster['proxy-url'])
    return viaClientNode(file, server, context.namespace, Boolean(cluster['proxy-url']));

  const base = dirname(file);
  const material = (dataKey: string, fileKey: string, from: Record<string, unknown>): Buffer | undefined => {
    const data = from[dataKey];
    if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
    const path = from[fileKey];
    if (typeof path === 'string' && path) return readFileSync(isAbsolute(path) ? path : join(base, path));
    return undefined;
  };
  const ca = material('certificate-authority-data', 'certificate-authority', cluster);
  const cert = material('client-certificate-data', 'client-certificate', user);
  const key = material('client-key-data', 'client-key', user);
  const insecure = cluster['insecure-skip-tls-verify'] === true;
  const servername = typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined;
  const token =
    typeof user['token'] === 'string' && user['token']
      ? () => user['token'] as string
      : typeof user['tokenFile'] === 'string' && user['tokenFile']
        ? tokenFile(isAbsolute(user['tokenFile']) ? user['tokenFile'] : join(base, user['tokenFile']))
        : undefined;
  const basic =
    typeof user['username'] === 'string' && typeof user['password'] === 'string'
      ? `Basic ${Buffer.from(`${user['username']}:${user['password']}`).toString('base64')}`
      : undefined;
  return {
    server,
    ...(context.namespace ? { namespace: context.namespace } : {}),
    proxied: false,
    apply: async (options) => {
      if (ca) options.ca = ca;
      if (cert) options.cert = cert;
      if (key) options.key = key;
      if (insecure) options.rejectUnauthorized = false;
      if (servername) options.servername = servername;
      if (token) header(options, 'Authorization', `Bearer ${token()}`);
      else if (basic) header(options, 'Authorization', basic);
    },
  };
}

/** A token file, read again once its copy is a minute old (projected tokens rotate). */
function tokenFile(path: string): () => string {
  let token = '';
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    if (Date.now() - readAt >= tokenRereadMs) {
      token = readFileSync(path, 'utf8').trim();
      readAt = Date.now();
    }
    return token;
  };
}

function header(options: RequestOptions, name: string, value: string): void {
  options.headers = { ...(options.headers as Record<string, string> | undefined), [name]: value };
}

/** The part of client-node's KubeConfig this module uses (its type, without importing it). */
export interface ClientNodeConfig {
  loadFromFile(file: string): void;
  getCurrentCluster(): { server: string; proxyUrl?: string } | null;
  getContextObject(name: string): { namespace?: string } | null;
  getCurrentContext(): string;
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

/** Defers to client-node's KubeConfig for `file`, imported on first use. */
function viaClientNode(
  file: string,
  server: string,
  namespace: string | undefined,
  proxied: boolean,
): KubeAccess {
  let kc: Promise<ClientNodeConfig> | undefined;
  const config = () =>
    (kc ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const c = new KubeConfig() as unknown as ClientNodeConfig;
      c.loadFromFile(file);
      return c;
    }));
  return {
    server,
    ...(namespace ? { namespace } : {}),
    // client-node hands out a new agent per request (a TLS handshake each): its TLS material and
    // credentials are taken, and the client's own pool used, unless a proxy is configured.
    proxied,
    apply: async (options) => (await config()).applyToHTTPSOptions(options),
  };
}

/** A KubeAccess over a client-node KubeConfig someone already loaded (the kubectl plugin, tests). */
export function kubeAccessOf(kc: ClientNodeConfig): KubeAccess {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ...(namespace ? { namespace } : {}),
    proxied: Boolean(cluster.proxyUrl),
    apply: (options) => kc.applyToHTTPSOptions(options),
  };
}
