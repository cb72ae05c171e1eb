// The Managed Flink adapter against the in-process emulator, through the real SDK clients configured
// the way the operator is (createAwsClients + AWS_ENDPOINT_URL). Transitions take 1000 ms on a frozen
// clock; each test walks a key change to its end and asserts the observed state and the emulator's.

import {
  DeleteApplicationCommand,
  DescribeApplicationCommand,
  KinesisAnalyticsV2Client,
  StartApplicationCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { DisableKeyCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { flinkAdapter, flinkState } from '../../src/aws/flink.ts';
import { listingMaxAgeMs as listingAge } from '../../src/aws/region-listing.ts';
import type { EncryptionSetting, WorkloadId } from '../../src/aws/workload.ts';
import { createTtlMemo } from '../../src/runtime/ttl-memo.ts';
import { expectOneListingServes, failure, lightLooks as sharedLooks, useAdapters } from '../fixtures/aws.ts';
import { account, awsOwned, cmk, msfKeyActions, msfPrincipals, serviceKeyPolicy } from '../fixtures/keys.ts';
import { flinkApp as flinkSeed, running, tagged, type WorkloadMod, withKey } from '../fixtures/objects.ts';

const fixture = useAdapters();
const { target } = fixture;

/** A key policy MSF accepts (MSF-007/008/010); `services: []` leaves the MSF principals out. */
const flinkKeyPolicy = (services = msfPrincipals) => serviceKeyPolicy(services, msfKeyActions);
const newKey = (policy = flinkKeyPolicy()) => fixture.newKey(policy);
const flinkApp = (name: string, ...mods: WorkloadMod[]) => fixture.seed(flinkSeed(name, ...mods));

interface EmulatedApp {
  name: string;
  status: string;
  configuredKey: { keyType: string; keyArn?: string };
  runningStorage: { keyType: string; keyArn?: string } | null;
  snapshots: Array<{ origin: string; status: string }>;
}
async function emulated(name: string): Promise<EmulatedApp> {
  const state = (await fixture.admin.state())['kinesisanalytics'] as { applications: EmulatedApp[] };
  return state.applications.find((a) => a.name === name)!;
}

async function observe(id: WorkloadId) {
  const state = await flinkAdapter.observe(fixture.clients, target, id);
  if (!state) throw new Error('expected the application to exist');
  return state;
}

/** The key change, as the core asks for it: on a read made for it. */
async function changeKey(id: WorkloadId, desired: EncryptionSetting) {
  return flinkAdapter.changeKey(fixture.clients, target, id, desired, await observe(id));
}

/** The operation, as the core follows it: with the read it has just made. */
async function operation(id: WorkloadId, operationId: string) {
  return flinkAdapter.operation!(fixture.clients, target, id, operationId, await observe(id));
}

/** Follows a key change to its end: the operation succeeds and the application settles. */
async function changeAndSettle(id: WorkloadId, desired: EncryptionSetting) {
  const { operation: started } = await changeKey(id, desired);
  expect(started).toMatchObject({ action: 'UpdateApplication', status: 'InProgress' });
  const during = await observe(id);
  expect(during).toMatchObject({ awsState: 'UPDATING', settled: false, blocker: { kind: 'Transitioning' } });
  expect(during.lastOperation).toMatchObject({ id: started.id, status: 'InProgress' });
  fixture.advance();
  expect(await operation(id, started.id!)).toMatchObject({
    id: started.id,
    action: 'UpdateApplication',
    status: 'Succeeded',
  });
  const after = await observe(id);
  expect(after.settled).toBe(true);
  expect(after.encryption).toEqual(desired);
  expect(after.lastOperation).toMatchObject({ id: started.id, status: 'Succeeded' });
  return after;
}

describe('flinkAdapter.observe', () => {
  it('reads an AWS-owned READY application with its tags, version and runtime', async () => {
    const id = flinkApp('orders', tagged({ team: 'data' }));
    const state = await observe(id);
    expect(state).toEqual({
      resourceArn: `arn:aws:kinesisanalytics:us-east-1:${account}:application/orders`,
      awsState: 'READY',
      settled: true,
      encryption: { type: 'AwsOwned' },
      running: false,
      tags: { team: 'data' },
      facts: {
        service: 'ManagedFlink',
        applicationVersionId: 1,
        conditionalToken: expect.any(String),
        runtime: 'FLINK-1_20',
      },
    });
    expect(flinkAdapter.encryptionContext(id, state, account)).toEqual({
      'aws:kinesisanalytics:arn': state.resourceArn,
    });
  });

  it('reads a RUNNING application on a CMK as running and changeable', async () => {
    const key = await newKey();
    const state = await observe(flinkApp('orders', running(), withKey(key)));
    expect(state).toMatchObject({ awsState: 'RUNNING', settled: true, running: true, encryption: cmk(key) });
    expect(state.blocker).toBeUndefined();
  });

  it('returns undefined for an application that does not exist', async () => {
    expect(
      await flinkAdapter.observe(fixture.clients, target, {
        service: 'ManagedFlink',
        applicationName: 'nope',
      }),
    ).toBe(undefined);
  });
});

describe('flinkAdapter.observe sharing a Region listing (MSF-027)', () => {
  /** The age a 30 s resync gives a listing (5 s, the least). */
  const listingMaxAgeMs = listingAge(30_000);
  const lightLooks = () => sharedLooks(fixture, flinkAdapter, listingMaxAgeMs);
  const calls = async (eventName: string) =>
    (await fixture.admin.calls({ service: 'kinesisanalytics', eventName })).length;

  it('light looks at applications read once in full share one listing and read none of them again', async () => {
    const key = await newKey();
    const ids = ['a', 'b', 'c'].map((n) => flinkApp(`app-${n}`, running(), withKey(key)));
    await expectOneListingServes(fixture, lightLooks(), ids, 'kinesisanalytics', [
      'DescribeApplication',
      'ListApplicationOperations',
    ]);
  });

  it('a change by anyone else raises the version: the next look past the listing age reads it', async () => {
    const [before, after] = [await newKey(), await newKey()];
    const id = flinkApp('orders', withKey(before));
    const looks = lightLooks();
    await looks.read(id);
    expect((await looks.look(id))?.encryption).toEqual(cmk(before));
    // Someone else's UpdateApplication (the console, a pipeline): version 1 -> 2.
    const msf = new KinesisAnalyticsV2Client(fixture.clientConfig());
    await msf.send(
      new UpdateApplicationCommand({
        ApplicationName: 'orders',
        CurrentApplicationVersionId: 1,
        ApplicationConfigurationUpdate: {
          ApplicationEncryptionConfigurationUpdate: {
            KeyTypeUpdate: 'CUSTOMER_MANAGED_KEY',
            KeyIdUpdate: after,
          },
        },
      }),
    );
    fixture.advance();
    // Inside the listing's age the look still answers as of the listing (when it says it read).
    const stale = await looks.look(id);
    expect(stale?.encryption).toEqual(cmk(before));
    expect(stale?.readAt).toBeLessThanOrEqual(looks.now());
    looks.advance(listingMaxAgeMs);
    await fixture.admin.clearCalls();
    const fresh = await looks.look(id);
    expect(fresh?.encryption).toEqual(cmk(after));
    expect(fresh?.facts).toMatchObject({ applicationVersionId: 2 });
    expect(fresh?.readAt).toBeUndefined();
    expect(await calls('ListApplications')).toBe(1);
    expect(await calls('DescribeApplication')).toBe(1);
  });

  it('a started or stopped application (same version, other status) is read again', async () => {
    const id = flinkApp('orders');
    const looks = lightLooks();
    await looks.read(id);
    const msf = new KinesisAnalyticsV2Client(fixture.clientConfig());
    await msf.send(new StartApplicationCommand({ ApplicationName: 'orders' }));
    looks.advance(listingMaxAgeMs);
    await fixture.admin.clearCalls();
    expect(await looks.look(id)).toMatchObject({ awsState: 'STARTING', settled: false });
    expect(await calls('DescribeApplication')).toBe(1);
  });

  it('reads the application when it was never read in full, for acting, or without shareListing', async () => {
    const id = flinkApp('orders');
    const looks = lightLooks();
    await fixture.admin.clearCalls();
    await looks.look(id); // nothing remembered yet: listed, then read
    expect(await calls('DescribeApplication')).toBe(1);
    await looks.read(id); // a light look that may not share
    await flinkAdapter.observe(fixture.clients, target, id, {
      memo: looks.memo,
      forActing: true,
      shareListing: true,
      now: looks.now,
    });
    expect(await calls('DescribeApplication')).toBe(3);
    expect(await calls('ListApplications')).toBe(1);
  });

  it('an application missing from the listing is read, and a deleted one is reported missing', async () => {
    const looks = lightLooks();
    const id = flinkApp('orders');
    await looks.read(id);
    await looks.look(id);
    // Created after the listing: not in it, read directly.
    const late = flinkApp('late');
    expect(await looks.look(late)).toMatchObject({ awsState: 'READY' });
    expect(await looks.look({ service: 'ManagedFlink', applicationName: 'never-created' })).toBeUndefined();
  });

  it('the age a listing may have follows the resync: a tenth of it, at least 5 s', () => {
    expect(listingAge(30_000)).toBe(5000);
    expect(listingAge(10 * 60_000)).toBe(60_000);
  });

  it('one listing pages through a Region of 60 applications and answers for each', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => flinkApp(`many-${String(i).padStart(2, '0')}`));
    const looks = lightLooks();
    for (const id of ids) await looks.read(id);
    await fixture.admin.clearCalls();
    const light = await Promise.all(ids.map((id) => looks.look(id)));
    expect(light.every((l) => l?.awsState === 'READY' && l.readAt !== undefined)).toBe(true);
    expect(await calls('ListApplications')).toBe(2);
    expect(await calls('DescribeApplication')).toBe(0);
  });

  it('a Region whose looks of a window are fewer than the pages of its listing reads each application instead', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => flinkApp(`few-${String(i).padStart(2, '0')}`));
    const looks = lightLooks();
    await looks.read(ids[0]!);
    await looks.read(ids[1]!);
    await fixture.admin.clearCalls();
    await looks.look(ids[0]!); // learns the Region lists in 2 pages
    looks.advance(listingMaxAgeMs);
    await looks.look(ids[0]!); // the window before had 1 look for 2 pages: read instead
    expect(await calls('ListApplications')).toBe(2);
    expect(await calls('DescribeApplication')).toBe(1);
    await looks.look(ids[1]!);
    looks.advance(listingMaxAgeMs);
    await looks.look(ids[0]!); // 2 looks in the window before: listing pays again
    expect(await calls('ListApplications')).toBe(4);
    expect(await calls('DescribeApplication')).toBe(2);
  });

  it('an application deleted and created again under its name is read, not answered from the old read', async () => {
    const [before, after] = [await newKey(), await newKey()];
    const id = flinkApp('orders', withKey(before));
    const looks = lightLooks();
    const read = await looks.read(id);
    expect((await looks.look(id))?.readAt).toBeDefined();
    const msf = new KinesisAnalyticsV2Client(fixture.clientConfig());
    const created = (await msf.send(new DescribeApplicationCommand({ ApplicationName: 'orders' })))
      .ApplicationDetail!.CreateTimestamp!;
    await msf.send(new DeleteApplicationCommand({ ApplicationName: 'orders', CreateTimestamp: created }));
    fixture.advance();
    looks.advance(listingMaxAgeMs);
    expect(await looks.look(id)).toBeUndefined();
    // Created again with the same name, version and status, on another key.
    flinkApp('orders', withKey(after));
    looks.advance(listingMaxAgeMs);
    const again = await looks.look(id);
    expect(again?.resourceArn).toBe(read?.resourceArn);
    expect(again?.facts).toMatchObject({ applicationVersionId: 1 });
    expect(again?.encryption).toEqual(cmk(after));
  });

  it('a listing that fails is not fatal: each look reads its application, and listing waits a minute', async () => {
    const id = flinkApp('orders');
    const looks = lightLooks();
    await looks.read(id);
    await fixture.admin.addFault({
      service: 'kinesisanalytics',
      operation: 'ListApplications',
      error: { code: 'AccessDeniedException', status: 400, rate: 1 },
    });
    await fixture.admin.clearCalls();
    for (let i = 0; i < 3; i++) {
      expect(await looks.look(id)).toMatchObject({ awsState: 'READY' });
      looks.advance(listingMaxAgeMs);
    }
    expect(await calls('DescribeApplication')).toBe(3);
    // One try (the SDK's retries aside: it does not retry an access error) until the minute is over.
    expect(
      await fixture.admin.calls({ service: 'kinesisanalytics', eventName: 'ListApplications' }),
    ).toHaveLength(1);
    await fixture.admin.clearFaults();
    looks.advance(60_000);
    await fixture.admin.clearCalls();
    await looks.look(id);
    await looks.look(id);
    expect(await calls('ListApplications')).toBe(1);
    expect(await calls('DescribeApplication')).toBe(0);
  });
});

describe('flinkAdapter.changeKey', () => {
  it('moves a RUNNING application from the AWS-owned key to a CMK; the restart provisions storage under it', async () => {
    const key = await newKey();
    const id = flinkApp('orders', running());
    const after = await changeAndSettle(id, cmk(key));
    expect(after).toMatchObject({ awsState: 'RUNNING', running: true, facts: { applicationVersionId: 2 } });
    expect((await emulated('orders')).runningStorage).toMatchObject({ keyArn: key });
  });

  it('moves a READY application from one CMK to another', async () => {
    const [oldKey, newKeyArn] = [await newKey(), await newKey()];
    const id = flinkApp('orders', withKey(oldKey));
    await changeAndSettle(id, cmk(newKeyArn));
    expect((await emulated('orders')).configuredKey).toEqual({
      keyType: 'CUSTOMER_MANAGED_KEY',
      keyArn: newKeyArn,
    });
  });

  it('moves an application from a CMK back to the AWS-owned key (no KeyIdUpdate)', async () => {
    const key = await newKey();
    const id = flinkApp('orders', running(), withKey(key));
    await changeAndSettle(id, awsOwned);
    expect((await emulated('orders')).runningStorage).toEqual({ keyType: 'AWS_OWNED_KEY' });
  });

  it('updates only the version it was planned on: a change by anyone after that read is a Conflict, theirs kept', async () => {
    const [theirs, ours] = [await newKey(), await newKey()];
    const id = flinkApp('orders');
    const planned = await observe(id);
    const raw = new KinesisAnalyticsV2Client(fixture.clientConfig());
    const current = (await raw.send(new DescribeApplicationCommand({ ApplicationName: 'orders' })))
      .ApplicationDetail!;
    await raw.send(
      new UpdateApplicationCommand({
        ApplicationName: 'orders',
        ConditionalToken: current.ConditionalToken!,
        ApplicationConfigurationUpdate: {
          ApplicationEncryptionConfigurationUpdate: {
            KeyTypeUpdate: 'CUSTOMER_MANAGED_KEY',
            KeyIdUpdate: theirs,
          },
        },
      }),
    );
    fixture.advance();
    const e = await failure(flinkAdapter.changeKey(fixture.clients, target, id, cmk(ours), planned));
    expect(e.failure).toMatchObject({ cause: 'Conflict', code: 'ConcurrentModificationException' });
    expect((await emulated('orders')).configuredKey).toEqual({
      keyType: 'CUSTOMER_MANAGED_KEY',
      keyArn: theirs,
    });
    // Planned again on a new read, the switch goes through.
    const after = await changeAndSettle(id, cmk(ours));
    expect(after.facts).toMatchObject({
      applicationVersionId: (planned.facts as { applicationVersionId: number }).applicationVersionId + 2,
    });
  });

  it('sends the version id when the read carries no conditional token', async () => {
    const key = await newKey();
    const id = flinkApp('orders');
    const planned = await observe(id);
    const facts = { service: 'ManagedFlink' as const, applicationVersionId: 1 };
    await fixture.admin.clearCalls();
    const { operation } = await flinkAdapter.changeKey(fixture.clients, target, id, cmk(key), {
      ...planned,
      facts,
    });
    expect(operation).toMatchObject({ status: 'InProgress' });
    const [update] = await fixture.admin.calls({ eventName: 'UpdateApplication' });
    expect(update?.requestParameters).toMatchObject({ CurrentApplicationVersionId: 1 });
    expect(update?.requestParameters).not.toHaveProperty('ConditionalToken');
  });

  it('does not update (or restart) when the desired key is already configured', async () => {
    const key = await newKey();
    const id = flinkApp('orders', running(), withKey(key));
    await fixture.admin.clearCalls();
    const { operation } = await changeKey(id, cmk(key));
    expect(operation).toMatchObject({ status: 'Succeeded' });
    expect(operation.id).toBeUndefined();
    expect(await fixture.admin.calls({ eventName: 'UpdateApplication' })).toEqual([]);
    expect(await observe(id)).toMatchObject({ awsState: 'RUNNING', facts: { applicationVersionId: 1 } });
  });

  it('surfaces a change requested while UPDATING as a Conflict', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const id = flinkApp('orders', running());
    await changeKey(id, cmk(a));
    const e = await failure(changeKey(id, cmk(b)));
    expect(e.failure).toMatchObject({ cause: 'Conflict', code: 'ResourceInUseException' });
  });

  it('surfaces a key MSF may not use as InvalidSpec and leaves the application as it was', async () => {
    const key = await newKey(flinkKeyPolicy([]));
    const id = flinkApp('orders', running());
    const e = await failure(changeKey(id, cmk(key)));
    expect(e.failure).toMatchObject({ cause: 'InvalidSpec', code: 'InvalidArgumentException' });
    expect(await observe(id)).toMatchObject({ awsState: 'RUNNING', encryption: awsOwned });
  });

  it('surfaces an application deleted since the read as NotFound', async () => {
    const planned = await observe(flinkApp('orders', running()));
    const gone: WorkloadId = { service: 'ManagedFlink', applicationName: 'nope' };
    const e = await failure(
      flinkAdapter.changeKey(fixture.clients, target, gone, cmk(await newKey()), planned),
    );
    expect(e.failure.cause).toBe('NotFound');
  });
});

describe('flinkAdapter.operation', () => {
  it('answers from the history the read carries once it shows the end: no call of its own', async () => {
    const id = flinkApp('orders', running());
    const { operation: started } = await changeKey(id, cmk(await newKey()));
    fixture.advance();
    const read = await observe(id);
    expect(read.lastOperation).toMatchObject({ id: started.id, status: 'Succeeded' });
    await fixture.admin.clearCalls();
    expect(await flinkAdapter.operation!(fixture.clients, target, id, started.id!, read)).toEqual(
      read.lastOperation,
    );
    expect(await fixture.admin.calls({ service: 'kinesisanalytics' })).toEqual([]);
  });

  it('takes "in progress" from the history only while the application moves; at rest it asks AWS', async () => {
    const id = flinkApp('orders', running());
    const { operation: started } = await changeKey(id, cmk(await newKey()));
    const moving = await observe(id);
    expect(moving).toMatchObject({ settled: false, lastOperation: { id: started.id, status: 'InProgress' } });
    await fixture.admin.clearCalls();
    expect(await flinkAdapter.operation!(fixture.clients, target, id, started.id!, moving)).toMatchObject({
      status: 'InProgress',
    });
    expect(await fixture.admin.calls({ service: 'kinesisanalytics' })).toEqual([]);
    // At rest, a history saying "in progress" may be one remembered from before the end.
    fixture.advance();
    const stale = { ...(await observe(id)), lastOperation: moving.lastOperation! };
    expect(await flinkAdapter.operation!(fixture.clients, target, id, started.id!, stale)).toMatchObject({
      id: started.id,
      status: 'Succeeded',
    });
    expect((await fixture.admin.calls({ service: 'kinesisanalytics' })).map((c) => c.eventName)).toContain(
      'DescribeApplicationOperation',
    );
  });

  it('a light look at a moving application reads no history, and the operation is under way', async () => {
    const id = flinkApp('orders', running());
    const memo = createTtlMemo({ ttlMs: 60_000 });
    await flinkAdapter.observe(fixture.clients, target, id, { memo });
    const { operation: started } = await changeKey(id, cmk(await newKey()));
    await fixture.admin.clearCalls();
    const light = await flinkAdapter.observe(fixture.clients, target, id, { memo });
    expect(light).toMatchObject({ awsState: 'UPDATING', settled: false });
    expect(light?.lastOperation).toBeUndefined();
    expect(await flinkAdapter.operation!(fixture.clients, target, id, started.id!, light!)).toEqual({
      status: 'InProgress',
    });
    expect((await fixture.admin.calls({ service: 'kinesisanalytics' })).map((c) => c.eventName)).toEqual([
      'DescribeApplication',
    ]);
    // For acting, and at rest, the history is read.
    const acting = await flinkAdapter.observe(fixture.clients, target, id, { memo, forActing: true });
    expect(acting?.lastOperation).toMatchObject({ id: started.id, status: 'InProgress' });
    fixture.advance();
    const atRest = await flinkAdapter.observe(fixture.clients, target, id, { memo });
    expect(atRest?.lastOperation).toMatchObject({ id: started.id, status: 'Succeeded' });
  });

  it('asks AWS about an operation the history does not name', async () => {
    const id = flinkApp('orders', running());
    const { operation: started } = await changeKey(id, cmk(await newKey()));
    fixture.advance();
    const read = await observe(id);
    const { lastOperation: _dropped, ...withoutHistory } = read;
    expect(
      await flinkAdapter.operation!(fixture.clients, target, id, started.id!, withoutHistory),
    ).toMatchObject({ id: started.id, action: 'UpdateApplication', status: 'Succeeded' });
  });
});

describe('flinkAdapter restart, stop and start', () => {
  it('restarts in two phases: a graceful stop (with its snapshot), then start on the new key', async () => {
    const [oldKey, newKeyArn] = [await newKey(), await newKey()];
    const id = flinkApp('orders', running(), withKey(oldKey));
    const stop = await flinkAdapter.restart!(fixture.clients, target, id);
    expect(stop.operation).toMatchObject({ action: 'StopApplication', status: 'InProgress' });
    expect(await observe(id)).toMatchObject({ awsState: 'STOPPING', settled: false });
    fixture.advance();
    expect(await operation(id, stop.operation.id!)).toMatchObject({
      status: 'Succeeded',
    });
    expect(await observe(id)).toMatchObject({ awsState: 'READY', settled: true, running: false });
    expect((await emulated('orders')).snapshots).toEqual([
      expect.objectContaining({ origin: 'stop', status: 'READY' }),
    ]);

    // A READY application takes the key change at once and uses it from the next start (MSF-012).
    await changeAndSettle(id, cmk(newKeyArn));
    const start = await flinkAdapter.start!(fixture.clients, target, id);
    fixture.advance();
    expect(await operation(id, start.operation.id!)).toMatchObject({
      action: 'StartApplication',
      status: 'Succeeded',
    });
    expect(await observe(id)).toMatchObject({ awsState: 'RUNNING', running: true });
    expect((await emulated('orders')).runningStorage).toMatchObject({ keyArn: newKeyArn });
  });

  it('surfaces a failed start through operation() and lastOperation with AWS error text', async () => {
    const key = await newKey();
    const id = flinkApp('orders', withKey(key));
    await fixture.kms().send(new DisableKeyCommand({ KeyId: key }));
    const { operation: started } = await flinkAdapter.start!(fixture.clients, target, id);
    fixture.advance();
    const op = await operation(id, started.id!);
    expect(op).toMatchObject({
      action: 'StartApplication',
      status: 'Failed',
      message: expect.stringContaining(key),
    });
    const state = await observe(id);
    expect(state).toMatchObject({ awsState: 'READY', running: false });
    expect(state.lastOperation).toEqual(op);
  });

  it('refuses restart of an application that is not running (Conflict)', async () => {
    const e = await failure(flinkAdapter.restart!(fixture.clients, target, flinkApp('orders')));
    expect(e.failure.cause).toBe('Conflict');
  });
});

describe('flinkAdapter tags', () => {
  it('adds tags and removes only the keys asked for', async () => {
    const id = flinkApp('orders', tagged({ team: 'data' }));
    const arn = (await observe(id)).resourceArn;
    await flinkAdapter.tag(fixture.clients, target, arn, { 'cmk-operator/owner': 'ns/orders', extra: '1' });
    await flinkAdapter.untag(fixture.clients, target, arn, ['extra']);
    expect((await observe(id)).tags).toEqual({ team: 'data', 'cmk-operator/owner': 'ns/orders' });
  });
});

describe('flinkState (unexpected responses)', () => {
  it.each([
    [
      'an unknown status is unsettled and reported as sent',
      { ApplicationStatus: 'HIBERNATING' },
      'HIBERNATING',
      false,
      'Transitioning',
    ],
    [
      'ROLLED_BACK is settled but not changeable',
      { ApplicationStatus: 'ROLLED_BACK' },
      'ROLLED_BACK',
      true,
      'RolledBack',
    ],
    ['a missing status is unsettled', {}, 'Unknown', false, 'Transitioning'],
  ] as const)('%s', (_name, detail, awsState, settled, blocked) => {
    const state = flinkState(detail as never, {});
    expect(state).toMatchObject({
      awsState,
      settled,
      blocker: { kind: blocked },
      encryption: awsOwned,
      facts: { service: 'ManagedFlink' },
    });
  });

  it('reads CUSTOMER_MANAGED_KEY without a key id as drift, not as AWS-owned', () => {
    const state = flinkState(
      {
        ApplicationStatus: 'READY',
        ApplicationConfigurationDescription: {
          ApplicationEncryptionConfigurationDescription: { KeyType: 'CUSTOMER_MANAGED_KEY' },
        },
      } as never,
      {},
    );
    expect(state.encryption).toEqual({ type: 'CustomerManaged', keyArn: '' });
  });
});
