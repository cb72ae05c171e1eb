// The generated CRDs on a real kube-apiserver: they install, kubectl-facing metadata works, valid
// manifests are accepted, and fields meant to change can change. The refusals (with a message naming
// the field and the fix) are the corpus of reliability-bad-input.test.ts.

import { beforeAll, describe, expect, it } from 'vitest';
import { apiVersion } from '../../src/api/shared.ts';
import { adminIdentity, createNamespace } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';
import { plurals as plural } from './support/operator.ts';

const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
let ns: string;

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('crds');
});

const path = (kind: string, name?: string) =>
  `/apis/${apiVersion}/namespaces/${ns}/${plural[kind]}${name ? `/${name}` : ''}`;
let counter = 0;
const manifest = (kind: string, spec: unknown) => ({
  apiVersion,
  kind,
  metadata: { name: `${kind.toLowerCase()}-${++counter}` },
  spec,
});
const create = (kind: string, spec: unknown) =>
  adminIdentity().request('POST', path(kind), manifest(kind, spec));

const flink = (spec: object = {}) => ({
  applicationName: 'orders',
  key: { kmsKeyRef: { name: 'orders-key' } },
  ...spec,
});
const table = (spec: object = {}) => ({
  keyspaceName: 'shop',
  tableName: 'orders',
  key: { keyId: keyArn },
  ...spec,
});
const emrApp = (spec: object = {}) => ({
  applicationId: '00fabc123def4567',
  key: { kmsKeyRef: { name: 'etl' } },
  ...spec,
});
const jobRun = (spec: object = {}) => ({
  applicationRef: { name: 'etl' },
  executionRoleArn: 'arn:aws:iam::111122223333:role/job',
  jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py' } },
  ...spec,
});

describe('valid manifests are accepted', () => {
  it.each([
    ['KmsKey adopting by alias', 'KmsKey', { keyId: 'alias/orders', rotation: { periodInDays: 180 } }],
    [
      'KmsKey adopting by ARN',
      'KmsKey',
      { keyId: keyArn, deletionPolicy: 'ScheduleDeletion', pendingWindowInDays: 7 },
    ],
    [
      'KmsKey creating a key',
      'KmsKey',
      { create: { alias: 'alias/new', policy: { services: ['Keyspaces', 'ManagedFlink'] } } },
    ],
    [
      'FlinkApplication',
      'FlinkApplication',
      flink({
        restartAfterRotation: 'Auto',
        maintenanceWindow: { start: '02:30', durationMinutes: 60, days: ['Sat'] },
      }),
    ],
    ['KeyspacesTable on an AWS owned key', 'KeyspacesTable', table({ key: { awsOwned: true } })],
    [
      'EmrServerlessApplication',
      'EmrServerlessApplication',
      emrApp({ whenStarted: 'StopAndUpdate', cancelRunningJobs: true, encryptionContext: { team: 'etl' } }),
    ],
    ['EmrServerlessJobRun', 'EmrServerlessJobRun', jobRun()],
    ['KeyReferenceGrant', 'KeyReferenceGrant', { from: [{ namespace: 'team-b' }] }],
  ] as const)('%s', async (_name, kind, spec) => {
    const res = await create(kind, spec);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  it('kubectl get cmk lists every kind (the category) and short names resolve', async () => {
    const res = await adminIdentity().request('GET', `/apis/${apiVersion}`);
    const resources = (
      res.body as { resources: Array<{ name: string; categories?: string[]; shortNames?: string[] }> }
    ).resources;
    const top = resources.filter((r) => !r.name.includes('/'));
    expect(top.every((r) => r.categories?.includes('cmk'))).toBe(true);
    expect(top.map((r) => r.shortNames?.[0]).sort()).toEqual([
      'emrapp',
      'emrjob',
      'emrsession',
      'flinkapp',
      'kk',
      'krg',
      'kstable',
    ]);
  });
});

// Bad manifests (limits, patterns, enums, wrong types, missing and mutually exclusive fields) and
// forbidden updates of immutable fields: the file-based corpus in test/corpus/invalid/, applied by
// test/integration/reliability-bad-input.test.ts.

describe('mutable fields can change', () => {
  const update = async (kind: string, spec: object, change: (s: Record<string, unknown>) => void) => {
    const created = await create(kind, spec);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const obj = created.body as { metadata: { name: string }; spec: Record<string, unknown> };
    change(obj.spec);
    return adminIdentity().request('PUT', path(kind, obj.metadata.name), obj);
  };

  it('the key of a workload can change (that is the point)', async () => {
    const res = await update('FlinkApplication', flink(), (s) => {
      s['key'] = { keyId: keyArn };
    });
    expect(res.status).toBe(200);
  });

  it("a KmsKey's rotation, mode and protection can change, with its region unchanged", async () => {
    const res = await update('KmsKey', { keyId: 'alias/a', region: 'eu-west-1' }, (s) => {
      s['rotation'] = { periodInDays: 180, onDemandToken: 'now' };
      s['mode'] = 'Observe';
      s['protection'] = { reenable: true };
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });
});
