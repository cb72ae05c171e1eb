import { describe, expect, it } from 'vitest';
import type { KeyReferenceGrantObject } from '../../src/api/resources.ts';
import { referenceGranted } from '../../src/keys/reference-grants.ts';

const grant = (namespace: string, from: string[], to?: string[]): KeyReferenceGrantObject =>
  ({
    metadata: { name: 'g', namespace },
    spec: { from: from.map((n) => ({ namespace: n })), ...(to ? { to: to.map((name) => ({ name })) } : {}) },
  }) as KeyReferenceGrantObject;

describe('referenceGranted: the KeyReferenceGrant rule shared by the operator and the plugin', () => {
  it.each([
    ['a grant listing the namespace, no spec.to: every key', [grant('keys', ['app'])], true],
    ['a grant listing the namespace, empty spec.to: every key', [grant('keys', ['app'], [])], true],
    ['a grant naming this key', [grant('keys', ['app'], ['orders-key'])], true],
    ['a grant naming another key only', [grant('keys', ['app'], ['other'])], false],
    ['a grant for another namespace', [grant('keys', ['team-b'])], false],
    ['a grant living in another namespace than the key', [grant('elsewhere', ['app'])], false],
    ['no grants', [], false],
  ] as const)('%s', (_name, grants, allowed) => {
    expect(referenceGranted(grants, 'app', 'keys', 'orders-key')).toBe(allowed);
  });
});
