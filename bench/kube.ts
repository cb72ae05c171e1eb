// The bench's own small Kubernetes client: HTTPS with the admin client certificate over a keep-alive
// agent, plain requests and a cluster-wide watch that keeps an in-memory map of objects. It is
// deliberately not the operator's client (src/runtime), so the instrument does not share code paths
// with what it measures.

import { Agent, request } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeResponse {
  status: number;
  body: unknown;
}

export interface BenchKube {
  server: string;
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse>;
  /** Watches `path` (a collection) from a fresh list; calls `onChange` for every object seen. */
  watch(
    path: string,
    onChange: (type: string, object: KubeObject) => void,
  ): { stop(): void; synced: Promise<void> };
  close(): void;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    generation?: number;
    resourceVersion?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export function benchKube(kubeconfigPath: string): BenchKube {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster?.caData || !user?.certData || !user.keyData)
    throw new Error(`${kubeconfigPath}: expected inline CA and client certificate data`);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 64,
    ca: Buffer.from(cluster.caData, 'base64'),
    cert: Buffer.from(user.certData, 'base64'),
    key: Buffer.from(user.keyData, 'base64'),
  });
  const server = cluster.server;

  const send = (method: string, path: string, body?: unknown, contentType = 'application/json') =>
    new Promise<KubeResponse>((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (payload !== undefined) headers['content-type'] = contentType;
      const req = request(`${server}${path}`, { agent, method, headers, timeout: 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
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
    });

  const watch: BenchKube['watch'] = (path, onChange) => {
    let stopped = false;
    let current: ReturnType<typeof request> | undefined;
    let markSynced: () => void = () => {};
    const synced = new Promise<void>((r) => {
      markSynced = r;
    });
    const loop = async () => {
      // Bounded: the loop ends when stop() is called; each round is one list + one watch stream.
      while (!stopped) {
        try {
          const list = await send('GET', path);
          if (list.status !== 200) throw new Error(`list ${path}: ${list.status}`);
          const l = list.body as { items: KubeObject[]; metadata: { resourceVersion: string } };
          for (const o of l.items) onChange('ADDED', o);
          markSynced();
          let rv = l.metadata.resourceVersion;
          await new Promise<void>((resolve) => {
            const sep = path.includes('?') ? '&' : '?';
            current = request(
              `${server}${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}&timeoutSeconds=300`,
              { agent, method: 'GET', headers: { accept: 'application/json' } },
              (res) => {
                let buf = '';
                res.setEncoding('utf8');
                res.on('data', (chunk: string) => {
                  buf += chunk;
                  let nl = buf.indexOf('\n');
                  while (nl >= 0) {
                    const line = buf.slice(0, nl);
                    buf = buf.slice(nl + 1);
                    nl = buf.indexOf('\n');
                    if (!line.trim()) continue;
                    const ev = JSON.parse(line) as { type: string; object: KubeObject };
                    if (ev.type === 'BOOKMARK') {
                      rv = ev.object.metadata.resourceVersion ?? rv;
                      continue;
                    }
                    if (ev.type === 'ERROR') {
                      res.destroy();
                      continue;
                    }
                    onChange(ev.type, ev.object);
                  }
                });
                res.on('end', resolve);
                res.on('error', () => resolve());
                res.on('close', resolve);
              },
            );
            current.on('error', () => resolve());
            current.end();
          });
        } catch {
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    void loop();
    return {
      synced,
      stop() {
        stopped = true;
        current?.destroy();
      },
    };
  };

  return { server, request: send, watch, close: () => agent.destroy() };
}

/** Runs `count` jobs with at most `concurrency` in flight. */
export async function pool(
  count: number,
  concurrency: number,
  job: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}
