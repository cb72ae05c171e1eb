// KMS key lifecycle on the emulator timeline: automatic and on-demand rotation (KMS-007..KMS-010) and
// scheduled deletion (KMS-011). Shared by the request handlers and the seed.

import type { World } from '../../core/world.ts';
import { dayMs, nextRotationAfterPeriodChange } from './rules.ts';
import type { KeyRecord, KmsStore, RotationEntry } from './state.ts';

export interface KeyLifecycle {
  rotateNow(k: KeyRecord, type: RotationEntry['type'], at: number): void;
  scheduleAutomatic(k: KeyRecord, at: number): void;
  enableRotation(k: KeyRecord, periodDays: number, now: number): void;
  disableRotation(k: KeyRecord): void;
  /** KMS-010: an automatic rotation missed while Disabled/PendingDeletion happens when the key is enabled. */
  catchUpRotation(k: KeyRecord, now: number): void;
  scheduleOnDemand(k: KeyRecord, now: number): void;
  scheduleDeletion(k: KeyRecord, windowDays: number, now: number): void;
}

export function createKeyLifecycle(world: World, store: KmsStore): KeyLifecycle {
  const life: KeyLifecycle = {
    rotateNow(k, type, at) {
      const id = store.newMaterial(k);
      k.rotations.push({ materialId: id, date: at, type });
      k.currentMaterialId = id;
      store.notify(k);
    },

    scheduleAutomatic(k, at) {
      k.rotation.event?.cancel();
      k.rotation.nextAt = at;
      k.rotation.event = world.timeline.schedule(at, `kms.rotate ${k.keyId}`, () => {
        k.rotation.event = undefined;
        if (!k.rotation.enabled || store.getKey(k.accountId, k.region, k.keyId) !== k) return;
        if (k.state !== 'Enabled') {
          // KMS-010: Disabled and PendingDeletion keys do not rotate; EnableKey catches up.
          k.rotation.missed = true;
          return;
        }
        life.rotateNow(k, 'AUTOMATIC', at);
        k.rotation.since = at;
        life.scheduleAutomatic(k, at + k.rotation.periodDays * dayMs);
      });
    },

    enableRotation(k, periodDays, now) {
      if (!k.rotation.enabled) {
        k.rotation = { enabled: true, periodDays, since: now, missed: false };
        life.scheduleAutomatic(k, now + periodDays * dayMs);
        return;
      }
      if (periodDays !== k.rotation.periodDays) {
        k.rotation.periodDays = periodDays;
        life.scheduleAutomatic(k, nextRotationAfterPeriodChange(k.rotation.since, periodDays, now));
      }
    },

    disableRotation(k) {
      k.rotation.event?.cancel();
      k.rotation = {
        enabled: false,
        periodDays: k.rotation.periodDays,
        since: k.rotation.since,
        missed: false,
      };
    },

    catchUpRotation(k, now) {
      if (!(k.rotation.enabled && k.rotation.missed)) return;
      k.rotation.missed = false;
      life.rotateNow(k, 'AUTOMATIC', now);
      k.rotation.since = now;
      life.scheduleAutomatic(k, now + k.rotation.periodDays * dayMs);
    },

    scheduleOnDemand(k, now) {
      const at = now + world.transitionMs('kms.ROTATION');
      k.onDemand = {
        startedAt: now,
        event: world.timeline.schedule(at, `kms.rotate-on-demand ${k.keyId}`, () => {
          k.onDemand = undefined;
          life.rotateNow(k, 'ON_DEMAND', at);
        }),
      };
    },

    scheduleDeletion(k, windowDays, now) {
      const date = now + windowDays * dayMs;
      k.state = 'PendingDeletion';
      k.deletion = {
        date,
        windowDays,
        event: world.timeline.schedule(date, `kms.delete ${k.keyId}`, () => store.deleteKey(k)),
      };
    },
  };
  return life;
}
