// A reconcile that follows its own write before the watch delivered it starts from that write.

import { describe, expect, it } from 'vitest';
import { ownWriteMs, ownWrites } from '../../src/runtime/executor.ts';
import type { KubeObject } from '../../src/runtime/kube.ts';

const version = (resourceVersion: string, uid = 'u1'): KubeObject => ({
  apiVersion: 'cmk.io/v1alpha1',
  kind: 'KmsKey',
  metadata: { name: 'k', namespace: 'ns', uid, resourceVersion },
});

describe('ownWrites: the base a reconcile starts from', () => {
  let t = 0;
  const own = ownWrites<KubeObject>(() => t);

  it('is the cached object when this process wrote nothing', () => {
    expect(own.base('ns/k', version('1'))).toEqual(version('1'));
  });

  it('is the written object while the cache still shows the version the write replaced', () => {
    own.note('ns/k', version('1'), version('2'));
    expect(own.base('ns/k', version('1')).metadata.resourceVersion).toBe('2');
    // Two writes before the cache caught up: the second replaced the first, the cache shows neither.
    own.note('ns/k', version('2'), version('3'));
    expect(own.base('ns/k', version('1')).metadata.resourceVersion).toBe('3');
  });

  it('is the cached object once the cache shows the write or anything else', () => {
    own.note('ns/k', version('3'), version('4'));
    expect(own.base('ns/k', version('4')).metadata.resourceVersion).toBe('4');
    // Forgotten once the cache caught up: a later cache version is never replaced by an old write.
    expect(own.base('ns/k', version('3')).metadata.resourceVersion).toBe('3');
    own.note('ns/k', version('5'), version('6'));
    // Someone else wrote 7 after this process wrote 6, and the cache has it.
    expect(own.base('ns/k', version('7')).metadata.resourceVersion).toBe('7');
  });

  it('is the cached object for an object deleted and created again under the same name', () => {
    own.note('ns/k', version('8'), version('9'));
    expect(own.base('ns/k', version('8', 'u2')).metadata.uid).toBe('u2');
  });

  it('forgets writes older than ownWriteMs', () => {
    own.note('ns/k', version('10'), version('11'));
    own.note('ns/other', version('1'), version('2'));
    t += ownWriteMs + 1;
    expect(own.base('ns/k', version('10')).metadata.resourceVersion).toBe('10');
    own.note('ns/third', version('1'), version('2'));
    expect(own.size()).toBe(1);
  });
});
