// When a KMS key's current material became current (KMS-024), for the decision whether a running
// workload started before it (MSF-017, TRAP-05). One ListKeyRotations read, all key material
// included, so a key that never rotated is told apart from a rotation KMS does not list yet.

import { type KMSClient, ListKeyRotationsCommand } from '@aws-sdk/client-kms';
import { awsCall } from './errors.ts';
import { iso, items, nonEmptyText } from './guards.ts';

/** When a key's material became current: a rotation's date, or the key's first material. */
export type MaterialSince = { kind: 'original' } | { kind: 'rotated'; date: string };

/** One listed material: its id, and the date of the rotation that made it current (none for the first). */
export interface ListedMaterial {
  keyMaterialId?: string;
  rotationDate?: string;
}

/** Pure: when `materialId` became current, from the listed materials; undefined when it is not listed. */
export function materialSinceFrom(
  listed: readonly ListedMaterial[],
  materialId: string,
): MaterialSince | undefined {
  const entry = listed.find((m) => m.keyMaterialId === materialId);
  if (!entry) return undefined;
  return entry.rotationDate ? { kind: 'rotated', date: entry.rotationDate } : { kind: 'original' };
}

/**
 * ListKeyRotations with IncludeKeyMaterial ALL_KEY_MATERIAL, every page up to `maxPages`, until
 * `materialId` is found. Undefined when KMS does not list it (eventual consistency right after a
 * rotation: the caller treats it as unknown and reads again later, never as "never rotated").
 */
export async function keyMaterialSince(
  kms: KMSClient,
  keyArn: string,
  materialId: string,
  maxPages = 10,
): Promise<MaterialSince | undefined> {
  let marker: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const out = await awsCall('ListKeyRotations', () =>
      kms.send(
        new ListKeyRotationsCommand({
          KeyId: keyArn,
          IncludeKeyMaterial: 'ALL_KEY_MATERIAL',
          Limit: 1000,
          ...(marker ? { Marker: marker } : {}),
        }),
      ),
    );
    const listed = items(out.Rotations).map((r) => {
      const keyMaterialId = nonEmptyText(r.KeyMaterialId);
      const rotationDate = iso(r.RotationDate);
      return { ...(keyMaterialId ? { keyMaterialId } : {}), ...(rotationDate ? { rotationDate } : {}) };
    });
    const found = materialSinceFrom(listed, materialId);
    if (found) return found;
    const next = nonEmptyText(out.NextMarker);
    if (out.Truncated !== true || !next) return undefined;
    marker = next;
  }
  return undefined;
}
