// The floor: what a perfect operator could achieve for a bench scenario, given the AWS per-call
// latency, the request quotas, the transition durations, the Keyspaces DDL concurrency limit, the
// operator's configured concurrency and the API server's write latency. Pure: numbers in, numbers
// and an explanation out. bench/README.md explains every term; test/unit/bench-floor.test.ts
// checks the arithmetic.
//
// A perfect operator still has to: read every workload once (it cannot know AWS state otherwise),
// check each key once (pre-flight), claim ownership once per resource (the cmk.io/owner tag the
// operator's contract requires), make exactly one mutation per workload that must change, look
// once more after an asynchronous change ends, and write each status once. It overlaps everything
// that can overlap, polls at the exact moment a transition ends, and never gets throttled.

export type Scenario = 'initial' | 'switch' | 'rotation' | 'steady';
export type WorkloadService = 'kinesisanalytics' | 'cassandra' | 'emr-serverless';

export const scenarios: readonly Scenario[] = ['initial', 'switch', 'rotation', 'steady'];

export interface Quota {
  ratePerSecond: number;
  burst: number;
}

/** `service.Operation` as the emulator's call log names them (service = SigV4 signing name). */
export type OperationName = string;

export interface FloorInput {
  scenario: Scenario;
  workloads: Record<WorkloadService, number>;
  /** KmsKey objects (AWS keys) in the fleet. */
  keys: number;
  /** Regions the fleet spans; the workloads and keys are spread evenly. */
  regions: number;
  /** Mean added latency of one AWS call, ms. */
  latencyMs: number;
  /** Concurrent reconciles per controller (the operator's --concurrency). */
  concurrency: number;
  /**
   * Per-Region quotas the emulator enforces, by `service.Operation`: one bucket per Region, as AWS
   * keeps them, so the busiest Region's share of the calls sets the time.
   */
  quotas: Record<OperationName, Quota>;
  /** Upper end of each transition's duration, ms. */
  transitionsMs: { flinkUpdating: number; keyspacesUpdating: number; kmsRotation: number };
  /** Keyspaces: DDL operations in flight per Region (AWS: 50). */
  keyspacesDdlPerRegion: number;
  /** Median latency of one API-server write, ms (measured by the bench). */
  apiWriteMs: number;
  /** Steady state only: the operator's resync period and how many periods are measured. */
  resyncMs?: number;
  periods?: number;
}

export interface FloorTerm {
  name: string;
  ms: number;
  explanation: string;
}

export interface Floor {
  scenario: Scenario;
  /** Minimal time to converge, ms (steady state: the measured window, which nothing can shorten). */
  timeMs: number;
  /** The term that sets timeMs. */
  bound: string;
  terms: FloorTerm[];
  /** Minimal AWS calls, by `service.Operation`. */
  minCalls: Record<OperationName, number>;
  minCallsTotal: number;
  /** Minimal KMS calls (they cost money). */
  minKmsCalls: number;
}

interface ServicePlan {
  /** Calls per workload, by operation. */
  perWorkload: Record<string, number>;
  /** Calls that hold a reconcile worker before the transition (read + mutate, or read only). */
  synchronousCalls: number;
  /** Asynchronous change whose end must be awaited (and confirmed by one more read). */
  transitionMs: number;
}

/** The read that tells a workload's state, per service. */
export const stateRead: Record<WorkloadService, string> = {
  kinesisanalytics: 'DescribeApplication',
  cassandra: 'GetTable',
  'emr-serverless': 'GetApplication',
};
const mutation: Record<WorkloadService, string> = {
  kinesisanalytics: 'UpdateApplication',
  cassandra: 'UpdateTable',
  'emr-serverless': 'UpdateApplication',
};

function servicePlan(scenario: Scenario, service: WorkloadService, input: FloorInput): ServicePlan {
  const read = stateRead[service];
  switch (scenario) {
    case 'initial': {
      // Read the state; read the tags where the read does not return them (EMR's GetApplication
      // does); tag once to claim ownership. Nothing transitions.
      const perWorkload: Record<string, number> = { [read]: 1, TagResource: 1 };
      if (service !== 'emr-serverless') perWorkload['ListTagsForResource'] = 1;
      return { perWorkload, synchronousCalls: service === 'emr-serverless' ? 2 : 3, transitionMs: 0 };
    }
    case 'switch': {
      // Read, mutate, then one read when the transition ends (EMR's update is synchronous).
      if (service === 'emr-serverless')
        return { perWorkload: { [read]: 1, [mutation[service]]: 1 }, synchronousCalls: 2, transitionMs: 0 };
      return {
        perWorkload: { [read]: 2, [mutation[service]]: 1 },
        synchronousCalls: 2,
        transitionMs:
          service === 'cassandra' ? input.transitionsMs.keyspacesUpdating : input.transitionsMs.flinkUpdating,
      };
    }
    case 'rotation':
      // Stopped Flink applications, Keyspaces tables and EMR applications pick up new material
      // without any call: the work is on the keys alone.
      return { perWorkload: {}, synchronousCalls: 0, transitionMs: 0 };
    case 'steady':
      // One read per resync period tells that nothing changed; for Managed Flink and EMR Serverless,
      // one listing of the Region per period does (versions, MSF-027; update times, EMR-014: below).
      if (service !== 'cassandra') return { perWorkload: {}, synchronousCalls: 0, transitionMs: 0 };
      return { perWorkload: { [read]: input.periods ?? 1 }, synchronousCalls: 0, transitionMs: 0 };
  }
}

/** Per-key KMS calls a perfect operator makes in a scenario. */
function keyCalls(scenario: Scenario, input: FloorInput): Record<string, number> {
  switch (scenario) {
    case 'initial':
      // Pre-flight (state, spec, policy) and the rotation status the KmsKey reports.
      return { DescribeKey: 1, GetKeyPolicy: 1, GetKeyRotationStatus: 1 };
    case 'switch':
      // Pre-flight of the key being moved to; each key is some workloads' new key.
      return { DescribeKey: 1, GetKeyPolicy: 1 };
    case 'rotation':
      // Rotate, then confirm it completed and read the new current material.
      return { RotateKeyOnDemand: 1, ListKeyRotations: 1, DescribeKey: 1 };
    case 'steady':
      // Notice a key disabled or rotated out of band: one description per key per period.
      return { DescribeKey: input.periods ?? 1 };
  }
}

/** Seconds to push `calls` through a token bucket, beyond what the burst absorbs. */
export function quotaSeconds(calls: number, quota: Quota | undefined): number {
  if (!quota || calls <= quota.burst) return 0;
  return (calls - quota.burst) / quota.ratePerSecond;
}

const services: readonly WorkloadService[] = ['kinesisanalytics', 'cassandra', 'emr-serverless'];

export function floor(input: FloorInput): Floor {
  const L = input.latencyMs;
  const C = Math.max(1, input.concurrency);
  const minCalls: Record<string, number> = {};
  const add = (op: string, n: number) => {
    if (n > 0) minCalls[op] = (minCalls[op] ?? 0) + n;
  };
  for (const [op, n] of Object.entries(keyCalls(input.scenario, input))) add(`kms.${op}`, n * input.keys);
  const plans = new Map<WorkloadService, ServicePlan>();
  for (const s of services) {
    const plan = servicePlan(input.scenario, s, input);
    plans.set(s, plan);
    for (const [op, n] of Object.entries(plan.perWorkload)) add(`${s}.${op}`, n * input.workloads[s]);
  }
  for (const s of ['kinesisanalytics', 'emr-serverless'] as const) {
    if (input.scenario !== 'steady' || input.workloads[s] === 0) continue;
    // Applications at rest: one ListApplications round (50 a page) per Region and period.
    const perRegion = Math.ceil(input.workloads[s] / Math.max(1, input.regions));
    add(
      `${s}.ListApplications`,
      Math.max(1, input.regions) * Math.ceil(perRegion / 50) * (input.periods ?? 1),
    );
  }
  const minCallsTotal = Object.values(minCalls).reduce((a, b) => a + b, 0);
  const minKmsCalls = Object.entries(minCalls)
    .filter(([op]) => op.startsWith('kms.'))
    .reduce((a, [, n]) => a + n, 0);
  const terms: FloorTerm[] = [];
  // Calls spread evenly over the Regions: the busiest Region has the rounded-up share.
  const regions = Math.max(1, input.regions);
  const inBusiestRegion = (op: string) => Math.ceil((minCalls[op] ?? 0) / regions);
  const quotaBound = (prefix: string) => {
    let worst = 0;
    let which = '';
    for (const op of Object.keys(minCalls)) {
      if (!op.startsWith(prefix)) continue;
      const s = quotaSeconds(inBusiestRegion(op), input.quotas[op]) * 1000;
      if (s > worst) {
        worst = s;
        which = op;
      }
    }
    return { ms: worst, op: which };
  };
  const quotaExplanation = (op: string) =>
    `${inBusiestRegion(op)} ${op} calls in each Region (${minCalls[op]} over ${regions}) at ${input.quotas[op]?.ratePerSecond}/s beyond a burst of ${input.quotas[op]?.burst}`;

  if (input.scenario === 'steady') {
    const window = (input.resyncMs ?? 0) * (input.periods ?? 1);
    terms.push({
      name: 'window',
      ms: window,
      explanation: `${input.periods ?? 1} resync period(s) of ${input.resyncMs ?? 0} ms: the measured window; nothing converges, the figure of merit is calls and writes per workload per period`,
    });
    return {
      scenario: input.scenario,
      timeMs: window,
      bound: 'window',
      terms,
      minCalls,
      minCallsTotal,
      minKmsCalls,
    };
  }

  // Key work that must precede the workloads: one round trip (reads of one key run in parallel).
  const keyOps = keyCalls(input.scenario, input);
  const keyQuota = quotaBound('kms.');
  let keyPath = 0;
  if (input.scenario === 'rotation') {
    // Rotate (one call), wait for the rotation to finish, then one round of confirming reads.
    keyPath = L + input.transitionsMs.kmsRotation + L;
    terms.push({
      name: 'rotation',
      ms: keyPath,
      explanation: `RotateKeyOnDemand (${L} ms) + rotation transition (${input.transitionsMs.kmsRotation} ms) + one confirming read round (${L} ms)`,
    });
  } else if (Object.keys(keyOps).length > 0) {
    keyPath = L;
    terms.push({
      name: 'key pre-flight',
      ms: keyPath,
      explanation: `one round of key reads (${Object.keys(keyOps).join(', ')}) in parallel before the first workload can be judged: ${L} ms`,
    });
  }
  if (keyQuota.ms > 0)
    terms.push({
      name: 'KMS quota',
      ms: keyQuota.ms,
      explanation: quotaExplanation(keyQuota.op),
    });

  let workloadPath = 0;
  let bound = input.scenario === 'rotation' ? 'rotation' : 'key pre-flight';
  for (const s of services) {
    const plan = plans.get(s)!;
    const n = input.workloads[s];
    if (n === 0 || plan.synchronousCalls === 0) continue;
    // Workers: each workload holds one of C workers for its synchronous calls; the wait for the
    // transition does not hold a worker (a perfect operator requeues) but the confirming read does.
    const occupancy = plan.synchronousCalls + (plan.transitionMs > 0 ? 1 : 0);
    const workers = Math.ceil(n / C) * occupancy * L;
    const quota = quotaBound(`${s}.`);
    const issue = Math.max(workers, quota.ms);
    const tail = plan.transitionMs > 0 ? plan.transitionMs + L : 0;
    let total = issue + tail;
    terms.push({
      name: `${s} workers`,
      ms: workers,
      explanation: `ceil(${n} / ${C} workers) x ${occupancy} calls x ${L} ms`,
    });
    if (quota.ms > 0)
      terms.push({
        name: `${s} quota`,
        ms: quota.ms,
        explanation: quotaExplanation(quota.op),
      });
    if (tail > 0)
      terms.push({
        name: `${s} transition`,
        ms: tail,
        explanation: `the last change still transitions (${plan.transitionMs} ms) and is confirmed by one read (${L} ms)`,
      });
    if (s === 'cassandra' && plan.transitionMs > 0) {
      // At most `ddl` tables per Region transition at once: waves of UpdateTable.
      const perRegion = Math.ceil(n / Math.max(1, input.regions));
      const waves = Math.ceil(perRegion / Math.max(1, input.keyspacesDdlPerRegion));
      const ddl = waves * plan.transitionMs + L;
      terms.push({
        name: 'cassandra DDL concurrency',
        ms: ddl,
        explanation: `${perRegion} tables per Region, ${input.keyspacesDdlPerRegion} DDL in flight: ${waves} wave(s) x ${plan.transitionMs} ms + one read`,
      });
      total = Math.max(total, ddl);
    }
    if (total > workloadPath) {
      workloadPath = total;
      bound = s;
    }
  }
  const statusWrite = input.apiWriteMs;
  terms.push({
    name: 'status write',
    ms: statusWrite,
    explanation: `the last object's status write to the API server (median measured write: ${statusWrite} ms)`,
  });
  const timeMs = Math.max(keyPath, keyQuota.ms) + workloadPath + statusWrite;
  return { scenario: input.scenario, timeMs, bound, terms, minCalls, minCallsTotal, minKmsCalls };
}

/**
 * AWS's published per-Region request quotas for the operations the operator calls (KMS), and the
 * values this bench chooses where AWS publishes none (MSF, Keyspaces and EMR Serverless control
 * planes): see bench/README.md. Rates are per second; burst = what a bucket holds.
 */
export const perRegionQuotas: Record<OperationName, Quota & { source: 'AWS' | 'chosen' }> = {
  'kms.DescribeKey': { ratePerSecond: 2000, burst: 2000, source: 'AWS' },
  'kms.GetKeyPolicy': { ratePerSecond: 1000, burst: 1000, source: 'AWS' },
  'kms.GetKeyRotationStatus': { ratePerSecond: 1000, burst: 1000, source: 'AWS' },
  'kms.ListKeyRotations': { ratePerSecond: 100, burst: 100, source: 'AWS' },
  'kms.ListGrants': { ratePerSecond: 100, burst: 100, source: 'AWS' },
  'kms.ListAliases': { ratePerSecond: 500, burst: 500, source: 'AWS' },
  'kms.ListResourceTags': { ratePerSecond: 100, burst: 100, source: 'chosen' },
  'kms.RotateKeyOnDemand': { ratePerSecond: 5, burst: 5, source: 'AWS' },
  'kms.EnableKeyRotation': { ratePerSecond: 15, burst: 15, source: 'AWS' },
  'kms.DisableKeyRotation': { ratePerSecond: 5, burst: 5, source: 'AWS' },
  'kms.CreateGrant': { ratePerSecond: 50, burst: 50, source: 'AWS' },
  'kinesisanalytics.DescribeApplication': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'kinesisanalytics.ListApplicationOperations': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'kinesisanalytics.DescribeApplicationOperation': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'kinesisanalytics.ListTagsForResource': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'kinesisanalytics.UpdateApplication': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'kinesisanalytics.StartApplication': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'kinesisanalytics.StopApplication': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'kinesisanalytics.TagResource': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'cassandra.GetTable': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'cassandra.ListTagsForResource': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'cassandra.UpdateTable': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'cassandra.TagResource': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'emr-serverless.GetApplication': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'emr-serverless.ListTagsForResource': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'emr-serverless.ListJobRuns': { ratePerSecond: 20, burst: 40, source: 'chosen' },
  'emr-serverless.UpdateApplication': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'emr-serverless.StartApplication': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'emr-serverless.StopApplication': { ratePerSecond: 5, burst: 10, source: 'chosen' },
  'emr-serverless.TagResource': { ratePerSecond: 5, burst: 10, source: 'chosen' },
};

/** The quotas as the emulator's fault rules take them (one token bucket per account and Region). */
export function regionQuotas(): Record<OperationName, Quota> {
  return Object.fromEntries(
    Object.entries(perRegionQuotas).map(([op, q]) => [
      op,
      { ratePerSecond: q.ratePerSecond, burst: q.burst },
    ]),
  );
}
