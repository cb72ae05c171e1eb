// The security suite: what a tenant, a log reader and a metrics scraper can and cannot get, against
// the shared kube-apiserver (real client certificates, real RBAC) and the in-process AWS emulator.
//
// - Tenancy with tenant identities: a tenant user whose RBAC covers only its own namespace (a
//   Role/RoleBinding as a platform team writes it) runs workloads there; cannot read, edit or grant
//   the key owner's KmsKeys (403 from the API server); a cross-namespace reference without a
//   KeyReferenceGrant is refused with zero AWS mutations; the key owner's grant lets it converge;
//   revoking the grant stops further switches. test/integration/tenancy.test.ts covers the ARN
//   allow-lists for a Keyspaces resource and a KmsKey Region; this file adds Flink and EMR resources
//   and a workload's key outside the namespace's key allow-list.
// - No secrets in logs: the operator runs at trace level with distinctive AWS credentials (access
//   key, secret, session token) in its environment, a kubeconfig that carries a client key and a
//   bearer token, and a per-object role (STS session credentials); it switches all three services
//   through throttling, then meets access denied and failing pre-flights. The log, the Events it
//   wrote and the statuses must hold no secret.
//   Access key id policy: an access key id is an identifier, not a secret (AWS records it in
//   CloudTrail; src/runtime/log.ts redacts credential objects, which hold it, but does not scrub the
//   id from error text). It is therefore allowed in the log; the suite counts where it appears.
// - Metrics and probes: no secrets, no ARNs or account ids, no per-object labels (series do not grow
//   with objects), no stack traces; the listeners bind where configured, each path on its own one.

import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type EmulatorAdmin, emulatorAdmin } from '../../emulator/client.ts';
import type { CallRecord } from '../../emulator/core/calllog.ts';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { apiVersion } from '../../src/api/shared.ts';
import { keyPolicyPreflight } from '../../src/keys/preflight.ts';
import type { TenancyRules } from '../../src/keys/tenancy.ts';
import { type RunningOperator, startOperator } from '../../src/operator.ts';
import { resourceMetricFamilies } from '../../src/reconcile/resource-metrics.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { account, rootOnlyKeyPolicy } from '../fixtures/keys.ts';
import { recordFigures } from '../support/figures.ts';
import {
  type ApiResponse,
  adminIdentity,
  type ClusterIdentity,
  createNamespace,
  eventually,
  mintClusterIdentity,
} from './support/cluster.ts';
import { installCrds } from './support/crds.ts';
import { expectStatusInvariants } from './support/invariants.ts';
import { condition, plurals, testRegion } from './support/operator.ts';

const slow = { timeout: 150_000 };

// Distinctive secrets: any of them in a log line, an Event or a status is a leak.
const awsCreds = {
  accessKeyId: 'AKIASECSUITE7Q2XK4PZ',
  secretAccessKey: `secSuiteSecret/${randomBytes(12).toString('hex')}+DoNotLog`,
  sessionToken: `secSuiteSessionToken${randomBytes(24).toString('base64url')}`,
};
const kubeToken = `secsuite-kubeconfig-token-${randomBytes(12).toString('hex')}`;
/** Every session token the emulator's STS issues starts with this. */
const stsTokenPrefix = 'IQoJb3JpZ2luX2VtdWxhdG9y';
const role = `arn:aws:iam::${account}:role/sec-suite`;

let nsTeam: string; // the tenant's namespace
let nsKeys: string; // the key owner's namespace
let nsFenced: string; // a namespace with ARN allow-lists
let emulator: RunningEmulator;
let admin: EmulatorAdmin;
let operator: RunningOperator;
let kms: KMSClient;
let dir: string;
let logFile: string;
let allowedKeyArn: string;
let otherKeyArn: string;
let tenant: ClusterIdentity;
let kubeSecrets: string[] = [];
let seriesAtStart: Map<string, number>;
const savedEnv: Record<string, string | undefined> = {};
const figures = {
  forbidden: 0,
  leakChecks: 0,
  logLines: 0,
  eventsScanned: 0,
  objectsScanned: 0,
  probesScanned: 0,
  metricSeries: 0,
  accessKeyIdMentions: 0,
  refusals: 0,
  faultsInjected: 0,
  ownershipClaims: 0,
  externalProbes: 0,
};
const lost = {
  'secrets in the log': 0,
  'secrets in Events': 0,
  'secrets in statuses': 0,
  'secrets or ARNs in metrics and probes': 0,
  'AWS mutations for refused workloads': 0,
  'tenant requests allowed outside its namespace': 0,
};

const path = (ns: string, kind: string, name?: string, sub?: string) =>
  `/apis/${apiVersion}/namespaces/${ns}/${plurals[kind]}${name ? `/${name}` : ''}${sub ? `/${sub}` : ''}`;

async function createAs(
  who: ClusterIdentity,
  ns: string,
  kind: string,
  name: string,
  spec: unknown,
): Promise<ApiResponse> {
  return who.request('POST', path(ns, kind), { apiVersion, kind, metadata: { name }, spec });
}

async function create(ns: string, kind: string, name: string, spec: unknown): Promise<void> {
  const res = await createAs(adminIdentity(), ns, kind, name, spec);
  if (res.status !== 201)
    throw new Error(`create ${kind}/${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

async function getObj<T = Status>(ns: string, kind: string, name: string): Promise<T | undefined> {
  const res = await adminIdentity().request('GET', path(ns, kind, name));
  return res.status === 200 ? (res.body as T) : undefined;
}

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Status {
  metadata: { name: string };
  status?: { keyArn?: string; current?: { keyArn?: string }; conditions?: Cond[] };
}

async function waitFor<T>(
  ns: string,
  kind: string,
  name: string,
  check: (o: Status) => T | undefined,
  what: string,
  timeoutMs = 45_000,
): Promise<T> {
  try {
    return await eventually(
      async () => {
        const o = await getObj(ns, kind, name);
        return o === undefined ? undefined : check(o);
      },
      { what, timeoutMs, intervalMs: 200 },
    );
  } catch (e) {
    const status = JSON.stringify((await getObj(ns, kind, name).catch(() => undefined))?.status ?? null);
    throw new Error(`${(e as Error).message}; ${kind}/${name} status: ${status.slice(0, 2000)}`);
  }
}

const readyOn = (keyArn: string) => (o: Status) =>
  o.status?.current?.keyArn === keyArn && condition('Ready', 'True')(o) ? o : undefined;

async function serviceKey(ns: string, name: string): Promise<string> {
  await create(ns, 'KmsKey', name, {
    create: { policy: { services: ['ManagedFlink', 'Keyspaces', 'EmrServerless'] } },
  });
  return waitFor(
    ns,
    'KmsKey',
    name,
    (o) => (condition('Ready', 'True')(o) ? o.status?.keyArn : undefined),
    `KmsKey ${ns}/${name} Ready`,
  );
}

const mutating = new Set([
  'UpdateApplication',
  'StartApplication',
  'StopApplication',
  'UpdateTable',
  'TagResource',
  'UntagResource',
]);

/** Successful or attempted mutations since `since` whose request names one of `names`. */
async function mutationsSince(since: number, names: string[], service?: string): Promise<CallRecord[]> {
  return (await admin.calls({ since, ...(service ? { service } : {}) })).filter(
    (c) =>
      mutating.has(c.eventName) &&
      (names.length === 0 || names.some((n) => JSON.stringify(c.requestParameters).includes(n))),
  );
}

/**
 * Whether a call only claims the resource for its object (the `cmk.io/owner` tag the operator writes
 * before acting, so two objects never manage one resource). A refused key leaves the claim standing;
 * a refused resource (outside the allow-list) must not get even that.
 */
const isOwnershipClaim = (c: CallRecord) =>
  c.eventName === 'TagResource' && JSON.stringify(c.requestParameters).includes('cmk.io/owner');

/** Mutations other than the ownership claim; counts the claims seen. */
function keyChanges(calls: CallRecord[]): CallRecord[] {
  figures.ownershipClaims += calls.filter(isOwnershipClaim).length;
  return calls.filter((c) => !isOwnershipClaim(c));
}

const lastEventId = async () => (await admin.calls({})).at(-1)?.eventId ?? 0;

let emrSerial = 0;
/** A 16-character EMR Serverless application id starting with `prefix` (4 characters). */
const emrId = (prefix: string) =>
  `${prefix}${String(Date.now()).slice(-10)}${String(++emrSerial).padStart(2, '0')}`;

beforeAll(async () => {
  await installCrds();
  nsTeam = await createNamespace('sec-team');
  nsKeys = await createNamespace('sec-keys');
  nsFenced = await createNamespace('sec-fenced');
  dir = mkdtempSync(join(tmpdir(), 'cmk-security-'));
  logFile = join(dir, 'operator.log');

  emulator = await startEmulator({ config: { transitions: { default: { min: 200, max: 400 } } } });
  admin = emulatorAdmin(emulator.url);
  emulator.seed({ roles: [{ arn: role, iamAllow: ['kms:*', 'cassandra:*'] }] });
  for (const k of [
    'AWS_ENDPOINT_URL',
    'AWS_REGION',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
  ]) {
    savedEnv[k] = process.env[k];
  }
  process.env['AWS_ENDPOINT_URL'] = emulator.url;
  process.env['AWS_REGION'] = testRegion;
  process.env['AWS_ACCESS_KEY_ID'] = awsCreds.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = awsCreds.secretAccessKey;
  process.env['AWS_SESSION_TOKEN'] = awsCreds.sessionToken;

  // Keys the fenced namespace may and may not use, made before the rules are fixed at start-up.
  kms = new KMSClient({
    endpoint: emulator.url,
    region: testRegion,
    credentials: { accessKeyId: 'AKIATESTER0000000001', secretAccessKey: 'x' },
  });
  allowedKeyArn = (await kms.send(new CreateKeyCommand({ Policy: rootOnlyKeyPolicy }))).KeyMetadata!.Arn!;
  otherKeyArn = (await kms.send(new CreateKeyCommand({ Policy: rootOnlyKeyPolicy }))).KeyMetadata!.Arn!;
  const tenancy: TenancyRules = {
    namespaces: {
      [nsFenced]: {
        allowedKeyArnPatterns: [allowedKeyArn],
        allowedWorkloadArnPatterns: [
          'arn:aws:kinesisanalytics:*:application/fenced-*',
          'arn:aws:cassandra:*:/keyspace/fenced_*',
          'arn:aws:emr-serverless:*:/applications/00fe*',
        ],
      },
    },
  };

  // The admin kubeconfig (client certificate and key) with a bearer token added: both are secrets.
  const kubeconfig = parse(readFileSync(inject('kubeconfigPath'), 'utf8')) as {
    users: Array<{ user: Record<string, string> }>;
  };
  const user = kubeconfig.users[0]!.user;
  const certPem = Buffer.from(user['client-certificate-data'] ?? '', 'base64').toString('utf8');
  const keyPem = Buffer.from(user['client-key-data'] ?? '', 'base64').toString('utf8');
  const pemBody = (pem: string) =>
    pem.split('\n').find((l) => l.length >= 40 && !l.startsWith('-----')) ?? '';
  kubeSecrets = [
    kubeToken,
    (user['client-key-data'] ?? '').slice(0, 60),
    (user['client-certificate-data'] ?? '').slice(0, 60),
    pemBody(keyPem),
    pemBody(certPem),
  ].filter((s) => s.length >= 20);
  expect(kubeSecrets).toHaveLength(5);
  user['token'] = kubeToken;
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, stringify(kubeconfig), { mode: 0o600 });

  operator = await startOperator({
    kubeconfig: kubeconfigPath,
    namespaces: [nsTeam, nsKeys, nsFenced],
    concurrency: 4,
    resyncMs: 1500,
    healthAddress: '127.0.0.1:0',
    metricsAddress: '127.0.0.1:0',
    leaderElection: { enabled: true, namespace: nsKeys, name: 'cmk-operator' },
    identity: `sec-${nsKeys}`,
    defaultRegion: testRegion,
    clusterName: 'it',
    policyPreflight: keyPolicyPreflight,
    tenancy,
    log: createLogger({ level: 'trace', destination: pino.destination({ dest: logFile, sync: true }) }),
  });
  seriesAtStart = operatorSeries(await (await fetch(`${operator.health.metricsUrl}/metrics`)).text());

  // The platform team gives the tenant its namespace and nothing else.
  tenant = await mintClusterIdentity(`alice-${nsTeam}`, ['team-a-developers']);
  const rbac = '/apis/rbac.authorization.k8s.io/v1';
  const roleRes = await adminIdentity().request('POST', `${rbac}/namespaces/${nsTeam}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'cmk-workloads' },
    rules: [
      {
        apiGroups: ['cmk.io'],
        resources: [
          'kmskeys',
          'flinkapplications',
          'keyspacestables',
          'emrserverlessapplications',
          'emrserverlessjobruns',
          'keyreferencegrants',
        ],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
      },
    ],
  });
  expect(roleRes.status).toBe(201);
  const bindingRes = await adminIdentity().request('POST', `${rbac}/namespaces/${nsTeam}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'alice-cmk-workloads' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cmk-workloads' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: tenant.user }],
  });
  expect(bindingRes.status).toBe(201);
  await eventually(
    async () =>
      (await tenant.request('GET', path(nsTeam, 'KeyspacesTable'))).status === 200 ? true : undefined,
    { what: 'tenant RoleBinding in effect' },
  );
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await emulator?.close();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  // CMK_SECURITY_LOG=<file> keeps the operator's log for inspection.
  if (process.env['CMK_SECURITY_LOG'] && logFile) copyFileSync(logFile, process.env['CMK_SECURITY_LOG']);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- leak detection ------------------------------------------------------------------------------

/** Named detectors of secrets; each returns how many times its secret appears in `text`. */
function detectors(): Array<{ what: string; count(text: string): number }> {
  const literal = (what: string, s: string) => ({
    what,
    count: (text: string) => text.split(s).length - 1,
  });
  const pattern = (what: string, re: RegExp) => ({
    what,
    count: (text: string) =>
      [...text.matchAll(new RegExp(re.source, `${re.flags.replace('g', '')}g`))].length,
  });
  return [
    literal('AWS secret access key', awsCreds.secretAccessKey),
    literal('AWS secret access key (part)', awsCreds.secretAccessKey.slice(15, 39)),
    literal('AWS session token', awsCreds.sessionToken),
    literal('AWS session token (part)', awsCreds.sessionToken.slice(20, 44)),
    literal('STS-issued session token', stsTokenPrefix),
    ...kubeSecrets.map((s, i) => literal(`kubeconfig secret #${i}`, s)),
    pattern('SigV4 Authorization header', /AWS4-HMAC-SHA256/),
    pattern('SigV4 signature', /Signature=[0-9a-f]{16,}/i),
    pattern('security token header', /x-amz-security-token/i),
    pattern('bearer token', /Bearer\s+[\w.~+/-]{8,}/i),
    pattern('unredacted authorization field', /"authorization"\s*:\s*"(?!\[redacted\])/i),
    pattern(
      'unredacted secret field',
      /"(secretAccessKey|sessionToken|SecretAccessKey|SessionToken)"\s*:\s*"(?!\[redacted\])/,
    ),
    pattern('PEM block', /-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/),
  ];
}

/** The leaks in `text`, as "what: count" lines; counts every detector run. */
function leaksIn(text: string): string[] {
  const found: string[] = [];
  for (const d of detectors()) {
    figures.leakChecks++;
    const n = d.count(text);
    if (n > 0) found.push(`${d.what}: ${n}`);
  }
  return found;
}

async function listJson(p: string): Promise<unknown[]> {
  const res = await adminIdentity().request('GET', p);
  expect(res.status, p).toBe(200);
  return (res.body as { items: unknown[] }).items;
}

// ---- metrics parsing -----------------------------------------------------------------------------

interface Sample {
  family: string;
  labels: Record<string, string>;
}

function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+\S+/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ family: m[1]!, labels });
  }
  return out;
}

/** The operator's own series (not Node's process metrics), counted by family. */
function operatorSeries(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of parseMetrics(text)) {
    if (!/^(workqueue_|controller_runtime_)/.test(s.family)) continue;
    counts.set(s.family, (counts.get(s.family) ?? 0) + 1);
  }
  return counts;
}

// ---- the tests -----------------------------------------------------------------------------------

describe('tenancy with tenant identities', () => {
  let sharedArn: string;
  let shared2Arn: string;
  const table = { keyspaceName: 'ks_tenant', tableName: 'orders' };

  /** Allowed in its own namespace: the tenant creates its table's object and reads it back. */
  async function tenantCreatesItsTable(): Promise<void> {
    const created = await createAs(tenant, nsTeam, 'KeyspacesTable', 'orders', {
      ...table,
      key: { kmsKeyRef: { name: 'team-key', namespace: nsKeys } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await tenant.request('GET', path(nsTeam, 'KeyspacesTable', 'orders'))).status).toBe(200);
  }

  /** Forbidden in the key owner's namespace: read, list, edit, delete, grant. */
  async function tenantForbiddenInKeyOwnersNamespace(): Promise<void> {
    const attempts: Array<[string, string, unknown?]> = [
      ['GET', path(nsKeys, 'KmsKey', 'team-key')],
      ['GET', path(nsKeys, 'KmsKey')],
      ['GET', `/apis/${apiVersion}/kmskeys`],
      ['PATCH', path(nsKeys, 'KmsKey', 'team-key'), { spec: { description: 'mine now' } }],
      ['PATCH', path(nsKeys, 'KmsKey', 'team-key', 'status'), { status: { keyArn: 'x' } }],
      ['DELETE', path(nsKeys, 'KmsKey', 'team-key')],
      [
        'POST',
        path(nsKeys, 'KeyReferenceGrant'),
        {
          apiVersion,
          kind: 'KeyReferenceGrant',
          metadata: { name: 'self-service' },
          spec: { from: [{ namespace: nsTeam }] },
        },
      ],
      ['GET', path(nsKeys, 'KeyReferenceGrant')],
    ];
    for (const [method, p, body] of attempts) {
      const res = await tenant.request(
        method,
        p,
        body,
        method === 'PATCH' ? { contentType: 'application/merge-patch+json' } : {},
      );
      if (res.status !== 403) lost['tenant requests allowed outside its namespace']++;
      expect(res.status, `${method} ${p}`).toBe(403);
      figures.forbidden++;
    }
  }

  /**
   * The tenant cannot forge its own workload's status: no status verb in its Role, and status sent
   * through the main resource is dropped (the CRDs have a status subresource).
   */
  async function tenantCannotForgeStatus(): Promise<void> {
    const forged = `arn:aws:kms:${testRegion}:${account}:key/00000000-0000-0000-0000-forgedforged`;
    const viaSub = await tenant.request(
      'PATCH',
      path(nsTeam, 'KeyspacesTable', 'orders', 'status'),
      { status: { current: { keyType: 'CustomerManaged', keyArn: forged } } },
      { contentType: 'application/merge-patch+json' },
    );
    expect(viaSub.status).toBe(403);
    figures.forbidden++;
    const viaMain = await tenant.request(
      'PATCH',
      path(nsTeam, 'KeyspacesTable', 'orders'),
      { status: { current: { keyType: 'CustomerManaged', keyArn: forged } } },
      { contentType: 'application/merge-patch+json' },
    );
    expect(viaMain.status).toBe(200);
    expect(JSON.stringify((viaMain.body as Status).status ?? {})).not.toContain(forged);
  }

  /** A grant in its own namespace (which does not unlock another namespace's key). */
  async function tenantGrantsItself(): Promise<void> {
    const selfGrant = await createAs(tenant, nsTeam, 'KeyReferenceGrant', 'self-grant', {
      from: [{ namespace: nsTeam }],
      to: [{ name: 'team-key' }],
    });
    expect(selfGrant.status).toBe(201);
  }

  /** Without a grant in the key's namespace: refused, naming what is missing; nothing in AWS. */
  async function refusedWithoutGrantNothingInAws(since: number): Promise<void> {
    const refused = await waitFor(
      nsTeam,
      'KeyspacesTable',
      'orders',
      condition('Stalled', 'True', 'ReferenceNotGranted'),
      'reference refused',
    );
    expect(refused.message).toContain('KeyReferenceGrant');
    expect(refused.message).toContain(nsKeys);
    expect(refused.message).toContain('team-key');
    figures.refusals++;
    await new Promise((r) => setTimeout(r, 3000)); // two resyncs: still nothing may happen
    const writes = keyChanges(await mutationsSince(since, [table.tableName], 'cassandra'));
    lost['AWS mutations for refused workloads'] += writes.length;
    expect(writes).toEqual([]);
  }

  it("the tenant runs workloads in its namespace and cannot touch the key owner's", slow, async () => {
    sharedArn = await serviceKey(nsKeys, 'team-key');
    shared2Arn = await serviceKey(nsKeys, 'team-key2');
    emulator.seed({
      cassandra: { keyspaces: [{ name: table.keyspaceName, tables: [{ name: table.tableName }] }] },
    });
    const since = await lastEventId();
    await tenantCreatesItsTable();
    await tenantForbiddenInKeyOwnersNamespace();
    await tenantCannotForgeStatus();
    await tenantGrantsItself();
    await refusedWithoutGrantNothingInAws(since);
  });

  it(
    'the key owner grants the reference: the workload converges; revoking stops further switches',
    slow,
    async () => {
      const since = await lastEventId();
      await create(nsKeys, 'KeyReferenceGrant', 'team-a', {
        from: [{ namespace: nsTeam }],
        to: [{ name: 'team-key' }, { name: 'team-key2' }],
      });
      await waitFor(
        nsTeam,
        'KeyspacesTable',
        'orders',
        readyOn(sharedArn),
        'converged after the grant',
        60_000,
      );
      const switched = (await mutationsSince(since, [table.tableName], 'cassandra')).filter(
        (c) => c.eventName === 'UpdateTable' && !c.errorCode,
      );
      expect(switched).toHaveLength(1);

      // Revoke: the workload reports it at once and stays where it is (no switch back, no switch on).
      const revoked = await lastEventId();
      const del = await adminIdentity().request('DELETE', path(nsKeys, 'KeyReferenceGrant', 'team-a'));
      expect(del.status).toBe(200);
      const c = await waitFor(
        nsTeam,
        'KeyspacesTable',
        'orders',
        condition('Stalled', 'True', 'ReferenceNotGranted'),
        'revocation reported',
      );
      expect(c.message).toContain(nsKeys);
      // The tenant asks for the other key the revoked grant covered: refused too.
      const patched = await tenant.request(
        'PATCH',
        path(nsTeam, 'KeyspacesTable', 'orders'),
        { spec: { key: { kmsKeyRef: { name: 'team-key2', namespace: nsKeys } } } },
        { contentType: 'application/merge-patch+json' },
      );
      expect(patched.status).toBe(200);
      await waitFor(
        nsTeam,
        'KeyspacesTable',
        'orders',
        (o) => {
          const s = condition('Stalled', 'True', 'ReferenceNotGranted')(o);
          return s?.message.includes('team-key2') ? s : undefined;
        },
        'the new reference refused',
      );
      figures.refusals += 2;
      await new Promise((r) => setTimeout(r, 3000)); // two resyncs
      const after = keyChanges(await mutationsSince(revoked, [table.tableName], 'cassandra'));
      lost['AWS mutations for refused workloads'] += after.length;
      expect(after).toEqual([]);
      const o = await getObj(nsTeam, 'KeyspacesTable', 'orders');
      expect(o?.status?.current?.keyArn).toBe(sharedArn);
      expect(o?.status?.current?.keyArn).not.toBe(shared2Arn);
      await expectStatusInvariants(nsTeam);
    },
  );
});

describe('ARN allow-lists (--tenancy-config)', () => {
  it('Flink and EMR resources outside the allow-list are refused with zero AWS mutations', slow, async () => {
    const since = await lastEventId();
    emulator.seed({ kinesisanalytics: { applications: [{ name: 'payments', status: 'RUNNING' }] } });
    const emr = emrId('00fd');
    emulator.seed({
      'emr-serverless': { applications: [{ name: 'other-team', id: emr, state: 'CREATED' }] },
    });
    await create(nsFenced, 'FlinkApplication', 'payments', {
      applicationName: 'payments',
      key: { keyId: allowedKeyArn },
    });
    await create(nsFenced, 'EmrServerlessApplication', 'other-team', {
      applicationId: emr,
      key: { keyId: allowedKeyArn },
    });
    const flink = await waitFor(
      nsFenced,
      'FlinkApplication',
      'payments',
      condition('Stalled', 'True', 'ResourceNotAllowed'),
      'Flink refused',
    );
    expect(flink.message).toContain(`application/payments`);
    expect(flink.message).toContain(nsFenced);
    const emrRefused = await waitFor(
      nsFenced,
      'EmrServerlessApplication',
      'other-team',
      condition('Stalled', 'True', 'ResourceNotAllowed'),
      'EMR refused',
    );
    expect(emrRefused.message).toContain(`/applications/${emr}`);
    figures.refusals += 2;
    await new Promise((r) => setTimeout(r, 3000));
    // Nothing else in this file touches Flink or EMR at this point: any mutation there is theirs.
    const writes = [
      ...(await mutationsSince(since, [], 'kinesisanalytics')),
      ...(await mutationsSince(since, [], 'emr-serverless')),
    ];
    lost['AWS mutations for refused workloads'] += writes.length;
    expect(writes).toEqual([]);
  });

  it("a workload's key outside the key allow-list is refused; the allowed key proceeds", slow, async () => {
    const since = await lastEventId();
    emulator.seed({
      cassandra: {
        keyspaces: [{ name: 'fenced_ks', tables: [{ name: 'refused_t' }, { name: 'allowed_t' }] }],
      },
    });
    await create(nsFenced, 'KeyspacesTable', 'refused-t', {
      keyspaceName: 'fenced_ks',
      tableName: 'refused_t',
      key: { keyId: otherKeyArn },
    });
    await create(nsFenced, 'KeyspacesTable', 'allowed-t', {
      keyspaceName: 'fenced_ks',
      tableName: 'allowed_t',
      key: { keyId: allowedKeyArn },
    });
    const refused = await waitFor(
      nsFenced,
      'KeyspacesTable',
      'refused-t',
      condition('Stalled', 'True', 'KeyNotAllowed'),
      'key refused',
    );
    expect(refused.message).toContain(otherKeyArn);
    expect(refused.message).toContain(nsFenced);
    figures.refusals++;
    await waitFor(nsFenced, 'KeyspacesTable', 'allowed-t', readyOn(allowedKeyArn), 'allowed key', 60_000);
    // The table itself is in the allow-list (the operator may claim it); its key is not: no switch,
    // and no call names the refused key.
    const writes = keyChanges(await mutationsSince(since, ['refused_t'], 'cassandra'));
    const withKey = (await admin.calls({ since })).filter(
      (c) => mutating.has(c.eventName) && JSON.stringify(c.requestParameters).includes(otherKeyArn),
    );
    lost['AWS mutations for refused workloads'] += writes.length + withKey.length;
    expect(writes).toEqual([]);
    expect(withKey).toEqual([]);
    await expectStatusInvariants(nsFenced);
  });
});

/** The workloads of the logged switches, one or two of each service (seeded in the emulator). */
const secWorkloads = [
  ['FlinkApplication', 'sec-app'],
  ['KeyspacesTable', 't1'],
  ['KeyspacesTable', 't2'],
  ['EmrServerlessApplication', 'sec-emr'],
] as const;

/**
 * Switches all three services onto `keyArn` through throttling (a quarter of the calls of every
 * service, 12 at most); one table through a per-object role, so its calls use STS session credentials.
 */
async function switchAllThreeThroughThrottling(keyArn: string): Promise<void> {
  emulator.seed({ kinesisanalytics: { applications: [{ name: 'sec-app', status: 'RUNNING' }] } });
  emulator.seed({
    cassandra: { keyspaces: [{ name: 'ks_sec', tables: [{ name: 't1' }, { name: 't2' }] }] },
  });
  const emr = emrId('00fa');
  emulator.seed({ 'emr-serverless': { applications: [{ name: 'sec-emr', id: emr, state: 'CREATED' }] } });
  await admin.setFaults(
    ['cassandra', 'kms', 'kinesisanalytics', 'emr-serverless', 'sts'].map((service) => ({
      service,
      throttleRate: 0.25,
      limit: 12,
    })),
  );
  try {
    await create(nsKeys, 'FlinkApplication', 'sec-app', {
      applicationName: 'sec-app',
      key: { kmsKeyRef: { name: 'svc' } },
    });
    await create(nsKeys, 'KeyspacesTable', 't1', {
      keyspaceName: 'ks_sec',
      tableName: 't1',
      key: { kmsKeyRef: { name: 'svc' } },
    });
    // A per-object role: its calls use STS session credentials (a secret access key and token).
    await create(nsKeys, 'KeyspacesTable', 't2', {
      keyspaceName: 'ks_sec',
      tableName: 't2',
      roleArn: role,
      key: { keyId: keyArn },
    });
    await create(nsKeys, 'EmrServerlessApplication', 'sec-emr', {
      applicationId: emr,
      key: { kmsKeyRef: { name: 'svc' } },
    });
    for (const [kind, name] of secWorkloads) {
      await waitFor(nsKeys, kind, name, readyOn(keyArn), `${kind}/${name} switched`, 120_000);
    }
    figures.faultsInjected = Object.values(await admin.faultCounts()).reduce((a, b) => a + b, 0);
    expect(figures.faultsInjected).toBeGreaterThan(0);
  } finally {
    await admin.clearFaults();
  }
  const assumed = (await admin.calls({ service: 'sts', eventName: 'AssumeRole' })).filter(
    (c) => !c.errorCode,
  );
  expect(assumed.length).toBeGreaterThan(0);
}

/**
 * For the errors: a key whose policy the operator may not read, a key Managed Flink may not use, and
 * the workloads that will meet them.
 */
async function seedErrorScenario(): Promise<{ unreadable: string; noFlinkKey: string; emr2: string }> {
  const unreadable = (await kms.send(new CreateKeyCommand({ Policy: rootOnlyKeyPolicy }))).KeyMetadata!.Arn!;
  const noFlinkKey = (await kms.send(new CreateKeyCommand({ Policy: rootOnlyKeyPolicy }))).KeyMetadata!.Arn!;
  emulator.seed({ cassandra: { keyspaces: [{ name: 'ks_sec3', tables: [{ name: 't3' }] }] } });
  emulator.seed({ kinesisanalytics: { applications: [{ name: 'sec-app2', status: 'READY' }] } });
  const emr2 = emrId('00fb');
  emulator.seed({ 'emr-serverless': { applications: [{ name: 'sec-emr2', id: emr2, state: 'CREATED' }] } });
  return { unreadable, noFlinkKey, emr2 };
}

/** A key policy the operator may not read (access denied): KeyUsable False, KeyPolicyUnreadable. */
async function keyPolicyUnreadable(unreadable: string): Promise<void> {
  await admin.setFaults([
    {
      service: 'kms',
      operation: 'GetKeyPolicy',
      error: {
        code: 'AccessDeniedException',
        rate: 1,
        message: 'not authorized to perform kms:GetKeyPolicy',
      },
    },
  ]);
  try {
    await create(nsKeys, 'KeyspacesTable', 't3', {
      keyspaceName: 'ks_sec3',
      tableName: 't3',
      key: { keyId: unreadable },
    });
    await waitFor(
      nsKeys,
      'KeyspacesTable',
      't3',
      condition('KeyUsable', 'False', 'KeyPolicyUnreadable'),
      'policy unreadable',
    );
  } finally {
    await admin.clearFaults();
  }
}

/** A key Managed Flink may not use (failing pre-flight) and a switch AWS refuses (access denied). */
async function preflightFailsAndSwitchDenied(noFlinkKey: string, emr2: string): Promise<void> {
  await admin.setFaults([
    {
      service: 'emr-serverless',
      operation: 'UpdateApplication',
      error: { code: 'AccessDeniedException', rate: 1 },
    },
  ]);
  try {
    await create(nsKeys, 'FlinkApplication', 'sec-app2', {
      applicationName: 'sec-app2',
      key: { keyId: noFlinkKey },
    });
    await create(nsKeys, 'EmrServerlessApplication', 'sec-emr2', {
      applicationId: emr2,
      key: { kmsKeyRef: { name: 'svc' } },
    });
    const preflight = await waitFor(
      nsKeys,
      'FlinkApplication',
      'sec-app2',
      (o) => {
        const c = condition('KeyUsable', 'False')(o);
        return c && c.reason !== 'KeyPolicyUnreadable' ? c : undefined;
      },
      'Flink pre-flight fails',
    );
    expect(preflight.message).toContain(noFlinkKey);
    await waitFor(
      nsKeys,
      'EmrServerlessApplication',
      'sec-emr2',
      (o) => {
        const c = condition('Ready', 'False')(o);
        return c && /AccessDenied/.test(`${c.reason} ${c.message}`) ? c : undefined;
      },
      'EMR switch denied',
      60_000,
    );
  } finally {
    await admin.clearFaults();
  }
}

/** The log: every line is JSON, the scenario is in it, and no secret is (the detectors are live). */
async function expectLogHoldsNoSecret(): Promise<void> {
  const text = await eventually(
    async () => {
      const t = readFileSync(logFile, 'utf8');
      return t.includes('AccessDenied') ? t : undefined;
    },
    { what: 'access denied in the log', timeoutMs: 20_000 },
  );
  const lines = text.split('\n').filter((l) => l !== '');
  figures.logLines = lines.length;
  for (const l of lines) JSON.parse(l);
  expect(lines.length).toBeGreaterThan(50);
  expect(lines.some((l) => /"level":"(debug|trace)"/.test(l))).toBe(true);
  expect(lines.some((l) => /"level":"(warn|error)"/.test(l))).toBe(true);
  // The detectors are live: each finds its secret where it is plainly present.
  const planted = [
    awsCreds.secretAccessKey,
    awsCreds.sessionToken,
    `${stsTokenPrefix}abc`,
    ...kubeSecrets,
    'Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=0123456789abcdef0123',
    'X-Amz-Security-Token: y',
    'Bearer abcdefghijkl',
    '{"authorization":"x","secretAccessKey":"y"}',
    '-----BEGIN RSA PRIVATE KEY-----',
  ].join('\n');
  for (const d of detectors()) expect(d.count(planted), d.what).toBeGreaterThan(0);
  const logLeaks = leaksIn(text);
  lost['secrets in the log'] += logLeaks.length;
  expect(logLeaks).toEqual([]);
  figures.accessKeyIdMentions = text.split(awsCreds.accessKeyId).length - 1;
}

/** Events the operator wrote, and every status, in all three namespaces: no secret. */
async function expectEventsAndStatusesHoldNoSecret(): Promise<void> {
  const events: unknown[] = [];
  const objects: unknown[] = [];
  for (const ns of [nsTeam, nsKeys, nsFenced]) {
    events.push(...(await listJson(`/apis/events.k8s.io/v1/namespaces/${ns}/events`)));
    events.push(...(await listJson(`/api/v1/namespaces/${ns}/events`)));
    for (const plural of Object.values(plurals))
      objects.push(...(await listJson(`/apis/${apiVersion}/namespaces/${ns}/${plural}`)));
  }
  figures.eventsScanned = events.length;
  figures.objectsScanned = objects.length;
  expect(
    events.some((e) => (e as { reason?: string }).reason === 'SwitchingKey'),
    'the operator recorded switches',
  ).toBe(true);
  const eventLeaks = leaksIn(JSON.stringify(events));
  lost['secrets in Events'] += eventLeaks.length;
  expect(eventLeaks).toEqual([]);
  const statusLeaks = leaksIn(JSON.stringify(objects));
  lost['secrets in statuses'] += statusLeaks.length;
  expect(statusLeaks).toEqual([]);
}

describe('no credentials or key material in logs, Events or statuses', () => {
  it('switches on all three services through throttling, access denied and failing pre-flights leak nothing', {
    timeout: 200_000,
  }, async () => {
    const keyArn = await serviceKey(nsKeys, 'svc');
    await switchAllThreeThroughThrottling(keyArn);
    // Errors: a key policy the operator may not read (access denied), then a key Managed Flink may
    // not use (failing pre-flight) and a switch AWS refuses (access denied on UpdateApplication).
    const { unreadable, noFlinkKey, emr2 } = await seedErrorScenario();
    await keyPolicyUnreadable(unreadable);
    await preflightFailsAndSwitchDenied(noFlinkKey, emr2);
    await expectLogHoldsNoSecret();
    await expectEventsAndStatusesHoldNoSecret();
    await expectStatusInvariants(nsKeys);
  });
});

const fetchText = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  return { status: res.status, text: await res.text() };
};
type Bodies = Record<string, { status: number; text: string }>;

/** Every probe, /metrics and a few requests that must fail; each listener serves only its own paths. */
async function probeBodies(healthUrl: string, metricsUrl: string) {
  const bodies = {
    healthz: await fetchText(`${healthUrl}/healthz`),
    readyz: await fetchText(`${healthUrl}/readyz`),
    readyzVerbose: await fetchText(`${healthUrl}/readyz?verbose`),
    livez: await fetchText(`${healthUrl}/livez`),
    metrics: await fetchText(`${metricsUrl}/metrics`),
    notFound: await fetchText(`${healthUrl}/debug/pprof`),
    post: await fetchText(`${healthUrl}/healthz`, { method: 'POST', body: '{}' }),
    traversal: await fetchText(`${metricsUrl}/metrics/../../etc/passwd`),
  };
  expect(bodies.healthz.status).toBe(200);
  expect(bodies.readyz.status).toBe(200);
  expect(bodies.metrics.status).toBe(200);
  expect(bodies.notFound.status).toBe(404);
  expect(bodies.post.status).toBe(405);
  expect(bodies.traversal.status).toBe(404);
  // Each listener serves only its own paths.
  expect((await fetchText(`${healthUrl}/metrics`)).status).toBe(404);
  expect((await fetchText(`${metricsUrl}/healthz`)).status).toBe(404);
  return bodies;
}

/** The objects this file creates: none of their names may be a label value. */
const objectNames = [
  'team-key',
  'team-key2',
  'svc',
  'orders',
  'payments',
  'other-team',
  'refused-t',
  'allowed-t',
  'sec-app',
  'sec-emr',
];

/** Secrets, ARNs, account ids, access key ids, stack traces and namespace names in any body. */
function sensitiveTextIn(bodies: Bodies): string[] {
  const sensitive = [
    { what: 'ARN', re: /arn:aws/ },
    { what: 'account id', re: new RegExp(account) },
    { what: 'access key id', re: new RegExp(awsCreds.accessKeyId) },
    { what: 'stack trace', re: /\n\s+at [^\n]+:\d+:\d+/ },
    { what: 'namespace name', re: new RegExp(`${nsTeam}|${nsKeys}|${nsFenced}`) },
  ];
  const problems: string[] = [];
  for (const [endpoint, { text }] of Object.entries(bodies)) {
    figures.probesScanned++;
    for (const leak of leaksIn(text)) problems.push(`${endpoint}: ${leak}`);
    for (const s of sensitive) {
      figures.leakChecks++;
      if (s.re.test(text)) problems.push(`${endpoint}: ${s.what}`);
    }
  }
  return problems;
}

/**
 * The per-object families (docs/metrics.md) name objects and namespaces by design, so they are
 * checked apart: only their documented labels, and no ARN, account id or access key id in a value.
 */
const perObjectFamilies = new Set(Object.keys(resourceMetricFamilies));
const perObjectLabels = new Set([
  'kind',
  'namespace',
  'name',
  'condition',
  'status',
  'reason',
  'state',
  'source',
]);

/** The metrics text split into the per-object families' lines and the rest. */
function splitPerObject(text: string): { perObject: string; rest: string } {
  const perObject: string[] = [];
  const rest: string[] = [];
  for (const line of text.split('\n')) {
    const family = /^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][\w:]*)/.exec(line)?.[1];
    (family && perObjectFamilies.has(family) ? perObject : rest).push(line);
  }
  return { perObject: perObject.join('\n'), rest: rest.join('\n') };
}

function perObjectProblems(text: string): string[] {
  const problems: string[] = [];
  const secret = new RegExp(`arn:aws|${account}|${awsCreds.accessKeyId}`);
  for (const s of parseMetrics(text)) {
    for (const [label, value] of Object.entries(s.labels)) {
      figures.leakChecks++;
      if (!perObjectLabels.has(label)) problems.push(`${s.family}{${label}}: not a documented label`);
      if (secret.test(value)) problems.push(`${s.family}{${label}="${value}"}: an ARN, account id or key id`);
    }
  }
  return problems;
}

/** Label values: only controller and queue names and the fixed enumerations; no object names. */
function labelProblems(metricsText: string): string[] {
  const samples = parseMetrics(metricsText);
  figures.metricSeries = samples.length;
  const controllers = new Set([
    'kmskey',
    'flinkapplication',
    'keyspacestable',
    'emrserverlessapplication',
    'emrserverlessjobrun',
    'emrserverlesssession',
  ]);
  const problems: string[] = [];
  for (const s of samples) {
    for (const [label, value] of Object.entries(s.labels)) {
      figures.leakChecks++;
      const lease = s.family === 'leader_election_master_status' && value === 'cmk-operator';
      if ((label === 'controller' || label === 'name') && !controllers.has(value) && !lease)
        problems.push(`${s.family}{${label}="${value}"}: not a controller or queue name`);
      if (objectNames.includes(value)) problems.push(`${s.family}{${label}="${value}"}: an object's name`);
    }
  }
  return problems;
}

/** Bound where configured: loopback, not the machine's other addresses. */
async function expectLoopbackOnly(healthUrl: string, metricsUrl: string): Promise<void> {
  expect(healthUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(healthUrl).not.toBe(metricsUrl);
  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && !a.internal && a.family === 'IPv4')?.address;
  if (external) {
    for (const url of [healthUrl, metricsUrl]) {
      const port = Number(new URL(url).port);
      const outcome = await new Promise<string>((resolve) => {
        const s = connect({ host: external, port, timeout: 3000 });
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('timeout', () => {
          s.destroy();
          resolve('timeout');
        });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(outcome, `${external}:${port}`).not.toBe('connected');
      figures.externalProbes++;
    }
  }
}

function recordSecurityFigures(): void {
  recordFigures('security', {
    title: 'Security (tenancy, secrets in logs, metrics exposure)',
    reproduce: 'npx vitest run --project integration test/integration/reliability-security.test.ts',
    figures: [
      {
        what: 'Kubernetes identities used (admin, operator kubeconfig with client key and token, tenant user)',
        value: 3,
      },
      {
        what: 'AWS identities used (environment credentials with session token, an assumed-role session)',
        value: 2,
      },
      { what: 'tenant requests outside its namespace refused with 403', value: figures.forbidden },
      {
        what: 'workloads refused by grants or allow-lists (conditions checked)',
        value: figures.refusals,
      },
      { what: 'faults injected during the logged key switches', value: figures.faultsInjected },
      { what: 'log lines scanned (trace level)', value: figures.logLines },
      { what: 'Events scanned', value: figures.eventsScanned },
      { what: 'objects (statuses) scanned', value: figures.objectsScanned },
      { what: 'probe and metrics responses scanned', value: figures.probesScanned },
      { what: 'metric series scanned', value: figures.metricSeries },
      { what: 'leak checks made', value: figures.leakChecks },
      {
        what: 'listener ports probed from a non-loopback address (none answered)',
        value: figures.externalProbes,
      },
      {
        what: 'ownership-claim tags on workloads whose key was refused (not a key change)',
        value: figures.ownershipClaims,
      },
      {
        what: 'log mentions of the access key id (allowed: an identifier, not a secret)',
        value: figures.accessKeyIdMentions,
      },
    ],
    lost,
    headline: { faultsInjected: figures.faultsInjected },
  });
}

describe('metrics and health endpoints expose nothing sensitive', () => {
  it(
    'probes and /metrics: no secrets, ARNs, account ids or stack traces; object names only in the per-object families',
    slow,
    async () => {
      const { healthUrl, metricsUrl } = operator.health;
      const bodies = await probeBodies(healthUrl, metricsUrl);
      const { perObject, rest } = splitPerObject(bodies.metrics.text);
      const problems = [
        ...sensitiveTextIn({ ...bodies, metrics: { ...bodies.metrics, text: rest } }),
        ...labelProblems(rest),
        ...perObjectProblems(perObject),
      ];
      expect(perObject, 'the per-object families are served').toContain('cmk_object_condition{');
      // Cardinality: the operator's series are the same set as before any object existed.
      const now = operatorSeries(bodies.metrics.text);
      expect(Object.fromEntries(now)).toEqual(Object.fromEntries(seriesAtStart));
      lost['secrets or ARNs in metrics and probes'] += problems.length;
      expect(problems).toEqual([]);
      await expectLoopbackOnly(healthUrl, metricsUrl);
      recordSecurityFigures();
      for (const [what, n] of Object.entries(lost)) expect(n, what).toBe(0);
    },
  );
});
