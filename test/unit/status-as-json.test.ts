// A status as JSON carries it (src/runtime/status.ts, asJson): what the status writer and the
// executor's pacing compare with the stored status. It must equal the JSON round trip exactly, or
// a status would be written again and again (or a change missed) for a difference JSON never sends.

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asJson, sameAsJson } from '../../src/runtime/status.ts';

const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, true, false, null, undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(
      fc.oneof(fc.string(), fc.constantFrom('__proto__', 'toJSON', '0', 'constructor')),
      tie('value'),
      {
        maxKeys: 5,
      },
    ),
  ),
}));

describe('asJson', () => {
  it('equals the JSON round trip for any status-like value', () => {
    fc.assert(
      fc.property(value, (v) => {
        if (v === undefined) return asJson(v) === undefined;
        return isDeepStrictEqual(asJson(v), JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 2000 },
    );
  });

  it('drops undefined fields and keeps the rest of a status as it was', () => {
    const status = {
      observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'True', reason: 'OnDesiredKey', message: undefined }],
      lastOperation: undefined,
      current: { keyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k' },
    };
    expect(asJson(status)).toStrictEqual({
      observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'True', reason: 'OnDesiredKey' }],
      current: { keyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k' },
    });
    expect(asJson(undefined)).toBeUndefined();
  });
});

describe('sameAsJson', () => {
  const roundTrip = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

  it('answers as comparing with the copy would, for any stored JSON and any status-like value', () => {
    fc.assert(
      fc.property(value, value, fc.boolean(), (v, other, same) => {
        // Half the time the stored value is v's own round trip (the settled case: equal), half
        // another value's (a change, or a different shape).
        const stored = same ? roundTrip(v) : roundTrip(other);
        expect(sameAsJson(stored, v)).toBe(isDeepStrictEqual(stored, asJson(v)));
      }),
      { numRuns: 4000 },
    );
  });

  it('a status equal but for fields JSON leaves out is the same; a field more, less or changed is not', () => {
    const stored = {
      observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'True', reason: 'OnDesiredKey' }],
      current: { keyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k', aliases: [] },
    };
    const computed = {
      observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'True', reason: 'OnDesiredKey', message: undefined }],
      lastOperation: undefined,
      current: { keyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k', aliases: [] },
    };
    expect(sameAsJson(stored, computed)).toBe(true);
    expect(sameAsJson(stored, { ...computed, lastOperation: 'Update' })).toBe(false);
    expect(
      sameAsJson(stored, { ...computed, current: { keyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k' } }),
    ).toBe(false);
    expect(sameAsJson(stored, { ...computed, observedGeneration: 4 })).toBe(false);
    expect(sameAsJson({ ...stored, extra: 1 }, computed)).toBe(false);
    expect(sameAsJson(undefined, computed)).toBe(false);
    expect(sameAsJson(undefined, undefined)).toBe(true);
  });
});
