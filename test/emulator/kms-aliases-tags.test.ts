// What idempotent key creation (issue #13 item 4) relies on, through the real SDK client against the
// emulator, and the adapter functions built on it (src/aws/kms.ts): an alias name held by another
// key is refused with AlreadyExistsException and classified as no retry can fix (KMS-019); CreateKey
// tags the key in the same call (KMS-020); ListKeys and ListResourceTags page through everything, so
// a key is found again by its cmk.io/uid tag across pages, within a bound (KMS-021).

import {
  AlreadyExistsException,
  CreateAliasCommand,
  CreateKeyCommand,
  type CreateKeyCommandInput,
  KMSClient,
  ListKeysCommand,
  ListResourceTagsCommand,
  paginateListKeys,
  paginateListResourceTags,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { classifyAwsError } from '../../src/aws/errors.ts';
import { createAlias, describeKey, findKeyTagged, keyTags } from '../../src/aws/kms.ts';
import { sdkFailure, useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const account = '111122223333';
const kms = () => new KMSClient(fixture.clientConfig());

async function newKey(input: CreateKeyCommandInput = {}) {
  return (await kms().send(new CreateKeyCommand({ Description: 'test', ...input }))).KeyMetadata!;
}

const uidTag = (uid: string) => [{ TagKey: 'cmk.io/uid', TagValue: uid }];

describe('an alias name another key holds (KMS-019)', () => {
  it('CreateAlias answers AlreadyExistsException (409), leaves the alias where it was, and is not transient', async () => {
    const holder = await newKey();
    const late = await newKey();
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: holder.KeyId }));
    const e = await sdkFailure(
      kms().send(new CreateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: late.KeyId })),
    );
    expect(e).toBeInstanceOf(AlreadyExistsException);
    expect({ name: e.name, status: e.$metadata.httpStatusCode, fault: e.$fault }).toEqual({
      name: 'AlreadyExistsException',
      status: 409,
      fault: 'client',
    });
    expect(classifyAwsError(e).cause).toBe('InvalidSpec');
    expect((await describeKey(kms(), 'alias/orders'))?.arn).toBe(holder.Arn);
  });

  it('the adapter answers with the key holding the name instead of throwing', async () => {
    const holder = await newKey();
    const late = await newKey();
    expect(await createAlias(kms(), 'alias/payments', holder.KeyId!)).toEqual({ created: true });
    expect(await createAlias(kms(), 'alias/payments', late.KeyId!)).toEqual({ heldBy: holder.Arn });
    // Any other refusal is still an error (a name without the alias/ prefix).
    await expect(createAlias(kms(), 'payments', late.KeyId!)).rejects.toMatchObject({
      failure: { cause: 'InvalidSpec', code: 'ValidationException' },
    });
  });
});

describe('CreateKey tags in the same call (KMS-020)', () => {
  it('the key it returns carries its tags at once; an invalid tag makes no key', async () => {
    const key = await newKey({ Tags: [...uidTag('u-1'), { TagKey: 'team', TagValue: 'data' }] });
    expect(await keyTags(kms(), key.Arn!)).toEqual({ 'cmk.io/uid': 'u-1', team: 'data' });
    const before = (await kms().send(new ListKeysCommand({}))).Keys!.length;
    const e = await sdkFailure(newKey({ Tags: [{ TagKey: 'aws:reserved', TagValue: 'x' }] }));
    expect(e.name).toBe('TagException');
    expect((await kms().send(new ListKeysCommand({}))).Keys).toHaveLength(before);
  });
});

describe('listing keys and their tags (KMS-021)', () => {
  it('ListKeys pages through every key, in creation order, pending deletion included', async () => {
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await newKey()).Arn!);
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: made[3], PendingWindowInDays: 7 }));
    const listed: string[] = [];
    let pages = 0;
    for await (const page of paginateListKeys({ client: kms(), pageSize: 3 }, {})) {
      pages++;
      expect(page.Keys!.length).toBeLessThanOrEqual(3);
      listed.push(...page.Keys!.map((k) => k.KeyArn!));
    }
    expect(pages).toBe(3);
    expect(listed).toEqual(made);
  });

  it('ListResourceTags pages through every tag, on a key pending deletion too', async () => {
    const tags = Array.from({ length: 5 }, (_, i) => ({ TagKey: `k${i}`, TagValue: `v${i}` }));
    const key = await newKey({ Tags: tags });
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    const seen: Array<{ TagKey?: string; TagValue?: string }> = [];
    for await (const page of paginateListResourceTags({ client: kms(), pageSize: 2 }, { KeyId: key.Arn }))
      seen.push(...page.Tags!);
    expect(seen).toEqual(tags);
    const first = await kms().send(new ListResourceTagsCommand({ KeyId: key.KeyId, Limit: 2 }));
    expect(first.Truncated).toBe(true);
  });
});

describe('findKeyTagged: a key found again by its cmk.io/uid tag', () => {
  it('finds the tagged key across ListKeys pages, skipping keys whose tags it may not read', async () => {
    const ours = await newKey({ Tags: uidTag('object-1') });
    for (let i = 0; i < 4; i++) await newKey({ Tags: uidTag(`other-${i}`) });
    // A key whose policy hides its tags from everyone: skipped, not an error.
    await newKey({
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'Root',
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${account}:root` },
            Action: 'kms:*',
            Resource: '*',
          },
          {
            Sid: 'NoTags',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'kms:ListResourceTags',
            Resource: '*',
          },
        ],
      }),
    });
    const found = await findKeyTagged(kms(), { key: 'cmk.io/uid', value: 'object-1' }, { pageSize: 2 });
    expect(found).toMatchObject({ keyArn: ours.Arn, listed: 6, read: 6 });
    const none = await findKeyTagged(kms(), { key: 'cmk.io/uid', value: 'object-2' }, { pageSize: 2 });
    expect(none).toEqual({ complete: true, listed: 6, read: 6 });
  });

  it('says when its bounds ended the search unanswered, so "none found" is never a guess', async () => {
    await newKey({ Tags: uidTag('object-1') });
    for (let i = 0; i < 5; i++) await newKey();
    const tag = { key: 'cmk.io/uid', value: 'object-1' };
    // The last listed keys are read first; three reads do not reach the first key made.
    expect(await findKeyTagged(kms(), tag, { maxTagReads: 3 })).toEqual({
      complete: false,
      listed: 6,
      read: 3,
    });
    // Two pages of two: the key made first is listed (and found), the last two never are.
    expect(await findKeyTagged(kms(), tag, { pageSize: 2, maxListPages: 2 })).toMatchObject({ listed: 4 });
    const missing = { key: 'cmk.io/uid', value: 'object-2' };
    expect(await findKeyTagged(kms(), missing, { pageSize: 2, maxListPages: 2 })).toEqual({
      complete: false,
      listed: 4,
      read: 4,
    });
    expect(await findKeyTagged(kms(), missing, { pageSize: 2 })).toEqual({
      complete: true,
      listed: 6,
      read: 6,
    });
    expect((await findKeyTagged(kms(), tag, { pageSize: 2 })).keyArn).toBeDefined();
  });
});
