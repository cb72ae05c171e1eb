import { describe, expect, it } from 'vitest';
import { classifyAwsError } from '../../src/aws/errors.ts';

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
