import { describe, expect, it } from 'vitest';
import { type AwsCallError, awsCall, classifyAwsError } from '../../src/aws/errors.ts';

const sdkError = (name: string, status?: number) =>
  Object.assign(new Error(`${name} happened`), {
    name,
    $metadata: { httpStatusCode: status, requestId: 'req-1' },
  });

describe('classifyAwsError', () => {
  it.each([
    ['ThrottlingException', 400, 'Throttled'],
    ['ConcurrentModificationException', 409, 'Conflict'],
    ['ResourceInUseException', 400, 'Conflict'],
    ['KMSInternalException', 500, 'Transient'],
    ['DependencyTimeoutException', 503, 'Transient'],
    ['DisabledException', 409, 'KeyUnusable'],
    ['KMSInvalidStateException', 409, 'KeyUnusable'],
    ['AccessDeniedException', 400, 'AccessDenied'],
    ['NotFoundException', 404, 'NotFound'],
    ['ResourceNotFoundException', 404, 'NotFound'],
    ['ValidationException', 400, 'InvalidSpec'],
    ['InvalidArgumentException', 400, 'InvalidSpec'],
    ['LimitExceededException', 400, 'QuotaExceeded'],
    ['SomethingNewException', 502, 'Transient'],
    ['SomethingNewException', 429, 'Throttled'],
    ['SomethingNewException', 400, 'Unknown'],
  ] as const)('%s (HTTP %s) is %s', (name, status, cause) => {
    const failure = classifyAwsError(sdkError(name, status));
    expect(failure.cause).toBe(cause);
    expect(failure.code).toBe(name);
    expect(failure.requestId).toBe('req-1');
  });

  it('classifies network failures as transient', () => {
    expect(
      classifyAwsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).cause,
    ).toBe('Transient');
  });

  it.each([[null], [undefined], ['a string'], [42], [{}], [{ name: 7, message: {} }]])(
    'never throws on odd values (%j)',
    (value) => {
      expect(() => classifyAwsError(value)).not.toThrow();
    },
  );
});

describe('awsCall on a KMS call the IAM policy scopes by the owner tag (IAM-001)', () => {
  const failing = async (operation: string, name: string) => {
    try {
      await awsCall(operation, () => Promise.reject(sdkError(name, 400)));
    } catch (e) {
      return e as AwsCallError;
    }
    throw new Error('expected a failure');
  };

  it('says an adopted key needs the cmk.io/owner tag when the call is denied', async () => {
    for (const op of ['ScheduleKeyDeletion', 'EnableKey', 'CancelKeyDeletion', 'EnableKeyRotation']) {
      const e = await failing(op, 'AccessDeniedException');
      expect(e.failure.cause).toBe('AccessDenied');
      expect(e.message).toContain('AccessDeniedException happened');
      expect(e.message).toContain(`allows kms:${op} only on keys tagged cmk.io/owner`);
      expect(e.message).toContain('a key adopted with spec.keyId needs the tag');
    }
  });

  it.each([
    ['another cause on a scoped call', 'EnableKey', 'ThrottlingException'],
    ['a denied read', 'DescribeKey', 'AccessDeniedException'],
    ['a denied workload call', 'UpdateApplication', 'AccessDeniedException'],
  ])('adds nothing for %s', async (_n, op, name) => {
    expect((await failing(op, name)).message).not.toContain('cmk.io/owner');
  });

  it('classifies a role the tenancy rules refuse as AccessDenied', () => {
    expect(classifyAwsError(sdkError('RoleNotAllowed', 403)).cause).toBe('AccessDenied');
  });
});
