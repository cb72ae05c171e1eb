// Cross-check of the generated key policies (src/keys/policy.ts) against the calls each service really
// makes. For each service: the key administrator creates a key with the generated policy through the
// real KMS client; the operator's assumed-role session (its session ARN given as key user, as the
// operator does) points a workload at the key through the service's real SDK client and uses it (a
// Flink start, a Keyspaces table switch, an EMR Serverless switch and a job run with its own context);
// the emulator judges every KMS call the service makes, with the encryption context it sends
// (emulator/policy.ts), and the project's pre-flight (src/keys/preflight.ts) must agree.
//
// And the narrowing holds: the policy generated for one application refuses another (Managed Flink:
// the application ARN as source and as encryption context; EMR Serverless: the application id), the
// key administrator cannot grant itself use of the key (no kms:CreateGrant, KMS-031), and the operator
// cannot create a grant outside a service (KMS-030).
//
// Each policy is tried with its account-root statement and without it. With it, KMS defers to the IAM
// policies of the account's principals (IAM-001), and the emulator models those as plain action lists
// (the operator's role here may do every kms: action), so the narrowing of the key-user statements
// shows only without it; the service-principal statements are narrowed either way.

import {
  EMRServerlessClient,
  GetApplicationCommand,
  GetJobRunCommand,
  StartJobRunCommand,
  UpdateApplicationCommand as UpdateEmrApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, KeyspacesClient, UpdateTableCommand } from '@aws-sdk/client-keyspaces';
import {
  DescribeApplicationCommand,
  KinesisAnalyticsV2Client,
  StartApplicationCommand,
  UpdateApplicationCommand as UpdateFlinkApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  GetKeyPolicyCommand,
  KMSClient,
} from '@aws-sdk/client-kms';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { beforeEach, describe, expect, it } from 'vitest';
import type { KeyUser } from '../../src/api/kmskey.ts';
import { emrServerlessAdapter } from '../../src/aws/emr-serverless.ts';
import { flinkAdapter } from '../../src/aws/flink.ts';
import { keyspacesAdapter } from '../../src/aws/keyspaces.ts';
import { generateKeyPolicy, type KeyPolicy, type KeyPolicyInput } from '../../src/keys/policy.ts';
import { checkServiceCanUseKey } from '../../src/keys/preflight.ts';
import { useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const region = 'us-east-1';
const operatorRole = `arn:aws:iam::${account}:role/cmk-operator`;
const jobRole = `arn:aws:iam::${account}:role/emr-job-runtime`;
const keyAdmin = { accessKeyId: 'AKIAKEYADMIN00000001', arn: `arn:aws:iam::${account}:user/key-admin` };

beforeEach(() => {
  fixture.emulator.seed({
    // The key administrator's IAM allows only CreateKey: everything else it may do comes from the key policy.
    principals: [{ ...keyAdmin, iamAllow: ['kms:CreateKey'] }],
    roles: [
      {
        arn: operatorRole,
        iamAllow: [
          'kms:*',
          'kinesisanalytics:*',
          'cassandra:*',
          'emr-serverless:*',
          'iam:PassRole',
          'sts:GetCallerIdentity',
        ],
      },
    ],
    kinesisanalytics: { applications: [{ name: 'orders' }, { name: 'payments' }] },
    cassandra: { keyspaces: [{ name: 'shop', tables: [{ name: 'carts' }] }] },
    'emr-serverless': {
      applications: [
        { id: '00orders', name: 'orders-etl' },
        { id: '00payments', name: 'payments-etl' },
      ],
    },
  });
});

// ---- Who calls ----------------------------------------------------------------------------------------

type Config = ReturnType<typeof fixture.clientConfig>;

/** The operator's assumed-role session: its client config and the session ARN STS reports. */
async function operatorSession(): Promise<{ arn: string; config: Config }> {
  const out = await new STSClient(fixture.clientConfig()).send(
    new AssumeRoleCommand({ RoleArn: operatorRole, RoleSessionName: 'cmk-operator-0' }),
  );
  const c = out.Credentials!;
  const config = {
    ...fixture.clientConfig(),
    credentials: {
      accessKeyId: c.AccessKeyId!,
      secretAccessKey: c.SecretAccessKey!,
      sessionToken: c.SessionToken!,
    },
  };
  const who = await new STSClient(config).send(new GetCallerIdentityCommand({}));
  return { arn: who.Arn!, config };
}

const adminKms = () => new KMSClient(fixture.clientConfig({ accessKeyId: keyAdmin.accessKeyId }));

/** The key administrator creates the key with `policy`; its ARN. */
async function keyWith(policy: KeyPolicy): Promise<string> {
  const out = await adminKms().send(new CreateKeyCommand({ Policy: JSON.stringify(policy) }));
  return out.KeyMetadata!.Arn!;
}

function generated(service: KeyUser, sessionArn: string, root: boolean, more: Partial<KeyPolicyInput> = {}) {
  const p = generateKeyPolicy({
    accountId: account,
    region,
    services: [service],
    keyAdministrators: [keyAdmin.arn],
    // What the operator passes when spec.create.policy names no key users: its own identity.
    keyUsers: [sessionArn],
    ...more,
  });
  return root ? p : { ...p, Statement: p.Statement.filter((s) => s.Sid !== 'EnableIamPolicies') };
}

/** The error a call fails with; fails the test when it succeeds. */
async function refused(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to be refused');
}

/** The pre-flight's verdict on the stored policy for one workload, as the operator would run it. */
async function preflight(
  service: KeyUser,
  keyArn: string,
  sessionArn: string,
  resourceArn: string,
  encryptionContext: Record<string, string>,
) {
  const stored = await adminKms().send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
  return checkServiceCanUseKey({
    service,
    policy: stored.Policy!,
    keyArn,
    region,
    accountId: account,
    operatorPrincipalArn: sessionArn,
    resourceArn,
    encryptionContext,
  });
}

// ---- Managed Flink -----------------------------------------------------------------------------------------

async function flinkSwitch(config: Config, name: string, keyArn: string) {
  const client = new KinesisAnalyticsV2Client(config);
  const read = async () =>
    (await client.send(new DescribeApplicationCommand({ ApplicationName: name }))).ApplicationDetail!;
  await client.send(
    new UpdateFlinkApplicationCommand({
      ApplicationName: name,
      ConditionalToken: (await read()).ConditionalToken!,
      ApplicationConfigurationUpdate: {
        ApplicationEncryptionConfigurationUpdate: {
          KeyTypeUpdate: 'CUSTOMER_MANAGED_KEY',
          KeyIdUpdate: keyArn,
        },
      },
    }),
  );
  return { client, read };
}

describe.each([
  ['with the account root', true],
  ['without the account root', false],
])('Managed Flink, %s', (_name, root) => {
  it('runs the application the key was generated for, and refuses another one', async () => {
    const session = await operatorSession();
    const keyArn = await keyWith(
      generated('ManagedFlink', session.arn, root, { applications: { ManagedFlink: ['orders'] } }),
    );

    const { client, read } = await flinkSwitch(session.config, 'orders', keyArn);
    fixture.emulator.world().clock.advance(5000);
    await client.send(new StartApplicationCommand({ ApplicationName: 'orders', RunConfiguration: {} }));
    fixture.emulator.world().clock.advance(5000);
    const app = await read();
    expect(app.ApplicationStatus).toBe('RUNNING');
    expect(
      app.ApplicationConfigurationDescription?.ApplicationEncryptionConfigurationDescription,
    ).toMatchObject({
      KeyType: 'CUSTOMER_MANAGED_KEY',
      KeyId: keyArn,
    });
    const ok = await preflight(
      'ManagedFlink',
      keyArn,
      session.arn,
      app.ApplicationARN!,
      flinkAdapter.encryptionContext(
        { service: 'ManagedFlink', applicationName: 'orders' },
        { resourceArn: app.ApplicationARN! },
        account,
      ),
    );
    expect(ok).toEqual({ ok: true, notes: expect.any(Array) });

    const other = await refused(flinkSwitch(session.config, 'payments', keyArn));
    expect(other.name).toBe('InvalidArgumentException');
    // The service principal is bound to the application by aws:SourceArn; without the account root
    // the caller's own statements are bound by the application ARN in the encryption context too.
    expect(other.message).toMatch(
      root ? /kinesisanalytics\.amazonaws\.com.*aws:SourceArn/ : /aws:kinesisanalytics:arn/,
    );
    const paymentsArn = app.ApplicationARN!.replace(/orders$/, 'payments');
    const no = await preflight('ManagedFlink', keyArn, session.arn, paymentsArn, {
      'aws:kinesisanalytics:arn': paymentsArn,
    });
    expect(no.ok).toBe(false);
  });
});

// ---- Keyspaces ---------------------------------------------------------------------------------------------

describe.each([
  ['with the account root', true],
  ['without the account root', false],
])('Keyspaces, %s', (_name, root) => {
  it('moves a table onto the key', async () => {
    const session = await operatorSession();
    const keyArn = await keyWith(generated('Keyspaces', session.arn, root));
    const client = new KeyspacesClient(session.config);
    await client.send(
      new UpdateTableCommand({
        keyspaceName: 'shop',
        tableName: 'carts',
        encryptionSpecification: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: keyArn },
      }),
    );
    fixture.emulator.world().clock.advance(5000);
    const table = await client.send(new GetTableCommand({ keyspaceName: 'shop', tableName: 'carts' }));
    expect(table.encryptionSpecification).toEqual({
      type: 'CUSTOMER_MANAGED_KMS_KEY',
      kmsKeyIdentifier: keyArn,
    });
    const id = { service: 'Keyspaces' as const, keyspaceName: 'shop', tableName: 'carts' };
    const verdict = await preflight(
      'Keyspaces',
      keyArn,
      session.arn,
      table.resourceArn!,
      keyspacesAdapter.encryptionContext(id, { resourceArn: table.resourceArn! }, account),
    );
    expect(verdict.ok).toBe(true);
  });
});

// ---- EMR Serverless --------------------------------------------------------------------------------------

describe.each([
  ['with the account root', true],
  ['without the account root', false],
])('EMR Serverless, %s', (_name, root) => {
  it('puts the application the key was generated for on it and runs a job with its own context; refuses another application', async () => {
    const session = await operatorSession();
    const keyArn = await keyWith(
      generated('EmrServerless', session.arn, root, { applications: { EmrServerless: ['00orders'] } }),
    );
    const client = new EMRServerlessClient(session.config);
    await client.send(
      new UpdateEmrApplicationCommand({
        applicationId: '00orders',
        diskEncryptionConfiguration: { encryptionKeyArn: keyArn },
      }),
    );
    const app = (await client.send(new GetApplicationCommand({ applicationId: '00orders' }))).application!;
    expect(app.diskEncryptionConfiguration?.encryptionKeyArn).toBe(keyArn);

    const job = await client.send(
      new StartJobRunCommand({
        applicationId: '00orders',
        executionRoleArn: jobRole,
        jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py' } },
        configurationOverrides: {
          diskEncryptionConfiguration: { encryptionKeyArn: keyArn, encryptionContext: { team: 'orders' } },
        },
      }),
    );
    const run = await client.send(
      new GetJobRunCommand({ applicationId: '00orders', jobRunId: job.jobRunId! }),
    );
    expect(run.jobRun?.state).not.toBe('FAILED');
    const ok = await preflight(
      'EmrServerless',
      keyArn,
      session.arn,
      app.arn!,
      emrServerlessAdapter.encryptionContext(
        { service: 'EmrServerless', applicationId: '00orders' },
        { resourceArn: app.arn! },
        account,
      ),
    );
    expect(ok.ok).toBe(true);

    const other = await refused(
      client.send(
        new UpdateEmrApplicationCommand({
          applicationId: '00payments',
          diskEncryptionConfiguration: { encryptionKeyArn: keyArn },
        }),
      ),
    );
    expect(other.name).toBe('ValidationException');
    expect(other.message).toContain('emr-serverless.amazonaws.com');
    const paymentsArn = app.arn!.replace(/00orders$/, '00payments');
    const no = await preflight('EmrServerless', keyArn, session.arn, paymentsArn, {
      applicationId: '00payments',
    });
    expect(no.ok).toBe(false);
  });
});

// ---- Who may grant -----------------------------------------------------------------------------------------

describe('grants', () => {
  it.each([
    ['with the account root', true],
    ['without the account root', false],
  ])(
    'the key administrator manages the key but cannot grant itself its use, %s (KMS-031)',
    async (_n, root) => {
      const session = await operatorSession();
      const keyArn = await keyWith(generated('ManagedFlink', session.arn, root));
      const admin = adminKms();
      await admin.send(new EnableKeyRotationCommand({ KeyId: keyArn }));
      expect((await admin.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Arn).toBe(keyArn);
      const err = await refused(
        admin.send(
          new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: keyAdmin.arn, Operations: ['Decrypt'] }),
        ),
      );
      expect(err.name).toBe('AccessDeniedException');
      expect(err.message).toContain('kms:CreateGrant');
    },
  );

  it('the operator cannot create a grant itself, only through the service (KMS-030)', async () => {
    const session = await operatorSession();
    const keyArn = await keyWith(generated('ManagedFlink', session.arn, false));
    const err = await refused(
      new KMSClient(session.config).send(
        new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: operatorRole, Operations: ['Decrypt'] }),
      ),
    );
    expect(err.name).toBe('AccessDeniedException');
  });
});
