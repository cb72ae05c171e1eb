// The EMR Serverless emulator through the real @aws-sdk/client-emr-serverless over HTTP: the
// application and job state machines, UpdateApplication's state rule, disk-encryption key handling
// (`{}` clears, job override wins, submissions refused on an unusable key, running jobs failing when
// their key goes away), auto-start and auto-stop.

import {
  CancelJobRunCommand,
  CreateApplicationCommand,
  DeleteApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
  GetJobRunCommand,
  ListApplicationsCommand,
  ListJobRunsCommand,
  ListTagsForResourceCommand,
  StartApplicationCommand,
  StartJobRunCommand,
  StopApplicationCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DisableKeyCommand,
  KMSClient,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const frozenAt = Date.UTC(2026, 10, 23, 12, 0, 0);
const role = `arn:aws:iam::${account}:role/emr-job`;
const sparkJob = { sparkSubmit: { entryPoint: 's3://bucket/job.py' } };

const emr = (opts?: { region?: string; accessKeyId?: string }) =>
  new EMRServerlessClient(fixture.clientConfig(opts));
const kms = (opts?: { region?: string }) => new KMSClient(fixture.clientConfig(opts));
/** The clock moves; the next request settles every transition due by then. */
const advance = (ms: number) => fixture.emulator.world().clock.advance(ms);

/** A key whose policy lets emr-serverless.amazonaws.com generate and decrypt data keys (EMR docs). */
async function emrKey(opts: { allowService?: boolean } = {}) {
  const statements: unknown[] = [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${account}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ];
  if (opts.allowService !== false)
    statements.push({
      Sid: 'EMR Serverless disk encryption',
      Effect: 'Allow',
      Principal: { Service: 'emr-serverless.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
    });
  const out = await kms().send(
    new CreateKeyCommand({ Policy: JSON.stringify({ Version: '2012-10-17', Statement: statements }) }),
  );
  return out.KeyMetadata!;
}

async function createApp(extra: Record<string, unknown> = {}) {
  const out = await emr().send(
    new CreateApplicationCommand({ name: 'etl', releaseLabel: 'emr-7.5.0', type: 'SPARK', ...extra }),
  );
  return out.applicationId!;
}

async function app(applicationId: string) {
  return (await emr().send(new GetApplicationCommand({ applicationId }))).application!;
}

async function job(applicationId: string, jobRunId: string) {
  return (await emr().send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun!;
}

async function submit(applicationId: string, extra: Record<string, unknown> = {}) {
  const out = await emr().send(
    new StartJobRunCommand({ applicationId, executionRoleArn: role, jobDriver: sparkJob, ...extra }),
  );
  return out.jobRunId!;
}

/** CREATED -> STARTED (two transitions of 1000 ms). */
async function startedApp(extra: Record<string, unknown> = {}) {
  const id = await createApp(extra);
  advance(1000);
  await emr().send(new StartApplicationCommand({ applicationId: id }));
  advance(1000);
  expect((await app(id)).state).toBe('STARTED');
  return id;
}

describe('applications', () => {
  it('creates an application CREATING -> CREATED with AWS-shaped id, ARN and defaults', async () => {
    const client = emr();
    const out = await client.send(
      new CreateApplicationCommand({
        name: 'etl',
        releaseLabel: 'emr-7.5.0',
        type: 'SPARK',
        tags: { team: 'data' },
      }),
    );
    expect(out.applicationId).toMatch(/^00f[0-9a-z]{13}$/);
    expect(out.arn).toBe(`arn:aws:emr-serverless:us-east-1:${account}:/applications/${out.applicationId}`);
    expect(out.name).toBe('etl');
    expect((await app(out.applicationId!)).state).toBe('CREATING');
    advance(1000);
    const a = await app(out.applicationId!);
    expect(a).toMatchObject({
      applicationId: out.applicationId,
      name: 'etl',
      releaseLabel: 'emr-7.5.0',
      type: 'SPARK',
      state: 'CREATED',
      tags: { team: 'data' },
      autoStartConfiguration: { enabled: true },
      autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 15 },
    });
    expect(a.diskEncryptionConfiguration).toBeUndefined();
    expect(a.createdAt?.getTime()).toBe(frozenAt);
  });

  it('is idempotent on clientToken and refuses a reused token with other parameters', async () => {
    const client = emr();
    const input = { name: 'etl', releaseLabel: 'emr-7.5.0', type: 'SPARK', clientToken: 'token-1' };
    const a = await client.send(new CreateApplicationCommand(input));
    const b = await client.send(new CreateApplicationCommand(input));
    expect(b.applicationId).toBe(a.applicationId);
    await expect(
      client.send(new CreateApplicationCommand({ ...input, releaseLabel: 'emr-7.6.0' })),
    ).rejects.toMatchObject({ name: 'ConflictException', $metadata: { httpStatusCode: 409 } });
  });

  it('validates releaseLabel and type', async () => {
    await expect(createApp({ releaseLabel: 'spark-3' })).rejects.toMatchObject({
      name: 'ValidationException',
    });
    await expect(createApp({ type: 'PRESTO' })).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('returns ResourceNotFoundException (404, x-amzn-errortype) for unknown applications', async () => {
    await expect(
      emr().send(new GetApplicationCommand({ applicationId: '00fdoesnotexist0' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } });
  });

  it('starts and stops: CREATED -> STARTING -> STARTED -> STOPPING -> STOPPED', async () => {
    const id = await createApp();
    advance(1000);
    const client = emr();
    await client.send(new StartApplicationCommand({ applicationId: id }));
    expect((await app(id)).state).toBe('STARTING');
    advance(1000);
    expect((await app(id)).state).toBe('STARTED');
    await client.send(new StopApplicationCommand({ applicationId: id }));
    expect((await app(id)).state).toBe('STOPPING');
    advance(1000);
    expect((await app(id)).state).toBe('STOPPED');
  });

  it('auto-stops a STARTED application after its idle timeout', async () => {
    const id = await startedApp({ autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 5 } });
    advance(5 * 60_000 - 1);
    expect((await app(id)).state).toBe('STARTED');
    advance(1);
    expect((await app(id)).state).toBe('STOPPING');
  });

  it('lists applications with a states filter and pagination; TERMINATED ones drop out', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await createApp({ name: `app${i}` }));
    advance(1000);
    await emr().send(new StartApplicationCommand({ applicationId: ids[1]! }));
    await emr().send(new DeleteApplicationCommand({ applicationId: ids[4]! }));
    expect((await app(ids[4]!)).state).toBe('TERMINATED');

    const client = emr();
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const out = await client.send(new ListApplicationsCommand({ maxResults: 2, nextToken }));
      seen.push(...out.applications!.map((a) => a.id!));
      nextToken = out.nextToken;
      pages++;
    } while (nextToken);
    expect(seen).toEqual(ids.slice(0, 4));
    expect(pages).toBe(2);

    const starting = await client.send(new ListApplicationsCommand({ states: ['STARTING', 'CREATED'] }));
    expect(starting.applications!.map((a) => [a.id, a.state])).toEqual([
      [ids[0], 'CREATED'],
      [ids[1], 'STARTING'],
      [ids[2], 'CREATED'],
      [ids[3], 'CREATED'],
    ]);
    const terminated = await client.send(new ListApplicationsCommand({ states: ['TERMINATED'] }));
    expect(terminated.applications!.map((a) => a.id)).toEqual([ids[4]]);
  });

  it('deletes only CREATED or STOPPED applications', async () => {
    const id = await startedApp();
    await expect(emr().send(new DeleteApplicationCommand({ applicationId: id }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: `Application ${id} must be in one of the following statuses [CREATED, STOPPED]. Current status: STARTED`,
    });
  });

  it('scopes applications by region', async () => {
    const id = await createApp();
    await expect(
      emr({ region: 'eu-west-1' }).send(new GetApplicationCommand({ applicationId: id })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('tags applications and job runs by ARN', async () => {
    const id = await createApp({ tags: { a: '1' } });
    const arn = `arn:aws:emr-serverless:us-east-1:${account}:/applications/${id}`;
    const client = emr();
    await client.send(new TagResourceCommand({ resourceArn: arn, tags: { b: '2', c: '3' } }));
    await client.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['a', 'c'] }));
    expect((await client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags).toEqual({
      b: '2',
    });
    advance(1000);
    const jobRunId = await submit(id, { tags: { run: 'x' } });
    const jobArn = `${arn}/jobruns/${jobRunId}`;
    expect((await client.send(new ListTagsForResourceCommand({ resourceArn: jobArn }))).tags).toEqual({
      run: 'x',
    });
    await expect(
      client.send(new ListTagsForResourceCommand({ resourceArn: `${arn.slice(0, -3)}zzz` })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});

describe('UpdateApplication', () => {
  it('is refused unless the application is CREATED or STOPPED', async () => {
    const key = await emrKey();
    const id = await startedApp();
    const client = emr();
    await expect(
      client.send(
        new UpdateApplicationCommand({
          applicationId: id,
          diskEncryptionConfiguration: { encryptionKeyArn: key.Arn! },
        }),
      ),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message: `Application ${id} must be in one of the following statuses [CREATED, STOPPED]. Current status: STARTED`,
      $metadata: { httpStatusCode: 400 },
    });
    await client.send(new StopApplicationCommand({ applicationId: id }));
    await expect(
      client.send(
        new UpdateApplicationCommand({
          applicationId: id,
          diskEncryptionConfiguration: { encryptionKeyArn: key.Arn! },
        }),
      ),
    ).rejects.toMatchObject({ message: /Current status: STOPPING/ });
    advance(1000);
    const out = await client.send(
      new UpdateApplicationCommand({
        applicationId: id,
        diskEncryptionConfiguration: { encryptionKeyArn: key.Arn!, encryptionContext: { team: 'etl' } },
      }),
    );
    expect(out.application).toMatchObject({
      applicationId: id,
      state: 'STOPPED',
      diskEncryptionConfiguration: { encryptionKeyArn: key.Arn!, encryptionContext: { team: 'etl' } },
    });
  });

  it('replaces with a key, leaves it when absent and clears it with {}', async () => {
    const a = await emrKey();
    const b = await emrKey();
    const id = await createApp({ diskEncryptionConfiguration: { encryptionKeyArn: a.Arn! } });
    advance(1000);
    const client = emr();
    expect((await app(id)).diskEncryptionConfiguration).toEqual({ encryptionKeyArn: a.Arn! });

    await client.send(
      new UpdateApplicationCommand({
        applicationId: id,
        diskEncryptionConfiguration: { encryptionKeyArn: b.Arn! },
      }),
    );
    expect((await app(id)).diskEncryptionConfiguration).toEqual({ encryptionKeyArn: b.Arn! });

    const untouched = await client.send(
      new UpdateApplicationCommand({ applicationId: id, autoStopConfiguration: { idleTimeoutMinutes: 30 } }),
    );
    expect(untouched.application?.diskEncryptionConfiguration).toEqual({ encryptionKeyArn: b.Arn! });
    expect(untouched.application?.autoStopConfiguration).toEqual({ enabled: true, idleTimeoutMinutes: 30 });

    const cleared = await client.send(
      new UpdateApplicationCommand({ applicationId: id, diskEncryptionConfiguration: {} }),
    );
    expect(cleared.application?.diskEncryptionConfiguration).toBeUndefined();
    expect((await app(id)).diskEncryptionConfiguration).toBeUndefined();
  });

  it('refuses keys EMR Serverless cannot use, leaving the configuration as it was', async () => {
    const good = await emrKey();
    const id = await createApp({ diskEncryptionConfiguration: { encryptionKeyArn: good.Arn! } });
    advance(1000);
    const client = emr();
    const update = (encryptionKeyArn: string) =>
      client.send(
        new UpdateApplicationCommand({
          applicationId: id,
          diskEncryptionConfiguration: { encryptionKeyArn },
        }),
      );

    const disabled = await emrKey();
    await kms().send(new DisableKeyCommand({ KeyId: disabled.KeyId! }));
    await expect(update(disabled.Arn!)).rejects.toMatchObject({
      name: 'ValidationException',
      message: /Disabled/,
    });

    const noService = await emrKey({ allowService: false });
    await expect(update(noService.Arn!)).rejects.toMatchObject({
      name: 'ValidationException',
      message: /emr-serverless\.amazonaws\.com/,
    });

    await kms().send(new CreateAliasCommand({ AliasName: 'alias/emr', TargetKeyId: good.KeyId! }));
    await expect(update(`arn:aws:kms:us-east-1:${account}:alias/emr`)).rejects.toMatchObject({
      name: 'ValidationException',
      message: /aliases are not accepted/,
    });

    const west = (await kms({ region: 'us-west-2' }).send(new CreateKeyCommand({}))).KeyMetadata!;
    await expect(update(west.Arn!)).rejects.toMatchObject({
      name: 'ValidationException',
      message: /us-west-2/,
    });

    await expect(
      client.send(
        new UpdateApplicationCommand({
          applicationId: id,
          diskEncryptionConfiguration: { encryptionContext: { a: 'b' } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /encryptionKeyArn/ });

    expect((await app(id)).diskEncryptionConfiguration).toEqual({ encryptionKeyArn: good.Arn! });
  });

  it('refuses an unusable key at CreateApplication too', async () => {
    const key = await emrKey();
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId!, PendingWindowInDays: 7 }));
    await expect(
      createApp({ diskEncryptionConfiguration: { encryptionKeyArn: key.Arn! } }),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message: /PendingDeletion/,
    });
    expect((await emr().send(new ListApplicationsCommand({}))).applications).toEqual([]);
  });
});

describe('job runs', () => {
  it('walks SUBMITTED -> SCHEDULED -> RUNNING -> SUCCESS and auto-starts a CREATED application', async () => {
    const id = await createApp();
    advance(1000);
    const jobRunId = await submit(id, { name: 'nightly' });
    expect(jobRunId).toMatch(/^00f[0-9a-z]{13}$/);
    expect((await app(id)).state).toBe('STARTING');
    const submitted = await job(id, jobRunId);
    expect(submitted).toMatchObject({
      applicationId: id,
      jobRunId,
      arn: `arn:aws:emr-serverless:us-east-1:${account}:/applications/${id}/jobruns/${jobRunId}`,
      name: 'nightly',
      state: 'SUBMITTED',
      executionRole: role,
      releaseLabel: 'emr-7.5.0',
      jobDriver: sparkJob,
    });
    expect(submitted.configurationOverrides).toBeUndefined();
    advance(1000);
    expect((await app(id)).state).toBe('STARTED');
    expect((await job(id, jobRunId)).state).toBe('SCHEDULED');
    advance(1000);
    expect((await job(id, jobRunId)).state).toBe('RUNNING');
    advance(1000);
    const done = await job(id, jobRunId);
    expect(done.state).toBe('SUCCESS');
    expect(done.endedAt?.getTime()).toBe(frozenAt + 4000);
  });

  it('auto-starts a STOPPED application and refuses submission when auto-start is disabled', async () => {
    const id = await startedApp();
    await emr().send(new StopApplicationCommand({ applicationId: id }));
    advance(1000);
    await submit(id);
    expect((await app(id)).state).toBe('STARTING');

    const manual = await createApp({ autoStartConfiguration: { enabled: false } });
    advance(1000);
    await expect(submit(manual)).rejects.toMatchObject({
      name: 'ValidationException',
      message: /auto-start/,
    });
  });

  it('validates executionRoleArn and jobDriver', async () => {
    const id = await createApp();
    advance(1000);
    await expect(
      emr().send(
        new StartJobRunCommand({
          applicationId: id,
          executionRoleArn: 'nope-not-a-role-arn',
          jobDriver: sparkJob,
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(
      emr().send(
        new StartJobRunCommand({
          applicationId: id,
          executionRoleArn: role,
          jobDriver: { hive: { query: 'select 1' } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /HIVE/ });
  });

  it('refuses StopApplication while jobs are active, until they are cancelled', async () => {
    const id = await startedApp();
    const jobRunId = await submit(id);
    advance(2000);
    expect((await job(id, jobRunId)).state).toBe('RUNNING');
    const client = emr();
    await expect(client.send(new StopApplicationCommand({ applicationId: id }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: new RegExp(jobRunId),
    });
    const cancelled = await client.send(new CancelJobRunCommand({ applicationId: id, jobRunId }));
    expect(cancelled).toMatchObject({ applicationId: id, jobRunId });
    expect((await job(id, jobRunId)).state).toBe('CANCELLING');
    await expect(client.send(new StopApplicationCommand({ applicationId: id }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    advance(1000);
    expect((await job(id, jobRunId)).state).toBe('CANCELLED');
    await client.send(new StopApplicationCommand({ applicationId: id }));
    expect((await app(id)).state).toBe('STOPPING');
    await expect(client.send(new CancelJobRunCommand({ applicationId: id, jobRunId }))).rejects.toMatchObject(
      {
        name: 'ValidationException',
      },
    );
  });

  it('lists job runs newest first, with a states filter and pagination', async () => {
    const id = await startedApp();
    const first = await submit(id);
    advance(3000);
    const second = await submit(id);
    const third = await submit(id);
    const client = emr();
    const all = await client.send(new ListJobRunsCommand({ applicationId: id }));
    expect(all.jobRuns!.map((j) => j.id)).toEqual([third, second, first]);
    const page1 = await client.send(new ListJobRunsCommand({ applicationId: id, maxResults: 2 }));
    expect(page1.jobRuns!.map((j) => j.id)).toEqual([third, second]);
    const page2 = await client.send(
      new ListJobRunsCommand({ applicationId: id, maxResults: 2, nextToken: page1.nextToken }),
    );
    expect(page2.jobRuns!.map((j) => j.id)).toEqual([first]);
    expect(page2.nextToken).toBeUndefined();
    const done = await client.send(new ListJobRunsCommand({ applicationId: id, states: ['SUCCESS'] }));
    expect(done.jobRuns!.map((j) => [j.id, j.state])).toEqual([[first, 'SUCCESS']]);
  });
});

describe('disk encryption on jobs', () => {
  it('lets a job override win over the application key and returns only the submitted overrides', async () => {
    const appKey = await emrKey();
    const jobKey = await emrKey();
    const id = await startedApp({ diskEncryptionConfiguration: { encryptionKeyArn: appKey.Arn! } });
    const overrides = {
      diskEncryptionConfiguration: { encryptionKeyArn: jobKey.Arn!, encryptionContext: { job: 'nightly' } },
    };
    const withOverride = await submit(id, { configurationOverrides: overrides });
    const inherited = await submit(id);
    expect((await job(id, withOverride)).configurationOverrides).toEqual(overrides);
    expect((await job(id, inherited)).configurationOverrides).toBeUndefined();
    advance(2000);
    // Disabling the application key fails only the job that inherited it.
    await kms().send(new DisableKeyCommand({ KeyId: appKey.KeyId! }));
    const failed = await job(id, inherited);
    expect(failed.state).toBe('FAILED');
    expect(failed.stateDetails).toContain(appKey.Arn!);
    expect((await job(id, withOverride)).state).toBe('RUNNING');
    advance(1000);
    expect((await job(id, withOverride)).state).toBe('SUCCESS');
  });

  it('fails a running job when its overriding key is disabled', async () => {
    const jobKey = await emrKey();
    const id = await startedApp();
    const jobRunId = await submit(id, {
      configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: jobKey.Arn! } },
    });
    advance(2000);
    expect((await job(id, jobRunId)).state).toBe('RUNNING');
    await kms().send(new DisableKeyCommand({ KeyId: jobKey.KeyId! }));
    const failed = await job(id, jobRunId);
    expect(failed.state).toBe('FAILED');
    expect(failed.stateDetails).toMatch(new RegExp(`${jobKey.Arn!}.*Disabled`));
  });

  it('rejects a submission whose effective key is disabled, without creating a job', async () => {
    const key = await emrKey();
    const id = await createApp({ diskEncryptionConfiguration: { encryptionKeyArn: key.Arn! } });
    advance(1000);
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    await expect(submit(id)).rejects.toMatchObject({
      name: 'ValidationException',
      message: new RegExp(`${key.Arn!}.*Disabled`),
    });
    expect((await emr().send(new ListJobRunsCommand({ applicationId: id }))).jobRuns).toEqual([]);
    // Not auto-started by a refused submission.
    expect((await app(id)).state).toBe('CREATED');
    // An override with a usable key makes the same submission acceptable.
    const other = await emrKey();
    await submit(id, {
      configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: other.Arn! } },
    });
  });

  it('an override without a key inherits the application key', async () => {
    const key = await emrKey();
    const id = await createApp({ diskEncryptionConfiguration: { encryptionKeyArn: key.Arn! } });
    advance(1000);
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId! }));
    await expect(
      submit(id, { configurationOverrides: { diskEncryptionConfiguration: {} } }),
    ).rejects.toMatchObject({ name: 'ValidationException', message: /Disabled/ });
  });
});

describe('seed', () => {
  it('seeds applications with ids, states and disk encryption', async () => {
    const key = await emrKey();
    fixture.emulator.seed({
      'emr-serverless': {
        applications: [
          {
            name: 'seeded',
            id: '00fseeded0000001',
            state: 'STOPPED',
            diskEncryption: { encryptionKeyArn: key.Arn! },
          },
          { name: 'running', id: '00fseeded0000002', state: 'STARTED', tags: { env: 'test' } },
        ],
      },
    });
    expect(await app('00fseeded0000001')).toMatchObject({
      name: 'seeded',
      state: 'STOPPED',
      diskEncryptionConfiguration: { encryptionKeyArn: key.Arn! },
    });
    expect(await app('00fseeded0000002')).toMatchObject({ state: 'STARTED', tags: { env: 'test' } });
  });
});
