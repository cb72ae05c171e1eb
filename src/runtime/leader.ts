// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm and defaults
// (lease 15 s, renew deadline 10 s, retry period 2 s).
//
// Guarantees:
// - Two candidates never both win: every acquisition or renewal is a create or a PUT carrying the
//   resourceVersion that was read, so of two concurrent writers one gets 409 and loses the round.
// - A lease held by someone else is taken over only after it was seen unchanged for its whole
//   leaseDurationSeconds on our own clock (no trust in other machines' clocks), or at once when its
//   holder is empty (released). A candidate's next try is scheduled for that expiry when it comes
//   before the next jittered retry, so a takeover after a crash takes at most leaseDuration plus one
//   jittered retry period (the delay before the dead holder's last renewal was first seen) plus the
//   Lease round trips.
// - Leadership ends, and the term's AbortSignal aborts, the moment any of these happens: the renew
//   deadline passes without a successful renewal (a timer, so a hanging request cannot delay it;
//   `isLeader()` also checks the clock), a renewal finds another holder, or `stop()` is called.
//   Acting code takes `signal()` (or the one passed to onStartedLeading) and stops when it aborts.
// - stop() aborts the term first, then releases the lease (empty holder, 1 s duration) so another
//   replica takes over at once; it never releases a lease someone else holds.
// - After losing leadership the elector stops campaigning (client-go's RunOrDie), because what it
//   started is usually one-shot: the process should exit and be restarted. With `reelect: true` it
//   campaigns again; onStartedLeading then runs once per term, each term with a fresh signal, and
//   onStoppedLeading once when that term ends.
// Never sleeps or times anything except through the injected clock.

import type { Logger } from 'pino';
import { type Clock, microTime, sleep, systemClock } from './clock.ts';
import { isConflict, isNotFound, type KubeClient, type KubeObject, resourceTypes } from './kube.ts';
import { silentLogger } from './log.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Unique per process: pod name plus a random suffix. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Campaign again after losing leadership (default false: one term per elector). */
  reelect?: boolean;
  onStartedLeading?(signal: AbortSignal): void;
  onStoppedLeading?(reason: string): void;
  /** Called when the observed holder changes (including to ourselves). */
  onNewLeader?(identity: string): void;
}

export interface LeaderElectionDeps {
  kube: Pick<KubeClient, 'get' | 'create' | 'replace'>;
  clock?: Clock;
  log?: Logger;
  random?: () => number;
}

export interface LeaderElector {
  /** Starts campaigning (idempotent). */
  start(): void;
  isLeader(): boolean;
  /** The current term's signal; an aborted signal when not leading. */
  signal(): AbortSignal;
  /** The holder last observed on the lease ('' when released or unknown). */
  leader(): string;
  /** Stops campaigning, ends the term and releases the lease if we hold it. */
  stop(): Promise<void>;
}

export function createLeaderElector(options: LeaderElectionOptions, deps: LeaderElectionDeps): LeaderElector {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const log = (deps.log ?? silentLogger()).child({ component: 'leader-election', lease: options.name });
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs * 1.2)) {
    throw new Error('leader election needs leaseDuration > renewDeadline > 1.2 * retryPeriod');
  }
  const attemptTimeoutMs = Math.min(renewDeadlineMs, Math.max(retryPeriodMs, renewDeadlineMs / 2));
  const ref = { namespace: options.namespace, name: options.name };

  let campaign: Promise<void> | undefined;
  const stopping = new AbortController();
  let term: AbortController | undefined; // set while leading
  let lastRenewAt = 0;
  let deadlineTimer: unknown;
  let heldLease: Lease | undefined; // our last successful write
  let observedRecord = '';
  let observedAt = 0;
  let observedDurationMs = leaseDurationMs;
  let observedHolder = '';
  const notLeading = AbortSignal.abort(new Error('not leading'));

  function observe(lease: Lease, now: number): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([
      spec.holderIdentity,
      spec.renewTime,
      spec.acquireTime,
      spec.leaseTransitions,
    ]);
    if (record !== observedRecord) {
      observedRecord = record;
      observedAt = now;
      observedDurationMs = (spec.leaseDurationSeconds ?? leaseDurationMs / 1000) * 1000;
    }
    const holder = spec.holderIdentity ?? '';
    if (holder !== observedHolder) {
      observedHolder = holder;
      if (holder) {
        log.info({ holder }, 'new leader observed');
        options.onNewLeader?.(holder);
      }
    }
  }

  function leaseSpec(previous: LeaseSpec | undefined, now: number): LeaseSpec {
    const ours = previous?.holderIdentity === options.identity;
    return {
      holderIdentity: options.identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: ours && previous?.acquireTime ? previous.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: ours ? (previous?.leaseTransitions ?? 0) : (previous?.leaseTransitions ?? -1) + 1,
    };
  }

  /** One round: 'ok' (we hold it now), 'held' (someone else validly holds it) or 'failed'. */
  async function tryAcquireOrRenew(now: number): Promise<'ok' | 'held' | 'failed'> {
    const timeout = new AbortController();
    const timer = clock.setTimeout(
      () => timeout.abort(new Error(`lease request timed out after ${attemptTimeoutMs} ms`)),
      attemptTimeoutMs,
    );
    try {
      return await acquireOrRenew(now, AbortSignal.any([stopping.signal, timeout.signal]));
    } finally {
      clock.clearTimeout(timer);
    }
  }

  async function acquireOrRenew(now: number, attempt: AbortSignal): Promise<'ok' | 'held' | 'failed'> {
    let lease: Lease;
    try {
      lease = await deps.kube.get<Lease>(resourceTypes.lease, ref, { signal: attempt });
    } catch (error) {
      if (!isNotFound(error)) {
        log.debug({ err: error }, 'could not read lease');
        return 'failed';
      }
      try {
        heldLease = await deps.kube.create<Lease>(
          resourceTypes.lease,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { ...ref },
            spec: leaseSpec(undefined, now),
          },
          { signal: attempt },
        );
        observe(heldLease, now);
        return 'ok';
      } catch (createError) {
        log.debug({ err: createError }, 'could not create lease');
        return 'failed';
      }
    }
    observe(lease, now);
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder && holder !== options.identity && observedAt + observedDurationMs > now) return 'held';
    try {
      heldLease = await deps.kube.replace<Lease>(
        resourceTypes.lease,
        { ...lease, spec: leaseSpec(lease.spec, now) },
        { signal: attempt },
      );
      observe(heldLease, now);
      return 'ok';
    } catch (error) {
      log.debug({ err: error, conflict: isConflict(error) }, 'could not update lease');
      return 'failed';
    }
  }

  function armDeadline(): void {
    clock.clearTimeout(deadlineTimer);
    const remaining = lastRenewAt + renewDeadlineMs - clock.now();
    deadlineTimer = clock.setTimeout(() => loseLeadership('renew deadline passed'), remaining);
  }

  function becomeLeader(renewedAt: number): void {
    term = new AbortController();
    lastRenewAt = renewedAt;
    armDeadline();
    log.info({ identity: options.identity }, 'became leader');
    try {
      options.onStartedLeading?.(term.signal);
    } catch (error) {
      log.error({ err: error }, 'onStartedLeading threw');
    }
  }

  function loseLeadership(reason: string): void {
    if (!term) return;
    const ended = term;
    term = undefined;
    clock.clearTimeout(deadlineTimer);
    ended.abort(new Error(`leadership lost: ${reason}`));
    log.warn({ reason }, 'stopped leading');
    if (!options.reelect && !stopping.signal.aborted) stopping.abort(new Error(`leadership lost: ${reason}`));
    try {
      options.onStoppedLeading?.(reason);
    } catch (error) {
      log.error({ err: error }, 'onStoppedLeading threw');
    }
  }

  function isLeader(): boolean {
    if (term && clock.now() - lastRenewAt >= renewDeadlineMs) loseLeadership('renew deadline passed');
    return term !== undefined;
  }

  /**
   * Candidates retry with client-go's jitter (factor 1.2). A lease someone else holds is tried
   * again no later than the moment it expires on our clock (observedAt + its duration): polling
   * blindly would add up to another jittered period to every takeover after a crash.
   */
  function candidateWaitMs(outcome: 'ok' | 'held' | 'failed'): number {
    const jittered = retryPeriodMs * (1 + 1.2 * random());
    if (outcome !== 'held') return jittered;
    return Math.max(0, Math.min(jittered, observedAt + observedDurationMs - clock.now()));
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      const startedAt = clock.now();
      const outcome = await tryAcquireOrRenew(startedAt);
      if (stopping.signal.aborted) break;
      if (term) {
        if (outcome === 'ok' && isLeader()) {
          lastRenewAt = startedAt;
          armDeadline();
        } else if (outcome === 'held') {
          loseLeadership(`lease taken by ${observedHolder}`);
        }
      } else if (outcome === 'ok') {
        becomeLeader(startedAt);
      }
      // The leader renews on the period; candidates wait as candidateWaitMs says.
      const waitMs = term ? retryPeriodMs : candidateWaitMs(outcome);
      try {
        await sleep(clock, waitMs, stopping.signal);
      } catch {
        break;
      }
    }
  }

  async function release(): Promise<void> {
    if (!heldLease) return;
    try {
      // Read again: a renewal aborted by stop() may have landed after all (new resourceVersion).
      const lease = await deps.kube.get<Lease>(resourceTypes.lease, ref);
      if (lease.spec?.holderIdentity !== options.identity) return;
      const now = clock.now();
      await deps.kube.replace<Lease>(resourceTypes.lease, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: microTime(now),
          renewTime: microTime(now),
        },
      });
      log.info('lease released');
    } catch (error) {
      // A conflict means someone else wrote the lease since: it is not ours to release.
      log.warn({ err: error }, 'could not release lease');
    }
  }

  return {
    start() {
      campaign ??= run();
    },
    isLeader,
    signal: () => (isLeader() && term ? term.signal : notLeading),
    leader: () => observedHolder,
    async stop() {
      const wasLeading = term !== undefined;
      stopping.abort(new Error('leader election stopped'));
      loseLeadership('stopping');
      await campaign;
      if (wasLeading) await release();
    },
  };
}
