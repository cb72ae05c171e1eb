// kubectl-cmk end to end, in process: the operator (in this worker) against the real kube-apiserver
// and the AWS emulator; each sub-command is called as a function with its output captured.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { type CliIo, kubectlCmkCommand } from '../../src/cli/kubectl-cmk.ts';
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
