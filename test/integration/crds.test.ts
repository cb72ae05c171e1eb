// The generated CRDs on a real kube-apiserver: they install, kubectl-facing metadata works, valid
// manifests are accepted, and bad manifests are refused with a message that names the field and
// says how to fix it (CEL rules, enums, immutability).

import { beforeAll, describe, expect, it } from 'vitest';
import { apiVersion } from '../../src/api/shared.ts';
import { adminIdentity, createNamespace } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';

const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
let ns: string;

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('crds');
});

const plural: Record<string, string> = {
  KmsKey: 'kmskeys',
  FlinkApplication: 'flinkapplications',
  KeyspacesTable: 'keyspacestables',
  EmrServerlessApplication: 'emrserverlessapplications',
  EmrServerlessJobRun: 'emrserverlessjobruns',
  KeyReferenceGrant: 'keyreferencegrants',
};

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
      'flinkapp',
      'kk',
      'krg',
      'kstable',
    ]);
  });
});

describe('bad manifests are refused with a message naming the field and the fix', () => {
  it.each([
    ['KmsKey with neither keyId nor create', 'KmsKey', {}, 'set exactly one of keyId'],
    [
      'KmsKey with both keyId and create',
      'KmsKey',
      { keyId: 'alias/a', create: {} },
      'set exactly one of keyId',
    ],
    ['a key id that is no key', 'KmsKey', { keyId: 'not-a-key' }, 'spec.keyId: Invalid value'],
    ['an AWS managed key alias', 'KmsKey', { keyId: 'alias/aws/ebs' }, 'AWS managed keys'],
    [
      'a rotation period below 90 days',
      'KmsKey',
      { keyId: 'alias/a', rotation: { periodInDays: 30 } },
      'between 90 and 2560',
    ],
    [
      'a rotation period above 2560 days',
      'KmsKey',
      { keyId: 'alias/a', rotation: { periodInDays: 3000 } },
      'spec.rotation.periodInDays',
    ],
    [
      'a pending window below 7 days',
      'KmsKey',
      { keyId: 'alias/a', deletionPolicy: 'ScheduleDeletion', pendingWindowInDays: 5 },
      'between 7 and 30',
    ],
    [
      'a pending window without ScheduleDeletion',
      'KmsKey',
      { keyId: 'alias/a', pendingWindowInDays: 10 },
      'applies only with deletionPolicy',
    ],
    ['an unknown mode', 'KmsKey', { keyId: 'alias/a', mode: 'Sometimes' }, 'spec.mode: Unsupported value'],
    [
      'an unknown deletion policy',
      'KmsKey',
      { keyId: 'alias/a', deletionPolicy: 'Destroy' },
      'spec.deletionPolicy: Unsupported value',
    ],
    ['a reserved alias for a new key', 'KmsKey', { create: { alias: 'alias/aws/mine' } }, 'reserved'],
    [
      'a region that is not a Region code',
      'KmsKey',
      { keyId: 'alias/a', region: 'Europe' },
      'must be an AWS Region code',
    ],
    [
      'a user ARN as role',
      'KmsKey',
      { keyId: 'alias/a', roleArn: 'arn:aws:iam::111122223333:user/bob' },
      'must be an IAM role ARN',
    ],
    [
      'a wrong type',
      'KmsKey',
      { keyId: 'alias/a', rotation: { periodInDays: 'yearly' } },
      'spec.rotation.periodInDays: Invalid value',
    ],
    [
      'a workload with two keys',
      'FlinkApplication',
      flink({ key: { kmsKeyRef: { name: 'a' }, awsOwned: true } }),
      'set exactly one of kmsKeyRef, keyId or awsOwned',
    ],
    [
      'a workload with awsOwned: false',
      'FlinkApplication',
      flink({ key: { awsOwned: false } }),
      'awsOwned: false is not meaningful',
    ],
    [
      'a workload without a key',
      'KeyspacesTable',
      { keyspaceName: 'shop', tableName: 'orders' },
      'spec.key: Required value',
    ],
    [
      'a Flink application name with spaces',
      'FlinkApplication',
      flink({ applicationName: 'my app' }),
      'applicationName must be',
    ],
    [
      'an unknown restart policy',
      'FlinkApplication',
      flink({ restartAfterRotation: 'Sometimes' }),
      'spec.restartAfterRotation: Unsupported value',
    ],
    [
      'a maintenance window at 25:00',
      'FlinkApplication',
      flink({ maintenanceWindow: { start: '25:00', durationMinutes: 60 } }),
      'HH:MM',
    ],
    [
      'a maintenance window of 5 minutes',
      'FlinkApplication',
      flink({ maintenanceWindow: { start: '01:00', durationMinutes: 5 } }),
      'between 15 and 1440',
    ],
    ['a table name with a dash', 'KeyspacesTable', table({ tableName: 'my-table' }), 'tableName must be'],
    [
      'cancelRunningJobs without StopAndUpdate',
      'EmrServerlessApplication',
      emrApp({ cancelRunningJobs: true }),
      'cancelRunningJobs applies only with',
    ],
    [
      'an encryption context with an AWS owned key',
      'EmrServerlessApplication',
      emrApp({ key: { awsOwned: true }, encryptionContext: { a: 'b' } }),
      'encryptionContext applies only',
    ],
    [
      'an upper-case EMR application id',
      'EmrServerlessApplication',
      emrApp({ applicationId: '00FABC' }),
      'applicationId must be',
    ],
    [
      'a job with two drivers',
      'EmrServerlessJobRun',
      jobRun({ jobDriver: { sparkSubmit: { entryPoint: 'a' }, hive: { query: 'b' } } }),
      'exactly one of sparkSubmit or hive',
    ],
    [
      'a job with neither application nor id',
      'EmrServerlessJobRun',
      jobRun({ applicationRef: undefined }),
      'exactly one of applicationRef',
    ],
    [
      'a job with a bad execution role',
      'EmrServerlessJobRun',
      jobRun({ executionRoleArn: 'role/job' }),
      'executionRoleArn must be an IAM role ARN',
    ],
    ['a grant from no namespace', 'KeyReferenceGrant', { from: [] }, 'spec.from'],
  ] as const)('%s', async (_name, kind, spec, fragment) => {
    const res = await create(kind, spec);
    expect(res.status).toBe(422);
    expect((res.body as { message: string }).message).toContain(fragment);
  });
});

describe('identity fields cannot change', () => {
  const update = async (kind: string, spec: object, change: (s: Record<string, unknown>) => void) => {
    const created = await create(kind, spec);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const obj = created.body as { metadata: { name: string }; spec: Record<string, unknown> };
    change(obj.spec);
    return adminIdentity().request('PUT', path(kind, obj.metadata.name), obj);
  };

  it.each([
    [
      'KmsKey keyId',
      'KmsKey',
      { keyId: 'alias/a' },
      (s: Record<string, unknown>) => {
        s['keyId'] = 'alias/b';
      },
      'keyId is immutable',
    ],
    [
      'KmsKey create settings',
      'KmsKey',
      { create: { description: 'a' } },
      (s: Record<string, unknown>) => {
        s['create'] = { description: 'b' };
      },
      'create is immutable',
    ],
    [
      'KmsKey region',
      'KmsKey',
      { keyId: 'alias/a', region: 'eu-west-1' },
      (s: Record<string, unknown>) => {
        s['region'] = 'us-east-1';
      },
      'region is immutable',
    ],
    [
      'Flink applicationName',
      'FlinkApplication',
      flink(),
      (s: Record<string, unknown>) => {
        s['applicationName'] = 'other';
      },
      'applicationName is immutable',
    ],
    [
      'Keyspaces tableName',
      'KeyspacesTable',
      table(),
      (s: Record<string, unknown>) => {
        s['tableName'] = 'other';
      },
      'tableName is immutable',
    ],
    [
      'adding a region to a workload',
      'KeyspacesTable',
      table(),
      (s: Record<string, unknown>) => {
        s['region'] = 'eu-west-1';
      },
      'region cannot be added or removed',
    ],
    [
      'a submitted job run',
      'EmrServerlessJobRun',
      jobRun(),
      (s: Record<string, unknown>) => {
        s['name'] = 'again';
      },
      'a job run is immutable',
    ],
  ] as const)('%s', async (_name, kind, spec, change, fragment) => {
    const res = await update(kind, spec, change);
    expect(res.status).toBe(422);
    expect((res.body as { message: string }).message).toContain(fragment);
  });

  it('the key of a workload can change (that is the point)', async () => {
    const res = await update('FlinkApplication', flink(), (s) => {
      s['key'] = { keyId: keyArn };
    });
    expect(res.status).toBe(200);
  });
});
