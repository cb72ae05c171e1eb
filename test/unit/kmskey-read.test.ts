// Reading a KmsKey's key while its on-demand rotation ends: DescribeKey and the rotation status are
// two reads, and the rotation may end between them. A rotation recorded in progress that the second
// read says has ended is not taken as finished on the old material: the key is described again.

import { describe, expect, it } from 'vitest';
import type { KmsKeyObject } from '../../src/api/resources.ts';
import type { KeyReads } from '../../src/keys/key-cache.ts';
import type { KeyFacts, RotationFacts } from '../../src/keys/key-facts.ts';
import { type KmsKeyReconcilerDeps, readKey } from '../../src/reconcile/kmskey-observe.ts';

const arn = 'arn:aws:kms:us-east-1:111122223333:key/k1';
const facts = (material: string) =>
  ({ arn, keyId: 'k1', state: 'Enabled', currentKeyMaterialId: material }) as KeyFacts;
const rotation = (inProgress: boolean): RotationFacts => ({
  enabled: true,
  ...(inProgress ? { onDemandRotationStartDate: '2026-01-01T00:00:00Z' } : {}),
  recent: [],
});

/** KMS as the key cache sees it: answers in order, each read counted. */
function keys(describes: KeyFacts[], rotations: RotationFacts[]) {
  const reads = { describe: 0, rotation: 0 };
  const reader = {
    describe: async () => describes[Math.min(reads.describe++, describes.length - 1)],
    rotation: async () => rotations[Math.min(reads.rotation++, rotations.length - 1)]!,
  } as unknown as KeyReads;
  return { reader, reads };
}

const object = (status: KmsKeyObject['status']) =>
  ({ metadata: { name: 'k', namespace: 'ns', generation: 1 }, spec: {}, status }) as unknown as KmsKeyObject;

const deps = (reader: KeyReads) =>
  ({ keys: reader, defaultRegion: 'us-east-1' }) as unknown as KmsKeyReconcilerDeps;

describe('readKey while an on-demand rotation ends', () => {
  const inProgress = {
    keyArn: arn,
    currentKeyMaterialId: 'm1',
    rotation: { enabled: true, onDemandRotationStartDate: '2026-01-01T00:00:00Z' },
  } as KmsKeyObject['status'];

  it('describes the key again when the rotation ended between the two reads', async () => {
    const k = keys([facts('m1'), facts('m2')], [rotation(false)]);
    const read = await readKey(deps(k.reader), object(inProgress), true);
    expect(read.kind === 'found' && read.key.currentKeyMaterialId).toBe('m2');
    expect(k.reads).toEqual({ describe: 2, rotation: 2 });
  });

  it('reads once when the rotation is still running, or has ended on new material', async () => {
    const running = keys([facts('m1')], [rotation(true)]);
    await readKey(deps(running.reader), object(inProgress), true);
    expect(running.reads).toEqual({ describe: 1, rotation: 1 });
    const ended = keys([facts('m2')], [rotation(false)]);
    const read = await readKey(deps(ended.reader), object(inProgress), true);
    expect(read.kind === 'found' && read.key.currentKeyMaterialId).toBe('m2');
    expect(ended.reads).toEqual({ describe: 1, rotation: 1 });
  });

  it('reads once when no rotation was recorded in progress', async () => {
    const k = keys([facts('m1')], [rotation(false)]);
    await readKey(
      deps(k.reader),
      object({ keyArn: arn, currentKeyMaterialId: 'm1' } as KmsKeyObject['status']),
      true,
    );
    expect(k.reads).toEqual({ describe: 1, rotation: 1 });
  });
});
