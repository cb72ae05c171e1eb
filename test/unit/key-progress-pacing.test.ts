// A KmsKey's progress counts during a long move of its users (src/reconcile/key-progress.ts,
// progressWait): the start and the end show at once, what lies between at most every 15 s, so a
// fleet switch does not cost the API server a key write every few seconds per key.

import { Check } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { KmsKeyStatus } from '../../src/api/kmskey.ts';
import type { KeyReferencingObject } from '../../src/api/resources.ts';
import {
  pendingListed,
  progressWait,
  progressWriteIntervalMs,
  workloadProgress,
} from '../../src/reconcile/key-progress.ts';
import { inventoryTimeRefreshMs, inventoryTimeWait } from '../../src/reconcile/kmskey-usage.ts';

const progress = (total: number, onKey: number, onCurrentMaterial = onKey) => ({
  total,
  onKey,
  onCurrentMaterial,
  summary: `${onCurrentMaterial}/${total}`,
});

describe('progressWait', () => {
  it('holds a count moving between the start and the end until the interval since the last write', () => {
    expect(progressWait(progress(100, 10), progress(100, 40), 4_000)).toBe(progressWriteIntervalMs - 4_000);
    expect(progressWait(progress(100, 10), progress(100, 40), progressWriteIntervalMs)).toBe(0);
    // A rotation's restarts: on the key all along, the current material catching up.
    expect(progressWait(progress(100, 100, 20), progress(100, 100, 30), 1_000)).toBe(
      progressWriteIntervalMs - 1_000,
    );
  });

  it('writes the end of a move at once', () => {
    expect(progressWait(progress(100, 99), progress(100, 100), 1)).toBe(0);
  });

  it('writes the start of a move at once', () => {
    expect(progressWait(progress(100, 100), progress(100, 97), 1)).toBe(0);
  });

  it('paces a key its users are leaving: no one references it, and its usage counts fall', () => {
    // 0 of 0 is no move of its own: without this rule the old key of a fleet switch wrote its
    // usage every 5 s all through the switch (63 writes per key at 10,000 workloads).
    expect(progressWait(progress(0, 0), progress(0, 0), 4_000)).toBe(progressWriteIntervalMs - 4_000);
  });

  it('paces other counts while the progress stands still mid-move', () => {
    expect(progressWait(progress(100, 40), progress(100, 40), 4_000)).toBe(progressWriteIntervalMs - 4_000);
  });

  it('paces users joining and leaving while a move is under way or none is', () => {
    // A fleet switch edits the specs over minutes: the new key's users arrive, the old key's leave.
    expect(progressWait(progress(100, 40), progress(130, 40), 1_000)).toBe(progressWriteIntervalMs - 1_000);
    expect(progressWait(progress(100, 100), progress(70, 70), 1_000)).toBe(progressWriteIntervalMs - 1_000);
  });

  it('writes the last user leaving the key at once', () => {
    expect(progressWait(progress(30, 30), progress(0, 0), 1)).toBe(0);
  });

  it('writes a new user not yet on the key at once: a move starts', () => {
    expect(progressWait(progress(100, 100), progress(101, 100), 1)).toBe(0);
  });

  it('writes the first progress, and any after this process has not written the key', () => {
    expect(progressWait(undefined, progress(100, 40), 1)).toBe(0);
    expect(progressWait(progress(100, 10), progress(100, 40), Number.POSITIVE_INFINITY)).toBe(0);
  });
});

describe('inventoryTimeWait: a later inventory pass that found the same users', () => {
  const t0 = Date.parse('2026-12-07T10:00:00.000Z');
  const at = (ms: number) => new Date(t0 + ms).toISOString();
  const status = (inventoryAtMs: number, aws = 2, workloads = progress(3, 3)): KmsKeyStatus => ({
    keyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k',
    workloads,
    usage: { kubernetes: 3, aws, unmanaged: 0, lastInventoryTime: at(inventoryAtMs) },
  });

  it('holds the new pass time alone until the stored one is an hour old: a settled key is not rewritten at every pass', () => {
    expect(inventoryTimeWait(status(0), status(30_000), t0 + 30_000)).toBe(inventoryTimeRefreshMs - 30_000);
    expect(inventoryTimeWait(status(0), status(50 * 60_000), t0 + 50 * 60_000)).toBe(10 * 60_000);
    expect(inventoryTimeWait(status(0), status(inventoryTimeRefreshMs), t0 + inventoryTimeRefreshMs)).toBe(0);
  });

  it('leaves the pass time to the other pacing when anything else moved with it', () => {
    // AWS shows another user: written (with the new time) as usage changes are.
    expect(inventoryTimeWait(status(0), status(30_000, 3), t0 + 30_000)).toBeUndefined();
    // Progress moved: the move's own pacing decides.
    expect(inventoryTimeWait(status(0), status(30_000, 2, progress(3, 2)), t0 + 30_000)).toBeUndefined();
    const unread: KmsKeyStatus = {
      ...status(30_000),
      usage: { ...status(30_000).usage!, unread: [{ where: 'ListTables', reason: 'AccessDenied' }] },
    };
    expect(inventoryTimeWait(status(0), unread, t0 + 30_000)).toBeUndefined();
    // Any other field of the status, too.
    const disabled: KmsKeyStatus = { ...status(30_000), keyState: 'Disabled' };
    expect(inventoryTimeWait(status(0), disabled, t0 + 30_000)).toBeUndefined();
  });

  it('writes the first pass time at once, and a status whose time did not move is not its business', () => {
    const first = status(30_000);
    const none: KmsKeyStatus = { ...first, usage: { kubernetes: 3, aws: 2, unmanaged: 0 } };
    expect(inventoryTimeWait(none, first, t0 + 30_000)).toBeUndefined();
    expect(inventoryTimeWait(first, first, t0 + 30_000)).toBeUndefined();
  });

  it('waits at most one refresh when the stored time is ahead of the clock', () => {
    expect(inventoryTimeWait(status(10 * 60_000), status(20 * 60_000), t0)).toBe(inventoryTimeRefreshMs);
  });
});

describe('workloadProgress: who is not done yet', () => {
  const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const other = 'arn:aws:kms:eu-west-1:111122223333:key/0000abcd-12ab-34cd-56ef-1234567890ab';
  const workload = (name: string, on: string, generation: number, readyAt: number, reason: string) =>
    ({
      kind: 'KeyspacesTable',
      metadata: { namespace: 'team-a', name, generation },
      spec: {},
      status: {
        current: { keyArn: on },
        conditions: [
          { type: 'Ready', status: 'False', reason, message: 'AWS is updating', observedGeneration: readyAt },
        ],
      },
    }) as unknown as KeyReferencingObject;

  it('names the first 20 by kind, namespace and name, and counts them all', () => {
    const users = Array.from({ length: 300 }, (_, k) =>
      workload(`t${String((k * 7) % 300).padStart(3, '0')}`, k % 3 === 0 ? keyArn : other, 1, 1, 'Switching'),
    );
    const p = workloadProgress(users, keyArn);
    expect(p).toMatchObject({ total: 300, onKey: 100, onCurrentMaterial: 100, summary: '100/300' });
    expect(p.pending).toHaveLength(pendingListed);
    const notDone = users.filter((_, k) => k % 3 !== 0).map((u) => u.metadata.name);
    expect(p.pending!.map((w) => w.name)).toEqual(notDone.sort().slice(0, pendingListed));
    expect(Check(KmsKeyStatus.properties.workloads, p)).toBe(true);
  });

  it('says a workload whose Ready condition predates its spec has not been looked at since', () => {
    // Right after a switch is applied the old Ready condition still says the workload is done.
    const p = workloadProgress(
      [workload('fresh', other, 3, 3, 'Switching'), workload('stale', other, 4, 3, 'OnDesiredKey')],
      keyArn,
    );
    expect(p.pending).toEqual([
      { kind: 'KeyspacesTable', namespace: 'team-a', name: 'fresh', reason: 'Switching: AWS is updating' },
      {
        kind: 'KeyspacesTable',
        namespace: 'team-a',
        name: 'stale',
        reason: 'SpecChanged: generation 4 is not reconciled yet',
      },
    ]);
  });
});
