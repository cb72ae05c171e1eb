// The operator's own SDK clients (createAwsClients) assuming per-namespace tenant roles in the emulator,
// through the real STS client of @aws-sdk/credential-providers: the tenancy rules decide which
// namespace may use which role (a refused role is never assumed), the role's ExternalId comes from the
// tenancy configuration (IAM-005), and each namespace gets its own session tagged with the cluster
// and the namespace, which the role's trust policy can check (IAM-006).

import { CreateKeyCommand, DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsClients, type AwsTarget, createAwsClients } from '../../src/aws/clients.ts';
import { awsCall } from '../../src/aws/errors.ts';
import { parseTenancyRules } from '../../src/keys/tenancy.ts';
import { failure } from '../fixtures/aws.ts';
import { useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const region = 'us-east-1';
const roleA = `arn:aws:iam::${account}:role/cmk-tenant-a`;
const legacyRole = `arn:aws:iam::${account}:role/legacy`;
const operator = { accessKeyId: 'AKIAOPERATORUSER0001', arn: `arn:aws:iam::${account}:user/cmk-operator` };

const tenancy = (externalId = 'team-a-7f0c') =>
  parseTenancyRules(`
namespaces:
  team-a: {allowedRoleArnPatterns: ["${roleA}", "${legacyRole}"]}
  team-b: {allowedRoleArnPatterns: ["arn:aws:iam::${account}:role/cmk-tenant-*"]}
  team-c: {allowedRoleArnPatterns: ["arn:aws:iam::${account}:role/cmk-tenant-c"]}
roles:
  "${roleA}": {externalId: "${externalId}"}
  "${legacyRole}": {sessionTags: false}
`);

let open: AwsClients[] = [];
function operatorClients(externalId?: string): AwsClients {
  const clients = createAwsClients({
    sessionName: 'cmk-operator-0',
    credentials: { accessKeyId: operator.accessKeyId, secretAccessKey: 'x' },
    tenancy: tenancy(externalId),
    clusterName: 'prod',
    maxAttempts: 1,
  });
  open.push(clients);
  return clients;
}

beforeAll(() => {
  process.env['AWS_ENDPOINT_URL'] = fixture.emulator.url;
});
afterAll(() => {
  for (const c of open) c.destroy();
  open = [];
  delete process.env['AWS_ENDPOINT_URL'];
});

function seed(trust: Record<string, unknown> = {}): void {
  fixture.emulator.seed({
    principals: [{ ...operator, iamAllow: ['sts:AssumeRole', 'sts:TagSession'] }],
    roles: [
      {
        arn: roleA,
        iamAllow: ['kms:*', 'sts:GetCallerIdentity'],
        trust: { externalId: 'team-a-7f0c', tagSession: true, ...trust },
      },
      { arn: legacyRole, iamAllow: ['kms:*', 'sts:GetCallerIdentity'], trust: {} },
    ],
  });
}

const whoAmI = (clients: AwsClients, target: AwsTarget) =>
  awsCall('GetCallerIdentity', () => clients.sts(target).send(new GetCallerIdentityCommand({})));

/**
 * The distinct session tags of a role's sessions in the emulator, as JSON (the SDK may refresh
 * credentials more than once: their expiry is on the emulator's frozen clock, not wall time).
 */
const sessionTagsOf = (role: string) => [
  ...new Set(
    fixture.emulator
      .world()
      .identities.all()
      .filter((p) => p.type === 'assumed-role' && p.roleArn === role)
      .map((p) => JSON.stringify(p.sessionTags ?? null)),
  ),
];

describe('tenant roles through the operator clients', () => {
  it('assumes an allowed role with its ExternalId and the session tags of the namespace, and acts as it', async () => {
    seed({ requestTags: { 'cmk.io/namespace': ['team-a'], 'cmk.io/cluster': ['prod'] } });
    const clients = operatorClients();
    const target = { region, roleArn: roleA, namespace: 'team-a' };
    const who = await whoAmI(clients, target);
    expect(who.Arn).toBe(`arn:aws:sts::${account}:assumed-role/cmk-tenant-a/cmk-operator-0`);
    expect(sessionTagsOf(roleA)).toEqual([
      JSON.stringify({ 'cmk.io/cluster': 'prod', 'cmk.io/namespace': 'team-a' }),
    ]);
    const key = await new KMSClient(fixture.clientConfig()).send(new CreateKeyCommand({}));
    const described = await clients
      .kms(target)
      .send(new DescribeKeyCommand({ KeyId: key.KeyMetadata!.KeyId! }));
    expect(described.KeyMetadata!.Arn).toBe(key.KeyMetadata!.Arn);
  });

  it("is refused by the role's trust policy for another namespace's session", async () => {
    seed({ requestTags: { 'cmk.io/namespace': ['team-a'] } });
    const f = await failure(whoAmI(operatorClients(), { region, roleArn: roleA, namespace: 'team-b' }));
    expect(f.failure.cause).toBe('AccessDenied');
    expect(f.message).toContain('sts:TagSession');
  });

  it('never assumes a role the namespace may not use, and says which field to change', async () => {
    seed();
    const f = await failure(whoAmI(operatorClients(), { region, roleArn: roleA, namespace: 'team-c' }));
    expect(f.failure).toMatchObject({ cause: 'AccessDenied', code: 'RoleNotAllowed' });
    expect(f.message).toContain(`namespace team-c may not use role ${roleA} (spec.roleArn)`);
    expect(f.message).toContain('namespaces.team-c.allowedRoleArnPatterns');
    expect(await fixture.admin.calls({ service: 'sts', eventName: 'AssumeRole' })).toEqual([]);
  });

  it('is refused when the configured ExternalId is not the one the role trusts', async () => {
    seed();
    const f = await failure(
      whoAmI(operatorClients('team-b-1234'), { region, roleArn: roleA, namespace: 'team-a' }),
    );
    expect(f.failure.cause).toBe('AccessDenied');
    expect(f.message).toContain('sts:AssumeRole');
  });

  it('keeps a session per namespace, each tagged with its own namespace', async () => {
    seed();
    const clients = operatorClients();
    await whoAmI(clients, { region, roleArn: roleA, namespace: 'team-a' });
    await whoAmI(clients, { region, roleArn: roleA, namespace: 'team-b' });
    await whoAmI(clients, { region, roleArn: roleA, namespace: 'team-a' });
    expect(sessionTagsOf(roleA).sort()).toEqual([
      JSON.stringify({ 'cmk.io/cluster': 'prod', 'cmk.io/namespace': 'team-a' }),
      JSON.stringify({ 'cmk.io/cluster': 'prod', 'cmk.io/namespace': 'team-b' }),
    ]);
  });

  it('sends no session tags to a role configured without them (its trust lacks sts:TagSession)', async () => {
    seed();
    const who = await whoAmI(operatorClients(), { region, roleArn: legacyRole, namespace: 'team-a' });
    expect(who.Arn).toBe(`arn:aws:sts::${account}:assumed-role/legacy/cmk-operator-0`);
    expect(sessionTagsOf(legacyRole)).toEqual(['null']);
  });
});
