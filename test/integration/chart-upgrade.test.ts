// Upgrading a Helm installation from the previous chart (0.1.0, as it was at commit 93ea17f) to this
// one, the way docs/upgrading.md tells Helm users to: cmk.io objects exist with their finalizers and
// status; the new CRDs are applied first with `kubectl apply --server-side --force-conflicts -f crds/`
// (Helm installs crds/ once and never upgrades it); then `helm upgrade --reset-then-reuse-values`.
// Afterwards every object is the same object (uid, spec, finalizers, status), served and listed at
// cmk.io/v1alpha1, a field only the new CRDs know is accepted, and the current operator takes the
// objects over to Ready without adding a second finalizer. It also shows why the documented flags
// are there: without --force-conflicts the apply conflicts with Helm's ownership of the CRDs, and
// --reuse-values is refused by the chart's schema.
//
// It runs on a control plane of its own: installing old CRDs into the shared one would change the
// schemas under the other test files.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { apiVersion } from '../../src/api/shared.ts';
import { findBinaries } from '../../src/dev/devenv/binaries.ts';
import { type ControlPlane, startControlPlane } from '../../src/dev/devenv/control-plane.ts';
import { type RunningOperator, startOperator } from '../../src/operator.ts';
import { kmsKeyFinalizer } from '../../src/reconcile/kmskey-plan.ts';
import { workloadFinalizer } from '../../src/reconcile/workload-plan.ts';
import { createKubeClient, KubeApiError, type KubeClient, loadKubeConfig } from '../../src/runtime/kube.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { eventually } from './support/cluster.ts';
import { chartDir, helm, repoRoot, run, valuesArgs } from './support/helm.ts';

/** The commit whose chart is the previous release (chart 0.1.0). */
const previousChartCommit = '93ea17f';
const release = 'cmk';
const releaseNs = 'cmk-system';
const workNs = 'team-a';
const foreignFinalizer = 'example.com/hold';
const oldMessage = 'written by the 0.1.0 operator';

interface Stored {
  metadata: {
    uid: string;
    name: string;
    generation: number;
    finalizers?: string[];
    labels?: Record<string, string>;
  };
  spec: Record<string, unknown>;
  status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
}

/** The chart at `commit`, extracted into a temp dir; throws when the history lacks it (shallow clone). */
async function chartAt(commit: string, into: string): Promise<string> {
  const exec = promisify(execFile);
  try {
    await exec('git', ['-C', repoRoot, 'cat-file', '-e', `${commit}^{commit}`]);
  } catch {
    throw new Error(
      `the previous chart comes from git commit ${commit}, which this clone lacks: run \`git fetch --unshallow\``,
    );
  }
  await exec('bash', [
    '-c',
    `git -C "$1" archive "$2" charts/cmk-operator | tar -x -C "$3"`,
    'chart-at',
    repoRoot,
    commit,
    into,
  ]);
  return join(into, 'charts/cmk-operator');
}

describe(`upgrading from the previous chart (0.1.0, commit ${previousChartCommit})`, () => {
  let dir: string;
  let cp: ControlPlane;
  let kube: KubeClient;
  let emulator: RunningEmulator;
  let operator: RunningOperator | undefined;
  let previousChart: string;
  let helmBase: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cmk-chart-upgrade-'));
    previousChart = await chartAt(previousChartCommit, dir);
    cp = await startControlPlane();
    kube = createKubeClient(loadKubeConfig(cp.kubeconfigPath));
    helmBase = ['--namespace', releaseNs, '--kubeconfig', cp.kubeconfigPath];
    emulator = await startEmulator({ config: { transitions: { default: { min: 100, max: 200 } } } });
    process.env['AWS_ENDPOINT_URL'] = emulator.url;
    process.env['AWS_REGION'] = 'us-east-1';
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAOPERATOR00000001';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'emulator-secret';
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    await emulator?.close();
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** One request; the status code and body, never throwing on an HTTP error. */
  async function call<T = Stored>(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; query?: Record<string, string> } = {},
  ): Promise<{ status: number; body: T | undefined; message: string }> {
    try {
      return { status: 200, body: await kube.request<T>(method, path, options), message: '' };
    } catch (e) {
      if (!(e instanceof KubeApiError)) throw e;
      return { status: e.statusCode, body: undefined, message: e.message };
    }
  }

  const objectPath = (plural: string, name?: string) =>
    `/apis/${apiVersion}/namespaces/${workNs}/${plural}${name ? `/${name}` : ''}`;

  /** The objects a user of chart 0.1.0 has: one of each kind, owned by the operator of that time. */
  const objects = [
    { kind: 'KmsKey', plural: 'kmskeys', name: 'orders-key', finalizer: kmsKeyFinalizer },
    { kind: 'FlinkApplication', plural: 'flinkapplications', name: 'orders', finalizer: workloadFinalizer },
    { kind: 'KeyspacesTable', plural: 'keyspacestables', name: 'orders', finalizer: workloadFinalizer },
    {
      kind: 'EmrServerlessApplication',
      plural: 'emrserverlessapplications',
      name: 'etl',
      finalizer: workloadFinalizer,
    },
    { kind: 'KeyReferenceGrant', plural: 'keyreferencegrants', name: 'analytics', finalizer: undefined },
  ] as const;

  async function specs(): Promise<Record<string, unknown>> {
    const kms = new KMSClient({
      endpoint: emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIATESTER0000000001', secretAccessKey: 'x' },
    });
    const key = await kms.send(new CreateKeyCommand({ Description: 'chart upgrade' }));
    emulator.seed({
      kinesisanalytics: { applications: [{ name: 'orders', status: 'READY' }] },
      cassandra: { keyspaces: [{ name: 'shop', tables: [{ name: 'orders' }] }] },
      'emr-serverless': { applications: [{ name: 'etl', id: '00f0000000000001', state: 'CREATED' }] },
    });
    return {
      // A rotation block without `enabled`: the 0.1.0 CRD defaulted it to true, and that is stored.
      'orders-key': { keyId: key.KeyMetadata!.Arn, rotation: { periodInDays: 180 } },
      'orders@FlinkApplication': { applicationName: 'orders', key: { awsOwned: true } },
      'orders@KeyspacesTable': { keyspaceName: 'shop', tableName: 'orders', key: { awsOwned: true } },
      etl: { applicationId: '00f0000000000001', key: { awsOwned: true } },
      analytics: { from: [{ namespace: 'analytics' }], to: [{ name: 'orders-key' }] },
    };
  }

  async function installThePreviousChartAndItsObjects(): Promise<Map<string, Stored>> {
    await helm([
      'install',
      release,
      previousChart,
      '--create-namespace',
      ...helmBase,
      ...valuesArgs({ aws: { region: 'us-east-1' } }),
    ]);
    await eventually(
      async () => ((await call('GET', `/apis/${apiVersion}/kmskeys`)).status === 200 ? true : undefined),
      {
        what: 'the 0.1.0 CRDs served',
        timeoutMs: 30_000,
      },
    );
    await call('POST', '/api/v1/namespaces', { body: { metadata: { name: workNs } } });
    const spec = await specs();
    const before = new Map<string, Stored>();
    for (const o of objects) {
      const created = await call('POST', objectPath(o.plural), {
        body: {
          apiVersion,
          kind: o.kind,
          metadata: {
            name: o.name,
            // Finalizers as the operator of that release put them, beside another controller's.
            finalizers: [...(o.finalizer ? [o.finalizer] : []), foreignFinalizer],
          },
          spec: spec[`${o.name}@${o.kind}`] ?? spec[o.name],
        },
      });
      expect(created.status, `${o.kind}: ${created.message}`).toBe(200);
      // The status that operator wrote (kinds with conditions).
      if (o.kind !== 'KeyReferenceGrant') {
        const withStatus = await call('PUT', `${objectPath(o.plural, o.name)}/status`, {
          body: {
            ...created.body,
            status: {
              observedGeneration: 1,
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'Succeeded',
                  message: oldMessage,
                  lastTransitionTime: '2026-11-01T00:00:00Z',
                  observedGeneration: 1,
                },
              ],
            },
          },
        });
        expect(withStatus.status, withStatus.message).toBe(200);
        before.set(o.kind, withStatus.body!);
      } else {
        before.set(o.kind, created.body!);
      }
    }
    expect((before.get('KmsKey')!.spec['rotation'] as { enabled?: boolean }).enabled).toBe(true);
    return before;
  }

  /** A merge patch setting a FlinkApplication field the 0.1.0 CRD does not have, strictly validated. */
  const setANewField = () =>
    call('PATCH', objectPath('flinkapplications', 'orders'), {
      body: { spec: { restartWithoutSnapshots: true } },
      contentType: 'application/merge-patch+json',
      query: { fieldValidation: 'Strict' },
    });

  /** docs/upgrading.md, step 1: the CRDs, server-side, before the chart. */
  async function applyTheNewCrds(): Promise<void> {
    const { kubectl } = await findBinaries();
    const apply = (...flags: string[]) =>
      run(kubectl, [
        'apply',
        '--server-side',
        ...flags,
        '-f',
        join(repoRoot, 'crds'),
        '--kubeconfig',
        cp.kubeconfigPath,
      ]);
    // Helm created the CRDs, so it owns their fields: without --force-conflicts the changed ones
    // are refused (the unchanged ones apply).
    const withoutForce = await apply();
    expect(withoutForce.code).not.toBe(0);
    expect(withoutForce.stderr).toMatch(/conflict with "helm"/);
    const result = await apply('--force-conflicts');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(7);
  }

  /** docs/upgrading.md, step 2: helm upgrade, keeping the values given at install and taking the new defaults. */
  async function upgradeTheRelease(): Promise<void> {
    // --reuse-values keeps the old chart's defaults too, which lack this chart's new values: the
    // schema refuses the upgrade (nothing changes) instead of rendering an empty flag.
    await expect(helm(['upgrade', release, chartDir, ...helmBase, '--reuse-values'])).rejects.toThrow(
      /missing properties 'leaseDuration', 'renewDeadline', 'retryPeriod'/,
    );
    await helm([
      'upgrade',
      release,
      chartDir,
      ...helmBase,
      '--reset-then-reuse-values',
      ...valuesArgs({
        tenancy: {
          namespaces: { [workNs]: { allowedRoleArnPatterns: ['arn:aws:iam::111122223333:role/team-a-*'] } },
        },
      }),
    ]);
  }

  it('CRDs first, then helm upgrade: every object is the same object, served, and the new operator takes it over', async () => {
    const before = await installThePreviousChartAndItsObjects();
    const refused = await setANewField();
    expect(refused.status, 'the 0.1.0 CRD does not know restartWithoutSnapshots').toBe(422);
    expect(refused.message).toMatch(/restartWithoutSnapshots/);

    await applyTheNewCrds();
    await upgradeTheRelease();

    // The release: revision 2 of chart 0.2.0, the values given at install kept, the new ones in.
    const history = JSON.parse(await helm(['history', release, ...helmBase, '-o', 'json'])) as Array<{
      revision: number;
      chart: string;
      status: string;
    }>;
    expect(history.map((h) => [h.revision, h.chart, h.status])).toEqual([
      [1, 'cmk-operator-0.1.0', 'superseded'],
      [2, 'cmk-operator-0.2.0', 'deployed'],
    ]);
    const deployment = await call<{
      spec: { template: { spec: { containers: Array<{ args: string[] }> } } };
    }>('GET', `/apis/apps/v1/namespaces/${releaseNs}/deployments/${release}-cmk-operator`);
    expect(deployment.body!.spec.template.spec.containers[0]!.args).toEqual(
      expect.arrayContaining([
        '--region=us-east-1',
        '--lease-duration=15s',
        '--tenancy-config=/etc/cmk-operator/tenancy/tenancy.yaml',
      ]),
    );

    // Every object is the one created under 0.1.0: uid, spec, finalizers and status intact.
    for (const o of objects) {
      const now = await call('GET', objectPath(o.plural, o.name));
      expect(now.status, `${o.kind}: ${now.message}`).toBe(200);
      const was = before.get(o.kind)!;
      expect(now.body!.metadata.uid, o.kind).toBe(was.metadata.uid);
      expect(now.body!.metadata.finalizers, o.kind).toEqual(was.metadata.finalizers);
      expect(now.body!.spec, o.kind).toEqual(was.spec);
      expect(now.body!.status, o.kind).toEqual(was.status);
      // A list is served from the watch cache, which the API server builds again for a CRD whose
      // schema changed (429 "storage is (re)initializing" for a moment): asked until it answers.
      const items = await eventually(
        async () => {
          const list = await call<{ items: Stored[] }>('GET', `/apis/${apiVersion}/${o.plural}`);
          return list.status === 200 ? list.body!.items : undefined;
        },
        { what: `a list of ${o.plural}` },
      );
      expect(
        items.map((i) => i.metadata.name),
        o.kind,
      ).toEqual([o.name]);
    }

    // The new CRDs are in force: the field is accepted and kept.
    const accepted = await setANewField();
    expect(accepted.status, accepted.message).toBe(200);
    expect(accepted.body!.spec['restartWithoutSnapshots']).toBe(true);

    // The current operator reconciles them to Ready, keeping one finalizer of its own each.
    operator = await startOperator({
      kubeconfig: cp.kubeconfigPath,
      namespaces: [workNs],
      concurrency: 4,
      resyncMs: 60_000,
      healthAddress: '127.0.0.1:0',
      metricsAddress: '127.0.0.1:0',
      leaderElection: { enabled: true, namespace: releaseNs, name: `${release}-cmk-operator` },
      identity: 'chart-upgrade-test',
      defaultRegion: 'us-east-1',
      clusterName: 'upgrade',
      log: silentLogger(),
    });
    for (const o of objects.filter((x) => x.finalizer)) {
      const ready = await eventually(
        async () => {
          const now = (await call('GET', objectPath(o.plural, o.name))).body!;
          const c = now.status?.conditions?.find((x) => x.type === 'Ready');
          return c?.status === 'True' && c.message !== oldMessage ? now : undefined;
        },
        { what: `${o.kind} Ready from the current operator`, timeoutMs: 30_000 },
      );
      expect(ready.metadata.finalizers?.slice().sort(), o.kind).toEqual(
        [o.finalizer, foreignFinalizer].sort(),
      );
    }
  });
});
