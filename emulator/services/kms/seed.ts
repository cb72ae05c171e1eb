// The `kms` section of a seed document (format in index.ts): keys with their aliases, policy,
// rotation, tags and state, built exactly as CreateKey would build them.

import type { World } from '../../core/world.ts';
import { type PolicyDocument, parseKeyPolicy } from '../../policy.ts';
import type { KeyLifecycle } from './lifecycle.ts';
import { keySpecs, mergedTags } from './rules.ts';
import type { KmsStore } from './state.ts';

export function seedKms(store: KmsStore, life: KeyLifecycle, section: unknown, w: World): void {
  if (section === null || typeof section !== 'object' || Array.isArray(section))
    throw new Error('seed: kms must be a mapping with a `keys` list');
  const list = (section as Record<string, unknown>)['keys'] ?? [];
  if (!Array.isArray(list)) throw new Error('seed: kms.keys must be a list');
  const now = w.clock.now();
  for (const [i, raw] of list.entries()) {
    const where = `seed: kms.keys[${i}]`;
    if (raw === null || typeof raw !== 'object') throw new Error(`${where} must be a mapping`);
    const s = raw as Record<string, unknown>;
    const str = (name: string): string | undefined => {
      const x = s[name];
      if (x === undefined || x === null) return undefined;
      if (typeof x !== 'string' && typeof x !== 'number')
        throw new Error(`${where}.${name} must be a string`);
      return String(x);
    };
    const keySpec = str('keySpec') ?? 'SYMMETRIC_DEFAULT';
    const keyUsage =
      str('keyUsage') ??
      (keySpec.startsWith('HMAC')
        ? 'GENERATE_VERIFY_MAC'
        : keySpec.startsWith('ECC') || keySpec.startsWith('ML_DSA')
          ? 'SIGN_VERIFY'
          : 'ENCRYPT_DECRYPT');
    if (!keySpecs[keySpec]?.usages.includes(keyUsage))
      throw new Error(`${where}: keyUsage ${keyUsage} does not fit keySpec ${keySpec}`);
    let policyText: string | undefined;
    if (typeof s['policy'] === 'string') policyText = s['policy'];
    else if (s['policy'] !== undefined && s['policy'] !== null) policyText = JSON.stringify(s['policy']);
    let policy: PolicyDocument | undefined;
    if (policyText !== undefined) {
      try {
        policy = parseKeyPolicy(policyText);
      } catch (e) {
        throw new Error(`${where}.policy: ${(e as Error).message}`);
      }
    }
    const accountId = str('accountId') ?? w.config.accountId;
    const region = str('region') ?? w.config.defaultRegion;
    const keyId = str('keyId');
    if (keyId !== undefined && store.keys.has(`${accountId}/${region}/${keyId}`))
      throw new Error(`${where}: key ${keyId} already exists in ${accountId}/${region}`);
    const k = store.buildKey({
      accountId,
      region,
      now,
      keySpec,
      keyUsage,
      ...(keyId !== undefined ? { keyId } : {}),
      ...(str('description') !== undefined ? { description: str('description') } : {}),
      ...(str('origin') !== undefined ? { origin: str('origin') } : {}),
      ...(s['multiRegion'] === true ? { multiRegion: true } : {}),
      ...(policyText !== undefined ? { policyText, policy } : {}),
    });
    const tags = s['tags'];
    if (Array.isArray(tags))
      k.tags = mergedTags(
        k.tags,
        tags.map((t: { TagKey: string; TagValue: string }) => [t.TagKey, t.TagValue]),
      );
    else if (tags && typeof tags === 'object')
      k.tags = mergedTags(
        k.tags,
        Object.entries(tags as Record<string, unknown>).map(([tk, tv]) => [tk, String(tv)]),
      );
    store.insertKey(k);
    const aliasNames = [
      ...(s['alias'] !== undefined ? [String(s['alias'])] : []),
      ...(Array.isArray(s['aliases']) ? s['aliases'].map(String) : []),
    ];
    for (const a of aliasNames) {
      const name = a.startsWith('alias/') ? a : `alias/${a}`;
      store.addAlias(k, name, now);
    }
    const rotation = s['rotation'] as { enabled?: boolean; periodInDays?: number } | undefined;
    if (rotation?.enabled) {
      const period = rotation.periodInDays ?? 365;
      if (period < 90 || period > 2560) throw new Error(`${where}.rotation.periodInDays must be 90-2560`);
      if (keySpec !== 'SYMMETRIC_DEFAULT' || k.origin !== 'AWS_KMS')
        throw new Error(`${where}: only symmetric AWS_KMS keys rotate`);
      life.enableRotation(k, period, now);
    }
    const state = str('state') ?? k.state;
    if (state === 'Disabled') k.state = 'Disabled';
    else if (state === 'PendingDeletion') {
      const days = Number(s['pendingWindowInDays'] ?? 30);
      if (!(days >= 7 && days <= 30)) throw new Error(`${where}.pendingWindowInDays must be 7-30`);
      life.scheduleDeletion(k, days, now);
    } else if (state !== 'Enabled' && state !== 'PendingImport')
      throw new Error(`${where}.state must be Enabled, Disabled or PendingDeletion`);
  }
}
