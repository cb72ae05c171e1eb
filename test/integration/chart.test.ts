// The Helm chart (charts/cmk-operator): lint, render and validate offline; install, upgrade and
// uninstall on the real test apiserver; then the RBAC it renders, proven both ways on a dedicated
// control plane that keeps an audit log:
// - enough: the operator, running in this worker as the chart's ServiceAccount (a client
//   certificate for system:serviceaccount:<ns>:<sa> with the ServiceAccount groups, which the
//   apiserver authorizes exactly like a token), takes the Lease, brings KmsKeys and a workload of
//   each kind to Ready, publishes a job-override ConfigMap, submits a job run, records and
//   aggregates Events, and no request of it is refused;
// - nothing more: the (group, resource, verb) pairs the operator's requests used, read from the
//   audit log, equal the pairs the rendered roles grant; and for every verb of every rule, a role
//   without that verb makes a SubjectAccessReview of a request the operator really made denied.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeApplicationCommand,
  KinesisAnalyticsV2Client,
  TagResourceCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { kinds } from '../../src/api/kinds.ts';
import { apiVersion } from '../../src/api/shared.ts';
import { runCli } from '../../src/cli/run.ts';
import { findBinaries } from '../../src/dev/devenv/binaries.ts';
import { type ControlPlane, startControlPlane } from '../../src/dev/devenv/control-plane.ts';
import {
  assumeRoleRules,
  keyRefusal,
  loadTenancyRules,
  roleRefusal,
  workloadRefusal,
} from '../../src/keys/tenancy.ts';
import { type RunningOperator, startOperator } from '../../src/operator.ts';
import { cancelOnDeleteAnnotation } from '../../src/reconcile/jobrun-plan.ts';
import { kmsKeyFinalizer } from '../../src/reconcile/kmskey-plan.ts';
import { workloadFinalizer } from '../../src/reconcile/workload-plan.ts';
import { createKubeClient, type KubeClient, loadKubeConfig } from '../../src/runtime/kube.ts';
import { createLogger, silentLogger } from '../../src/runtime/log.ts';
import { recordFigures } from '../support/figures.ts';
import { adminIdentity, createNamespace, eventually, uniqueName } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';
import {
  type AuditEvent,
  auditPairs,
  auditPolicy,
  chartDir,
  helm,
  kubeconform,
  kubeVersion,
  type Manifest,
  type PolicyRule,
  parseManifests,
  readAuditLog,
  renderChart,
  repoRoot,
  rulePairs,
  rulesBoundTo,
  run,
  valuesArgs,
  writeKubeconformSchemas,
} from './support/helm.ts';

/** A temporary directory removed when the test ends. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const find = (objects: Manifest[], kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

interface Container {
  args: string[];
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  ports: Array<{ name: string; containerPort: number }>;
}

interface PodTemplate {
  metadata: { annotations?: Record<string, string> };
  spec: {
    containers: Container[];
    volumes: Array<{
      name: string;
      configMap?: { name: string; items?: Array<{ key: string; path: string }> };
    }>;
  };
}

function podTemplate(objects: Manifest[]): PodTemplate {
  const [deployment] = find(objects, 'Deployment');
  if (!deployment) throw new Error('no Deployment rendered');
  return (deployment['spec'] as { template: PodTemplate }).template;
}

function operatorContainer(objects: Manifest[]): Container {
  return podTemplate(objects).spec.containers[0]!;
}

/** Tenancy rules as a user writes them in values: every field of the file format. */
const tenancyValues = {
  namespaces: {
    'team-a': {
      allowedKeyArnPatterns: ['arn:aws:kms:eu-west-1:111122223333:key/*'],
      allowedWorkloadArnPatterns: ['arn:aws:kinesisanalytics:eu-west-1:111122223333:application/team-a-*'],
      allowedRoleArnPatterns: ['arn:aws:iam::111122223333:role/team-a-*'],
    },
    '*': { allowedKeyArnPatterns: [], allowedRoleArnPatterns: [] },
  },
  roles: {
    'arn:aws:iam::111122223333:role/team-a-deployer': { externalId: 'team-a-7f3c' },
    'arn:aws:iam::111122223333:role/team-a-legacy': { sessionTags: false },
  },
};

/** Value sets the chart is rendered and validated with. */
const valueSets: Array<[string, Record<string, unknown>]> = [
  ['default values', {}],
  [
    'watched namespaces, IRSA, region, tenancy rules',
    {
      watchNamespaces: ['team-a', 'team-b'],
      aws: { region: 'eu-west-1' },
      serviceAccount: { irsaRoleArn: 'arn:aws:iam::111122223333:role/cmk-operator' },
      tenancy: tenancyValues,
    },
  ],
  [
    'NetworkPolicy, ServiceMonitor and scheduling settings',
    {
      networkPolicy: {
        enabled: true,
        apiServer: { cidrs: ['10.0.0.1/32'] },
        ingressFrom: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
        ],
      },
      metrics: { serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } } },
      extraEnv: [{ name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' }],
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'operators', effect: 'NoSchedule' }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              {
                matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64', 'arm64'] }],
              },
            ],
          },
        },
      },
      priorityClassName: 'system-cluster-critical',
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'DoNotSchedule',
          labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'cmk-operator' } },
        },
      ],
      image: { digest: `sha256:${'a'.repeat(64)}` },
    },
  ],
  [
    'every other optional value on',
    {
      replicaCount: 3,
      image: { repository: 'registry.example/cmk-operator', tag: '0.1.0', pullPolicy: 'Always' },
      imagePullSecrets: [{ name: 'registry' }],
      fullnameOverride: 'cmk-operator',
      shardSelector: 'cmk.io/shard=a',
      concurrency: 16,
      resync: '30m',
      inventory: { period: '0s', callsPerSecond: 2.5 },
      keyPoll: '10s',
      eventQueue: { url: 'https://sqs.eu-west-1.amazonaws.com/111122223333/cmk-events', region: 'eu-west-1' },
      logLevel: 'debug',
      clusterName: 'prod-eu',
      leaderElection: {
        leaseName: 'cmk-shard-a',
        leaseDuration: '30s',
        renewDeadline: '20s',
        retryPeriod: '4s',
      },
      serviceAccount: { create: true, name: 'cmk', annotations: { 'example.com/owner': 'platform' } },
      rbac: { create: true, jobOverrideConfigMaps: false },
      tenancy: tenancyValues,
      extraEnv: [
        { name: 'HTTPS_PROXY', value: 'http://proxy:3128' },
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      ],
      podAnnotations: { 'example.com/scrape': 'true' },
      podLabels: { team: 'platform' },
      resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '2', memory: '768Mi' } },
      podDisruptionBudget: { enabled: true, minAvailable: '50%' },
      health: { port: 9081 },
      metrics: { port: 9080, service: { type: 'ClusterIP', annotations: { 'example.com/a': 'b' } } },
    },
  ],
];

/**
 * Where each `cmk-operator run` flag comes from in the chart: the values that set it and the
 * argument they render, or why the chart has no value for it. A flag added to the operator fails
 * 'every operator flag is a chart value' until it is listed here.
 */
const flagSources: Record<string, { values: Record<string, unknown>; arg: string } | { excluded: string }> = {
  // In a pod the operator uses its ServiceAccount (in-cluster config); a kubeconfig is for running
  // it by hand.
  kubeconfig: { excluded: 'in-cluster ServiceAccount' },
  namespaces: { values: { watchNamespaces: ['ns-1', 'ns-2'] }, arg: '--namespaces=ns-1,ns-2' },
  selector: { values: { shardSelector: 'cmk.io/shard=b' }, arg: '--selector=cmk.io/shard=b' },
  concurrency: { values: { concurrency: 9 }, arg: '--concurrency=9' },
  'kube-connections': { values: { kubeConnections: 12 }, arg: '--kube-connections=12' },
  resync: { values: { resync: '7m' }, arg: '--resync=7m' },
  'memory-saver': { values: { memorySaver: 'on' }, arg: '--memory-saver=on' },
  'memory-target': { values: { memoryTarget: '300Mi' }, arg: '--memory-target=300Mi' },
  'inventory-period': { values: { inventory: { period: '13m' } }, arg: '--inventory-period=13m' },
  'inventory-calls-per-second': {
    values: { inventory: { callsPerSecond: 3 } },
    arg: '--inventory-calls-per-second=3',
  },
  'key-poll': { values: { keyPoll: '11s' }, arg: '--key-poll=11s' },
  'event-queue-url': {
    values: { eventQueue: { url: 'https://sqs.us-east-2.amazonaws.com/111122223333/q' } },
    arg: '--event-queue-url=https://sqs.us-east-2.amazonaws.com/111122223333/q',
  },
  'event-queue-region': {
    values: { eventQueue: { region: 'us-east-2' } },
    arg: '--event-queue-region=us-east-2',
  },
  'health-address': { values: { health: { port: 9181 } }, arg: '--health-address=:9181' },
  'metrics-address': { values: { metrics: { port: 9180 } }, arg: '--metrics-address=:9180' },
  // Always on: the chart runs several replicas, and only the Lease holder may act.
  'leader-elect': { excluded: 'always true' },
  // Always the release namespace, from the pod's own namespace (POD_NAMESPACE).
  'leader-election-namespace': { excluded: 'the release namespace' },
  'leader-election-name': {
    values: { leaderElection: { leaseName: 'lease-x' } },
    arg: '--leader-election-name=lease-x',
  },
  'lease-duration': { values: { leaderElection: { leaseDuration: '31s' } }, arg: '--lease-duration=31s' },
  'renew-deadline': { values: { leaderElection: { renewDeadline: '12s' } }, arg: '--renew-deadline=12s' },
  'retry-period': { values: { leaderElection: { retryPeriod: '3s' } }, arg: '--retry-period=3s' },
  region: { values: { aws: { region: 'ap-south-1' } }, arg: '--region=ap-south-1' },
  'cluster-name': { values: { clusterName: 'c-9' }, arg: '--cluster-name=c-9' },
  'log-level': { values: { logLevel: 'warn' }, arg: '--log-level=warn' },
  'tenancy-config': {
    values: { tenancy: { namespaces: { 'ns-1': { allowedKeyArnPatterns: ['arn:aws:kms:*'] } } } },
    arg: '--tenancy-config=/etc/cmk-operator/tenancy/tenancy.yaml',
  },
};

/** Deep merge of plain objects (arrays and scalars: the later one wins). */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev) &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v)
        ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** The container args as the kubelet hands them over: $(POD_NAMESPACE) expanded. */
const expandArgs = (args: string[], namespace: string) =>
  args.slice(1).map((a) => a.replaceAll('$(POD_NAMESPACE)', namespace));

describe('the chart renders valid objects', () => {
  let schemaDir: string;

  beforeAll(async () => {
    await installCrds();
    schemaDir = mkdtempSync(join(tmpdir(), 'cmk-schemas-'));
    const admin = adminIdentity();
    const fetchJson = async (path: string) => {
      const res = await admin.request('GET', path);
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
      return res.body;
    };
    // The apiserver publishes a CRD's schema a moment after it is Established: retry until every
    // wanted kind has one.
    const wanted = [
      'v1/ServiceAccount',
      'v1/Service',
      'v1/ConfigMap',
      'apps/v1/Deployment',
      'policy/v1/PodDisruptionBudget',
      'networking.k8s.io/v1/NetworkPolicy',
      'rbac.authorization.k8s.io/v1/ClusterRole',
      'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
      'rbac.authorization.k8s.io/v1/Role',
      'rbac.authorization.k8s.io/v1/RoleBinding',
      'apiextensions.k8s.io/v1/CustomResourceDefinition',
      ...[
        'KmsKey',
        'FlinkApplication',
        'KeyspacesTable',
        'EmrServerlessApplication',
        'EmrServerlessJobRun',
        'EmrServerlessSession',
        'KeyReferenceGrant',
      ].map((k) => `${apiVersion}/${k}`),
    ];
    await eventually(
      async () => {
        await writeKubeconformSchemas(schemaDir, wanted, fetchJson);
        return true;
      },
      { what: 'the schemas of every kind the chart renders', timeoutMs: 30_000 },
    );
  });
  afterAll(() => {
    if (schemaDir) rmSync(schemaDir, { recursive: true, force: true });
  });

  it('passes helm lint --strict with every value set', async () => {
    for (const [, values] of valueSets) {
      const out = await helm([
        'lint',
        '--strict',
        '--kube-version',
        kubeVersion,
        chartDir,
        ...valuesArgs(values),
      ]);
      expect(out).toContain('0 chart(s) failed');
    }
  });

  it.each(valueSets)(
    `%s: kubeconform -strict with the Kubernetes ${kubeVersion} and CRD schemas`,
    async (_name, values) => {
      const { text, objects } = await renderChart(values, { includeCrds: true });
      const result = await kubeconform(text, schemaDir);
      const notValid = result.resources.filter((r) => r.status !== 'statusValid');
      expect(notValid, result.stderr).toEqual([]);
      expect(result.code).toBe(0);
      // Every rendered object was validated (none skipped for want of a schema).
      expect(result.resources).toHaveLength(objects.length);
    },
  );

  it('refuses what is not a valid manifest (the schemas really are strict)', async () => {
    const { text } = await renderChart({});
    const broken = text.replace('revisionHistoryLimit: 5', 'revisionHistoryLimit: 5\n  replica: 2');
    const result = await kubeconform(broken, schemaDir);
    expect(result.resources.find((r) => r.kind === 'Deployment')?.status).toBe('statusInvalid');
  });

  it('the examples are valid cmk.io objects (schemas offline, CEL rules by a server-side dry run)', async () => {
    const files = ['examples/kmskey.yaml', 'examples/workloads.yaml'];
    const text = files.map((f) => readFileSync(join(repoRoot, f), 'utf8')).join('\n---\n');
    const ns = await createNamespace('examples');
    for (const o of parseManifests(text)) {
      const plural = kinds.find((k) => k.kind === o.kind)?.plural;
      const res = await adminIdentity().request(
        'POST',
        `/apis/${apiVersion}/namespaces/${ns}/${plural}?dryRun=All&fieldValidation=Strict`,
        o,
      );
      expect(res.status, `${o.kind}/${o.metadata.name}: ${JSON.stringify(res.body)}`).toBe(201);
    }
    const result = await kubeconform(text, schemaDir);
    expect(result.resources.filter((r) => r.status !== 'statusValid')).toEqual([]);
    expect(new Set(result.resources.map((r) => r.kind))).toEqual(
      new Set([
        'KmsKey',
        'FlinkApplication',
        'KeyspacesTable',
        'EmrServerlessApplication',
        'EmrServerlessJobRun',
        'EmrServerlessSession',
        'KeyReferenceGrant',
      ]),
    );
  });

  it('an event queue value becomes the operator flags', async () => {
    const { objects } = await renderChart(
      {
        eventQueue: {
          url: 'https://sqs.eu-west-1.amazonaws.com/111122223333/cmk-events',
          region: 'eu-west-1',
        },
        keyPoll: '10s',
      },
      { release: 'cmk', namespace: 'ops' },
    );
    const args = operatorContainer(objects).args;
    expect(args).toContain('--event-queue-url=https://sqs.eu-west-1.amazonaws.com/111122223333/cmk-events');
    expect(args).toContain('--event-queue-region=eu-west-1');
    expect(args).toContain('--key-poll=10s');
  });

  it.each([
    ['auto', '--memory-saver=auto'],
    ['off', '--memory-saver=off'],
    ['on', '--memory-saver=on'],
    [false, '--memory-saver=off'],
    [true, '--memory-saver=on'],
  ])(
    'memorySaver %s (unquoted on/off, which helm reads as booleans, included) becomes %s',
    async (value, arg) => {
      const { objects } = await renderChart({ memorySaver: value }, { release: 'cmk', namespace: 'ops' });
      expect(operatorContainer(objects).args).toContain(arg);
    },
  );

  it('refuses a memorySaver mode the operator does not have', async () => {
    await expect(renderChart({ memorySaver: 'sometimes' })).rejects.toThrow(/memorySaver/);
  });

  it('default values: a Deployment that runs the operator as the chart says', async () => {
    const { objects } = await renderChart({}, { release: 'cmk', namespace: 'ops' });
    const [deployment] = find(objects, 'Deployment');
    expect(deployment?.['spec']).toMatchObject({ replicas: 2 });
    const c = operatorContainer(objects);
    expect(c.args).toEqual([
      'run',
      '--concurrency=4',
      '--kube-connections=32',
      '--resync=10m',
      '--memory-saver=auto',
      '--memory-target=240Mi',
      '--inventory-period=10m',
      '--inventory-calls-per-second=5',
      '--key-poll=30s',
      '--health-address=:8081',
      '--metrics-address=:8080',
      '--leader-elect=true',
      '--leader-election-namespace=$(POD_NAMESPACE)',
      '--leader-election-name=cmk-cmk-operator',
      '--lease-duration=15s',
      '--renew-deadline=10s',
      '--retry-period=2s',
      '--cluster-name=cluster',
      '--log-level=info',
    ]);
    expect(c.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])).toEqual([
      ['POD_NAME', 'metadata.name'],
      ['POD_NAMESPACE', 'metadata.namespace'],
    ]);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c.ports).toContainEqual(expect.objectContaining({ name: 'health', containerPort: 8081 }));
    expect(find(objects, 'PodDisruptionBudget')[0]?.['spec']).toMatchObject({ minAvailable: 1 });
    expect(find(objects, 'ClusterRole')).toHaveLength(1);
    expect(find(objects, 'ServiceMonitor')).toEqual([]);
    expect(find(objects, 'NetworkPolicy')).toEqual([]);
    // No tenancy rules: no ConfigMap, no mount, no --tenancy-config (every namespace unrestricted).
    expect(find(objects, 'ConfigMap')).toEqual([]);
    expect(c.volumeMounts.map((m) => m.name)).toEqual(['tmp']);
    // Memory from the benchmark (values.yaml says which figures; test/unit/chart-values.test.ts
    // checks them against the newest run).
    expect((c as unknown as { resources: unknown }).resources).toEqual({
      requests: { cpu: '100m', memory: '352Mi' },
      limits: { memory: '512Mi' },
    });
    // The lease Role is namespaced to the release and limited to the one Lease by name.
    const [leaseRole] = find(objects, 'Role', 'cmk-cmk-operator-leader-election');
    expect(leaseRole?.metadata.namespace).toBe('ops');
    expect(leaseRole?.['rules']).toContainEqual(
      expect.objectContaining({ resourceNames: ['cmk-cmk-operator'], verbs: ['get', 'update'] }),
    );
  });

  it('watched namespaces: Roles there, no cluster-wide role, and --namespaces', async () => {
    const { objects } = await renderChart(valueSets[1]![1], { release: 'cmk', namespace: 'ops' });
    expect(find(objects, 'ClusterRole')).toEqual([]);
    expect(find(objects, 'ClusterRoleBinding')).toEqual([]);
    const roles = find(objects, 'Role', 'cmk-cmk-operator');
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(['team-a', 'team-b']);
    const c = operatorContainer(objects);
    expect(c.args).toContain('--namespaces=team-a,team-b');
    expect(c.args).toContain('--region=eu-west-1');
    expect(c.env).toContainEqual({ name: 'AWS_REGION', value: 'eu-west-1' });
    expect(find(objects, 'ServiceAccount')[0]?.metadata).toMatchObject({
      annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/cmk-operator' },
    });
  });

  it('rbac.jobOverrideConfigMaps (on by default) adds exactly one rule: ConfigMaps get, create, patch', async () => {
    const rulesOf = async (values: Record<string, unknown>) =>
      (find((await renderChart(values)).objects, 'ClusterRole')[0]?.['rules'] ?? []) as PolicyRule[];
    const on = await rulesOf({});
    const off = await rulesOf({ rbac: { create: true, jobOverrideConfigMaps: false } });
    expect(on.slice(0, off.length)).toEqual(off);
    expect(on.slice(off.length)).toEqual([
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'patch'] },
    ]);
  });

  it('refuses values the schema does not know', async () => {
    await expect(renderChart({ replicas: 3 })).rejects.toThrow(/replicas/);
    await expect(renderChart({ logLevel: 'verbose' })).rejects.toThrow(/logLevel/);
    await expect(renderChart({ resources: { limits: { memroy: '1Gi' } } })).rejects.toThrow(/memroy/);
    await expect(renderChart({ securityContext: { runAsUsr: 1 } })).rejects.toThrow(/runAsUsr/);
    await expect(
      renderChart({ tenancy: { namespaces: { 'team-a': { allowedKeyArns: ['arn:aws:kms:*'] } } } }),
    ).rejects.toThrow(/allowedKeyArns/);
    await expect(renderChart({ tenancy: { roles: { 'team-a': { externalId: 'x1' } } } })).rejects.toThrow(
      /team-a/,
    );
  });

  it('tenancy values become a read-only mounted file the operator loads, refusing and permitting as written', async () => {
    const { objects } = await renderChart({ tenancy: tenancyValues }, { release: 'cmk', namespace: 'ops' });
    const [configMap] = find(objects, 'ConfigMap', 'cmk-cmk-operator-tenancy');
    const file = join(tempDir('cmk-tenancy-'), 'tenancy.yaml');
    if (!configMap) throw new Error('no tenancy ConfigMap rendered');
    writeFileSync(file, (configMap['data'] as Record<string, string>)['tenancy.yaml']!);
    const rules = loadTenancyRules(file);

    const c = operatorContainer(objects);
    expect(c.args).toContain('--tenancy-config=/etc/cmk-operator/tenancy/tenancy.yaml');
    expect(c.volumeMounts).toContainEqual({
      name: 'tenancy',
      mountPath: '/etc/cmk-operator/tenancy',
      readOnly: true,
    });
    expect(podTemplate(objects).spec.volumes).toContainEqual(
      expect.objectContaining({
        name: 'tenancy',
        configMap: expect.objectContaining({
          name: 'cmk-cmk-operator-tenancy',
          items: [{ key: 'tenancy.yaml', path: 'tenancy.yaml' }],
        }),
      }),
    );

    const key = (region: string) =>
      `arn:aws:kms:${region}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    const app = (name: string) => `arn:aws:kinesisanalytics:eu-west-1:111122223333:application/${name}`;
    const role = (name: string) => `arn:aws:iam::111122223333:role/${name}`;
    // [namespace, what, ARN, allowed]
    const cases: Array<[string, 'key' | 'workload' | 'role', string, boolean]> = [
      ['team-a', 'key', key('eu-west-1'), true],
      ['team-a', 'key', key('us-east-1'), false],
      ['team-b', 'key', key('eu-west-1'), false], // the "*" entry: no key at all
      ['team-a', 'workload', app('team-a-orders'), true],
      ['team-a', 'workload', app('team-b-orders'), false],
      ['team-b', 'workload', app('team-b-orders'), true], // "*" sets no workload patterns
      ['team-a', 'role', role('team-a-deployer'), true],
      ['team-a', 'role', role('team-b-deployer'), false],
      ['team-b', 'role', role('team-a-deployer'), false],
    ];
    const refusal = { key: keyRefusal, workload: workloadRefusal, role: roleRefusal };
    for (const [ns, what, arn, allowed] of cases) {
      expect(refusal[what](rules, ns, arn) === undefined, `${ns} ${what} ${arn}`).toBe(allowed);
    }
    expect(assumeRoleRules(rules, role('team-a-deployer'))).toEqual({
      sessionTags: true,
      externalId: 'team-a-7f3c',
    });
    expect(assumeRoleRules(rules, role('team-a-legacy'))).toEqual({ sessionTags: false });
  });

  it('a change of the tenancy rules changes the pod template (the operator reads them only at start-up)', async () => {
    const checksum = async (values: Record<string, unknown>) =>
      podTemplate((await renderChart(values)).objects).metadata.annotations?.['checksum/tenancy'];
    const before = await checksum({ tenancy: tenancyValues });
    expect(before).toMatch(/^[0-9a-f]{64}$/);
    expect(await checksum({ tenancy: tenancyValues })).toBe(before);
    const changed = merge(tenancyValues, {
      roles: { [`arn:aws:iam::111122223333:role/x`]: { externalId: 'x-1' } },
    });
    expect(await checksum({ tenancy: changed })).not.toBe(before);
    expect(await checksum({})).toBeUndefined();
  });

  it('every operator flag is a chart value, or excluded with its reason', async () => {
    expect(Object.keys(flagSources).sort()).toEqual(Object.keys(runCli.spec.flags).sort());
    const sources = Object.entries(flagSources).flatMap(([flag, s]) =>
      'values' in s ? [{ flag, ...s }] : [],
    );
    const all = sources.reduce((acc, s) => merge(acc, s.values), {} as Record<string, unknown>);
    const args = operatorContainer((await renderChart(all)).objects).args;
    const defaults = operatorContainer((await renderChart({})).objects).args;
    for (const { flag, arg } of sources) {
      expect(args, `--${flag}`).toContain(arg);
      expect(defaults, `--${flag} comes from the value, not a constant`).not.toContain(arg);
    }
    expect(args.filter((a) => a.startsWith('--kubeconfig'))).toEqual([]);
  });

  it.each(valueSets)(
    "%s: the operator's own parser accepts every argument the chart renders",
    async (_n, values) => {
      const { objects } = await renderChart(values, { namespace: 'ops' });
      const errors: string[] = [];
      const parsed = runCli.parse(expandArgs(operatorContainer(objects).args, 'ops'), {
        out: () => {},
        err: (text) => errors.push(text),
        env: {},
      });
      expect(errors).toEqual([]);
      expect(parsed.ok).toBe(true);
    },
  );

  /**
   * Kinds of other projects the chart can render whose CRDs the test apiserver does not serve;
   * kubeconform checks them above against their schemas instead.
   */
  const notServedHere = new Set([
    'monitoring.coreos.com/v1/ServiceMonitor',
    'monitoring.coreos.com/v1/PrometheusRule',
  ]);

  /** `kubectl apply --server-side --dry-run=server` of `objects` on the test apiserver. */
  async function serverDryRun(objects: Manifest[]) {
    const { kubectl } = await findBinaries();
    return run(
      kubectl,
      [
        'apply',
        '--server-side',
        '--dry-run=server',
        '--validate=strict',
        '--force-conflicts',
        '--field-manager=chart-dry-run',
        '--kubeconfig',
        inject('kubeconfigPath'),
        '-f',
        '-',
      ],
      { input: objects.map((o) => stringify(o)).join('---\n') },
    );
  }

  it.each(valueSets)('%s: every rendered object passes a server-side dry run', async (_name, values) => {
    const ns = await createNamespace('chart-dry');
    // Watched namespaces must exist for their Roles: fresh ones stand in for the values' names.
    const watched = await Promise.all(
      ((values['watchNamespaces'] as string[] | undefined) ?? []).map(() => createNamespace('chart-watched')),
    );
    const { objects } = await renderChart(
      { ...values, ...(watched.length ? { watchNamespaces: watched } : {}) },
      { namespace: ns, includeCrds: true },
    );
    const sent = objects.filter((o) => !notServedHere.has(`${o.apiVersion}/${o.kind}`));
    const result = await serverDryRun(sent);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const applied = result.stdout
      .split('\n')
      .filter((l) => l.endsWith('serverside-applied (server dry run)'));
    expect(applied).toHaveLength(sent.length);
  });

  it('the server-side dry run refuses what the apiserver would refuse', async () => {
    const ns = await createNamespace('chart-dry');
    const { objects } = await renderChart({}, { namespace: ns });
    const broken = objects.map((o) =>
      o.kind === 'Deployment' ? merge(o, { spec: { template: { spec: { restartPolicy: 'Never' } } } }) : o,
    ) as Manifest[];
    const result = await serverDryRun(broken);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/restartPolicy/);
  });
});

// ---- install, upgrade, uninstall on the shared apiserver ------------------------------------------

describe('helm install, upgrade and uninstall on the test apiserver', () => {
  /** A fresh namespace and release name, and how to reach what the chart installs there. */
  async function newRelease() {
    const kubeconfig = inject('kubeconfigPath');
    const ns = await createNamespace('chart');
    const release = uniqueName('cmk');
    const fullname = `${release}-cmk-operator`;
    const admin = adminIdentity();
    const get = (path: string) => admin.request('GET', path);
    const deploymentPath = `/apis/apps/v1/namespaces/${ns}/deployments/${fullname}`;
    const base = ['--namespace', ns, '--kubeconfig', kubeconfig];
    return { ns, release, fullname, get, deploymentPath, base, admin };
  }
  type Release = Awaited<ReturnType<typeof newRelease>>;

  /**
   * Installs the release with tenancy rules; the Deployment logs at info and every other object is
   * there; the tenancy file, as the apiserver stores it, loads with the operator's own loader.
   */
  async function installAndExpectEveryObject(r: Release): Promise<void> {
    const { ns, release, fullname, get, deploymentPath, base } = r;
    await helm([
      'install',
      release,
      chartDir,
      ...base,
      ...valuesArgs({ aws: { region: 'us-east-1' }, tenancy: tenancyValues }),
    ]);
    const installed = await get(deploymentPath);
    expect(installed.status).toBe(200);
    const c1 = (installed.body as { spec: { template: { spec: { containers: Container[] } } } }).spec.template
      .spec.containers[0]!;
    expect(c1.args).toContain('--log-level=info');
    expect(c1.args).toContain('--tenancy-config=/etc/cmk-operator/tenancy/tenancy.yaml');
    const stored = await get(`/api/v1/namespaces/${ns}/configmaps/${fullname}-tenancy`);
    const file = join(tempDir('cmk-tenancy-'), 'tenancy.yaml');
    writeFileSync(file, (stored.body as { data: Record<string, string> }).data['tenancy.yaml']!);
    const rules = loadTenancyRules(file);
    expect(keyRefusal(rules, 'team-b', 'arn:aws:kms:eu-west-1:111122223333:key/k')).toContain(
      'may not use key',
    );
    expect(assumeRoleRules(rules, 'arn:aws:iam::111122223333:role/team-a-deployer').externalId).toBe(
      'team-a-7f3c',
    );
    for (const path of [
      `/api/v1/namespaces/${ns}/serviceaccounts/${fullname}`,
      `/api/v1/namespaces/${ns}/services/${fullname}-metrics`,
      `/api/v1/namespaces/${ns}/configmaps/${fullname}-tenancy`,
      `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${fullname}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${fullname}`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${fullname}-leader-election`,
    ]) {
      expect((await get(path)).status, path).toBe(200);
    }
  }

  /** Upgrades a value into the Deployment and, with a watched namespace, the ClusterRole into a Role. */
  async function upgradeToAWatchedNamespace(r: Release): Promise<void> {
    const { ns, release, fullname, get, deploymentPath, base } = r;
    // Upgrade: a new log level and a watched namespace (ClusterRole -> Role).
    await helm([
      'upgrade',
      release,
      chartDir,
      ...base,
      ...valuesArgs({ aws: { region: 'us-east-1' }, logLevel: 'debug', watchNamespaces: [ns] }),
    ]);
    const upgraded = (await get(deploymentPath)).body as {
      metadata: { generation: number };
      spec: { template: { spec: { containers: Container[] } } };
    };
    expect(upgraded.metadata.generation).toBe(2);
    expect(upgraded.spec.template.spec.containers[0]!.args).toEqual(
      expect.arrayContaining(['--log-level=debug', `--namespaces=${ns}`]),
    );
    expect((await get(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}`)).status).toBe(404);
    expect((await get(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${fullname}`)).status).toBe(
      200,
    );
  }

  /** The ServiceAccount may read KmsKeys in the watched namespace, and nowhere else. */
  async function expectAccessOnlyInTheWatchedNamespace(r: Release): Promise<void> {
    const { ns, fullname, admin } = r;
    // The ServiceAccount may read KmsKeys in the watched namespace, and nowhere else.
    const sar = async (namespace: string | undefined) => {
      const res = await admin.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${ns}:${fullname}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
          resourceAttributes: {
            group: 'cmk.io',
            resource: 'kmskeys',
            verb: 'list',
            ...(namespace ? { namespace } : {}),
          },
        },
      });
      return (res.body as { status: { allowed: boolean } }).status.allowed;
    };
    await eventually(async () => ((await sar(ns)) ? true : undefined), { what: 'the Role to take effect' });
    expect(await sar(undefined)).toBe(false);
    expect(await sar('default')).toBe(false);
  }

  /** Uninstalls the release: its objects are gone, the CRDs stay. */
  async function uninstallAndExpectOnlyCrdsLeft(r: Release): Promise<void> {
    const { ns, release, fullname, get, deploymentPath, base } = r;
    await helm(['uninstall', release, ...base]);
    for (const path of [
      deploymentPath,
      `/api/v1/namespaces/${ns}/serviceaccounts/${fullname}`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${fullname}`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${fullname}-leader-election`,
    ]) {
      expect((await get(path)).status, path).toBe(404);
    }
    // Helm never deletes CRDs from crds/ (that would delete every cmk.io object): they stay.
    expect((await get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/kmskeys.cmk.io')).status).toBe(
      200,
    );
  }

  it('installs, upgrades a value into the Deployment and the RBAC, and uninstalls cleanly', async () => {
    await installCrds();
    const r = await newRelease();
    await installAndExpectEveryObject(r);
    await upgradeToAWatchedNamespace(r);
    await expectAccessOnlyInTheWatchedNamespace(r);
    await uninstallAndExpectOnlyCrdsLeft(r);
  });
});

// ---- RBAC: enough, and nothing more ---------------------------------------------------------------

describe('the rendered RBAC is exactly what the operator uses', () => {
  const release = 'cmk-operator'; // fullname, ServiceAccount and Lease are all "cmk-operator"
  const releaseNs = 'cmk-system';
  const workNs = 'team-a';
  const user = `system:serviceaccount:${releaseNs}:${release}`;
  const saGroups = ['system:serviceaccounts', `system:serviceaccounts:${releaseNs}`, 'system:authenticated'];
  let dir: string;
  let auditLog: string;
  let cp: ControlPlane;
  let admin: KubeClient;
  let emulator: RunningEmulator;
  let operator: RunningOperator | undefined;
  let rendered: Manifest[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cmk-rbac-'));
    auditLog = join(dir, 'audit.log');
    writeFileSync(join(dir, 'audit-policy.yaml'), auditPolicy([user]));
    cp = await startControlPlane({
      apiserverArgs: [
        `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
        `--audit-log-path=${auditLog}`,
      ],
    });
    admin = createKubeClient(loadKubeConfig(cp.kubeconfigPath));
    await helm([
      'install',
      release,
      chartDir,
      '--namespace',
      releaseNs,
      '--create-namespace',
      '--kubeconfig',
      cp.kubeconfigPath,
      // The default RBAC (rbac.jobOverrideConfigMaps included).
      ...valuesArgs({ aws: { region: 'us-east-1' } }),
    ]);
    rendered = parseManifests(
      await helm(['get', 'manifest', release, '--namespace', releaseNs, '--kubeconfig', cp.kubeconfigPath]),
    );
    await eventually(
      async () => ((await admin.request('GET', `/apis/${apiVersion}/kmskeys`)) ? true : undefined),
      { what: 'the chart CRDs served', timeoutMs: 30_000 },
    );
    await admin.request('POST', '/api/v1/namespaces', { body: { metadata: { name: workNs } } });
    emulator = await startEmulator({ config: { transitions: { default: { min: 200, max: 400 } } } });
    process.env['AWS_ENDPOINT_URL'] = emulator.url;
    process.env['AWS_REGION'] = 'us-east-1';
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAOPERATOR00000001';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'emulator-secret';
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
    await emulator?.close();
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const path = (plural: string, name?: string) =>
    `/apis/${apiVersion}/namespaces/${workNs}/${plural}${name ? `/${name}` : ''}`;
  const createObject = (kind: string, plural: string, name: string, spec: unknown) =>
    admin.request('POST', path(plural), { body: { apiVersion, kind, metadata: { name }, spec } });
  interface Conditioned {
    metadata: { finalizers?: string[]; generation: number };
    status?: { conditions?: Array<{ type: string; status: string; reason: string }> };
  }
  const waitCondition = (plural: string, name: string, type: string, status: string, reason?: string) =>
    eventually(
      async () => {
        const o = await admin.request<Conditioned>('GET', path(plural, name));
        const c = o.status?.conditions?.find((x) => x.type === type);
        return c?.status === status && (reason === undefined || c.reason === reason) ? o : undefined;
      },
      { what: `${plural}/${name} ${type}=${status}`, timeoutMs: 20_000 },
    );

  /**
   * Delays the next `service`/`operation` call the emulator serves by `delayMs` and resolves when
   * that call has arrived: the test can then change the object under the reconcile that made it.
   */
  function holdNextCall(service: string, operation: string, delayMs: number): Promise<void> {
    const faults = emulator.world().faults;
    const decide = faults.decide.bind(faults);
    let arrived: () => void = () => {};
    const promise = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let armed = true;
    faults.decide = (s, o) => {
      const decision = decide(s, o);
      if (!armed || s !== service || o !== operation) return decision;
      armed = false;
      arrived();
      return { ...decision, delayMs: decision.delayMs + delayMs };
    };
    return promise;
  }

  async function reconciles(controller: string): Promise<number> {
    const text = await (await fetch(`${operator!.health.metricsUrl}/metrics`)).text();
    const pattern = new RegExp(
      `^controller_runtime_reconcile_total\\{[^}]*controller="${controller}"[^}]*\\} (\\d+)`,
      'gm',
    );
    return [...text.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
  }

  /** The operator in this worker, with the chart ServiceAccount's identity and RBAC; once it leads. */
  async function startOperatorAsTheServiceAccount(): Promise<void> {
    const identity = await cp.mintIdentity(user, saGroups);
    operator = await startOperator({
      kubeconfig: identity.kubeconfigPath,
      namespaces: [],
      concurrency: 4,
      resyncMs: 60_000,
      healthAddress: '127.0.0.1:0',
      metricsAddress: '127.0.0.1:0',
      leaderElection: { enabled: true, namespace: releaseNs, name: release },
      identity: 'chart-rbac-test',
      defaultRegion: 'us-east-1',
      clusterName: 'chart',
      log: process.env['CMK_TEST_LOG']
        ? createLogger({ level: 'debug', destination: pino.destination(process.env['CMK_TEST_LOG']) })
        : silentLogger(),
    });
    await eventually(async () => (operator!.isLeader() ? true : undefined), { what: 'leadership' });
  }

  /** SDK client config for the emulator, as a tester (not the operator). */
  function awsConfig() {
    return {
      endpoint: emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIATESTER0000000001', secretAccessKey: 'x' },
    };
  }

  async function adoptAKeyAndCreateOne(): Promise<void> {
    // A KmsKey adopting an existing key, and one the operator creates (a one-shot action: re-read first).
    const kms = new KMSClient(awsConfig());
    const key = await kms.send(new CreateKeyCommand({ Description: 'chart rbac' }));
    await createObject('KmsKey', 'kmskeys', 'adopted', { keyId: key.KeyMetadata!.Arn });
    await createObject('KmsKey', 'kmskeys', 'created', { create: {} });
    const adopted = await waitCondition('kmskeys', 'adopted', 'Ready', 'True');
    expect(adopted.metadata.finalizers).toContain(kmsKeyFinalizer);
    await waitCondition('kmskeys', 'created', 'Ready', 'True');
  }

  async function reconcileAWorkloadOfEachKindPastAForeignFinalizer(): Promise<void> {
    // One workload of each kind on an AWS owned key. While the operator waits for AWS in its first
    // reconcile, another controller's finalizer lands on the object: the operator's guarded
    // finalizer patch then fails its test op, and it re-reads the object (get) and patches again.
    emulator.seed({
      kinesisanalytics: {
        applications: [
          { name: 'orders', status: 'READY' },
          { name: 'claimed', status: 'READY' },
        ],
      },
      cassandra: { keyspaces: [{ name: 'shop', tables: [{ name: 'orders' }] }] },
      'emr-serverless': { applications: [{ name: 'etl', id: '00f0000000000001', state: 'CREATED' }] },
    });
    const workloads = [
      {
        kind: 'FlinkApplication',
        plural: 'flinkapplications',
        call: ['kinesisanalytics', 'DescribeApplication'],
        spec: { applicationName: 'orders' },
      },
      {
        kind: 'KeyspacesTable',
        plural: 'keyspacestables',
        call: ['cassandra', 'GetTable'],
        spec: { keyspaceName: 'shop', tableName: 'orders' },
      },
      {
        kind: 'EmrServerlessApplication',
        plural: 'emrserverlessapplications',
        call: ['emr-serverless', 'GetApplication'],
        // It also publishes the job-override ConfigMap (get, then server-side apply).
        spec: { applicationId: '00f0000000000001', jobOverridesConfigMap: { name: 'w-job-overrides' } },
      },
    ] as const;
    await Promise.all(
      workloads.map(async (w) => {
        const held = holdNextCall(w.call[0], w.call[1], 1500);
        await createObject(w.kind, w.plural, 'w', { ...w.spec, key: { awsOwned: true } });
        await held;
        await admin.jsonPatch(
          { group: 'cmk.io', version: 'v1alpha1', plural: w.plural, namespaced: true, kind: w.kind },
          { namespace: workNs, name: 'w' },
          [{ op: 'add', path: '/metadata/finalizers', value: ['example.com/hold'] }],
        );
        const o = await waitCondition(w.plural, 'w', 'Ready', 'True');
        expect(o.metadata.finalizers?.sort(), w.kind).toEqual([workloadFinalizer, 'example.com/hold'].sort());
      }),
    );
  }

  async function publishOverridesAndSubmitAJobRun(): Promise<void> {
    // The job-override ConfigMap is published; a job run on the application is submitted once
    // (decided on the stored object: a get) and followed.
    await eventually(
      async () =>
        (await admin.request('GET', `/api/v1/namespaces/${workNs}/configmaps/w-job-overrides`)) ?? undefined,
      { what: 'the job-override ConfigMap' },
    );
    // cmk.io/cancel-on-delete: the operator holds the object with a finalizer while the run is live.
    await admin.request('POST', path('emrserverlessjobruns'), {
      body: {
        apiVersion,
        kind: 'EmrServerlessJobRun',
        metadata: { name: 'nightly', annotations: { [cancelOnDeleteAnnotation]: 'true' } },
        spec: {
          applicationRef: { name: 'w' },
          executionRoleArn: 'arn:aws:iam::111122223333:role/job',
          jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py' } },
        },
      },
    });
    await eventually(
      async () =>
        (
          await admin.request<{ status?: { jobRunId?: string } }>(
            'GET',
            path('emrserverlessjobruns', 'nightly'),
          )
        ).status?.jobRunId,
      { what: 'the job run submitted', timeoutMs: 20_000 },
    );
  }

  async function startASession(): Promise<void> {
    // An interactive session: started once (decided on the stored object: a get), held by its
    // finalizer (patch) while it lives, its state in status.
    emulator.seed({
      'emr-serverless': {
        applications: [
          {
            name: 'notebooks',
            id: '00f0000000000002',
            state: 'CREATED',
            releaseLabel: 'emr-7.13.0',
            interactiveConfiguration: { sessionEnabled: true },
          },
        ],
      },
    });
    await createObject('EmrServerlessSession', 'emrserverlesssessions', 'analyst', {
      applicationId: '00f0000000000002',
      executionRoleArn: 'arn:aws:iam::111122223333:role/notebook',
      key: { awsOwned: true },
    });
    await waitCondition('emrserverlesssessions', 'analyst', 'Ready', 'True');
  }

  async function reconcileAnApplicationAnotherClusterClaimsTwice(): Promise<void> {
    // A Flink application another cluster claims: a Warning each reconcile. The second one joins the
    // first Event as a series, which the operator patches (here: when it stops and flushes).
    const flink = new KinesisAnalyticsV2Client(awsConfig());
    const app = await flink.send(new DescribeApplicationCommand({ ApplicationName: 'claimed' }));
    await flink.send(
      new TagResourceCommand({
        ResourceARN: app.ApplicationDetail!.ApplicationARN,
        Tags: [{ Key: 'cmk.io/owner', Value: 'elsewhere/team-z/claimed' }],
      }),
    );
    await createObject('FlinkApplication', 'flinkapplications', 'claimed', {
      applicationName: 'claimed',
      key: { awsOwned: true },
    });
    await waitCondition('flinkapplications', 'claimed', 'Stalled', 'True', 'ClaimedByAnother');
    const before = await reconciles('flinkapplication');
    await admin.mergePatch(
      {
        group: 'cmk.io',
        version: 'v1alpha1',
        plural: 'flinkapplications',
        namespaced: true,
        kind: 'FlinkApplication',
      },
      { namespace: workNs, name: 'claimed' },
      { metadata: { labels: { touched: 'yes' } } },
    );
    await eventually(async () => ((await reconciles('flinkapplication')) > before ? true : undefined), {
      what: 'a second reconcile of the claimed application',
    });
  }

  /** Stops the operator (flushing its Event series), then reads its requests from the audit log. */
  async function stopAndExpectNoRequestRefused(): Promise<void> {
    await operator!.stop();
    operator = undefined;
    const events = await admin.request<{ items: Array<{ reason: string; series?: { count: number } }> }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${workNs}/events`,
    );
    expect(events.items.find((e) => e.reason === 'ClaimConflict')?.series?.count).toBeGreaterThanOrEqual(2);

    const audit = await readAuditLog(auditLog, user);
    expect(audit.length).toBeGreaterThan(0);
    const refused = audit
      .filter((e) => e.responseStatus?.code === 403)
      .map((e) => `${e.verb} ${e.requestURI}`);
    expect(refused).toEqual([]);
  }

  it('the operator, as the chart ServiceAccount, reconciles every kind it owns; no request is refused', async () => {
    await startOperatorAsTheServiceAccount();
    await adoptAKeyAndCreateOne();
    await reconcileAWorkloadOfEachKindPastAForeignFinalizer();
    await publishOverridesAndSubmitAJobRun();
    await startASession();
    await reconcileAnApplicationAnotherClusterClaimsTwice();
    await stopAndExpectNoRequestRefused();
  });

  it('grants exactly the (group, resource, verb) pairs the operator used: nothing missing, nothing spare', async () => {
    const audit = await readAuditLog(auditLog, user);
    const used = new Set(audit.flatMap(auditPairs));
    const granted = new Set(
      rulesBoundTo(rendered, { namespace: releaseNs, name: release }).flatMap(({ rules }) => [
        ...rulePairs(rules),
      ]),
    );
    const missing = [...used].filter((p) => !granted.has(p)).sort();
    const spare = [...granted].filter((p) => !used.has(p)).sort();
    expect({ missing, spare }).toEqual({ missing: [], spare: [] });
  });

  const rbac = (kind: string, namespace?: string) => ({
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: `${kind.toLowerCase()}s`,
    namespaced: namespace !== undefined,
    kind,
  });
  const allowed = async (subject: string, groups: string[], r: AuditRequest) => {
    const review = await admin.create<Manifest>(
      {
        group: 'authorization.k8s.io',
        version: 'v1',
        plural: 'subjectaccessreviews',
        namespaced: false,
        kind: 'SubjectAccessReview',
      },
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        metadata: { name: '' },
        spec: { user: subject, groups, resourceAttributes: r.attributes },
      } as Manifest,
    );
    return (review['status'] as { allowed: boolean }).allowed;
  };

  /** Binds a fresh subject to every bound role, role `roleIndex` replaced by `without`. */
  async function bindEveryRoleWithOneVerbRemoved(
    bound: Bound,
    roleIndex: number,
    subject: string,
    without: PolicyRule[],
  ): Promise<void> {
    // The subject gets every bound role, this one with the verb removed from this rule.
    for (const [i, other] of bound.entries()) {
      const ns = other.role.metadata.namespace;
      const name = i === roleIndex ? subject : other.role.metadata.name;
      if (i === roleIndex)
        await admin.create(rbac(other.role.kind, ns), {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: other.role.kind,
          metadata: { name, ...(ns ? { namespace: ns } : {}) },
          rules: without,
        } as Manifest);
      const bindingKind = other.role.kind === 'ClusterRole' ? 'ClusterRoleBinding' : 'RoleBinding';
      await admin.create(rbac(bindingKind, ns), {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: bindingKind,
        metadata: { name: `${subject}-${i}`, ...(ns ? { namespace: ns } : {}) },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: other.role.kind, name },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: subject }],
      } as Manifest);
    }
  }

  /**
   * Every request the verb of the rule allowed is allowed for the ServiceAccount and denied for the
   * subject bound without it (once its bindings are in effect); the number of such request kinds.
   */
  async function expectOnlyThatVerbDenied(c: {
    requests: AuditRequest[];
    bound: Bound;
    roleIndex: number;
    ruleIndex: number;
    verb: string;
    without: PolicyRule[];
    subject: string;
  }): Promise<number> {
    const { requests, bound, roleIndex, ruleIndex, verb, without, subject } = c;
    const { role, rules } = bound[roleIndex]!;
    const rule = rules[ruleIndex]!;
    const affected = requests.filter((r) => r.verb === verb && matches(rule, role, r));
    expect(
      affected.length,
      `${role.metadata.name} rule ${ruleIndex} ${verb}: no request used it`,
    ).toBeGreaterThan(0);
    // The bindings are in effect (a request the reduced roles still grant is allowed)...
    const stillGranted = (r: AuditRequest) =>
      bound.some((b, i) =>
        (i === roleIndex ? without : b.rules).some((x) => x.verbs.includes(r.verb) && matches(x, b.role, r)),
      );
    const control = requests.find(stillGranted);
    if (control)
      await eventually(async () => ((await allowed(subject, [], control)) ? true : undefined), {
        what: `${subject} bound`,
      });
    // ...and every request this verb of this rule allowed is now denied.
    for (const r of affected) {
      expect(await allowed(user, saGroups, r), `${r.key} as the ServiceAccount`).toBe(true);
      expect(
        await allowed(subject, [], r),
        `${r.key} without ${verb} in ${role.metadata.name} rule ${ruleIndex}`,
      ).toBe(false);
    }
    return affected.length;
  }

  function recordLeastPrivilegeFigures(audit: AuditEvent[], bound: Bound, checked: string[]): void {
    const used = new Set(audit.flatMap(auditPairs));
    const granted = new Set(bound.flatMap(({ rules }) => [...rulePairs(rules)]));
    recordFigures('chart-rbac', {
      title: 'Least privilege (the chart RBAC, by audit log and SubjectAccessReview)',
      reproduce: 'npx vitest run --project integration test/integration/chart.test.ts',
      figures: [
        { what: 'operator requests in the audit log', value: audit.length },
        { what: '(group, resource, verb) pairs granted by the rendered roles', value: granted.size },
        { what: '(group, resource, verb) pairs the operator used', value: used.size },
        { what: 'verbs of rules checked by removing them', value: checked.length },
        {
          what: 'SubjectAccessReviews denied without the verb (request kinds)',
          value: checked.reduce((n, c) => n + Number(/: (\d+) request kinds denied$/.exec(c)?.[1] ?? 0), 0),
        },
      ],
      lost: {
        'operator requests refused (403)': audit.filter((e) => e.responseStatus?.code === 403).length,
        'pairs used but not granted': [...used].filter((x) => !granted.has(x)).length,
        'pairs granted but not used': [...granted].filter((x) => !used.has(x)).length,
      },
    });
  }

  it('every verb of every rule is needed: without it, a request the operator made is denied', async () => {
    const audit = await readAuditLog(auditLog, user);
    const requests = uniqueRequests(audit);
    const bound = rulesBoundTo(rendered, { namespace: releaseNs, name: release });
    let n = 0;
    const checked: string[] = [];
    for (const [roleIndex, { role, rules }] of bound.entries()) {
      for (const [ruleIndex, rule] of rules.entries()) {
        for (const verb of rule.verbs) {
          const subject = `minus-${++n}-${randomBytes(2).toString('hex')}`;
          const without = rules
            .map((r, i) => (i === ruleIndex ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r))
            .filter((r) => r.verbs.length > 0);
          await bindEveryRoleWithOneVerbRemoved(bound, roleIndex, subject, without);
          const denied = await expectOnlyThatVerbDenied({
            requests,
            bound,
            roleIndex,
            ruleIndex,
            verb,
            without,
            subject,
          });
          checked.push(
            `${role.kind}/${role.metadata.name}[${ruleIndex}] ${verb}: ${denied} request kinds denied`,
          );
        }
      }
    }
    expect(checked.length).toBe(
      bound.reduce((sum, b) => sum + b.rules.reduce((s, r) => s + r.verbs.length, 0), 0),
    );
    recordLeastPrivilegeFigures(audit, bound, checked);
  });
});

type Bound = Array<{ role: Manifest; rules: PolicyRule[] }>;

interface AuditRequest {
  key: string;
  verb: string;
  attributes: {
    verb: string;
    group: string;
    resource: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
}

/** The distinct requests (verb, group, resource, subresource, namespace, name) in the audit events. */
function uniqueRequests(events: AuditEvent[]): AuditRequest[] {
  const out = new Map<string, AuditRequest>();
  for (const e of events) {
    const ref = e.objectRef!;
    // A server-side apply that created its object was authorized as create too (see auditPairs).
    const verbs = e.verb === 'patch' && e.responseStatus?.code === 201 ? ['patch', 'create'] : [e.verb];
    for (const verb of verbs) {
      const attributes = {
        verb,
        group: ref.apiGroup ?? '',
        resource: ref.resource!,
        ...(ref.subresource ? { subresource: ref.subresource } : {}),
        ...(ref.namespace ? { namespace: ref.namespace } : {}),
        ...(ref.name ? { name: ref.name } : {}),
      };
      const key = `${verb} ${attributes.group}/${attributes.resource}${ref.subresource ? `/${ref.subresource}` : ''} ${ref.namespace ?? '*'}/${ref.name ?? '*'}`;
      out.set(key, { key, verb, attributes });
    }
  }
  return [...out.values()];
}

/** Whether `rule` of `role` covers request `r` (verb aside): group, resource, name, and the role's namespace. */
function matches(rule: PolicyRule, role: Manifest, r: AuditRequest): boolean {
  const a = r.attributes;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (role.kind === 'Role' && a.namespace !== role.metadata.namespace) return false;
  if (!(rule.apiGroups ?? []).includes(a.group) || !(rule.resources ?? []).includes(resource)) return false;
  return !rule.resourceNames || (a.name !== undefined && rule.resourceNames.includes(a.name));
}
