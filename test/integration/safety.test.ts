// Tests that try to break the safety invariants of DESIGN.md (and the retry rules) with the real
// API server and the emulator: every AWS mutation leaves an audit record, status is written only on
// change and settled objects cause no hot loop, AWS throttling and 5xx are retried with backoff to
// convergence, a key disabled in the middle of a switch is reported and not worked around, and an
// object's role is really the identity its AWS calls are made with.

import { GetTableCommand, KeyspacesClient } from '@aws-sdk/client-keyspaces';
import { DisableKeyCommand, EnableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiVersion } from '../../src/api/shared.ts';
import { adminIdentity, eventually } from './support/cluster.ts';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator();
// Faults and backoff take real time; on a loaded 2-core machine allow well past the default.
const slow = { timeout: 240_000 };
let kms: KMSClient;
let keyspaces: KeyspacesClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
  keyspaces = new KeyspacesClient(f.awsConfig());
});

let n = 0;
const unique = (p: string) => `${p}${++n}`;
const mutating = new Set([
  'CreateKey',
  'CreateAlias',
  'EnableKeyRotation',
  'DisableKeyRotation',
  'RotateKeyOnDemand',
  'EnableKey',
  'CancelKeyDeletion',
  'ScheduleKeyDeletion',
  'UpdateApplication',
  'StartApplication',
  'StopApplication',
  'UpdateTable',
  'TagResource',
  'UntagResource',
]);

const serviceKey = (name: string) => f.serviceKey(name);

function seedTable(name: string): { keyspaceName: string; tableName: string } {
  f.emulator.seed({ cassandra: { keyspaces: [{ name: `ks_${name}`, tables: [{ name }] }] } });
  return { keyspaceName: `ks_${name}`, tableName: name };
}

const readyOn =
  (keyArn: string) =>
  (o: { status?: { current?: { keyArn?: string }; conditions?: Array<{ type: string; status: string }> } }) =>
    o.status?.current?.keyArn === keyArn &&
    o.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
      ? o
      : undefined;

describe('invariant 5: every AWS mutation is an audit record', () => {
  it(
    'each successful mutating call the operator made has an Event on the object it was made for',
    slow,
    async () => {
      await f.admin.clearCalls();
      const keyArn = await serviceKey(unique('k'));
      const names = [unique('t'), unique('t')];
      for (const name of names)
        await f.create('KeyspacesTable', name, { ...seedTable(name), key: { keyId: keyArn } });
      for (const name of names)
        await f.waitFor('KeyspacesTable', name, readyOn(keyArn), `${name} on the key`, 30_000);
      const calls = (await f.admin.calls({})).filter(
        (c) =>
          c.userIdentity.accessKeyId === 'AKIAOPERATOR00000001' && mutating.has(c.eventName) && !c.errorCode,
      );
      const updates = calls.filter((c) => c.eventName === 'UpdateTable');
      expect(updates).toHaveLength(2);
      for (const name of names) {
        const events = await f.events(name);
        expect(events.filter((e) => e.reason === 'SwitchingKey')).toHaveLength(1);
        expect(events.find((e) => e.reason === 'SwitchingKey')?.note).toContain(keyArn);
      }
      const created = calls.filter((c) => c.eventName === 'CreateKey');
      expect(created).toHaveLength(1);
    },
  );
});

describe('invariant 6: status only on change, no hot loop', () => {
  it(
    'a settled workload and key cause no status write and no AWS mutation over several resyncs',
    slow,
    async () => {
      const keyName = unique('k');
      const keyArn = await serviceKey(keyName);
      const name = unique('t');
      await f.create('KeyspacesTable', name, { ...seedTable(name), key: { kmsKeyRef: { name: keyName } } });
      await f.waitFor('KeyspacesTable', name, readyOn(keyArn), 'on the key', 30_000);
      await new Promise((r) => setTimeout(r, 2500)); // let follow-up reconciles finish
      const rv = async (kind: string, plural: string, obj: string) =>
        (
          (
            await adminIdentity().request(
              'GET',
              `/apis/${apiVersion}/namespaces/${f.namespace}/${plural}/${obj}`,
            )
          ).body as { metadata: { resourceVersion: string } }
        ).metadata.resourceVersion + kind;
      const before = [await rv('t', 'keyspacestables', name), await rv('k', 'kmskeys', keyName)];
      const since = (await f.admin.calls({})).at(-1)?.eventId ?? 0;
      await new Promise((r) => setTimeout(r, 4500)); // three resyncs at 1.5 s
      const after = [await rv('t', 'keyspacestables', name), await rv('k', 'kmskeys', keyName)];
      expect(after).toEqual(before);
      const calls = (await f.admin.calls({ since })).filter(
        (c) => c.userIdentity.accessKeyId === 'AKIAOPERATOR00000001',
      );
      expect(calls.filter((c) => mutating.has(c.eventName))).toEqual([]);
      // Reads are bounded: a handful per resync for these two objects, not a loop.
      expect(calls.length).toBeLessThan(60);
    },
  );
});

describe('AWS faults are retried with backoff', () => {
  it(
    'converges through 20% throttling and 5% server errors on every call, for each service',
    slow,
    async () => {
      const keyArn = await serviceKey(unique('k'));
      await f.admin.setFaults(
        ['cassandra', 'kms', 'kinesisanalytics', 'emr-serverless'].map((service) => ({
          service,
          throttleRate: 0.2,
          serverErrorRate: 0.05,
        })),
      );
      try {
        const tables = [unique('t'), unique('t')];
        for (const name of tables)
          await f.create('KeyspacesTable', name, { ...seedTable(name), key: { keyId: keyArn } });
        const app = unique('app');
        f.emulator.seed({ kinesisanalytics: { applications: [{ name: app, status: 'READY' }] } });
        await f.create('FlinkApplication', app, { applicationName: app, key: { keyId: keyArn } });
        const emrId = `00fa${String(Date.now()).slice(-12)}`;
        f.emulator.seed({
          'emr-serverless': { applications: [{ name: 'faulty', id: emrId, state: 'CREATED' }] },
        });
        await f.create('EmrServerlessApplication', 'faulty', {
          applicationId: emrId,
          key: { keyId: keyArn },
        });
        for (const name of tables)
          await f.waitFor('KeyspacesTable', name, readyOn(keyArn), `${name} converged`, 150_000);
        await f.waitFor('FlinkApplication', app, readyOn(keyArn), 'Flink converged', 150_000);
        await f.waitFor('EmrServerlessApplication', 'faulty', readyOn(keyArn), 'EMR converged', 150_000);
        const counts = await f.admin.faultCounts();
        expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
        const switches = (await f.admin.calls({})).filter(
          (c) =>
            !c.errorCode &&
            ['UpdateTable', 'UpdateApplication'].includes(c.eventName) &&
            // EMR's application id travels in the URL path, not in the logged body.
            (c.eventSource === 'emr-serverless.amazonaws.com' ||
              [...tables, app].some((t) => JSON.stringify(c.requestParameters).includes(t))),
        );
        expect(switches).toHaveLength(4); // exactly one successful switch per workload
      } finally {
        await f.admin.clearFaults();
      }
    },
  );
});

describe('a key disabled in the middle of a switch', () => {
  it(
    'is reported on the workload, and the switch completes only after the key is enabled again',
    slow,
    async () => {
      const keyArn = await serviceKey(unique('k'));
      const name = unique('t');
      const ids = seedTable(name);
      // Hold the table in UPDATING long enough to disable the key under it.
      await f.admin.patchConfig({
        transitions: { default: { min: 200, max: 400 }, 'cassandra.UPDATING': { min: 3000, max: 3000 } },
      });
      try {
        await f.create('KeyspacesTable', name, { ...ids, key: { keyId: keyArn } });
        await eventually(
          async () =>
            (await keyspaces.send(new GetTableCommand(ids))).status === 'UPDATING' ? true : undefined,
          { what: 'UPDATING' },
        );
        await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
        const c = await f.waitFor(
          'KeyspacesTable',
          name,
          (o: { status?: { conditions?: Array<{ type: string; status: string; reason: string }> } }) =>
            o.status?.conditions?.find(
              (x) =>
                x.type === 'Ready' &&
                x.status !== 'True' &&
                /Key(Disabled|Inaccessible)|Inaccessible|SwitchFailed/.test(x.reason),
            ),
          'the disabled key reported',
          30_000,
        );
        expect(c.status).not.toBe('True');
        await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
        await f.waitFor('KeyspacesTable', name, readyOn(keyArn), 'switch completes after re-enable', 120_000);
      } finally {
        await f.admin.patchConfig({ transitions: { default: { min: 200, max: 400 } } });
      }
    },
  );
});

describe('a key disabled while Managed Flink applies it', () => {
  it("the failed operation is reported with AWS's own text and not retried in a loop", slow, async () => {
    const keyArn = await serviceKey(unique('k'));
    const app = unique('app');
    f.emulator.seed({ kinesisanalytics: { applications: [{ name: app, status: 'RUNNING' }] } });
    await f.admin.patchConfig({
      transitions: { default: { min: 200, max: 400 }, 'kinesisanalytics.UPDATING': { min: 3000, max: 3000 } },
    });
    try {
      await f.create('FlinkApplication', app, { applicationName: app, key: { keyId: keyArn } });
      const { DescribeApplicationCommand, KinesisAnalyticsV2Client } = await import(
        '@aws-sdk/client-kinesis-analytics-v2'
      );
      const flink = new KinesisAnalyticsV2Client(f.awsConfig());
      await eventually(
        async () =>
          (await flink.send(new DescribeApplicationCommand({ ApplicationName: app }))).ApplicationDetail
            ?.ApplicationStatus === 'UPDATING'
            ? true
            : undefined,
        { what: 'UPDATING' },
      );
      await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
      const failed = await f.waitFor(
        'FlinkApplication',
        app,
        (o: {
          status?: {
            conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
          };
        }) => o.status?.conditions?.find((c) => c.type === 'KeyCurrent' && c.reason === 'SwitchFailed'),
        'SwitchFailed reported',
        60_000,
      );
      expect(failed.message).toContain(keyArn);
      await new Promise((r) => setTimeout(r, 3000));
      const updates = (
        await f.admin.calls({ service: 'kinesisanalytics', eventName: 'UpdateApplication' })
      ).filter((c) => JSON.stringify(c.requestParameters).includes(app));
      expect(updates).toHaveLength(1); // held off, not retried in a loop that restarts the application
    } finally {
      await f.admin.patchConfig({ transitions: { default: { min: 200, max: 400 } } });
      await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    }
  });
});

describe('per-object role', () => {
  it("an object's roleArn is the identity its AWS calls are made with", slow, async () => {
    const role = 'arn:aws:iam::111122223333:role/team-a-cmk';
    f.emulator.seed({ roles: [{ arn: role, iamAllow: ['kms:*', 'cassandra:*'] }] });
    const keyArn = await serviceKey(unique('k'));
    const name = unique('t');
    await f.create('KeyspacesTable', name, { ...seedTable(name), roleArn: role, key: { keyId: keyArn } });
    await f.waitFor('KeyspacesTable', name, readyOn(keyArn), 'switched under the role', 30_000);
    const update = (await f.admin.calls({ service: 'cassandra', eventName: 'UpdateTable' })).find(
      (c) => JSON.stringify(c.requestParameters).includes(name) && !c.errorCode,
    );
    expect(update?.userIdentity.arn).toMatch(/^arn:aws:sts::111122223333:assumed-role\/team-a-cmk\//);
    expect(
      condition('Ready', 'True')(((await f.get(name === '' ? '' : 'KeyspacesTable', name)) ?? {}) as never),
    ).toBeDefined();
  });
});
