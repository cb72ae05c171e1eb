// `cmk-operator run`: the operator itself. Kubernetes from --kubeconfig, $KUBECONFIG or the in-cluster
// service account; AWS from the SDK's default credential chain and standard settings (AWS_REGION,
// AWS_ENDPOINT_URL...). Exits 0 after SIGTERM/SIGINT, 1 when leadership is lost (to be restarted).

import { boundBufferPool } from '../aws/clients.ts';
import { keyPolicyPreflight } from '../keys/preflight.ts';
import { loadTenancyRules, type TenancyRules } from '../keys/tenancy.ts';
import { startOperator } from '../operator.ts';
import { createLogger, logLevels, processLogBase } from '../runtime/log.ts';
import { type MemorySaverMode, memorySaverModes } from '../runtime/memory-saver.ts';
import { defineCommand } from './command.ts';

export const runCli = defineCommand({
  name: 'cmk-operator run',
  flags: {
    kubeconfig: {
      type: 'string',
      metavar: 'PATH',
      defaultText: '$KUBECONFIG, then in-cluster',
      description: 'kubeconfig',
    },
    namespaces: { type: 'list', defaultText: 'all', description: 'namespaces to watch' },
    selector: {
      type: 'string',
      metavar: 'SELECTOR',
      description:
        'reconcile only cmk.io objects with matching labels, e.g. cmk.io/shard=a (sharding: give each shard its own Lease name)',
    },
    concurrency: {
      type: 'number',
      integer: true,
      min: 1,
      max: 256,
      default: 4,
      description: 'concurrent reconciles per controller (the KmsKey controller: twice this, at least 16)',
    },
    'kube-connections': {
      type: 'number',
      integer: true,
      min: 1,
      max: 1024,
      default: 32,
      description:
        'connections to the Kubernetes API server that requests share at most (watches have their own); more requests wait for one',
    },
    resync: { type: 'duration', default: 600_000, description: 'look again after success, e.g. 10m, 30s' },
    'inventory-period': {
      type: 'duration',
      default: 600_000,
      description:
        'between passes of the key usage inventory over the accounts and Regions the objects name (0 turns it off: only Kubernetes counts as a key’s users)',
    },
    'inventory-calls-per-second': {
      type: 'number',
      min: 0.1,
      max: 100,
      default: 5,
      description: 'AWS calls per second the inventory may make (it never takes the reconciles’ quota)',
    },
    'key-poll': {
      type: 'duration',
      default: 30_000,
      description:
        'between reads of every key something depends on (one DescribeKey per key): bounds how long a key disabled or scheduled for deletion outside Kubernetes goes unnoticed without an event queue (0 turns it off)',
    },
    'event-queue-url': {
      type: 'string',
      metavar: 'URL',
      description:
        'SQS queue that an EventBridge rule fills with the CloudTrail events of KMS and the three services (docs/events.md); the operator long-polls it and looks at the affected objects at once',
    },
    'event-queue-region': {
      type: 'string',
      metavar: 'REGION',
      description: "the event queue's Region (default: the one in its URL, else --region)",
    },
    'health-address': {
      type: 'string',
      metavar: 'ADDR',
      default: ':8081',
      description: '/healthz and /readyz',
    },
    'metrics-address': { type: 'string', metavar: 'ADDR', default: ':8080', description: '/metrics' },
    'leader-elect': { type: 'boolean', default: true, description: 'use a Lease so only one replica acts' },
    'leader-election-namespace': {
      type: 'string',
      metavar: 'NS',
      env: ['POD_NAMESPACE'],
      default: 'default',
      description: 'namespace of the Lease',
    },
    'leader-election-name': {
      type: 'string',
      metavar: 'NAME',
      default: 'cmk-operator',
      description: 'Lease name',
    },
    'lease-duration': {
      type: 'duration',
      default: 15_000,
      description: 'how long a lease lasts without renewal',
    },
    'renew-deadline': {
      type: 'duration',
      default: 10_000,
      description: 'the leader gives up if it cannot renew within this',
    },
    'retry-period': {
      type: 'duration',
      default: 2_000,
      description: 'how often candidates try and the leader renews',
    },
    region: {
      type: 'string',
      metavar: 'REGION',
      env: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
      description: 'Region for objects without spec.region',
    },
    'cluster-name': {
      type: 'string',
      metavar: 'NAME',
      default: 'cluster',
      description: 'names this cluster in AWS ownership tags',
    },
    'log-level': {
      type: 'string',
      metavar: 'LEVEL',
      choices: logLevels,
      defaultText: '$LOG_LEVEL, else info',
      description: `log level: ${logLevels.join('|')}`,
    },
    'memory-saver': {
      type: 'string',
      metavar: 'MODE',
      choices: memorySaverModes,
      env: ['CMK_MEMORY_SAVER'],
      default: 'auto',
      description: `V8's memory saver mode: ${memorySaverModes.join('|')} (auto: on while no change is waiting or in flight, so a settled operator hands back the heap a burst grew to; it costs CPU, which a settled operator has to spare)`,
    },
    'memory-target': {
      type: 'bytes',
      env: ['CMK_MEMORY_TARGET'],
      default: 240 * 2 ** 20,
      description:
        'with --memory-saver auto, the resident set to stay under (0: none): above it the memory saver is on even while busy, until back under 90 % of it',
    },
    'tenancy-config': {
      type: 'string',
      metavar: 'FILE',
      description: 'per-namespace allowed key and resource ARN patterns (YAML)',
    },
  },
});

export async function runCommand(args: string[]): Promise<number> {
  const parsed = runCli.parse(args);
  if (!parsed.ok) return parsed.exitCode;
  const v = parsed.values;
  if (!v.region) {
    // The chart's NOTES.txt and values.yaml quote this message.
    process.stderr.write('no AWS Region: pass --region or set AWS_REGION\n');
    return 2;
  }
  const lease = {
    leaseDurationMs: v['lease-duration'],
    renewDeadlineMs: v['renew-deadline'],
    retryPeriodMs: v['retry-period'],
  };
  if (!(lease.leaseDurationMs > lease.renewDeadlineMs && lease.renewDeadlineMs > lease.retryPeriodMs * 1.2)) {
    process.stderr.write(
      '--lease-duration must exceed --renew-deadline, which must exceed 1.2 x --retry-period\n',
    );
    return 2;
  }
  let tenancy: TenancyRules | undefined;
  if (v['tenancy-config']) {
    try {
      tenancy = loadTenancyRules(v['tenancy-config']);
    } catch (e) {
      process.stderr.write(`--tenancy-config: ${(e as Error).message}\n`);
      return 2;
    }
  }
  boundBufferPool();
  const log = createLogger({
    ...(v['log-level'] ? { level: v['log-level'] } : {}),
    base: processLogBase,
  });
  const operator = await startOperator({
    ...(v.kubeconfig ? { kubeconfig: v.kubeconfig } : {}),
    namespaces: v.namespaces,
    ...(v.selector ? { labelSelector: v.selector } : {}),
    concurrency: v.concurrency,
    kubeConnections: v['kube-connections'],
    resyncMs: v.resync,
    inventoryPeriodMs: v['inventory-period'],
    inventoryCallsPerSecond: v['inventory-calls-per-second'],
    keyPollMs: v['key-poll'],
    ...(v['event-queue-url']
      ? {
          eventQueue: {
            url: v['event-queue-url'],
            ...(v['event-queue-region'] ? { region: v['event-queue-region'] } : {}),
          },
        }
      : {}),
    healthAddress: v['health-address'],
    metricsAddress: v['metrics-address'],
    leaderElection: {
      enabled: v['leader-elect'],
      namespace: v['leader-election-namespace'],
      name: v['leader-election-name'],
      ...lease,
    },
    defaultRegion: v.region,
    clusterName: v['cluster-name'],
    log,
    policyPreflight: keyPolicyPreflight,
    memorySaver: v['memory-saver'] as MemorySaverMode,
    memoryTargetBytes: v['memory-target'],
    ...(tenancy ? { tenancy } : {}),
  });
  log.info(
    { identity: operator.identity, health: operator.health.healthUrl, metrics: operator.health.metricsUrl },
    'cmk-operator started',
  );
  const outcome = await Promise.race([
    new Promise<'signal'>((resolve) => {
      process.once('SIGTERM', () => resolve('signal'));
      process.once('SIGINT', () => resolve('signal'));
    }),
    operator.lostLeadership.then(() => 'lost' as const),
  ]);
  await operator.stop();
  return outcome === 'lost' ? 1 : 0;
}
