// EMR Serverless job runs and the job-override ConfigMap end to end: the operator (in this worker)
// against the real kube-apiserver and the AWS emulator. Assertions read AWS through the real SDK
// clients and the emulator's call log, and Kubernetes through the API server.

import {
  CancelJobRunCommand,
  EMRServerlessClient,
  GetJobRunCommand,
  ListJobRunsCommand,
  StartJobRunCommand,
} from '@aws-sdk/client-emr-serverless';
import { DisableKeyCommand, EnableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiVersion } from '../../src/api/shared.ts';
import { adminIdentity, eventually } from './support/cluster.ts';
import { condition, plurals, useOperator } from './support/operator.ts';

const f = useOperator();
let kms: KMSClient;
let emr: EMRServerlessClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
  emr = new EMRServerlessClient(f.awsConfig());
});

let n = 0;
const unique = (p: string) => `${p}${++n}`;
const role = 'arn:aws:iam::123456789012:role/etl-job';
const sparkJob = {
  sparkSubmit: { entryPoint: 's3://jobs/etl.py', entryPointArguments: ['--day', '2026-11-23'] },
};
const defaultTransitions = { default: { min: 200, max: 400 } };

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface JobRun {
  metadata: { uid: string; resourceVersion: string; finalizers?: string[] };
  status?: {
    jobRunId?: string;
    applicationId?: string;
    arn?: string;
    state?: string;
    stateDetails?: string;
    keyArn?: string;
    submittedAt?: string;
    clientToken?: string;
    conditions?: Cond[];
  };
}
interface ConfigMap {
  metadata: {
    resourceVersion: string;
    annotations?: Record<string, string>;
    ownerReferences?: Array<Record<string, unknown>>;
  };
  data?: Record<string, string>;
}

/** An EMR Serverless application in AWS (CREATED, auto-start on) and its EmrServerlessApplication object. */
async function application(key: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const name = unique('app');
  const applicationId = `00e${String(100000000000 + n).padStart(13, '0')}`;
  f.emulator.seed({ 'emr-serverless': { applications: [{ name, id: applicationId, state: 'CREATED' }] } });
  await f.create('EmrServerlessApplication', name, { applicationId, key, ...extra });
  return { name, applicationId };
}

async function createJobRun(
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
) {
  const res = await adminIdentity().request(
    'POST',
    `/apis/${apiVersion}/namespaces/${f.namespace}/emrserverlessjobruns`,
    {
      apiVersion,
      kind: 'EmrServerlessJobRun',
      metadata: { name, ...(annotations ? { annotations } : {}) },
      spec: { executionRoleArn: role, jobDriver: sparkJob, ...spec },
    },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

const submitted = (o: JobRun) => (o.status?.jobRunId ? o.status : undefined);
const succeeded = (o: JobRun) =>
  o.status?.state === 'SUCCESS' &&
  o.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True' && c.reason === 'JobSucceeded')
    ? o.status
    : undefined;

async function awsJobRun(applicationId: string, jobRunId: string) {
  return (await emr.send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun!;
}

async function startJobRunCalls(clientToken: string) {
  const calls = await f.admin.calls({ eventName: 'StartJobRun' });
  return calls.filter((c) => (c.requestParameters as { clientToken?: string })?.clientToken === clientToken);
}

async function patch(kind: string, name: string, body: unknown) {
  const res = await adminIdentity().request(
    'PATCH',
    `/apis/${apiVersion}/namespaces/${f.namespace}/${plurals[kind]}/${name}`,
    body,
    { contentType: 'application/merge-patch+json' },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

async function configMap(name: string): Promise<ConfigMap | undefined> {
  const res = await adminIdentity().request('GET', `/api/v1/namespaces/${f.namespace}/configmaps/${name}`);
  return res.status === 200 ? (res.body as ConfigMap) : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('EmrServerlessJobRun', () => {
  it("inherits its application's key as a job-level override and is followed to SUCCESS", async () => {
    const k = unique('k');
    const keyArn = await f.serviceKey(k);
    const app = await application({ kmsKeyRef: { name: k } });
    await f.waitFor(
      'EmrServerlessApplication',
      app.name,
      condition('Ready', 'True'),
      'application on its key',
      30_000,
    );

    const name = unique('job');
    await createJobRun(name, { applicationRef: { name: app.name }, name: 'nightly' });
    const status = await f.waitFor<JobRun, NonNullable<JobRun['status']>>(
      'EmrServerlessJobRun',
      name,
      succeeded,
      'job run SUCCESS',
      30_000,
    );
    const job = (await f.get<JobRun>('EmrServerlessJobRun', name))!;
    expect(status).toMatchObject({
      applicationId: app.applicationId,
      keyArn,
      clientToken: `cmk-${job.metadata.uid}`,
      arn: expect.stringContaining(`/applications/${app.applicationId}/jobruns/${status.jobRunId}`),
      submittedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const run = await awsJobRun(app.applicationId, status.jobRunId!);
    expect(run.state).toBe('SUCCESS');
    expect(run.name).toBe('nightly');
    expect(run.configurationOverrides?.diskEncryptionConfiguration).toEqual({ encryptionKeyArn: keyArn });
    const reasons = (await f.events(name)).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Submitted', 'JobSucceeded']));
  });

  it("uses its own key reference (and context) over the application's", async () => {
    const appKey = unique('k');
    const jobKey = unique('k');
    await f.serviceKey(appKey);
    const jobKeyArn = await f.serviceKey(jobKey);
    const app = await application({ kmsKeyRef: { name: appKey } });

    const name = unique('job');
    await createJobRun(name, {
      applicationRef: { name: app.name },
      key: { kmsKeyRef: { name: jobKey } },
      encryptionContext: { team: 'etl' },
    });
    const status = await f.waitFor<JobRun, NonNullable<JobRun['status']>>(
      'EmrServerlessJobRun',
      name,
      submitted,
    );
    expect(status.keyArn).toBe(jobKeyArn);
    const run = await awsJobRun(app.applicationId, status.jobRunId!);
    expect(run.configurationOverrides?.diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: jobKeyArn,
      encryptionContext: { team: 'etl' },
    });
    await f.waitFor('EmrServerlessJobRun', name, succeeded, 'job run SUCCESS', 30_000);
    // A finished run no longer uses its key: it does not hold the KmsKey's deletion.
    await f.remove('KmsKey', jobKey);
    await eventually(async () => ((await f.get('KmsKey', jobKey)) === undefined ? true : undefined), {
      what: `KmsKey ${jobKey} released after its only job run finished`,
      timeoutMs: 20_000,
    });
  });

  it('is submitted exactly once across many reconciles; a lost status write finds the same run again', async () => {
    const k = unique('k');
    const keyArn = await f.serviceKey(k);
    const app = await application({ kmsKeyRef: { name: k } });
    const name = unique('job');
    await createJobRun(name, { applicationRef: { name: app.name } });
    const first = await f.waitFor<JobRun, NonNullable<JobRun['status']>>(
      'EmrServerlessJobRun',
      name,
      submitted,
    );
    // Many more reconciles: its own metadata changes, its application's changes, resyncs (1.5 s).
    for (let i = 0; i < 5; i++) {
      await patch('EmrServerlessJobRun', name, { metadata: { annotations: { poke: String(i) } } });
      await patch('EmrServerlessApplication', app.name, { metadata: { labels: { poke: String(i) } } });
    }
    await f.waitFor('EmrServerlessJobRun', name, succeeded, 'job run SUCCESS', 30_000);
    await sleep(3500);
    expect(await startJobRunCalls(first.clientToken!)).toHaveLength(1);
    const finished = (await f.get<JobRun>('EmrServerlessJobRun', name))!;
    expect(finished.status?.jobRunId).toBe(first.jobRunId);

    // The emulator honours StartJobRun's clientToken: the same token and request, the same run.
    const again = await emr.send(
      new StartJobRunCommand({
        applicationId: app.applicationId,
        clientToken: first.clientToken!,
        executionRoleArn: role,
        jobDriver: sparkJob,
        configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: keyArn } },
      }),
    );
    expect(again.jobRunId).toBe(first.jobRunId);

    // A crash between StartJobRun and the status write, simulated by wiping the status: the next
    // reconcile submits again with the same token and request, and AWS answers with the same run.
    await eventually(
      async () => {
        const o = (await f.get<JobRun & Record<string, unknown>>('EmrServerlessJobRun', name))!;
        const res = await adminIdentity().request(
          'PUT',
          `/apis/${apiVersion}/namespaces/${f.namespace}/emrserverlessjobruns/${name}/status`,
          { ...o, status: {} },
        );
        return res.status === 200 ? true : undefined;
      },
      { what: 'status wiped' },
    );
    const recovered = await f.waitFor<JobRun, NonNullable<JobRun['status']>>(
      'EmrServerlessJobRun',
      name,
      succeeded,
      'the same run found again',
      30_000,
    );
    expect(recovered.jobRunId).toBe(first.jobRunId);
    // The operator's first call, the test's own, and the operator's resubmission after the wipe.
    expect(await startJobRunCalls(first.clientToken!)).toHaveLength(3);
    const runs = await emr.send(new ListJobRunsCommand({ applicationId: app.applicationId }));
    expect(runs.jobRuns?.map((r) => r.id)).toEqual([first.jobRunId]);
  });

  it('refuses a disabled key before submission, naming the key; submits once it is enabled', async () => {
    const app = await application({ awsOwned: true });
    const keyArn = await f.serviceKey(unique('k'));
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    const name = unique('job');
    await createJobRun(name, { applicationRef: { name: app.name }, key: { keyId: keyArn } });
    const refused = await f.waitFor(
      'EmrServerlessJobRun',
      name,
      condition('KeyUsable', 'False', 'KeyDisabled'),
    );
    expect(refused.message).toContain(keyArn);
    const o = (await f.get<JobRun>('EmrServerlessJobRun', name))!;
    expect(o.status?.jobRunId).toBeUndefined();
    expect(o.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'KeyDisabled',
    });
    expect(await startJobRunCalls(`cmk-${o.metadata.uid}`)).toEqual([]);

    await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    const status = await f.waitFor<JobRun, NonNullable<JobRun['status']>>(
      'EmrServerlessJobRun',
      name,
      submitted,
      'submitted once the key is enabled',
      30_000,
    );
    const run = await awsJobRun(app.applicationId, status.jobRunId!);
    expect(run.configurationOverrides?.diskEncryptionConfiguration?.encryptionKeyArn).toBe(keyArn);
  });

  it('deletion leaves the AWS job running, unless cmk.io/cancel-on-delete is "true"', async () => {
    // Jobs run for ten minutes in this test, so they are still RUNNING when their objects go.
    await f.admin.patchConfig({
      transitions: { ...defaultTransitions, 'emr-serverless.JOB_RUNNING': { min: 600_000, max: 600_000 } },
    });
    try {
      const app = await application({ awsOwned: true });
      const kept = unique('job');
      const cancelled = unique('job');
      await createJobRun(kept, { applicationId: app.applicationId });
      await createJobRun(
        cancelled,
        { applicationId: app.applicationId },
        { 'cmk.io/cancel-on-delete': 'true' },
      );
      const running = (o: JobRun) => (o.status?.state === 'RUNNING' ? o : undefined);
      const keptRun = await f.waitFor<JobRun, JobRun>(
        'EmrServerlessJobRun',
        kept,
        running,
        'RUNNING',
        30_000,
      );
      const cancelledRun = await f.waitFor<JobRun, JobRun>(
        'EmrServerlessJobRun',
        cancelled,
        running,
        'RUNNING',
        30_000,
      );
      expect(keptRun.metadata.finalizers ?? []).toEqual([]);
      expect(cancelledRun.metadata.finalizers).toEqual(['cmk.io/jobrun-cancel']);

      await f.remove('EmrServerlessJobRun', kept);
      await f.remove('EmrServerlessJobRun', cancelled);
      for (const name of [kept, cancelled]) {
        await eventually(
          async () => ((await f.get('EmrServerlessJobRun', name)) === undefined ? true : undefined),
          {
            what: `${name} released`,
            timeoutMs: 30_000,
          },
        );
      }
      expect((await awsJobRun(app.applicationId, keptRun.status!.jobRunId!)).state).toBe('RUNNING');
      expect(['CANCELLING', 'CANCELLED']).toContain(
        (await awsJobRun(app.applicationId, cancelledRun.status!.jobRunId!)).state,
      );
      await emr.send(
        new CancelJobRunCommand({ applicationId: app.applicationId, jobRunId: keptRun.status!.jobRunId! }),
      );
    } finally {
      await f.admin.patchConfig({ transitions: defaultTransitions });
    }
  });
});

describe('the job-override ConfigMap of an EmrServerlessApplication', () => {
  type Overrides = {
    app: Awaited<ReturnType<typeof application>>;
    cmName: string;
    published: (arn: string) => () => Promise<PublishedConfigMap | undefined>;
  };
  type PublishedConfigMap = NonNullable<Awaited<ReturnType<typeof configMap>>>;

  /** The ConfigMap carries the first key and the context in all three formats, owned by the application. */
  async function expectPublishedForTheFirstKey(c: Overrides, firstArn: string): Promise<PublishedConfigMap> {
    const { app, published } = c;
    const cm = await eventually(published(firstArn), { what: 'ConfigMap published', timeoutMs: 30_000 });
    expect(JSON.parse(cm.data!['configurationOverrides.json']!)).toEqual({
      diskEncryptionConfiguration: { encryptionKeyArn: firstArn, encryptionContext: { team: 'etl' } },
    });
    expect(cm.data!['spark-defaults.conf']).toBe(
      `spark.emr-serverless.disk.encryptionKeyArn ${firstArn}\nspark.emr-serverless.disk.encryptionContext team:etl\n`,
    );
    expect(JSON.parse(cm.data!['livy-session-conf.json']!)).toEqual({
      'spark.emr-serverless.disk.encryptionKeyArn': firstArn,
      'spark.emr-serverless.disk.encryptionContext': 'team:etl',
    });
    const appObject = (await f.get<{ metadata: { uid: string } }>('EmrServerlessApplication', app.name))!;
    expect(cm.metadata.ownerReferences).toEqual([
      {
        apiVersion,
        kind: 'EmrServerlessApplication',
        name: app.name,
        uid: appObject.metadata.uid,
        controller: true,
      },
    ]);
    return cm;
  }

  /** Several resyncs later (1.5 s each) nothing was rewritten. */
  async function expectNoRewriteOverResyncs(c: Overrides, cm: PublishedConfigMap): Promise<void> {
    const { app, cmName } = c;
    // Several resyncs later (1.5 s each) nothing was rewritten.
    await f.waitFor(
      'EmrServerlessApplication',
      app.name,
      condition('Ready', 'True'),
      'on the first key',
      30_000,
    );
    await sleep(4000);
    expect((await configMap(cmName))?.metadata.resourceVersion).toBe(cm.metadata.resourceVersion);
  }

  /** A job run started by a pipeline with these overrides lands on the application's key. */
  async function expectAJobRunWithThemOnTheKey(c: Overrides, cm: PublishedConfigMap): Promise<void> {
    const { app } = c;
    // A job run started by a pipeline with these overrides lands on the application's key.
    const jobName = unique('job');
    await createJobRun(jobName, { applicationRef: { name: app.name } });
    const jobStatus = await f.waitFor<JobRun, NonNullable<JobRun['status']>>(
      'EmrServerlessJobRun',
      jobName,
      submitted,
    );
    expect((await awsJobRun(app.applicationId, jobStatus.jobRunId!)).configurationOverrides).toEqual(
      JSON.parse(cm.data!['configurationOverrides.json']!),
    );
  }

  /** The application moves to the second key: the ConfigMap follows. */
  async function moveToTheSecondKey(c: Overrides, second: string, secondArn: string): Promise<void> {
    const { app, published } = c;
    await patch('EmrServerlessApplication', app.name, { spec: { key: { kmsKeyRef: { name: second } } } });
    const moved = await eventually(published(secondArn), {
      what: 'ConfigMap on the second key',
      timeoutMs: 30_000,
    });
    expect(JSON.parse(moved.data!['configurationOverrides.json']!)).toEqual({
      diskEncryptionConfiguration: { encryptionKeyArn: secondArn, encryptionContext: { team: 'etl' } },
    });
    expect(moved.data!['spark-defaults.conf']).toContain(`encryptionKeyArn ${secondArn}\n`);
  }

  /** The application moves to the AWS owned key: the ConfigMap is emptied. */
  async function clearForAwsOwned(c: Overrides): Promise<void> {
    const { app, published } = c;
    await patch('EmrServerlessApplication', app.name, {
      spec: { key: { kmsKeyRef: null, awsOwned: true }, encryptionContext: null },
    });
    const cleared = await eventually(published('AWS_OWNED'), {
      what: 'ConfigMap cleared',
      timeoutMs: 30_000,
    });
    expect(cleared.data).toEqual({
      'configurationOverrides.json': '{}\n',
      'spark-defaults.conf': '',
      'livy-session-conf.json': '{}\n',
    });
  }

  it('is published for the desired key, rewritten only when it changes, and cleared for AWS owned', async () => {
    const first = unique('k');
    const second = unique('k');
    const firstArn = await f.serviceKey(first);
    const secondArn = await f.serviceKey(second);
    const cmName = unique('overrides');
    const app = await application(
      { kmsKeyRef: { name: first } },
      { encryptionContext: { team: 'etl' }, jobOverridesConfigMap: { name: cmName } },
    );
    const published = (arn: string) => async () => {
      const cm = await configMap(cmName);
      return cm?.metadata.annotations?.['cmk.io/desired-key'] === arn ? cm : undefined;
    };
    const c: Overrides = { app, cmName, published };

    const cm = await expectPublishedForTheFirstKey(c, firstArn);
    await expectNoRewriteOverResyncs(c, cm);
    await expectAJobRunWithThemOnTheKey(c, cm);
    await moveToTheSecondKey(c, second, secondArn);
    await clearForAwsOwned(c);
  });
});
