// The Keyspaces emulator through the real @aws-sdk/client-keyspaces over HTTP: table lifecycle, the
// CMK rules the operator depends on (key checks, two grants per table, one-setting UpdateTable,
// INACCESSIBLE_ENCRYPTION_CREDENTIALS and the 7-day deletion) and the DDL concurrency quota.

import {
  CreateKeyspaceCommand,
  CreateTableCommand,
  DeleteKeyspaceCommand,
  DeleteTableCommand,
  GetKeyspaceCommand,
  GetTableCommand,
  KeyspacesClient,
  ListKeyspacesCommand,
  ListTablesCommand,
  ListTagsForResourceCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-keyspaces';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
  ListGrantsCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const day = 86_400_000;
const frozenAt = Date.UTC(2026, 10, 23, 12, 0, 0);

const keyspaces = (opts?: { region?: string; accessKeyId?: string }) =>
  new KeyspacesClient(fixture.clientConfig(opts));
const kms = (opts?: { region?: string }) => new KMSClient(fixture.clientConfig(opts));

const schemaDefinition = {
  allColumns: [
    { name: 'id', type: 'text' },
    { name: 'ts', type: 'timestamp' },
    { name: 'payload', type: 'blob' },
  ],
  partitionKeys: [{ name: 'id' }],
  clusteringKeys: [{ name: 'ts', orderBy: 'DESC' as const }],
};

/** The clock moves; the next request settles every transition due by then. */
const advance = (ms: number) => fixture.emulator.world().clock.advance(ms);

async function newKey(opts: { region?: string; keySpec?: 'SYMMETRIC_DEFAULT' | 'RSA_2048' } = {}) {
  const out = await kms(opts).send(
    new CreateKeyCommand({
      ...(opts.keySpec ? { KeySpec: opts.keySpec } : {}),
      ...(opts.keySpec === 'RSA_2048' ? { KeyUsage: 'ENCRYPT_DECRYPT' } : {}),
    }),
  );
  return out.KeyMetadata!;
}

async function grantsOn(keyArn: string, region?: string) {
  const out = await kms(region ? { region } : {}).send(new ListGrantsCommand({ KeyId: keyArn }));
  return out.Grants ?? [];
}

async function createKeyspace(name = 'app') {
  await keyspaces().send(new CreateKeyspaceCommand({ keyspaceName: name }));
}

async function createTable(
  tableName: string,
  encryption?: { type: 'AWS_OWNED_KMS_KEY' | 'CUSTOMER_MANAGED_KMS_KEY'; kmsKeyIdentifier?: string },
  keyspaceName = 'app',
) {
  return keyspaces().send(
    new CreateTableCommand({
      keyspaceName,
      tableName,
      schemaDefinition,
      ...(encryption ? { encryptionSpecification: encryption } : {}),
    }),
  );
}

async function status(tableName: string, keyspaceName = 'app') {
  return (await keyspaces().send(new GetTableCommand({ keyspaceName, tableName }))).status;
}

const cmk = (arn: string) => ({ type: 'CUSTOMER_MANAGED_KMS_KEY' as const, kmsKeyIdentifier: arn });

describe('keyspaces', () => {
  it('creates, describes, lists and deletes keyspaces; system keyspaces are listed too', async () => {
    const client = keyspaces();
    const created = await client.send(new CreateKeyspaceCommand({ keyspaceName: 'orders' }));
    expect(created.resourceArn).toBe(`arn:aws:cassandra:us-east-1:${account}:/keyspace/orders/`);
    const got = await client.send(new GetKeyspaceCommand({ keyspaceName: 'orders' }));
    expect(got).toMatchObject({ keyspaceName: 'orders', replicationStrategy: 'SINGLE_REGION' });
    await expect(client.send(new CreateKeyspaceCommand({ keyspaceName: 'orders' }))).rejects.toMatchObject({
      name: 'ConflictException',
    });
    const listed = await client.send(new ListKeyspacesCommand({}));
    const names = listed.keyspaces!.map((k) => k.keyspaceName);
    expect(names).toContain('orders');
    expect(names).toContain('system_schema');

    await client.send(new DeleteKeyspaceCommand({ keyspaceName: 'orders' }));
    await expect(client.send(new GetKeyspaceCommand({ keyspaceName: 'orders' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      resourceArn: `arn:aws:cassandra:us-east-1:${account}:/keyspace/orders/`,
      $metadata: { httpStatusCode: 404 },
    });
  });

  it('scopes keyspaces by region', async () => {
    await createKeyspace('regional');
    await expect(
      keyspaces({ region: 'eu-west-1' }).send(new GetKeyspaceCommand({ keyspaceName: 'regional' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('validates keyspace names', async () => {
    await expect(
      keyspaces().send(new CreateKeyspaceCommand({ keyspaceName: 'bad-name' })),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /keyspaceName/ });
  });
});

describe('tables', () => {
  it('creates a table CREATING, then ACTIVE after the transition, with the documented fields', async () => {
    await createKeyspace();
    const out = await createTable('events');
    expect(out.resourceArn).toBe(`arn:aws:cassandra:us-east-1:${account}:/keyspace/app/table/events`);
    expect(await status('events')).toBe('CREATING');
    advance(999);
    expect(await status('events')).toBe('CREATING');
    advance(1);
    const t = await keyspaces().send(new GetTableCommand({ keyspaceName: 'app', tableName: 'events' }));
    expect(t).toMatchObject({
      keyspaceName: 'app',
      tableName: 'events',
      resourceArn: out.resourceArn,
      status: 'ACTIVE',
      encryptionSpecification: { type: 'AWS_OWNED_KMS_KEY' },
      capacitySpecification: { throughputMode: 'PAY_PER_REQUEST' },
      pointInTimeRecovery: { status: 'DISABLED' },
      ttl: { status: 'DISABLED' },
      defaultTimeToLive: 0,
      comment: { message: '' },
      schemaDefinition: { partitionKeys: [{ name: 'id' }] },
    });
    expect(t.creationTimestamp?.getTime()).toBe(frozenAt);
  });

  it('rejects an existing table name and tables in a missing keyspace', async () => {
    await createKeyspace();
    await createTable('t1');
    await expect(createTable('t1')).rejects.toMatchObject({ name: 'ConflictException' });
    await expect(createTable('t2', undefined, 'nope')).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('validates the schema: partition keys required and must be declared columns', async () => {
    await createKeyspace();
    const send = (schema: Record<string, unknown>) =>
      keyspaces().send(
        new CreateTableCommand({
          keyspaceName: 'app',
          tableName: 'bad',
          schemaDefinition: schema as never,
        }),
      );
    await expect(send({ allColumns: [{ name: 'id', type: 'text' }] })).rejects.toMatchObject({
      name: 'ValidationException',
      message: /partitionKeys/,
    });
    await expect(
      send({ allColumns: [{ name: 'id', type: 'text' }], partitionKeys: [{ name: 'other' }] }),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /other/ });
    await expect(
      send({ allColumns: [{ name: 'id', type: 'wibble' }], partitionKeys: [{ name: 'id' }] }),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /wibble/ });
  });

  it('pages ListTables with maxResults and nextToken', async () => {
    await createKeyspace();
    for (const name of ['e', 'a', 'd', 'b', 'c']) await createTable(name);
    const client = keyspaces();
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const out = await client.send(new ListTablesCommand({ keyspaceName: 'app', maxResults: 2, nextToken }));
      seen.push(...out.tables!.map((t) => t.tableName!));
      nextToken = out.nextToken;
      pages++;
    } while (nextToken);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(pages).toBe(3);
  });

  it('deletes a table: DELETING, then gone', async () => {
    await createKeyspace();
    await createTable('gone');
    advance(1000);
    await keyspaces().send(new DeleteTableCommand({ keyspaceName: 'app', tableName: 'gone' }));
    expect(await status('gone')).toBe('DELETING');
    advance(1000);
    await expect(status('gone')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('refuses to delete a table that is still CREATING', async () => {
    await createKeyspace();
    await createTable('busy');
    await expect(
      keyspaces().send(new DeleteTableCommand({ keyspaceName: 'app', tableName: 'busy' })),
    ).rejects.toMatchObject({ name: 'ConflictException', $metadata: { httpStatusCode: 409 } });
  });

  it('tags keyspaces and tables', async () => {
    await createKeyspace();
    const { resourceArn } = await createTable('tagged');
    const client = keyspaces();
    await client.send(
      new TagResourceCommand({
        resourceArn,
        tags: [
          { key: 'team', value: 'data' },
          { key: 'env', value: 'prod' },
        ],
      }),
    );
    await client.send(new UntagResourceCommand({ resourceArn, tags: [{ key: 'env', value: 'prod' }] }));
    const out = await client.send(new ListTagsForResourceCommand({ resourceArn }));
    expect(out.tags).toEqual([{ key: 'team', value: 'data' }]);

    const ksArn = `arn:aws:cassandra:us-east-1:${account}:/keyspace/app/`;
    await client.send(new TagResourceCommand({ resourceArn: ksArn, tags: [{ key: 'owner', value: 'me' }] }));
    expect((await client.send(new ListTagsForResourceCommand({ resourceArn: ksArn }))).tags).toEqual([
      { key: 'owner', value: 'me' },
    ]);
    await expect(
      client.send(new ListTagsForResourceCommand({ resourceArn: `${ksArn}table/missing` })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});

describe('customer managed keys', () => {
  it('creates a CMK table with two Keyspaces grants constrained to the table', async () => {
    await createKeyspace();
    const key = await newKey();
    await createTable('secure', cmk(key.Arn!));
    const grants = await grantsOn(key.Arn!);
    expect(grants).toHaveLength(2);
    for (const g of grants) {
      expect(g.GranteeServicePrincipal ?? g.GranteePrincipal).toBe('cassandra.amazonaws.com');
      expect(g.RetiringServicePrincipal ?? g.RetiringPrincipal).toBe('cassandra.amazonaws.com');
      expect([...(g.Operations ?? [])].sort()).toEqual(
        [
          'Decrypt',
          'DescribeKey',
          'Encrypt',
          'GenerateDataKey',
          'ReEncryptFrom',
          'ReEncryptTo',
          'RetireGrant',
        ].sort(),
      );
      expect(g.Constraints?.EncryptionContextSubset).toEqual({
        'aws:cassandra:keyspaceName': 'app',
        'aws:cassandra:tableName': 'secure',
        'aws:cassandra:subscriberId': account,
      });
    }
    advance(1000);
    const t = await keyspaces().send(new GetTableCommand({ keyspaceName: 'app', tableName: 'secure' }));
    expect(t.status).toBe('ACTIVE');
    expect(t.encryptionSpecification).toEqual(cmk(key.Arn!));
  });

  it('requires a key ARN: alias ARNs, aliases and bare key ids are refused', async () => {
    await createKeyspace();
    const key = await newKey();
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/ks', TargetKeyId: key.KeyId! }));
    for (const ref of [`arn:aws:kms:us-east-1:${account}:alias/ks`, 'alias/ks', key.KeyId!]) {
      await expect(createTable('t', cmk(ref))).rejects.toMatchObject({
        name: 'ValidationException',
        message: /ARN of the KMS key/,
      });
    }
    await expect(createTable('t', { type: 'CUSTOMER_MANAGED_KMS_KEY' })).rejects.toMatchObject({
      name: 'ValidationException',
      message: /kmsKeyIdentifier is required/,
    });
    expect(await grantsOn(key.Arn!)).toHaveLength(0);
  });

  it('refuses disabled, asymmetric, missing and other-region keys without leaving grants', async () => {
    await createKeyspace();
    const disabled = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: disabled.KeyId! }));
    await expect(createTable('t', cmk(disabled.Arn!))).rejects.toMatchObject({
      name: 'ValidationException',
      message: /Disabled/,
    });
    const rsa = await newKey({ keySpec: 'RSA_2048' });
    await expect(createTable('t', cmk(rsa.Arn!))).rejects.toMatchObject({
      name: 'ValidationException',
      message: /symmetric/,
    });
    await expect(
      createTable('t', cmk(`arn:aws:kms:us-east-1:${account}:key/00000000-0000-4000-8000-000000000000`)),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /does not exist/ });
    const west = await newKey({ region: 'us-west-2' });
    await expect(createTable('t', cmk(west.Arn!))).rejects.toMatchObject({
      name: 'ValidationException',
      message: /us-west-2/,
    });
    expect(await grantsOn(disabled.Arn!)).toHaveLength(0);
    expect(await grantsOn(west.Arn!, 'us-west-2')).toHaveLength(0);
  });

  it('lets KMS decide: a caller whose IAM policy lacks KMS permissions cannot pick the key', async () => {
    fixture.emulator.seed({
      principals: [
        {
          accessKeyId: 'AKIANARROW0000000001',
          arn: `arn:aws:iam::${account}:user/narrow`,
          iamAllow: ['cassandra:*'],
        },
      ],
    });
    await createKeyspace();
    const key = await newKey();
    const narrow = keyspaces({ accessKeyId: 'AKIANARROW0000000001' });
    await expect(
      narrow.send(
        new CreateTableCommand({
          keyspaceName: 'app',
          tableName: 'denied',
          schemaDefinition,
          encryptionSpecification: cmk(key.Arn!),
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /narrow/ });
    expect(await grantsOn(key.Arn!)).toHaveLength(0);
    // The administrator passes with the default key policy (root statement delegates to IAM).
    await createTable('allowed', cmk(key.Arn!));
    expect(await grantsOn(key.Arn!)).toHaveLength(2);
  });

  it('needs kms:ViaService with a Region wildcard: a Region-pinned condition is refused (KS-011)', async () => {
    await createKeyspace();
    const policyWith = (via: string) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'Key administration',
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${account}:root` },
            Action: ['kms:Describe*', 'kms:List*', 'kms:Get*', 'kms:Put*', 'kms:Enable*', 'kms:Disable*'],
            Resource: '*',
          },
          {
            Sid: 'Keyspaces use on behalf of account principals',
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${account}:root` },
            Action: [
              'kms:Encrypt',
              'kms:Decrypt',
              'kms:ReEncrypt*',
              'kms:GenerateDataKey*',
              'kms:DescribeKey',
              'kms:CreateGrant',
            ],
            Resource: '*',
            Condition: { StringLike: { 'kms:ViaService': via } },
          },
        ],
      });
    const create = async (via: string) =>
      (
        await kms().send(
          new CreateKeyCommand({ Policy: policyWith(via), BypassPolicyLockoutSafetyCheck: true }),
        )
      ).KeyMetadata!;
    const pinned = await create('cassandra.us-east-1.amazonaws.com');
    await expect(createTable('pinned', cmk(pinned.Arn!))).rejects.toMatchObject({
      name: 'ValidationException',
      message: /kms:ViaService|cassandra\.us-west-2/,
    });
    const wildcard = await create('cassandra.*.amazonaws.com');
    await createTable('wildcard', cmk(wildcard.Arn!));
    expect(await grantsOn(wildcard.Arn!)).toHaveLength(2);
  });

  it('surfaces a full grant quota as a ValidationException and keeps grants balanced', async () => {
    await fixture.admin.patchConfig({ grantsPerKey: 3 });
    await createKeyspace();
    const key = await newKey();
    await createTable('first', cmk(key.Arn!));
    await expect(createTable('second', cmk(key.Arn!))).rejects.toMatchObject({
      name: 'ValidationException',
      message: /grant quota/,
    });
    expect(await grantsOn(key.Arn!)).toHaveLength(2);
    await expect(status('second')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('fails creation when the key is disabled before CREATING completes (KS-021)', async () => {
    await createKeyspace();
    const key = await newKey();
    await createTable('doomed', cmk(key.Arn!));
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    advance(1000);
    await expect(status('doomed')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(await grantsOn(key.Arn!)).toHaveLength(0);
  });

  it('releases one grant at deletion and the other 42 days later', async () => {
    await createKeyspace();
    const key = await newKey();
    await createTable('short', cmk(key.Arn!));
    advance(1000);
    await keyspaces().send(new DeleteTableCommand({ keyspaceName: 'app', tableName: 'short' }));
    expect(await grantsOn(key.Arn!)).toHaveLength(1);
    advance(42 * day - 1);
    expect(await grantsOn(key.Arn!)).toHaveLength(1);
    advance(1);
    expect(await grantsOn(key.Arn!)).toHaveLength(0);
  });

  it('a re-created table gets fresh grants while the old backup grant lingers', async () => {
    await createKeyspace();
    const key = await newKey();
    await createTable('again', cmk(key.Arn!));
    advance(1000);
    await keyspaces().send(new DeleteTableCommand({ keyspaceName: 'app', tableName: 'again' }));
    advance(1000);
    await createTable('again', cmk(key.Arn!));
    expect(await grantsOn(key.Arn!)).toHaveLength(3);
  });
});

describe('UpdateTable', () => {
  it('takes one setting per call: encryption mixed with anything else is refused', async () => {
    await createKeyspace();
    await createTable('one');
    advance(1000);
    const key = await newKey();
    const client = keyspaces();
    await expect(
      client.send(
        new UpdateTableCommand({
          keyspaceName: 'app',
          tableName: 'one',
          encryptionSpecification: cmk(key.Arn!),
          pointInTimeRecovery: { status: 'ENABLED' },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /pointInTimeRecovery/ });
    await expect(
      client.send(new UpdateTableCommand({ keyspaceName: 'app', tableName: 'one' })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(
      client.send(
        new UpdateTableCommand({
          keyspaceName: 'app',
          tableName: 'one',
          pointInTimeRecovery: { status: 'ENABLED' },
          ttl: { status: 'ENABLED' },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    expect(await status('one')).toBe('ACTIVE');
    expect(await grantsOn(key.Arn!)).toHaveLength(0);
  });

  it('walks ACTIVE -> UPDATING -> ACTIVE and refuses a second update meanwhile', async () => {
    await createKeyspace();
    await createTable('pitr');
    const client = keyspaces();
    await expect(
      client.send(
        new UpdateTableCommand({
          keyspaceName: 'app',
          tableName: 'pitr',
          pointInTimeRecovery: { status: 'ENABLED' },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ConflictException' });
    advance(1000);
    await client.send(
      new UpdateTableCommand({
        keyspaceName: 'app',
        tableName: 'pitr',
        pointInTimeRecovery: { status: 'ENABLED' },
      }),
    );
    expect(await status('pitr')).toBe('UPDATING');
    await expect(
      client.send(
        new UpdateTableCommand({ keyspaceName: 'app', tableName: 'pitr', ttl: { status: 'ENABLED' } }),
      ),
    ).rejects.toMatchObject({ name: 'ConflictException' });
    advance(1000);
    const t = await client.send(new GetTableCommand({ keyspaceName: 'app', tableName: 'pitr' }));
    expect(t.status).toBe('ACTIVE');
    expect(t.pointInTimeRecovery?.status).toBe('ENABLED');
  });

  it('switches AOK -> CMK -> other CMK -> AOK, moving grants between keys', async () => {
    await createKeyspace();
    await createTable('moving');
    advance(1000);
    const a = await newKey();
    const b = await newKey();
    const client = keyspaces();
    const update = (encryptionSpecification: { type: 'AWS_OWNED_KMS_KEY' | 'CUSTOMER_MANAGED_KMS_KEY' }) =>
      client.send(
        new UpdateTableCommand({ keyspaceName: 'app', tableName: 'moving', encryptionSpecification }),
      );

    await update(cmk(a.Arn!));
    expect(await grantsOn(a.Arn!)).toHaveLength(2);
    advance(1000);
    expect(
      (await client.send(new GetTableCommand({ keyspaceName: 'app', tableName: 'moving' })))
        .encryptionSpecification,
    ).toEqual(cmk(a.Arn!));

    await update(cmk(b.Arn!));
    expect(await status('moving')).toBe('UPDATING');
    expect(await grantsOn(b.Arn!)).toHaveLength(2);
    expect(await grantsOn(a.Arn!)).toHaveLength(2); // retired when the update completes
    advance(1000);
    expect(await status('moving')).toBe('ACTIVE');
    expect(await grantsOn(a.Arn!)).toHaveLength(0);

    await update({ type: 'AWS_OWNED_KMS_KEY' });
    advance(1000);
    expect(await grantsOn(b.Arn!)).toHaveLength(0);
    const t = await client.send(new GetTableCommand({ keyspaceName: 'app', tableName: 'moving' }));
    expect(t.encryptionSpecification).toEqual({ type: 'AWS_OWNED_KMS_KEY' });
  });

  it('keeps the old key when the new one is refused', async () => {
    await createKeyspace();
    const a = await newKey();
    await createTable('stay', cmk(a.Arn!));
    advance(1000);
    const b = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: b.KeyId! }));
    await expect(
      keyspaces().send(
        new UpdateTableCommand({
          keyspaceName: 'app',
          tableName: 'stay',
          encryptionSpecification: cmk(b.Arn!),
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    const t = await keyspaces().send(new GetTableCommand({ keyspaceName: 'app', tableName: 'stay' }));
    expect(t).toMatchObject({ status: 'ACTIVE', encryptionSpecification: cmk(a.Arn!) });
    expect(await grantsOn(a.Arn!)).toHaveLength(2);
  });
});

describe('key loss', () => {
  it('goes INACCESSIBLE_ENCRYPTION_CREDENTIALS when the key is disabled and back to ACTIVE when enabled', async () => {
    await createKeyspace();
    const key = await newKey();
    await createTable('fragile', cmk(key.Arn!));
    await createTable('other');
    advance(1000);
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    expect(await status('fragile')).toBe('INACCESSIBLE_ENCRYPTION_CREDENTIALS');
    expect(await status('other')).toBe('ACTIVE');
    await expect(
      keyspaces().send(
        new UpdateTableCommand({
          keyspaceName: 'app',
          tableName: 'fragile',
          pointInTimeRecovery: { status: 'ENABLED' },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ConflictException' });
    advance(6 * day);
    await kms().send(new EnableKeyCommand({ KeyId: key.KeyId! }));
    expect(await status('fragile')).toBe('ACTIVE');
    // The 7-day countdown was cancelled.
    advance(30 * day);
    expect(await status('fragile')).toBe('ACTIVE');
    expect(await grantsOn(key.Arn!)).toHaveLength(2);
  });

  it('deletes a table still inaccessible 7 days after detection, releasing its grants as a deletion', async () => {
    await createKeyspace();
    const key = await newKey();
    await createTable('lost', cmk(key.Arn!));
    advance(1000);
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    advance(7 * day - 1);
    expect(await status('lost')).toBe('INACCESSIBLE_ENCRYPTION_CREDENTIALS');
    advance(1);
    expect(await status('lost')).toBe('DELETING');
    advance(1000);
    await expect(status('lost')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(await grantsOn(key.Arn!)).toHaveLength(1);
    advance(42 * day);
    expect(await grantsOn(key.Arn!)).toHaveLength(0);
  });

  it('treats a key pending deletion like a disabled key', async () => {
    await createKeyspace();
    const key = await newKey();
    await createTable('pending', cmk(key.Arn!));
    advance(1000);
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: 7 }));
    expect(await status('pending')).toBe('INACCESSIBLE_ENCRYPTION_CREDENTIALS');
    advance(7 * day + 1000);
    await expect(status('pending')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('an UPDATING table whose new key is disabled lands in INACCESSIBLE_ENCRYPTION_CREDENTIALS', async () => {
    await createKeyspace();
    await createTable('mid');
    advance(1000);
    const key = await newKey();
    await keyspaces().send(
      new UpdateTableCommand({
        keyspaceName: 'app',
        tableName: 'mid',
        encryptionSpecification: cmk(key.Arn!),
      }),
    );
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    expect(await status('mid')).toBe('UPDATING');
    advance(1000);
    expect(await status('mid')).toBe('INACCESSIBLE_ENCRYPTION_CREDENTIALS');
  });
});

describe('DDL concurrency', () => {
  it('allows 50 concurrent DDL operations per account and region, then ServiceQuotaExceeded', async () => {
    await createKeyspace();
    for (let i = 0; i < 50; i++) await createTable(`t${i}`);
    await expect(createTable('t50')).rejects.toMatchObject({
      name: 'ServiceQuotaExceededException',
      $metadata: { httpStatusCode: 402 },
    });
    // Another region has its own quota.
    const west = keyspaces({ region: 'us-west-2' });
    await west.send(new CreateKeyspaceCommand({ keyspaceName: 'app' }));
    await west.send(new CreateTableCommand({ keyspaceName: 'app', tableName: 'w', schemaDefinition }));
    advance(1000);
    await createTable('t50');
    expect(await status('t50')).toBe('CREATING');
  });
});

describe('seed', () => {
  it('seeds keyspaces and CMK tables bound to their keys', async () => {
    const key = await newKey();
    fixture.emulator.seed({
      cassandra: {
        keyspaces: [
          {
            name: 'seeded',
            tables: [
              { name: 'plain' },
              { name: 'enc', encryption: cmk(key.Arn!) },
              { name: 'new', status: 'CREATING' },
            ],
          },
        ],
      },
    });
    expect(await status('plain', 'seeded')).toBe('ACTIVE');
    expect(await status('enc', 'seeded')).toBe('ACTIVE');
    expect(await status('new', 'seeded')).toBe('CREATING');
    expect(await grantsOn(key.Arn!)).toHaveLength(2);
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    expect(await status('enc', 'seeded')).toBe('INACCESSIBLE_ENCRYPTION_CREDENTIALS');
  });
});
