// The KMS adapter: reads a key into KeyFacts/RotationFacts and performs the key mutations the
// KmsKey plan asks for. Every call goes through awsCall, so failures arrive classified. A key that
// does not exist is a value (undefined), not an error.

import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  type KeyMetadata,
  type KMSClient,
  ListGrantsCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { type KeyFacts, parseKeyArn, type RotationFacts } from '../keys/key-facts.ts';
import { AwsCallError, awsCall } from './errors.ts';
import { iso, items, malformed, nonEmptyText, positiveInt } from './guards.ts';

/**
 * Normalises DescribeKey metadata; tolerates missing members (never trusts AWS to send them all),
 * except the key ARN: facts about a key KMS did not name are refused (MalformedResponse).
 */
export function keyFactsFrom(m: KeyMetadata): KeyFacts {
  const arn = nonEmptyText(m.Arn);
  const parsed = arn ? parseKeyArn(arn) : undefined;
  if (!arn || !parsed)
    throw malformed('DescribeKey', `KeyMetadata names no valid key ARN (${String(m.Arn)})`);
  const deletionDate = iso(m.DeletionDate);
  const materialId = nonEmptyText(m.CurrentKeyMaterialId);
  const description = nonEmptyText(m.Description);
  return {
    keyId: nonEmptyText(m.KeyId) ?? parsed.keyId,
    arn,
    accountId: nonEmptyText(m.AWSAccountId) ?? parsed.accountId,
    region: parsed.region,
    state: nonEmptyText(m.KeyState) ?? 'Unknown',
    keySpec: nonEmptyText(m.KeySpec) ?? nonEmptyText(m.CustomerMasterKeySpec) ?? 'Unknown',
    keyUsage: nonEmptyText(m.KeyUsage) ?? 'Unknown',
    keyManager: nonEmptyText(m.KeyManager) ?? 'Unknown',
    origin: nonEmptyText(m.Origin) ?? 'Unknown',
    multiRegion: m.MultiRegion === true,
    ...(deletionDate ? { deletionDate } : {}),
    ...(materialId ? { currentKeyMaterialId: materialId } : {}),
    ...(description ? { description } : {}),
  };
}

export async function describeKey(kms: KMSClient, ref: string): Promise<KeyFacts | undefined> {
  try {
    const out = await awsCall('DescribeKey', () => kms.send(new DescribeKeyCommand({ KeyId: ref })));
    if (out.KeyMetadata === null || typeof out.KeyMetadata !== 'object')
      throw malformed('DescribeKey', `no KeyMetadata for ${ref}`);
    return keyFactsFrom(out.KeyMetadata);
  } catch (e) {
    if (e instanceof AwsCallError && e.failure.cause === 'NotFound') return undefined;
    throw e;
  }
}

/** Rotation status plus the most recent completed rotations (newest first). */
/** GetKeyRotationStatus: whether and how often the key rotates, and an on-demand rotation running. */
export async function readRotationStatus(
  kms: KMSClient,
  keyArn: string,
): Promise<Omit<RotationFacts, 'recent'>> {
  const status = await awsCall('GetKeyRotationStatus', () =>
    kms.send(new GetKeyRotationStatusCommand({ KeyId: keyArn })),
  );
  const next = iso(status.NextRotationDate);
  const onDemand = iso(status.OnDemandRotationStartDate);
  return {
    enabled: status.KeyRotationEnabled === true,
    ...(positiveInt(status.RotationPeriodInDays) ? { periodInDays: status.RotationPeriodInDays } : {}),
    ...(next ? { nextRotationDate: next } : {}),
    ...(onDemand ? { onDemandRotationStartDate: onDemand } : {}),
  };
}

/** ListKeyRotations: the most recent completed rotations, newest first (at most 10). */
export async function listRecentRotations(kms: KMSClient, keyArn: string): Promise<RotationFacts['recent']> {
  const rotations = await awsCall('ListKeyRotations', () =>
    kms.send(new ListKeyRotationsCommand({ KeyId: keyArn, Limit: 1000 })),
  );
  return items(rotations.Rotations)
    .flatMap((r) => {
      const date = iso(r.RotationDate);
      if (!date) return [];
      const type: 'AUTOMATIC' | 'ON_DEMAND' = r.RotationType === 'ON_DEMAND' ? 'ON_DEMAND' : 'AUTOMATIC';
      const keyMaterialId = nonEmptyText(r.KeyMaterialId);
      return [{ date, type, ...(keyMaterialId ? { keyMaterialId } : {}) }];
    })
    .sort((a, b) => b.date.localeCompare(a.date))
    .slice(0, 10);
}

/** Rotation status plus the most recent completed rotations (newest first). */
export async function readRotation(kms: KMSClient, keyArn: string): Promise<RotationFacts> {
  const status = await readRotationStatus(kms, keyArn);
  return { ...status, recent: await listRecentRotations(kms, keyArn) };
}

/**
 * CreateKey, with its tags in the same call (KMS-020): a key this operator creates always carries its
 * `cmk.io/uid` tag, so a lost record of it can be found again (findKeyTagged). No alias here: the
 * caller records the key before it asks for one (createAlias), so an alias refused never orphans it.
 */
export async function createKey(
  kms: KMSClient,
  input: { description?: string; policy?: string; tags: Record<string, string> },
): Promise<KeyFacts> {
  const out = await awsCall('CreateKey', () =>
    kms.send(
      new CreateKeyCommand({
        KeySpec: 'SYMMETRIC_DEFAULT',
        KeyUsage: 'ENCRYPT_DECRYPT',
        ...(input.description ? { Description: input.description } : {}),
        ...(input.policy ? { Policy: input.policy } : {}),
        Tags: Object.entries(input.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
      }),
    ),
  );
  if (out.KeyMetadata === null || typeof out.KeyMetadata !== 'object')
    throw malformed('CreateKey', 'CreateKey returned no key metadata');
  return keyFactsFrom(out.KeyMetadata);
}

/**
 * CreateAlias. A name another key holds is an answer, not an error (KMS-019: AlreadyExistsException,
 * which no retry can fix): the ARN of the key holding it, read back with DescribeKey.
 */
export async function createAlias(
  kms: KMSClient,
  alias: string,
  keyId: string,
): Promise<{ created: true } | { heldBy: string }> {
  try {
    await awsCall('CreateAlias', () =>
      kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId })),
    );
    return { created: true };
  } catch (e) {
    if (!(e instanceof AwsCallError) || e.failure.code !== 'AlreadyExistsException') throw e;
    // Deleted again since: still not ours to have taken; the next look tries again.
    return { heldBy: (await describeKey(kms, alias))?.arn ?? `(a key that released ${alias} since)` };
  }
}

/** The key's tags, every page (KMS-021), at most `maxPages` of 50. */
export async function keyTags(
  kms: KMSClient,
  keyArn: string,
  maxPages = 10,
): Promise<Record<string, string>> {
  const tags: Record<string, string> = {};
  let marker: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const out = await awsCall('ListResourceTags', () =>
      kms.send(
        new ListResourceTagsCommand({ KeyId: keyArn, Limit: 50, ...(marker ? { Marker: marker } : {}) }),
      ),
    );
    for (const t of items(out.Tags)) {
      const key = nonEmptyText(t.TagKey);
      if (key) tags[key] = t.TagValue ?? '';
    }
    const next = nonEmptyText(out.NextMarker);
    if (out.Truncated !== true || !next) break;
    marker = next;
  }
  return tags;
}

/** Bounds of a search by tag: ListKeys pages (of `pageSize`), and keys whose tags are read. */
export interface TagSearchBounds {
  pageSize?: number;
  maxListPages?: number;
  maxTagReads?: number;
}

export interface TagSearch {
  /** The key carrying the tag, if one was found. */
  keyArn?: string;
  /** The search answered: the key was found, or every key was listed and read ("none" is an answer). */
  complete: boolean;
  listed: number;
  read: number;
}

/**
 * A key of this account and Region carrying the tag `key` = `value`: ListKeys (every page, up to the
 * bound) and ListResourceTags per key, the last listed first (KMS-021: the emulator lists in creation
 * order; AWS documents none, so only the bounds matter). Keys whose tags cannot be read (another
 * team's key policy, deleted meanwhile) are skipped. Costs one call per key: only for recovery.
 */
export async function findKeyTagged(
  kms: KMSClient,
  tag: { key: string; value: string },
  bounds: TagSearchBounds = {},
): Promise<TagSearch> {
  const { pageSize = 1000, maxListPages = 100, maxTagReads = 2000 } = bounds;
  const arns: string[] = [];
  let listedAll = false;
  let marker: string | undefined;
  for (let page = 0; page < maxListPages; page++) {
    const out = await awsCall('ListKeys', () =>
      kms.send(new ListKeysCommand({ Limit: pageSize, ...(marker ? { Marker: marker } : {}) })),
    );
    for (const k of items(out.Keys)) {
      const arn = nonEmptyText(k.KeyArn);
      if (arn) arns.push(arn);
    }
    const next = nonEmptyText(out.NextMarker);
    if (out.Truncated !== true || !next) {
      listedAll = true;
      break;
    }
    marker = next;
  }
  let read = 0;
  for (const arn of arns.toReversed()) {
    if (read >= maxTagReads) return { complete: false, listed: arns.length, read };
    read++;
    let tags: Record<string, string>;
    try {
      tags = await keyTags(kms, arn);
    } catch (e) {
      if (e instanceof AwsCallError && ['AccessDenied', 'NotFound', 'KeyUnusable'].includes(e.failure.cause))
        continue;
      throw e;
    }
    if (tags[tag.key] === tag.value) return { keyArn: arn, complete: true, listed: arns.length, read };
  }
  return { complete: listedAll, listed: arns.length, read };
}

export const keyMutations = {
  enableKeyRotation: (kms: KMSClient, keyArn: string, periodInDays?: number) =>
    awsCall('EnableKeyRotation', () =>
      kms.send(
        new EnableKeyRotationCommand({
          KeyId: keyArn,
          ...(periodInDays ? { RotationPeriodInDays: periodInDays } : {}),
        }),
      ),
    ),
  disableKeyRotation: (kms: KMSClient, keyArn: string) =>
    awsCall('DisableKeyRotation', () => kms.send(new DisableKeyRotationCommand({ KeyId: keyArn }))),
  rotateKeyOnDemand: (kms: KMSClient, keyArn: string) =>
    awsCall('RotateKeyOnDemand', () => kms.send(new RotateKeyOnDemandCommand({ KeyId: keyArn }))),
  cancelKeyDeletion: (kms: KMSClient, keyArn: string) =>
    awsCall('CancelKeyDeletion', () => kms.send(new CancelKeyDeletionCommand({ KeyId: keyArn }))),
  enableKey: (kms: KMSClient, keyArn: string) =>
    awsCall('EnableKey', () => kms.send(new EnableKeyCommand({ KeyId: keyArn }))),
  scheduleKeyDeletion: (kms: KMSClient, keyArn: string, pendingWindowInDays: number) =>
    awsCall('ScheduleKeyDeletion', () =>
      kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: pendingWindowInDays })),
    ),
};

export async function getKeyPolicy(kms: KMSClient, keyArn: string): Promise<string> {
  const out = await awsCall('GetKeyPolicy', () =>
    kms.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' })),
  );
  if (typeof out.Policy !== 'string') throw malformed('GetKeyPolicy', `no key policy document for ${keyArn}`);
  return out.Policy;
}

/** Grants on the key, counting every page (Keyspaces uses 2 per table against a 50,000 quota). */
export async function countGrants(kms: KMSClient, keyArn: string, maxPages = 1000): Promise<number> {
  let count = 0;
  let marker: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const out = await awsCall('ListGrants', () =>
      kms.send(new ListGrantsCommand({ KeyId: keyArn, Limit: 100, ...(marker ? { Marker: marker } : {}) })),
    );
    count += items(out.Grants).length;
    const next = nonEmptyText(out.NextMarker);
    if (out.Truncated !== true || !next) break;
    marker = next;
  }
  return count;
}
