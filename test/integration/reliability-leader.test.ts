// Leader failover, measured: two operator processes on one Lease with the operator's default timings
// (lease 15 s, renew deadline 10 s, retry period 2 s, passed explicitly); the leader is killed (-9)
// while a key switch is in flight, three times, alternating which replica leads. Each failover is
// timed from the kill to the standby's 'became leader' line, and the suite checks that there were
// never two writers: every AWS mutation (by access key) falls inside its process's term, the terms
// never overlap, the standby reconciled nothing while standing by, and no status changed while
// nobody led.
//
// What bounds a takeover: the standby trusts only its own clock, so it takes over once it has seen
// the same Lease record for a whole lease duration. It sees the dead leader's last renewal on its
// first poll after the kill at the latest (polls are retryPeriod x [1, 2.2] apart), so
//   takeover <= leaseDuration + 2.2 x retryPeriod + (one Lease round trip)
// and, from the other side, it never starts before the last renewTime + leaseDuration.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EmulatorAdmin, emulatorAdmin } from '../../emulator/client.ts';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { recordFigures } from '../support/figures.ts';
import { adminIdentity, createNamespace, eventually } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';
import { expectStatusInvariants } from './support/invariants.ts';
import {
  createObject,
  type FleetWorkload,
  isMutatingCall,
  leadershipTerm,
  listObjects,
  patchSpec,
  type Replica,
  type ReplicaOptions,
  readLease,
  seedKeys,
  seedWorkload,
  settledOn,
  startReplica,
  stopAllReplicas,
  type WorkloadKindName,
  type WorkloadObject,
  workloadPlurals,
} from './support/replica.ts';

const lease = { durationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
const failovers = 3;
/**
 * Request round trips and a loaded machine's scheduling delays on top of the algorithm's bound: a
 * host that steals a third of the CPU delayed a takeover by over 2 s. Still well short of what a
 * standby that waited for a second lease duration, or polled at twice its period, would take.
 */
const slackMs = 5_000;

let ns: string;
let emulator: RunningEmulator;
let admin: EmulatorAdmin;
let keys: { a: string; b: string };
const workloads: FleetWorkload[] = [];

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('failover');
  emulator = await startEmulator({ config: { transitions: { default: { min: 200, max: 400 } } } });
  admin = emulatorAdmin(emulator.url);
  keys = seedKeys(emulator);
  const kinds: WorkloadKindName[] = ['FlinkApplication', 'KeyspacesTable', 'EmrServerlessApplication'];
  for (let i = 0; i < 9; i++) {
    const kind = kinds[i % 3]!;
    workloads.push(seedWorkload(emulator, kind, `w${i}`, i, { keyArn: keys.a }));
  }
});

afterAll(async () => {
  await stopAllReplicas();
  await emulator?.close();
});

function replica(name: string, accessKeyId: string): Replica {
  const options: ReplicaOptions = {
    name,
    accessKeyId,
    kubeconfig: inject('kubeconfigPath'),
    awsEndpoint: emulator.url,
    namespaces: [ns],
    leaseNamespace: ns,
    resync: '2s',
    lease: {
      duration: `${lease.durationMs / 1000}s`,
      renewDeadline: `${lease.renewDeadlineMs / 1000}s`,
      retryPeriod: `${lease.retryPeriodMs / 1000}s`,
    },
  };
  return startReplica(options);
}

async function allSettledOn(keyArn: string): Promise<true | undefined> {
  for (const kind of ['FlinkApplication', 'KeyspacesTable', 'EmrServerlessApplication'] as const) {
    const items = await listObjects(ns, kind);
    if (items.length !== 3 || !items.every((o) => settledOn(o, keyArn))) return undefined;
  }
  return true;
}

/**
 * Status changes as the apiserver shows them, by polling: each change is known to have been written
 * between the previous read of that kind (`after`) and the read that showed it (`before`).
 */
interface StatusChange {
  after: number;
  before: number;
  what: string;
}
function watchStatusChanges(): { stop(): Promise<StatusChange[]> } {
  const last = new Map<string, string>();
  const lastRead = new Map<string, number>();
  const changes: StatusChange[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const kind of [
        'FlinkApplication',
        'KeyspacesTable',
        'EmrServerlessApplication',
        'KmsKey',
      ] as const) {
        const sent = Date.now();
        const res = await adminIdentity().request(
          'GET',
          `/apis/cmk.io/v1alpha1/namespaces/${ns}/${workloadPlurals[kind]}`,
        );
        const answered = Date.now();
        if (res.status !== 200) continue;
        for (const o of (res.body as { items: WorkloadObject[] }).items) {
          const id = `${kind}/${o.metadata.name}`;
          const status = JSON.stringify(o.status ?? null);
          if (last.has(id) && last.get(id) !== status)
            changes.push({ after: lastRead.get(kind) ?? sent, before: answered, what: id });
          last.set(id, status);
        }
        lastRead.set(kind, sent);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return changes;
    },
  };
}

/** Two replicas, the first leading; the KmsKeys and the workloads, every one Ready on key A. */
async function workloadsReadyOnKeyA(all: Replica[]): Promise<{ leader: Replica; standby: Replica }> {
  const leader = replica('replica-a', 'AKIAFAILOVERA0000001');
  all.push(leader);
  await leader.waitForLine((l) => l.msg === 'became leader', 30_000);
  const standby = replica('replica-b', 'AKIAFAILOVERB0000001');
  all.push(standby);
  await standby.started;

  await createObject(ns, 'KmsKey', 'key-a', { keyId: keys.a });
  await createObject(ns, 'KmsKey', 'key-b', { keyId: keys.b });
  for (const w of workloads)
    await createObject(ns, w.kind, w.name, { ...w.ids, key: { kmsKeyRef: { name: 'key-a' } } });
  await eventually(() => allSettledOn(keys.a), {
    what: 'every workload Ready on key A',
    timeoutMs: 45_000,
  });
  return { leader, standby };
}

/**
 * `failovers` times: a switch in flight, kill -9 of the leader, the standby takes over (timed, never
 * early, never late beyond the bound), a new standby starts and the switch finishes.
 */
async function killLeaders(all: Replica[], first: { leader: Replica; standby: Replica }) {
  let { leader, standby } = first;
  const takeovers: number[] = [];
  const sinceLastRenewal: number[] = [];
  let target = keys.a;
  for (let i = 0; i < failovers; i++) {
    // A switch in flight: the next leader has to finish what this one started.
    target = target === keys.a ? keys.b : keys.a;
    for (const w of workloads)
      await patchSpec(ns, w.kind, w.name, {
        key: { kmsKeyRef: { name: target === keys.a ? 'key-a' : 'key-b' } },
      });
    await new Promise((r) => setTimeout(r, 300));
    expect(await standby.reconcileCount(), `${standby.name} reconciled while standing by`).toBe(0);

    await leader.kill('SIGKILL');
    const lastRenewal = Date.parse((await readLease(ns)).renewTime ?? '');
    const next = standby;
    await next.waitForLine(
      (l) => l.msg === 'became leader',
      lease.durationMs + 4 * lease.retryPeriodMs + 10_000,
    );
    const takeoverMs = next.leaderSince! - leader.killedAt!;
    takeovers.push(takeoverMs);
    sinceLastRenewal.push(next.leaderSince! - lastRenewal);
    console.log(
      `failover ${i + 1}: ${next.name} leads ${(takeoverMs / 1000).toFixed(2)} s after kill -9 of ${leader.name} ` +
        `(${((next.leaderSince! - lastRenewal) / 1000).toFixed(2)} s after its last renewal)`,
    );
    // Never early: the Lease the dead leader last renewed was valid until lastRenewal + leaseDuration.
    expect(next.leaderSince!).toBeGreaterThanOrEqual(lastRenewal + lease.durationMs);
    // Never late beyond what the algorithm allows (see the file's opening comment).
    expect(takeoverMs).toBeLessThanOrEqual(lease.durationMs + 2.2 * lease.retryPeriodMs + slackMs);
    expect((await readLease(ns)).holder).toBe(next.identity);

    leader = next;
    standby = replica(
      i % 2 === 0 ? `replica-a${i + 2}` : `replica-b${i + 2}`,
      `AKIAFAILOVER${i % 2 === 0 ? 'A' : 'B'}000000${i + 2}`,
    );
    all.push(standby);
    await standby.started;
    await eventually(() => allSettledOn(target), {
      what: `every workload Ready on the new key under ${leader.name}`,
      timeoutMs: 45_000,
    });
  }
  return { standby, takeovers, sinceLastRenewal };
}

type Term = { r: Replica; term: { from: number; to: number } };

/** Never two writers: the terms follow the replicas in order and never overlap. */
function expectTermsInOrder(all: Replica[]): { terms: Term[]; overlaps: number } {
  const terms = all
    .map((r) => ({ r, term: leadershipTerm(r) }))
    .filter((x): x is Term => x.term !== undefined)
    .sort((x, y) => x.term.from - y.term.from);
  expect(terms.map((t) => t.r.name)).toEqual(all.slice(0, failovers + 1).map((r) => r.name));
  const overlaps = terms.filter((t, i) => i > 0 && t.term.from <= terms[i - 1]!.term.to).length;
  expect(overlaps, 'leadership terms that overlap').toBe(0);
  return { terms, overlaps };
}

/** Every AWS mutation (by access key) falls inside its process's term; how many were checked. */
async function expectMutationsInsideTerms(all: Replica[]): Promise<{ mutations: number; outside: string[] }> {
  const calls = await admin.calls();
  const byKey = new Map(all.map((r) => [r.accessKeyId, r]));
  const outside: string[] = [];
  let mutations = 0;
  for (const c of calls) {
    const r = byKey.get(c.userIdentity.accessKeyId);
    if (!r || c.errorCode || !isMutatingCall(c.eventName)) continue;
    mutations++;
    const term = leadershipTerm(r);
    // A request already on the wire when the process died reaches the emulator a moment later.
    if (!term || c.eventTime < term.from || c.eventTime > term.to + 250)
      outside.push(`${c.eventName} by ${r.name} at ${new Date(c.eventTime).toISOString()}`);
  }
  expect(mutations).toBeGreaterThan(0);
  expect(outside, 'AWS mutations outside the caller’s leadership term').toEqual([]);
  return { mutations, outside };
}

/**
 * The apiserver's view: every status change was written while some process led (its window between
 * two reads overlaps a term).
 */
function expectStatusChangesWhileLed(statusChanges: StatusChange[], terms: Term[]): StatusChange[] {
  const leaderless = statusChanges.filter(
    (c) => !terms.some(({ term }) => c.after <= term.to && term.from <= c.before),
  );
  expect(statusChanges.length).toBeGreaterThan(0);
  expect(leaderless, 'status changes while no process led').toEqual([]);
  return leaderless;
}

function recordFailoverFigures(f: {
  started: number;
  takeovers: number[];
  sinceLastRenewal: number[];
  mutations: number;
  outside: string[];
  statusChanges: StatusChange[];
  leaderless: StatusChange[];
  overlaps: number;
}): void {
  const sorted = [...f.takeovers].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  recordFigures('leader-failover', {
    title: 'Leader failover (kill -9 of the leader, two replicas)',
    reproduce: 'npx vitest run --project integration test/integration/reliability-leader.test.ts',
    figures: [
      {
        what: 'lease duration / renew deadline / retry period',
        value: `${lease.durationMs / 1000} s / ${lease.renewDeadlineMs / 1000} s / ${lease.retryPeriodMs / 1000} s`,
      },
      { what: 'failovers', value: failovers },
      { what: 'takeover after kill -9, min', value: sorted[0]!, unit: 'ms' },
      { what: 'takeover after kill -9, median', value: median, unit: 'ms' },
      { what: 'takeover after kill -9, max', value: sorted.at(-1)!, unit: 'ms' },
      {
        what: 'bound asserted (leaseDuration + 2.2 x retryPeriod + slack)',
        value: lease.durationMs + 2.2 * lease.retryPeriodMs + slackMs,
        unit: 'ms',
      },
      {
        what: 'new term after the dead leader’s last renewal, min',
        value: Math.min(...f.sinceLastRenewal),
        unit: 'ms',
      },
      { what: 'AWS mutations checked against terms', value: f.mutations },
      { what: 'status changes checked against terms', value: f.statusChanges.length },
      { what: 'wall time', value: Math.round((Date.now() - f.started) / 1000), unit: 's' },
    ],
    lost: {
      'AWS mutations outside the leader term': f.outside.length,
      'status changes while no process led': f.leaderless.length,
      'overlapping leader terms': f.overlaps,
    },
    headline: { takeoverMs: median },
  });
}

describe('leader failover with two operator processes', () => {
  it(`kill -9 of the leader, ${failovers} times: the standby takes over within leaseDuration + 2.2 x retryPeriod, never early, and never two writers`, {
    timeout: 170_000,
  }, async () => {
    const started = Date.now();
    const all: Replica[] = [];
    const first = await workloadsReadyOnKeyA(all);
    const statusWatch = watchStatusChanges();
    const { standby, takeovers, sinceLastRenewal } = await killLeaders(all, first);
    const statusChanges = await statusWatch.stop();
    expect(await standby.reconcileCount(), `${standby.name} reconciled while standing by`).toBe(0);
    const { terms, overlaps } = expectTermsInOrder(all);
    const { mutations, outside } = await expectMutationsInsideTerms(all);
    const leaderless = expectStatusChangesWhileLed(statusChanges, terms);
    await expectStatusInvariants(ns);
    recordFailoverFigures({
      started,
      takeovers,
      sinceLastRenewal,
      mutations,
      outside,
      statusChanges,
      leaderless,
      overlaps,
    });
  });
});
