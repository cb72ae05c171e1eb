// The job-override ConfigMap: what it carries for a key, when it is published, and when the stored
// one is already up to date (so resyncs write nothing).

import { describe, expect, it } from 'vitest';
import { cmkResources } from '../../src/api/resources.ts';
import {
  desiredKeyAnnotation,
  foreignController,
  jobOverridesConfigMap,
  jobOverridesDecision,
  renderJobOverrides,
  upToDate,
} from '../../src/reconcile/job-overrides.ts';
import { cmk, keyA } from '../fixtures/keys.ts';

const owner = {
  type: cmkResources.emrServerlessApplication,
  object: { metadata: { name: 'etl', namespace: 'data', uid: 'uid-1' } },
};

describe('renderJobOverrides', () => {
  it('renders a CMK without context', () => {
    const data = renderJobOverrides(cmk(keyA));
    expect(JSON.parse(data['configurationOverrides.json']!)).toEqual({
      diskEncryptionConfiguration: { encryptionKeyArn: keyA },
    });
    expect(data['spark-defaults.conf']).toBe(`spark.emr-serverless.disk.encryptionKeyArn ${keyA}\n`);
    expect(JSON.parse(data['livy-session-conf.json']!)).toEqual({
      'spark.emr-serverless.disk.encryptionKeyArn': keyA,
    });
  });

  it('renders a CMK with context, pairs sorted by key', () => {
    const data = renderJobOverrides(cmk(keyA, { team: 'etl', env: 'prod' }));
    expect(JSON.parse(data['configurationOverrides.json']!)).toEqual({
      diskEncryptionConfiguration: {
        encryptionKeyArn: keyA,
        encryptionContext: { team: 'etl', env: 'prod' },
      },
    });
    expect(data['spark-defaults.conf']).toBe(
      `spark.emr-serverless.disk.encryptionKeyArn ${keyA}\nspark.emr-serverless.disk.encryptionContext env:prod,team:etl\n`,
    );
    expect(JSON.parse(data['livy-session-conf.json']!)).toEqual({
      'spark.emr-serverless.disk.encryptionKeyArn': keyA,
      'spark.emr-serverless.disk.encryptionContext': 'env:prod,team:etl',
    });
  });

  it('clears to an empty override for the AWS owned key', () => {
    expect(renderJobOverrides({ type: 'AwsOwned' })).toEqual({
      'configurationOverrides.json': '{}\n',
      'spark-defaults.conf': '',
      'livy-session-conf.json': '{}\n',
    });
  });

  it('refuses a context Spark conf cannot carry', () => {
    expect(() => renderJobOverrides(cmk(keyA, { 'a:b': 'c' }))).toThrow(/cannot carry/);
  });
});

describe('jobOverridesConfigMap', () => {
  it('is owned by the application (controller) and names the desired key', () => {
    const cm = jobOverridesConfigMap(owner, 'etl-overrides', cmk(keyA));
    expect(cm.metadata).toMatchObject({
      name: 'etl-overrides',
      namespace: 'data',
      annotations: { [desiredKeyAnnotation]: keyA },
      ownerReferences: [
        {
          apiVersion: 'cmk.io/v1alpha1',
          kind: 'EmrServerlessApplication',
          name: 'etl',
          uid: 'uid-1',
          controller: true,
        },
      ],
    });
    expect(jobOverridesConfigMap(owner, 'x', { type: 'AwsOwned' }).metadata.annotations).toEqual({
      [desiredKeyAnnotation]: 'AWS_OWNED',
    });
  });

  it('is up to date when the stored one carries the same data, annotations and owner', () => {
    const want = jobOverridesConfigMap(owner, 'etl-overrides', cmk(keyA));
    const stored = {
      ...structuredClone(want),
      data: { ...want.data, 'extra.txt': 'kept' },
      metadata: {
        ...structuredClone(want.metadata),
        resourceVersion: '7',
        labels: { ...want.metadata.labels, x: 'y' },
      },
    };
    expect(upToDate(stored, want)).toBe(true);
    expect(upToDate(stored, jobOverridesConfigMap(owner, 'etl-overrides', { type: 'AwsOwned' }))).toBe(false);
    expect(upToDate({ ...stored, metadata: { ...stored.metadata, ownerReferences: [] } }, want)).toBe(false);
  });

  it('sees another controller', () => {
    const stored = {
      metadata: {
        name: 'x',
        ownerReferences: [{ uid: 'other', controller: true, kind: 'Deployment', name: 'd' }],
      },
    };
    expect(foreignController(stored, 'uid-1')).toMatchObject({ kind: 'Deployment' });
    expect(foreignController(stored, 'other')).toBeUndefined();
  });
});

describe('jobOverridesDecision', () => {
  const resolved = { kind: 'resolved' as const, setting: cmk(keyA) };
  it.each<[string, Parameters<typeof jobOverridesDecision>[0], string]>([
    [
      'publishes a resolved key that passed pre-flight',
      { mode: undefined, deleting: false, desired: resolved, preflight: { ok: true } },
      'publish',
    ],
    [
      'publishes before any pre-flight ran',
      { mode: 'Enforce', deleting: false, desired: resolved, preflight: undefined },
      'publish',
    ],
    [
      'skips a key that fails pre-flight',
      {
        mode: 'Enforce',
        deleting: false,
        desired: resolved,
        preflight: { ok: false, reason: 'KeyDisabled', message: 'm' },
      },
      'skip',
    ],
    [
      'skips an unresolved key',
      {
        mode: 'Enforce',
        deleting: false,
        desired: { kind: 'unresolved', reason: 'KmsKeyNotReady', message: 'm', terminal: false },
        preflight: undefined,
      },
      'skip',
    ],
    [
      'skips in Observe mode',
      { mode: 'Observe', deleting: false, desired: resolved, preflight: { ok: true } },
      'skip',
    ],
    [
      'skips while deleting',
      { mode: 'Enforce', deleting: true, desired: resolved, preflight: { ok: true } },
      'skip',
    ],
  ])('%s', (_name, input, kind) => {
    expect(jobOverridesDecision(input).kind).toBe(kind);
  });
});
