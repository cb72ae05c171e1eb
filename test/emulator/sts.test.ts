// STS through the real @aws-sdk/client-sts over HTTP: who the caller is, and AssumeRole sessions that
// later act as the role in every other service (the call log and KMS see the assumed-role ARN).

import { CreateKeyCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  AssumeRoleCommand,
  type AssumeRoleCommandInput,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const deployerRole = `arn:aws:iam::${account}:role/ops/cmk-operator-deployer`;
const operatorUser = {
  accessKeyId: 'AKIAOPERATORUSER0001',
  arn: `arn:aws:iam::${account}:user/cmk-operator`,
};

const sts = (accessKeyId?: string) =>
  new STSClient(fixture.clientConfig(accessKeyId === undefined ? {} : { accessKeyId }));

async function stsError(input: AssumeRoleCommandInput, accessKeyId?: string) {
  try {
    await sts(accessKeyId).send(new AssumeRoleCommand(input));
  } catch (e) {
    return e as Error & { $metadata: { httpStatusCode?: number } };
  }
  throw new Error('expected AssumeRole to fail');
}

describe('GetCallerIdentity', () => {
  it('reports an unknown access key as the account root, the emulator administrator', async () => {
    const who = await sts().send(new GetCallerIdentityCommand({}));
    expect(who).toMatchObject({ Account: account, Arn: `arn:aws:iam::${account}:root`, UserId: account });
  });

  it('reports a seeded user with a stable AIDA user id', async () => {
    fixture.emulator.seed({ principals: [operatorUser] });
    const first = await sts(operatorUser.accessKeyId).send(new GetCallerIdentityCommand({}));
    const again = await sts(operatorUser.accessKeyId).send(new GetCallerIdentityCommand({}));
    expect(first.Arn).toBe(operatorUser.arn);
    expect(first.Account).toBe(account);
    expect(first.UserId).toMatch(/^AIDA[A-Z2-7]{17}$/);
    expect(again.UserId).toBe(first.UserId);
  });
});

describe('AssumeRole', () => {
  it('returns session credentials that act as the assumed role', async () => {
    fixture.emulator.seed({ principals: [operatorUser], roles: [{ arn: deployerRole }] });
    const out = await sts(operatorUser.accessKeyId).send(
      new AssumeRoleCommand({
        RoleArn: deployerRole,
        RoleSessionName: 'reconcile-42',
        DurationSeconds: 1800,
      }),
    );
    const creds = out.Credentials!;
    expect(creds.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(creds.SecretAccessKey).toHaveLength(40);
    expect(creds.SessionToken!.length).toBeGreaterThan(100);
    expect(creds.Expiration).toEqual(new Date(Date.UTC(2026, 10, 23, 12, 30, 0)));
    const assumedArn = `arn:aws:sts::${account}:assumed-role/cmk-operator-deployer/reconcile-42`;
    expect(out.AssumedRoleUser).toEqual({
      Arn: assumedArn,
      AssumedRoleId: expect.stringMatching(/^AROA[A-Z2-7]{17}:reconcile-42$/),
    });

    const asRole = await sts(creds.AccessKeyId).send(new GetCallerIdentityCommand({}));
    expect(asRole).toMatchObject({
      Arn: assumedArn,
      Account: account,
      UserId: out.AssumedRoleUser!.AssumedRoleId,
    });
  });

  it('signs later KMS calls as the assumed role, as CloudTrail would record them', async () => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole }] });
    const out = await sts().send(new AssumeRoleCommand({ RoleArn: deployerRole, RoleSessionName: 'rotate' }));
    const kms = new KMSClient({
      ...fixture.clientConfig(),
      credentials: {
        accessKeyId: out.Credentials!.AccessKeyId!,
        secretAccessKey: out.Credentials!.SecretAccessKey!,
        sessionToken: out.Credentials!.SessionToken!,
      },
    });
    const created = await kms.send(new CreateKeyCommand({ Description: 'tenant key' }));
    await kms.send(new DescribeKeyCommand({ KeyId: created.KeyMetadata!.KeyId! }));

    const calls = await fixture.admin.calls({ service: 'kms' });
    expect(calls.map((c) => c.eventName)).toEqual(['CreateKey', 'DescribeKey']);
    for (const c of calls) {
      expect(c.userIdentity).toEqual({
        arn: `arn:aws:sts::${account}:assumed-role/cmk-operator-deployer/rotate`,
        accessKeyId: out.Credentials!.AccessKeyId,
        type: 'assumed-role',
      });
    }
  });

  it('is matched by key policies that name the role, not the session', async () => {
    const readerRole = `arn:aws:iam::${account}:role/reader`;
    // Roles with an empty IAM allowance: only a key policy statement naming the role can let them in.
    fixture.emulator.seed({
      roles: [
        { arn: deployerRole, iamAllow: [] },
        { arn: readerRole, iamAllow: [] },
      ],
    });
    const admin = new KMSClient(fixture.clientConfig());
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'Admin',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${account}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
        {
          Sid: 'Reader',
          Effect: 'Allow',
          Principal: { AWS: readerRole },
          Action: 'kms:Encrypt',
          Resource: '*',
        },
      ],
    });
    const key = (await admin.send(new CreateKeyCommand({ Policy: policy }))).KeyMetadata!;
    const asSession = async (roleArn: string) => {
      const out = await sts().send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'probe' }));
      const c = out.Credentials!;
      return new KMSClient({
        ...fixture.clientConfig(),
        credentials: {
          accessKeyId: c.AccessKeyId!,
          secretAccessKey: c.SecretAccessKey!,
          sessionToken: c.SessionToken!,
        },
      });
    };
    const plaintext = new TextEncoder().encode('hello');
    const reader = await asSession(readerRole);
    await reader.send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: plaintext }));

    const deployer = await asSession(deployerRole);
    const err = await deployer
      .send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: plaintext }))
      .catch((e: Error) => e);
    expect((err as Error).name).toBe('AccessDeniedException');
    expect((err as Error).message).toContain(
      `arn:aws:sts::${account}:assumed-role/cmk-operator-deployer/probe`,
    );
  });

  it('narrows the session to what an inline session policy allows', async () => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole, iamAllow: ['kms:*'] }] });
    const key = (await new KMSClient(fixture.clientConfig()).send(new CreateKeyCommand({}))).KeyMetadata!;
    const out = await sts().send(
      new AssumeRoleCommand({
        RoleArn: deployerRole,
        RoleSessionName: 'describe-only',
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['kms:DescribeKey', 'kinesisanalytics:*'], Resource: '*' }],
        }),
      }),
    );
    const c = out.Credentials!;
    const scoped = new KMSClient({
      ...fixture.clientConfig(),
      credentials: {
        accessKeyId: c.AccessKeyId!,
        secretAccessKey: c.SecretAccessKey!,
        sessionToken: c.SessionToken!,
      },
    });
    await scoped.send(new DescribeKeyCommand({ KeyId: key.KeyId! }));
    const err = await scoped
      .send(new EncryptCommand({ KeyId: key.KeyId!, Plaintext: new TextEncoder().encode('x') }))
      .catch((e: Error) => e);
    expect((err as Error).name).toBe('AccessDeniedException');
  });

  it('gives two sessions of the same role distinct credentials and one role id', async () => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole }] });
    const a = await sts().send(new AssumeRoleCommand({ RoleArn: deployerRole, RoleSessionName: 'a1' }));
    const b = await sts().send(new AssumeRoleCommand({ RoleArn: deployerRole, RoleSessionName: 'b2' }));
    expect(a.Credentials!.AccessKeyId).not.toBe(b.Credentials!.AccessKeyId);
    expect(a.AssumedRoleUser!.AssumedRoleId!.split(':')[0]).toBe(
      b.AssumedRoleUser!.AssumedRoleId!.split(':')[0],
    );
    // Default session length is one hour.
    expect(a.Credentials!.Expiration).toEqual(new Date(Date.UTC(2026, 10, 23, 13, 0, 0)));
  });

  it('refuses a role that is not seeded when roles are seeded', async () => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole }] });
    const other = `arn:aws:iam::${account}:role/someone-else`;
    const err = await stsError({ RoleArn: other, RoleSessionName: 'x1' });
    expect(err.name).toBe('AccessDenied');
    expect(err.$metadata.httpStatusCode).toBe(403);
    expect(err.message).toContain(other);
  });

  it('without seeded roles, allows any role in the caller account and refuses other accounts', async () => {
    const own = await sts().send(
      new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/anything`, RoleSessionName: 'ok' }),
    );
    expect(own.AssumedRoleUser!.Arn).toBe(`arn:aws:sts::${account}:assumed-role/anything/ok`);
    const err = await stsError({ RoleArn: 'arn:aws:iam::444455556666:role/anything', RoleSessionName: 'no' });
    expect(err.name).toBe('AccessDenied');
  });

  it('lets a seeded cross-account role be assumed, and the session lives in that account', async () => {
    const foreign = 'arn:aws:iam::444455556666:role/shared-keys';
    fixture.emulator.seed({ roles: [{ arn: foreign }] });
    const out = await sts().send(new AssumeRoleCommand({ RoleArn: foreign, RoleSessionName: 'xacct' }));
    const who = await sts(out.Credentials!.AccessKeyId).send(new GetCallerIdentityCommand({}));
    expect(who.Account).toBe('444455556666');
    expect(who.Arn).toBe('arn:aws:sts::444455556666:assumed-role/shared-keys/xacct');
  });

  it('requires sts:AssumeRole in the caller IAM allowances and refuses a seeded root user', async () => {
    fixture.emulator.seed({
      principals: [
        { ...operatorUser, iamAllow: ['kms:*'] },
        { accessKeyId: 'AKIAROOTUSER00000001', arn: `arn:aws:iam::${account}:root` },
      ],
      roles: [{ arn: deployerRole }],
    });
    const denied = await stsError({ RoleArn: deployerRole, RoleSessionName: 'x1' }, operatorUser.accessKeyId);
    expect(denied.name).toBe('AccessDenied');
    expect(denied.message).toContain(
      `User: ${operatorUser.arn} is not authorized to perform: sts:AssumeRole`,
    );
    const root = await stsError({ RoleArn: deployerRole, RoleSessionName: 'x1' }, 'AKIAROOTUSER00000001');
    expect(root.name).toBe('AccessDenied');
    expect(root.message).toBe('Roles may not be assumed by root accounts.');
  });

  it.each([
    [
      'a session name shorter than 2',
      { RoleSessionName: 'x' },
      /roleSessionName.*length greater than or equal to 2/,
    ],
    ['a session name with a space', { RoleSessionName: 'bad name' }, /roleSessionName.*regular expression/],
    ['a session name longer than 64', { RoleSessionName: 'x'.repeat(65) }, /length less than or equal to 64/],
    ['DurationSeconds below 900', { DurationSeconds: 899 }, /durationSeconds.*greater than or equal to 900/],
    [
      'DurationSeconds above 43200',
      { DurationSeconds: 43201 },
      /durationSeconds.*less than or equal to 43200/,
    ],
    ['a RoleArn that is not a role', { RoleArn: `arn:aws:iam::${account}:user/cmk-operator` }, /is invalid/],
  ])('rejects %s with ValidationError', async (_what, override, message) => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole }] });
    const err = await stsError({ RoleArn: deployerRole, RoleSessionName: 'ok-session', ...override });
    expect(err.name).toBe('ValidationError');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toMatch(message);
  });

  it('accepts the duration bounds 900 and 43200 exactly', async () => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole }] });
    for (const DurationSeconds of [900, 43200]) {
      const out = await sts().send(
        new AssumeRoleCommand({ RoleArn: deployerRole, RoleSessionName: 'bounds', DurationSeconds }),
      );
      expect(out.Credentials!.Expiration!.getTime()).toBe(
        Date.UTC(2026, 10, 23, 12) + DurationSeconds * 1000,
      );
    }
  });

  it('caps role chaining at one hour', async () => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole }] });
    const first = await sts().send(
      new AssumeRoleCommand({ RoleArn: deployerRole, RoleSessionName: 'first' }),
    );
    const chained = first.Credentials!.AccessKeyId!;
    const err = await stsError(
      { RoleArn: deployerRole, RoleSessionName: 'second', DurationSeconds: 3601 },
      chained,
    );
    expect(err.name).toBe('ValidationError');
    expect(err.message).toContain('role chaining');
    const ok = await sts(chained).send(
      new AssumeRoleCommand({ RoleArn: deployerRole, RoleSessionName: 'second', DurationSeconds: 3600 }),
    );
    expect(ok.AssumedRoleUser!.Arn).toContain('/second');
  });

  it('reports the packed size of an inline session policy and rejects a malformed one', async () => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole }] });
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'kms:DescribeKey', Resource: '*' }],
    });
    const out = await sts().send(
      new AssumeRoleCommand({ RoleArn: deployerRole, RoleSessionName: 'scoped', Policy: policy }),
    );
    expect(out.PackedPolicySize).toBeGreaterThan(0);
    expect(out.PackedPolicySize).toBeLessThanOrEqual(100);
    const err = await stsError({ RoleArn: deployerRole, RoleSessionName: 'scoped', Policy: '{not json' });
    // The wire code MalformedPolicyDocument maps to the modelled exception class.
    expect(err.name).toBe('MalformedPolicyDocumentException');
  });

  it('echoes SourceIdentity and records the call in the log', async () => {
    fixture.emulator.seed({ roles: [{ arn: deployerRole }] });
    const out = await sts().send(
      new AssumeRoleCommand({ RoleArn: deployerRole, RoleSessionName: 'audited', SourceIdentity: 'alice' }),
    );
    expect(out.SourceIdentity).toBe('alice');
    const [call] = await fixture.admin.calls({ service: 'sts', eventName: 'AssumeRole' });
    expect(call).toMatchObject({
      eventSource: 'sts.amazonaws.com',
      requestParameters: { RoleArn: deployerRole, RoleSessionName: 'audited', SourceIdentity: 'alice' },
    });
    expect(call!.errorCode).toBeUndefined();
  });

  it('answers an unknown action with InvalidAction', async () => {
    const res = await fetch(fixture.emulator.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetSessionToken&Version=2011-06-15',
    });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toContain('<Code>InvalidAction</Code>');
    expect(body).toContain('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">');
  });
});

describe("AssumeRole against a role's modelled trust (IAM-005, IAM-006)", () => {
  const tenantRole = `arn:aws:iam::${account}:role/cmk-tenant-a`;
  const tags = (namespace: string) => [
    { Key: 'cmk.io/cluster', Value: 'prod' },
    { Key: 'cmk.io/namespace', Value: namespace },
  ];
  const seedTrust = (trust: Record<string, unknown>) =>
    fixture.emulator.seed({ principals: [operatorUser], roles: [{ arn: tenantRole, trust }] });
  const assume = (input: Partial<AssumeRoleCommandInput>) =>
    sts(operatorUser.accessKeyId).send(
      new AssumeRoleCommand({ RoleArn: tenantRole, RoleSessionName: 'op', ...input }),
    );
  const refusal = (input: Partial<AssumeRoleCommandInput>) =>
    stsError({ RoleArn: tenantRole, RoleSessionName: 'op', ...input }, operatorUser.accessKeyId);

  it('admits only the trusted ExternalId; a missing or different one is AccessDenied', async () => {
    seedTrust({ externalId: 'team-a-7f0c' });
    await expect(assume({ ExternalId: 'team-a-7f0c' })).resolves.toMatchObject({
      AssumedRoleUser: { Arn: `arn:aws:sts::${account}:assumed-role/cmk-tenant-a/op` },
    });
    for (const input of [{}, { ExternalId: 'team-b-1234' }]) {
      const err = await refusal(input);
      expect(err.name).toBe('AccessDenied');
      expect(err.$metadata.httpStatusCode).toBe(403);
      expect(err.message).toBe(
        `User: ${operatorUser.arn} is not authorized to perform: sts:AssumeRole on resource: ${tenantRole}`,
      );
    }
  });

  it('records session tags on the session when the trust policy allows sts:TagSession', async () => {
    seedTrust({ tagSession: true });
    const out = await assume({ Tags: tags('team-a') });
    const session = fixture.emulator
      .world()
      .identities.all()
      .find((p) => p.accessKeyId === out.Credentials!.AccessKeyId);
    expect(session?.sessionTags).toEqual({ 'cmk.io/cluster': 'prod', 'cmk.io/namespace': 'team-a' });
    const untagged = await assume({});
    expect(
      fixture.emulator
        .world()
        .identities.all()
        .find((p) => p.accessKeyId === untagged.Credentials!.AccessKeyId)?.sessionTags,
    ).toBeUndefined();
  });

  it('refuses session tags without sts:TagSession in the trust policy', async () => {
    seedTrust({});
    const err = await refusal({ Tags: tags('team-a') });
    expect(err.name).toBe('AccessDenied');
    expect(err.message).toContain('sts:TagSession');
    await expect(assume({})).resolves.toBeDefined();
  });

  it('admits only sessions whose tags match the trust policy (one namespace per role)', async () => {
    seedTrust({ tagSession: true, requestTags: { 'cmk.io/namespace': ['team-a'] } });
    await expect(assume({ Tags: tags('team-a') })).resolves.toBeDefined();
    expect((await refusal({ Tags: tags('team-b') })).message).toContain('sts:TagSession');
    expect((await refusal({})).message).toContain('sts:AssumeRole');
  });

  it('takes any ExternalId and tags for a role whose trust is not modelled', async () => {
    fixture.emulator.seed({ principals: [operatorUser], roles: [{ arn: tenantRole }] });
    await expect(assume({ ExternalId: 'anything', Tags: tags('x') })).resolves.toBeDefined();
  });
});
