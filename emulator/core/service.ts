// The shape of an emulated service: a name, a protocol, and its operations. JSON-RPC services
// (awsJson1_0/1_1) list handlers by operation name; restJson1 services list routes; the query
// protocol (STS) lists handlers by Action. A handler gets the call context and the decoded input and
// returns the response object, or throws an AwsError.

import type { Principal } from './identity.ts';
import type { AwsError, EncodedResponse, Protocol, ServiceName } from './protocol.ts';
import type { World } from './world.ts';

export type JsonObject = Record<string, unknown>;

export interface CallContext {
  readonly world: World;
  readonly service: ServiceName;
  readonly operation: string;
  readonly region: string;
  /** The caller's account (resources are created there). */
  readonly accountId: string;
  readonly caller: Principal;
  readonly requestId: string;
  /** The emulator clock at the start of the call, ms since the epoch. */
  readonly now: number;
  /** The origin the caller reached the emulator at (`http://127.0.0.1:4599`), for URLs it hands back. */
  readonly endpoint?: string;
}

export type JsonHandler = (ctx: CallContext, input: JsonObject) => unknown;

export interface RestRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body: JsonObject;
}

export interface RestRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path template with `{name}` segments, e.g. `/applications/{applicationId}/jobruns`. */
  path: string;
  operation: string;
  handler: (ctx: CallContext, request: RestRequest) => unknown;
}

export interface ServiceRuntime {
  name: ServiceName;
  protocol: Protocol;
  /** JSON-RPC target prefix, e.g. `TrentService`. */
  targetPrefix?: string;
  /** JSON-RPC and query-protocol handlers by operation name. */
  operations?: Record<string, JsonHandler>;
  routes?: RestRoute[];
  /** Applies this service's section of a seed document (already parsed). */
  seed?(section: unknown, world: World): void;
  /** A JSON summary for `GET /_emulator/state`. */
  snapshot?(): unknown;
  /** Encodes an error itself instead of the protocol's default (SQS adds its query-error header). */
  encodeError?(error: AwsError, requestId: string): EncodedResponse;
  /** Ends whatever waits in real time (SQS long polls) when the world is replaced or the server closes. */
  dispose?(): void;
}

export type ServiceFactory = (world: World) => ServiceRuntime;
