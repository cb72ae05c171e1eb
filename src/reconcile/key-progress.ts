// Who uses a KmsKey, and how far along each user is: the workload side of a key's status
// (`status.workloads`: on the key, on its current material, and why the rest are not yet). Pure.

import { createHash } from 'node:crypto';
import type { KmsKeyStatus } from '../api/kmskey.ts';
import type { KeyReferencingObject } from '../api/resources.ts';

type StatusView = {
  current?: { keyArn?: string };
  keyArn?: string;
  state?: string;
  conditions?: Array<{
    type: string;
    status: string;
    reason?: string;
    message?: string;
    observedGeneration?: number;
  }>;
};

const statusOf = (o: KeyReferencingObject) => (o.status as StatusView | undefined) ?? {};

/** Whether AWS reports the workload on `keyArn` (workloads: status.current; job runs: status.keyArn). */
export function onKey(o: KeyReferencingObject, keyArn: string | undefined): boolean {
  const s = statusOf(o);
  return keyArn !== undefined && (s.current?.keyArn === keyArn || s.keyArn === keyArn);
}

/**
 * Whether a workload on the key also runs on its current material. Only Flink's running storage
 * keeps old material (it reports MaterialCurrent); Keyspaces re-wraps and EMR disks are per job.
 */
export function onCurrentMaterial(o: KeyReferencingObject): boolean {
  const material = materialCondition(o);
  return material === undefined || material.status === 'True';
}

/** The workload's MaterialCurrent condition (only Flink reports one). */
function materialCondition(o: KeyReferencingObject) {
  return statusOf(o).conditions?.find((c) => c.type === 'MaterialCurrent');
}

/**
 * Whether a workload may still run on a key's previous material after a rotation, by its last
 * status: not when it reported it was not running (MaterialCurrent True, NotRunning: its next start
 * uses the current material). Unknown objects may.
 */
export function mayRunOnOldMaterial(o: KeyReferencingObject | undefined): boolean {
  if (!o) return true;
  const material = materialCondition(o);
  return !(material?.status === 'True' && material.reason === 'NotRunning');
}

/**
 * Why a workload is not on the key yet, in its own words (its Ready condition). A Ready condition
 * older than the spec speaks of the spec before (right after a fleet switch is applied it still
 * says the workload is on its key): the workload waits for its first look at the new spec then.
 */
export function pendingReason(o: KeyReferencingObject): string {
  const ready = statusOf(o).conditions?.find((c) => c.type === 'Ready');
  if (!ready) return 'not reconciled yet';
  const generation = o.metadata.generation;
  if (
    generation !== undefined &&
    ready.observedGeneration !== undefined &&
    ready.observedGeneration < generation
  )
    return `SpecChanged: generation ${generation} is not reconciled yet`;
  return `${ready.reason}: ${ready.message}`.slice(0, 1024);
}

/** The Keyspaces tables referencing a key and whether each is on it: a version of its grant count. */
export function tablesVersion(referencing: KeyReferencingObject[], keyArn: string): string {
  const tables = referencing
    .filter((o) => (o.kind ?? '') === 'KeyspacesTable')
    .map((o) => `${o.metadata.namespace}/${o.metadata.name}/${o.metadata.uid ?? ''}/${onKey(o, keyArn)}`)
    .sort();
  return createHash('sha256').update(tables.join('\n')).digest('hex').slice(0, 16);
}

/**
 * The first `n` of `items` by kind, namespace and name in code-point order (no locale: the same on
 * every machine, and cheap): a bounded status list that does not reorder between looks.
 */
export function firstByName<T>(
  items: readonly T[],
  name: (item: T) => { kind?: string | undefined; namespace?: string | undefined; name: string },
  n: number,
): T[] {
  return items
    .map((item) => {
      const r = name(item);
      return { item, order: `${r.kind ?? 'Workload'}/${r.namespace ?? ''}/${r.name}` };
    })
    .sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
    .slice(0, n)
    .map(({ item }) => item);
}

/**
 * How many of the workloads not done yet `status.workloads.pending` names, with their reasons: a
 * sample to start from (the counts cover them all; `kubectl cmk status` lists every workload under
 * its key). Every write of the key's status sends the list whole, every few seconds of a fleet switch.
 */
export const pendingListed = 20;

/** `status.workloads` of a KmsKey: how many referencing workloads are on the key and its current material. */
export function workloadProgress(
  referencing: KeyReferencingObject[],
  keyArn: string | undefined,
): NonNullable<KmsKeyStatus['workloads']> {
  const total = referencing.length;
  const onThisKey = referencing.filter((o) => onKey(o, keyArn));
  const upToDate = onThisKey.filter(onCurrentMaterial);
  const notDone = referencing.filter((o) => !onKey(o, keyArn) || !onCurrentMaterial(o));
  const pending = firstByName(
    notDone,
    (o) => ({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }),
    pendingListed,
  ).map((o) => ({
    kind: o.kind ?? 'Workload',
    namespace: o.metadata.namespace ?? '',
    name: o.metadata.name,
    reason: pendingReason(o),
  }));
  return {
    total,
    onKey: onThisKey.length,
    onCurrentMaterial: upToDate.length,
    summary: `${upToDate.length}/${total}`,
    ...(pending.length ? { pending } : {}),
  };
}

type Progress = NonNullable<KmsKeyStatus['workloads']>;

/**
 * While a KmsKey's users move (a fleet switch, a rotation's restarts), what moves with them
 * (status.usedBy, workloads, usage, grants) is written at most this often when nothing else changed;
 * the start and the end of a move are written at once. At 1,000 workloads on 10 keys a 45 s switch
 * wrote each key about every 5 s (0.11 API writes per workload on top of the workloads' own 3).
 */
export const progressWriteIntervalMs = 15_000;

const allThere = (p: Progress) => p.onKey === p.total && p.onCurrentMaterial === p.total;

/**
 * How long a change of the moving counts alone waits before it is written (0: now), given the
 * stored progress, the new one, and how long ago the key's status was last written.
 * Written at once: the first progress; the progress starting a move (the stored one had every
 * user on the key and its current material, the new one not) or ending one (the other way round);
 * the last user leaving the key (a person about to delete it waits for that). Everything else waits
 * out the interval: the counts of a move under way, users joining or leaving
 * a key (a fleet switch edits thousands of specs over minutes), the usage of a key being left.
 */
export function progressWait(
  stored: Progress | undefined,
  next: Progress | undefined,
  sinceWriteMs: number,
  intervalMs: number = progressWriteIntervalMs,
): number {
  if (!stored || !next) return 0;
  if (allThere(stored) !== allThere(next)) return 0;
  if (next.total === 0 && stored.total > 0) return 0;
  return Math.max(0, intervalMs - sinceWriteMs);
}
