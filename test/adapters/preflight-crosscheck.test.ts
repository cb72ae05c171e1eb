// Cross-check of the operator's key-policy pre-flight (src/keys/preflight.ts) against the emulator's
// own, independent evaluation (emulator/policy.ts serviceUseDenied). For each policy: create a key
// with it through the real KMS client, read it back with GetKeyPolicy as the operator would, run the
// pre-flight, then attempt the real workload switch (MSF UpdateApplication, Keyspaces UpdateTable,
// EMR Serverless UpdateApplication) as the operator's assumed-role session and see whether the
// emulator accepts it. The two verdicts must agree. The operator's role has full IAM allowances, so
// where the pre-flight says 'allowed-if-iam-allows' both sides allow.
//
// Policies: the generated ones, each with one required statement removed, Region-pinned, wrong
// principals, explicit Denies, and fast-check variations of the generated policy (dropped actions
// and statements, changed condition values, swapped principals, added Denies).
//
// EMR Serverless's submitting user needs kms:GenerateDataKey and kms:Decrypt (through
// emr-serverless.<region>) as well as DescribeKey (EMR-007, EMR-006); the emulator checked only
// DescribeKey until this cross-check found it. A disagreement of that shape is still tallied as
// `emrSubmitterCrypto` so a regression is named, but every named case now expects agreement.

import {
  EMRServerlessClient,
  GetApplicationCommand,
  UpdateApplicationCommand as UpdateEmrApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, KeyspacesClient, UpdateTableCommand } from '@aws-sdk/client-keyspaces';
import {
  DescribeApplicationCommand,
  KinesisAnalyticsV2Client,
  UpdateApplicationCommand as UpdateFlinkApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { CreateKeyCommand, GetKeyPolicyCommand, KMSClient } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyUser } from '../../src/api/kmskey.ts';
import { emrServerlessAdapter } from '../../src/aws/emr-serverless.ts';
import { flinkAdapter } from '../../src/aws/flink.ts';
import { keyspacesAdapter } from '../../src/aws/keyspaces.ts';
import { generateKeyPolicy, type KeyPolicy, type PolicyStatement } from '../../src/keys/policy.ts';
import { checkServiceCanUseKey, type ServiceKeyUseVerdict } from '../../src/keys/preflight.ts';
import { serviceRequirements } from '../../src/keys/service-requirements.ts';
import { useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const region = 'us-east-1';
const operatorRole = `arn:aws:iam::${account}:role/cmk-operator`;
const otherRole = `arn:aws:iam::${account}:role/someone-else`;
const keyAdmin = `arn:aws:iam::${account}:user/key-admin`;
const keyAdminAccessKey = 'AKIAKEYADMIN00000001';
const services: KeyUser[] = ['ManagedFlink', 'Keyspaces', 'EmrServerless'];
const servicePrincipals = [
  'kinesisanalytics.amazonaws.com',
  'infrastructure.kinesisanalytics.amazonaws.com',
  'emr-serverless.amazonaws.com',
];

beforeEach(() => {
  fixture.emulator.seed({
    principals: [{ accessKeyId: keyAdminAccessKey, arn: keyAdmin, iamAllow: ['kms:*'] }],
    roles: [
      {
        arn: operatorRole,
        iamAllow: ['kms:*', 'kinesisanalytics:*', 'cassandra:*', 'emr-serverless:*', 'sts:GetCallerIdentity'],
      },
    ],
  });
});

// ---- The operator's session and the workloads ---------------------------------------------------------

interface Session {
  arn: string;
  config: ReturnType<typeof fixture.clientConfig> & {
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  };
}

/** Assumes the operator's role, as the operator does per target, and asks STS who it is now. */
async function operatorSession(): Promise<Session> {
  const out = await new STSClient(fixture.clientConfig()).send(
    new AssumeRoleCommand({ RoleArn: operatorRole, RoleSessionName: 'preflight-crosscheck' }),
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

interface Workload {
  resourceArn: string;
  encryptionContext: Record<string, string>;
  /** The real switch through the service's SDK client; the emulator's refusal message, or undefined. */
  switchTo(keyArn: string): Promise<string | undefined>;
}

let workloads = 0;

/** A fresh workload on the AWS owned key, so every policy gets its own first switch. */
async function newWorkload(service: KeyUser, session: Session): Promise<Workload> {
  const n = ++workloads;
  const refused = async (call: Promise<unknown>, errorName: string) => {
    try {
      await call;
      return undefined;
    } catch (e) {
      const err = e as Error;
      // Only a key refusal counts; anything else is a broken test, not a verdict.
      if (err.name !== errorName || !/KMS key/.test(err.message)) throw err;
      return err.message;
    }
  };
  if (service === 'ManagedFlink') {
    const name = `app-${n}`;
    fixture.emulator.seed({ kinesisanalytics: { applications: [{ name }] } });
    const client = new KinesisAnalyticsV2Client(session.config);
    const read = async () =>
      (await client.send(new DescribeApplicationCommand({ ApplicationName: name }))).ApplicationDetail!;
    const resourceArn = (await read()).ApplicationARN!;
    return {
      resourceArn,
      encryptionContext: flinkAdapter.encryptionContext(
        { service, applicationName: name },
        { resourceArn },
        account,
      ),
      switchTo: async (keyArn) =>
        refused(
          client.send(
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
          ),
          'InvalidArgumentException',
        ),
    };
  }
  if (service === 'Keyspaces') {
    const tableName = `t${n}`;
    fixture.emulator.seed({ cassandra: { keyspaces: [{ name: 'shop', tables: [{ name: tableName }] }] } });
    const client = new KeyspacesClient(session.config);
    const table = await client.send(new GetTableCommand({ keyspaceName: 'shop', tableName }));
    const resourceArn = table.resourceArn!;
    return {
      resourceArn,
      encryptionContext: keyspacesAdapter.encryptionContext(
        { service, keyspaceName: 'shop', tableName },
        { resourceArn },
        account,
      ),
      switchTo: async (keyArn) => {
        const message = await refused(
          client.send(
            new UpdateTableCommand({
              keyspaceName: 'shop',
              tableName,
              encryptionSpecification: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: keyArn },
            }),
          ),
          'ValidationException',
        );
        // Let the update finish: at most 50 DDL operations may be in flight per account and Region.
        fixture.emulator.world().clock.advance(1000);
        return message;
      },
    };
  }
  const applicationId = `app${n}`;
  fixture.emulator.seed({ 'emr-serverless': { applications: [{ id: applicationId, name: applicationId }] } });
  const client = new EMRServerlessClient(session.config);
  const app = await client.send(new GetApplicationCommand({ applicationId }));
  const resourceArn = app.application!.arn!;
  return {
    resourceArn,
    encryptionContext: emrServerlessAdapter.encryptionContext(
      { service, applicationId },
      { resourceArn },
      account,
    ),
    switchTo: (keyArn) =>
      refused(
        client.send(
          new UpdateEmrApplicationCommand({
            applicationId,
            diskEncryptionConfiguration: { encryptionKeyArn: keyArn },
          }),
        ),
        'ValidationException',
      ),
  };
}

// ---- One comparison -------------------------------------------------------------------------------------

interface Comparison {
  preflight: ServiceKeyUseVerdict;
  /** The emulator's refusal, or undefined when it accepted the switch. */
  refusal: string | undefined;
  outcome: 'agree' | 'emrSubmitterCrypto' | 'disagree';
}

const tally = { policies: 0, agree: 0, bothAllow: 0, bothRefuse: 0, emrSubmitterCrypto: 0, disagree: 0 };
afterAll(() => {
  console.info(`pre-flight cross-check: ${JSON.stringify(tally)}`);
});

async function compare(service: KeyUser, policy: KeyPolicy): Promise<Comparison> {
  const session = await operatorSession();
  const created = await new KMSClient(fixture.clientConfig()).send(
    new CreateKeyCommand({ Policy: JSON.stringify(policy), BypassPolicyLockoutSafetyCheck: true }),
  );
  const keyArn = created.KeyMetadata!.Arn!;
  // The operator reads the policy back as KMS stores it; the key administrator can always read it.
  const stored = await new KMSClient(fixture.clientConfig({ accessKeyId: keyAdminAccessKey })).send(
    new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }),
  );
  const workload = await newWorkload(service, session);
  const preflight = checkServiceCanUseKey({
    service,
    policy: stored.Policy!,
    keyArn,
    region,
    accountId: account,
    operatorPrincipalArn: session.arn,
    resourceArn: workload.resourceArn,
    encryptionContext: workload.encryptionContext,
  });
  const refusal = await workload.switchTo(keyArn);
  let outcome: Comparison['outcome'] = preflight.ok === (refusal === undefined) ? 'agree' : 'disagree';
  if (
    outcome === 'disagree' &&
    !preflight.ok &&
    preflight.missing.length > 0 &&
    preflight.missing.every((m) => m.requirement === 'EmrServerlessKeyUsersViaService')
  )
    outcome = 'emrSubmitterCrypto';
  tally.policies++;
  tally[outcome]++;
  if (outcome === 'agree') tally[preflight.ok ? 'bothAllow' : 'bothRefuse']++;
  return { preflight, refusal, outcome };
}

/** Both refused: the emulator names one of the principals and actions the pre-flight says are missing. */
function expectSameDiagnosis(c: Comparison): void {
  if (c.preflight.ok || c.refusal === undefined) return;
  const { missing } = c.preflight;
  expect(missing.some((m) => c.refusal!.includes(m.principal))).toBe(true);
  expect(missing.some((m) => c.refusal!.includes(m.action))).toBe(true);
}

// ---- Policies ---------------------------------------------------------------------------------------

const generated = (service: KeyUser, opts: { root?: boolean; keyUsers?: string[] } = {}): KeyPolicy => {
  const p = generateKeyPolicy({
    accountId: account,
    region,
    services: [service],
    keyAdministrators: [keyAdmin],
    keyUsers: opts.keyUsers ?? [operatorRole],
  });
  return opts.root === false
    ? { ...p, Statement: p.Statement.filter((s) => s.Sid !== 'EnableIamPolicies') }
    : p;
};
const without = (p: KeyPolicy, ...sids: string[]): KeyPolicy => ({
  ...p,
  Statement: p.Statement.filter((s) => !sids.includes(s.Sid)),
});
const changing = (p: KeyPolicy, sid: string, f: (s: PolicyStatement) => PolicyStatement): KeyPolicy => ({
  ...p,
  Statement: p.Statement.map((s) => (s.Sid === sid ? f(s) : s)),
});
const adding = (p: KeyPolicy, s: PolicyStatement): KeyPolicy => ({ ...p, Statement: [...p.Statement, s] });
const deny = (action: string, principal: PolicyStatement['Principal']): PolicyStatement => ({
  Sid: 'DenyIt',
  Effect: 'Deny',
  Principal: principal,
  Action: action,
  Resource: '*',
});
const viaCondition = (value: string) => ({ StringEquals: { 'kms:ViaService': value } });

type Expectation = 'allow' | 'refuse' | 'emrSubmitterCrypto';
type Case = [name: string, service: KeyUser, policy: KeyPolicy, expected: Expectation];

const cases: Case[] = [
  ...services.flatMap((s): Case[] => [
    [`${s}: the generated policy`, s, generated(s), 'allow'],
    [`${s}: the generated policy without the account root`, s, generated(s, { root: false }), 'allow'],
    [
      `${s}: key users naming another role, no account root`,
      s,
      generated(s, { root: false, keyUsers: [otherRole] }),
      'refuse',
    ],
    [
      `${s}: key users naming another role, with the account root`,
      s,
      generated(s, { keyUsers: [otherRole] }),
      'allow',
    ],
  ]),
  ...services.flatMap((s) =>
    serviceRequirements[s].flatMap((r): Case[] => [
      [`${s}: without ${r.sid}`, s, without(generated(s, { root: false }), r.sid), 'refuse'],
      ...(r.principal === 'keyUsers'
        ? [
            [
              `${s}: without ${r.sid}, delegated to IAM by the account root`,
              s,
              without(generated(s), r.sid),
              'allow',
            ] as Case,
          ]
        : []),
    ]),
  ),
  [
    'ManagedFlink: without either infrastructure statement (TRAP-07)',
    'ManagedFlink',
    without(
      generated('ManagedFlink'),
      'ManagedFlinkInfrastructureRunningState',
      'ManagedFlinkInfrastructureGrants',
    ),
    'refuse',
  ],
  [
    'ManagedFlink: kms:ViaService pinned to another Region',
    'ManagedFlink',
    changing(generated('ManagedFlink', { root: false }), 'ManagedFlinkKeyUsersViaService', (s) => ({
      ...s,
      Condition: viaCondition('kinesisanalytics.eu-west-1.amazonaws.com'),
    })),
    'refuse',
  ],
  [
    'ManagedFlink: grants limited to Encrypt instead of Decrypt (MSF-009)',
    'ManagedFlink',
    changing(generated('ManagedFlink'), 'ManagedFlinkInfrastructureGrants', (s) => ({
      ...s,
      Condition: { 'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Encrypt'] } },
    })),
    'refuse',
  ],
  [
    'ManagedFlink: the service principals swapped',
    'ManagedFlink',
    changing(
      changing(generated('ManagedFlink'), 'ManagedFlinkServiceDurableState', (s) => ({
        ...s,
        Principal: { Service: 'infrastructure.kinesisanalytics.amazonaws.com' },
      })),
      'ManagedFlinkInfrastructureRunningState',
      (s) => ({ ...s, Principal: { Service: 'kinesisanalytics.amazonaws.com' } }),
    ),
    'refuse',
  ],
  [
    'Keyspaces: kms:ViaService pinned to the workload Region (KS-011)',
    'Keyspaces',
    changing(generated('Keyspaces', { root: false }), 'KeyspacesKeyUsersViaService', (s) => ({
      ...s,
      Condition: viaCondition(`cassandra.${region}.amazonaws.com`),
    })),
    'refuse',
  ],
  [
    'Keyspaces: kms:ViaService naming another service',
    'Keyspaces',
    changing(generated('Keyspaces', { root: false }), 'KeyspacesKeyUsersViaService', (s) => ({
      ...s,
      Condition: { StringLike: { 'kms:ViaService': 'dynamodb.*.amazonaws.com' } },
    })),
    'refuse',
  ],
  [
    "Keyspaces: the key-user statement scoped to another keyspace's context",
    'Keyspaces',
    changing(generated('Keyspaces', { root: false }), 'KeyspacesKeyUsersViaService', (s) => ({
      ...s,
      Condition: {
        ...s.Condition,
        StringEquals: { 'kms:EncryptionContext:aws:cassandra:keyspaceName': 'other' },
      },
    })),
    'refuse',
  ],
  [
    'EmrServerless: the service statement scoped to another application id (TRAP-14)',
    'EmrServerless',
    changing(generated('EmrServerless'), 'EmrServerlessServiceDisks', (s) => ({
      ...s,
      Condition: {
        ...s.Condition,
        StringEquals: { 'aws:SourceAccount': account, 'kms:EncryptionContext:applicationId': '00other' },
      },
    })),
    'refuse',
  ],
  [
    'EmrServerless: the service statement scoped to another Region',
    'EmrServerless',
    changing(generated('EmrServerless'), 'EmrServerlessServiceDisks', (s) => ({
      ...s,
      Condition: {
        ...s.Condition,
        ArnLike: { 'aws:SourceArn': `arn:aws:emr-serverless:eu-west-1:${account}:/applications/*` },
      },
    })),
    'refuse',
  ],
  [
    'EmrServerless: the key-user crypto pinned to another Region',
    'EmrServerless',
    changing(generated('EmrServerless', { root: false }), 'EmrServerlessKeyUsersViaService', (s) => ({
      ...s,
      Condition: viaCondition('emr-serverless.eu-west-1.amazonaws.com'),
    })),
    'refuse',
  ],
  ...services.map(
    (s): Case => [
      `${s}: an explicit Deny on kms:Decrypt for everyone`,
      s,
      adding(generated(s), deny('kms:Decrypt', { AWS: '*' })),
      'refuse',
    ],
  ),
  ...services.map(
    (s): Case => [
      `${s}: an explicit Deny on kms:DescribeKey for the operator's role`,
      s,
      adding(generated(s), deny('kms:DescribeKey', { AWS: operatorRole })),
      'refuse',
    ],
  ),
  [
    'ManagedFlink: an explicit Deny on kms:CreateGrant for the infrastructure principal',
    'ManagedFlink',
    adding(
      generated('ManagedFlink'),
      deny('kms:CreateGrant', { Service: 'infrastructure.kinesisanalytics.amazonaws.com' }),
    ),
    'refuse',
  ],
  [
    'Keyspaces: an explicit Deny through the account principal',
    'Keyspaces',
    adding(generated('Keyspaces'), deny('kms:ReEncrypt*', { AWS: `arn:aws:iam::${account}:root` })),
    'refuse',
  ],
];

describe('the pre-flight agrees with the emulator on named policies', () => {
  it.each(cases)('%s', async (_name, service, policy, expected) => {
    const c = await compare(service, policy);
    if (expected === 'emrSubmitterCrypto') {
      expect(c.outcome).toBe('emrSubmitterCrypto');
      return;
    }
    expect({ preflight: c.preflight.ok, emulator: c.refusal === undefined }).toEqual({
      preflight: expected === 'allow',
      emulator: expected === 'allow',
    });
    expectSameDiagnosis(c);
  });
});

// ---- Generated variations ---------------------------------------------------------------------------

type Mutation =
  | { kind: 'dropAction'; statement: number; action: number }
  | { kind: 'dropStatement'; statement: number }
  | { kind: 'changeCondition'; statement: number; key: number; value: string | string[] }
  | { kind: 'swapPrincipal'; statement: number; to: PolicyStatement['Principal'] }
  | { kind: 'addDeny'; action: string; principal: PolicyStatement['Principal']; via?: string };

const conditionValues: Array<string | string[]> = [
  'kinesisanalytics.us-east-1.amazonaws.com',
  'kinesisanalytics.eu-west-1.amazonaws.com',
  'cassandra.us-east-1.amazonaws.com',
  'cassandra.*.amazonaws.com',
  'emr-serverless.us-east-1.amazonaws.com',
  'emr-serverless.*.amazonaws.com',
  account,
  '444455556666',
  'EncryptionContextSubset',
  'EncryptionContextEquals',
  ['Decrypt'],
  ['Decrypt', 'Encrypt'],
  ['Encrypt'],
  `arn:aws:emr-serverless:${region}:${account}:/applications/*`,
  `arn:aws:emr-serverless:eu-west-1:${account}:/applications/*`,
  '*',
];
const principals: Array<PolicyStatement['Principal']> = [
  { AWS: operatorRole },
  { AWS: otherRole },
  { AWS: `arn:aws:iam::${account}:root` },
  { AWS: '*' },
  ...servicePrincipals.map((Service) => ({ Service })),
];
const denyActions = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:CreateGrant',
  'kms:GenerateDataKey*',
  'kms:Encrypt',
  'kms:ReEncryptTo',
];

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('dropAction' as const), statement: fc.nat(), action: fc.nat() }),
  fc.record({ kind: fc.constant('dropStatement' as const), statement: fc.nat() }),
  fc.record({
    kind: fc.constant('changeCondition' as const),
    statement: fc.nat(),
    key: fc.nat(),
    value: fc.constantFrom(...conditionValues),
  }),
  fc.record({
    kind: fc.constant('swapPrincipal' as const),
    statement: fc.nat(),
    to: fc.constantFrom(...principals),
  }),
  fc.record(
    {
      kind: fc.constant('addDeny' as const),
      action: fc.constantFrom(...denyActions),
      principal: fc.constantFrom(...principals),
      via: fc.constantFrom(
        'kinesisanalytics.us-east-1.amazonaws.com',
        'cassandra.us-west-2.amazonaws.com',
        'emr-serverless.us-east-1.amazonaws.com',
      ),
    },
    { requiredKeys: ['kind', 'action', 'principal'] },
  ),
);

/** Applies mutations to the service statements only: the root and key-administrator statements stay. */
function mutate(policy: KeyPolicy, mutations: Mutation[]): KeyPolicy {
  const fixed = policy.Statement.filter(
    (s) => s.Sid === 'EnableIamPolicies' || s.Sid === 'KeyAdministrators',
  );
  let mutable = policy.Statement.filter((s) => !fixed.includes(s)).map((s) => structuredClone(s));
  const pick = (i: number) => (mutable.length === 0 ? -1 : i % mutable.length);
  for (const m of mutations) {
    if (m.kind === 'addDeny') {
      mutable.push({
        Sid: `Deny${mutable.length}`,
        Effect: 'Deny',
        Principal: m.principal,
        Action: m.action,
        Resource: '*',
        ...(m.via ? { Condition: viaCondition(m.via) } : {}),
      });
      continue;
    }
    const at = pick(m.statement);
    if (at < 0) continue;
    const s = mutable[at]!;
    if (m.kind === 'dropStatement') mutable = mutable.filter((_, i) => i !== at);
    else if (m.kind === 'swapPrincipal') s.Principal = m.to;
    else if (m.kind === 'dropAction') {
      const actions = typeof s.Action === 'string' ? [s.Action] : s.Action;
      const left = actions.filter((_, i) => i !== m.action % actions.length);
      if (left.length === 0) mutable = mutable.filter((_, i) => i !== at);
      else s.Action = left;
    } else {
      const keys = Object.entries(s.Condition ?? {}).flatMap(([op, block]) =>
        Object.keys(block).map((k) => [op, k] as const),
      );
      const key = keys[m.key % Math.max(1, keys.length)];
      if (key) s.Condition![key[0]]![key[1]] = m.value;
    }
  }
  return { ...policy, Statement: [...fixed, ...mutable] };
}

describe('the pre-flight agrees with the emulator on generated variations', () => {
  it.each(services)('%s', async (service) => {
    const disagreements: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(arbMutation, { minLength: 1, maxLength: 3 }),
        async (root, mutations) => {
          const policy = mutate(generated(service, { root }), mutations);
          const c = await compare(service, policy);
          if (c.outcome === 'disagree') {
            disagreements.push(JSON.stringify({ mutations, preflight: c.preflight, refusal: c.refusal }));
            return false;
          }
          if (c.outcome === 'agree') expectSameDiagnosis(c);
          return true;
        },
      ),
      // A fixed seed keeps CI repeatable; CMK_CROSSCHECK_SEED explores others.
      {
        numRuns: Number(process.env['CMK_CROSSCHECK_RUNS'] ?? 40),
        seed: Number(process.env['CMK_CROSSCHECK_SEED'] ?? 20261123),
        endOnFailure: true,
      },
    );
    expect(disagreements).toEqual([]);
  });
});
