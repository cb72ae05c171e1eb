// HTTP endpoints for the kubelet and Prometheus: /healthz, /readyz, /metrics.
//
// Two listeners by default, like controller-runtime: probes on :8081, metrics on :8080 (so a
// NetworkPolicy or ServiceMonitor can expose one without the other). Give both the same address
// (a fixed port) and one server answers all three paths.
//
// - /healthz (liveness): answering at all proves the event loop runs; it also fails when any
//   informer made no progress (list page, watch event, bookmark, clean watch end) for
//   `maxProgressAgeMs` (default 15 min: longer than the longest server-side watch timeout of
//   10 min), i.e. when restarting the pod is the remedy.
// - /readyz (readiness): every informer has synced. Leadership is not required: a standby replica
//   is ready (it serves metrics and takes over the lease).
// - /metrics: the given prom-client registry in the text format.
// Responses list each check as `[+]name ok` / `[-]name failed: why` (the apiserver's verbose
// format); status 200 or 503. Never blocks on I/O to answer a probe.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type Clock, systemClock } from './clock.ts';
import { silentLogger } from './log.ts';
import { exposition } from './metrics.ts';

/** What the probes need of an informer. */
export interface ProbedInformer {
  type: { plural: string };
  hasSynced(): boolean;
  lastProgress(): number;
}

export interface NamedCheck {
  name: string;
  /** undefined when healthy, else why not. */
  check(): string | undefined;
}

export interface ProbeReport {
  ok: boolean;
  text: string;
}

export function livenessReport(
  informers: readonly ProbedInformer[],
  extra: readonly NamedCheck[],
  now: number,
  maxProgressAgeMs: number,
): ProbeReport {
  const checks: NamedCheck[] = [
    { name: 'ping', check: () => undefined },
    ...informers.map((informer) => ({
      name: `informer-${informer.type.plural}`,
      check: () => {
        const ageMs = now - informer.lastProgress();
        return ageMs > maxProgressAgeMs ? `no progress for ${Math.round(ageMs / 1000)} s` : undefined;
      },
    })),
    ...extra,
  ];
  return report(checks, 'healthz');
}

export function readinessReport(
  informers: readonly ProbedInformer[],
  extra: readonly NamedCheck[],
): ProbeReport {
  const checks: NamedCheck[] = [
    ...informers.map((informer) => ({
      name: `informer-${informer.type.plural}`,
      check: () => (informer.hasSynced() ? undefined : 'not synced'),
    })),
    ...extra,
  ];
  return report(checks, 'readyz');
}

function report(checks: readonly NamedCheck[], what: string): ProbeReport {
  let ok = true;
  const lines = checks.map(({ name, check }) => {
    let why: string | undefined;
    try {
      why = check();
    } catch (error) {
      why = error instanceof Error ? error.message : String(error);
    }
    if (why === undefined) return `[+]${name} ok`;
    ok = false;
    return `[-]${name} failed: ${why}`;
  });
  lines.push(ok ? `${what} check passed` : `${what} check failed`);
  return { ok, text: `${lines.join('\n')}\n` };
}

export interface HealthEndpointsOptions {
  /** `host:port` or `:port`. Default `:8081`. */
  healthAddress?: string;
  /** `host:port` or `:port`. Default `:8080`. Same as healthAddress: one server for all. */
  metricsAddress?: string;
  registry: Registry;
  /** Read on every probe, so informers started later count. */
  informers: () => readonly ProbedInformer[];
  livenessChecks?: readonly NamedCheck[];
  readinessChecks?: readonly NamedCheck[];
  maxProgressAgeMs?: number;
}

export interface HealthEndpoints {
  /** Base URLs of the bound listeners, e.g. http://127.0.0.1:8081 (ports resolved when 0 was asked). */
  healthUrl: string;
  metricsUrl: string;
  close(): Promise<void>;
}

export function parseAddress(address: string): { host: string | undefined; port: number } {
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon).replace(/^\[|\]$/g, '') : undefined;
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new Error(`bad listen address "${address}"`);
  return { host: host || undefined, port };
}

function listen(server: Server, address: string): Promise<string> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const bound = server.address() as AddressInfo;
      const shownHost = host ?? '127.0.0.1';
      resolve(`http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${bound.port}`);
    });
  });
}

export async function startHealthEndpoints(
  options: HealthEndpointsOptions,
  deps: { clock?: Clock; log?: Logger } = {},
): Promise<HealthEndpoints> {
  const clock = deps.clock ?? systemClock;
  const log = (deps.log ?? silentLogger()).child({ component: 'health' });
  const healthAddress = options.healthAddress ?? ':8081';
  const metricsAddress = options.metricsAddress ?? ':8080';
  const maxProgressAgeMs = options.maxProgressAgeMs ?? 15 * 60_000;
  // Port 0 asks for any free port: the same string then still means two listeners.
  const shared = healthAddress === metricsAddress && parseAddress(healthAddress).port !== 0;

  function send(
    res: ServerResponse,
    status: number,
    body: string,
    contentType = 'text/plain; charset=utf-8',
  ): void {
    res.writeHead(status, headers(contentType));
    res.end(body);
  }

  // Written chunk by chunk as the exposition renders it, waiting for the socket to drain, so a scrape
  // never builds the whole text (~10 MB at 10,000 objects) as one string or Buffer.
  async function serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'HEAD') return send(res, 200, '', options.registry.contentType);
    const chunks = exposition(options.registry);
    // The registry's own metrics come first: a collector that fails there is answered with a 500
    // (by the caller), not with a cut-off 200.
    const first = await chunks.next();
    res.writeHead(200, headers(options.registry.contentType));
    if (!first.done) res.write(first.value);
    for await (const chunk of chunks) {
      if (res.destroyed) return;
      if (!res.write(chunk)) await drained(res);
    }
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse, serves: 'health' | 'metrics' | 'all') {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    if (serves !== 'metrics' && (path === '/healthz' || path === '/livez')) {
      const r = livenessReport(
        options.informers(),
        options.livenessChecks ?? [],
        clock.now(),
        maxProgressAgeMs,
      );
      if (!r.ok) log.warn({ report: r.text }, 'liveness check failed');
      return send(res, r.ok ? 200 : 503, r.text);
    }
    if (serves !== 'metrics' && path === '/readyz') {
      const r = readinessReport(options.informers(), options.readinessChecks ?? []);
      return send(res, r.ok ? 200 : 503, r.text);
    }
    if (serves !== 'health' && path === '/metrics') return serveMetrics(req, res);
    return send(res, 404, 'not found\n');
  }

  function serverFor(serves: 'health' | 'metrics' | 'all'): Server {
    return createServer((req, res) => {
      handle(req, res, serves).catch((error: unknown) => {
        log.error({ err: error }, 'health endpoint failed');
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.destroy();
      });
    });
  }

  const servers: Server[] = [];
  try {
    if (shared) {
      const server = serverFor('all');
      servers.push(server);
      const url = await listen(server, healthAddress);
      return { healthUrl: url, metricsUrl: url, close: () => closeAll(servers) };
    }
    const health = serverFor('health');
    servers.push(health);
    const healthUrl = await listen(health, healthAddress);
    const metrics = serverFor('metrics');
    servers.push(metrics);
    const metricsUrl = await listen(metrics, metricsAddress);
    return { healthUrl, metricsUrl, close: () => closeAll(servers) };
  } catch (error) {
    await closeAll(servers);
    throw error;
  }
}

async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    ),
  );
}

/** Every answer's headers: never cached (a probe or a scrape must see the state now). */
function headers(contentType: string): Record<string, string> {
  return { 'Content-Type': contentType, 'Cache-Control': 'no-store' };
}

/** Resolves when `res` can take more, or is closed (the scraper went away). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
