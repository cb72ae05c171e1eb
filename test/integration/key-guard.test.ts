// The KmsKey deletion guard counts every use of the key's ARN, not only references to one KmsKey
// object: a second KmsKey in another namespace adopting the same key, a workload naming the key by
// keyId, and a switch away from the key that AWS has not confirmed yet each hold a ScheduleDeletion,
// with DeletionBlocked naming the user; exactly one KmsKey per key may schedule its deletion.
// Real kube-apiserver + the AWS emulator over HTTP; assertions on the objects and on KMS.

import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminIdentity, eventually } from './support/cluster.ts';
import { condition, useOperator } from './support/operator.ts';

// Managed Flink updates take 8 s here, so a switch away from a key stays in flight long enough to
// try deleting the key in the middle of it.
const f = useOperator({
  emulatorConfig: {
    transitions: { default: { min: 300, max: 600 }, 'kinesisanalytics.UPDATING': { min: 8000, max: 8000 } },
  },
});
let kms: KMSClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
});

const keyState = async (arn: string) =>
  (await kms.send(new DescribeKeyCommand({ KeyId: arn }))).KeyMetadata?.KeyState;
const ready = condition('Ready', 'True');
const blocked = condition('DeletionBlocked', 'True', 'KeyInUse');
const gone = (kind: string, name: string) =>
  eventually(async () => ((await f.get(kind, name)) === undefined ? true : undefined), {
    what: `${kind} ${name} released`,
    timeoutMs: 30_000,
  });

let n = 0;
function flinkApp(): string {
  const name = `guard-app-${++n}`;
  f.emulator.seed({ kinesisanalytics: { applications: [{ name, status: 'READY' }] } });
  return name;
}
function table(): { keyspaceName: string; tableName: string } {
  const name = `guard_t${++n}`;
  f.emulator.seed({ cassandra: { keyspaces: [{ name: `ks_${name}`, tables: [{ name }] }] } });
  return { keyspaceName: `ks_${name}`, tableName: name };
}
const onKey = (arn: string) => (o: { status?: { current?: { keyArn?: string } } }) =>
  o.status?.current?.keyArn === arn ? o : undefined;

/** Creates a cmk.io object in the fixture's other namespace, as its own team would. */
async function createInOther(kind: string, plural: string, name: string, spec: unknown) {
  const path = `/apis/cmk.io/v1alpha1/namespaces/${f.otherNamespace}/${plural}`;
  const created = await adminIdentity().request('POST', path, {
    apiVersion: 'cmk.io/v1alpha1',
    kind,
    metadata: { name },
    spec,
  });
  expect(created.status).toBe(201);
  return {
    read: async () => (await adminIdentity().request('GET', `${path}/${name}`)).body as Record<string, never>,
    exists: async () => (await adminIdentity().request('GET', `${path}/${name}`)).status === 200,
    remove: () => adminIdentity().request('DELETE', `${path}/${name}`),
  };
}

describe('the deletion guard counts every use of the key ARN', () => {
  it('a KmsKey in another namespace adopting the same key cannot schedule its deletion while this namespace uses it', async () => {
    const arn = await f.serviceKey('team-a-key');
    const applicationName = flinkApp();
    await f.create('FlinkApplication', applicationName, {
      applicationName,
      key: { kmsKeyRef: { name: 'team-a-key' } },
    });
    await f.waitFor('FlinkApplication', applicationName, onKey(arn), 'team A on the key', 30_000);

    const adopter = await createInOther('KmsKey', 'kmskeys', 'adopter', {
      keyId: arn,
      deletionPolicy: 'ScheduleDeletion',
    });
    await eventually(async () => ((await adopter.read()).status?.['keyArn'] === arn ? true : undefined), {
      what: 'the adopter resolved the key',
    });
    await adopter.remove();
    const message = await eventually(
      async () => {
        const o = (await adopter.read()) as {
          status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
        };
        return blocked(o)?.message;
      },
      { what: 'DeletionBlocked on the adopter', timeoutMs: 30_000 },
    );
    expect(message).toContain(`FlinkApplication ${f.namespace}/${applicationName} (on the key)`);
    expect(message).toContain(`KmsKey ${f.namespace}/team-a-key (declares the key)`);
    expect(await keyState(arn)).toBe('Enabled');

    // Set to Retain, the adopter lets go of its object and leaves the key alone.
    await adminIdentity().request(
      'PATCH',
      `/apis/cmk.io/v1alpha1/namespaces/${f.otherNamespace}/kmskeys/adopter`,
      { spec: { deletionPolicy: 'Retain' } },
      { contentType: 'application/merge-patch+json' },
    );
    await eventually(async () => ((await adopter.exists()) ? undefined : true), {
      what: 'adopter released',
      timeoutMs: 30_000,
    });
    expect(await keyState(arn)).toBe('Enabled');
  });

  it('exactly one KmsKey may schedule a key’s deletion: a second one is told who holds the authority', async () => {
    await f.create('KmsKey', 'creator', {
      create: { policy: { services: ['ManagedFlink', 'Keyspaces', 'EmrServerless'] } },
      deletionPolicy: 'ScheduleDeletion',
    });
    const arn = await f.waitFor<{ status?: { keyArn?: string } }, string>(
      'KmsKey',
      'creator',
      (o) => (ready(o as never) ? o.status?.keyArn : undefined),
      'creator Ready',
      30_000,
    );
    await f.create('KmsKey', 'second-claim', { keyId: arn, deletionPolicy: 'ScheduleDeletion' });
    const c = await f.waitFor(
      'KmsKey',
      'second-claim',
      condition('DeletionAuthority', 'False', 'AuthorityHeldByAnother'),
      'authority condition',
      30_000,
    );
    expect(c.message).toContain(`${f.namespace}/creator`);

    // Deleting the second object lets go of it without touching the key (the creator declares it).
    await f.remove('KmsKey', 'second-claim');
    await gone('KmsKey', 'second-claim');
    expect(await keyState(arn)).toBe('Enabled');
  });

  it('a workload naming the key by keyId holds the deletion until it moves off the key', async () => {
    const arn = await f.serviceKey('by-id-key');
    await f.create('KmsKey', 'by-id-guard', { keyId: arn, deletionPolicy: 'ScheduleDeletion' });
    await f.waitFor('KmsKey', 'by-id-guard', ready, 'guard Ready', 30_000);
    const ids = table();
    await f.create('KeyspacesTable', ids.tableName.replace(/_/g, '-'), { ...ids, key: { keyId: arn } });
    await f.waitFor(
      'KeyspacesTable',
      ids.tableName.replace(/_/g, '-'),
      onKey(arn),
      'table on the key',
      30_000,
    );

    await f.remove('KmsKey', 'by-id-guard');
    const c = await f.waitFor('KmsKey', 'by-id-guard', blocked, 'DeletionBlocked', 30_000);
    expect(c.message).toContain(
      `KeyspacesTable ${f.namespace}/${ids.tableName.replace(/_/g, '-')} (on the key)`,
    );
    expect(await keyState(arn)).toBe('Enabled');

    // The table moves to the AWS owned key; once AWS reports it there, and the KmsKey that created
    // the key (Retain: it declares the key) is gone too, the deletion goes on.
    const tableName = ids.tableName.replace(/_/g, '-');
    await adminIdentity().request(
      'PATCH',
      `/apis/cmk.io/v1alpha1/namespaces/${f.namespace}/keyspacestables/${tableName}`,
      { spec: { key: { keyId: null, awsOwned: true } } },
      { contentType: 'application/merge-patch+json' },
    );
    await f.waitFor<{ status?: { current?: { keyType?: string } } }, true>(
      'KeyspacesTable',
      tableName,
      (o) => (o.status?.current?.keyType === 'AwsOwned' ? true : undefined),
      'table on the AWS owned key',
      30_000,
    );
    await f.remove('KmsKey', 'by-id-key');
    await gone('KmsKey', 'by-id-guard');
    expect(await keyState(arn)).toBe('PendingDeletion');
  });

  it('a switch away from the key holds its deletion until AWS confirms it', async () => {
    const from = await f.serviceKey('leaving-key');
    const to = await f.serviceKey('arriving-key');
    await f.create('KmsKey', 'leaving-guard', { keyId: from, deletionPolicy: 'ScheduleDeletion' });
    await f.waitFor('KmsKey', 'leaving-guard', ready, 'guard Ready', 30_000);
    const applicationName = flinkApp();
    await f.create('FlinkApplication', applicationName, { applicationName, key: { keyId: from } });
    await f.waitFor('FlinkApplication', applicationName, onKey(from), 'on the first key', 40_000);

    // The application moves to the other key (an 8 s update in AWS); the leaving key's KmsKeys
    // are deleted in the middle of it.
    await adminIdentity().request(
      'PATCH',
      `/apis/cmk.io/v1alpha1/namespaces/${f.namespace}/flinkapplications/${applicationName}`,
      { spec: { key: { keyId: to } } },
      { contentType: 'application/merge-patch+json' },
    );
    await f.waitFor<{ status?: { lastOperation?: { status?: string } } }, true>(
      'FlinkApplication',
      applicationName,
      (o) => (o.status?.lastOperation?.status === 'InProgress' ? true : undefined),
      'switch in flight',
      20_000,
    );
    await f.remove('KmsKey', 'leaving-key');
    await f.remove('KmsKey', 'leaving-guard');
    const c = await f.waitFor(
      'KmsKey',
      'leaving-guard',
      blocked,
      'DeletionBlocked during the switch',
      20_000,
    );
    expect(c.message).toContain(`FlinkApplication ${f.namespace}/${applicationName}`);
    expect(await keyState(from)).toBe('Enabled');

    // AWS confirms the switch: nothing uses the key any more, and its deletion is scheduled.
    await f.waitFor('FlinkApplication', applicationName, onKey(to), 'on the second key', 40_000);
    await gone('KmsKey', 'leaving-guard');
    expect(await keyState(from)).toBe('PendingDeletion');
  });
});
