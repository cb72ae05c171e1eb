// Amazon Keyspaces rules (emulator/services/keyspaces/rules.ts) as pure functions: the encryption
// specification, one setting per UpdateTable, key changes moving tables, schemas. No emulator, no HTTP.

import { describe, expect, it } from 'vitest';
import type { KeyView } from '../../emulator/core/world.ts';
import {
  encryptionContext,
  grantOperations,
  knownCqlType,
  parseEncryption,
  statusAfterKeyChange,
  tableKeyUsable,
  updateSettingsProblem,
  validateSchema,
} from '../../emulator/services/keyspaces/rules.ts';
import type { TableStatus } from '../../emulator/services/keyspaces/state.ts';

const keyArn = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function error(f: () => unknown): { code: string; message: string } | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    const x = e as { code: string; message: string };
    return { code: x.code, message: x.message };
  }
}

describe('KS-022: encryptionSpecification', () => {
  it.each([
    ['the AWS owned default', { type: 'AWS_OWNED_KMS_KEY' }, { type: 'AWS_OWNED_KMS_KEY' }],
    [
      'a CMK by key ARN',
      { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: keyArn },
      { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: keyArn },
    ],
  ])('accepts %s', (_name, raw, expected) => {
    expect(parseEncryption(raw)).toEqual(expected);
  });

  it.each([
    [
      'a key id with the AWS owned type',
      { type: 'AWS_OWNED_KMS_KEY', kmsKeyIdentifier: keyArn },
      'kmsKeyIdentifier can only be specified with type CUSTOMER_MANAGED_KMS_KEY',
    ],
    [
      'a CMK without a key',
      { type: 'CUSTOMER_MANAGED_KMS_KEY' },
      'kmsKeyIdentifier is required when the encryption type is CUSTOMER_MANAGED_KMS_KEY',
    ],
    [
      'an alias name',
      { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: 'alias/app' },
      'Invalid kmsKeyIdentifier alias/app: aliases are not accepted, specify the ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key-id>)',
    ],
    [
      'an alias ARN',
      { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: 'arn:aws:kms:us-east-1:111122223333:alias/app' },
      'Invalid kmsKeyIdentifier arn:aws:kms:us-east-1:111122223333:alias/app: aliases are not accepted, specify the ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key-id>)',
    ],
    [
      'a bare key id',
      { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: '1234abcd' },
      'Invalid kmsKeyIdentifier 1234abcd: specify the ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key-id>)',
    ],
  ])('refuses %s', (_name, raw, message) => {
    expect(error(() => parseEncryption(raw))).toEqual({ code: 'ValidationException', message });
  });
});

describe('UpdateTable changes one setting per request', () => {
  it.each([
    ['one setting', ['ttl'], undefined],
    ['capacity with auto scaling', ['capacitySpecification', 'autoScalingSpecification'], undefined],
    [
      'nothing',
      [],
      'UpdateTable needs one table setting to change; none of addColumns, capacitySpecification, encryptionSpecification, pointInTimeRecovery, ttl, defaultTimeToLive, clientSideTimestamps, autoScalingSpecification, replicaSpecifications, cdcSpecification, warmThroughputSpecification was given',
    ],
    [
      'encryption with another setting',
      ['encryptionSpecification', 'ttl'],
      'encryptionSpecification must be updated on its own; this request also changes ttl. Send one UpdateTable request per setting',
    ],
    [
      'two unrelated settings',
      ['ttl', 'defaultTimeToLive'],
      'UpdateTable changes one table setting per request; this request changes ttl, defaultTimeToLive',
    ],
  ])('%s', (_name, present, expected) => {
    expect(updateSettingsProblem(present)).toBe(expected);
  });
});

describe('KS-018, KS-019: a key change moves the tables on it', () => {
  it.each<[string, TableStatus, boolean, 'lock' | 'restore' | undefined]>([
    ['an ACTIVE table loses its key', 'ACTIVE', false, 'lock'],
    ['an inaccessible table gets its key back', 'INACCESSIBLE_ENCRYPTION_CREDENTIALS', true, 'restore'],
    ['an ACTIVE table whose key stays usable', 'ACTIVE', true, undefined],
    ['a CREATING table waits for its transition', 'CREATING', false, undefined],
    ['an UPDATING table waits for its transition', 'UPDATING', false, undefined],
  ])('%s', (_name, status, usable, expected) => {
    expect(statusAfterKeyChange(status, usable)).toBe(expected);
  });

  const key = (state: string) => ({ state }) as KeyView;
  it.each([
    ['AWS owned tables are always readable', { type: 'AWS_OWNED_KMS_KEY' as const }, undefined, true],
    [
      'a CMK table on an Enabled key',
      { type: 'CUSTOMER_MANAGED_KMS_KEY' as const, kmsKeyIdentifier: keyArn },
      key('Enabled'),
      true,
    ],
    [
      'a CMK table on a Disabled key',
      { type: 'CUSTOMER_MANAGED_KMS_KEY' as const, kmsKeyIdentifier: keyArn },
      key('Disabled'),
      false,
    ],
    [
      'a CMK table whose key is gone',
      { type: 'CUSTOMER_MANAGED_KMS_KEY' as const, kmsKeyIdentifier: keyArn },
      undefined,
      false,
    ],
  ])('tableKeyUsable: %s', (_name, encryption, found, expected) => {
    expect(tableKeyUsable(encryption, found)).toBe(expected);
  });
});

describe('KS-012, KS-016: grants and encryption context', () => {
  it('the three aws:cassandra pairs', () => {
    expect(encryptionContext({ keyspaceName: 'shop', name: 'orders', accountId: '111122223333' })).toEqual({
      'aws:cassandra:keyspaceName': 'shop',
      'aws:cassandra:tableName': 'orders',
      'aws:cassandra:subscriberId': '111122223333',
    });
  });

  it('the grant operations', () => {
    expect(grantOperations).toEqual([
      'DescribeKey',
      'GenerateDataKey',
      'Decrypt',
      'Encrypt',
      'ReEncryptFrom',
      'ReEncryptTo',
      'RetireGrant',
    ]);
  });
});

describe('schemas', () => {
  const base = { allColumns: [{ name: 'id', type: 'text' }], partitionKeys: [{ name: 'id' }] };
  it.each([
    ['text', true],
    ['map<text, int>', true],
    [' Frozen<list<int>> ', true],
    ['jsonb', false],
  ])('knownCqlType(%j) → %s', (type, known) => {
    expect(knownCqlType(type)).toBe(known);
  });

  it.each([
    [
      'an unknown column type',
      { allColumns: [{ name: 'id', type: 'jsonb' }], partitionKeys: [{ name: 'id' }] },
      'Unknown type jsonb for column id',
    ],
    [
      'a partition key not among the columns',
      { ...base, partitionKeys: [{ name: 'missing' }] },
      'Unknown partition key column missing: not defined in allColumns',
    ],
    [
      'a collection in the primary key',
      { allColumns: [{ name: 'tags', type: 'set<text>' }], partitionKeys: [{ name: 'tags' }] },
      'Invalid partition key column tags: type set<text> cannot be part of the primary key',
    ],
    [
      'static columns without clustering columns',
      {
        ...base,
        allColumns: [...base.allColumns, { name: 's', type: 'int' }],
        staticColumns: [{ name: 's' }],
      },
      'Static columns are only allowed in tables with clustering columns',
    ],
  ])('refuses %s', (_name, schema, message) => {
    expect(error(() => validateSchema(schema))).toEqual({ code: 'ValidationException', message });
  });

  it('returns a copy of a valid schema', () => {
    const copy = validateSchema(base);
    expect(copy).toEqual(base);
    expect(copy).not.toBe(base);
  });
});
