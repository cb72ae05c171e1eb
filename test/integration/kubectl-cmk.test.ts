// kubectl-cmk end to end: the operator (in this worker) against the real kube-apiserver and the AWS
// emulator. Each sub-command is called in process as a function with its output captured; then the
// release bundle (scripts/release-plugin.ts) is unpacked alone, the way krew installs it, and run as a
// kubectl plugin by the real kubectl.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { pluginFileName, type Release, releasePlugin } from '../../scripts/release-plugin.ts';
import { alterTableKeyCql } from '../../src/cli/cql.ts';
import { type CliIo, kubectlCmkCommand } from '../../src/cli/kubectl-cmk.ts';
import { findBinaries } from '../../src/dev/devenv/binaries.ts';
import { createKubeClient, type KubeClient, loadKubeConfig } from '../../src/runtime/kube.ts';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator();
let kms: KMSClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
});

async function cmk(
  args: string[],
  extra: Partial<CliIo> = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await kubectlCmkCommand(
    [...args, '--kubeconfig', inject('kubeconfigPath'), '-n', f.namespace],
    { out: (t) => (out += t), err: (t) => (err += t), ...extra },
  );
  return { code, out, err };
}

const seedTable = (name: string) => {
  f.emulator.seed({ cassandra: { keyspaces: [{ name: `ks_${name}`, tables: [{ name }] }] } });
  return { keyspaceName: `ks_${name}`, tableName: name };
};

const ready = (o: { status?: { conditions?: Array<{ type: string; status: string }> } }) =>
  o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? o : undefined;

describe('kubectl cmk', () => {
  it('status: a converged workload shows under its key with Ready True', async () => {
    const keyArn = await f.serviceKey('st-key');
    await f.create('KeyspacesTable', 'st-table', {
      ...seedTable('st_table'),
      key: { kmsKeyRef: { name: 'st-key' } },
    });
    await f.waitFor('KeyspacesTable', 'st-table', ready, 'table Ready', 30_000);
    await f.waitFor<{ status?: { workloads?: { summary?: string } } }, true>(
      'KmsKey',
      'st-key',
      (o) => (o.status?.workloads?.summary === '1/1' ? true : undefined),
      'KmsKey counts the table',
    );
    const { code, out } = await cmk(['status']);
    const lines = out.split('\n');
    const keyLine = lines.findIndex((l) => l.startsWith('KmsKey st-key '));
    expect(keyLine, out).toBeGreaterThanOrEqual(0);
    expect(lines[keyLine]).toContain(keyArn.slice(keyArn.indexOf(':key/') + 1));
    expect(lines[keyLine]).toContain('Enabled');
    expect(lines[keyLine]).toContain('workloads 1/1');
    expect(lines[keyLine + 1]).toMatch(
      /^└─ KeyspacesTable\/st-table {2}ACTIVE {2}Ready True \(OnDesiredKey\) {2}key key\//,
    );
    expect(code).toBe(0);
  });

  it('rotate: sets the token and the operator records it; refuses a missing KmsKey', async () => {
    await f.serviceKey('rot-key');
    const { code, out } = await cmk(['rotate', 'rot-key', '--token', 'it-rotate-1']);
    expect(code).toBe(0);
    expect(out).toContain('token it-rotate-1');
    expect(out).toContain('kubectl get kmskey rot-key');
    const o = await f.get<{ spec: { rotation?: { onDemandToken?: string } } }>('KmsKey', 'rot-key');
    expect(o?.spec.rotation?.onDemandToken).toBe('it-rotate-1');
    await f.waitFor<{ status?: { rotation?: { lastOnDemandToken?: string } } }, true>(
      'KmsKey',
      'rot-key',
      (k) => (k.status?.rotation?.lastOnDemandToken === 'it-rotate-1' ? true : undefined),
      'lastOnDemandToken recorded',
      30_000,
    );

    const missing = await cmk(['rotate', 'no-such-key']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('KmsKey no-such-key does not exist');
  });

  it('explain: a workload on a disabled key names KeyDisabled and the remedy', async () => {
    const keyArn = await f.serviceKey('dis-key');
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    await f.waitFor(
      'KmsKey',
      'dis-key',
      condition('KeyUsable', 'False', 'KeyDisabled'),
      'key disabled',
      30_000,
    );
    await f.create('KeyspacesTable', 'dis-table', {
      ...seedTable('dis_table'),
      key: { kmsKeyRef: { name: 'dis-key' } },
    });
    await f.waitFor<{ status?: { conditions?: Array<{ type: string; status: string }> } }, true>(
      'KeyspacesTable',
      'dis-table',
      (o) =>
        o.status?.conditions?.some((c) => c.type === 'Ready' && c.status !== 'True') ? true : undefined,
      'table reports why it is not Ready',
    );
    const { code, out } = await cmk(['explain', 'kstable/dis-table']);
    expect(code).toBe(1);
    expect(out).toContain('KeyspacesTable/dis-table');
    expect(out).toContain('KeyDisabled');
    expect(out).toContain('aws kms enable-key');
    expect(out).toContain('spec.protection.reenable: true');
  });

  it('plan: an Observe-mode workload prints the switch, and makes no mutating call', async () => {
    const keyArn = await f.serviceKey('obs-key');
    const ids = seedTable('obs_table');
    await f.create('KeyspacesTable', 'obs-table', { ...ids, mode: 'Observe', key: { keyId: keyArn } });
    await f.waitFor(
      'KeyspacesTable',
      'obs-table',
      condition('KeyCurrent', 'False', 'Drift'),
      'drift',
      30_000,
    );

    // A Kubernetes client that records every method the plan calls.
    const real = createKubeClient(loadKubeConfig(inject('kubeconfigPath')));
    const kubeCalls: string[] = [];
    const kube = new Proxy(real, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          kubeCalls.push(String(prop));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as KubeClient;
    const accessKeyId = 'AKIAKUBECTLCMKPLAN01';
    const { code, out, err } = await cmk(['plan', 'kstable/obs-table'], {
      kube,
      awsCredentials: { accessKeyId, secretAccessKey: 'x' },
    });
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('KeyspacesTable/obs-table');
    expect(out).toContain('Observe');
    expect(out).toMatch(/plan:\n {4}- .*switch/);
    expect(out).toContain(keyArn);
    expect(out).toContain('KeyCurrent False Drift');
    // The same switch as CQL, for a DBA.
    expect(out).toContain(
      `  cql (the same key change, for cqlsh):\n    ${alterTableKeyCql(ids.keyspaceName, ids.tableName, { type: 'CustomerManaged', keyArn })}\n`,
    );

    expect(kubeCalls.length).toBeGreaterThan(0);
    expect(kubeCalls.filter((m) => m !== 'get' && m !== 'list')).toEqual([]);
    const calls = (await f.admin.calls({})).filter((c) => c.userIdentity.accessKeyId === accessKeyId);
    expect(calls.map((c) => c.eventName)).toContain('GetTable');
    expect(calls.map((c) => c.eventName).filter((n) => !/^(Get|Describe|List)/.test(n))).toEqual([]);

    // Every workload in the namespace, read-only as well.
    const all = await cmk(['plan'], { awsCredentials: { accessKeyId, secretAccessKey: 'x' } });
    expect(all.out).toContain('KeyspacesTable/obs-table');
    expect(all.out).toContain('KeyspacesTable/st-table');
    const after = (await f.admin.calls({})).filter((c) => c.userIdentity.accessKeyId === accessKeyId);
    expect(after.map((c) => c.eventName).filter((n) => !/^(Get|Describe|List)/.test(n))).toEqual([]);

    // With the operator's tenancy rules, the plan refuses what the operator would refuse.
    const dir = mkdtempSync(join(tmpdir(), 'cmk-plan-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const rules = join(dir, 'tenancy.yaml');
    writeFileSync(
      rules,
      `namespaces:\n  ${f.namespace}:\n    allowedKeyArnPatterns: ["arn:aws:kms:*:*:key/not-this-one"]\n`,
    );
    const refused = await cmk(['plan', 'kstable/obs-table', '--tenancy-config', rules], {
      awsCredentials: { accessKeyId, secretAccessKey: 'x' },
    });
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('KeyNotAllowed');
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, `namespaces:\n  ${f.namespace}:\n    allowedKeys: []\n`);
    const bad = await cmk(['plan', 'kstable/obs-table', '--tenancy-config', broken]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('allowedKeys is not a known field');
  });
});

describe('the release bundle, alone, as a kubectl plugin', () => {
  let release: Release;
  let installed: string;
  let kubectl: string;
  /** The Node 24 that npm installed; the bundle finds `node` on PATH through its shebang. */
  const node24Dir = dirname(realpathSync('node_modules/.bin/node'));
  const dir = mkdtempSync(join(tmpdir(), 'cmk-plugin-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    // A checkout with other work in progress is dirty; a release from CI's clean clone is not.
    release = await releasePlugin({
      baseUrl: 'https://releases.invalid/cmk',
      outDir: join(dir, 'release'),
      allowDirty: true,
    });
    // What krew does: unpack the tarball into its own folder, link kubectl-cmk on PATH to `bin`.
    installed = join(dir, 'installed');
    mkdirSync(installed);
    const untar = spawnSync('tar', ['-xzf', release.tarball, '-C', installed], { encoding: 'utf8' });
    expect(untar.status, untar.stderr).toBe(0);
    symlinkSync(join(installed, pluginFileName), join(installed, 'kubectl-cmk'));
    kubectl = (await findBinaries()).kubectl;
  });

  /** `kubectl cmk ...` through the real kubectl, with only the unpacked plugin and `nodeDir` on PATH. */
  const kubectlCmk = (args: string[], nodeDir = node24Dir) => {
    const r = spawnSync(kubectl, ['cmk', ...args], {
      encoding: 'utf8',
      cwd: installed,
      env: { PATH: `${nodeDir}:${installed}:/usr/bin:/bin`, HOME: installed },
      timeout: 60_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('the tarball holds the one file, and the manifest names its sha256 and URL', () => {
    expect(readdirSync(installed).sort()).toEqual(['kubectl-cmk', pluginFileName]);
    const manifest = parse(readFileSync(release.manifest, 'utf8'));
    const sha256 = createHash('sha256').update(readFileSync(release.tarball)).digest('hex');
    expect(manifest.spec.version).toBe(release.version);
    expect(manifest.spec.platforms[0].sha256).toBe(sha256);
    expect(manifest.spec.platforms[0].uri).toBe(
      `https://releases.invalid/cmk/kubectl-cmk-${release.version}.tar.gz`,
    );
  });

  it('version and --help, with no repository or node_modules beside it', () => {
    const commit = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    const version = kubectlCmk(['version']);
    expect(version.err).toBe('');
    expect(version.code).toBe(0);
    expect(version.out).toMatch(
      new RegExp(
        `^kubectl-cmk ${release.version.slice(1)} \\(commit ${commit}( with uncommitted changes)?, node v24\\.`,
      ),
    );
    const help = kubectlCmk(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('usage: kubectl cmk <command>');
    expect(help.out).toMatch(/^ {2}version {2,}/m);
  });

  it('status against the real apiserver', async () => {
    const keyArn = await f.serviceKey('bundle-key');
    await f.waitFor('KmsKey', 'bundle-key', condition('Ready', 'True'), 'key Ready', 30_000);
    const { out, err } = kubectlCmk(['status', '--kubeconfig', inject('kubeconfigPath'), '-n', f.namespace]);
    expect(err).toBe('');
    const line = out.split('\n').find((l) => l.startsWith('KmsKey bundle-key '));
    expect(line, out).toContain(keyArn.slice(keyArn.indexOf(':key/') + 1));
    expect(line).toContain('Ready True');
  });

  // The machine's own Node (this worker's PATH starts with node_modules/.bin, so not through PATH).
  const systemNodePath = ['/usr/local/bin/node', '/usr/bin/node'].find((p) => existsSync(p));
  const systemNode = systemNodePath
    ? spawnSync(systemNodePath, ['--version'], { encoding: 'utf8' }).stdout.trim()
    : 'none';
  it.runIf(/^v(1\d|2[0-3])\./.test(systemNode))(
    `an older Node (the system ${systemNode}) is told what to install`,
    () => {
      const r = kubectlCmk(['version'], dirname(systemNodePath!));
      expect(r.code).toBe(1);
      expect(r.err).toContain(`kubectl-cmk needs Node.js 24 or newer; `);
      expect(r.err).toContain(`is ${systemNode}. Install Node.js 24 and put it first on PATH.`);
    },
  );
});
