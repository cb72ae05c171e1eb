// The emulator's HTTP front door: one port for every service. A request is routed by protocol:
// `/_emulator/...` is the admin API; an `X-Amz-Target` header picks a JSON-RPC service by its target
// prefix; a form-encoded POST is the query protocol (STS); anything else is matched against the
// restJson1 routes (EMR Serverless). Every call then goes through the same steps: settle the
// timeline, identify the caller, apply injected faults, run the handler, record the call, and hand a
// successful call to the event trail (core/trail.ts), which publishes it when it is on its list.

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { handleAdmin } from './admin.ts';
import { eventSources, redact } from './core/calllog.ts';
import { parseSigV4Scope } from './core/identity.ts';
import {
  AwsError,
  contentTypeFor,
  type EncodedResponse,
  encodeError,
  encodeJson,
  type ServiceName,
} from './core/protocol.ts';
import type { CallContext, JsonObject, RestRoute, ServiceRuntime } from './core/service.ts';
import type { World } from './core/world.ts';

export interface EmulatorHost {
  world(): World;
  services(): ServiceRuntime[];
  /** Replaces the world with a fresh one (same config unless overridden). */
  reset(config?: Record<string, unknown>): void;
  /** Applies a parsed seed document. */
  seed(doc: unknown): void;
}

interface CompiledRoute {
  route: RestRoute;
  service: ServiceRuntime;
  pattern: RegExp;
  names: string[];
}

const maxBodyBytes = 8 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBodyBytes) {
        reject(new AwsError('RequestEntityTooLargeException', 'Request body too large', 413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, r: EncodedResponse): void {
  res.writeHead(r.status, { ...r.headers, 'content-length': Buffer.byteLength(r.body) });
  res.end(r.body);
}

/** A service's own error encoding when it has one (SQS), else its protocol's. */
function errorResponse(service: ServiceRuntime, error: AwsError, requestId: string): EncodedResponse {
  return (
    service.encodeError?.(error, requestId) ?? encodeError(service.name, service.protocol, error, requestId)
  );
}

function compileRoutes(services: ServiceRuntime[]): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  for (const service of services) {
    for (const route of service.routes ?? []) {
      const names: string[] = [];
      const source = route.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      out.push({ route, service, names, pattern: new RegExp(`^${source}/?$`) });
    }
  }
  return out;
}

function parseJsonBody(body: string): JsonObject {
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new AwsError('SerializationException', 'Request body is not valid JSON', 400);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AwsError('SerializationException', 'Request body must be a JSON object', 400);
  }
  return parsed as JsonObject;
}

export function createEmulatorServer(host: EmulatorHost): Server {
  let routesFor: ServiceRuntime[] | undefined;
  let routes: CompiledRoute[] = [];
  const compiled = (): CompiledRoute[] => {
    const services = host.services();
    if (services !== routesFor) {
      routesFor = services;
      routes = compileRoutes(services);
    }
    return routes;
  };

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator.local');
    if (url.pathname.startsWith('/_emulator/') || url.pathname === '/_emulator') {
      send(res, await handleAdmin(host, req.method ?? 'GET', url, await readBody(req)));
      return;
    }
    const world = host.world();
    const services = host.services();
    const target = req.headers['x-amz-target'];
    const contentType = String(req.headers['content-type'] ?? '');
    const scope = parseSigV4Scope(req.headers.authorization);
    const requestId = randomUUID();

    let service: ServiceRuntime | undefined;
    let operation: string | undefined;
    let handlerCall: ((ctx: CallContext) => unknown) | undefined;
    /** The decoded input (REST: path parameters and body), for the event trail. */
    let callInput: JsonObject = {};
    /** A REST call's path parameters (the resource it names): recorded with its body, as CloudTrail does. */
    let pathParams: Record<string, string> = {};
    const body = await readBody(req);

    if (typeof target === 'string') {
      const dot = target.lastIndexOf('.');
      const prefix = target.slice(0, dot);
      operation = target.slice(dot + 1);
      service = services.find((s) => s.targetPrefix === prefix);
      if (!service) {
        send(
          res,
          encodeError(
            'kms',
            'awsJson1_1',
            new AwsError('UnknownOperationException', `Unknown target ${target}`),
            requestId,
          ),
        );
        return;
      }
      const expected = contentTypeFor(service.protocol);
      if (!contentType.startsWith(expected)) {
        send(
          res,
          errorResponse(
            service,
            new AwsError(
              'SerializationException',
              `Expected Content-Type ${expected}, got ${contentType || 'none'}`,
            ),
            requestId,
          ),
        );
        return;
      }
      const handler = service.operations?.[operation];
      const op = operation;
      const svc = service;
      handlerCall = (ctx) => {
        if (!handler)
          throw new AwsError(
            'UnknownOperationException',
            `Operation ${op} is not supported by the ${svc.name} emulator`,
          );
        callInput = parseJsonBody(body);
        return handler(ctx, callInput);
      };
    } else if (contentType.startsWith('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(body);
      operation = form.get('Action') ?? '';
      service = services.find((s) => s.protocol === 'awsQuery');
      const handler = service?.operations?.[operation];
      const input: JsonObject = Object.fromEntries(form.entries());
      const op = operation;
      handlerCall = (ctx) => {
        if (!handler) throw new AwsError('InvalidAction', `Could not find operation ${op}`, 400);
        return handler(ctx, input);
      };
    } else {
      const method = req.method ?? 'GET';
      for (const c of compiled()) {
        if (c.route.method !== method) continue;
        if (scope && scope.service !== c.service.name) continue;
        const m = c.pattern.exec(url.pathname);
        if (!m) continue;
        service = c.service;
        operation = c.route.operation;
        const params: Record<string, string> = {};
        c.names.forEach((n, i) => {
          params[n] = decodeURIComponent(m[i + 1]!);
        });
        pathParams = params;
        const route = c.route;
        handlerCall = (ctx) => {
          const parsed = parseJsonBody(body);
          callInput = { ...params, ...parsed };
          return route.handler(ctx, { params, query: url.searchParams, body: parsed });
        };
        break;
      }
      if (!service) {
        send(
          res,
          encodeError(
            'emr-serverless',
            'restJson1',
            new AwsError('UnknownOperationException', `No operation at ${method} ${url.pathname}`, 404),
            requestId,
          ),
        );
        return;
      }
    }

    const svc = service!;
    const op = operation ?? '';
    world.settle();
    const now = world.clock.now();
    const caller = world.identities.resolve(scope?.accessKeyId);
    const ctx: CallContext = {
      world,
      service: svc.name,
      operation: op,
      region: scope?.region ?? world.config.defaultRegion,
      accountId: caller.accountId,
      caller,
      requestId,
      now,
      ...(req.headers.host ? { endpoint: `http://${req.headers.host}` } : {}),
    };
    const started = performance.now();
    const record = (errorCode?: string, errorMessage?: string, injected?: boolean) => {
      let requestParameters: unknown;
      try {
        requestParameters =
          svc.protocol === 'awsQuery'
            ? Object.fromEntries(new URLSearchParams(body))
            : redact({ ...pathParams, ...parseJsonBody(body) });
      } catch {
        requestParameters = undefined;
      }
      world.log.append({
        eventTime: now,
        eventSource: eventSources[svc.name as ServiceName],
        eventName: op,
        awsRegion: ctx.region,
        userIdentity: { arn: caller.arn, accessKeyId: caller.accessKeyId, type: caller.type },
        requestParameters: redact(requestParameters),
        ...(errorCode ? { errorCode, errorMessage } : {}),
        ...(injected ? { injected } : {}),
        requestId,
        durationMs: performance.now() - started,
      });
    };

    const fault = world.faults.decide(svc.name, op, { accountId: ctx.accountId, region: ctx.region });
    if (fault.delayMs > 0) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault.error) {
      record(fault.error.code, fault.error.message, true);
      send(res, errorResponse(svc, fault.error, requestId));
      return;
    }
    try {
      const result = await handlerCall!(ctx);
      record();
      try {
        world.events.record(ctx, callInput, result);
      } catch (e) {
        process.stderr.write(
          `[emulator] event for ${svc.name}.${op} not published: ${(e as Error)?.stack ?? e}\n`,
        );
      }
      if (svc.protocol === 'awsQuery') {
        send(res, {
          status: 200,
          headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
          body: String(result),
        });
      } else {
        send(res, encodeJson(svc.protocol, result, requestId));
      }
    } catch (e) {
      const error =
        e instanceof AwsError
          ? e
          : new AwsError(
              'InternalFailure',
              `Emulator bug: ${e instanceof Error ? e.message : String(e)}`,
              500,
            );
      if (!(e instanceof AwsError))
        process.stderr.write(`[emulator] ${svc.name}.${op} failed: ${(e as Error)?.stack ?? e}\n`);
      record(error.code, error.message);
      send(res, errorResponse(svc, error, requestId));
    }
  }

  return createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    dispatch(req, res).catch((e: unknown) => {
      const error = e instanceof AwsError ? e : new AwsError('InternalFailure', String(e), 500);
      if (!res.headersSent) send(res, encodeError('kms', 'awsJson1_1', error, randomUUID()));
      else res.destroy();
    });
  });
}
