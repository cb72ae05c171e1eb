// AWS SDK clients per (service, region, role). Configuration comes only from the SDK's standard
// settings (default credential chain, AWS_REGION, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>),
// so the same binary talks to AWS or to the local emulator without a special code path. Retries are
// the SDK's own (adaptive mode, which adds client-side rate limiting on throttling); nothing wraps
// SDK calls in another retry layer. A role ARN on an object is assumed through STS with cached,
// auto-refreshing temporary credentials: with the role's ExternalId from the tenancy configuration
// (IAM-005) and the session tags `cmk.io/cluster` and `cmk.io/namespace` (IAM-006), one session per
// (role, namespace) so a role's trust policy can scope who may be served by it. A role the target's
// namespace may not use (tenancy `allowedRoleArnPatterns`) is never assumed: every call through such
// a client fails as AccessDenied (code RoleNotAllowed) with a message naming spec.roleArn and the fix.

import { EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { KeyspacesClient } from '@aws-sdk/client-keyspaces';
import { KinesisAnalyticsV2Client } from '@aws-sdk/client-kinesis-analytics-v2';
import { KMSClient } from '@aws-sdk/client-kms';
import { STSClient } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { assumeRoleRules, roleRefusal, type TenancyRules } from '../keys/tenancy.ts';
import { Sha256 } from './sha256.ts';

export interface AwsTarget {
  region: string;
  /** Role to assume for this target; the operator's own identity when undefined. */
  roleArn?: string;
  /**
   * The namespace of the object the calls are for: checked against the tenancy rules' role
   * allow-list and sent as the `cmk.io/namespace` session tag. Only meaningful with `roleArn`.
   */
  namespace?: string;
}

export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AwsClientOptions {
  /** RoleSessionName for assumed roles, e.g. the operator's pod name. */
  sessionName: string;
  /** SDK attempts per call, including the first (SDK default 3). */
  maxAttempts?: number;
  /** Longest wait for an answer (socket idle) per attempt; default 10 s. */
  requestTimeoutMs?: number;
  /** Role allow-lists per namespace and, per role, its ExternalId and whether to send session tags. */
  tenancy?: TenancyRules;
  /** Sent as the `cmk.io/cluster` session tag (the operator's --cluster-name). */
  clusterName?: string;
  /** Overrides the default credential chain (tests, tools). */
  credentials?: StaticCredentials | (() => Promise<StaticCredentials>);
  /**
   * Called once per API call after the SDK's own retries: the service's signing name, the
   * operation, and `ok` or the AWS error code (for metrics; never the request or its credentials).
   */
  onCall?(service: string, operation: string, outcome: string): void;
}

export interface AwsClients {
  kms(target: AwsTarget): KMSClient;
  flink(target: AwsTarget): KinesisAnalyticsV2Client;
  keyspaces(target: AwsTarget): KeyspacesClient;
  emrServerless(target: AwsTarget): EMRServerlessClient;
  sts(target: AwsTarget): STSClient;
  /** Releases sockets of every client made so far. */
  destroy(): void;
}

type Destroyable = { destroy(): void };
type Routable = Destroyable & { send(command: object, ...rest: unknown[]): Promise<unknown> };

/** The size `boundBufferPool` sets for Node's pool of small Buffers (Node 24's default is 64 KiB). */
const sdkBufferPoolBytes = 8 * 1024;

/**
 * Shrinks Node's pool of small Buffers (`Buffer.poolSize`, documented as settable) to 8 KiB, for the
 * whole process: call it once at start. Each JSON serializer of an AWS SDK client keeps a 2 KiB
 * `Buffer.allocUnsafe` buffer between calls, a slice of the pool block current when it was taken, so
 * each pins a whole block. With 64 KiB blocks that was 5.3 MiB for the 84 serializers of the
 * 10,000-workload bench (bench/results/memory-analysis.md); with 8 KiB blocks it is about 0.7 MiB (plus
 * the 64 KiB block already in use when this is called, until it fills).
 * Buffers above half the pool size are allocated on their own either way.
 */
export function boundBufferPool(): void {
  Buffer.poolSize = sdkBufferPoolBytes;
}

/** Reads: the operations that change nothing (the SDK's command class names them). */
export function isReadCommand(command: object): boolean {
  return /^(Describe|Get|List)/.test(command.constructor.name);
}

/**
 * One client of a service that sends its reads through `reads` and everything else through
 * `changes`. The SDK's adaptive retry mode keeps one send-rate limiter per client, lowered by any
 * throttled call. Quotas are not one per client: KMS sets them per operation, thousands a second
 * for DescribeKey and a handful for the rotation and enable/disable calls (KMS-016); the other
 * services document none, and the bench's emulator sets them per operation. In a fleet switch
 * throttled on UpdateApplication (10 a second there), the one limiter held the DescribeApplication
 * reads that confirm the switches already made to the same pace, and no workload reached Ready
 * until the last update had been sent. Two limiters, one per kind of call, keep the reads at the
 * reads' pace; the changes still slow down together when any of them is throttled.
 */
function routeChanges<C extends Routable>(reads: C, changes: C): C {
  const sendRead = reads.send.bind(reads);
  const sendChange = changes.send.bind(changes);
  const destroyReads = reads.destroy.bind(reads);
  return Object.assign(reads, {
    send: (command: object, ...rest: unknown[]) =>
      isReadCommand(command) ? sendRead(command, ...rest) : sendChange(command, ...rest),
    destroy: () => {
      destroyReads();
      changes.destroy();
    },
  });
}

/**
 * One client per (service, Region, role, namespace): the namespace matters only with a role. Also
 * the key of what one client sees (a Region's Managed Flink listing, src/aws/flink.ts).
 */
export function clientKey(service: string, target: AwsTarget): string {
  return [service, target.region, target.roleArn ?? '', target.roleArn ? (target.namespace ?? '') : ''].join(
    '|',
  );
}

interface Countable {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

/** Counts each call once, outside the SDK's retry loop, by operation and outcome. */
function countCalls(
  client: Countable,
  service: string,
  onCall: NonNullable<AwsClientOptions['onCall']>,
): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      try {
        const out = await next(args);
        onCall(service, operation, 'ok');
        return out;
      } catch (e) {
        onCall(service, operation, (e as { name?: string } | undefined)?.name ?? 'Error');
        throw e;
      }
    },
    { step: 'initialize', name: 'cmkCallCounter' },
  );
}

/** The session tags of an AssumeRole for `target` (IAM-006); STS tag values allow `[\p{L}\p{Z}\p{N}_.:/=+@-]`. */
export function sessionTagsFor(
  target: Pick<AwsTarget, 'namespace'>,
  clusterName: string | undefined,
): Array<{ Key: string; Value: string }> {
  const clean = (v: string) => v.replace(/[^\p{L}\p{Z}\p{N}_.:/=+@-]/gu, '-').slice(0, 256);
  return [
    ...(clusterName ? [{ Key: 'cmk.io/cluster', Value: clean(clusterName) }] : []),
    ...(target.namespace ? [{ Key: 'cmk.io/namespace', Value: clean(target.namespace) }] : []),
  ];
}

/** The error every call through a client for a refused role fails with (classified AccessDenied). */
function roleNotAllowed(message: string): Error {
  return Object.assign(new Error(message), { name: 'RoleNotAllowed', $metadata: { httpStatusCode: 403 } });
}

export function createAwsClients(options: AwsClientOptions): AwsClients {
  const cache = new Map<string, Destroyable>();
  const credentialsFor = (target: AwsTarget) => {
    if (!target.roleArn) return options.credentials ? { credentials: options.credentials } : {};
    const refusal =
      options.tenancy && target.namespace !== undefined
        ? roleRefusal(options.tenancy, target.namespace, target.roleArn)
        : undefined;
    if (refusal)
      return {
        credentials: async () => {
          throw roleNotAllowed(refusal);
        },
      };
    const role = assumeRoleRules(options.tenancy, target.roleArn);
    const tags = role.sessionTags ? sessionTagsFor(target, options.clusterName) : [];
    return {
      credentials: fromTemporaryCredentials({
        params: {
          RoleArn: target.roleArn,
          RoleSessionName: options.sessionName.slice(0, 64),
          DurationSeconds: 3600,
          ...(role.externalId ? { ExternalId: role.externalId } : {}),
          ...(tags.length > 0 ? { Tags: tags } : {}),
        },
        clientConfig: { region: target.region },
        ...(options.credentials ? { masterCredentials: options.credentials as never } : {}),
      }),
    };
  };
  function get<C extends Routable>(
    service: string,
    target: AwsTarget,
    make: (config: object) => C,
    { split = true }: { split?: boolean } = {},
  ): C {
    const key = clientKey(service, target);
    let client = cache.get(key) as C | undefined;
    if (!client) {
      const credentials = credentialsFor(target);
      const config = {
        region: target.region,
        // No call waits forever on an endpoint that stopped answering: the reconcile fails as
        // Transient (TimeoutError) and the queue retries it with backoff.
        // (Without throwOnRequestTimeout the handler only logs a warning and keeps waiting.)
        requestHandler: {
          connectionTimeout: 5_000,
          requestTimeout: options.requestTimeoutMs ?? 10_000,
          throwOnRequestTimeout: true,
        },
        retryMode: 'adaptive',
        maxAttempts: options.maxAttempts ?? 3,
        // Request signing with each HMAC key made into a KeyObject once (src/aws/sha256.ts).
        sha256: Sha256,
        ...credentials,
      };
      const counted = () => {
        const c = make(config);
        if (options.onCall) countCalls(c as unknown as Countable, service, options.onCall);
        return c;
      };
      client = split ? routeChanges(counted(), counted()) : counted();
      cache.set(key, client);
    }
    return client;
  }
  return {
    kms: (t) => get('kms', t, (c) => new KMSClient(c)),
    flink: (t) => get('kinesisanalytics', t, (c) => new KinesisAnalyticsV2Client(c)),
    keyspaces: (t) => get('cassandra', t, (c) => new KeyspacesClient(c)),
    emrServerless: (t) => get('emr-serverless', t, (c) => new EMRServerlessClient(c)),
    sts: (t) => get('sts', t, (c) => new STSClient(c), { split: false }),
    destroy() {
      for (const c of cache.values()) c.destroy();
      cache.clear();
    },
  };
}
