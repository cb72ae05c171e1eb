// The Keyspaces adapter against the in-process emulator, through the real SDK clients configured the
// way the operator is (createAwsClients + AWS_ENDPOINT_URL). Transitions take 1000 ms on a frozen
// clock; each key change is followed to ACTIVE with the new key, and the KMS grants are checked.

import { KeyspacesClient, UpdateTableCommand } from '@aws-sdk/client-keyspaces';
import { DisableKeyCommand, EnableKeyCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { keyspacesAdapter, keyspacesState } from '../../src/aws/keyspaces.ts';
import type { EncryptionSetting, WorkloadId } from '../../src/aws/workload.ts';
import { failure, useAdapters } from '../fixtures/aws.ts';
import { account, awsOwned, cmk } from '../fixtures/keys.ts';
import { keyspacesTable, withKey as onKey, type WorkloadMod } from '../fixtures/objects.ts';

const fixture = useAdapters();
const { target } = fixture;

/** The default key policy (account root may use it) is enough for Keyspaces (KS-010/011). */
const newKey = () => fixture.newKey();
async function grantCount(keyArn: string): Promise<number> {
  return ((await fixture.kms().send(new ListGrantsCommand({ KeyId: keyArn }))).Grants ?? []).length;
}
const table = (name: string, ...mods: WorkloadMod[]) => fixture.seed(keyspacesTable('app', name, ...mods));

async function observe(id: WorkloadId) {
  const state = await keyspacesAdapter.observe(fixture.clients, target, id);
  if (!state) throw new Error('expected the table to exist');
  return state;
}

/** The key change, as the core asks for it: on a read made for it. */
async function changeKey(id: WorkloadId, desired: EncryptionSetting) {
  return keyspacesAdapter.changeKey(fixture.clients, target, id, desired, await observe(id));
}

/** The operation, as the core follows it: from the read it has just made. */
async function operation(id: WorkloadId, operationId: string) {
  return keyspacesAdapter.operation!(fixture.clients, target, id, operationId, await observe(id));
}

/**
 * Follows a key change to its end: UPDATING, then ACTIVE with the new key and operation() Succeeded.
 * The emulator refuses encryptionSpecification batched with any other setting, so an accepted change
 * also shows the adapter sent it alone (TRAP-10).
 */
async function changeAndSettle(id: WorkloadId, desired: EncryptionSetting) {
  const { operation: started } = await changeKey(id, desired);
  expect(started).toMatchObject({ action: 'UpdateTable', status: 'InProgress' });
  expect(await observe(id)).toMatchObject({
    awsState: 'UPDATING',
    settled: false,
    blocker: { kind: 'Transitioning' },
  });
  expect(await operation(id, started.id!)).toMatchObject({ status: 'InProgress' });
  fixture.advance();
  expect(await operation(id, started.id!)).toMatchObject({ id: started.id, status: 'Succeeded' });
  const after = await observe(id);
  expect(after).toMatchObject({ awsState: 'ACTIVE', settled: true, running: true, encryption: desired });
  expect(after.blocker).toBeUndefined();
  return started;
}

describe('keyspacesAdapter.observe', () => {
  it('reads an AWS-owned ACTIVE table', async () => {
    const id = table('events');
    const state = await observe(id);
    expect(state).toEqual({
      resourceArn: `arn:aws:cassandra:us-east-1:${account}:/keyspace/app/table/events`,
      awsState: 'ACTIVE',
      settled: true,
      encryption: { type: 'AwsOwned' },
      running: true,
      tags: {},
      facts: { service: 'Keyspaces', pointInTimeRecovery: 'DISABLED' },
    });
    expect(keyspacesAdapter.encryptionContext(id, state, account)).toEqual({
      'aws:cassandra:keyspaceName': 'app',
      'aws:cassandra:tableName': 'events',
      'aws:cassandra:subscriberId': account,
    });
  });

  it('returns undefined for a missing table or keyspace', async () => {
    table('events');
    for (const id of [
      { service: 'Keyspaces', keyspaceName: 'app', tableName: 'nope' },
      { service: 'Keyspaces', keyspaceName: 'nope', tableName: 'events' },
    ] as const) {
      expect(await keyspacesAdapter.observe(fixture.clients, target, id)).toBeUndefined();
    }
  });

  it('reports a table whose key is disabled as inaccessible, and ACTIVE again once it is re-enabled', async () => {
    const key = await newKey();
    const id = table('events', onKey(key));
    await fixture.kms().send(new DisableKeyCommand({ KeyId: key }));
    expect(await observe(id)).toMatchObject({
      awsState: 'INACCESSIBLE_ENCRYPTION_CREDENTIALS',
      settled: true,
      running: false,
      keyInaccessible: true,
      blocker: { kind: 'TableInaccessible' },
      encryption: cmk(key),
    });
    await fixture.kms().send(new EnableKeyCommand({ KeyId: key }));
    const state = await observe(id);
    expect(state).toMatchObject({ awsState: 'ACTIVE', running: true });
    expect(state.keyInaccessible).toBeUndefined();
  });
});

describe('keyspacesAdapter.changeKey', () => {
  it('moves a table from the AWS-owned key to a CMK; the table holds two grants on it', async () => {
    const key = await newKey();
    const id = table('events');
    const operation = await changeAndSettle(id, cmk(key));
    expect(operation.id).toBe(`UpdateTable@${key}`);
    expect(await grantCount(key)).toBe(2);
  });

  it('moves a table from one CMK to another; the old key keeps no grants', async () => {
    const [oldKey, nextKey] = [await newKey(), await newKey()];
    const id = table('events', onKey(oldKey));
    await changeAndSettle(id, cmk(nextKey));
    expect([await grantCount(oldKey), await grantCount(nextKey)]).toEqual([0, 2]);
  });

  it('moves a table from a CMK back to the AWS-owned key', async () => {
    const key = await newKey();
    const id = table('events', onKey(key));
    const operation = await changeAndSettle(id, awsOwned);
    expect(operation.id).toBe('UpdateTable@AWS_OWNED_KMS_KEY');
    expect(await grantCount(key)).toBe(0);
  });

  it('reports the operation Failed when the table settled on another key than the one asked for', async () => {
    const [ours, theirs] = [await newKey(), await newKey()];
    const id = table('events');
    const { operation: started } = await changeKey(id, cmk(ours));
    fixture.advance();
    await new KeyspacesClient(fixture.clientConfig()).send(
      new UpdateTableCommand({
        keyspaceName: 'app',
        tableName: 'events',
        encryptionSpecification: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: theirs },
      }),
    );
    fixture.advance();
    expect(await operation(id, started.id!)).toMatchObject({
      status: 'Failed',
      message: expect.stringContaining(theirs),
    });
  });

  it('surfaces a change while UPDATING as a Conflict', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const id = table('events');
    await changeKey(id, cmk(a));
    const e = await failure(changeKey(id, cmk(b)));
    expect(e.failure).toMatchObject({ cause: 'Conflict', code: 'ConflictException' });
  });

  it('surfaces a key that does not exist as InvalidSpec and leaves the table as it was', async () => {
    const id = table('events');
    const missing = `arn:aws:kms:us-east-1:${account}:key/00000000-0000-0000-0000-000000000000`;
    const e = await failure(changeKey(id, cmk(missing)));
    expect(e.failure).toMatchObject({ cause: 'InvalidSpec', code: 'ValidationException' });
    expect(await observe(id)).toMatchObject({ awsState: 'ACTIVE', encryption: awsOwned });
  });

  it('surfaces a disabled key as InvalidSpec', async () => {
    const key = await newKey();
    await fixture.kms().send(new DisableKeyCommand({ KeyId: key }));
    const e = await failure(changeKey(table('events'), cmk(key)));
    expect(e.failure.cause).toBe('InvalidSpec');
  });

  it('surfaces a table deleted since the read as NotFound', async () => {
    const planned = await observe(table('events'));
    const gone: WorkloadId = { service: 'Keyspaces', keyspaceName: 'app', tableName: 'nope' };
    const e = await failure(keyspacesAdapter.changeKey(fixture.clients, target, gone, awsOwned, planned));
    expect(e.failure.cause).toBe('NotFound');
  });
});

describe('keyspacesAdapter.operation', () => {
  it('answers from the read it is given, without a call of its own', async () => {
    const key = await newKey();
    const id = table('events', onKey(key));
    const read = await observe(id);
    await fixture.admin.clearCalls();
    const follow = (operationId: string, state = read) =>
      keyspacesAdapter.operation!(fixture.clients, target, id, operationId, state);
    expect(await follow(`UpdateTable@${key}`)).toMatchObject({ status: 'Succeeded' });
    expect(await follow('UpdateTable@AWS_OWNED_KMS_KEY')).toMatchObject({
      status: 'Failed',
      message: `The table is ACTIVE with ${key}, not the AWS owned key.`,
    });
    expect(await follow('something-else')).toMatchObject({ status: 'Failed' });
    expect(
      await follow(`UpdateTable@${key}`, { ...read, awsState: 'UPDATING', settled: false }),
    ).toMatchObject({
      status: 'InProgress',
    });
    expect(
      await follow(`UpdateTable@${key}`, { ...read, awsState: 'DELETING', settled: false }),
    ).toMatchObject({
      status: 'Failed',
      message: 'The table is being deleted.',
    });
    const inaccessible = { ...read, awsState: 'INACCESSIBLE_ENCRYPTION_CREDENTIALS', keyInaccessible: true };
    expect(await follow(`UpdateTable@${key}`, inaccessible)).toMatchObject({
      status: 'Failed',
      message: expect.stringContaining('INACCESSIBLE_ENCRYPTION_CREDENTIALS'),
    });
    expect(await fixture.admin.calls({ service: 'cassandra' })).toEqual([]);
  });
});

describe('keyspacesAdapter tags', () => {
  it('adds tags and removes only the keys asked for (reading their values first)', async () => {
    const id = table('events');
    const arn = (await observe(id)).resourceArn;
    await keyspacesAdapter.tag(fixture.clients, target, arn, {
      'cmk-operator/owner': 'ns/events',
      extra: '1',
      keep: 'x',
    });
    await keyspacesAdapter.untag(fixture.clients, target, arn, ['extra', 'not-there']);
    expect((await observe(id)).tags).toEqual({ 'cmk-operator/owner': 'ns/events', keep: 'x' });
  });
});

describe('keyspacesState (unexpected responses)', () => {
  it.each([
    ['an unknown status is unsettled and reported as sent', { status: 'ARCHIVING' }, 'ARCHIVING', false],
    ['RESTORING is unsettled', { status: 'RESTORING' }, 'RESTORING', false],
    ['a missing status is unsettled', {}, 'Unknown', false],
  ] as const)('%s', (_name, table, awsState, settled) => {
    expect(keyspacesState({ $metadata: {}, ...table } as never, {})).toMatchObject({
      awsState,
      settled,
      blocker: { kind: 'Transitioning' },
      running: false,
      encryption: awsOwned,
    });
  });
});
