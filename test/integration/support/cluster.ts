// Access to the integration run's control plane (started by global-setup.ts) for tests: the admin,
// identities minted on demand with chosen user and groups (real client certificates, so RBAC is
// really enforced), raw HTTP when the status code is the point, and a few storage-level helpers.
// Every test should work in its own namespace (`createNamespace`): the cluster is shared.

import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { mintIdentity } from '../../../src/dev/devenv/control-plane.ts';

export interface ApiResponse {
  status: number;
  /** Parsed JSON when the body is JSON, else the raw text. */
  body: unknown;
}

export interface RequestOptions {
  /** Content type of the body; default application/json. */
  contentType?: string;
}

export interface ClusterIdentity {
  user: string;
  groups: string[];
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  makeApiClient: KubeConfig['makeApiClient'];
  /** One HTTPS request as this identity; never throws on an HTTP error status. */
  request(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<ApiResponse>;
}

function identityFromKubeconfig(kubeconfigPath: string, user: string, groups: string[]): ClusterIdentity {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const cluster = kubeConfig.getCurrentCluster();
  const credentials = kubeConfig.getCurrentUser();
  if (!cluster?.caData || !credentials?.certData || !credentials.keyData) {
    throw new Error(`${kubeconfigPath} lacks inline CA or client certificate data`);
  }
  const tls = {
    ca: Buffer.from(cluster.caData, 'base64'),
    cert: Buffer.from(credentials.certData, 'base64'),
    key: Buffer.from(credentials.keyData, 'base64'),
  };
  const server = cluster.server;
  return {
    user,
    groups,
    kubeconfigPath,
    kubeConfig,
    makeApiClient: (apiClientType) => kubeConfig.makeApiClient(apiClientType),
    request: (method, path, body, options = {}) =>
      new Promise((resolve, reject) => {
        const payload =
          body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
        const headers: Record<string, string> = { accept: 'application/json' };
        if (payload !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
        const req = httpsRequest(`${server}${path}`, { ...tls, method, headers, timeout: 30_000 }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => {
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {}
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
        req.on('error', reject);
        req.end(payload);
      }),
  };
}

let admin: ClusterIdentity | undefined;

/** The cluster admin (CN admin, O system:masters): bypasses RBAC. */
export function adminIdentity(): ClusterIdentity {
  admin ??= identityFromKubeconfig(inject('kubeconfigPath'), 'admin', ['system:masters']);
  return admin;
}

/** A new identity signed by the cluster's client CA. It has no permissions until a binding grants some. */
export async function mintClusterIdentity(user: string, groups: string[] = []): Promise<ClusterIdentity> {
  const { kubeconfigPath } = await mintIdentity(inject('controlPlaneDir'), user, groups);
  return identityFromKubeconfig(kubeconfigPath, user, groups);
}

export function kubeVersion(): string {
  return inject('kubeVersion');
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Creates a namespace with a unique name. Namespaces never finish deleting here (no controller-manager). */
export async function createNamespace(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await adminIdentity()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Polls until `check` returns a value other than undefined, or throws with the last failure. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  { timeoutMs = 15_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Compacts etcd's history up to its current revision, as the apiserver does every five minutes,
 * so resource versions from before now are gone from storage. Returns the compacted revision.
 */
export async function compactEtcd(): Promise<number> {
  const etcd = inject('etcdUrl');
  const range = await fetch(`${etcd}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from('/').toString('base64') }),
  });
  const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
  const compaction = await fetch(`${etcd}/v3/kv/compaction`, {
    method: 'POST',
    body: JSON.stringify({ revision: String(revision), physical: true }),
  });
  if (!compaction.ok)
    throw new Error(`etcd compaction failed: ${compaction.status} ${await compaction.text()}`);
  return revision;
}
