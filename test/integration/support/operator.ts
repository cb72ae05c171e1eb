// Runs the operator in this test worker against the shared control plane and an in-process AWS
// emulator, configured exactly as in production: AWS through the SDK's standard environment
// settings (AWS_ENDPOINT_URL, AWS_REGION, credentials), Kubernetes through a kubeconfig. Each test
// file gets its own namespace, Lease and emulator.

import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { type EmulatorAdmin, emulatorAdmin } from '../../../emulator/client.ts';
import type { EmulatorConfig } from '../../../emulator/core/world.ts';
import { type RunningEmulator, startEmulator } from '../../../emulator/index.ts';
import { apiVersion } from '../../../src/api/shared.ts';
import { keyPolicyPreflight } from '../../../src/keys/preflight.ts';
import type { TenancyRules } from '../../../src/keys/tenancy.ts';
import { type RunningOperator, startOperator } from '../../../src/operator.ts';
import { createLogger, silentLogger } from '../../../src/runtime/log.ts';
import { adminIdentity, createNamespace, eventually } from './cluster.ts';
import { installCrds } from './crds.ts';
import { expectStatusInvariants } from './invariants.ts';

export interface OperatorFixture {
  namespace: string;
  /** A second namespace the operator also watches (cross-namespace references). */
  otherNamespace: string;
  emulator: RunningEmulator;
  admin: EmulatorAdmin;
  operator: RunningOperator;
  awsConfig(): {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** Creates a cmk.io object in the fixture's namespace; returns it as stored. */
  create<T = Record<string, unknown>>(kind: string, name: string, spec: unknown): Promise<T>;
  get<T = Record<string, unknown>>(kind: string, name: string): Promise<T | undefined>;
  remove(kind: string, name: string): Promise<void>;
  /** A JSON merge patch of a cmk.io object in the fixture's namespace; returns it as stored. */
  patch<T = Record<string, unknown>>(kind: string, name: string, patch: unknown): Promise<T>;
  /** Polls the object until `check` returns a value (not undefined). */
  waitFor<O, T = O>(
    kind: string,
    name: string,
    check: (o: O) => T | undefined,
    what?: string,
    timeoutMs?: number,
  ): Promise<T>;
  events(name: string): Promise<Array<{ reason: string; type: string; note: string }>>;
  /** A KmsKey the operator creates with a key policy for all three services; resolves to its ARN once Ready. */
  serviceKey(name: string): Promise<string>;
}

export const plurals: Record<string, string> = {
  KmsKey: 'kmskeys',
  FlinkApplication: 'flinkapplications',
  KeyspacesTable: 'keyspacestables',
  EmrServerlessApplication: 'emrserverlessapplications',
  EmrServerlessJobRun: 'emrserverlessjobruns',
  KeyReferenceGrant: 'keyreferencegrants',
};

export const testRegion = 'us-east-1';

/** Creates (or finds) an SQS queue in the emulator and returns its URL. */
export async function queueUrl(endpoint: string, name: string): Promise<string> {
  const sqs = new SQSClient({
    endpoint,
    region: testRegion,
    credentials: { accessKeyId: 'AKIATESTER0000000001', secretAccessKey: 'x' },
  });
  try {
    const created = await sqs.send(new CreateQueueCommand({ QueueName: name }));
    if (!created.QueueUrl) throw new Error(`CreateQueue ${name} returned no URL`);
    return created.QueueUrl;
  } finally {
    sqs.destroy();
  }
}

export function useOperator(
  options: {
    emulatorConfig?: Partial<EmulatorConfig>;
    resyncMs?: number;
    tenancy?: (namespace: string) => TenancyRules;
    /** Turns the key usage inventory on with this period (off by default, as in most tests). */
    inventoryPeriodMs?: number;
    /** Turns the key-state poll on with this period (off by default: most tests count AWS calls). */
    keyPollMs?: number;
    /** Name of an emulator SQS queue the operator reads CloudTrail events from (created if missing). */
    eventQueue?: string;
  } = {},
): OperatorFixture {
  const f = {} as OperatorFixture;
  beforeAll(async () => {
    await installCrds();
    f.namespace = await createNamespace('op');
    f.otherNamespace = await createNamespace('op2');
    f.emulator = await startEmulator({
      config: { transitions: { default: { min: 200, max: 400 } }, ...options.emulatorConfig },
    });
    f.admin = emulatorAdmin(f.emulator.url);
    process.env['AWS_ENDPOINT_URL'] = f.emulator.url;
    process.env['AWS_REGION'] = testRegion;
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAOPERATOR00000001';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'emulator-secret';
    f.operator = await startOperator({
      kubeconfig: inject('kubeconfigPath'),
      namespaces: [f.namespace, f.otherNamespace],
      concurrency: 4,
      resyncMs: options.resyncMs ?? 1500,
      healthAddress: '127.0.0.1:0',
      metricsAddress: '127.0.0.1:0',
      leaderElection: { enabled: true, namespace: f.namespace, name: 'cmk-operator' },
      identity: `test-${f.namespace}`,
      defaultRegion: testRegion,
      clusterName: 'it',
      policyPreflight: keyPolicyPreflight,
      ...(options.tenancy ? { tenancy: options.tenancy(f.namespace) } : {}),
      ...(options.inventoryPeriodMs
        ? { inventoryPeriodMs: options.inventoryPeriodMs, inventoryCallsPerSecond: 50 }
        : {}),
      keyPollMs: options.keyPollMs ?? 0,
      ...(options.eventQueue
        ? { eventQueue: { url: await queueUrl(f.emulator.url, options.eventQueue) } }
        : {}),
      log: process.env['CMK_TEST_LOG']
        ? createLogger({ level: 'debug', destination: pino.destination(process.env['CMK_TEST_LOG']) })
        : silentLogger(),
    });
  });
  afterEach(async () => {
    if (f.namespace) await expectStatusInvariants(f.namespace);
  });
  afterAll(async () => {
    await f.operator?.stop();
    await f.emulator?.close();
  });
  const path = (kind: string, name?: string) =>
    `/apis/${apiVersion}/namespaces/${f.namespace}/${plurals[kind]}${name ? `/${name}` : ''}`;
  f.awsConfig = () => ({
    endpoint: f.emulator.url,
    region: testRegion,
    credentials: { accessKeyId: 'AKIATESTER0000000001', secretAccessKey: 'x' },
  });
  f.create = async (kind, name, spec) => {
    const res = await adminIdentity().request('POST', path(kind), {
      apiVersion,
      kind,
      metadata: { name },
      spec,
    });
    if (res.status !== 201)
      throw new Error(`create ${kind}/${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as never;
  };
  f.get = async (kind, name) => {
    const res = await adminIdentity().request('GET', path(kind, name));
    return res.status === 200 ? (res.body as never) : undefined;
  };
  f.remove = async (kind, name) => {
    const res = await adminIdentity().request('DELETE', path(kind, name));
    if (res.status !== 200 && res.status !== 202 && res.status !== 404)
      throw new Error(`delete ${kind}/${name}: ${res.status}`);
  };
  f.patch = async (kind, name, patch) => {
    const res = await adminIdentity().request('PATCH', path(kind, name), JSON.stringify(patch), {
      contentType: 'application/merge-patch+json',
    });
    if (res.status !== 200)
      throw new Error(`patch ${kind}/${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as never;
  };
  f.waitFor = async (kind, name, check, what, timeoutMs = 20_000) => {
    try {
      return await eventually(
        async () => {
          const o = await f.get(kind, name);
          return o === undefined ? undefined : check(o as never);
        },
        { what: what ?? `${kind}/${name}`, timeoutMs },
      );
    } catch (e) {
      // Say where the object got stuck: its status at the deadline.
      const status = JSON.stringify((await f.get(kind, name).catch(() => undefined))?.['status'] ?? null);
      throw new Error(`${(e as Error).message}; ${kind}/${name} status: ${status.slice(0, 3000)}`);
    }
  };
  f.events = async (name) => {
    const res = await adminIdentity().request(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${f.namespace}/events`,
    );
    const items = (
      res.body as {
        items: Array<{ regarding?: { name?: string }; reason: string; type: string; note: string }>;
      }
    ).items;
    return items
      .filter((e) => e.regarding?.name === name)
      .map((e) => ({ reason: e.reason, type: e.type, note: e.note }));
  };
  f.serviceKey = async (name) => {
    await f.create('KmsKey', name, {
      create: { policy: { services: ['ManagedFlink', 'Keyspaces', 'EmrServerless'] } },
    });
    return f.waitFor<
      { status?: { keyArn?: string; conditions?: Array<{ type: string; status: string }> } },
      string
    >(
      'KmsKey',
      name,
      (o) =>
        o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? o.status.keyArn
          : undefined,
      `KmsKey ${name} Ready`,
    );
  };
  return f;
}

export interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}

/** The condition of `type` once it has `status` (and `reason`, if given). */
export function condition(type: string, status: string, reason?: string) {
  return (o: { status?: { conditions?: Cond[] } }): Cond | undefined => {
    const c = o.status?.conditions?.find((x) => x.type === type);
    return c && c.status === status && (reason === undefined || c.reason === reason) ? c : undefined;
  };
}
