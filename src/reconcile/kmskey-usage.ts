// Who uses a KmsKey's key, for the deletion guard and status.usage: the key's users beyond the
// references (any namespace, any way of naming the key, other KmsKeys declaring it), which KmsKey
// holds the authority to delete the key, and what AWS shows on it (the inventory; read again before
// a deletion).

import { isDeepStrictEqual } from 'node:util';
import type { KmsKeyStatus } from '../api/kmskey.ts';
import type { KeyReferencingObject, KmsKeyObject } from '../api/resources.ts';
import type { InventoryGap } from '../keys/inventory.ts';
import { declarationsOf, deletionAuthority, deletionClaimOf, type KeyUse } from '../keys/key-usage.ts';
import { asJson } from '../runtime/status.ts';
import {
  type KmsKeyReconcilerDeps,
  type KmsKeyObservationSet as Observation,
  targetOf,
} from './kmskey-observe.ts';

/**
 * The key's other users (those not already counted as references) and, when this object asks for
 * the key's deletion, whether another KmsKey object holds that authority.
 */
export function keyClaims(
  deps: KmsKeyReconcilerDeps,
  object: KmsKeyObject,
  arn: string | undefined,
  referencing: KeyReferencingObject[],
  uses: KeyUse[],
): Pick<Observation, 'uses' | 'authorityHeldBy'> {
  if (!arn) return { uses: [] };
  const referenced = new Set(
    referencing.map((r) => `${r.kind ?? 'Workload'} ${r.metadata.namespace}/${r.metadata.name}`),
  );
  const declarations = deps.declarationsOf?.(arn) ?? [];
  const others = [
    ...uses.filter((u) => !referenced.has(`${u.kind} ${u.namespace}/${u.name}`)),
    ...declarationsOf(declarations, arn, object),
  ];
  const mine = deletionClaimOf(object);
  if (!mine) return { uses: others };
  const claims = [
    mine,
    ...declarations.flatMap((k) => (sameObject(k, object) ? [] : (deletionClaimOf(k) ?? []))),
  ];
  const holder = deletionAuthority(claims);
  return {
    uses: others,
    ...(holder && holder !== mine
      ? { authorityHeldBy: { namespace: holder.namespace, name: holder.name } }
      : {}),
  };
}

const sameObject = (a: KmsKeyObject, b: KmsKeyObject) =>
  a.metadata.namespace === b.metadata.namespace && a.metadata.name === b.metadata.name;

/** An AWS user of the key as the plan and the status see it. */
export interface AwsUse {
  service: string;
  what: string;
  resourceArn: string;
  /** The object of this cluster that manages the resource (`Kind namespace/name`); unmanaged when absent. */
  managedBy?: string;
}

export function awsUses(
  deps: KmsKeyReconcilerDeps,
  users: Array<Pick<AwsUse, 'service' | 'what' | 'resourceArn'>>,
): AwsUse[] {
  return users.map((u) => {
    const managedBy = deps.managerOf?.(u.resourceArn);
    return {
      service: u.service,
      what: u.what,
      resourceArn: u.resourceArn,
      ...(managedBy ? { managedBy } : {}),
    };
  });
}

/**
 * A fresh look at AWS before a deletion: an inventory pass of the key's Region (one that started
 * after this call, or at most `maxAgeMs` before it) and the key's grants, read now.
 */
export async function checkAws(
  deps: KmsKeyReconcilerDeps,
  object: KmsKeyObject,
  o: Observation,
  signal: AbortSignal,
  maxAgeMs?: number,
): Promise<Observation['aws']> {
  const inventory = deps.inventory;
  const arn = o.observed.kind === 'found' ? o.observed.key.arn : object.status?.keyArn;
  if (!inventory || !arn) return { ...o.aws, checked: true };
  const target = targetOf(deps, object);
  try {
    await inventory.refresh(target, signal, maxAgeMs !== undefined ? { maxAgeMs } : {});
    const resources = inventory.usersOf(target, arn) ?? [];
    // Grants name a table; a table already seen on the key is not listed twice. A grant whose
    // table is gone protects its backups (KS-015).
    const tables = new Set(resources.map((r) => r.resourceArn));
    const grants = (await inventory.grants(target, arn, signal)).filter(
      (g) => !tables.has(g.resourceArn.split(' ')[0] ?? ''),
    );
    const at = inventory.lastPass(target);
    const gaps = inventory.gaps(target);
    return {
      users: awsUses(deps, [...resources, ...grants]),
      ...(at !== undefined ? { at } : {}),
      checked: true,
      ...(gaps.length > 0 ? { unknown: unreadable(gaps, target.region), unread: gaps } : {}),
    };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return { ...o.aws, checked: true, unknown: `AWS could not be asked who uses the key (${reason})` };
  }
}

/**
 * What an inventory pass could not read, as the reason a deletion waits: a user of the key may be
 * behind it.
 */
export function unreadable(gaps: InventoryGap[], region: string): string {
  const [first] = gaps;
  const more = gaps.length > 1 ? ` and ${gaps.length - 1} more` : '';
  return `possibly whatever the key inventory could not read in ${region} (${first?.where}: ${first?.reason}${more}; allow the operator's role that read)`;
}

/** `status.usage`: who uses the key, from Kubernetes and from AWS. */
export function usageOf(o: Observation): NonNullable<KmsKeyStatus['usage']> {
  const unmanaged = o.aws.users.filter((u) => !u.managedBy);
  return {
    kubernetes: o.referencing.length + o.uses.length,
    aws: o.aws.users.length,
    unmanaged: unmanaged.length,
    ...(o.aws.at !== undefined ? { lastInventoryTime: new Date(o.aws.at).toISOString() } : {}),
    ...(o.aws.unread?.length
      ? {
          unread: o.aws.unread
            .slice(0, 10)
            .map((g) => ({ where: g.where.slice(0, 512), reason: g.reason.slice(0, 1024) })),
        }
      : {}),
    ...(unmanaged.length > 0
      ? {
          unmanagedUsers: unmanaged
            .slice(0, 10)
            .map((u) => ({ service: u.service, what: u.what, resourceArn: u.resourceArn.slice(0, 2048) })),
        }
      : {}),
  };
}

/** How far `status.usage.lastInventoryTime` may stand behind the inventory when nothing else moved. */
export const inventoryTimeRefreshMs = 60 * 60_000;

/**
 * The wait of a KmsKey status change that is only a later inventory pass (nothing else in the
 * status moved: users, counts, grants, progress, conditions): until the stored time is `refreshMs`
 * old. Without it a settled key's status would be written at every pass of its Region's inventory,
 * so a settled fleet would never stop writing. Undefined when anything else moved (the paced
 * fields' own pacing applies), or when there is no stored time yet (the first is written at once).
 */
export function inventoryTimeWait(
  stored: KmsKeyStatus,
  next: KmsKeyStatus,
  now: number,
  refreshMs: number = inventoryTimeRefreshMs,
): number | undefined {
  // Compared as the status writer compares: the new status as JSON would carry it.
  const before = asJson(stored);
  const after = asJson(next);
  const storedTime = before.usage?.lastInventoryTime;
  const nextTime = after.usage?.lastInventoryTime;
  if (storedTime === undefined || nextTime === undefined || storedTime === nextTime) return undefined;
  // The whole status but the time, so no field (paced or not, today's or a later one) moves with it.
  const withoutTime = (s: KmsKeyStatus) => ({ ...s, usage: { ...s.usage, lastInventoryTime: undefined } });
  if (!isDeepStrictEqual(withoutTime(before), withoutTime(after))) return undefined;
  const storedAt = Date.parse(storedTime);
  if (Number.isNaN(storedAt)) return undefined;
  // A stored time ahead of this process's clock waits at most one refresh.
  return Math.min(refreshMs, Math.max(0, storedAt + refreshMs - now));
}
