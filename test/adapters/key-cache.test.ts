// The key cache against the emulator through the real KMS client: thousands of reads of one key
// cost one KMS call per TTL; `fresh` and `invalidate` always reach KMS; failures are not cached;
// concurrent readers share one request. Counted from the emulator's call log, as AWS would bill.

import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { createKeyCache } from '../../src/keys/key-cache.ts';
import { useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const target = { region: 'us-east-1' };

function setup(ttlMs: number) {
  let now = 1_000_000;
  const kms = new KMSClient(fixture.clientConfig());
  const cache = createKeyCache({ kms: () => kms }, { ttlMs, now: () => now });
  return {
    kms,
    cache,
    advance: (ms: number) => {
      now += ms;
    },
    calls: async (eventName: string) => (await fixture.admin.calls({ service: 'kms', eventName })).length,
  };
}

async function newKey(kms: KMSClient, alias?: string): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({}));
  const arn = out.KeyMetadata?.Arn ?? '';
  if (alias) await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: arn }));
  return arn;
}

describe('key cache', () => {
  it('serves repeated and concurrent reads of a key from one KMS call until the TTL passes', async () => {
    const t = setup(30_000);
    const arn = await newKey(t.kms);
    const facts = await Promise.all(Array.from({ length: 50 }, () => t.cache.describe(target, arn)));
    expect(new Set(facts.map((f) => f?.arn))).toEqual(new Set([arn]));
    for (let i = 0; i < 20; i++) await t.cache.describe(target, arn);
    expect(await t.calls('DescribeKey')).toBe(1);

    t.advance(30_001);
    await t.cache.describe(target, arn);
    expect(await t.calls('DescribeKey')).toBe(2);
  });

  it('a fresh read reaches KMS, shares a read under way, and refreshes what later readers get', async () => {
    const t = setup(60_000);
    const arn = await newKey(t.kms);
    expect((await t.cache.describe(target, arn))?.state).toBe('Enabled');
    await t.kms.send(new DisableKeyCommand({ KeyId: arn }));
    // Within the TTL a cached read may be stale: that is the trade, and why actions read fresh.
    expect((await t.cache.describe(target, arn))?.state).toBe('Enabled');
    expect((await t.cache.describe(target, arn, { fresh: true }))?.state).toBe('Disabled');
    expect((await t.cache.describe(target, arn))?.state).toBe('Disabled');
    expect(await t.calls('DescribeKey')).toBe(2);

    // Switches onto one key at the same moment share one read; one after another, each reads.
    await Promise.all(Array.from({ length: 30 }, () => t.cache.describe(target, arn, { fresh: true })));
    expect(await t.calls('DescribeKey')).toBe(3);
    await t.cache.describe(target, arn, { fresh: true });
    expect(await t.calls('DescribeKey')).toBe(4);
    // An exactly-once decision (maxAgeMs 0) never shares a read.
    await Promise.all([
      t.cache.describe(target, arn, { maxAgeMs: 0 }),
      t.cache.describe(target, arn, { maxAgeMs: 0 }),
    ]);
    expect(await t.calls('DescribeKey')).toBe(6);
  });

  it('a wave of switches shares one fresh read begun since its decision; an older read does not serve', async () => {
    const t = setup(60_000);
    const arn = await newKey(t.kms);
    const decided = 1_000_000;
    await t.cache.describe(target, arn, { fresh: true, freshSince: decided });
    expect(await t.calls('DescribeKey')).toBe(1);
    // Later switches of the same wave (decided at the same moment) are served by that read.
    t.advance(500);
    for (let i = 0; i < 10; i++) await t.cache.describe(target, arn, { fresh: true, freshSince: decided });
    await t.cache.policy(target, arn, { fresh: true, freshSince: decided });
    await t.cache.policy(target, arn, { fresh: true, freshSince: decided });
    expect(await t.calls('DescribeKey')).toBe(1);
    expect(await t.calls('GetKeyPolicy')).toBe(1);
    // A switch decided after that read began reads again, and its read serves the next ones.
    await t.kms.send(new DisableKeyCommand({ KeyId: arn }));
    const later = decided + 500;
    expect((await t.cache.describe(target, arn, { fresh: true, freshSince: later }))?.state).toBe('Disabled');
    expect((await t.cache.describe(target, arn, { fresh: true, freshSince: later }))?.state).toBe('Disabled');
    expect(await t.calls('DescribeKey')).toBe(2);
  });

  it('a key described by alias is served by ARN from the same read', async () => {
    const t = setup(60_000);
    const arn = await newKey(t.kms, 'alias/by-arn-too');
    expect((await t.cache.describe(target, 'alias/by-arn-too'))?.arn).toBe(arn);
    expect((await t.cache.describe(target, arn))?.arn).toBe(arn);
    expect(await t.calls('DescribeKey')).toBe(1);
    // Forgetting the key forgets both.
    t.cache.invalidate(arn);
    await t.cache.describe(target, arn);
    await t.cache.describe(target, 'alias/by-arn-too');
    expect(await t.calls('DescribeKey')).toBe(3);
  });

  it('invalidating a key by ARN forgets it under every name it was read by', async () => {
    const t = setup(60_000);
    const arn = await newKey(t.kms, 'alias/orders');
    const keyId = arn.split('/').pop() ?? '';
    await t.cache.describe(target, 'alias/orders');
    await t.cache.describe(target, keyId);
    await t.cache.policy(target, arn);
    await t.cache.rotation(target, arn);
    expect(await t.calls('DescribeKey')).toBe(2);

    t.cache.invalidate(arn);
    await t.cache.describe(target, 'alias/orders');
    await t.cache.describe(target, keyId);
    await t.cache.policy(target, arn);
    await t.cache.rotation(target, arn);
    expect(await t.calls('DescribeKey')).toBe(4);
    expect(await t.calls('GetKeyPolicy')).toBe(2);
    expect(await t.calls('GetKeyRotationStatus')).toBe(2);
  });

  it('keeps targets apart: another Region or role is another entry', async () => {
    const t = setup(60_000);
    const arn = await newKey(t.kms);
    await t.cache.describe(target, arn);
    await t.cache.describe({ region: 'us-east-1', roleArn: 'arn:aws:iam::111122223333:role/tenant' }, arn);
    expect(await t.calls('DescribeKey')).toBe(2);
  });

  it('does not remember a failure: the next read asks KMS again', async () => {
    const t = setup(60_000);
    const arn = await newKey(t.kms);
    await fixture.admin.addFault({
      service: 'kms',
      operation: 'DescribeKey',
      error: { code: 'KMSInternalException', status: 500, rate: 1 },
      limit: 1,
    });
    await expect(t.cache.describe(target, arn)).rejects.toThrow();
    expect((await t.cache.describe(target, arn))?.arn).toBe(arn);
    expect(await t.calls('DescribeKey')).toBe(2);
  });

  it('caches a key that does not exist as such, and counts grants once per TTL', async () => {
    const t = setup(60_000);
    const missing = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000';
    expect(await t.cache.describe(target, missing)).toBeUndefined();
    expect(await t.cache.describe(target, missing)).toBeUndefined();
    expect(await t.calls('DescribeKey')).toBe(1);

    const arn = await newKey(t.kms);
    expect(await t.cache.grants(target, arn)).toBe(0);
    expect(await t.cache.grants(target, arn)).toBe(0);
    expect(await t.calls('ListGrants')).toBe(1);
  });

  it('keeps the completed-rotation list and the grant count while their version holds', async () => {
    const t = setup(30_000);
    const arn = await newKey(t.kms);
    await t.cache.rotation(target, arn, { version: 'material-1' });
    await t.cache.grants(target, arn, { version: 'tables-1' });
    t.advance(30_001); // past the TTL: the rotation status is read again, the versioned reads are not
    await t.cache.rotation(target, arn, { version: 'material-1' });
    await t.cache.grants(target, arn, { version: 'tables-1' });
    expect(await t.calls('GetKeyRotationStatus')).toBe(2);
    expect(await t.calls('ListKeyRotations')).toBe(1);
    expect(await t.calls('ListGrants')).toBe(1);
    // A new material, new tables: read again. Invalidation forgets versioned entries too.
    await t.cache.rotation(target, arn, { version: 'material-2' });
    await t.cache.grants(target, arn, { version: 'tables-2' });
    t.cache.invalidate(arn);
    await t.cache.rotation(target, arn, { version: 'material-2' });
    expect(await t.calls('ListKeyRotations')).toBe(3);
    expect(await t.calls('ListGrants')).toBe(2);
  });

  it('with a TTL of 0 every read reaches KMS', async () => {
    const t = setup(0);
    const arn = await newKey(t.kms);
    await t.cache.describe(target, arn);
    await t.cache.describe(target, arn);
    expect(await t.calls('DescribeKey')).toBe(2);
  });
});
