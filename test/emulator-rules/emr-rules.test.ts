// EMR Serverless rules (emulator/services/emr-serverless/rules.ts) as pure functions: disk encryption
// members, job overrides, the encryption context, job key failures, states. No emulator, no HTTP.

import { describe, expect, it } from 'vitest';
import {
  decodeToken,
  diskEncryptionContext,
  effectiveDisk,
  encodeToken,
  jobKeyProblem,
  parseDisk,
  stateProblem,
} from '../../emulator/services/emr-serverless/rules.ts';

import { keyStateCases } from '../fixtures/keys.ts';

const keyArn = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const otherArn = 'arn:aws:kms:us-east-1:111122223333:key/99999999-12ab-34cd-56ef-1234567890ab';

describe('EMR-004, EMR-008: diskEncryptionConfiguration', () => {
  it.each([
    ['absent: unchanged', {}, undefined],
    ['{}: back to service-owned keys', { diskEncryptionConfiguration: {} }, null],
    [
      'an empty context and no key: cleared too',
      { diskEncryptionConfiguration: { encryptionContext: {} } },
      null,
    ],
    [
      'a key ARN',
      { diskEncryptionConfiguration: { encryptionKeyArn: keyArn } },
      { encryptionKeyArn: keyArn },
    ],
    [
      'a key ARN with a context',
      { diskEncryptionConfiguration: { encryptionKeyArn: keyArn, encryptionContext: { team: 'data' } } },
      { encryptionKeyArn: keyArn, encryptionContext: { team: 'data' } },
    ],
  ])('%s', (_name, body, expected) => {
    expect(parseDisk(body)).toEqual(expected);
  });

  it('a context without a key ARN is refused', () => {
    expect(() => parseDisk({ diskEncryptionConfiguration: { encryptionContext: { a: 'b' } } })).toThrow(
      'diskEncryptionConfiguration.encryptionContext requires diskEncryptionConfiguration.encryptionKeyArn',
    );
  });
});

describe('EMR-003: a job-level key wins, otherwise the application key is inherited', () => {
  const app = { encryptionKeyArn: keyArn };
  const job = { encryptionKeyArn: otherArn };
  it.each([
    ['an override with a key', job, app, job],
    ['an override `{}` inherits', null, app, app],
    ['no override inherits', undefined, app, app],
    ['neither: service-owned keys', undefined, undefined, undefined],
  ])('%s', (_name, override, appDisk, expected) => {
    expect(effectiveDisk(override, appDisk)).toEqual(expected);
  });
});

describe('EMR-009: the encryption context EMR Serverless sends', () => {
  it.each([
    ['the application id alone', { encryptionKeyArn: keyArn }, { applicationId: '00fabc' }],
    [
      'merged with the custom context',
      { encryptionKeyArn: keyArn, encryptionContext: { team: 'data' } },
      { applicationId: '00fabc', team: 'data' },
    ],
  ])('%s', (_name, disk, expected) => {
    expect(diskEncryptionContext('00fabc', disk)).toEqual(expected);
  });
});

describe('a job needs its key when it starts running', () => {
  const failure = (state: string) =>
    `Job failed: the KMS key ${keyArn} used for disk encryption is ${state} (KMS key not usable). Enable the key or choose another key and resubmit the job.`;
  it.each(keyStateCases(keyArn, failure))('%s', (_name, arn, found, expected) => {
    expect(jobKeyProblem(arn, found)).toBe(expected);
  });
});

describe('EMR-010: application states', () => {
  it.each([
    ['CREATED may be updated', 'CREATED', undefined],
    [
      'STARTED may not',
      'STARTED',
      'Application 00fabc must be in one of the following statuses [CREATED, STOPPED]. Current status: STARTED',
    ],
  ] as const)('%s', (_name, state, expected) => {
    expect(stateProblem({ id: '00fabc', state }, ['CREATED', 'STOPPED'])).toBe(expected);
  });
});

describe('AWS-005: list tokens', () => {
  it.each([0, 7, 1234])('index %i round-trips', (i) => {
    expect(decodeToken(encodeToken(i))).toBe(i);
  });

  it.each([
    ['no token', null, undefined],
    ['an empty token', '', undefined],
  ])('%s starts from the beginning', (_name, token, expected) => {
    expect(decodeToken(token)).toBe(expected);
  });

  it('a forged token is refused', () => {
    expect(() => decodeToken('not-a-token')).toThrow('Invalid pagination token');
  });
});
