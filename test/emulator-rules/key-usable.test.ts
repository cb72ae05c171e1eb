// The shared "key usable by service X" chain (emulator/core/key-usable.ts): one check order, each
// service's wording. A fake key directory stands in for KMS; no emulator, no HTTP.

import { describe, expect, it } from 'vitest';
import type { Principal } from '../../emulator/core/identity.ts';
import {
  checkKeyUsable,
  emrKeyVocabulary,
  identifierScope,
  isSymmetricEncryptionKey,
  type KeyDirectory,
  type KeyUseRequest,
  type KeyUseVocabulary,
  keyServesData,
  keyspacesKeyVocabulary,
  keyUseChecks,
  msfKeyVocabulary,
} from '../../emulator/core/key-usable.ts';
import type { KeyView, WorkloadService } from '../../emulator/core/world.ts';
import { account, exampleKeyId, keyArnOf, keyView } from '../fixtures/keys.ts';

const region = 'us-east-1';
const keyId = exampleKeyId;
const keyArn = keyArnOf(region, keyId);
const caller: Principal = {
  arn: `arn:aws:iam::${account}:role/operator`,
  accountId: account,
  accessKeyId: 'AKIAEXAMPLE',
  type: 'role',
};

const key = (overrides: Partial<KeyView> = {}): KeyView => keyView(keyArn, overrides);

/** A directory that knows one key (by id, ARN and `alias/app`) and records what it was asked. */
function directory(found: KeyView | undefined, denied?: string) {
  const calls: string[] = [];
  const dir: KeyDirectory = {
    findKey(ref) {
      calls.push(`findKey ${ref}`);
      return found && [keyId, keyArn, 'alias/app', `arn:aws:kms:${region}:${account}:alias/app`].includes(ref)
        ? found
        : undefined;
    },
    serviceUseDenied(request) {
      calls.push(`serviceUseDenied ${request.service}`);
      return denied;
    },
  };
  return { dir, calls };
}

const services: Array<[WorkloadService, KeyUseVocabulary]> = [
  ['kinesisanalytics', msfKeyVocabulary],
  ['cassandra', keyspacesKeyVocabulary],
  ['emr-serverless', emrKeyVocabulary],
];

function request(service: WorkloadService, ref: string): KeyUseRequest {
  return {
    service,
    ref,
    region,
    accountId: account,
    caller,
    sourceArn: 'arn:aws:svc:us-east-1:111122223333:workload/w',
    encryptionContext: { ctx: 'v' },
  };
}

describe('the check chain', () => {
  it('runs the steps in one documented order', () => {
    expect(keyUseChecks).toEqual([
      'format',
      'region',
      'account',
      'exists',
      'scope',
      'customerManaged',
      'symmetric',
      'enabled',
      'policy',
    ]);
  });

  it.each(services)('%s: a usable key passes and is returned', (service, vocabulary) => {
    const { dir } = directory(key());
    expect(checkKeyUsable(dir, vocabulary, request(service, keyArn))).toEqual({ ok: true, key: key() });
  });

  // Each row: a broken fact, the step that must catch it, and what each service says.
  const cases: Array<{
    name: string;
    ref: string;
    found?: KeyView;
    denied?: string;
    check: string;
    messages: Record<WorkloadService, string>;
  }> = [
    {
      name: 'another region',
      ref: `arn:aws:kms:eu-west-1:${account}:key/${keyId}`,
      found: key(),
      check: 'region',
      messages: {
        kinesisanalytics: `KMS key arn:aws:kms:eu-west-1:${account}:key/${keyId} is in region eu-west-1; the key must be in the application's region us-east-1.`,
        cassandra: `The KMS key arn:aws:kms:eu-west-1:${account}:key/${keyId} is in eu-west-1; Amazon Keyspaces tables in us-east-1 can only use KMS keys in us-east-1`,
        'emr-serverless': `The KMS key arn:aws:kms:eu-west-1:${account}:key/${keyId} is in eu-west-1; EMR Serverless in us-east-1 needs a key in us-east-1`,
      },
    },
    {
      name: 'another account',
      ref: `arn:aws:kms:${region}:444455556666:key/${keyId}`,
      found: key(),
      check: 'account',
      messages: {
        kinesisanalytics: `KMS key arn:aws:kms:${region}:444455556666:key/${keyId} belongs to account 444455556666; the key must be in the application's account ${account}.`,
        cassandra: `The KMS key arn:aws:kms:${region}:444455556666:key/${keyId} belongs to account 444455556666; use a KMS key in account ${account}`,
        'emr-serverless': `The KMS key arn:aws:kms:${region}:444455556666:key/${keyId} belongs to account 444455556666; use a KMS key in account ${account}`,
      },
    },
    {
      name: 'no such key',
      ref: keyArn,
      check: 'exists',
      messages: {
        kinesisanalytics: `KMS key ${keyArn} does not exist or is not accessible in region us-east-1.`,
        cassandra: `The KMS key ${keyArn} does not exist or is not accessible to Amazon Keyspaces`,
        'emr-serverless': `The KMS key ${keyArn} does not exist`,
      },
    },
    {
      name: 'an AWS managed key',
      ref: keyArn,
      found: key({ keyManager: 'AWS' }),
      check: 'customerManaged',
      messages: {
        kinesisanalytics: `KMS key ${keyArn} is an AWS managed key; only customer managed keys can be used.`,
        cassandra: `The KMS key ${keyArn} is an AWS managed key; specify a customer managed key`,
        'emr-serverless': `The KMS key ${keyArn} is an AWS managed key; specify a customer managed key`,
      },
    },
    {
      name: 'an asymmetric key',
      ref: keyArn,
      found: key({ keySpec: 'RSA_2048' }),
      check: 'symmetric',
      messages: {
        kinesisanalytics: `KMS key ${keyArn} has KeySpec RSA_2048 and KeyUsage ENCRYPT_DECRYPT; only symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) are supported.`,
        cassandra: `The KMS key ${keyArn} is not a symmetric encryption key (KeySpec RSA_2048, KeyUsage ENCRYPT_DECRYPT); Amazon Keyspaces supports only symmetric encryption KMS keys`,
        'emr-serverless': `The KMS key ${keyArn} is not a symmetric encryption key (KeySpec RSA_2048, KeyUsage ENCRYPT_DECRYPT); EMR Serverless supports only symmetric encryption KMS keys`,
      },
    },
    {
      name: 'an HMAC key (wrong usage)',
      ref: keyArn,
      found: key({ keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC' }),
      check: 'symmetric',
      messages: {
        kinesisanalytics: `KMS key ${keyArn} has KeySpec HMAC_256 and KeyUsage GENERATE_VERIFY_MAC; only symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) are supported.`,
        cassandra: `The KMS key ${keyArn} is not a symmetric encryption key (KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC); Amazon Keyspaces supports only symmetric encryption KMS keys`,
        'emr-serverless': `The KMS key ${keyArn} is not a symmetric encryption key (KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC); EMR Serverless supports only symmetric encryption KMS keys`,
      },
    },
    {
      name: 'a disabled key',
      ref: keyArn,
      found: key({ state: 'Disabled' }),
      check: 'enabled',
      messages: {
        kinesisanalytics: `KMS key ${keyArn} is Disabled; the key must be Enabled.`,
        cassandra: `The KMS key ${keyArn} is Disabled; Amazon Keyspaces can only use an Enabled KMS key`,
        'emr-serverless': `The KMS key ${keyArn} is Disabled; EMR Serverless can only use an Enabled KMS key`,
      },
    },
    {
      name: 'a key pending deletion',
      ref: keyArn,
      found: key({ state: 'PendingDeletion' }),
      check: 'enabled',
      messages: {
        kinesisanalytics: `KMS key ${keyArn} is PendingDeletion; the key must be Enabled.`,
        cassandra: `The KMS key ${keyArn} is PendingDeletion; Amazon Keyspaces can only use an Enabled KMS key`,
        'emr-serverless': `The KMS key ${keyArn} is PendingDeletion; EMR Serverless can only use an Enabled KMS key`,
      },
    },
    {
      name: 'a key policy that refuses the service',
      ref: keyArn,
      found: key(),
      denied: 'no statement allows it',
      check: 'policy',
      messages: {
        kinesisanalytics: `Managed Service for Apache Flink cannot use KMS key ${keyArn}: no statement allows it`,
        cassandra: `Amazon Keyspaces could not use the KMS key ${keyArn} on behalf of ${caller.arn}: no statement allows it`,
        'emr-serverless': `EMR Serverless could not use the KMS key ${keyArn} on behalf of ${caller.arn}: no statement allows it`,
      },
    },
  ];

  for (const c of cases) {
    it.each(services)(
      `${c.name}: %s fails the ${c.check} step with its own wording`,
      (service, vocabulary) => {
        const { dir } = directory(c.found, c.denied);
        expect(checkKeyUsable(dir, vocabulary, request(service, c.ref))).toEqual({
          ok: false,
          check: c.check,
          message: c.messages[service],
        });
      },
    );
  }

  it.each(services)(
    '%s: an earlier step wins when several facts are broken (AWS managed and disabled)',
    (service, vocabulary) => {
      const { dir } = directory(key({ keyManager: 'AWS', state: 'Disabled', keySpec: 'RSA_2048' }));
      const verdict = checkKeyUsable(dir, vocabulary, request(service, keyArn));
      expect(verdict.ok ? 'ok' : verdict.check).toBe('customerManaged');
    },
  );

  it.each(services)('%s: KMS is not asked once an earlier step has failed', (service, vocabulary) => {
    const regionFail = directory(key());
    checkKeyUsable(
      regionFail.dir,
      vocabulary,
      request(service, `arn:aws:kms:eu-west-1:${account}:key/${keyId}`),
    );
    expect(regionFail.calls).toEqual([]);
    const disabled = directory(key({ state: 'Disabled' }));
    checkKeyUsable(disabled.dir, vocabulary, request(service, keyArn));
    expect(disabled.calls).toEqual([`findKey ${keyArn}`]);
  });

  it('passes the workload scope, caller, source ARN and context to the policy step', () => {
    const seen: unknown[] = [];
    const dir: KeyDirectory = {
      findKey: () => key(),
      serviceUseDenied: (r) => {
        seen.push({ ...r, key: r.key.arn });
        return undefined;
      },
    };
    checkKeyUsable(dir, keyspacesKeyVocabulary, request('cassandra', keyArn));
    expect(seen).toEqual([
      {
        key: keyArn,
        service: 'cassandra',
        caller,
        region,
        accountId: account,
        sourceArn: 'arn:aws:svc:us-east-1:111122223333:workload/w',
        encryptionContext: { ctx: 'v' },
      },
    ]);
  });
});

describe('identifiers each service accepts', () => {
  const cases: Array<[string, string, KeyUseVocabulary, boolean]> = [
    ['MSF: a bare key id', keyId, msfKeyVocabulary, true],
    ['MSF: an alias name', 'alias/app', msfKeyVocabulary, true],
    ['MSF: an alias ARN', `arn:aws:kms:${region}:${account}:alias/app`, msfKeyVocabulary, true],
    ['Keyspaces: an alias ARN', `arn:aws:kms:${region}:${account}:alias/app`, keyspacesKeyVocabulary, false],
    ['Keyspaces: a bare key id', keyId, keyspacesKeyVocabulary, false],
    ['EMR: an alias name', 'alias/app', emrKeyVocabulary, false],
    ['EMR: a bare key id', keyId, emrKeyVocabulary, false],
  ];
  it.each(cases)('%s', (_name, ref, vocabulary, accepted) => {
    const { dir } = directory(key());
    const verdict = checkKeyUsable(dir, vocabulary, request('kinesisanalytics', ref));
    expect(verdict.ok).toBe(accepted);
    if (!accepted) expect(verdict).toMatchObject({ check: 'format' });
  });

  it.each([
    [
      'an ARN of another service',
      'arn:aws:s3:::bucket/key',
      'arn:aws:s3:::bucket/key is not a KMS key or alias ARN.',
    ],
    ['a truncated ARN', 'arn:aws:kms:us-east-1', 'arn:aws:kms:us-east-1 is not a KMS key or alias ARN.'],
  ])('MSF refuses %s in its own words', (_name, ref, message) => {
    const { dir } = directory(key());
    expect(checkKeyUsable(dir, msfKeyVocabulary, request('kinesisanalytics', ref))).toEqual({
      ok: false,
      check: 'format',
      message,
    });
  });

  it('EMR words a malformed ARN its own way', () => {
    const { dir } = directory(key());
    expect(checkKeyUsable(dir, emrKeyVocabulary, request('emr-serverless', 'alias/app'))).toEqual({
      ok: false,
      check: 'format',
      message:
        'Invalid encryptionKeyArn alias/app: specify the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<key-id>); aliases are not accepted',
    });
  });

  it('only MSF re-checks the scope of the key KMS resolved', () => {
    const elsewhere = key({ region: 'eu-west-1' });
    const msf = checkKeyUsable(
      directory(elsewhere).dir,
      msfKeyVocabulary,
      request('kinesisanalytics', 'alias/app'),
    );
    expect(msf).toEqual({
      ok: false,
      check: 'scope',
      message: `KMS key ${keyArn} must be in the application's account ${account} and region ${region}.`,
    });
    expect(keyspacesKeyVocabulary.messages.scope).toBeUndefined();
    expect(emrKeyVocabulary.messages.scope).toBeUndefined();
  });

  it.each([
    ['a key ARN, key-arn only', keyArn, 'key-arn', { valid: true, region, accountId: account }],
    ['an alias ARN, key-arn only', `arn:aws:kms:${region}:${account}:alias/a`, 'key-arn', { valid: false }],
    [
      'an alias ARN, any',
      `arn:aws:kms:${region}:${account}:alias/a`,
      'any',
      { valid: true, region, accountId: account },
    ],
    ['an alias name, any', 'alias/a', 'any', { valid: true }],
    ['a key id, any', keyId, 'any', { valid: true }],
    ['a non-KMS ARN, any', 'arn:aws:iam::111122223333:role/r', 'any', { valid: false }],
  ] as const)('identifierScope: %s', (_name, ref, accepts, expected) => {
    expect(identifierScope(ref, accepts)).toEqual(expected);
  });
});

describe('key facts', () => {
  it.each([
    ['Enabled', true],
    ['Disabled', false],
    ['PendingDeletion', false],
    ['PendingImport', false],
  ])('keyServesData: a %s key → %s', (state, serves) => {
    expect(keyServesData({ state })).toBe(serves);
  });

  it('keyServesData: a deleted key serves nothing', () => {
    expect(keyServesData(undefined)).toBe(false);
  });

  it.each([
    ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', true],
    ['RSA_2048', 'ENCRYPT_DECRYPT', false],
    ['HMAC_256', 'GENERATE_VERIFY_MAC', false],
    ['ECC_NIST_P256', 'SIGN_VERIFY', false],
  ])('isSymmetricEncryptionKey: %s/%s → %s', (keySpec, keyUsage, expected) => {
    expect(isSymmetricEncryptionKey({ keySpec, keyUsage })).toBe(expected);
  });
});
