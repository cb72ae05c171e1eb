// The KmsKey deletion guard counts what AWS shows using a key, not only Kubernetes objects: a
// table nobody manages, a workload deleted with Orphan (its resource stays on the key), and a
// Managed Flink snapshot taken under the key each hold a ScheduleDeletion, named in DeletionBlocked;
// status.usage reports them. The key usage inventory runs as in production (a paced scan of the
// Region), here every 2 s. Real kube-apiserver + the AWS emulator over HTTP.

import { EMRServerlessClient, StartJobRunCommand } from '@aws-sdk/client-emr-serverless';
import {
  CreateApplicationSnapshotCommand,
  KinesisAnalyticsV2Client,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlCmkCommand } from '../../src/cli/kubectl-cmk.ts';
import { eventually } from './support/cluster.ts';
import { condition, testRegion, useOperator } from './support/operator.ts';

const f = useOperator({
  inventoryPeriodMs: 2000,
  // Job runs stay RUNNING (the audit of job-level keys looks at runs still active).
  emulatorConfig: {
    transitions: {
      default: { min: 200, max: 400 },
      'emr-serverless.JOB_RUNNING': { min: 600_000, max: 600_000 },
    },
  },
});
let kms: KMSClient;
let flink: KinesisAnalyticsV2Client;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
  flink = new KinesisAnalyticsV2Client(f.awsConfig());
});

const account = '111122223333';
const keyState = async (arn: string) =>
  (await kms.send(new DescribeKeyCommand({ KeyId: arn }))).KeyMetadata?.KeyState;
const blocked = condition('DeletionBlocked', 'True', 'KeyInUse');
interface KeyView {
  status?: {
    keyArn?: string;
    usage?: {
      aws: number;
      unmanaged: number;
      unmanagedUsers?: Array<{ resourceArn: string; what: string }>;
      unread?: Array<{ where: string; reason: string }>;
    };
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  };
}

/** A KmsKey that creates its key, may schedule its deletion, and is Ready; resolves to the key ARN. */
async function deletableKey(name: string): Promise<string> {
  await f.create('KmsKey', name, {
    create: { policy: { services: ['ManagedFlink', 'Keyspaces', 'EmrServerless'] } },
    deletionPolicy: 'ScheduleDeletion',
    pendingWindowInDays: 7,
  });
  return f.waitFor<KeyView, string>(
    'KmsKey',
    name,
    (o) =>
      o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        ? o.status.keyArn
        : undefined,
    `${name} Ready`,
    30_000,
  );
}

/** Deletes the KmsKey and returns the DeletionBlocked message once the guard holds it. */
async function deleteAndExpectBlocked(name: string, keyArn: string): Promise<string> {
  await f.remove('KmsKey', name);
  const c = await f.waitFor('KmsKey', name, blocked, `${name} DeletionBlocked`, 30_000);
  expect(await keyState(keyArn)).toBe('Enabled');
  return c.message;
}

/** The operator's cmk_inventory_unread for the test Region. */
async function unread(): Promise<number> {
  const text = await (await fetch(`${f.operator.health.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`cmk_inventory_unread{region="${testRegion}"}`));
  return Number(line?.split(' ').pop() ?? Number.NaN);
}

/** `kubectl cmk usage ARGS` in the test namespace, with AWS credentials for --scan. */
async function usage(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await kubectlCmkCommand(
    ['usage', ...args, '--kubeconfig', inject('kubeconfigPath'), '-n', f.namespace],
    {
      out: (t) => (out += t),
      err: (t) => (err += t),
      awsCredentials: { accessKeyId: 'AKIAUSAGE0000000001', secretAccessKey: 'x' },
    },
  );
  return { code, out, err };
}

describe('the deletion guard counts what AWS shows on the key', () => {
  it('a Keyspaces table nobody manages from Kubernetes', async () => {
    const arn = await deletableKey('unmanaged-table-key');
    f.emulator.seed({
      cassandra: {
        keyspaces: [
          {
            name: 'ks_unmanaged',
            tables: [
              { name: 'ledger', encryption: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: arn } },
            ],
          },
        ],
      },
    });
    const tableArn = `arn:aws:cassandra:${testRegion}:${account}:/keyspace/ks_unmanaged/table/ledger`;
    // The inventory reports it in status before anyone deletes anything.
    const usage = await f.waitFor<KeyView, NonNullable<NonNullable<KeyView['status']>['usage']>>(
      'KmsKey',
      'unmanaged-table-key',
      (o) =>
        o.status?.usage?.unmanagedUsers?.some((u) => u.resourceArn === tableArn) ? o.status.usage : undefined,
      'status.usage lists the unmanaged table',
      30_000,
    );
    expect(usage.unmanaged).toBeGreaterThanOrEqual(1);

    const message = await deleteAndExpectBlocked('unmanaged-table-key', arn);
    expect(message).toContain(`${tableArn} (Keyspaces table, unmanaged)`);
  });

  it('a listing the inventory cannot read holds the deletion until it can: a user may be behind it', async () => {
    const arn = await deletableKey('unread-listing-key');
    // The operator's role may not list keyspaces: the inventory sees no table, and cannot know there
    // is none.
    await f.admin.addFault({
      service: 'cassandra',
      operation: 'ListKeyspaces',
      error: { code: 'AccessDeniedException', status: 400, message: 'not authorized to list', rate: 1 },
    });
    try {
      const message = await deleteAndExpectBlocked('unread-listing-key', arn);
      expect(message).toContain(`key inventory could not read in ${testRegion}`);
      expect(message).toContain('keyspaces ListKeyspaces: AccessDeniedException');
      // The operator's metrics say so too (an alert finds the missing permission before a deletion).
      expect(await unread()).toBeGreaterThanOrEqual(1);
      // status.usage says it, and `kubectl cmk usage` (the operator's last pass) shows it.
      const unreadInStatus = await f.waitFor<KeyView, Array<{ where: string; reason: string }>>(
        'KmsKey',
        'unread-listing-key',
        (o) => o.status?.usage?.unread,
        'status.usage.unread',
        30_000,
      );
      expect(unreadInStatus).toEqual([
        { where: 'keyspaces ListKeyspaces', reason: expect.stringContaining('AccessDeniedException') },
      ]);
      expect((await usage('unread-listing-key')).out).toMatch(/\(not read: keyspaces ListKeyspaces\)/);
      // `kubectl cmk usage --scan` says what it could not read, rather than showing nothing.
      const scanned = await usage('unread-listing-key', '--scan', '--region', testRegion);
      expect(scanned.code).toBe(0);
      expect(scanned.out).toMatch(/\(not read: keyspaces ListKeyspaces\)\s+unknown: AccessDeniedException/);
    } finally {
      await f.admin.clearFaults();
    }
    // Once the listing reads again (nothing on the key), the deletion goes on.
    await eventually(async () => ((await keyState(arn)) === 'PendingDeletion' ? true : undefined), {
      what: 'the key scheduled for deletion once the inventory reads everything',
      timeoutMs: 60_000,
    });
    await eventually(async () => ((await unread()) === 0 ? true : undefined), {
      what: 'cmk_inventory_unread back to 0',
      timeoutMs: 30_000,
    });
  });

  it('a workload deleted with Orphan leaves its resource on the key', async () => {
    const arn = await deletableKey('orphan-key');
    f.emulator.seed({ kinesisanalytics: { applications: [{ name: 'orphaned', status: 'READY' }] } });
    await f.create('FlinkApplication', 'orphaned', {
      applicationName: 'orphaned',
      key: { kmsKeyRef: { name: 'orphan-key' } },
    });
    await f.waitFor<{ status?: { current?: { keyArn?: string } } }, true>(
      'FlinkApplication',
      'orphaned',
      (o) => (o.status?.current?.keyArn === arn ? true : undefined),
      'on the key',
      30_000,
    );
    await f.remove('FlinkApplication', 'orphaned');
    await eventually(
      async () => ((await f.get('FlinkApplication', 'orphaned')) === undefined ? true : undefined),
      {
        what: 'workload released with Orphan',
        timeoutMs: 20_000,
      },
    );

    const message = await deleteAndExpectBlocked('orphan-key', arn);
    expect(message).toContain(
      `arn:aws:kinesisanalytics:${testRegion}:${account}:application/orphaned (ManagedFlink application, unmanaged)`,
    );
  });

  it('a Managed Flink snapshot taken under the key, after the application moved to another key', async () => {
    const arn = await deletableKey('snapshot-key');
    const next = await deletableKey('snapshot-next-key');
    f.emulator.seed({ kinesisanalytics: { applications: [{ name: 'snapped', status: 'RUNNING' }] } });
    await f.create('FlinkApplication', 'snapped', {
      applicationName: 'snapped',
      key: { kmsKeyRef: { name: 'snapshot-key' } },
    });
    const onKey = (k: string) => (o: { status?: { current?: { keyArn?: string }; awsState?: string } }) =>
      o.status?.current?.keyArn === k && o.status.awsState === 'RUNNING' ? true : undefined;
    await f.waitFor('FlinkApplication', 'snapped', onKey(arn), 'running on the first key', 40_000);
    await flink.send(
      new CreateApplicationSnapshotCommand({ ApplicationName: 'snapped', SnapshotName: 'before-move' }),
    );

    // The application moves to the other key; the snapshot stays encrypted under the first.
    await f.remove('FlinkApplication', 'snapped');
    await eventually(
      async () => ((await f.get('FlinkApplication', 'snapped')) === undefined ? true : undefined),
      {
        what: 'released',
        timeoutMs: 20_000,
      },
    );
    await f.create('FlinkApplication', 'snapped', {
      applicationName: 'snapped',
      key: { kmsKeyRef: { name: 'snapshot-next-key' } },
    });
    await f.waitFor('FlinkApplication', 'snapped', onKey(next), 'running on the second key', 60_000);

    // Held by the snapshot alone once AWS is asked after the move (an earlier inventory pass may
    // still have seen the application on the key).
    await f.remove('KmsKey', 'snapshot-key');
    const c = await f.waitFor<KeyView, { message: string }>(
      'KmsKey',
      'snapshot-key',
      (o) => {
        const held = blocked(o as never);
        return held && !held.message.includes('application/snapped (ManagedFlink application')
          ? held
          : undefined;
      },
      'DeletionBlocked by the snapshot alone',
      30_000,
    );
    expect(c.message).toContain(`application/snapped/snapshot/before-move (ManagedFlink snapshot`);
    expect(await keyState(arn)).toBe('Enabled');
  });
});

describe('kubectl cmk usage', () => {
  it('lists every user of a key: objects by how they use it, AWS resources managed or not, and where each was seen', async () => {
    const arn = await deletableKey('usage-key');
    f.emulator.seed({ kinesisanalytics: { applications: [{ name: 'usage-app', status: 'READY' }] } });
    await f.create('FlinkApplication', 'usage-app', { applicationName: 'usage-app', key: { keyId: arn } });
    await f.waitFor<{ status?: { current?: { keyArn?: string } } }, true>(
      'FlinkApplication',
      'usage-app',
      (o) => (o.status?.current?.keyArn === arn ? true : undefined),
      'on the key',
      30_000,
    );
    f.emulator.seed({
      cassandra: {
        keyspaces: [
          {
            name: 'ks_usage',
            tables: [
              { name: 'stray', encryption: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: arn } },
            ],
          },
        ],
      },
    });
    const tableArn = `arn:aws:cassandra:${testRegion}:${account}:/keyspace/ks_usage/table/stray`;

    const scanned = await usage('usage-key', '--scan', '--region', testRegion);
    expect(scanned.err).toBe('');
    expect(scanned.code).toBe(0);
    expect(scanned.out).toContain(arn);
    expect(scanned.out).toMatch(
      new RegExp(`FlinkApplication ${f.namespace}/usage-app\\s+on the key\\s+-\\s+kubernetes`),
    );
    expect(scanned.out).toMatch(
      new RegExp(
        `application/usage-app\\s+ManagedFlink application\\s+FlinkApplication ${f.namespace}/usage-app\\s+aws \\(scanned now`,
      ),
    );
    expect(scanned.out).toMatch(
      new RegExp(`${tableArn.replace(/[/.]/g, (c) => `\\${c}`)}\\s+Keyspaces table\\s+unmanaged`),
    );

    // Without --scan: the operator's last inventory pass, as status.usage recorded it.
    await f.waitFor<KeyView, true>(
      'KmsKey',
      'usage-key',
      (o) => (o.status?.usage?.unmanagedUsers?.some((u) => u.resourceArn === tableArn) ? true : undefined),
      'inventory saw the table',
      30_000,
    );
    const recorded = await usage('kk/usage-key');
    expect(recorded.code).toBe(0);
    expect(recorded.out).toMatch(
      new RegExp(
        `${tableArn.replace(/[/.]/g, (c) => `\\${c}`)}\\s+Keyspaces table\\s+unmanaged\\s+aws \\(inventory `,
      ),
    );

    expect((await usage('no-such-key')).code).toBe(1);
    expect((await usage()).code).toBe(2);
  });

  it('flags a job run whose job-level key overrides the key its managed application declares (EMR-003)', async () => {
    const declared = await deletableKey('declared-key');
    const other = await deletableKey('override-key');
    const applicationId = '00fusageaudit0001';
    f.emulator.seed({
      'emr-serverless': { applications: [{ name: 'audited', id: applicationId, state: 'CREATED' }] },
    });
    await f.create('EmrServerlessApplication', 'audited', {
      applicationId,
      key: { kmsKeyRef: { name: 'declared-key' } },
    });
    await f.waitFor<{ status?: { current?: { keyArn?: string } } }, true>(
      'EmrServerlessApplication',
      'audited',
      (o) => (o.status?.current?.keyArn === declared ? true : undefined),
      'application on its declared key',
      30_000,
    );
    // A pipeline submits a job itself, overriding the disk key with another one.
    await new EMRServerlessClient(f.awsConfig()).send(
      new StartJobRunCommand({
        applicationId,
        executionRoleArn: `arn:aws:iam::${account}:role/emr-job`,
        jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py' } },
        configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: other } },
      }),
    );
    const out = await usage('override-key', '--scan', '--region', testRegion);
    expect(out.code).toBe(0);
    expect(out.out).toContain(
      `EmrServerless jobRun, overrides the key EmrServerlessApplication ${f.namespace}/audited declares (${declared})`,
    );
  });
});

describe('the inventory and the key status', () => {
  interface Stored {
    metadata: { resourceVersion: string };
    status?: { usage?: { lastInventoryTime?: string } };
  }

  /** The operator's cmk_inventory_last_pass_timestamp_seconds for the test Region. */
  async function lastPass(): Promise<number> {
    const text = await (await fetch(`${f.operator.health.metricsUrl}/metrics`)).text();
    const prefix = `cmk_inventory_last_pass_timestamp_seconds{region="${testRegion}"}`;
    return Number(
      text
        .split('\n')
        .find((l) => l.startsWith(prefix))
        ?.split(' ')
        .pop() ?? Number.NaN,
    );
  }

  it('a settled key is not rewritten at every inventory pass; the metric has every pass', async () => {
    await deletableKey('settled-inventory-key');
    await f.waitFor<Stored, string>(
      'KmsKey',
      'settled-inventory-key',
      (o) => o.status?.usage?.lastInventoryTime,
      'status.usage.lastInventoryTime',
      30_000,
    );
    // Past the first passes and the 15 s pacing of the key's first counts.
    await new Promise((r) => setTimeout(r, 16_000));
    const before = (await f.get<Stored>('KmsKey', 'settled-inventory-key'))!;
    const passBefore = await lastPass();
    // Passes of the inventory (every 2 s here), each finding the key's users as they were, for longer
    // than the 15 s the key's paced fields wait otherwise: without the hourly rule, a write.
    await new Promise((r) => setTimeout(r, 18_000));
    const after = (await f.get<Stored>('KmsKey', 'settled-inventory-key'))!;
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.status?.usage?.lastInventoryTime).toBe(before.status?.usage?.lastInventoryTime);
    expect(await lastPass()).toBeGreaterThan(passBefore + 10);
    expect(passBefore * 1000).toBeGreaterThanOrEqual(Date.parse(before.status!.usage!.lastInventoryTime!));
  }, 90_000);
});
