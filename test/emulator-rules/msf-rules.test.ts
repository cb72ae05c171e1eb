// Managed Service for Apache Flink rules (emulator/services/msf/rules.ts) as pure functions: runtimes,
// the keys an update leaves, storage problems, key alarms, restore sources. No emulator, no HTTP.

import { describe, expect, it } from 'vitest';
import type { Principal } from '../../emulator/core/identity.ts';
import type { KeyDirectory } from '../../emulator/core/key-usable.ts';
import type { KeyView } from '../../emulator/core/world.ts';
import {
  appArn,
  cmkRuntimeProblem,
  decodeToken,
  encodeToken,
  encryptionDescription,
  keyAlarmAfterChange,
  keysLeft,
  leavingKeyProblem,
  msfKeyUse,
  parseApplicationArn,
  provisionedStorage,
  restoreSource,
  statusProblem,
  storageProblem,
} from '../../emulator/services/msf/rules.ts';
import type { Application, KeyRef, SnapshotRecord } from '../../emulator/services/msf/state.ts';
import { keyView } from '../fixtures/keys.ts';

const account = '111122223333';
const region = 'us-east-1';
const app = { name: 'orders', arn: appArn(region, account, 'orders'), region, accountId: account };
const caller: Principal = {
  arn: `arn:aws:iam::${account}:user/op`,
  accountId: account,
  accessKeyId: 'AKIA',
  type: 'user',
};
const arnA = `arn:aws:kms:${region}:${account}:key/a`;
const arnB = `arn:aws:kms:${region}:${account}:key/b`;
const cmk = (keyArn: string): KeyRef => ({ keyType: 'CUSTOMER_MANAGED_KEY', keyArn });
const aok: KeyRef = { keyType: 'AWS_OWNED_KEY' };

const view = (arn: string, state = 'Enabled'): KeyView =>
  keyView(arn, { state, currentKeyMaterialId: `material-of-${arn.split('/')[1]}` });

function kms(keys: KeyView[], denied?: string): KeyDirectory {
  return {
    findKey: (ref) => keys.find((k) => k.arn === ref),
    serviceUseDenied: () => denied,
  };
}

function snapshot(name: string, status: SnapshotRecord['status'], key: KeyRef = aok): SnapshotRecord {
  return { name, seq: 0, status, versionId: 1, createdAt: 0, runtime: 'FLINK-1_20', key, origin: 'manual' };
}

describe('MSF-005: a CMK needs FLINK-1_20 or later', () => {
  it.each([
    ['FLINK-1_20', true],
    ['FLINK-2_2', true],
    ['FLINK-2_3', true],
    ['FLINK-1_19', false],
    ['SQL-1_0', false],
    ['ZEPPELIN-FLINK-3_0', false],
  ])('%s allowed: %s', (runtime, allowed) => {
    const problem = cmkRuntimeProblem(app.arn, runtime, 'uses');
    expect(problem === undefined).toBe(allowed);
    if (!allowed)
      expect(problem).toBe(
        `Customer managed keys require runtime FLINK-1_20 or later; application ${app.arn} uses ${runtime}.`,
      );
  });
});

describe('MSF-008: how MSF asks KMS', () => {
  it('the application ARN is the source ARN and the aws:kinesisanalytics:arn context', () => {
    expect(msfKeyUse(app, caller, 'alias/x')).toEqual({
      service: 'kinesisanalytics',
      ref: 'alias/x',
      region,
      accountId: account,
      caller,
      sourceArn: app.arn,
      encryptionContext: { 'aws:kinesisanalytics:arn': app.arn },
    });
  });

  it.each([
    ['a CMK reports its type and key ARN', cmk(arnA), { KeyType: 'CUSTOMER_MANAGED_KEY', KeyId: arnA }],
    ['an AWS owned key reports only its type', aok, { KeyType: 'AWS_OWNED_KEY' }],
  ])('encryptionDescription: %s', (_name, ref, expected) => {
    expect(encryptionDescription(ref)).toEqual(expected);
  });
});

describe('MSF-015: every CMK an update leaves is checked', () => {
  it.each([
    ['CMK to another CMK', [cmk(arnA), undefined], cmk(arnB), [arnA]],
    ['CMK to AWS owned', [cmk(arnA), cmk(arnA)], aok, [arnA]],
    ['configured and running keys both left', [cmk(arnA), cmk(arnB)], aok, [arnA, arnB]],
    ['staying on the same CMK', [cmk(arnA), cmk(arnA)], cmk(arnA), []],
    ['AWS owned to a CMK', [aok, undefined], cmk(arnA), []],
  ] as const)('keysLeft: %s', (_name, current, next, left) => {
    expect([...keysLeft(current, next)]).toEqual(left);
  });

  it.each([
    ['a permitted key', [view(arnA)], undefined, undefined],
    [
      'a refused key',
      [view(arnA)],
      'missing kms:Decrypt',
      `Switching application orders away from KMS key ${arnA} requires permission on that key: missing kms:Decrypt`,
    ],
    ['a deleted key is not checked', [], 'missing kms:Decrypt', undefined],
  ])('leavingKeyProblem: %s', (_name, keys, denied, expected) => {
    expect(leavingKeyProblem(kms(keys, denied), app, arnA, caller)).toBe(expected);
  });
});

describe('MSF-013, MSF-014, MSF-018: storage under a key', () => {
  it.each([
    ['AWS owned storage always works', aok, [], undefined, caller, undefined],
    ['a deleted key', cmk(arnA), [], undefined, caller, `KMS key ${arnA} does not exist.`],
    [
      'a disabled key',
      cmk(arnA),
      [view(arnA, 'Disabled')],
      undefined,
      caller,
      `KMS key ${arnA} is Disabled.`,
    ],
    [
      'a refused key, with a caller',
      cmk(arnA),
      [view(arnA)],
      'no grant',
      caller,
      `Access to KMS key ${arnA} is denied: no grant`,
    ],
    [
      'a refused key, without a caller (system snapshot)',
      cmk(arnA),
      [view(arnA)],
      'no grant',
      undefined,
      undefined,
    ],
    ['a usable key', cmk(arnA), [view(arnA)], undefined, caller, undefined],
  ] as const)('storageProblem: %s', (_name, ref, keys, denied, who, expected) => {
    expect(storageProblem(kms([...keys], denied), app, ref, who)).toBe(expected);
  });

  it('provisioned storage captures the key material current at (re)start (MSF-017)', () => {
    expect(provisionedStorage(cmk(arnA), view(arnA))).toEqual({
      ...cmk(arnA),
      keyMaterialId: 'material-of-a',
    });
    expect(provisionedStorage(aok, undefined)).toEqual(aok);
  });
});

describe('MSF-019: a key change raises or clears an alarm, never a status change', () => {
  const raised = { keyArn: arnA, state: 'Disabled', at: 5 };
  it.each([
    ['disabled: alarm', undefined, { arn: arnA, state: 'Disabled' }, false, raised],
    [
      'deleted: alarm',
      undefined,
      { arn: arnA, state: 'Enabled' },
      true,
      { keyArn: arnA, state: 'Deleted', at: 5 },
    ],
    ['re-enabled: cleared', raised, { arn: arnA, state: 'Enabled' }, false, undefined],
    ['another key re-enabled: kept', raised, { arn: arnB, state: 'Enabled' }, false, raised],
  ] as const)('%s', (_name, current, key, deleted, expected) => {
    expect(keyAlarmAfterChange(current, key, deleted, 5)).toEqual(expected);
  });
});

describe('MSF-014: the snapshot a start restores from', () => {
  const snapshots = new Map([
    ['s1', snapshot('s1', 'READY')],
    ['s2', snapshot('s2', 'READY', cmk(arnA))],
    ['s3', snapshot('s3', 'FAILED')],
  ]);
  it.each([
    ['skip restore', { type: 'SKIP_RESTORE_FROM_SNAPSHOT' }, undefined],
    ['latest READY snapshot', { type: 'RESTORE_FROM_LATEST_SNAPSHOT' }, 's2'],
    ['a named snapshot', { type: 'RESTORE_FROM_CUSTOM_SNAPSHOT', snapshotName: 's1' }, 's1'],
    [
      'a named snapshot that is gone',
      { type: 'RESTORE_FROM_CUSTOM_SNAPSHOT', snapshotName: 'gone' },
      undefined,
    ],
  ] as const)('%s', (_name, restore, expected) => {
    const source = restoreSource({ restore: { ...restore } as Application['restore'], snapshots });
    expect(source?.name).toBe(expected);
  });
});

describe('statuses, ARNs and tokens', () => {
  it.each([
    ['READY allows UpdateApplication', 'READY', undefined],
    [
      'UPDATING refuses it',
      'UPDATING',
      'Application orders is in UPDATING status; UpdateApplication is only allowed in READY or RUNNING.',
    ],
  ] as const)('statusProblem: %s', (_name, status, expected) => {
    expect(statusProblem({ name: 'orders', status }, ['READY', 'RUNNING'], 'UpdateApplication')).toBe(
      expected,
    );
  });

  it.each([
    ['us-east-1', 'arn:aws:kinesisanalytics:us-east-1:111122223333:application/orders'],
    ['cn-north-1', 'arn:aws-cn:kinesisanalytics:cn-north-1:111122223333:application/orders'],
    ['us-gov-west-1', 'arn:aws-us-gov:kinesisanalytics:us-gov-west-1:111122223333:application/orders'],
  ])('appArn in %s', (r, expected) => {
    expect(appArn(r, account, 'orders')).toBe(expected);
    expect(parseApplicationArn(expected)).toEqual({ region: r, accountId: account, name: 'orders' });
  });

  it('parseApplicationArn refuses what is not an application ARN', () => {
    expect(() => parseApplicationArn('arn:aws:s3:::b')).toThrow(
      'arn:aws:s3:::b is not a valid application ARN.',
    );
  });

  it('page tokens round-trip and are bound to their list', () => {
    expect(decodeToken('apps', encodeToken('apps', 'orders'))).toBe('orders');
    expect(() => decodeToken('ops', encodeToken('apps', 'orders'))).toThrow(/Invalid NextToken/);
  });
});
