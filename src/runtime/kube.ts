// A small typed Kubernetes API client for the runtime: get/list/create/replace/patch/delete and
// watch on any resource type, over node:https, with the access src/runtime/kubeconfig.ts reads.
//
// Why node:https and not fetch: client-node v2 exposes a kubeconfig's TLS and auth either as an
// https.Agent plus headers (`applyToHTTPSOptions`) or as a dispatcher of its own undici (v8), which
// Node's bundled fetch (undici 7) does not reliably accept. node:https takes the agent as is and
// streams watch bodies without buffering.
//
// Guarantees:
// - Every non-2xx answer throws a KubeApiError carrying the HTTP status and the apiserver's
//   Status reason, so callers branch on 404/409/410/422 with `isNotFound` & co, never on text.
// - Credentials are re-applied on every request (exec/token-file auth refreshes itself).
// - Requests time out (default 30 s); watches end when the server ends them, when `signal`
//   aborts, or after `idleTimeoutMs` without a byte, and never buffer more than one line.
// - Connections are bounded: requests share at most `maxConnections` keep-alive connections (a
//   request beyond that waits for one to come free, for at most its timeout, and an abort ends the
//   wait at once); an idle connection closes after `idleConnectionMs`. Watches have connections of
//   their own, so long-lived watches never take a request's place. All of them share one TLS context, built
//   once from the kubeconfig's CA and client certificate (again when those change).
// Never retries: retry policy belongs to the caller (queue, informer, leader election).

import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import { type ClientNodeConfig, type KubeAccess, kubeAccessOf } from './kubeconfig.ts';

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  /** Lower-case plural, as in the URL: `configmaps`, `kmskeys`. */
  plural: string;
  namespaced: boolean;
  /** Kind, for object references in events. */
  kind: string;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<Record<string, unknown>>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

/** metav1.Status, as the apiserver returns it on errors and in watch ERROR events. */
export interface KubeStatus {
  kind?: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: Record<string, unknown>;
}

export type WatchEvent<T> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T }
  | { type: 'ERROR'; object: KubeStatus };

export interface ObjectRef {
  namespace?: string;
  name: string;
}

export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

export class KubeApiError extends Error {
  readonly statusCode: number;
  /** Status.reason: NotFound, Conflict, AlreadyExists, Gone, Expired, Invalid, ... */
  readonly reason: string;
  readonly status: KubeStatus | undefined;
  readonly method: string;
  readonly path: string;
  constructor(
    method: string,
    path: string,
    statusCode: number,
    status: KubeStatus | undefined,
    body: string,
  ) {
    super(
      `${method} ${path}: ${statusCode} ${status?.reason ?? ''} ${status?.message ?? body.slice(0, 300)}`.trim(),
    );
    this.name = 'KubeApiError';
    this.statusCode = statusCode;
    this.reason = status?.reason ?? '';
    this.status = status;
    this.method = method;
    this.path = path;
  }
}

function hasStatus(error: unknown, code: number): boolean {
  return error instanceof KubeApiError && error.statusCode === code;
}

export const isNotFound = (error: unknown): boolean => hasStatus(error, 404);
/** 409: a resourceVersion conflict or AlreadyExists. */
export const isConflict = (error: unknown): boolean => hasStatus(error, 409);
export const isAlreadyExists = (error: unknown): boolean =>
  error instanceof KubeApiError && error.statusCode === 409 && error.reason === 'AlreadyExists';
/** 410: the resourceVersion (or continue token) is too old. */
export const isGone = (error: unknown): boolean => hasStatus(error, 410);
export const isInvalid = (error: unknown): boolean => hasStatus(error, 422);

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

function apiPrefix(type: ResourceType): string {
  return type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
}

/** The collection URL path; cluster-wide when `namespace` is undefined. */
export function collectionPath(type: ResourceType, namespace?: string): string {
  if (namespace !== undefined && !type.namespaced) throw new Error(`${type.plural} is cluster-scoped`);
  const ns = namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${apiPrefix(type)}${ns}/${type.plural}`;
}

export function objectPath(type: ResourceType, ref: ObjectRef, subresource?: string): string {
  if (type.namespaced && !ref.namespace) throw new Error(`${type.plural}/${ref.name}: namespace required`);
  const base = `${collectionPath(type, type.namespaced ? ref.namespace : undefined)}/${encodeURIComponent(ref.name)}`;
  return subresource ? `${base}/${subresource}` : base;
}

/** The cache/queue key of an object: `namespace/name`, or `name` when cluster-scoped. */
export function objectKey(obj: { metadata: { namespace?: string; name: string } }): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

export function parseObjectKey(key: string): ObjectRef {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  signal?: AbortSignal;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** Server-side timeout: the apiserver ends the watch after this many seconds. */
  timeoutSeconds?: number;
  /** Client-side: end the watch (with an error) after this long without a byte. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface WriteOptions {
  subresource?: string;
  fieldManager?: string;
  signal?: AbortSignal;
}

export interface HttpCallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface KubeClient {
  readonly server: string;
  request<T>(method: string, path: string, options?: HttpCallOptions): Promise<T>;
  get<T extends KubeObject>(
    type: ResourceType,
    ref: ObjectRef,
    options?: { signal?: AbortSignal },
  ): Promise<T>;
  list<T extends KubeObject>(type: ResourceType, options?: ListOptions): Promise<KubeList<T>>;
  create<T extends KubeObject>(type: ResourceType, object: T, options?: WriteOptions): Promise<T>;
  /** PUT; optimistic concurrency through `metadata.resourceVersion` when set. */
  replace<T extends KubeObject>(type: ResourceType, object: T, options?: WriteOptions): Promise<T>;
  mergePatch<T extends KubeObject>(
    type: ResourceType,
    ref: ObjectRef,
    patch: unknown,
    options?: WriteOptions,
  ): Promise<T>;
  jsonPatch<T extends KubeObject>(
    type: ResourceType,
    ref: ObjectRef,
    ops: JsonPatchOp[],
    options?: WriteOptions,
  ): Promise<T>;
  /** Server-side apply (application/apply-patch+yaml; JSON is YAML). */
  apply<T extends KubeObject>(
    type: ResourceType,
    object: T,
    options: WriteOptions & { fieldManager: string; force?: boolean },
  ): Promise<T>;
  delete(
    type: ResourceType,
    ref: ObjectRef,
    options?: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; signal?: AbortSignal },
  ): Promise<void>;
  /** Streams watch events until the server ends the watch; throws KubeApiError on a non-200 answer. */
  watch<T extends KubeObject>(type: ResourceType, options?: WatchOptions): AsyncIterable<WatchEvent<T>>;
  connections(): KubeConnections;
  /** Closes every connection, idle or not (in-flight requests fail); later requests open new ones. */
  close(): void;
}

export interface KubeClientOptions {
  requestTimeoutMs?: number;
  userAgent?: string;
  /** Called when the API server answers a request (watches: when the stream opens), for metrics. */
  onResponse?(method: string, statusCode: number): void;
  /** Connections the requests (not the watches) share at most; default 32. */
  maxConnections?: number;
  /** An idle connection closes after this long; default 30 s. */
  idleConnectionMs?: number;
}

/** The client's connections to the API server at this moment (all 0 behind a proxy agent). */
export interface KubeConnections {
  /** Connections carrying a request now. */
  active: number;
  /** Kept-alive connections waiting for the next request. */
  idle: number;
  /** Requests waiting for a connection (all `maxConnections` are busy). */
  waiting: number;
  /** Connections carrying a watch. */
  watches: number;
}

// How to reach the API server: a kubeconfig file, else KUBECONFIG, ~/.kube/config or the pod's
// service account (src/runtime/kubeconfig.ts, which imports client-node only for auth plugins).
export { loadKubeAccess as loadKubeConfig } from './kubeconfig.ts';

interface Connection {
  options: RequestOptions;
  url: URL;
}

export function createKubeClient(
  source: KubeAccess | ClientNodeConfig,
  clientOptions: KubeClientOptions = {},
): KubeClient {
  const access = 'apply' in source ? source : kubeAccessOf(source);
  const server = access.server;
  const requestTimeoutMs = clientOptions.requestTimeoutMs ?? 30_000;
  const userAgent = clientOptions.userAgent ?? 'cmk-operator';
  const maxConnections = clientOptions.maxConnections ?? 32;
  const idleConnectionMs = clientOptions.idleConnectionMs ?? 30_000;
  let agents: Agents | undefined;

  // One pair of agents per TLS material: the kubeconfig's is read once, but an exec plugin may hand
  // out a new client certificate, and the connections after that use it.
  function agentsFor(url: URL, options: RequestOptions): Agents {
    const material: TlsMaterial = {
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      rejectUnauthorized: options.rejectUnauthorized,
      servername: options.servername,
    };
    if (agents && sameMaterial(agents.material, material)) return agents;
    const requests = { keepAlive: true, maxSockets: maxConnections, timeout: idleConnectionMs };
    // A watch's connection is closed when the watch ends (never reused), so its agent keeps none.
    const watches = { keepAlive: false };
    if (url.protocol === 'https:') {
      // One context for every connection: without it, Node builds one per connection, parsing
      // the CA and the client key each time and keeping a copy per connection.
      const tls = {
        secureContext: createSecureContext({ ca: material.ca, cert: material.cert, key: material.key }),
        ...(material.rejectUnauthorized !== undefined
          ? { rejectUnauthorized: material.rejectUnauthorized }
          : {}),
        ...(material.servername ? { servername: material.servername } : {}),
      };
      agents = {
        material,
        requests: new HttpsAgent({ ...requests, ...tls }),
        watches: new HttpsAgent({ ...watches, ...tls }),
      };
    } else {
      agents = { material, requests: new HttpAgent(requests), watches: new HttpAgent(watches) };
    }
    return agents;
  }

  async function connection(
    method: string,
    path: string,
    query: HttpCallOptions['query'],
    use: 'request' | 'watch',
  ): Promise<Connection> {
    const url = new URL(server + path);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const options: RequestOptions = {
      method,
      headers: { Accept: 'application/json', 'User-Agent': userAgent },
    };
    await access.apply(options);
    // client-node's agent has no keep-alive; ours, unless a proxy agent is in play.
    if (!access.proxied) {
      const pair = agentsFor(url, options);
      options.agent = use === 'watch' ? pair.watches : pair.requests;
      // The agent's context carries them; left here, they would only lengthen its pool's key.
      delete options.ca;
      delete options.cert;
      delete options.key;
    }
    return { options, url };
  }

  function send(
    method: string,
    path: string,
    requestOptions: HttpCallOptions,
    use: 'request' | 'watch' = 'request',
  ): Promise<{ response: IncomingMessage; abort: () => void }> {
    return connection(method, path, requestOptions.query, use).then(
      ({ options, url }) =>
        new Promise((resolve, reject) => {
          const headers = options.headers as OutgoingHttpHeaders;
          let payload: string | undefined;
          if (requestOptions.body !== undefined) {
            payload = JSON.stringify(requestOptions.body);
            headers['Content-Type'] = requestOptions.contentType ?? 'application/json';
            headers['Content-Length'] = Buffer.byteLength(payload);
          }
          const signal = requestOptions.signal;
          const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (response) => {
            clientOptions.onResponse?.(method, response.statusCode ?? 0);
            resolve({ response, abort: () => req.destroy() });
          });
          // Fails the call at once, though a request still waiting for a connection stays in the
          // agent's queue (Node drops it when a connection comes free).
          const fail = (error: Error) => {
            reject(error);
            req.destroy(error);
          };
          if (signal) {
            const onAbort = () => fail(abortError(signal));
            if (signal.aborted) onAbort();
            else {
              signal.addEventListener('abort', onAbort, { once: true });
              req.once('close', () => signal.removeEventListener('abort', onAbort));
            }
          }
          if (requestOptions.timeoutMs !== undefined) {
            const timeoutMs = requestOptions.timeoutMs;
            // Node starts a request's timeout once it has a connection: the wait for one (every
            // --kube-connections busy) is bounded here, by the same time.
            const waiting = setTimeout(
              () => fail(new Error(`${method} ${path}: no connection free in ${timeoutMs} ms`)),
              timeoutMs,
            );
            req.once('socket', () => clearTimeout(waiting));
            req.once('close', () => clearTimeout(waiting));
            req.setTimeout(timeoutMs, () =>
              req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)),
            );
          }
          req.on('error', reject);
          req.end(payload);
        }),
    );
  }

  async function readBody(response: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  function apiError(method: string, path: string, statusCode: number, body: string): KubeApiError {
    let status: KubeStatus | undefined;
    try {
      const parsed = JSON.parse(body) as KubeStatus;
      if (parsed && typeof parsed === 'object') status = parsed;
    } catch {
      status = undefined;
    }
    return new KubeApiError(method, path, statusCode, status, body);
  }

  async function request<T>(method: string, path: string, options: HttpCallOptions = {}): Promise<T> {
    const { response } = await send(method, path, { timeoutMs: requestTimeoutMs, ...options });
    const body = await readBody(response);
    const statusCode = response.statusCode ?? 0;
    if (statusCode < 200 || statusCode >= 300) throw apiError(method, path, statusCode, body);
    return (body ? JSON.parse(body) : undefined) as T;
  }

  function write<T>(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    options: WriteOptions,
    query: HttpCallOptions['query'] = {},
  ): Promise<T> {
    return request<T>(method, path, {
      body,
      contentType,
      query: { fieldManager: options.fieldManager, ...query },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async function* watch<T extends KubeObject>(
    type: ResourceType,
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent<T>> {
    const path = collectionPath(type, options.namespace);
    const { response, abort } = await send(
      'GET',
      path,
      {
        query: {
          watch: 'true',
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: options.allowWatchBookmarks,
          timeoutSeconds: options.timeoutSeconds,
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
        },
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.idleTimeoutMs !== undefined ? { timeoutMs: options.idleTimeoutMs } : {}),
      },
      'watch',
    );
    const statusCode = response.statusCode ?? 0;
    if (statusCode !== 200) throw apiError('GET', path, statusCode, await readBody(response));
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response) {
        buffered += decoder.decode(chunk as Buffer, { stream: true });
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) yield JSON.parse(line) as WatchEvent<T>;
          newline = buffered.indexOf('\n');
        }
      }
      const rest = (buffered + decoder.decode()).trim();
      if (rest) yield JSON.parse(rest) as WatchEvent<T>;
    } finally {
      abort();
    }
  }

  return {
    server,
    request,
    get: (type, ref, options = {}) =>
      request('GET', objectPath(type, ref), options.signal ? { signal: options.signal } : {}),
    list: (type, options = {}) =>
      request('GET', collectionPath(type, options.namespace), {
        query: {
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          limit: options.limit,
          continue: options.continue,
          resourceVersion: options.resourceVersion,
          resourceVersionMatch: options.resourceVersionMatch,
        },
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    create: (type, object, options = {}) =>
      write(
        'POST',
        collectionPath(type, type.namespaced ? object.metadata.namespace : undefined),
        object,
        'application/json',
        options,
      ),
    replace: (type, object, options = {}) =>
      write(
        'PUT',
        objectPath(type, object.metadata, options.subresource),
        object,
        'application/json',
        options,
      ),
    mergePatch: (type, ref, patch, options = {}) =>
      write(
        'PATCH',
        objectPath(type, ref, options.subresource),
        patch,
        'application/merge-patch+json',
        options,
      ),
    jsonPatch: (type, ref, ops, options = {}) =>
      write('PATCH', objectPath(type, ref, options.subresource), ops, 'application/json-patch+json', options),
    apply: (type, object, options) =>
      write(
        'PATCH',
        objectPath(type, object.metadata, options.subresource),
        object,
        'application/apply-patch+yaml',
        options,
        { force: options.force },
      ),
    async delete(type, ref, options = {}) {
      await request('DELETE', objectPath(type, ref), {
        ...(options.propagationPolicy
          ? {
              body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: options.propagationPolicy },
            }
          : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    watch,
    connections() {
      if (!agents) return { active: 0, idle: 0, waiting: 0, watches: 0 };
      return {
        active: socketCount(agents.requests.sockets),
        idle: socketCount(agents.requests.freeSockets),
        waiting: socketCount(agents.requests.requests, (req) => !(req as { destroyed?: boolean }).destroyed),
        watches: socketCount(agents.watches.sockets),
      };
    },
    close() {
      agents?.requests.destroy();
      agents?.watches.destroy();
      agents = undefined;
    },
  };
}

interface TlsMaterial {
  ca: RequestOptions['ca'];
  cert: RequestOptions['cert'];
  key: RequestOptions['key'];
  rejectUnauthorized: boolean | undefined;
  servername: string | undefined;
}

interface Agents {
  material: TlsMaterial;
  requests: HttpsAgent | HttpAgent;
  watches: HttpsAgent | HttpAgent;
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return (
    samePem(a.ca, b.ca) &&
    samePem(a.cert, b.cert) &&
    samePem(a.key, b.key) &&
    a.rejectUnauthorized === b.rejectUnauthorized &&
    a.servername === b.servername
  );
}

type Pem = RequestOptions['ca'] | RequestOptions['key'];

/** Same PEM text; anything but strings and Buffers (a KeyObject) only when it is the same object. */
function samePem(a: Pem, b: Pem): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  const x = pemText(a);
  return x !== undefined && x === pemText(b);
}

function pemText(value: Pem): string | undefined {
  if (value === undefined) return undefined;
  const parts: string[] = [];
  for (const part of Array.isArray(value) ? value : [value]) {
    if (typeof part === 'string') parts.push(part);
    else if (Buffer.isBuffer(part)) parts.push(part.toString('latin1'));
    else return undefined;
  }
  return parts.join('\n');
}

function socketCount(
  pool: NodeJS.ReadOnlyDict<unknown[]>,
  counts: (item: unknown) => boolean = () => true,
): number {
  let n = 0;
  for (const list of Object.values(pool)) for (const item of list ?? []) if (counts(item)) n++;
  return n;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted', { cause: signal.reason });
}

/** Common resource types the runtime itself uses. */
export const resourceTypes = {
  configMap: { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' },
  namespace: { group: '', version: 'v1', plural: 'namespaces', namespaced: false, kind: 'Namespace' },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, kind: 'Lease' },
  event: { group: 'events.k8s.io', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' },
  customResourceDefinition: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    namespaced: false,
    kind: 'CustomResourceDefinition',
  },
} as const satisfies Record<string, ResourceType>;
