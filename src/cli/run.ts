// `cmk-operator run`: the operator itself. Kubernetes from --kubeconfig, $KUBECONFIG or the in-cluster
// service account; AWS from the SDK's default credential chain and standard settings (AWS_REGION,
// AWS_ENDPOINT_URL...). Exits 0 after SIGTERM/SIGINT, 1 when leadership is lost (to be restarted).

import { parseArgs } from 'node:util';
import { keyPolicyPreflight } from '../keys/preflight.ts';
import { loadTenancyRules, type TenancyRules } from '../keys/tenancy.ts';
import { startOperator } from '../operator.ts';
import { createLogger } from '../runtime/log.ts';

const help = `usage: cmk-operator run [options]

  --kubeconfig PATH            kubeconfig (default: $KUBECONFIG, then in-cluster)
  --namespaces a,b             namespaces to watch (default: all)
  --selector SELECTOR          reconcile only cmk.io objects with matching labels, e.g.
                               cmk.io/shard=a (sharding: give each shard its own Lease name)
  --concurrency N              concurrent reconciles per controller (default 4)
  --resync DURATION            look again after success, e.g. 10m, 30s (default 10m)
  --health-address ADDR        /healthz and /readyz (default :8081)
  --metrics-address ADDR       /metrics (default :8080)
  --leader-elect BOOL          use a Lease so only one replica acts (default true)
  --leader-election-namespace  namespace of the Lease (default $POD_NAMESPACE or default)
  --leader-election-name NAME  Lease name (default cmk-operator)
  --lease-duration DURATION    how long a lease lasts without renewal (default 15s)
  --renew-deadline DURATION    the leader gives up if it cannot renew within this (default 10s)
  --retry-period DURATION      how often candidates try and the leader renews (default 2s)
  --region REGION              Region for objects without spec.region (default $AWS_REGION)
  --cluster-name NAME          names this cluster in AWS ownership tags (default cluster)
  --log-level LEVEL            fatal|error|warn|info|debug|trace (default info, or $LOG_LEVEL)
  --tenancy-config FILE        per-namespace allowed key and resource ARN patterns (YAML)
`;

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration: use e.g. 500ms, 30s, 10m, 1h`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * factor;
}

export async function runCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        kubeconfig: { type: 'string' },
        namespaces: { type: 'string' },
        selector: { type: 'string' },
        concurrency: { type: 'string' },
        resync: { type: 'string' },
        'health-address': { type: 'string' },
        'metrics-address': { type: 'string' },
        'leader-elect': { type: 'string' },
        'leader-election-namespace': { type: 'string' },
        'leader-election-name': { type: 'string' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        region: { type: 'string' },
        'cluster-name': { type: 'string' },
        'log-level': { type: 'string' },
        'tenancy-config': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${help}`);
    return 2;
  }
  if (values['help']) {
    process.stdout.write(help);
    return 0;
  }
  const str = (k: string) => values[k] as string | undefined;
  const region = str('region') ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'];
  if (!region) {
    process.stderr.write('no AWS Region: pass --region or set AWS_REGION\n');
    return 2;
  }
  const concurrency = Number(str('concurrency') ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    process.stderr.write('--concurrency must be an integer from 1 to 256\n');
    return 2;
  }
  let resyncMs: number;
  try {
    resyncMs = parseDuration(str('resync') ?? '10m');
  } catch (e) {
    process.stderr.write(`--resync: ${(e as Error).message}\n`);
    return 2;
  }
  const leaseTiming: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number } = {};
  for (const [flag, field] of [
    ['lease-duration', 'leaseDurationMs'],
    ['renew-deadline', 'renewDeadlineMs'],
    ['retry-period', 'retryPeriodMs'],
  ] as const) {
    const text = str(flag);
    if (text === undefined) continue;
    try {
      leaseTiming[field] = parseDuration(text);
    } catch (e) {
      process.stderr.write(`--${flag}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const lease = {
    leaseDurationMs: leaseTiming.leaseDurationMs ?? 15_000,
    renewDeadlineMs: leaseTiming.renewDeadlineMs ?? 10_000,
    retryPeriodMs: leaseTiming.retryPeriodMs ?? 2_000,
  };
  if (!(lease.leaseDurationMs > lease.renewDeadlineMs && lease.renewDeadlineMs > lease.retryPeriodMs * 1.2)) {
    process.stderr.write(
      '--lease-duration must exceed --renew-deadline, which must exceed 1.2 x --retry-period\n',
    );
    return 2;
  }
  let tenancy: TenancyRules | undefined;
  if (str('tenancy-config')) {
    try {
      tenancy = loadTenancyRules(str('tenancy-config')!);
    } catch (e) {
      process.stderr.write(`--tenancy-config: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const log = createLogger({
    ...(str('log-level') ? { level: str('log-level') } : {}),
    base: { component: 'cmk-operator' },
  });
  const operator = await startOperator({
    ...(str('kubeconfig') ? { kubeconfig: str('kubeconfig') } : {}),
    namespaces: (str('namespaces') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    ...(str('selector') ? { labelSelector: str('selector') } : {}),
    concurrency,
    resyncMs,
    healthAddress: str('health-address') ?? ':8081',
    metricsAddress: str('metrics-address') ?? ':8080',
    leaderElection: {
      enabled: (str('leader-elect') ?? 'true') !== 'false',
      namespace: str('leader-election-namespace') ?? process.env['POD_NAMESPACE'] ?? 'default',
      name: str('leader-election-name') ?? 'cmk-operator',
      ...lease,
    },
    defaultRegion: region,
    clusterName: str('cluster-name') ?? 'cluster',
    log,
    policyPreflight: keyPolicyPreflight,
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
