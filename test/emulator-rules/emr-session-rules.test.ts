// EMR Serverless session rules (emulator/services/emr-serverless/rules.ts) as pure functions: the disk
// key in a session's runtime configuration, the Spark conf encryption context, the preconditions for
// StartSession and the key a session needs to start. No emulator, no HTTP.

import { describe, expect, it } from 'vitest';
import {
  parseSparkContext,
  releaseAtLeast,
  sessionDisk,
  sessionKeyProblem,
  sessionPrecondition,
} from '../../emulator/services/emr-serverless/rules.ts';

import { keyStateCases } from '../fixtures/keys.ts';

const keyArn = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const keyProperty = 'spark.emr-serverless.disk.encryptionKeyArn';
const contextProperty = 'spark.emr-serverless.disk.encryptionContext';
const sparkDefaults = (properties: Record<string, string>) => ({
  classification: 'spark-defaults',
  properties,
});

describe("EMR-013: a session's disk key is in its spark-defaults runtime configuration", () => {
  it.each([
    ['no overrides', undefined, undefined],
    ['no runtime configuration', {}, undefined],
    [
      'spark-defaults without disk properties',
      { runtimeConfiguration: [sparkDefaults({ a: 'b' })] },
      undefined,
    ],
    [
      'another classification carrying the property is not read',
      { runtimeConfiguration: [{ classification: 'spark-env', properties: { [keyProperty]: keyArn } }] },
      undefined,
    ],
    [
      'the key ARN',
      { runtimeConfiguration: [sparkDefaults({ [keyProperty]: keyArn })] },
      { encryptionKeyArn: keyArn },
    ],
    [
      'the key ARN and its context',
      {
        runtimeConfiguration: [
          sparkDefaults({ [keyProperty]: keyArn, [contextProperty]: 'team:bi,env:prod' }),
        ],
      },
      { encryptionKeyArn: keyArn, encryptionContext: { team: 'bi', env: 'prod' } },
    ],
    [
      'the last spark-defaults entry wins',
      {
        runtimeConfiguration: [
          sparkDefaults({ [keyProperty]: 'arn:aws:kms:us-east-1:111122223333:key/first' }),
          sparkDefaults({ [keyProperty]: keyArn }),
        ],
      },
      { encryptionKeyArn: keyArn },
    ],
  ])('%s', (_name, overrides, expected) => {
    expect(sessionDisk(overrides)).toEqual(expected);
  });

  it.each([
    [
      'a context without a key',
      { runtimeConfiguration: [sparkDefaults({ [contextProperty]: 'a:b' })] },
      `${contextProperty} requires ${keyProperty}`,
    ],
    ['runtimeConfiguration that is not a list', { runtimeConfiguration: {} }, 'must be a list'],
    ['an entry without a classification', { runtimeConfiguration: [{ properties: {} }] }, "'classification'"],
  ])('refuses %s', (_name, overrides, message) => {
    expect(() => sessionDisk(overrides as never)).toThrow(message);
  });
});

describe('EMR-008: a Spark conf encryption context', () => {
  it.each([
    ['one pair', 'team:bi', { team: 'bi' }],
    ['two pairs', 'team:bi,env:prod', { team: 'bi', env: 'prod' }],
    ['a value holding a colon keeps it', 'url:a:b', { url: 'a:b' }],
  ])('%s', (_name, text, expected) => {
    expect(parseSparkContext(text)).toEqual(expected);
  });
  it.each([
    ['no colon', 'team'],
    ['an empty key', ':bi'],
    ['an empty value', 'team:'],
    ['an empty pair', 'a:b,'],
  ])('refuses %s', (_name, text) => {
    expect(() => parseSparkContext(text)).toThrow('expected key1:value1,key2:value2');
  });
});

describe('EMR-012: which applications run sessions', () => {
  it.each([
    ['emr-7.13.0', true],
    ['emr-7.13.1', true],
    ['emr-7.14.0', true],
    ['emr-8.0.0', true],
    ['emr-7.12.9', false],
    ['emr-6.15.0', false],
    ['emr-7.13.0-latest', true],
    ['not-a-label', false],
  ])('%s is at least emr-7.13.0: %s', (label, expected) => {
    expect(releaseAtLeast(label, [7, 13, 0])).toBe(expected);
  });

  const app = (releaseLabel: string, config: Record<string, unknown>) => ({
    id: '00fabc',
    releaseLabel,
    config,
  });
  it.each([
    [
      'sessions on, recent release',
      app('emr-7.13.0', { interactiveConfiguration: { sessionEnabled: true } }),
      undefined,
    ],
    [
      'no interactiveConfiguration',
      app('emr-7.13.0', {}),
      'Interactive sessions are not enabled for application 00fabc: set interactiveConfiguration.sessionEnabled to true with UpdateApplication',
    ],
    [
      'only Livy enabled',
      app('emr-7.13.0', { interactiveConfiguration: { livyEndpointEnabled: true } }),
      'Interactive sessions are not enabled for application 00fabc: set interactiveConfiguration.sessionEnabled to true with UpdateApplication',
    ],
    [
      'an old release',
      app('emr-7.5.0', { interactiveConfiguration: { sessionEnabled: true } }),
      'Application 00fabc runs emr-7.5.0; interactive sessions need emr-7.13.0 or later',
    ],
  ])('%s', (_name, a, expected) => {
    expect(sessionPrecondition(a as never)).toBe(expected);
  });
});

describe('a session needs its key when it starts', () => {
  const failure = (state: string) =>
    `Session failed: the KMS key ${keyArn} used for disk encryption is ${state} (KMS key not usable). Enable the key or start a new session with another key.`;
  it.each(keyStateCases(keyArn, failure))('%s', (_name, arn, found, expected) => {
    expect(sessionKeyProblem(arn, found)).toBe(expected);
  });
});
