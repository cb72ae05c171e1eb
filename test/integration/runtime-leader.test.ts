// Leader election on a real coordination.k8s.io/v1 Lease, two candidates in one process with
// short timings: one leads, a release hands over at once, a stolen lease aborts the old leader's
// signal, and a takeover of a lease whose holder vanished waits out the lease duration.

import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKubeClient, type KubeClient, loadKubeConfig, resourceTypes } from '../../src/runtime/kube.ts';
import { createLeaderElector, type LeaderElector, type Lease } from '../../src/runtime/leader.ts';
import { createNamespace, eventually, uniqueName } from './support/cluster.ts';

let kube: KubeClient;
let ns: string;
const electors: LeaderElector[] = [];

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig(inject('kubeconfigPath')));
  ns = await createNamespace('runtime-leader');
});

afterEach(async () => {
  for (const e of electors.splice(0)) await e.stop();
});

const timings = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 400 };

function candidate(lease: string, identity: string, overrides: Partial<typeof timings> = {}) {
  const terms: AbortSignal[] = [];
  const stopped: string[] = [];
  const elector = createLeaderElector(
    {
      namespace: ns,
      name: lease,
      identity,
      ...timings,
      ...overrides,
      onStartedLeading: (signal) => terms.push(signal),
      onStoppedLeading: (reason) => stopped.push(reason),
    },
    { kube },
  );
  electors.push(elector);
  return { elector, terms, stopped, identity };
}

const readLease = (name: string) => kube.get<Lease>(resourceTypes.lease, { namespace: ns, name });

describe('leader election', () => {
  it('of two candidates exactly one leads, and the lease names it', async () => {
    const lease = uniqueName('lease');
    const a = candidate(lease, 'a');
    const b = candidate(lease, 'b');
    a.elector.start();
    b.elector.start();
    const leader = await eventually(async () => [a, b].find((c) => c.elector.isLeader()), {
      what: 'a leader',
    });
    const follower = leader === a ? b : a;
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 200));
      expect(leader.elector.isLeader()).toBe(true);
      expect(follower.elector.isLeader()).toBe(false);
    }
    expect(follower.elector.leader()).toBe(leader.identity);
    const stored = await readLease(lease);
    expect(stored.spec).toMatchObject({ holderIdentity: leader.identity, leaseDurationSeconds: 3 });
    expect(leader.terms).toHaveLength(1);
    expect(follower.terms).toHaveLength(0);
  });

  it('release on stop hands over at once (well within the lease duration)', async () => {
    const lease = uniqueName('lease');
    // A long lease and the usual short retry period: a handover that waited out the lease would take
    // 15 s, one that did not a retry period or two, which leaves a loaded machine room in between.
    const long = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000 };
    const a = candidate(lease, 'a', long);
    a.elector.start();
    await eventually(async () => (a.elector.isLeader() ? true : undefined));
    const b = candidate(lease, 'b', long);
    b.elector.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(b.elector.isLeader()).toBe(false);

    const releasedAt = Date.now();
    await a.elector.stop();
    expect(a.terms[0]!.aborted).toBe(true);
    // Released: no holder, or already b, whose retry may come between the release and this read.
    expect(['', 'b']).toContain((await readLease(lease)).spec?.holderIdentity);
    await eventually(async () => (b.elector.isLeader() ? true : undefined), { intervalMs: 20 });
    expect(Date.now() - releasedAt).toBeLessThan(long.leaseDurationMs);
    const stored = await readLease(lease);
    expect(stored.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1, leaseDurationSeconds: 15 });
  });

  it('a leader whose lease is stolen aborts its signal at its next renewal', async () => {
    const lease = uniqueName('lease');
    const a = candidate(lease, 'a');
    a.elector.start();
    await eventually(async () => (a.elector.isLeader() ? true : undefined));
    const term = a.terms[0]!;
    let abortedAt: number | undefined;
    term.addEventListener('abort', () => {
      abortedAt = Date.now();
    });

    const current = await readLease(lease);
    const stolenAt = Date.now();
    await kube.replace<Lease>(resourceTypes.lease, {
      ...current,
      spec: {
        ...current.spec,
        holderIdentity: 'thief',
        renewTime: new Date().toISOString().replace('Z', '000Z'),
      },
    });
    await eventually(async () => (term.aborted ? true : undefined), { intervalMs: 20 });
    expect(abortedAt! - stolenAt).toBeLessThanOrEqual(timings.retryPeriodMs + 500);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stopped).toEqual(['lease taken by thief']);
    // It never writes over the thief while the thief's lease is valid.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await readLease(lease)).spec?.holderIdentity).toBe('thief');
  });

  it('takes over a lease whose holder vanished only after the lease duration', async () => {
    const lease = uniqueName('lease');
    const now = new Date().toISOString().replace('Z', '000Z');
    await kube.create<Lease>(resourceTypes.lease, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: lease, namespace: ns },
      spec: {
        holderIdentity: 'crashed-pod',
        leaseDurationSeconds: 3,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 4,
      },
    });
    const b = candidate(lease, 'b');
    const startedAt = Date.now();
    b.elector.start();
    await eventually(async () => (b.elector.isLeader() ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(3_000);
    expect((await readLease(lease)).spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 5 });
  });
});
