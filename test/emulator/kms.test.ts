// The KMS emulator through the real SDK client: key creation and metadata, aliases, key states and
// the error each state gives, rotation (automatic on the emulator clock, on demand with its cap and
// conflict window), scheduled deletion, grants, envelope encryption bound to the encryption context,
// DryRun, tags, and the seed section.

import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  type CreateKeyCommandInput,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListAliasesCommand,
  ListGrantsCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  PutKeyPolicyCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { sdkFailure, useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator({ onDemandRotationCap: 3, aliasesPerKey: 2, grantsPerKey: 3 });
const account = '111122223333';
const dayMs = 86_400_000;
const frozenAt = Date.UTC(2026, 10, 23, 12, 0, 0);
const kms = (opts?: { region?: string; accessKeyId?: string }) => new KMSClient(fixture.clientConfig(opts));

async function expectError(p: Promise<unknown>, name: string, status: number) {
  const e = await sdkFailure(p);
  expect({ name: e.name, status: e.$metadata.httpStatusCode }).toEqual({ name, status });
  return e;
}

async function newKey(input: CreateKeyCommandInput = {}) {
  return (await kms().send(new CreateKeyCommand({ Description: 'test', ...input }))).KeyMetadata!;
}

/** Advances the emulator clock; the timeline settles on the next request. */
const advance = (ms: number) => fixture.emulator.world().clock.advance(ms);

describe('CreateKey and DescribeKey', () => {
  it('creates an enabled symmetric key with full metadata in the caller account and Region', async () => {
    const key = await newKey({ Description: 'orders', Tags: [{ TagKey: 'team', TagValue: 'data' }] });
    expect(key).toMatchObject({
      AWSAccountId: account,
      Arn: `arn:aws:kms:us-east-1:${account}:key/${key.KeyId}`,
      Enabled: true,
      KeyState: 'Enabled',
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeyManager: 'CUSTOMER',
      Origin: 'AWS_KMS',
      Description: 'orders',
      MultiRegion: false,
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    });
    expect(key.CreationDate?.getTime()).toBe(frozenAt);
    expect(key.CurrentKeyMaterialId).toMatch(/^[0-9a-f]{64}$/);
    expect(key.DeletionDate).toBeUndefined();

    const inOtherRegion = (await kms({ region: 'eu-west-1' }).send(new CreateKeyCommand({}))).KeyMetadata!;
    expect(inOtherRegion.Arn).toMatch(/^arn:aws:kms:eu-west-1:111122223333:key\//);
    // Keys are scoped by Region: the eu-west-1 key is not visible from us-east-1.
    await expectError(
      kms().send(new DescribeKeyCommand({ KeyId: inOtherRegion.KeyId })),
      'NotFoundException',
      404,
    );
    await expectError(
      kms().send(new DescribeKeyCommand({ KeyId: inOtherRegion.Arn })),
      'NotFoundException',
      404,
    );
  });

  it('supports asymmetric, HMAC, imported and multi-Region keys and rejects incompatible usages', async () => {
    const rsa = await newKey({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    expect(rsa).toMatchObject({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    expect(rsa.SigningAlgorithms).toContain('RSASSA_PSS_SHA_256');
    expect(rsa.CurrentKeyMaterialId).toBeUndefined();
    const hmac = await newKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    expect(hmac.MacAlgorithms).toEqual(['HMAC_SHA_256']);
    const imported = await newKey({ Origin: 'EXTERNAL' });
    expect(imported).toMatchObject({ KeyState: 'PendingImport', Enabled: false, Origin: 'EXTERNAL' });
    const mrk = await newKey({ MultiRegion: true });
    expect(mrk.KeyId).toMatch(/^mrk-[0-9a-f]{32}$/);
    expect(mrk.MultiRegionConfiguration?.MultiRegionKeyType).toBe('PRIMARY');

    await expectError(kms().send(new CreateKeyCommand({ KeySpec: 'HMAC_256' })), 'ValidationException', 400);
    await expectError(
      kms().send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'ENCRYPT_DECRYPT' })),
      'ValidationException',
      400,
    );
  });

  it('gives a key the default account-root policy when none is passed and rejects malformed policies', async () => {
    const key = await newKey();
    const policy = JSON.parse((await kms().send(new GetKeyPolicyCommand({ KeyId: key.KeyId }))).Policy!);
    expect(policy.Statement).toEqual([
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ]);
    await expectError(
      kms().send(new CreateKeyCommand({ Policy: '{not json' })),
      'MalformedPolicyDocumentException',
      400,
    );
  });

  it('describes a key by key id, key ARN, alias name and alias ARN, and 404s an unknown one', async () => {
    const key = await newKey();
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/orders', TargetKeyId: key.KeyId }));
    for (const ref of [
      key.KeyId!,
      key.Arn!,
      'alias/orders',
      `arn:aws:kms:us-east-1:${account}:alias/orders`,
    ]) {
      const d = await kms().send(new DescribeKeyCommand({ KeyId: ref }));
      expect(d.KeyMetadata?.Arn).toBe(key.Arn);
    }
    await expectError(
      kms().send(new DescribeKeyCommand({ KeyId: 'alias/missing' })),
      'NotFoundException',
      404,
    );
    await expectError(
      kms().send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })),
      'NotFoundException',
      404,
    );
    await expectError(
      kms().send(new DescribeKeyCommand({ KeyId: 'arn:aws:kms:bad' })),
      'InvalidArnException',
      400,
    );
  });

  it('lists keys of the account and Region page by page', async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await newKey()).KeyId);
    const first = await kms().send(new ListKeysCommand({ Limit: 3 }));
    expect(first.Truncated).toBe(true);
    const second = await kms().send(new ListKeysCommand({ Limit: 3, Marker: first.NextMarker }));
    expect(second.Truncated).toBe(false);
    expect([...first.Keys!, ...second.Keys!].map((k) => k.KeyId)).toEqual(made);
    await expectError(kms().send(new ListKeysCommand({ Marker: 'garbage' })), 'InvalidMarkerException', 400);
  });
});

describe('aliases', () => {
  it('creates, lists, updates and deletes aliases with TargetKeyId as a key id', async () => {
    const a = await newKey();
    const b = await newKey();
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/one', TargetKeyId: a.Arn }));
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/two', TargetKeyId: a.KeyId }));
    const all = await kms().send(new ListAliasesCommand({}));
    expect(all.Aliases).toEqual([
      {
        AliasName: 'alias/one',
        AliasArn: `arn:aws:kms:us-east-1:${account}:alias/one`,
        TargetKeyId: a.KeyId,
        CreationDate: new Date(frozenAt),
        LastUpdatedDate: new Date(frozenAt),
      },
      expect.objectContaining({ AliasName: 'alias/two', TargetKeyId: a.KeyId }),
    ]);
    const page = await kms().send(new ListAliasesCommand({ Limit: 1 }));
    expect(page).toMatchObject({ Truncated: true, Aliases: [{ AliasName: 'alias/one' }] });
    const rest = await kms().send(new ListAliasesCommand({ Limit: 1, Marker: page.NextMarker }));
    expect(rest.Aliases?.map((x) => x.AliasName)).toEqual(['alias/two']);

    advance(1000);
    await kms().send(new UpdateAliasCommand({ AliasName: 'alias/two', TargetKeyId: b.KeyId }));
    const forB = await kms().send(new ListAliasesCommand({ KeyId: b.Arn }));
    expect(forB.Aliases).toEqual([
      expect.objectContaining({ AliasName: 'alias/two', LastUpdatedDate: new Date(frozenAt + 1000) }),
    ]);
    await kms().send(new DeleteAliasCommand({ AliasName: 'alias/one' }));
    expect((await kms().send(new ListAliasesCommand({ KeyId: a.KeyId }))).Aliases).toEqual([]);
    await expectError(
      kms().send(new DeleteAliasCommand({ AliasName: 'alias/one' })),
      'NotFoundException',
      404,
    );
  });

  it('enforces the alias/ prefix, the reserved alias/aws/ prefix, uniqueness and the per-key cap', async () => {
    const key = await newKey();
    const create = (AliasName: string, TargetKeyId = key.KeyId) =>
      kms().send(new CreateAliasCommand({ AliasName, TargetKeyId }));
    await expectError(create('orders'), 'ValidationException', 400);
    await expectError(create('alias/has space'), 'ValidationException', 400);
    await expectError(create('alias/aws/mine'), 'NotAuthorizedException', 400);
    await create('alias/a');
    await expectError(create('alias/a'), 'AlreadyExistsException', 409);
    await create('alias/b');
    // aliasesPerKey is 2 in this file.
    await expectError(create('alias/c'), 'LimitExceededException', 400);
    // TargetKeyId must be a key id or key ARN, not an alias (the stricter reading).
    await expectError(create('alias/d', 'alias/a'), 'NotFoundException', 404);
  });

  it('removes the aliases of a key when the key is deleted', async () => {
    const key = await newKey();
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: key.KeyId }));
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    advance(7 * dayMs);
    expect((await kms().send(new ListAliasesCommand({}))).Aliases).toEqual([]);
    await expectError(
      kms().send(new DescribeKeyCommand({ KeyId: 'alias/doomed' })),
      'NotFoundException',
      404,
    );
  });
});

describe('key states', () => {
  it('DisableKey makes cryptographic calls and CreateGrant fail with DisabledException; EnableKey restores', async () => {
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    expect((await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata).toMatchObject({
      KeyState: 'Disabled',
      Enabled: false,
    });
    const plaintext = new Uint8Array([1, 2, 3]);
    await expectError(
      kms().send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: plaintext })),
      'DisabledException',
      409,
    );
    await expectError(
      kms().send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: 'AES_256' })),
      'DisabledException',
      409,
    );
    await expectError(
      kms().send(
        new CreateGrantCommand({
          KeyId: key.KeyId,
          GranteePrincipal: `arn:aws:iam::${account}:role/app`,
          Operations: ['Decrypt'],
        }),
      ),
      'DisabledException',
      409,
    );
    await kms().send(new EnableKeyCommand({ KeyId: key.KeyId }));
    await kms().send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: plaintext }));
  });

  it('a PendingDeletion key gives KMSInvalidStateException for crypto, Enable/Disable, aliases and tags', async () => {
    const key = await newKey();
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId }));
    const id = key.KeyId!;
    for (const call of [
      kms().send(new EncryptCommand({ KeyId: id, Plaintext: new Uint8Array([1]) })),
      kms().send(new GenerateDataKeyCommand({ KeyId: id, NumberOfBytes: 32 })),
      kms().send(new EnableKeyCommand({ KeyId: id })),
      kms().send(new DisableKeyCommand({ KeyId: id })),
      kms().send(new ScheduleKeyDeletionCommand({ KeyId: id })),
      kms().send(new CreateAliasCommand({ AliasName: 'alias/late', TargetKeyId: id })),
      kms().send(new TagResourceCommand({ KeyId: id, Tags: [{ TagKey: 'a', TagValue: 'b' }] })),
      kms().send(new EnableKeyRotationCommand({ KeyId: id })),
    ])
      await expectError(call, 'KMSInvalidStateException', 409);
    // Read operations keep working in every state.
    await kms().send(new DescribeKeyCommand({ KeyId: id }));
    await kms().send(new GetKeyPolicyCommand({ KeyId: id }));
    await kms().send(new ListGrantsCommand({ KeyId: id }));
  });

  it('an imported-material key stays PendingImport and cannot be used or enabled', async () => {
    const key = await newKey({ Origin: 'EXTERNAL' });
    await expectError(
      kms().send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: new Uint8Array([1]) })),
      'KMSInvalidStateException',
      409,
    );
    await expectError(
      kms().send(new EnableKeyCommand({ KeyId: key.KeyId })),
      'KMSInvalidStateException',
      409,
    );
  });

  it('management operations given an alias answer NotFoundException (only DescribeKey and crypto resolve aliases)', async () => {
    const key = await newKey();
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/mgmt', TargetKeyId: key.KeyId }));
    for (const ref of ['alias/mgmt', `arn:aws:kms:us-east-1:${account}:alias/mgmt`]) {
      await expectError(kms().send(new DisableKeyCommand({ KeyId: ref })), 'NotFoundException', 404);
      await expectError(kms().send(new EnableKeyRotationCommand({ KeyId: ref })), 'NotFoundException', 404);
      await expectError(kms().send(new ScheduleKeyDeletionCommand({ KeyId: ref })), 'NotFoundException', 404);
      await expectError(kms().send(new GetKeyPolicyCommand({ KeyId: ref })), 'NotFoundException', 404);
    }
    await kms().send(new EncryptCommand({ KeyId: 'alias/mgmt', Plaintext: new Uint8Array([1]) }));
  });

  it('notifies onKeyChange listeners of every state change, rotation and deletion', async () => {
    const seen: string[] = [];
    fixture.emulator.world().kms.onKeyChange((k, deleted) => seen.push(deleted ? 'deleted' : k.state));
    const key = await newKey();
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await kms().send(new EnableKeyCommand({ KeyId: key.KeyId }));
    await kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    advance(1000);
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    await kms().send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    advance(7 * dayMs);
    await kms().send(new ListKeysCommand({}));
    expect(seen).toEqual([
      'Disabled',
      'Enabled',
      'Enabled', // on-demand rotation finished: new material
      'PendingDeletion',
      'Disabled',
      'PendingDeletion',
      'deleted',
    ]);
  });
});

describe('automatic rotation', () => {
  it('enables rotation with the default 365-day period and rotates on the emulator clock', async () => {
    const key = await newKey();
    expect(await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))).toMatchObject({
      KeyRotationEnabled: false,
    });
    await kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId }));
    const status = await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    expect(status).toMatchObject({ KeyId: key.Arn, KeyRotationEnabled: true, RotationPeriodInDays: 365 });
    expect(status.NextRotationDate?.getTime()).toBe(frozenAt + 365 * dayMs);

    advance(365 * dayMs);
    const after = (await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    expect(after.CurrentKeyMaterialId).not.toBe(key.CurrentKeyMaterialId);
    const rotations = await kms().send(new ListKeyRotationsCommand({ KeyId: key.KeyId }));
    expect(rotations.Rotations).toEqual([
      {
        KeyId: key.KeyId,
        KeyMaterialId: after.CurrentKeyMaterialId,
        KeyMaterialState: 'CURRENT',
        RotationDate: new Date(frozenAt + 365 * dayMs),
        RotationType: 'AUTOMATIC',
      },
    ]);
    const next = await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    expect(next.NextRotationDate?.getTime()).toBe(frozenAt + 2 * 365 * dayMs);
  });

  it('accepts RotationPeriodInDays 90-2560 only, and a new period moves the next rotation', async () => {
    const key = await newKey();
    for (const bad of [89, 2561])
      await expectError(
        kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: bad })),
        'ValidationException',
        400,
      );
    await kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 2560 }));
    await kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 90 }));
    const status = await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    expect(status).toMatchObject({ RotationPeriodInDays: 90 });
    expect(status.NextRotationDate?.getTime()).toBe(frozenAt + 90 * dayMs);
    await kms().send(new DisableKeyRotationCommand({ KeyId: key.KeyId }));
    const off = await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    expect(off.KeyRotationEnabled).toBe(false);
    expect(off.NextRotationDate).toBeUndefined();
    advance(100 * dayMs);
    expect((await kms().send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations).toEqual([]);
  });

  it('does not rotate a Disabled key; re-enabling after a missed rotation rotates at once', async () => {
    const key = await newKey();
    await kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 90 }));
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    // Rotation ops on a Disabled key give DisabledException; the status is still readable.
    await expectError(
      kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId })),
      'DisabledException',
      409,
    );
    await expectError(
      kms().send(new DisableKeyRotationCommand({ KeyId: key.KeyId })),
      'DisabledException',
      409,
    );
    await expectError(
      kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })),
      'DisabledException',
      409,
    );
    advance(91 * dayMs);
    expect((await kms().send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations).toEqual([]);
    expect((await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))).KeyRotationEnabled).toBe(
      true,
    );
    await kms().send(new EnableKeyCommand({ KeyId: key.KeyId }));
    const rotations = (await kms().send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations!;
    expect(rotations).toHaveLength(1);
    expect(rotations[0]?.RotationDate?.getTime()).toBe(frozenAt + 91 * dayMs);
  });

  it('a PendingDeletion key reads KeyRotationEnabled false, does not rotate, and CancelKeyDeletion restores the status', async () => {
    const key = await newKey();
    await kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 90 }));
    advance(80 * dayMs);
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 30 }));
    expect((await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))).KeyRotationEnabled).toBe(
      false,
    );
    advance(20 * dayMs);
    expect((await kms().send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations).toEqual([]);
    await kms().send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
    expect((await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))).KeyRotationEnabled).toBe(
      true,
    );
  });

  it('refuses rotation for asymmetric, HMAC and imported keys with UnsupportedOperationException', async () => {
    const keys = [
      await newKey({ KeySpec: 'RSA_2048' }),
      await newKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }),
      await newKey({ Origin: 'EXTERNAL' }),
    ];
    for (const key of keys) {
      await expectError(
        kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId })),
        'UnsupportedOperationException',
        400,
      );
      await expectError(
        kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })),
        'UnsupportedOperationException',
        400,
      );
    }
  });
});

describe('on-demand rotation', () => {
  it('runs in the background: OnDemandRotationStartDate while running, new material when done', async () => {
    const key = await newKey();
    const out = await kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    expect(out.KeyId).toBe(key.Arn);
    const running = await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    expect(running.OnDemandRotationStartDate?.getTime()).toBe(frozenAt);
    await expectError(
      kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })),
      'ConflictException',
      409,
    );
    expect(
      (await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata?.CurrentKeyMaterialId,
    ).toBe(key.CurrentKeyMaterialId);

    advance(1000); // transitions take exactly 1000 ms in tests
    const done = await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    expect(done.OnDemandRotationStartDate).toBeUndefined();
    const material = (await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata
      ?.CurrentKeyMaterialId;
    expect(material).not.toBe(key.CurrentKeyMaterialId);
    const rotations = await kms().send(
      new ListKeyRotationsCommand({ KeyId: key.KeyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }),
    );
    expect(rotations.Rotations).toEqual([
      { KeyId: key.KeyId, KeyMaterialId: key.CurrentKeyMaterialId, KeyMaterialState: 'NON_CURRENT' },
      {
        KeyId: key.KeyId,
        KeyMaterialId: material,
        KeyMaterialState: 'CURRENT',
        RotationDate: new Date(frozenAt + 1000),
        RotationType: 'ON_DEMAND',
      },
    ]);
  });

  it('stops at the on-demand cap with LimitExceededException and pages ListKeyRotations', async () => {
    const key = await newKey();
    for (let i = 0; i < 3; i++) {
      await kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
      advance(1000);
    }
    // onDemandRotationCap is 3 in this file.
    await expectError(
      kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })),
      'LimitExceededException',
      400,
    );
    const first = await kms().send(new ListKeyRotationsCommand({ KeyId: key.KeyId, Limit: 2 }));
    expect(first.Rotations).toHaveLength(2);
    expect(first.Truncated).toBe(true);
    const second = await kms().send(
      new ListKeyRotationsCommand({ KeyId: key.KeyId, Limit: 2, Marker: first.NextMarker }),
    );
    expect(second.Rotations?.map((r) => r.RotationType)).toEqual(['ON_DEMAND']);
    expect(second.Truncated).toBe(false);
  });

  it('conflicts when an automatic rotation is due within 20 minutes, and does not shift the automatic schedule', async () => {
    const key = await newKey();
    await kms().send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 90 }));
    await kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    advance(1000);
    const status = await kms().send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    expect(status.NextRotationDate?.getTime()).toBe(frozenAt + 90 * dayMs);
    advance(90 * dayMs - 1000 - 20 * 60_000 - 1); // 20 minutes and 1 ms before the automatic rotation
    await kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    advance(1000);
    await expectError(
      kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })),
      'ConflictException',
      409,
    );
  });
});

describe('scheduled deletion', () => {
  it('accepts PendingWindowInDays 7-30 (default 30) and rejects values outside with ValidationException', async () => {
    const key = await newKey();
    for (const bad of [6, 31])
      await expectError(
        kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: bad })),
        'ValidationException',
        400,
      );
    const out = await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId }));
    expect(out).toMatchObject({ KeyId: key.Arn, KeyState: 'PendingDeletion', PendingWindowInDays: 30 });
    expect(out.DeletionDate?.getTime()).toBe(frozenAt + 30 * dayMs);
    const meta = (await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    expect(meta).toMatchObject({ KeyState: 'PendingDeletion', Enabled: false });
    expect(meta.DeletionDate?.getTime()).toBe(frozenAt + 30 * dayMs);
  });

  it('CancelKeyDeletion leaves the key Disabled (not Enabled) and fails on a key that is not pending deletion', async () => {
    const key = await newKey();
    await expectError(
      kms().send(new CancelKeyDeletionCommand({ KeyId: key.KeyId })),
      'KMSInvalidStateException',
      409,
    );
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    const out = await kms().send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
    expect(out.KeyId).toBe(key.Arn);
    const meta = (await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    expect(meta).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    expect(meta.DeletionDate).toBeUndefined();
    // The cancelled deletion never happens.
    advance(8 * dayMs);
    await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }));
  });

  it('deletes the key at the end of the window on the emulator clock; afterwards every call is NotFound', async () => {
    const key = await newKey();
    const { CiphertextBlob } = await kms().send(
      new EncryptCommand({ KeyId: key.KeyId, Plaintext: new Uint8Array([7]) }),
    );
    await kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    advance(7 * dayMs - 1);
    expect((await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata?.KeyState).toBe(
      'PendingDeletion',
    );
    advance(1);
    await expectError(kms().send(new DescribeKeyCommand({ KeyId: key.KeyId })), 'NotFoundException', 404);
    await expectError(
      kms().send(new CancelKeyDeletionCommand({ KeyId: key.KeyId })),
      'NotFoundException',
      404,
    );
    await expectError(kms().send(new DecryptCommand({ CiphertextBlob })), 'NotFoundException', 404);
    expect((await kms().send(new ListKeysCommand({}))).Keys).toEqual([]);
  });
});

describe('grants', () => {
  const grantee = `arn:aws:iam::${account}:role/app`;

  it('creates, lists, retires and revokes grants', async () => {
    const key = await newKey();
    const g1 = await kms().send(
      new CreateGrantCommand({
        KeyId: key.KeyId,
        GranteePrincipal: grantee,
        RetiringPrincipal: grantee,
        Operations: ['Decrypt', 'GenerateDataKey'],
        Constraints: { EncryptionContextSubset: { app: 'orders' } },
        Name: 'orders',
      }),
    );
    expect(g1.GrantId).toMatch(/^[0-9a-f]{64}$/);
    expect(g1.GrantToken).toBeTruthy();
    const listed = await kms().send(new ListGrantsCommand({ KeyId: key.Arn }));
    expect(listed.Grants).toEqual([
      {
        KeyId: key.Arn,
        GrantId: g1.GrantId,
        Name: 'orders',
        CreationDate: new Date(frozenAt),
        GranteePrincipal: grantee,
        RetiringPrincipal: grantee,
        IssuingAccount: `arn:aws:iam::${account}:root`,
        Operations: ['Decrypt', 'GenerateDataKey'],
        Constraints: { EncryptionContextSubset: { app: 'orders' } },
      },
    ]);
    const g2 = await kms().send(
      new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: grantee, Operations: ['Encrypt'] }),
    );
    expect(
      (await kms().send(new ListGrantsCommand({ KeyId: key.KeyId, GrantId: g2.GrantId }))).Grants,
    ).toHaveLength(1);
    await kms().send(new RetireGrantCommand({ GrantToken: g1.GrantToken }));
    await kms().send(new RevokeGrantCommand({ KeyId: key.KeyId, GrantId: g2.GrantId }));
    expect((await kms().send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants).toEqual([]);
    await expectError(
      kms().send(new RevokeGrantCommand({ KeyId: key.KeyId, GrantId: g2.GrantId })),
      'NotFoundException',
      404,
    );
  });

  it('is idempotent by Name with identical parameters and enforces the per-key grant cap', async () => {
    const key = await newKey();
    const input = {
      KeyId: key.KeyId,
      GranteePrincipal: grantee,
      Operations: ['Decrypt' as const],
      Name: 'same',
    };
    const a = await kms().send(new CreateGrantCommand(input));
    const b = await kms().send(new CreateGrantCommand(input));
    expect(b.GrantId).toBe(a.GrantId);
    expect(b.GrantToken).not.toBe(a.GrantToken);
    // Same name, different operations: a new grant.
    const c = await kms().send(new CreateGrantCommand({ ...input, Operations: ['Encrypt'] }));
    expect(c.GrantId).not.toBe(a.GrantId);
    // Service grants made through world.kms count against the same cap (grantsPerKey is 3 here).
    fixture.emulator.world().kms.createServiceGrant(key.KeyId!, {
      name: 'svc',
      granteeServicePrincipal: 'cassandra.amazonaws.com',
      operations: ['Decrypt'],
    });
    expect(fixture.emulator.world().kms.grantCount(key.Arn!)).toBe(3);
    const e = await expectError(
      kms().send(new CreateGrantCommand({ ...input, Name: 'another' })),
      'LimitExceededException',
      400,
    );
    expect(e.message).toContain('limit is 3');
    // A retry of an existing grant still succeeds when the key is full.
    expect((await kms().send(new CreateGrantCommand(input))).GrantId).toBe(a.GrantId);
  });

  it('validates grantee, operations and service-principal grants', async () => {
    const key = await newKey();
    await expectError(
      kms().send(
        new CreateGrantCommand({
          KeyId: key.KeyId,
          GranteePrincipal: grantee,
          GranteeServicePrincipal: 'cassandra.amazonaws.com',
          Operations: ['Decrypt'],
        }),
      ),
      'ValidationException',
      400,
    );
    await expectError(
      kms().send(new CreateGrantCommand({ KeyId: key.KeyId, Operations: ['Decrypt'] })),
      'ValidationException',
      400,
    );
    await expectError(
      kms().send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: grantee, Operations: [] })),
      'ValidationException',
      400,
    );
    await expectError(
      kms().send(
        new CreateGrantCommand({
          KeyId: key.KeyId,
          GranteeServicePrincipal: 'cassandra.amazonaws.com',
          Operations: ['Decrypt'],
        }),
      ),
      'ValidationException',
      400,
    );
    const ok = await kms().send(
      new CreateGrantCommand({
        KeyId: key.KeyId,
        GranteeServicePrincipal: 'cassandra.amazonaws.com',
        RetiringServicePrincipal: 'cassandra.amazonaws.com',
        Constraints: { SourceArn: 'arn:aws:cassandra:us-east-1:111122223333:/keyspace/ks/table/t' },
        Operations: ['Decrypt'],
      }),
    );
    expect((await kms().send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants?.[0]).toMatchObject({
      GrantId: ok.GrantId,
      GranteeServicePrincipal: 'cassandra.amazonaws.com',
    });
  });

  it('DryRun CreateGrant answers DryRunOperationException (412) and creates nothing', async () => {
    const key = await newKey();
    await expectError(
      kms().send(
        new CreateGrantCommand({
          KeyId: key.KeyId,
          GranteePrincipal: grantee,
          Operations: ['Decrypt'],
          DryRun: true,
        }),
      ),
      'DryRunOperationException',
      412,
    );
    expect((await kms().send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants).toEqual([]);
  });

  it('DryRun RetireGrant/RevokeGrant answer 412 and keep the grant; unknown grants and tokens are refused', async () => {
    const key = await newKey();
    const g = await kms().send(
      new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: grantee, Operations: ['Decrypt'] }),
    );
    await expectError(
      kms().send(new RevokeGrantCommand({ KeyId: key.KeyId, GrantId: g.GrantId, DryRun: true })),
      'DryRunOperationException',
      412,
    );
    await expectError(
      kms().send(new RetireGrantCommand({ KeyId: key.Arn, GrantId: g.GrantId, DryRun: true })),
      'DryRunOperationException',
      412,
    );
    expect((await kms().send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants).toHaveLength(1);
    await expectError(
      kms().send(new RetireGrantCommand({ GrantToken: 'nope' })),
      'InvalidGrantTokenException',
      400,
    );
    await expectError(
      kms().send(new RetireGrantCommand({ KeyId: key.Arn, GrantId: 'f'.repeat(64) })),
      'NotFoundException',
      404,
    );
    await kms().send(new RetireGrantCommand({ KeyId: key.Arn, GrantId: g.GrantId }));
    expect((await kms().send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants).toEqual([]);
  });

  it('retireServiceGrant and grantCount work for other services; a deleted key drops its grants', async () => {
    const key = await newKey();
    const world = fixture.emulator.world();
    const id = world.kms.createServiceGrant(key.Arn!, {
      name: 'table',
      granteeServicePrincipal: 'cassandra.amazonaws.com',
      retiringServicePrincipal: 'cassandra.amazonaws.com',
      operations: ['Decrypt', 'Encrypt'],
      encryptionContextSubset: { 'aws:cassandra:tableName': 't' },
    });
    const listed = (await kms().send(new ListGrantsCommand({ KeyId: key.KeyId }))).Grants!;
    expect(listed[0]).toMatchObject({
      GrantId: id,
      Constraints: { EncryptionContextSubset: { 'aws:cassandra:tableName': 't' } },
      RetiringServicePrincipal: 'cassandra.amazonaws.com',
    });
    world.kms.retireServiceGrant(key.KeyId!, id);
    world.kms.retireServiceGrant(key.KeyId!, id); // already gone: no error
    expect(world.kms.grantCount(key.KeyId!)).toBe(0);
  });
});

describe('encryption', () => {
  it('Encrypt/Decrypt round-trips and binds the ciphertext to its encryption context', async () => {
    const key = await newKey();
    const plaintext = new TextEncoder().encode('secret');
    const ctx = { tenant: 'a', table: 'orders' };
    const enc = await kms().send(
      new EncryptCommand({ KeyId: key.KeyId, Plaintext: plaintext, EncryptionContext: ctx }),
    );
    expect(enc).toMatchObject({ KeyId: key.Arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    // Context order does not matter; the key is found from the ciphertext.
    const dec = await kms().send(
      new DecryptCommand({
        CiphertextBlob: enc.CiphertextBlob,
        EncryptionContext: { table: 'orders', tenant: 'a' },
      }),
    );
    expect(new TextDecoder().decode(dec.Plaintext)).toBe('secret');
    expect(dec).toMatchObject({ KeyId: key.Arn, KeyMaterialId: key.CurrentKeyMaterialId });
    await expectError(
      kms().send(
        new DecryptCommand({
          CiphertextBlob: enc.CiphertextBlob,
          EncryptionContext: { tenant: 'b', table: 'orders' },
        }),
      ),
      'InvalidCiphertextException',
      400,
    );
    await expectError(
      kms().send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })),
      'InvalidCiphertextException',
      400,
    );
    await expectError(
      kms().send(new DecryptCommand({ CiphertextBlob: new Uint8Array([1, 2, 3, 4]) })),
      'InvalidCiphertextException',
      400,
    );
    const other = await newKey();
    await expectError(
      kms().send(
        new DecryptCommand({
          CiphertextBlob: enc.CiphertextBlob,
          EncryptionContext: ctx,
          KeyId: other.KeyId,
        }),
      ),
      'IncorrectKeyException',
      400,
    );
  });

  it('data keys decrypt to their plaintext; old material still decrypts after rotation', async () => {
    const key = await newKey();
    const dk = await kms().send(
      new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: 'AES_256', EncryptionContext: { a: '1' } }),
    );
    expect(dk.Plaintext).toHaveLength(32);
    expect(dk.KeyMaterialId).toBe(key.CurrentKeyMaterialId);
    const small = await kms().send(new GenerateDataKeyCommand({ KeyId: key.KeyId, NumberOfBytes: 7 }));
    expect(small.Plaintext).toHaveLength(7);
    const noPlain = await kms().send(
      new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.KeyId, KeySpec: 'AES_128' }),
    );
    expect(noPlain).not.toHaveProperty('Plaintext');
    await kms().send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    advance(1000);
    const dec = await kms().send(
      new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { a: '1' } }),
    );
    expect(Buffer.from(dec.Plaintext!)).toEqual(Buffer.from(dk.Plaintext!));
    expect(dec.KeyMaterialId).toBe(key.CurrentKeyMaterialId);
    const fresh = await kms().send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: 'AES_256' }));
    expect(fresh.KeyMaterialId).not.toBe(key.CurrentKeyMaterialId);
    await expectError(
      kms().send(new GenerateDataKeyCommand({ KeyId: key.KeyId })),
      'ValidationException',
      400,
    );
    await expectError(
      kms().send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: 'AES_256', NumberOfBytes: 32 })),
      'ValidationException',
      400,
    );
  });

  it('refuses keys of the wrong usage with InvalidKeyUsageException', async () => {
    const signing = await newKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    await expectError(
      kms().send(new EncryptCommand({ KeyId: signing.KeyId, Plaintext: new Uint8Array([1]) })),
      'InvalidKeyUsageException',
      400,
    );
    const rsa = await newKey({ KeySpec: 'RSA_2048' });
    await expectError(
      kms().send(new GenerateDataKeyCommand({ KeyId: rsa.KeyId, KeySpec: 'AES_256' })),
      'InvalidKeyUsageException',
      400,
    );
  });

  it('DryRun of crypto calls answers 412 when allowed, and Decrypt IGNORE_CIPHERTEXT needs only KeyId', async () => {
    const key = await newKey();
    await expectError(
      kms().send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: new Uint8Array([1]), DryRun: true })),
      'DryRunOperationException',
      412,
    );
    await expectError(
      kms().send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: 'AES_256', DryRun: true })),
      'DryRunOperationException',
      412,
    );
    await expectError(
      kms().send(
        new DecryptCommand({
          KeyId: key.KeyId,
          DryRun: true,
          DryRunModifiers: ['IGNORE_CIPHERTEXT'],
          EncryptionContext: {
            'aws:kinesisanalytics:arn': 'arn:aws:kinesisanalytics:us-east-1:111122223333:application/a',
          },
        }),
      ),
      'DryRunOperationException',
      412,
    );
    await expectError(
      kms().send(new DecryptCommand({ DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })),
      'ValidationException',
      400,
    );
    // A dry run on a Disabled key reports what the real call would: DisabledException.
    await kms().send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await expectError(
      kms().send(
        new DecryptCommand({ KeyId: key.KeyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] }),
      ),
      'DisabledException',
      409,
    );
  });
});

describe('tags', () => {
  it('tags, untags and lists tags; aws: keys are reserved', async () => {
    const key = await newKey({ Tags: [{ TagKey: 'team', TagValue: 'data' }] });
    await kms().send(
      new TagResourceCommand({
        KeyId: key.KeyId,
        Tags: [
          { TagKey: 'env', TagValue: 'prod' },
          { TagKey: 'team', TagValue: 'platform' },
        ],
      }),
    );
    expect((await kms().send(new ListResourceTagsCommand({ KeyId: key.KeyId }))).Tags).toEqual([
      { TagKey: 'team', TagValue: 'platform' },
      { TagKey: 'env', TagValue: 'prod' },
    ]);
    await kms().send(new UntagResourceCommand({ KeyId: key.KeyId, TagKeys: ['team'] }));
    const page = await kms().send(new ListResourceTagsCommand({ KeyId: key.KeyId, Limit: 1 }));
    expect(page).toMatchObject({ Tags: [{ TagKey: 'env', TagValue: 'prod' }], Truncated: false });
    await expectError(
      kms().send(new TagResourceCommand({ KeyId: key.KeyId, Tags: [{ TagKey: 'aws:x', TagValue: 'y' }] })),
      'TagException',
      400,
    );
  });
});

describe('key policies', () => {
  it('GetKeyPolicy/PutKeyPolicy accept only the policy name "default" and validate the document', async () => {
    const key = await newKey();
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'root', Effect: 'Allow', Principal: { AWS: account }, Action: 'kms:*', Resource: '*' },
      ],
    });
    await kms().send(new PutKeyPolicyCommand({ KeyId: key.KeyId, Policy: policy }));
    expect(
      await kms().send(new GetKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default' })),
    ).toMatchObject({
      Policy: policy,
      PolicyName: 'default',
    });
    await expectError(
      kms().send(new GetKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'other' })),
      'NotFoundException',
      404,
    );
    for (const bad of [
      'nope',
      '{}',
      JSON.stringify({ Statement: [{ Effect: 'Maybe', Principal: '*', Action: 'kms:*', Resource: '*' }] }),
      JSON.stringify({
        Statement: [
          {
            Effect: 'Allow',
            Principal: '*',
            Action: 'kms:*',
            Resource: '*',
            Condition: { StringSortOf: { a: 'b' } },
          },
        ],
      }),
    ])
      await expectError(
        kms().send(new PutKeyPolicyCommand({ KeyId: key.KeyId, Policy: bad })),
        'MalformedPolicyDocumentException',
        400,
      );
  });

  it('refuses a policy that would lock the caller out unless BypassPolicyLockoutSafetyCheck is set', async () => {
    const key = await newKey();
    const lockout = JSON.stringify({
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${account}:role/someone-else` },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    });
    await expectError(
      kms().send(new PutKeyPolicyCommand({ KeyId: key.KeyId, Policy: lockout })),
      'MalformedPolicyDocumentException',
      400,
    );
    await kms().send(
      new PutKeyPolicyCommand({ KeyId: key.KeyId, Policy: lockout, BypassPolicyLockoutSafetyCheck: true }),
    );
    // The administrator (account root) is now locked out of the key.
    await expectError(kms().send(new DescribeKeyCommand({ KeyId: key.KeyId })), 'AccessDeniedException', 400);
  });
});

describe('seed section', () => {
  it('seeds keys with aliases, state, policy, rotation, tags, Region and account', async () => {
    fixture.emulator.seed({
      kms: {
        keys: [
          {
            keyId: '11111111-2222-4333-8444-555555555555',
            alias: 'alias/seeded',
            description: 'from seed',
            rotation: { enabled: true, periodInDays: 180 },
            tags: { team: 'data' },
          },
          { keyId: '11111111-2222-4333-8444-666666666666', aliases: ['alias/x', 'y'], state: 'Disabled' },
          { keyId: '11111111-2222-4333-8444-777777777777', state: 'PendingDeletion', pendingWindowInDays: 7 },
          { keyId: '11111111-2222-4333-8444-888888888888', region: 'eu-west-1', keySpec: 'HMAC_256' },
          {
            keyId: '11111111-2222-4333-8444-999999999999',
            policy: {
              Statement: [
                { Effect: 'Allow', Principal: { AWS: account }, Action: 'kms:Describe*', Resource: '*' },
              ],
            },
          },
        ],
      },
    });
    const seeded = (await kms().send(new DescribeKeyCommand({ KeyId: 'alias/seeded' }))).KeyMetadata!;
    expect(seeded).toMatchObject({ KeyId: '11111111-2222-4333-8444-555555555555', Description: 'from seed' });
    const rot = await kms().send(new GetKeyRotationStatusCommand({ KeyId: seeded.KeyId }));
    expect(rot).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 180 });
    expect((await kms().send(new ListResourceTagsCommand({ KeyId: seeded.KeyId }))).Tags).toEqual([
      { TagKey: 'team', TagValue: 'data' },
    ]);
    expect((await kms().send(new DescribeKeyCommand({ KeyId: 'alias/y' }))).KeyMetadata?.KeyState).toBe(
      'Disabled',
    );
    const pending = (
      await kms().send(new DescribeKeyCommand({ KeyId: '11111111-2222-4333-8444-777777777777' }))
    ).KeyMetadata!;
    expect(pending.DeletionDate?.getTime()).toBe(frozenAt + 7 * dayMs);
    const hmac = await kms({ region: 'eu-west-1' }).send(
      new DescribeKeyCommand({ KeyId: '11111111-2222-4333-8444-888888888888' }),
    );
    expect(hmac.KeyMetadata).toMatchObject({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    // The seeded policy allows only kms:Describe* through IAM.
    const restricted = await kms().send(
      new DescribeKeyCommand({ KeyId: '11111111-2222-4333-8444-999999999999' }),
    );
    expect(restricted.KeyMetadata?.KeyId).toBe('11111111-2222-4333-8444-999999999999');
    await expectError(
      kms().send(new GetKeyPolicyCommand({ KeyId: '11111111-2222-4333-8444-999999999999' })),
      'AccessDeniedException',
      400,
    );
    expect(() => fixture.emulator.seed({ kms: { keys: [{ state: 'Gone' }] } })).toThrow(/state/);
    expect(() => fixture.emulator.seed({ kms: { keys: [{ policy: '{bad' }] } })).toThrow(/policy/);
  });

  it('world.kms.findKey resolves ids, ARNs and aliases within an account and Region', async () => {
    const key = await newKey();
    await kms().send(new CreateAliasCommand({ AliasName: 'alias/find', TargetKeyId: key.KeyId }));
    const world = fixture.emulator.world();
    for (const ref of [key.KeyId!, key.Arn!, 'alias/find', `arn:aws:kms:us-east-1:${account}:alias/find`])
      expect(world.kms.findKey(ref, 'us-east-1', account)).toMatchObject({
        keyId: key.KeyId,
        arn: key.Arn,
        state: 'Enabled',
        keySpec: 'SYMMETRIC_DEFAULT',
        keyUsage: 'ENCRYPT_DECRYPT',
        keyManager: 'CUSTOMER',
        origin: 'AWS_KMS',
        currentKeyMaterialId: key.CurrentKeyMaterialId,
      });
    expect(world.kms.findKey('alias/find', 'eu-west-1', account)).toBeUndefined();
    expect(world.kms.findKey(key.KeyId!, 'us-east-1', '999988887777')).toBeUndefined();
  });
});
