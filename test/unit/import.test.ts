// kubectl cmk import, the pure parts: names (DNS labels, unique, deterministic), what the CRDs
// accept, the manifests built from a discovery (keys, references, modes, what is skipped and why),
// the YAML and the summary; and the usage errors, which stop before any AWS call.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { patterns } from '../../src/api/shared.ts';
import type { EncryptionSetting, WorkloadId, WorkloadState } from '../../src/aws/workload.ts';
import { importCommand, renderStream, renderSummary } from '../../src/cli/import.ts';
import {
  buildImport,
  type Discovery,
  encryptionContextField,
  type FoundWorkload,
  fileNameOf,
  identityFields,
  incomplete,
  type KeyLookup,
} from '../../src/cli/import-manifests.ts';
import { dnsLabel, uniqueNames, wantedName } from '../../src/cli/import-names.ts';
import { kubectlCmkCommand } from '../../src/cli/kubectl-cmk.ts';
import type { KeyFacts } from '../../src/keys/key-facts.ts';
import { awsOwned, cmk, keyA, keyArnOf, keyB, keyFacts } from '../fixtures/keys.ts';

// ---- builders ------------------------------------------------------------------------------------

type Mod = (w: FoundWorkload) => FoundWorkload;
const onKey =
  (arn: string, context?: Record<string, string>): Mod =>
  (w) => ({ ...w, state: { ...w.state, encryption: cmk(arn, context) } });
const encryption =
  (e: EncryptionSetting): Mod =>
  (w) => ({ ...w, state: { ...w.state, encryption: e } });
const tagged =
  (tags: Record<string, string>): Mod =>
  (w) => ({ ...w, state: { ...w.state, tags } });
const inState =
  (awsState: string): Mod =>
  (w) => ({ ...w, state: { ...w.state, awsState } });
const labelled =
  (label: string): Mod =>
  (w) => ({ ...w, label });

function found(id: WorkloadId, arn: string, ...mods: Mod[]): FoundWorkload {
  const state: WorkloadState = {
    resourceArn: arn,
    awsState: 'READY',
    settled: true,
    encryption: awsOwned,
    running: false,
    tags: {},
    facts: { service: 'ManagedFlink' },
  };
  return mods.reduce((w, m) => m(w), { id, state } as FoundWorkload);
}
const flink = (name: string, ...mods: Mod[]) =>
  found(
    { service: 'ManagedFlink', applicationName: name },
    `arn:aws:kinesisanalytics:us-east-1:111122223333:application/${name}`,
    ...mods,
  );
const table = (keyspaceName: string, tableName: string, ...mods: Mod[]) =>
  found(
    { service: 'Keyspaces', keyspaceName, tableName },
    `arn:aws:cassandra:us-east-1:111122223333:/keyspace/${keyspaceName}/table/${tableName}`,
    inState('ACTIVE'),
    ...mods,
  );
const emr = (applicationId: string, ...mods: Mod[]) =>
  found(
    { service: 'EmrServerless', applicationId },
    `arn:aws:emr-serverless:us-east-1:111122223333:/applications/${applicationId}`,
    inState('CREATED'),
    ...mods,
  );

const key = (facts: KeyFacts, ...aliases: string[]): KeyLookup => ({ kind: 'found', facts, aliases });
function discovery(workloads: FoundWorkload[], keys: Record<string, KeyLookup> = {}): Discovery {
  return { workloads, keys: new Map(Object.entries(keys)), unreadable: [], calls: 0 };
}
const options = { region: 'us-east-1', mode: 'Observe' as const };
const specOf = (r: ReturnType<typeof buildImport>, kind: string, name: string) =>
  r.objects.find((o) => o.manifest.kind === kind && o.manifest.metadata.name === name)?.manifest.spec;

// ---- names ---------------------------------------------------------------------------------------

describe('names', () => {
  it.each([
    ['kept as it is', 'orders', 'orders'],
    ['lowercased', 'Orders', 'orders'],
    ['underscores and dots become dashes', 'shop_eu.orders', 'shop-eu-orders'],
    ['runs of anything else collapse', 'a__b  c', 'a-b-c'],
    ['no dash at either end', '_orders_', 'orders'],
    ['nothing left: the fallback', '___', 'app'],
  ])('dnsLabel: %s', (_, text, expected) => {
    expect(dnsLabel(text, 'app')).toBe(expected);
  });

  const label = new RegExp(patterns.dnsLabel);
  /** Names for resources given as [identity, the resource's own name]. */
  const named = (...entries: Array<[string, string]>) =>
    uniqueNames(new Map(entries.map(([identity, own]) => [identity, wantedName(own, 'app')])));

  it('keeps a name only one resource wants, or the one resource named exactly so; hashes the rest', () => {
    const names = named(['Orders', 'Orders'], ['orders', 'orders'], ['pay', 'Pay']);
    expect(names.get('pay')).toBe('pay');
    expect(names.get('orders')).toBe('orders');
    expect(names.get('Orders')).toMatch(/^orders-[0-9a-f]{8}$/);
  });

  it.each([
    ['none named exactly so', ['Etl', 'ETL']],
    ['several named exactly so (EMR Serverless names repeat)', ['etl', 'etl']],
  ])('hashes every contender when %s', (_, [first, second]) => {
    const names = named(['id-1', first!], ['id-2', second!]);
    expect(names.get('id-1')).toMatch(/^etl-[0-9a-f]{8}$/);
    expect(names.get('id-2')).toMatch(/^etl-[0-9a-f]{8}$/);
    expect(names.get('id-1')).not.toBe(names.get('id-2'));
  });

  it('a look-alike found by a later run does not rename the object named exactly so', () => {
    expect(named(['orders', 'orders']).get('orders')).toBe('orders');
    expect(named(['orders', 'orders'], ['Orders', 'Orders']).get('orders')).toBe('orders');
  });

  it('shortens a name longer than a label to 63 with a hash, ending in a letter or digit', () => {
    const long = `${'a'.repeat(60)}-${'b'.repeat(60)}`;
    const name = named(['x', long]).get('x')!;
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(label);
    expect(name.startsWith('a'.repeat(54))).toBe(true);
  });

  it('is the same whatever order the resources came in', () => {
    const entries: Array<[string, string]> = [
      ['id-3', 'etl'],
      ['id-1', 'etl'],
      ['id-5', 'Report'],
      ['id-2', 'report'],
      ['id-4', 'x'.repeat(80)],
    ];
    expect([...named(...entries.toReversed())].sort()).toEqual([...named(...entries)].sort());
  });

  it('lengthens the hash when a hashed name meets a name kept as it is', () => {
    const first = named(['a', 'etl'], ['b', 'etl']).get('a')!;
    // A third resource literally named like a's hashed name keeps it; a's hash grows.
    const names = named(['a', 'etl'], ['b', 'etl'], ['c', first]);
    expect(names.get('c')).toBe(first);
    expect(names.get('a')).toMatch(/^etl-[0-9a-f]{9}$/);
    expect(new Set(names.values()).size).toBe(3);
  });
});

// ---- what the CRDs accept ---------------------------------------------------------------------

describe('identity fields, by the CRD rules', () => {
  it.each([
    ['a Flink name', { service: 'ManagedFlink', applicationName: 'orders.v2_x-1' }, undefined],
    [
      'a Flink name with a space',
      { service: 'ManagedFlink', applicationName: 'orders v2' },
      'applicationName',
    ],
    ['a table', { service: 'Keyspaces', keyspaceName: 'shop', tableName: 'orders_2' }, undefined],
    [
      'a keyspace starting with _',
      { service: 'Keyspaces', keyspaceName: '_shop', tableName: 't' },
      'keyspaceName',
    ],
    [
      'a table name of 49',
      { service: 'Keyspaces', keyspaceName: 's', tableName: 't'.repeat(49) },
      'tableName',
    ],
    ['an EMR id', { service: 'EmrServerless', applicationId: '00fabc123def4567' }, undefined],
    ['an EMR id in capitals', { service: 'EmrServerless', applicationId: '00FABC' }, 'applicationId'],
  ] as Array<[string, WorkloadId, string | undefined]>)('%s', (_, id, badField) => {
    const fields = identityFields(id);
    if (badField === undefined) expect(typeof fields).toBe('object');
    else expect(fields).toEqual(expect.stringContaining(`spec.${badField} cannot hold`));
  });

  it('takes an encryption context the CRD holds, and names the bound of one it cannot', () => {
    expect(encryptionContextField({ team: 'etl' })).toEqual({ team: 'etl' });
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v']));
    expect(encryptionContextField(nine)).toContain('9 pairs; spec.encryptionContext holds at most 8');
    expect(encryptionContextField({ big: 'v'.repeat(385) })).toContain('value for big');
  });
});

// ---- the manifests -------------------------------------------------------------------------------

describe('buildImport', () => {
  const fleet = () =>
    discovery(
      [
        flink('orders', onKey(keyA)),
        table('shop', 'orders', onKey(keyA)),
        table('shop', 'audit'),
        emr('00etl0000000001', labelled('nightly etl'), onKey(keyB, { team: 'etl' })),
      ],
      // The first alias (in byte order) names the KmsKey; a key without one is named by its id.
      { [keyA]: key(keyFacts(keyA), 'alias/team/second', 'alias/Orders'), [keyB]: key(keyFacts(keyB)) },
    );

  it('a KmsKey per key in use (by ARN, Retain, named by alias), workloads referencing it, everything in Observe mode', () => {
    const r = buildImport(fleet(), { ...options, namespace: 'team-a' });
    expect(r.objects.map((o) => `${o.manifest.kind}/${o.manifest.metadata.name}`)).toEqual([
      'KmsKey/key-bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb',
      'KmsKey/orders',
      'FlinkApplication/orders',
      'KeyspacesTable/shop-audit',
      'KeyspacesTable/shop-orders',
      'EmrServerlessApplication/nightly-etl',
    ]);
    for (const o of r.objects) {
      expect(o.manifest.apiVersion).toBe('cmk.io/v1alpha1');
      expect(o.manifest.metadata.namespace).toBe('team-a');
      expect(o.manifest.spec['mode']).toBe('Observe');
    }
    expect(specOf(r, 'KmsKey', 'orders')).toEqual({
      keyId: keyA,
      region: 'us-east-1',
      mode: 'Observe',
      deletionPolicy: 'Retain',
    });
    expect(specOf(r, 'FlinkApplication', 'orders')).toEqual({
      applicationName: 'orders',
      region: 'us-east-1',
      key: { kmsKeyRef: { name: 'orders' } },
      mode: 'Observe',
      deletionPolicy: 'Orphan',
    });
    expect(specOf(r, 'KeyspacesTable', 'shop-audit')?.['key']).toEqual({ awsOwned: true });
    // EMR's encryption context is part of its key: declared as AWS has it, so there is no drift.
    expect(specOf(r, 'EmrServerlessApplication', 'nightly-etl')).toMatchObject({
      applicationId: '00etl0000000001',
      key: { kmsKeyRef: { name: 'key-bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb' } },
      encryptionContext: { team: 'etl' },
    });
    expect(r.keys.map((k) => [k.name, k.users])).toEqual([
      ['key-bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 1],
      ['orders', 2],
    ]);
    expect(r.skipped).toEqual([]);
    expect(incomplete(r)).toBe(false);
  });

  it('--mode Enforce and --role-arn reach every object; no namespace leaves it to kubectl apply', () => {
    const role = 'arn:aws:iam::111122223333:role/importer';
    const r = buildImport(fleet(), { ...options, mode: 'Enforce', roleArn: role });
    for (const o of r.objects) {
      expect(o.manifest.spec).toMatchObject({ mode: 'Enforce', roleArn: role, region: 'us-east-1' });
      expect(o.manifest.metadata).not.toHaveProperty('namespace');
    }
  });

  it('a KmsKey carries its key’s own Region', () => {
    const far = keyArnOf('eu-west-1', 'cccccccc-cccc-cccc-cccc-cccccccccccc');
    const r = buildImport(discovery([flink('a', onKey(far))], { [far]: key(keyFacts(far)) }), options);
    expect(r.objects[0]!.manifest.spec['region']).toBe('eu-west-1');
  });

  it('the same discovery in another order gives the same objects', () => {
    const d = fleet();
    const reversed = { ...d, workloads: [...d.workloads].reverse() };
    expect(renderStream(buildImport(reversed, options).objects)).toBe(
      renderStream(buildImport(d, options).objects),
    );
  });

  const gone = keyArnOf('us-east-1', 'dddddddd-dddd-dddd-dddd-dddddddddddd');
  const broken = keyArnOf('us-east-1', 'eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee');
  const awsManaged = keyArnOf('us-east-1', 'ffffffff-ffff-ffff-ffff-ffffffffffff');
  it.each([
    [
      'claimed by another owner',
      flink('x', tagged({ 'cmk.io/owner': 'prod/team/x' })),
      'claimed',
      'claimed by prod/team/x',
    ],
    ['being deleted', table('s', 't', inState('DELETING')), 'deleting', 'AWS reports it DELETING'],
    [
      'on a key that no longer exists',
      flink('x', onKey(gone)),
      'unreadable',
      `its key ${gone} does not exist`,
    ],
    ['on a key that cannot be read', flink('x', onKey(broken)), 'unreadable', 'AccessDeniedException: no'],
    ['on a key never read', flink('x', onKey(keyB)), 'unreadable', 'was not read'],
    ['on an AWS managed key', flink('x', onKey(awsManaged)), 'unsupported', 'an AWS managed key'],
    [
      'a CMK AWS does not name',
      flink('x', encryption({ type: 'CustomerManaged', keyArn: '' })),
      'unsupported',
      'without naming it',
    ],
    ['a name the CRD cannot hold', flink('a b'), 'unsupported', 'spec.applicationName cannot hold'],
    [
      'an encryption context the CRD cannot hold',
      emr('00x', onKey(keyA, Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v'])))),
      'unsupported',
      'at most 8',
    ],
  ] as Array<[string, FoundWorkload, string, string]>)('skipped, %s', (_, w, why, reason) => {
    const keys: Record<string, KeyLookup> = {
      [keyA]: key(keyFacts(keyA)),
      [gone]: { kind: 'notFound' },
      [broken]: { kind: 'error', reason: 'AccessDeniedException: no' },
      [awsManaged]: key({ ...keyFacts(awsManaged), keyManager: 'AWS' }),
    };
    const r = buildImport(discovery([w, table('shop', 'kept')], keys), options);
    expect(r.skipped).toEqual([expect.objectContaining({ why, reason: expect.stringContaining(reason) })]);
    // The rest is still written; only a resource that could not be read or declared makes it incomplete.
    expect(r.objects.map((o) => o.manifest.metadata.name)).toEqual(['shop-kept']);
    expect(incomplete(r)).toBe(why === 'unreadable' || why === 'unsupported');
  });

  it('a listing that failed is reported; what was listed is still written', () => {
    const d = discovery([table('shop', 'orders')]);
    d.unreadable.push({
      resource: 'emr-serverless ListApplications',
      reason: 'AccessDeniedException: denied',
    });
    const r = buildImport(d, options);
    expect(r.objects).toHaveLength(1);
    expect(r.skipped).toEqual([
      {
        resource: 'emr-serverless ListApplications',
        why: 'unreadable',
        reason: 'AccessDeniedException: denied',
      },
    ]);
    expect(incomplete(r)).toBe(true);
  });
});

// ---- YAML and the summary --------------------------------------------------------------------

describe('output', () => {
  const d = discovery(
    [
      flink('orders', onKey(keyA)),
      flink('x', tagged({ 'cmk.io/owner': 'prod/team/x' })),
      table('shop', 'audit'),
    ],
    {
      [keyA]: key(
        keyFacts(keyA, (k) => ({ ...k, state: 'Disabled' })),
        'alias/orders',
      ),
    },
  );
  const r = buildImport(d, { ...options, namespace: 'team-a' });

  it('a --- separated stream whose documents are the manifests, each under a comment naming its source', () => {
    const text = renderStream(r.objects);
    const docs = parseAllDocuments(text);
    expect(docs.map((doc) => doc.toJS())).toEqual(r.objects.map((o) => o.manifest));
    expect(text).toContain(`# ${keyA}: Disabled, alias/orders\napiVersion:`);
    expect(text).toContain(
      '# arn:aws:kinesisanalytics:us-east-1:111122223333:application/orders: READY, ' + keyA,
    );
    expect(r.objects.map((o) => fileNameOf(o.manifest))).toEqual([
      'kmskey-orders.yaml',
      'flinkapplication-orders.yaml',
      'keyspacestable-shop-audit.yaml',
    ]);
  });

  it('the summary counts, lists keys with their state, the skipped with reasons, and what to run next', () => {
    const text = renderSummary(r, {
      region: 'us-east-1',
      namespace: 'team-a',
      mode: 'Observe',
      out: 'fleet',
      calls: 12,
    });
    expect(text).toContain('Region us-east-1: 3 resources found, 12 AWS calls (reads only)');
    expect(text).toContain('wrote 3 objects to fleet (one file each) for namespace team-a');
    expect(text).toMatch(/ {2}FlinkApplication +1\n/);
    expect(text).toContain(`  orders  ${keyA}  Disabled  alias/orders  (1 workload)`);
    expect(text).toContain('warning: orders is Disabled');
    expect(text).toContain('skipped, claimed by an owner tag (cmk.io/owner)');
    expect(text).toContain('  FlinkApplication x: claimed by prod/team/x (tag cmk.io/owner)');
    expect(text).toContain('kubectl apply --server-side -n team-a -f fleet');
    expect(text).toContain('Observe: the operator reports drift and changes nothing in AWS');
  });
});

// ---- usage errors: exit 2, the flag named, no AWS call --------------------------------------

describe('usage', () => {
  const run = async (
    args: string[],
    env: Record<string, string | undefined> = { AWS_REGION: 'us-east-1' },
  ) => {
    let out = '';
    let err = '';
    const code = await importCommand(args, { out: (t) => (out += t), err: (t) => (err += t), env });
    return { code, out, err };
  };
  const tmp = mkdtempSync(join(tmpdir(), 'cmk-import-'));
  const aFile = join(tmp, 'a-file');
  writeFileSync(aFile, '');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it.each([
    ['no Region', [], {}, '--region is required (or set $AWS_REGION or $AWS_DEFAULT_REGION)'],
    [
      'a Region that is not one',
      ['--region', 'Europe'],
      undefined,
      '--region "Europe" is not an AWS Region code',
    ],
    [
      'a mode that is not one',
      ['--mode', 'Auto'],
      undefined,
      '--mode: "Auto" is not one of Observe, Enforce',
    ],
    [
      'a role that is not an ARN',
      ['--role-arn', 'importer'],
      undefined,
      '--role-arn "importer" is not an IAM role ARN',
    ],
    [
      'a namespace that is not a name',
      ['-n', 'Team_A'],
      undefined,
      '--namespace "Team_A" is not a namespace name',
    ],
    ['--out naming a file', ['--out', aFile], undefined, 'is a file: name a directory'],
    [
      'a rate of 0',
      ['--calls-per-second', '0'],
      undefined,
      '--calls-per-second: must be a number from 0.1 to 1000',
    ],
    ['an argument', ['orders'], undefined, "Unexpected argument 'orders'"],
  ] as Array<[string, string[], Record<string, string> | undefined, string]>)(
    '%s',
    async (_, args, env, message) => {
      const { code, err } = await run(args, env);
      expect(code).toBe(2);
      expect(err).toContain(message);
    },
  );

  it('--help is generated from the flags; kubectl cmk routes import to it and says where its flags go', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--region R',
      '--role-arn ARN',
      '--out DIR',
      '-n, --namespace NS',
      '--mode VALUE',
      '--calls-per-second N',
    ])
      expect(out).toContain(flag);
    expect(out).toContain('one of Observe|Enforce; default Observe');
    let routed = '';
    expect(await kubectlCmkCommand(['import', '--help'], { out: (t) => (routed += t), err: () => {} })).toBe(
      0,
    );
    expect(routed).toBe(out);
    let err = '';
    expect(await kubectlCmkCommand(['-n', 'x', 'import'], { out: () => {}, err: (t) => (err += t) })).toBe(2);
    expect(err).toContain('kubectl cmk import --help');
    let main = '';
    await kubectlCmkCommand(['--help'], { out: (t) => (main += t), err: () => {} });
    expect(main).toContain('import [--region R] [--out DIR]');
  });
});
