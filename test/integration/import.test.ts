// kubectl cmk import end to end: an account of 532 resources (Managed Flink applications, Keyspaces
// tables and EMR Serverless applications on five customer managed keys and the AWS owned keys, a few
// claimed by another owner, a few unreadable or unrepresentable) is seeded in the emulator; the
// import reads it with its own credentials and writes manifests; they are applied to the real
// kube-apiserver with server-side apply while the operator runs. Every object becomes Ready and
// the operator makes no AWS mutation: the manifests say what AWS already has.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { parseDocument } from 'yaml';
import { apiVersion } from '../../src/api/shared.ts';
import { importCommand } from '../../src/cli/import.ts';
import { kubectlCmkCommand } from '../../src/cli/kubectl-cmk.ts';
import { adminIdentity, eventually } from './support/cluster.ts';
import { plurals, useOperator } from './support/operator.ts';
import { isMutatingCall } from './support/replica.ts';

// A resync longer than the test: convergence comes from the objects' own reconciles.
const f = useOperator({ resyncMs: 600_000 });
const account = '111122223333';
const operatorAccessKey = 'AKIAOPERATOR00000001';
const importerAccessKey = 'AKIAIMPORTER00000001';

// ---- the account ---------------------------------------------------------------------------------

const keyId = (n: number) => `1a000000-0000-4000-8000-0000000000${String(n).padStart(2, '0')}`;
const keyArn = (n: number) => `arn:aws:kms:us-east-1:${account}:key/${keyId(n)}`;
/** Lets all three services use the key (the account statement covers Keyspaces' kms:ViaService). */
const servicePolicy = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
    {
      Effect: 'Allow',
      Principal: {
        Service: ['kinesisanalytics.amazonaws.com', 'infrastructure.kinesisanalytics.amazonaws.com'],
      },
      Action: [
        'kms:DescribeKey',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'kms:GenerateDataKeyWithoutPlaintext',
        'kms:CreateGrant',
      ],
      Resource: '*',
    },
    {
      Effect: 'Allow',
      Principal: { Service: 'emr-serverless.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
    },
  ],
};
const keys = [
  { keyId: keyId(1), alias: 'alias/orders' },
  { keyId: keyId(2), aliases: ['alias/payments', 'alias/billing'] },
  { keyId: keyId(3) },
  { keyId: keyId(4), alias: 'alias/Team_Data/events' },
  // Its alias makes the same name as key 1's: both KmsKeys get a hashed name.
  { keyId: keyId(5), alias: 'alias/Orders' },
].map((k) => ({ ...k, policy: servicePolicy }));
/** Resource i's key: keys 1-5 in turn, and every sixth on the AWS owned key. */
const keyOf = (i: number) => (i % 6 === 5 ? undefined : keyArn((i % 6) + 1));
const deletedKey = keyArn(99);
const owner = { 'cmk.io/owner': 'other-cluster/team-b/managed' };

const flinkApps = [
  ...Array.from({ length: 178 }, (_, i) => ({
    name: `stream-${String(i).padStart(3, '0')}`,
    ...(i % 4 === 0 ? { status: 'RUNNING' } : {}),
    ...(keyOf(i) ? { keyId: keyOf(i) } : {}),
  })),
  // Two names one label apart, and one too long for a label.
  { name: 'Clicks' },
  { name: 'clicks' },
  { name: `pipeline-${'x'.repeat(119)}` },
  { name: 'claimed-0', keyId: keyArn(1), tags: owner },
  { name: 'claimed-1', tags: owner },
  // On a key deleted since (the seed keeps the ARN as is).
  ...[0, 1, 2].map((i) => ({ name: `orphaned-${i}`, keyId: deletedKey })),
];
const tables = ['ks_events', 'ks_orders', 'ks_users', 'ks_Audit'].map((name) => ({
  name,
  tables: Array.from({ length: 45 }, (_, i) => ({
    name: `t${i}`,
    ...(keyOf(i) ? { encryption: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: keyOf(i) } } : {}),
  })),
}));
const emrId = (prefix: string, i: number) => `00${prefix}${String(i).padStart(11, '0')}`;
const emrApps = [
  ...Array.from({ length: 160 }, (_, i) => ({
    id: emrId('imp', i),
    // Three applications share a name.
    name: i < 3 ? 'nightly' : `etl-${i}`,
    state: ['CREATED', 'STARTED', 'STOPPED'][i % 3],
    ...(keyOf(i)
      ? {
          diskEncryption: {
            encryptionKeyArn: keyOf(i),
            ...(i % 2 === 0 ? { encryptionContext: { team: 'data' } } : {}),
          },
        }
      : {}),
  })),
  ...[0, 1, 2].map((i) => ({ id: emrId('clm', i), name: `claimed-${i}`, tags: owner })),
  // A key reference that is no key at all, and a context no spec.encryptionContext can hold.
  ...[0, 1].map((i) => ({
    id: emrId('bad', i),
    name: `bad-${i}`,
    diskEncryption: { encryptionKeyArn: 'not-a-key-arn' },
  })),
  {
    id: emrId('ctx', 0),
    name: 'wide-context',
    diskEncryption: {
      encryptionKeyArn: keyArn(1),
      encryptionContext: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v'])),
    },
  },
];

async function runImport(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await importCommand([...args, '-n', f.namespace, '--calls-per-second', '1000'], {
    out: (t) => (out += t),
    err: (t) => (err += t),
    awsCredentials: { accessKeyId: importerAccessKey, secretAccessKey: 'x' },
  });
  return { code, out, err };
}

interface Listed {
  items: Array<{
    kind: string;
    metadata: { name: string };
    status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
  }>;
}

/** Objects of every imported kind that are not Ready yet, with their Ready reason. */
async function notReady(): Promise<string[]> {
  const waiting: string[] = [];
  for (const kind of ['KmsKey', 'FlinkApplication', 'KeyspacesTable', 'EmrServerlessApplication']) {
    const res = await adminIdentity().request(
      'GET',
      `/apis/${apiVersion}/namespaces/${f.namespace}/${plurals[kind]}`,
    );
    for (const o of (res.body as Listed).items) {
      const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True')
        waiting.push(
          `${kind}/${o.metadata.name}: ${ready ? `${ready.reason}: ${ready.message}` : 'no Ready yet'}`,
        );
    }
  }
  return waiting;
}

/** `kubectl apply --server-side -f DIR`: one apply patch per file, eight at a time. */
async function applyDirectory(dir: string): Promise<number> {
  const files = readdirSync(dir).sort();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const text = readFileSync(join(dir, files[next++]!), 'utf8');
      const doc = parseDocument(text).toJS() as { kind: string; metadata: { name: string } };
      const res = await adminIdentity().request(
        'PATCH',
        `/apis/${apiVersion}/namespaces/${f.namespace}/${plurals[doc.kind]}/${doc.metadata.name}?fieldManager=kubectl&force=true`,
        text,
        { contentType: 'application/apply-patch+yaml' },
      );
      if (res.status !== 200 && res.status !== 201)
        throw new Error(`apply ${doc.kind}/${doc.metadata.name}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return files.length;
}

describe('kubectl cmk import', () => {
  it('adopts a seeded account of 532 resources: every object Ready, no AWS mutation', {
    timeout: 170_000,
  }, async () => {
    f.emulator.seed({
      kms: { keys },
      kinesisanalytics: { applications: flinkApps },
      cassandra: { keyspaces: tables },
      'emr-serverless': { applications: emrApps },
    });
    const seeded = flinkApps.length + tables.length * 45 + emrApps.length;
    expect(seeded).toBe(532);

    // GetTable refuses twice: those two tables are reported, the rest is still written.
    await f.admin.addFault({
      service: 'cassandra',
      operation: 'GetTable',
      error: {
        code: 'AccessDeniedException',
        status: 400,
        message: 'injected: no access to this table',
        rate: 1,
      },
      limit: 2,
    });
    const dir = mkdtempSync(join(tmpdir(), 'cmk-import-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const started = Date.now();
    const run = await runImport(['--out', dir]);
    const importMs = Date.now() - started;
    await f.admin.clearFaults();
    expect(run.out).toBe('');
    const summary = run.err;
    // Exit 1: some resources could not be read or declared; the report says which and why.
    expect(run.code, summary).toBe(1);
    expect(summary).toContain('Region us-east-1: 532 resources found');
    expect(summary).toMatch(
      / {2}KmsKey +5\n {2}FlinkApplication +181\n {2}KeyspacesTable +178\n {2}EmrServerlessApplication +160\n/,
    );
    expect(summary).toContain(
      'skipped, claimed by an owner tag (cmk.io/owner): another object or cluster manages it: 5\n',
    );
    for (const claimed of [
      'FlinkApplication claimed-0',
      'FlinkApplication claimed-1',
      `EmrServerlessApplication ${emrId('clm', 2)} (claimed-2)`,
    ])
      expect(summary).toContain(`  ${claimed}: claimed by other-cluster/team-b/managed (tag cmk.io/owner)`);
    expect(summary).toContain('skipped, could not be read (fix the cause and run the import again): 7\n');
    expect(summary.match(/^ {2}KeyspacesTable ks_\w+\.t\d+: AccessDeniedException: injected/gm)).toHaveLength(
      2,
    );
    for (const i of [0, 1, 2])
      expect(summary).toContain(`  FlinkApplication orphaned-${i}: its key ${deletedKey} does not exist`);
    expect(summary).toContain(`  EmrServerlessApplication ${emrId('bad', 0)} (bad-0): its key not-a-key-arn`);
    expect(summary).toContain(
      `  EmrServerlessApplication ${emrId('ctx', 0)} (wide-context): its encryption context has 9 pairs`,
    );

    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(524);
    // Keys: named by alias (the first in order), else by key id; alias/Orders meets alias/orders,
    // which keeps the plain name (it is exactly its alias) while the look-alike gets a hash.
    const keyFiles = files.filter((n) => n.startsWith('kmskey-'));
    expect(keyFiles).toEqual([
      'kmskey-billing.yaml',
      `kmskey-key-${keyId(3)}.yaml`,
      expect.stringMatching(/^kmskey-orders-[0-9a-f]{8}\.yaml$/),
      'kmskey-orders.yaml',
      'kmskey-team-data-events.yaml',
    ]);
    expect(files.filter((n) => n.startsWith('flinkapplication-clicks'))).toEqual([
      expect.stringMatching(/^flinkapplication-clicks-[0-9a-f]{8}\.yaml$/),
      'flinkapplication-clicks.yaml',
    ]);
    // Three EMR Serverless applications named alike: each gets a hash.
    expect(files.filter((n) => /^emrserverlessapplication-nightly-[0-9a-f]{8}\.yaml$/.test(n))).toHaveLength(
      3,
    );
    const long = files.find((n) => n.startsWith('flinkapplication-pipeline-'))!;
    expect(long.replace(/^flinkapplication-|\.yaml$/g, '').length).toBeLessThanOrEqual(63);
    expect(files).toContain('keyspacestable-ks-users-t7.yaml');
    expect(files.filter((n) => n.startsWith('keyspacestable-ks-audit-'))).not.toHaveLength(0);

    // One document per file, under a comment naming the AWS resource it adopts.
    const text = readFileSync(join(dir, 'flinkapplication-stream-000.yaml'), 'utf8');
    expect(text.split('\n')[0]).toBe(
      `# arn:aws:kinesisanalytics:us-east-1:${account}:application/stream-000: RUNNING, ${keyArn(1)}`,
    );

    // The import only read, with its own credentials.
    const calls = await f.admin.calls();
    const importCalls = calls.filter((c) => c.userIdentity.accessKeyId === importerAccessKey);
    expect(importCalls.length).toBeGreaterThan(1000);
    expect(importCalls.filter((c) => !/^(List|Describe|Get)/.test(c.eventName))).toEqual([]);

    // Applied while the operator runs; every object Ready.
    const mark = calls.at(-1)!.eventId;
    const applyStarted = Date.now();
    expect(await applyDirectory(dir)).toBe(524);
    let waiting: string[] = [];
    const deadline = Date.now() + 120_000;
    do {
      await new Promise((r) => setTimeout(r, 2000));
      waiting = await notReady();
    } while (waiting.length > 0 && Date.now() < deadline);
    expect(waiting.slice(0, 10), `${waiting.length} objects not Ready`).toEqual([]);
    const convergeMs = Date.now() - applyStarted;

    // Zero AWS mutations by the operator: the manifests said what AWS already has.
    const operatorCalls = (await f.admin.calls({ since: mark })).filter(
      (c) => c.userIdentity.accessKeyId === operatorAccessKey,
    );
    expect(operatorCalls.length).toBeGreaterThan(524);
    expect(operatorCalls.filter((c) => isMutatingCall(c.eventName)).map((c) => c.eventName)).toEqual([]);

    // kubectl cmk status agrees: every key with all its workloads (a KmsKey writes its progress at
    // most every few seconds, so the count may trail the workloads' own Ready by that much).
    let out = '';
    await eventually(
      async () => {
        out = '';
        const code = await kubectlCmkCommand(
          ['status', '-n', f.namespace, '--kubeconfig', inject('kubeconfigPath')],
          { out: (t) => (out += t), err: () => {} },
        );
        expect(code, out).toBe(0);
        return /^KmsKey billing .* Ready True .* workloads (\d+)\/\1$/m.test(out) ? true : undefined;
      },
      { what: 'kubectl cmk status shows every workload of KmsKey billing on it', timeoutMs: 30_000 },
    );
    console.log(
      `import: ${importCalls.length} AWS calls in ${(importMs / 1000).toFixed(1)} s; ` +
        `524 objects Ready ${(convergeMs / 1000).toFixed(1)} s after apply`,
    );
  });
});
