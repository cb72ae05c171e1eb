// Detection without an event queue: a key disabled or scheduled for deletion outside Kubernetes is
// noticed by the key-state poll (`--key-poll`), not at the next resync, and shows as Stalled — a
// person is needed — on the KmsKey and on the workload that depends on it, the same way for kstatus
// (Flux), the Argo CD health check and Ready. Measures and prints the detection latency.
// Real kube-apiserver + the AWS emulator over HTTP.

import {
  CancelKeyDeletionCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { healthScript, runHealth } from '../unit/support/argocd-lua.ts';
import { kstatus } from '../unit/support/kstatus.ts';
import { eventually } from './support/cluster.ts';
import { condition, useOperator } from './support/operator.ts';

const pollMs = 2000;
// The resync is far longer than the test: only the poll can notice a change in time.
const f = useOperator({ keyPollMs: pollMs, resyncMs: 30 * 60_000 });
let kms: KMSClient;
let keyArn: string;
beforeAll(async () => {
  kms = new KMSClient(f.awsConfig());
  keyArn = await f.serviceKey('poll-key');
  f.emulator.seed({ kinesisanalytics: { applications: [{ name: 'poll-app', status: 'READY' }] } });
  await f.create('FlinkApplication', 'poll-app', {
    applicationName: 'poll-app',
    key: { kmsKeyRef: { name: 'poll-key' } },
  });
  await f.waitFor('FlinkApplication', 'poll-app', condition('Ready', 'True'), 'poll-app Ready', 60_000);
}, 120_000);

const ready = condition('Ready', 'True');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('the key-state poll', () => {
  it('notices a key disabled outside Kubernetes within one poll period, and its enabling again', async () => {
    const latencies: number[] = [];
    for (let trial = 0; trial < 5; trial++) {
      const t0 = Date.now();
      await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
      await f.waitFor(
        'KmsKey',
        'poll-key',
        condition('Stalled', 'True', 'KeyDisabled'),
        'KmsKey Stalled',
        15_000,
      );
      latencies.push(Date.now() - t0);
      await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
      await f.waitFor('KmsKey', 'poll-key', ready, 'KmsKey Ready again', 15_000);
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(
      `detection without a queue (--key-poll ${pollMs / 1000}s, resync 30m): p50 ${p50} ms, p99 ${p99} ms, samples ${latencies.join(', ')} ms`,
    );
    // One poll period, plus the reconcile that writes the status.
    expect(p99).toBeLessThanOrEqual(pollMs + 1500);
  }, 120_000);

  it('a disabled key stalls the KmsKey and its workload with the fix; kstatus, Argo CD and Ready agree', async () => {
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    const key = await f.waitFor(
      'KmsKey',
      'poll-key',
      (o) => (condition('Stalled', 'True', 'KeyDisabled')(o as never) ? o : undefined),
      'KmsKey Stalled',
      15_000,
    );
    const app = await f.waitFor(
      'FlinkApplication',
      'poll-app',
      (o) => (condition('Stalled', 'True', 'KeyDisabled')(o as never) ? o : undefined),
      'FlinkApplication Stalled',
      15_000,
    );
    for (const [kind, o] of [
      ['KmsKey', key],
      ['FlinkApplication', app],
    ] as const) {
      const conds = (
        o as {
          status: { conditions: Array<{ type: string; status: string; reason: string; message: string }> };
        }
      ).status.conditions;
      const stalled = conds.find((c) => c.type === 'Stalled')!;
      expect(stalled.message, kind).toContain('enable it');
      expect(
        conds.find((c) => c.type === 'Ready'),
        kind,
      ).toMatchObject({ status: 'False', reason: 'KeyDisabled' });
      expect(conds.find((c) => c.type === 'Reconciling')?.status ?? 'False', kind).toBe('False');
      expect(kstatus(o as never).status, `${kind}: Flux (kstatus)`).toBe('Failed');
      expect(runHealth(healthScript(kind), o).status, `${kind}: Argo CD`).toBe('Degraded');
    }
    await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    await f.waitFor('KmsKey', 'poll-key', ready, 'KmsKey Ready again', 15_000);
    await f.waitFor('FlinkApplication', 'poll-app', ready, 'FlinkApplication Ready again', 30_000);
  }, 60_000);

  it('a deletion scheduled outside Kubernetes is Stalled with its date, and the date leaves status once cancelled', async () => {
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: 7 }));
    const pending = await f.waitFor(
      'KmsKey',
      'poll-key',
      (o: { status?: { deletionDate?: string } }) =>
        condition('Stalled', 'True', 'KeyPendingDeletion')(o as never) ? o : undefined,
      'KmsKey Stalled (pending deletion)',
      15_000,
    );
    expect(pending.status?.deletionDate).toBeDefined();
    await kms.send(new CancelKeyDeletionCommand({ KeyId: keyArn }));
    const cancelled = await f.waitFor(
      'KmsKey',
      'poll-key',
      (o: { status?: { keyState?: string } }) => (o.status?.keyState === 'Disabled' ? o : undefined),
      'KmsKey sees the cancel',
      15_000,
    );
    expect((cancelled.status as { deletionDate?: string }).deletionDate).toBeUndefined();
    await kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    await f.waitFor('KmsKey', 'poll-key', ready, 'KmsKey Ready again', 15_000);
  }, 60_000);
});

describe('a KmsKey whose deletion is held by its workloads', () => {
  it('still reports its key disabled outside Kubernetes (Stalled, keyState), and protection still acts', async () => {
    await f.remove('KmsKey', 'poll-key');
    await f.waitFor(
      'KmsKey',
      'poll-key',
      condition('DeletionBlocked', 'True', 'KeyInUse'),
      'deletion held',
      15_000,
    );
    await kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    const held = await f.waitFor(
      'KmsKey',
      'poll-key',
      (o: { status?: { keyState?: string } }) =>
        o.status?.keyState === 'Disabled' && condition('Stalled', 'True', 'KeyDisabled')(o as never)
          ? o
          : undefined,
      'held KmsKey reports the disabled key',
      15_000,
    );
    expect(held.status?.keyState).toBe('Disabled');
    // Protection set now, on an object being deleted: the operator enables the key again.
    const res = await f.patch('KmsKey', 'poll-key', { spec: { protection: { reenable: true } } });
    expect(res).toBeDefined();
    await f.waitFor(
      'KmsKey',
      'poll-key',
      (o: { status?: { keyState?: string } }) => (o.status?.keyState === 'Enabled' ? o : undefined),
      'protection re-enabled the key',
      15_000,
    );
    // The workload lets go; the KmsKey goes (deletionPolicy Retain keeps the key).
    await f.remove('FlinkApplication', 'poll-app');
    await eventually(async () => ((await f.get('KmsKey', 'poll-key')) === undefined ? true : undefined), {
      what: 'KmsKey released',
      timeoutMs: 30_000,
    });
  }, 90_000);
});
