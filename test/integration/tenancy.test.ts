// Invariant 4: a namespace acts only on the AWS resources and keys the operator's tenancy rules
// allow it. Refusals are conditions on the object, and nothing is changed in AWS.

import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { rootOnlyKeyPolicy } from '../fixtures/keys.ts';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator({
  tenancy: (ns) => ({
    namespaces: {
      [ns]: {
        allowedKeyArnPatterns: ['arn:aws:kms:us-east-1:111122223333:key/*'],
        allowedWorkloadArnPatterns: ['arn:aws:cassandra:us-east-1:111122223333:/keyspace/team_a*'],
      },
    },
  }),
});
let kms: KMSClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
});

describe('tenancy rules', () => {
  it('a workload outside the allowed resource patterns is refused and untouched', async () => {
    const keyArn = (await kms.send(new CreateKeyCommand({ Policy: rootOnlyKeyPolicy }))).KeyMetadata!.Arn!;
    f.emulator.seed({ cassandra: { keyspaces: [{ name: 'team_b', tables: [{ name: 'orders' }] }] } });
    await f.create('KeyspacesTable', 'not-ours', {
      keyspaceName: 'team_b',
      tableName: 'orders',
      key: { keyId: keyArn },
    });
    const refused = await f.waitFor(
      'KeyspacesTable',
      'not-ours',
      condition('Stalled', 'True', 'ResourceNotAllowed'),
    );
    expect(refused.message).toContain('team_b');
    const writes = (await f.admin.calls({ service: 'cassandra' })).filter((c) =>
      ['UpdateTable', 'TagResource'].includes(c.eventName),
    );
    expect(writes).toEqual([]);
  });

  it('a workload inside the patterns proceeds', async () => {
    const keyArn = (await kms.send(new CreateKeyCommand({ Policy: rootOnlyKeyPolicy }))).KeyMetadata!.Arn!;
    f.emulator.seed({ cassandra: { keyspaces: [{ name: 'team_a', tables: [{ name: 'orders' }] }] } });
    await f.create('KeyspacesTable', 'ours', {
      keyspaceName: 'team_a',
      tableName: 'orders',
      key: { keyId: keyArn },
    });
    await f.waitFor('KeyspacesTable', 'ours', condition('Ready', 'True'), 'ours Ready', 30_000);
  });

  it('a key in a Region the namespace may not use is refused on the KmsKey', async () => {
    await f.create('KmsKey', 'wrong-region', { region: 'eu-west-1', create: {} });
    const refused = await f.waitFor(
      'KmsKey',
      'wrong-region',
      condition('KeyUsable', 'False', 'KeyNotAllowed'),
    );
    expect(refused.message).toContain('eu-west-1');
    const created = (await f.admin.calls({ service: 'kms', eventName: 'CreateKey' })).filter(
      (c) => c.awsRegion === 'eu-west-1',
    );
    expect(created).toEqual([]);
  });
});
