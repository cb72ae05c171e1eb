import { describe, expect, it } from 'vitest';
import { checkKey } from '../../src/keys/checks.ts';
import {
  exampleKey as arn,
  awsManaged,
  inRegion,
  inState,
  type KeyFactsMod,
  keyFacts,
  specAndUsage as spec,
} from '../fixtures/keys.ts';

const key = (...mods: KeyFactsMod[]) => keyFacts(arn, ...mods);

describe('checkKey: the first failing check names the reason', () => {
  it.each([
    ['a usable key passes', key(), undefined],
    ['a missing key', undefined, 'KeyNotFound'],
    ['a disabled key', key(inState('Disabled')), 'KeyDisabled'],
    [
      'a key pending deletion (reported as such, not as disabled)',
      key(inState('PendingDeletion')),
      'KeyPendingDeletion',
    ],
    [
      'a multi-Region primary pending replica deletion',
      key(inState('PendingReplicaDeletion')),
      'KeyPendingDeletion',
    ],
    ['a key still pending import', key(inState('PendingImport')), 'KeyNotEnabled'],
    ['an AWS managed key', key(awsManaged), 'KeyNotCustomerManaged'],
    ['an asymmetric key', key(spec('RSA_2048', 'ENCRYPT_DECRYPT')), 'KeyNotSymmetric'],
    ['an HMAC key', key(spec('HMAC_256', 'GENERATE_VERIFY_MAC')), 'KeyNotSymmetric'],
    ['a key in another Region', key(inRegion('us-east-1')), 'KeyInOtherRegion'],
    [
      'a disabled key in another Region reports the state first',
      key(inState('Disabled'), inRegion('us-east-1')),
      'KeyDisabled',
    ],
  ] as const)('%s', (_name, k, reason) => {
    expect(checkKey({ key: k, reference: 'alias/orders', region: 'eu-west-1' })?.reason).toBe(reason);
  });

  it('messages say how to fix the problem', () => {
    expect(checkKey({ key: key(inState('Disabled')), reference: arn, region: 'eu-west-1' })?.message).toMatch(
      /enable-key|reenable/,
    );
    expect(checkKey({ key: undefined, reference: 'alias/nope', region: 'eu-west-1' })?.message).toContain(
      'alias/nope',
    );
  });
});
