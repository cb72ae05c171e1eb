// Fault injection, per service and operation: latency, throttling, server errors, a chosen error
// code, and request-rate quotas as token buckets, one per account and Region (the way AWS enforces
// its per-operation quotas: a Region's calls never use another Region's budget).
// Decisions draw from the world's seeded PRNG, so a seed reproduces a run. Latency and quotas are in
// real time: they exist to shape load, not to model AWS's logical clock.

import { AwsError, commonErrors } from './protocol.ts';
import type { Random } from './random.ts';

export interface FaultRule {
  /** Service signing name (`kms`, `kinesisanalytics`, `cassandra`, `emr-serverless`, `sts`) or `*`. */
  service?: string;
  /** Operation name (`DescribeKey`, `UpdateApplication`...) or `*`. */
  operation?: string;
  /** Added latency: uniform in [min, max] ms. */
  latencyMs?: { min: number; max: number };
  /** Probability of a ThrottlingException. */
  throttleRate?: number;
  /** Probability of a 5xx (InternalFailure 500 or ServiceUnavailable 503, alternating by draw). */
  serverErrorRate?: number;
  /** A specific error to inject with a probability. */
  error?: { code: string; status?: number; message?: string; rate: number };
  /**
   * Token bucket: at most `ratePerSecond` sustained, `burst` at once; excess calls are throttled.
   * One bucket per account and Region, as AWS keeps them.
   */
  quota?: { ratePerSecond: number; burst?: number };
  /** Stop applying after this many injected faults (latency does not count). */
  limit?: number;
}

export interface QuotaScope {
  accountId: string;
  region: string;
}

export interface FaultDecision {
  delayMs: number;
  error?: AwsError;
}

export interface FaultInjector {
  rules(): FaultRule[];
  set(rules: FaultRule[]): void;
  add(rule: FaultRule): void;
  clear(): void;
  /** `scope` (the caller's account and the request's Region) picks a quota's bucket. */
  decide(service: string, operation: string, scope?: QuotaScope): FaultDecision;
  /** Faults injected so far, by `service.operation.code`. */
  counts(): Record<string, number>;
}

interface Bucket {
  tokens: number;
  last: number;
}

export function createFaultInjector(
  random: Random,
  now: () => number = () => performance.now(),
): FaultInjector {
  let rules: FaultRule[] = [];
  const used = new Map<FaultRule, number>();
  const buckets = new Map<string, Bucket>();
  const counts: Record<string, number> = {};
  const matches = (r: FaultRule, service: string, operation: string) =>
    (r.service === undefined || r.service === '*' || r.service === service) &&
    (r.operation === undefined || r.operation === '*' || r.operation === operation);
  const count = (service: string, operation: string, code: string) => {
    const k = `${service}.${operation}.${code}`;
    counts[k] = (counts[k] ?? 0) + 1;
  };

  return {
    rules: () => rules,
    set(next) {
      rules = [...next];
      used.clear();
      buckets.clear();
    },
    add(rule) {
      rules.push(rule);
    },
    clear() {
      rules = [];
      used.clear();
      buckets.clear();
    },
    counts: () => ({ ...counts }),
    decide(service, operation, scope) {
      let delayMs = 0;
      for (const rule of rules) {
        if (!matches(rule, service, operation)) continue;
        if (rule.latencyMs) delayMs += random.int(rule.latencyMs.min, rule.latencyMs.max);
        if (rule.limit !== undefined && (used.get(rule) ?? 0) >= rule.limit) continue;
        let error: AwsError | undefined;
        if (rule.quota) {
          const key = `${rules.indexOf(rule)}:${service}.${operation}:${scope?.accountId ?? ''}:${scope?.region ?? ''}`;
          const burst = rule.quota.burst ?? Math.max(1, rule.quota.ratePerSecond);
          const t = now();
          const b = buckets.get(key) ?? { tokens: burst, last: t };
          b.tokens = Math.min(burst, b.tokens + ((t - b.last) / 1000) * rule.quota.ratePerSecond);
          b.last = t;
          if (b.tokens >= 1) b.tokens -= 1;
          else error = commonErrors.throttling('Rate exceeded');
          buckets.set(key, b);
        }
        if (!error && rule.throttleRate && random.next() < rule.throttleRate) {
          error = commonErrors.throttling('Rate exceeded');
        }
        if (!error && rule.serverErrorRate && random.next() < rule.serverErrorRate) {
          error = random.next() < 0.5 ? commonErrors.internal() : commonErrors.unavailable();
        }
        if (!error && rule.error && random.next() < rule.error.rate) {
          error = new AwsError(
            rule.error.code,
            rule.error.message ?? `Injected ${rule.error.code}`,
            rule.error.status ?? 400,
          );
        }
        if (error) {
          used.set(rule, (used.get(rule) ?? 0) + 1);
          count(service, operation, error.code);
          return { delayMs, error };
        }
      }
      return { delayMs };
    },
  };
}
