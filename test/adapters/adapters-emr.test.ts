// The EMR Serverless adapter and job-run helpers against the in-process emulator, through the real SDK
// clients configured the way the operator is (createAwsClients + AWS_ENDPOINT_URL). Transitions take
// 1000 ms on a frozen clock. Covers the stopped-only update rule, `{}` clearing the key, the job-level
// overrides, and classified errors.

import {
  DeleteApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
  StartApplicationCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { describe, expect, it } from 'vitest';
import {
  emrServerlessAdapter,
  emrState,
  getJobRun,
  jobOverrides,
  startJobRun,
} from '../../src/aws/emr-serverless.ts';
import { AwsCallError } from '../../src/aws/errors.ts';
import { listingMaxAgeMs as listingAge } from '../../src/aws/region-listing.ts';
import type { EncryptionSetting, WorkloadId } from '../../src/aws/workload.ts';
import { expectOneListingServes, failure, lightLooks as sharedLooks, useAdapters } from '../fixtures/aws.ts';
import { account, awsOwned, cmk, serviceKeyPolicy } from '../fixtures/keys.ts';
import {
  emrApp as emrSeed,
  running as started,
  stopped,
  tagged,
  type WorkloadMod,
  withKey,
} from '../fixtures/objects.ts';

const fixture = useAdapters();
const { target } = fixture;
const role = `arn:aws:iam::${account}:role/emr-job`;
const sparkJob = { sparkSubmit: { entryPoint: 's3://bucket/job.py' } };

/** A key whose policy lets emr-serverless.amazonaws.com generate and decrypt data keys (EMR docs). */
const emrKey = () =>
  fixture.newKey(serviceKeyPolicy('emr-serverless.amazonaws.com', ['kms:GenerateDataKey', 'kms:Decrypt']));

const appId = '00fetl0000000001';
const emrApp = (...mods: WorkloadMod[]) => fixture.seed(emrSeed(appId, 'etl', ...mods));
const arnOf = (id: string) => `arn:aws:emr-serverless:us-east-1:${account}:/applications/${id}`;

async function observe(id: WorkloadId) {
  const state = await emrServerlessAdapter.observe(fixture.clients, target, id);
  if (!state) throw new Error('expected the application to exist');
  return state;
}

/** A synchronous key change: Succeeded at once, and the application reports the new setting. */
async function changeKey(id: WorkloadId, desired: EncryptionSetting) {
  const { operation } = await emrServerlessAdapter.changeKey(
    fixture.clients,
    target,
    id,
    desired,
    await observe(id),
  );
  expect(operation).toEqual({ action: 'UpdateApplication', status: 'Succeeded' });
  const after = await observe(id);
  expect(after.encryption).toEqual(desired);
  return after;
}

describe('emrServerlessAdapter.observe', () => {
  it('reads an AWS-owned CREATED application', async () => {
    const id = emrApp(tagged({ team: 'etl' }));
    const state = await observe(id);
    expect(state).toEqual({
      resourceArn: arnOf(appId),
      awsState: 'CREATED',
      settled: true,
      encryption: { type: 'AwsOwned' },
      running: false,
      tags: { team: 'etl' },
      facts: {
        service: 'EmrServerless',
        activeJobs: 0,
        releaseLabel: 'emr-7.5.0',
        updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    });
    expect(emrServerlessAdapter.encryptionContext(id, state, account)).toEqual({ applicationId: appId });
  });

  it('reads a CMK with its custom context, and merges that context with applicationId', async () => {
    const key = await emrKey();
    const id = emrApp(stopped(), withKey(key, { team: 'etl' }));
    const state = await observe(id);
    expect(state.encryption).toEqual(cmk(key, { team: 'etl' }));
    expect(emrServerlessAdapter.encryptionContext(id, state, account)).toEqual({
      applicationId: appId,
      team: 'etl',
    });
    // With only the ARN (no encryption), the pair EMR always sends.
    expect(emrServerlessAdapter.encryptionContext(id, { resourceArn: state.resourceArn }, account)).toEqual({
      applicationId: appId,
    });
  });

  it('returns undefined for an application that does not exist', async () => {
    expect(
      await emrServerlessAdapter.observe(fixture.clients, target, {
        service: 'EmrServerless',
        applicationId: '00fnope',
      }),
    ).toBeUndefined();
  });

  it('reports a TERMINATED application as settled and blocked', async () => {
    const id = emrApp();
    await new EMRServerlessClient(fixture.clientConfig()).send(
      new DeleteApplicationCommand({ applicationId: appId }),
    );
    expect(await observe(id)).toMatchObject({
      awsState: 'TERMINATED',
      settled: true,
      running: false,
      blocker: { kind: 'Terminated' },
      tags: {},
    });
  });
});

describe('emrServerlessAdapter.observe sharing a Region listing (EMR-014)', () => {
  /** The age a 30 s resync gives a listing (5 s, the least). */
  const listingMaxAgeMs = listingAge(30_000);
  const lightLooks = () => sharedLooks(fixture, emrServerlessAdapter, listingMaxAgeMs);
  const calls = async (eventName: string) =>
    (await fixture.admin.calls({ service: 'emr-serverless', eventName })).length;
  const seedApps = (ids: string[], ...mods: WorkloadMod[]) =>
    ids.map((id, i) => fixture.seed(emrSeed(id, `etl-${i}`, ...mods)));

  it('light looks at applications read once in full share one listing and read none of them again', async () => {
    const key = await emrKey();
    const ids = seedApps(['00fa000000000001', '00fa000000000002', '00fa000000000003'], withKey(key));
    await expectOneListingServes(fixture, lightLooks(), ids, 'emr-serverless', ['GetApplication']);
  });

  it("someone else's update moves updatedAt: the next look past the listing age reads the new key", async () => {
    const [before, after] = [await emrKey(), await emrKey()];
    const [id] = seedApps(['00fb000000000001'], withKey(before));
    const looks = lightLooks();
    await looks.read(id!);
    expect((await looks.look(id!))?.encryption).toEqual(cmk(before));
    fixture.advance();
    await new EMRServerlessClient(fixture.clientConfig()).send(
      new UpdateApplicationCommand({
        applicationId: '00fb000000000001',
        diskEncryptionConfiguration: { encryptionKeyArn: after },
      }),
    );
    looks.advance(listingMaxAgeMs);
    await fixture.admin.clearCalls();
    const fresh = await looks.look(id!);
    expect(fresh?.encryption).toEqual(cmk(after));
    expect(fresh?.readAt).toBeUndefined();
    expect(await calls('ListApplications')).toBe(1);
    expect(await calls('GetApplication')).toBe(1);
  });

  it('a started application (another state) is read again', async () => {
    const [id] = seedApps(['00fc000000000001']);
    const looks = lightLooks();
    await looks.read(id!);
    await new EMRServerlessClient(fixture.clientConfig()).send(
      new StartApplicationCommand({ applicationId: '00fc000000000001' }),
    );
    looks.advance(listingMaxAgeMs);
    await fixture.admin.clearCalls();
    expect(await looks.look(id!)).toMatchObject({ awsState: 'STARTING', settled: false });
    expect(await calls('GetApplication')).toBe(1);
  });

  it('a look for acting, or without shareListing, reads the application', async () => {
    const [id] = seedApps(['00fd000000000001']);
    const looks = lightLooks();
    await looks.read(id!);
    await looks.look(id!);
    await fixture.admin.clearCalls();
    await looks.read(id!, true);
    await looks.read(id!);
    expect(await calls('GetApplication')).toBe(2);
    expect(await calls('ListApplications')).toBe(0);
  });

  it('an application deleted since its read is read again and reported TERMINATED', async () => {
    const [id] = seedApps(['00fe000000000001']);
    const looks = lightLooks();
    await looks.read(id!);
    await new EMRServerlessClient(fixture.clientConfig()).send(
      new DeleteApplicationCommand({ applicationId: '00fe000000000001' }),
    );
    fixture.advance(60_000);
    looks.advance(listingMaxAgeMs);
    await fixture.admin.clearCalls();
    expect(await looks.look(id!)).toMatchObject({ awsState: 'TERMINATED', settled: true });
    expect(await calls('GetApplication')).toBe(1);
  });
});

describe('emrServerlessAdapter.changeKey', () => {
  it('moves a CREATED application from the AWS-owned key to a CMK with a context', async () => {
    const key = await emrKey();
    await changeKey(emrApp(), cmk(key, { team: 'etl' }));
  });

  it('moves a STOPPED application from one CMK to another, replacing the context', async () => {
    const [oldKey, nextKey] = [await emrKey(), await emrKey()];
    await changeKey(emrApp(stopped(), withKey(oldKey, { team: 'etl' })), cmk(nextKey));
  });

  it('clears a CMK with an explicit empty diskEncryptionConfiguration', async () => {
    const key = await emrKey();
    const state = await changeKey(emrApp(stopped(), withKey(key, { team: 'etl' })), awsOwned);
    expect(state.encryption).toEqual(awsOwned);
    const raw = await new EMRServerlessClient(fixture.clientConfig()).send(
      new GetApplicationCommand({ applicationId: appId }),
    );
    expect(raw.application!.diskEncryptionConfiguration).toBeUndefined();
  });

  it('is blocked while STARTED and allowed after stop(); start() brings the application back', async () => {
    const key = await emrKey();
    const id = emrApp(started());
    expect(await observe(id)).toMatchObject({
      awsState: 'STARTED',
      settled: true,
      running: true,
      blocker: { kind: 'ApplicationRunning', activeJobRunIds: [] },
    });
    // AWS refuses the update outright while STARTED (TRAP-11).
    const refused = await failure(
      emrServerlessAdapter.changeKey(fixture.clients, target, id, cmk(key), await observe(id)),
    );
    expect(refused.failure).toMatchObject({ cause: 'InvalidSpec', code: 'ValidationException' });

    expect((await emrServerlessAdapter.stop!(fixture.clients, target, id)).operation).toEqual({
      action: 'StopApplication',
      status: 'InProgress',
    });
    expect(await observe(id)).toMatchObject({
      awsState: 'STOPPING',
      settled: false,
      blocker: { kind: 'Transitioning' },
    });
    fixture.advance();
    const stoppedState = await observe(id);
    expect(stoppedState).toMatchObject({ awsState: 'STOPPED', settled: true, running: false });
    expect(stoppedState.blocker).toBeUndefined();

    await changeKey(id, cmk(key));
    await emrServerlessAdapter.start!(fixture.clients, target, id);
    expect(await observe(id)).toMatchObject({ awsState: 'STARTING', settled: false });
    fixture.advance();
    expect(await observe(id)).toMatchObject({ awsState: 'STARTED', running: true, encryption: cmk(key) });
  });

  it('surfaces stop() while a job runs as a classified error and counts the active job', async () => {
    const id = emrApp(started());
    await startJobRun(fixture.clients, target, {
      applicationId: appId,
      executionRoleArn: role,
      jobDriver: sparkJob,
      clientToken: 'job-1',
      setting: awsOwned,
    });
    const observed = await observe(id);
    expect(observed.facts).toMatchObject({ activeJobs: 1 });
    expect(observed.blocker).toEqual({ kind: 'ApplicationRunning', activeJobRunIds: [expect.any(String)] });
    const e = await failure(emrServerlessAdapter.stop!(fixture.clients, target, id));
    expect(e.failure).toMatchObject({ cause: 'InvalidSpec', code: 'ValidationException' });
    expect(await observe(id)).toMatchObject({ awsState: 'STARTED' });
  });

  it.each([
    ['an alias ARN', `arn:aws:kms:us-east-1:${account}:alias/etl`],
    [
      'a key that does not exist',
      `arn:aws:kms:us-east-1:${account}:key/00000000-0000-0000-0000-000000000000`,
    ],
  ])('surfaces %s as InvalidSpec and leaves the application as it was', async (_name, keyArn) => {
    const id = emrApp();
    const e = await failure(
      emrServerlessAdapter.changeKey(fixture.clients, target, id, cmk(keyArn), await observe(id)),
    );
    expect(e.failure).toMatchObject({ cause: 'InvalidSpec', code: 'ValidationException' });
    expect((await observe(id)).encryption).toEqual(awsOwned);
  });

  it('surfaces an application deleted since the read as NotFound', async () => {
    const planned = await observe(emrApp());
    const e = await failure(
      emrServerlessAdapter.changeKey(
        fixture.clients,
        target,
        { service: 'EmrServerless', applicationId: '00fnope' },
        awsOwned,
        planned,
      ),
    );
    expect(e.failure).toMatchObject({ cause: 'NotFound', code: 'ResourceNotFoundException' });
  });
});

describe('emrServerlessAdapter tags', () => {
  it('adds tags and removes only the keys asked for', async () => {
    const id = emrApp(tagged({ team: 'etl' }));
    await emrServerlessAdapter.tag(fixture.clients, target, arnOf(appId), {
      'cmk-operator/owner': 'ns/etl',
      extra: '1',
    });
    await emrServerlessAdapter.untag(fixture.clients, target, arnOf(appId), ['extra']);
    expect((await observe(id)).tags).toEqual({ team: 'etl', 'cmk-operator/owner': 'ns/etl' });
  });
});

describe('job runs', () => {
  it('submits a job with a CMK override that wins over the application key, and reads it back', async () => {
    const key = await emrKey();
    emrApp(started());
    const submitted = await startJobRun(fixture.clients, target, {
      applicationId: appId,
      executionRoleArn: role,
      jobDriver: sparkJob,
      name: 'nightly',
      clientToken: 'job-1',
      setting: cmk(key, { team: 'etl' }),
    });
    const ids = { applicationId: appId, jobRunId: submitted.jobRunId };
    expect(await getJobRun(fixture.clients, target, ids)).toMatchObject({
      state: 'SUBMITTED',
      finished: false,
      override: cmk(key, { team: 'etl' }),
    });
    for (let i = 0; i < 3; i++) fixture.advance();
    expect(await getJobRun(fixture.clients, target, ids)).toMatchObject({ state: 'SUCCESS', finished: true });
  });

  it('submits a job without an override for the AWS-owned setting', async () => {
    emrApp(started());
    const { jobRunId } = await startJobRun(fixture.clients, target, {
      applicationId: appId,
      executionRoleArn: role,
      jobDriver: sparkJob,
      clientToken: 'job-1',
      setting: awsOwned,
    });
    const run = await getJobRun(fixture.clients, target, { applicationId: appId, jobRunId });
    expect(run).toMatchObject({ state: 'SUBMITTED' });
    expect(run!.override).toBeUndefined();
  });

  it('returns undefined for a job run that does not exist', async () => {
    emrApp(started());
    expect(
      await getJobRun(fixture.clients, target, { applicationId: appId, jobRunId: '00fnope' }),
    ).toBeUndefined();
  });
});

describe('jobOverrides', () => {
  const key = `arn:aws:kms:us-east-1:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

  it('builds StartJobRun overrides and Spark conf for a CMK, context sorted by key', () => {
    expect(jobOverrides(cmk(key, { team: 'etl', env: 'prod' }))).toEqual({
      configurationOverrides: {
        diskEncryptionConfiguration: {
          encryptionKeyArn: key,
          encryptionContext: { team: 'etl', env: 'prod' },
        },
      },
      sparkConf: {
        'spark.emr-serverless.disk.encryptionKeyArn': key,
        'spark.emr-serverless.disk.encryptionContext': 'env:prod,team:etl',
      },
    });
  });

  it('leaves the context key out of Spark conf when there is no context', () => {
    expect(jobOverrides(cmk(key)).sparkConf).toEqual({ 'spark.emr-serverless.disk.encryptionKeyArn': key });
  });

  it('produces no override for the AWS-owned setting', () => {
    expect(jobOverrides(awsOwned)).toEqual({ configurationOverrides: {}, sparkConf: {} });
  });

  it('refuses a context Spark conf cannot carry (InvalidSpec)', () => {
    let caught: unknown;
    try {
      jobOverrides(cmk(key, { team: 'a,b' }));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AwsCallError);
    expect((caught as AwsCallError).failure.cause).toBe('InvalidSpec');
  });
});

describe('emrState (unexpected responses)', () => {
  it.each([
    ['an unknown state is unsettled and reported as sent', { state: 'HIBERNATING' }, 'HIBERNATING'],
    ['a missing state is unsettled', {}, 'Unknown'],
  ] as const)('%s', (_name, app, awsState) => {
    expect(emrState(app as never, {}, [])).toMatchObject({
      awsState,
      settled: false,
      blocker: { kind: 'Transitioning' },
      running: false,
      encryption: awsOwned,
      facts: { activeJobs: 0 },
    });
  });

  it('reads a configuration with a context but no key ARN as AWS-owned', () => {
    expect(
      emrState(
        { state: 'STOPPED', diskEncryptionConfiguration: { encryptionContext: { a: 'b' } } } as never,
        {},
        [],
      ),
    ).toMatchObject({ encryption: awsOwned, settled: true });
  });
});
