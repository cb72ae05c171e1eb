// KMS rules (emulator/services/kms/rules.ts, authorization.ts) as pure functions on key records: state
// guards, rotation, aliases, grants, pagination. No emulator, no HTTP.

import { describe, expect, it } from 'vitest';
import type { CallContext } from '../../emulator/core/service.ts';
import { parseKeyPolicy } from '../../emulator/policy.ts';
import { grantAllows } from '../../emulator/services/kms/authorization.ts';
import {
  contextMap,
  dayMs,
  defaultKeyPolicy,
  nextRotationAfterPeriodChange,
  onDemandRotationProblem,
  paginate,
  requestPrincipal,
  requireNotPendingDeletion,
  requireRotatable,
  requireUsable,
  sameGrant,
  sameKeyType,
  stateAfterCancelledDeletion,
  validateAliasName,
} from '../../emulator/services/kms/rules.ts';
import type { Grant, KeyRecord } from '../../emulator/services/kms/state.ts';

const account = '111122223333';
const arn = `arn:aws:kms:us-east-1:${account}:key/k1`;

function record(overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    keyId: 'k1',
    arn,
    accountId: account,
    region: 'us-east-1',
    description: '',
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin: 'AWS_KMS',
    state: 'Enabled',
    keyManager: 'CUSTOMER',
    creationDate: 0,
    multiRegion: false,
    policyText: defaultKeyPolicy(account),
    policy: parseKeyPolicy(defaultKeyPolicy(account)),
    tags: new Map(),
    aliases: new Set(),
    grants: new Map(),
    grantsByGrantee: new Map(),
    grantsByName: new Map(),
    materials: new Map(),
    currentMaterialId: 'm1',
    initialMaterialId: 'm1',
    initialMaterialDate: 0,
    rotation: { enabled: false, periodDays: 365, since: 0, missed: false },
    rotations: [],
    ...overrides,
  };
}

function thrown(f: () => unknown): { code: string; status: number; message: string } | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    const x = e as { code: string; status: number; message: string };
    return { code: x.code, status: x.status, message: x.message };
  }
}

describe('KMS-004, KMS-005: what a key state refuses', () => {
  it.each([
    ['Enabled', undefined],
    ['Disabled', { code: 'DisabledException', status: 409, message: `${arn} is disabled.` }],
    [
      'PendingDeletion',
      { code: 'KMSInvalidStateException', status: 409, message: `${arn} is pending deletion.` },
    ],
    [
      'PendingImport',
      { code: 'KMSInvalidStateException', status: 409, message: `${arn} is pending import.` },
    ],
  ])('cryptographic use of a %s key', (state, expected) => {
    expect(thrown(() => requireUsable(record({ state })))).toEqual(expected);
  });

  it.each([
    ['Enabled', false],
    ['Disabled', false],
    ['PendingDeletion', true],
  ])('management calls on a %s key refused: %s', (state, refused) => {
    expect(thrown(() => requireNotPendingDeletion(record({ state }))) !== undefined).toBe(refused);
  });

  it.each([
    ['a key with material returns to Disabled', 'm1', 'Disabled'],
    ['an imported key without material returns to PendingImport', '', 'PendingImport'],
  ])('KMS-003 CancelKeyDeletion: %s', (_name, currentMaterialId, state) => {
    expect(stateAfterCancelledDeletion({ currentMaterialId })).toBe(state);
  });
});

describe('KMS-007, KMS-008: rotation', () => {
  it.each([
    ['a symmetric KMS key rotates', {}, undefined],
    ['an RSA key does not', { keySpec: 'RSA_2048' }, 'UnsupportedOperationException'],
    ['imported material does not', { origin: 'EXTERNAL' }, 'UnsupportedOperationException'],
  ])('%s', (_name, overrides, code) => {
    expect(thrown(() => requireRotatable(record(overrides)))?.code).toBe(code);
  });

  it.each([
    ['the new period is still ahead', 0, 400, 10 * dayMs, 400 * dayMs],
    ['the new period is already over: now', 0, 90, 200 * dayMs, 200 * dayMs],
  ])('period change: %s', (_name, since, periodDays, now, expected) => {
    expect(nextRotationAfterPeriodChange(since, periodDays, now)).toBe(expected);
  });

  const now = 1_000 * dayMs;
  it.each([
    ['free to rotate', {}, 10, undefined],
    [
      'one already running',
      { onDemand: { startedAt: now, event: { cancel() {} } as never } },
      10,
      'ConflictException',
    ],
    [
      'an automatic rotation due within 20 minutes',
      { rotation: { enabled: true, periodDays: 365, since: 0, missed: false, nextAt: now + 60_000 } },
      10,
      'ConflictException',
    ],
    [
      'the cap used up',
      { rotations: [{ materialId: 'm2', date: 0, type: 'ON_DEMAND' as const }] },
      1,
      'LimitExceededException',
    ],
    [
      'automatic rotations do not count against the cap',
      { rotations: [{ materialId: 'm2', date: 0, type: 'AUTOMATIC' as const }] },
      1,
      undefined,
    ],
  ])('on demand: %s', (_name, overrides, cap, code) => {
    expect(onDemandRotationProblem(record(overrides), now, cap)?.code).toBe(code);
  });
});

describe('aliases', () => {
  it.each([
    ['a good name', 'alias/app', undefined],
    ['no prefix', 'app', 'ValidationException'],
    ['the bare prefix', 'alias/', 'ValidationException'],
    ['a bad character', 'alias/a b', 'ValidationException'],
    ['the reserved AWS prefix', 'alias/aws/s3', 'NotAuthorizedException'],
  ])('%s', (_name, name, code) => {
    expect(thrown(() => validateAliasName(name))?.code).toBe(code);
  });

  it.each([
    ['two symmetric keys', record(), record({ keyId: 'k2' }), true],
    ['symmetric and RSA encryption', record(), record({ keySpec: 'RSA_2048' }), false],
    [
      'different usages',
      record({ keySpec: 'RSA_2048' }),
      record({ keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY' }),
      false,
    ],
  ])('UpdateAlias targets of one type: %s → %s', (_name, a, b, same) => {
    expect(sameKeyType(a, b)).toBe(same);
  });
});

describe('KMS-013: grants', () => {
  const grantee = `arn:aws:iam::${account}:role/app`;
  const grant = (overrides: Partial<Grant> = {}): Grant => ({
    keyId: arn,
    grantId: 'g1',
    granteePrincipal: grantee,
    operations: ['Decrypt', 'Encrypt'],
    creationDate: 0,
    issuingAccount: `arn:aws:iam::${account}:root`,
    ...overrides,
  });
  const withGrant = (g: Grant) =>
    record({
      grants: new Map([[g.grantId, g]]),
      grantsByGrantee: new Map([[grantee, new Set([g.grantId])]]),
    });
  const ctx = (callerArn: string) =>
    ({
      caller: { arn: callerArn, accountId: account, accessKeyId: 'A', type: 'role' },
    }) as unknown as CallContext;

  it.each([
    ['the grantee, a granted operation', grant(), grantee, 'Decrypt', {}, true],
    ['the grantee, an operation not granted', grant(), grantee, 'GenerateDataKey', {}, false],
    ['someone else', grant(), `arn:aws:iam::${account}:role/other`, 'Decrypt', {}, false],
    [
      'a subset constraint met',
      grant({ constraints: { EncryptionContextSubset: { App: 'x' } } }),
      grantee,
      'Decrypt',
      { app: 'x', more: 'y' },
      true,
    ],
    [
      'a subset constraint missed',
      grant({ constraints: { EncryptionContextSubset: { app: 'x' } } }),
      grantee,
      'Decrypt',
      { app: 'z' },
      false,
    ],
    [
      'an equals constraint with an extra pair',
      grant({ constraints: { EncryptionContextEquals: { app: 'x' } } }),
      grantee,
      'Decrypt',
      { app: 'x', more: 'y' },
      false,
    ],
  ])('grantAllows: %s → %s', (_name, g, caller, op, ec, allowed) => {
    expect(grantAllows(ctx(caller), withGrant(g), op, { ec })).toBe(allowed);
  });

  it('a role session is the grantee when the grant names its role', () => {
    const session = `arn:aws:sts::${account}:assumed-role/app/s1`;
    expect(
      requestPrincipal({ arn: session, accountId: account, accessKeyId: 'A', type: 'assumed-role' }),
    ).toMatchObject({
      roleArn: grantee,
    });
    expect(grantAllows(ctx(session), withGrant(grant()), 'Decrypt', {})).toBe(true);
  });

  it.each([
    ['identical fields, operations in another order', { operations: ['Encrypt', 'Decrypt'] }, true],
    ['another grantee', { granteePrincipal: 'arn:aws:iam::111122223333:role/x' }, false],
    ['another constraint', { constraints: { EncryptionContextSubset: { a: 'b' } } }, false],
  ])('sameGrant (Name idempotency): %s → %s', (_name, overrides, same) => {
    const { grantId: _g, creationDate: _c, ...fields } = grant(overrides);
    expect(sameGrant(grant(), fields)).toBe(same);
  });

  it.each([
    ['eight pairs', Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, 'v'])), true],
    ['nine pairs', Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v'])), false],
    ['a 385-character value', { k: 'x'.repeat(385) }, false],
  ])('constraint context limits: %s accepted: %s', (_name, value, accepted) => {
    expect(thrown(() => contextMap(value, 'EncryptionContextSubset')) === undefined).toBe(accepted);
  });
});

describe('AWS-005: pagination markers', () => {
  const items = ['a', 'b', 'c', 'd', 'e'];
  it('pages through and stops without a marker', () => {
    const first = paginate(items, 2, undefined);
    expect(first).toMatchObject({ page: ['a', 'b'], truncated: true });
    const second = paginate(items, 2, first.nextMarker);
    const third = paginate(items, 2, second.nextMarker);
    expect(third).toEqual({ page: ['e'], truncated: false, nextMarker: undefined });
  });

  it.each([
    ['a forged marker', 'bm9wZQ'],
    ['a marker past the end', Buffer.from('p:99').toString('base64url')],
  ])('%s is InvalidMarkerException', (_name, marker) => {
    expect(thrown(() => paginate(items, 2, marker))?.code).toBe('InvalidMarkerException');
  });
});
