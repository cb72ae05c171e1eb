// The debug line of a status write names what moved: top-level fields, and conditions by type.

import { describe, expect, it } from 'vitest';
import { changedFields } from '../../src/runtime/executor.ts';

const obj = (status: Record<string, unknown>) => ({
  apiVersion: 'cmk.io/v1alpha1',
  kind: 'KmsKey',
  metadata: { name: 'k' },
  status,
});
const cond = (type: string, status: string) => ({ type, status, reason: 'R', message: 'm' });

describe('changedFields', () => {
  it('names the fields and the conditions that differ, and nothing else', () => {
    const before = obj({
      keyArn: 'a',
      workloads: { total: 3 },
      conditions: [cond('Ready', 'True'), cond('KeyUsable', 'True')],
    });
    const after = obj({
      keyArn: 'a',
      workloads: { total: 4 },
      rotation: { enabled: true },
      conditions: [cond('Ready', 'True'), cond('KeyUsable', 'False')],
    });
    expect(changedFields(before, after)).toEqual(['workloads', 'rotation', 'conditions.KeyUsable']);
    expect(changedFields(before, before)).toEqual([]);
  });
});
