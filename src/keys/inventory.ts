// The key usage inventory, from AWS: a periodic, bounded scan of the accounts and Regions the
// operator serves (src/aws/inventory.ts), indexed by resolved key ARN. Each pass is incremental
// (resources AWS lists with an unchanged version are not read again) and every `fullEvery`-th pass
// reads everything. Calls are paced by a token bucket (`callsPerSecond`), so a scan never takes the
// request quota the reconciles need. A resource a workload reconcile has just read is taken from
// that read (src/aws/recent-reads.ts): in an account the operator manages, a pass costs mostly its
// listings.
//
// What it cannot see: IAM principals that may call the key directly, services other than Managed
// Flink, Keyspaces and EMR Serverless, accounts and Regions no KmsKey or workload names, and anything created after the last pass (a deletion decision asks for a fresh
// pass of the key's Region first: `refresh`).

import type { Logger } from 'pino';
import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { type AwsKeyUser, grantUsers, type ScanResult, scanKeyUsers } from '../aws/inventory.ts';
import type { RecentReads } from '../aws/recent-reads.ts';
import { pause, systemClock } from '../runtime/clock.ts';
import type { KeyReads } from './key-cache.ts';

/** An AWS user of a key, resolved to the key's ARN, with where and when it was seen. */
export interface InventoryUser extends AwsKeyUser {
  keyArn: string;
  region: string;
  /** When the pass that saw it ended (ms since the epoch). */
  seenAt: number;
}

export interface KeyInventoryOptions {
  /** Between passes over a target. */
  periodMs: number;
  /** Every n-th pass reads every resource, not only changed ones. Default 6. */
  fullEvery?: number;
  /** AWS calls per second the scan may make, over all targets. Default 5. */
  callsPerSecond?: number;
  /**
   * A periodic pass takes a resource's key from a workload reconcile's read at most this old when
   * the pass starts (`deps.recentReads`; default 60 s, two resyncs at the default period). A pass
   * asked for by `refresh` takes only reads that began after the request.
   */
  sharedReadMaxAgeMs?: number;
  /** The accounts and Regions to scan (the ones the operator's objects name). */
  targets(): AwsTarget[];
}

export interface KeyInventoryDeps {
  aws: AwsClients;
  keys: KeyReads;
  /** The workload reconciles' reads of the resources (src/aws/recent-reads.ts), shared with the passes. */
  recentReads?: Pick<RecentReads, 'since'>;
  log: Logger;
  now(): number;
  /** Waits `ms`; with a signal, ends early (resolves) when it aborts, also when it already has. */
  sleep?(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface KeyInventory {
  /**
   * Scans every target every period until `signal` aborts. The returned promise settles when the
   * loop has ended: at once after an abort, also one that comes during a pass (no period's wait is
   * left behind to hold the process open).
   */
  start(signal: AbortSignal): Promise<void>;
  /** The AWS users of a key from the last pass over `target`; undefined before the first pass. */
  usersOf(target: AwsTarget, keyArn: string): InventoryUser[] | undefined;
  /**
   * A pass over `target` that starts after this call, e.g. before a key's deletion; with
   * `maxAgeMs`, the last pass is enough when it started at most that long ago.
   */
  refresh(target: AwsTarget, signal?: AbortSignal, options?: { maxAgeMs?: number }): Promise<void>;
  /** The service grants on a key, read now. */
  grants(target: AwsTarget, keyArn: string, signal?: AbortSignal): Promise<InventoryUser[]>;
  /** When the last pass over `target` ended, if any. */
  lastPass(target: AwsTarget): number | undefined;
  /**
   * What the last pass over `target` could not read (a listing or a resource, with AWS's words):
   * who uses a key there is unknown, so nothing may rest on the pass having seen no user.
   */
  gaps(target: AwsTarget): InventoryGap[];
}

/** A listing or resource a pass could not read. */
export interface InventoryGap {
  where: string;
  reason: string;
}

const targetKey = (t: AwsTarget) => `${t.region}|${t.roleArn ?? ''}`;

/** Whether `ref` is already a key ARN (not a key id, an alias name or an alias ARN). */
export function isKeyArn(ref: string): boolean {
  return /^arn:aws[a-z-]*:kms:[^:]+:\d{12}:key\/.+$/.test(ref);
}

/** Indexes scan results by key ARN, resolving key ids and aliases through `resolve`. */
export async function indexByKey(
  users: AwsKeyUser[],
  region: string,
  seenAt: number,
  resolve: (ref: string) => Promise<string | undefined>,
): Promise<Map<string, InventoryUser[]>> {
  const byKey = new Map<string, InventoryUser[]>();
  for (const u of users) {
    const keyArn = isKeyArn(u.keyRef) ? u.keyRef : ((await resolve(u.keyRef)) ?? u.keyRef);
    const list = byKey.get(keyArn) ?? [];
    list.push({ ...u, keyArn, region, seenAt });
    byKey.set(keyArn, list);
  }
  return byKey;
}

/**
 * A token bucket of one call slot every 1/callsPerSecond seconds: each call of the returned `pace`
 * reserves the next free slot and resolves when it comes. Shared by every caller holding it, so one
 * budget covers a whole scan whatever runs concurrently (the inventory; `kubectl cmk import`). With
 * a signal, the wait ends early when it aborts (`sleep` is given it): the caller checks the signal.
 */
export function createPacer(
  callsPerSecond: number,
  now: () => number,
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
): (signal?: AbortSignal) => Promise<void> {
  const intervalMs = 1000 / Math.max(0.1, callsPerSecond);
  let nextSlot = 0;
  return async (signal) => {
    const t = now();
    const at = Math.max(t, nextSlot);
    nextSlot = at + intervalMs;
    if (at > t) await sleep(at - t, signal);
  };
}

export function createKeyInventory(deps: KeyInventoryDeps, options: KeyInventoryOptions): KeyInventory {
  const fullEvery = Math.max(1, options.fullEvery ?? 6);
  const sharedReadMaxAgeMs = Math.max(0, options.sharedReadMaxAgeMs ?? 60_000);
  const sleep = deps.sleep ?? ((ms: number, signal?: AbortSignal) => pause(systemClock, ms, signal));
  const state = new Map<
    string,
    {
      byKey: Map<string, InventoryUser[]>;
      at?: number;
      /**
       * When the last completed pass started, or when the oldest workload read it took began if
       * that was earlier: nothing it reported is older.
       */
      startedAt?: number;
      passes: number;
      gaps: InventoryGap[];
      seen: Map<string, { version: string; users: AwsKeyUser[] }>;
      running?: Promise<void>;
      queued?: Promise<void>;
      /**
       * The queued pass takes workload reads that began at or after this (the latest request time of
       * the `refresh` callers waiting for it), and never older than sharedReadMaxAgeMs at its start.
       */
      queuedReadsSince?: number;
    }
  >();
  /** One call slot of the shared token bucket. */
  const pace = createPacer(options.callsPerSecond ?? 5, deps.now, sleep);
  const stateOf = (t: AwsTarget) => {
    let s = state.get(targetKey(t));
    if (!s) {
      s = { byKey: new Map(), passes: 0, gaps: [], seen: new Map() };
      state.set(targetKey(t), s);
    }
    return s;
  };

  async function pass(target: AwsTarget, readsSince: number, signal?: AbortSignal): Promise<void> {
    const s = stateOf(target);
    const full = s.passes % fullEvery === 0;
    const started = deps.now();
    // A pass that fails or is stopped records nothing: its callers (refresh) see the failure, and a
    // partial listing never stands as what AWS shows.
    const result: ScanResult = await scanKeyUsers(deps.aws, target, {
      pace,
      ...(signal ? { signal } : {}),
      seen: s.seen,
      full,
      ...(deps.recentReads ? { recent: { reads: deps.recentReads, readsSince } } : {}),
    }).catch((e: unknown) => {
      if (signal?.aborted)
        throw new Error('the key inventory pass was stopped before it finished', { cause: e });
      throw e;
    });
    const resolve = async (ref: string) =>
      (await deps.keys.describe(target, ref).catch(() => undefined))?.arn;
    s.byKey = await indexByKey(result.users, target.region, deps.now(), resolve);
    s.at = deps.now();
    s.startedAt = Math.min(started, result.oldestSharedRead ?? started);
    s.passes += 1;
    s.gaps = result.skipped;
    deps.log.info(
      {
        region: target.region,
        roleArn: target.roleArn,
        full,
        calls: result.calls,
        shared: result.shared,
        users: result.users.length,
        skipped: result.skipped.length,
        seconds: (s.at - started) / 1000,
      },
      'key inventory pass',
    );
    for (const skip of result.skipped.slice(0, 10))
      deps.log.warn(
        { region: target.region, where: skip.where, reason: skip.reason },
        'key inventory skipped',
      );
  }

  /**
   * A pass that starts after this call: one running now may have read a resource before it
   * changed, so the new pass waits for it; callers while it waits share it. It takes workload
   * reads at most sharedReadMaxAgeMs old when it starts, and with `readsSince` (a caller's request
   * time) only reads that began at or after it.
   */
  function queuePass(
    target: AwsTarget,
    readsSince: number | undefined,
    signal?: AbortSignal,
    options: { maxAgeMs?: number } = {},
  ): Promise<void> {
    const s = stateOf(target);
    const strictest = (a: number | undefined, b: number | undefined) =>
      a === undefined ? b : b === undefined ? a : Math.max(a, b);
    if (s.queued) {
      s.queuedReadsSince = strictest(s.queuedReadsSince, readsSince);
      return s.queued;
    }
    if (
      options.maxAgeMs !== undefined &&
      s.startedAt !== undefined &&
      deps.now() - s.startedAt <= options.maxAgeMs
    )
      return Promise.resolve();
    // The new pass starts once the running one has ended, however that one ended.
    const after = s.running?.catch(() => undefined) ?? Promise.resolve();
    s.queuedReadsSince = readsSince;
    const queued = after.then(() => {
      s.queued = undefined;
      const since = strictest(s.queuedReadsSince, deps.now() - sharedReadMaxAgeMs)!;
      s.queuedReadsSince = undefined;
      const running: Promise<void> = pass(target, since, signal).finally(() => {
        if (s.running === running) s.running = undefined;
      });
      s.running = running;
      return running;
    });
    s.queued = queued;
    return queued;
  }

  return {
    async start(signal) {
      while (!signal.aborted) {
        for (const t of options.targets()) {
          if (signal.aborted) break;
          await queuePass(t, undefined, signal).catch((e: unknown) => {
            if (!signal.aborted)
              deps.log.warn(
                { err: e, region: t.region },
                'key inventory pass failed; the next period tries again',
              );
          });
        }
        await sleep(options.periodMs, signal);
      }
    },
    usersOf(target, keyArn) {
      const s = state.get(targetKey(target));
      if (s?.at === undefined) return undefined;
      return s.byKey.get(keyArn) ?? [];
    },
    refresh: (target, signal, refreshOptions) => queuePass(target, deps.now(), signal, refreshOptions),
    async grants(target, keyArn, signal) {
      const users = await grantUsers(deps.aws, target, keyArn, { pace, ...(signal ? { signal } : {}) });
      const at = deps.now();
      return users.map((u) => ({ ...u, keyArn, region: target.region, seenAt: at }));
    },
    lastPass: (target) => state.get(targetKey(target))?.at,
    gaps: (target) => state.get(targetKey(target))?.gaps ?? [],
  };
}
