// The observation behind the restart-after-rotation decision (materialSteps in workload-plan.ts): when
// the desired key's current material became current (KMS-024). The resource's own start time comes
// with the resource (WorkloadState.runningSince, MSF-025).
//
// Cheap by construction: read only for a running resource, on the desired key, that keeps its material
// until a restart, whose start time AWS shows, and whose recorded material is not the key's current one
// — that is, once after each rotation (and at first sight), not on every resync. The answer depends
// only on the key and its current material, so it is remembered per (target, key, material) and shared
// by every workload on the key. Never throws: a failed read is reported as unknown, with why.

import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { AwsCallError } from '../aws/errors.ts';
import { keyMaterialSince } from '../aws/key-material.ts';
import type { WorkloadCapabilities } from '../aws/workload.ts';
import type { TtlMemo } from '../runtime/ttl-memo.ts';
import type { DesiredKey, MaterialDate, WorkloadObservation, WorkloadStatusView } from './workload-plan.ts';

export interface MaterialObserveInput {
  target: AwsTarget;
  caps: WorkloadCapabilities;
  desired: DesiredKey;
  observed: WorkloadObservation;
  status: WorkloadStatusView | undefined;
}

/** The key and material to date, or undefined when the decision does not need it. */
export function materialToDate(i: MaterialObserveInput): { keyArn: string; materialId: string } | undefined {
  const { desired, observed, status } = i;
  if (!i.caps.keepsMaterialUntilRestart || desired.kind !== 'resolved') return undefined;
  const materialId = desired.currentKeyMaterialId;
  if (desired.setting.type !== 'CustomerManaged' || !materialId) return undefined;
  if (observed.kind !== 'found' || !observed.state.running || !observed.state.runningSince) return undefined;
  const keyArn = desired.setting.keyArn;
  const on = observed.state.encryption;
  if (on.type !== 'CustomerManaged' || on.keyArn !== keyArn) return undefined;
  const recorded = status?.current?.keyArn === keyArn ? status.current.keyMaterialId : undefined;
  return recorded === materialId ? undefined : { keyArn, materialId };
}

/** When the desired key's current material became current, where the restart decision needs it. */
export async function observeMaterialSince(
  deps: { aws: Pick<AwsClients, 'kms'>; observeMemo?: TtlMemo },
  i: MaterialObserveInput,
): Promise<MaterialDate | undefined> {
  const wanted = materialToDate(i);
  if (!wanted) return undefined;
  const { keyArn, materialId } = wanted;
  const read = async () => {
    const since = await keyMaterialSince(deps.aws.kms(i.target), keyArn, materialId);
    // Not listed yet: not remembered (a failed load never is), so the next reconcile reads again.
    if (!since)
      throw new Error(`ListKeyRotations does not list the key's current material ${materialId} yet`);
    return since;
  };
  const name = ['material-since', i.target.roleArn ?? '', i.target.region, keyArn, materialId].join('|');
  try {
    return await (deps.observeMemo ? deps.observeMemo.remember(name, read) : read());
  } catch (e) {
    const message =
      e instanceof AwsCallError
        ? `${e.failure.code}: ${e.failure.message}`
        : e instanceof Error
          ? e.message
          : String(e);
    return { kind: 'unknown', message };
  }
}
