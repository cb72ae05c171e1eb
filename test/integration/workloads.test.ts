// The workload controllers end to end, one table over the three services: the operator (in this
// worker) against the real kube-apiserver and the AWS emulator. Assertions read the AWS side through
// the real SDK clients and the objects' status and events.

import {
  EMRServerlessClient,
  GetApplicationCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, KeyspacesClient, UpdateTableCommand } from '@aws-sdk/client-keyspaces';
import {
  DescribeApplicationCommand,
  KinesisAnalyticsV2Client,
  UpdateApplicationCommand as UpdateFlinkApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { DisableKeyCommand, EnableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EncryptionSetting } from '../../src/aws/workload.ts';
import { rootOnlyKeyPolicy } from '../fixtures/keys.ts';
import { adminIdentity, eventually } from './support/cluster.ts';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator();
let kms: KMSClient;
let flink: KinesisAnalyticsV2Client;
let keyspaces: KeyspacesClient;
let emr: EMRServerlessClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
  flink = new KinesisAnalyticsV2Client(f.awsConfig());
  keyspaces = new KeyspacesClient(f.awsConfig());
  emr = new EMRServerlessClient(f.awsConfig());
});

let n = 0;
const unique = (p: string) => `${p}${++n}`;

interface Service {
  kind: 'FlinkApplication' | 'KeyspacesTable' | 'EmrServerlessApplication';
  /** Seeds an AWS-owned resource; returns the spec identity fields. */
  seed(name: string, opts?: { running?: boolean; keyArn?: string }): Record<string, string>;
  /** The encryption AWS reports. */
  encryption(ids: Record<string, string>): Promise<EncryptionSetting>;
  /** Someone switches the resource back to the AWS owned key behind the operator's back. */
  driftToAwsOwned(ids: Record<string, string>): Promise<void>;
}

const services: Service[] = [
  {
    kind: 'FlinkApplication',
    seed(name, opts = {}) {
      f.emulator.seed({
        kinesisanalytics: {
          applications: [
            {
              name,
              status: opts.running ? 'RUNNING' : 'READY',
              ...(opts.keyArn ? { keyType: 'CUSTOMER_MANAGED_KEY', keyId: opts.keyArn } : {}),
            },
          ],
        },
      });
      return { applicationName: name };
    },
    async encryption(ids) {
      const d = await flink.send(new DescribeApplicationCommand({ ApplicationName: ids['applicationName'] }));
      const e =
        d.ApplicationDetail?.ApplicationConfigurationDescription
          ?.ApplicationEncryptionConfigurationDescription;
      return e?.KeyType === 'CUSTOMER_MANAGED_KEY'
        ? { type: 'CustomerManaged', keyArn: e.KeyId! }
        : { type: 'AwsOwned' };
    },
    async driftToAwsOwned(ids) {
      const d = await flink.send(new DescribeApplicationCommand({ ApplicationName: ids['applicationName'] }));
      await flink.send(
        new UpdateFlinkApplicationCommand({
          ApplicationName: ids['applicationName'],
          CurrentApplicationVersionId: d.ApplicationDetail!.ApplicationVersionId!,
          ApplicationConfigurationUpdate: {
            ApplicationEncryptionConfigurationUpdate: { KeyTypeUpdate: 'AWS_OWNED_KEY' },
          },
        }),
      );
    },
  },
  {
    kind: 'KeyspacesTable',
    seed(name, opts = {}) {
      const encryption = opts.keyArn
        ? { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: opts.keyArn }
        : undefined;
      f.emulator.seed({
        cassandra: {
          keyspaces: [{ name: `ks_${name}`, tables: [{ name, ...(encryption ? { encryption } : {}) }] }],
        },
      });
      return { keyspaceName: `ks_${name}`, tableName: name };
    },
    async encryption(ids) {
      const t = await keyspaces.send(
        new GetTableCommand({ keyspaceName: ids['keyspaceName'], tableName: ids['tableName'] }),
      );
      const e = t.encryptionSpecification;
      return e?.type === 'CUSTOMER_MANAGED_KMS_KEY'
        ? { type: 'CustomerManaged', keyArn: e.kmsKeyIdentifier! }
        : { type: 'AwsOwned' };
    },
    async driftToAwsOwned(ids) {
      await keyspaces.send(
        new UpdateTableCommand({
          keyspaceName: ids['keyspaceName'],
          tableName: ids['tableName'],
          encryptionSpecification: { type: 'AWS_OWNED_KMS_KEY' },
        }),
      );
    },
  },
  {
    kind: 'EmrServerlessApplication',
    seed(name, opts = {}) {
      const id = `00f${String(100000000000 + ++n).padStart(13, '0')}`;
      f.emulator.seed({
        'emr-serverless': {
          applications: [
            {
              name,
              id,
              state: opts.running ? 'STARTED' : 'CREATED',
              ...(opts.keyArn ? { diskEncryption: { encryptionKeyArn: opts.keyArn } } : {}),
            },
          ],
        },
      });
      return { applicationId: id };
    },
    async encryption(ids) {
      const a = await emr.send(new GetApplicationCommand({ applicationId: ids['applicationId'] }));
      const d = a.application?.diskEncryptionConfiguration;
      return d?.encryptionKeyArn
        ? { type: 'CustomerManaged', keyArn: d.encryptionKeyArn }
        : { type: 'AwsOwned' };
    },
    async driftToAwsOwned(ids) {
      await emr.send(
        new UpdateApplicationCommand({
          applicationId: ids['applicationId'],
          diskEncryptionConfiguration: {},
        }),
      );
    },
  },
];

const serviceKey = (name: string) => f.serviceKey(name);

async function updateSpec(kind: string, name: string, change: (spec: Record<string, unknown>) => void) {
  const o = (await f.get<{ spec: Record<string, unknown> } & Record<string, unknown>>(kind, name))!;
  change(o.spec);
  const plural = {
    FlinkApplication: 'flinkapplications',
    KeyspacesTable: 'keyspacestables',
    EmrServerlessApplication: 'emrserverlessapplications',
  }[kind];
  const res = await adminIdentity().request(
    'PUT',
    `/apis/cmk.io/v1alpha1/namespaces/${f.namespace}/${plural}/${name}`,
    o,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

const readyWith =
  (keyType: string, keyArn?: string) =>
  (o: {
    status?: {
      current?: { keyType: string; keyArn?: string };
      conditions?: Array<{ type: string; status: string }>;
    };
  }) =>
    o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
    o.status.current?.keyType === keyType &&
    (keyArn === undefined || o.status.current.keyArn === keyArn)
      ? o
      : undefined;

describe.each(services.map((s) => [s.kind, s] as const))('%s', (_kind, svc) => {
  it('AWS owned -> CMK -> another CMK -> AWS owned, each confirmed by AWS', async () => {
    const firstName = unique('k');
    const secondName = unique('k');
    const first = await serviceKey(firstName);
    const second = await serviceKey(secondName);
    const name = unique('w');
    const ids = svc.seed(name);
    await f.create(svc.kind, name, { ...ids, key: { kmsKeyRef: { name: firstName } } });
    await f.waitFor(svc.kind, name, readyWith('CustomerManaged', first), 'on the first key', 30_000);
    expect(await svc.encryption(ids)).toEqual({ type: 'CustomerManaged', keyArn: first });

    await updateSpec(svc.kind, name, (s) => {
      s['key'] = { kmsKeyRef: { name: secondName } };
    });
    await f.waitFor(svc.kind, name, readyWith('CustomerManaged', second), 'on the second key', 30_000);
    expect(await svc.encryption(ids)).toEqual({ type: 'CustomerManaged', keyArn: second });

    await updateSpec(svc.kind, name, (s) => {
      s['key'] = { awsOwned: true };
    });
    await f.waitFor(svc.kind, name, readyWith('AwsOwned'), 'back on the AWS owned key', 30_000);
    expect(await svc.encryption(ids)).toEqual({ type: 'AwsOwned' });
    const events = await f.events(name);
    expect(events.filter((e) => e.reason === 'SwitchingKey')).toHaveLength(3);
  });

  it('adopting a resource already on the desired key is Ready without any change in AWS', async () => {
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = svc.seed(name, { keyArn });
    await f.create(svc.kind, name, { ...ids, key: { keyId: keyArn } });
    await f.waitFor(
      svc.kind,
      name,
      readyWith('CustomerManaged', keyArn),
      'Ready on the key it already had',
      30_000,
    );
    const changes = (await f.admin.calls({})).filter(
      (c) =>
        ['UpdateApplication', 'UpdateTable', 'StopApplication', 'StartApplication'].includes(c.eventName) &&
        JSON.stringify(c.requestParameters).includes(Object.values(ids).at(-1)!),
    );
    expect(changes).toEqual([]);
  });

  it('Observe mode reports drift and the plan, and changes nothing in AWS', async () => {
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = svc.seed(name);
    await f.create(svc.kind, name, { ...ids, mode: 'Observe', key: { keyId: keyArn } });
    const drift = await f.waitFor(svc.kind, name, condition('KeyCurrent', 'False', 'Drift'));
    expect(drift.message).toContain(keyArn);
    // GitOps tools see it as not resolving by itself: Stalled, in step with Ready=False.
    await f.waitFor(svc.kind, name, condition('Stalled', 'True', 'Drift'));
    const o = await f.get<{ status?: { plan?: string[] } }>(svc.kind, name);
    expect(o?.status?.plan?.[0]).toContain('switch');
    expect(await svc.encryption(ids)).toEqual({ type: 'AwsOwned' });
    const calls = await f.admin.calls({});
    expect(
      calls.filter(
        (c) =>
          ['UpdateApplication', 'UpdateTable', 'TagResource'].includes(c.eventName) &&
          c.userIdentity.accessKeyId === 'AKIAOPERATOR00000001' &&
          JSON.stringify(c.requestParameters).includes(Object.values(ids)[0]!),
      ),
    ).toEqual([]);
  });

  it('deletion with RevertToAwsOwned switches back before releasing the object', async () => {
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = svc.seed(name);
    await f.create(svc.kind, name, { ...ids, deletionPolicy: 'RevertToAwsOwned', key: { keyId: keyArn } });
    await f.waitFor(svc.kind, name, readyWith('CustomerManaged', keyArn), 'on the key', 30_000);
    await f.remove(svc.kind, name);
    await eventually(async () => ((await f.get(svc.kind, name)) === undefined ? true : undefined), {
      what: 'object released',
      timeoutMs: 30_000,
    });
    expect(await svc.encryption(ids)).toEqual({ type: 'AwsOwned' });
  });

  it('deletion with Orphan (the default) leaves the key in place', async () => {
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = svc.seed(name);
    await f.create(svc.kind, name, { ...ids, key: { keyId: keyArn } });
    await f.waitFor(svc.kind, name, readyWith('CustomerManaged', keyArn), 'on the key', 30_000);
    await f.remove(svc.kind, name);
    await eventually(async () => ((await f.get(svc.kind, name)) === undefined ? true : undefined), {
      what: 'object released',
      timeoutMs: 30_000,
    });
    expect(await svc.encryption(ids)).toEqual({ type: 'CustomerManaged', keyArn });
  });

  it('drift made in AWS is corrected on resync', async () => {
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = svc.seed(name);
    await f.create(svc.kind, name, { ...ids, key: { keyId: keyArn } });
    await f.waitFor(svc.kind, name, readyWith('CustomerManaged', keyArn), 'on the key', 30_000);
    await eventually(
      async () => ((await svc.encryption(ids)).type === 'CustomerManaged' ? true : undefined),
      { what: 'settled on the key' },
    );
    await svc.driftToAwsOwned(ids);
    await eventually(async () => ((await svc.encryption(ids)).type === 'AwsOwned' ? true : undefined), {
      what: 'drift applied',
    });
    await eventually(
      async () => ((await svc.encryption(ids)).type === 'CustomerManaged' ? true : undefined),
      {
        what: 'drift corrected',
        timeoutMs: 40_000,
      },
    );
  });

  it('a disabled key is refused before any switch', async () => {
    const keyArn = await serviceKey(unique('k'));
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    const name = unique('w');
    const ids = svc.seed(name);
    await f.create(svc.kind, name, { ...ids, key: { keyId: keyArn } });
    const c = await f.waitFor(svc.kind, name, condition('KeyUsable', 'False', 'KeyDisabled'));
    expect(c.message).toContain('Disabled');
    expect(await svc.encryption(ids)).toEqual({ type: 'AwsOwned' });
    await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    await f.waitFor(
      svc.kind,
      name,
      readyWith('CustomerManaged', keyArn),
      'switched once the key is enabled',
      30_000,
    );
  });
});

describe('drift made in AWS', () => {
  it('is corrected on resync (Keyspaces, changed back by hand in AWS)', async () => {
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = services[1]!.seed(name);
    await f.create('KeyspacesTable', name, { ...ids, key: { keyId: keyArn } });
    await f.waitFor('KeyspacesTable', name, readyWith('CustomerManaged', keyArn), 'on the key', 30_000);
    await keyspaces.send(
      new UpdateTableCommand({
        keyspaceName: ids['keyspaceName'],
        tableName: ids['tableName'],
        encryptionSpecification: { type: 'AWS_OWNED_KMS_KEY' },
      }),
    );
    await eventually(
      async () => ((await services[1]!.encryption(ids)).type === 'AwsOwned' ? true : undefined),
      { what: 'drift applied' },
    );
    await eventually(
      async () => ((await services[1]!.encryption(ids)).type === 'CustomerManaged' ? true : undefined),
      { what: 'drift corrected', timeoutMs: 30_000 },
    );
  });
});

describe('EMR Serverless applications that are STARTED', () => {
  it('whenStarted: Wait waits; StopAndUpdate stops, updates and starts again', async () => {
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = services[2]!.seed(name, { running: true });
    await f.create('EmrServerlessApplication', name, { ...ids, key: { keyId: keyArn } });
    await f.waitFor(
      'EmrServerlessApplication',
      name,
      condition('KeyCurrent', 'False', 'WaitingForApplicationStop'),
    );
    expect(await services[2]!.encryption(ids)).toEqual({ type: 'AwsOwned' });

    await updateSpec('EmrServerlessApplication', name, (s) => {
      s['whenStarted'] = 'StopAndUpdate';
    });
    await f.waitFor(
      'EmrServerlessApplication',
      name,
      readyWith('CustomerManaged', keyArn),
      'switched',
      30_000,
    );
    await eventually(
      async () =>
        (await emr.send(new GetApplicationCommand({ applicationId: ids['applicationId'] }))).application
          ?.state === 'STARTED'
          ? true
          : undefined,
      { what: 'started again', timeoutMs: 20_000 },
    );
    const reasons = (await f.events(name)).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Stopping', 'SwitchingKey', 'Starting']));
  });
});

describe('EMR Serverless StopAndUpdate with cancelRunningJobs', () => {
  it('cancels a running job, stops, switches and starts again', async () => {
    const { StartJobRunCommand, GetJobRunCommand } = await import('@aws-sdk/client-emr-serverless');
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = services[2]!.seed(name, { running: true });
    const job = await emr.send(
      new StartJobRunCommand({
        applicationId: ids['applicationId'],
        executionRoleArn: 'arn:aws:iam::111122223333:role/job',
        jobDriver: { sparkSubmit: { entryPoint: 's3://b/stream.py' } },
        mode: 'STREAMING',
      }),
    );
    await f.create('EmrServerlessApplication', name, {
      ...ids,
      whenStarted: 'StopAndUpdate',
      cancelRunningJobs: true,
      key: { keyId: keyArn },
    });
    await f.waitFor(
      'EmrServerlessApplication',
      name,
      readyWith('CustomerManaged', keyArn),
      'switched after cancelling',
      40_000,
    );
    const run = await emr.send(
      new GetJobRunCommand({ applicationId: ids['applicationId'], jobRunId: job.jobRunId! }),
    );
    expect(run.jobRun?.state).toBe('CANCELLED');
    const reasons = (await f.events(name)).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['CancellingJobs', 'Stopping', 'SwitchingKey']));
  });
});

describe('Keyspaces tables whose key becomes unusable', () => {
  it('report INACCESSIBLE_ENCRYPTION_CREDENTIALS at once with the date AWS deletes the table', async () => {
    const keyArn = await serviceKey(unique('k'));
    const name = unique('w');
    const ids = services[1]!.seed(name);
    await f.create('KeyspacesTable', name, { ...ids, key: { keyId: keyArn } });
    await f.waitFor('KeyspacesTable', name, readyWith('CustomerManaged', keyArn), 'on the key', 30_000);
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    const c = await f.waitFor(
      'KeyspacesTable',
      name,
      condition('KeyAccessible', 'False', 'InaccessibleEncryptionCredentials'),
    );
    expect(c.message).toMatch(/deletes the table after \d{4}-\d\d-\d\dT/);
    expect((await f.events(name)).some((e) => e.reason === 'TableInaccessible' && e.type === 'Warning')).toBe(
      true,
    );
    await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    await f.waitFor('KeyspacesTable', name, condition('KeyAccessible', 'True'), 'accessible again', 30_000);
  });
});

describe('cross-namespace references', () => {
  it('are refused without a KeyReferenceGrant and allowed with one', async () => {
    const keyArn = await serviceKey('shared-key');
    const name = unique('w');
    const ids = services[1]!.seed(name);
    const path = `/apis/cmk.io/v1alpha1/namespaces/${f.otherNamespace}/keyspacestables`;
    const created = await adminIdentity().request('POST', path, {
      apiVersion: 'cmk.io/v1alpha1',
      kind: 'KeyspacesTable',
      metadata: { name },
      spec: { ...ids, key: { kmsKeyRef: { name: 'shared-key', namespace: f.namespace } } },
    });
    expect(created.status).toBe(201);
    const read = async () =>
      (await adminIdentity().request('GET', `${path}/${name}`)).body as {
        status?: {
          current?: { keyArn?: string };
          conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
        };
      };
    const refused = await eventually(
      async () =>
        (await read()).status?.conditions?.find(
          (c) => c.type === 'KeyUsable' && c.reason === 'ReferenceNotGranted',
        ),
      { what: 'ReferenceNotGranted' },
    );
    expect(refused.message).toContain('KeyReferenceGrant');
    expect(await services[1]!.encryption(ids)).toEqual({ type: 'AwsOwned' });

    await f.create('KeyReferenceGrant', 'let-other-use-shared', {
      from: [{ namespace: f.otherNamespace }],
      to: [{ name: 'shared-key' }],
    });
    await eventually(
      async () => {
        const o = await read();
        return o.status?.current?.keyArn === keyArn &&
          o.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? true
          : undefined;
      },
      { what: 'switched once granted', timeoutMs: 30_000 },
    );
  });
});

describe('pre-flight reads the key policy', () => {
  it('refuses a Flink switch onto a key whose policy lacks the Flink service principals, and never calls UpdateApplication', async () => {
    const { CreateKeyCommand } = await import('@aws-sdk/client-kms');
    const rootOnly = rootOnlyKeyPolicy;
    const keyArn = (await kms.send(new CreateKeyCommand({ Policy: rootOnly }))).KeyMetadata!.Arn!;
    const name = unique('w');
    const ids = services[0]!.seed(name);
    await f.create('FlinkApplication', name, { ...ids, key: { keyId: keyArn } });
    const refused = await f.waitFor(
      'FlinkApplication',
      name,
      condition('KeyUsable', 'False', 'KeyPolicyMissingPermission'),
    );
    expect(refused.message).toContain('kinesisanalytics.amazonaws.com');
    const updates = (
      await f.admin.calls({ service: 'kinesisanalytics', eventName: 'UpdateApplication' })
    ).filter((c) => JSON.stringify(c.requestParameters).includes(name));
    expect(updates).toEqual([]);
    expect(await services[0]!.encryption(ids)).toEqual({ type: 'AwsOwned' });
  });
});

describe('Managed Flink: the key being left must stay usable (MSF-015)', () => {
  it('a switch away from a disabled key is refused before UpdateApplication, and done once it is enabled', async () => {
    const oldKey = await serviceKey(unique('k'));
    const newKey = await serviceKey(unique('k'));
    const name = unique('w');
    f.emulator.seed({
      kinesisanalytics: {
        applications: [{ name, status: 'READY', keyType: 'CUSTOMER_MANAGED_KEY', keyId: oldKey }],
      },
    });
    await kms.send(new DisableKeyCommand({ KeyId: oldKey }));
    await f.create('FlinkApplication', name, { applicationName: name, key: { keyId: newKey } });
    const refused = await f.waitFor(
      'FlinkApplication',
      name,
      condition('KeyUsable', 'False', 'OutgoingKeyNotUsable'),
    );
    expect(refused.message).toContain(oldKey);
    const updates = (
      await f.admin.calls({ service: 'kinesisanalytics', eventName: 'UpdateApplication' })
    ).filter((c) => JSON.stringify(c.requestParameters).includes(name));
    expect(updates).toEqual([]);
    await kms.send(new EnableKeyCommand({ KeyId: oldKey }));
    await f.waitFor(
      'FlinkApplication',
      name,
      (o: {
        status?: { current?: { keyArn?: string }; conditions?: Array<{ type: string; status: string }> };
      }) =>
        o.status?.current?.keyArn === newKey &&
        o.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? o
          : undefined,
      'switched after the old key is enabled',
      30_000,
    );
  });
});
