// The status invariants every cmk.io object must keep (STYLE.md 13), checked after every
// integration test over every object the test left: Ready exists once reconciled; never Ready=True
// while Reconciling or Stalled; never Reconciling and Stalled together; observedGeneration never
// ahead of generation; reasons CamelCase; no duplicate condition types.

import { expect } from 'vitest';
import { apiVersion } from '../../../src/api/shared.ts';
import type { Condition } from '../../../src/runtime/conditions.ts';
import { kstatusViolations } from '../../../src/runtime/conditions.ts';
import { adminIdentity } from './cluster.ts';

interface AnyObject {
  kind: string;
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

export function statusViolations(o: AnyObject): string[] {
  if (!o.status) return [];
  const v = kstatusViolations(o.status.conditions, o.metadata.generation).map(
    (m) => `${o.kind}/${o.metadata.name}: ${m}`,
  );
  if (
    o.status.observedGeneration !== undefined &&
    o.metadata.generation !== undefined &&
    o.status.observedGeneration > o.metadata.generation
  ) {
    v.push(
      `${o.kind}/${o.metadata.name}: status.observedGeneration ${o.status.observedGeneration} > generation ${o.metadata.generation}`,
    );
  }
  return v;
}

/** Asserts the invariants on every cmk.io object in `namespace`. */
export async function expectStatusInvariants(namespace: string): Promise<void> {
  const admin = adminIdentity();
  const violations: string[] = [];
  for (const plural of [
    'kmskeys',
    'flinkapplications',
    'keyspacestables',
    'emrserverlessapplications',
    'emrserverlessjobruns',
  ]) {
    const res = await admin.request('GET', `/apis/${apiVersion}/namespaces/${namespace}/${plural}`);
    if (res.status !== 200) continue;
    for (const item of (res.body as { items: AnyObject[] }).items) violations.push(...statusViolations(item));
  }
  expect(violations).toEqual([]);
}
