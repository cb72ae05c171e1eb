// When a key's current material became current (src/aws/key-material.ts), and when the workload
// observation reads it (src/reconcile/material-observe.ts): pure table tests, no I/O.

import { describe, expect, it } from 'vitest';
import { flinkCapabilities, keyspacesCapabilities } from '../../src/aws/capabilities.ts';
import { materialSinceFrom } from '../../src/aws/key-material.ts';
import { type MaterialObserveInput, materialToDate } from '../../src/reconcile/material-observe.ts';
import { awsOwned, cmk, keyA, keyB } from '../fixtures/keys.ts';
import { aws, startedAt, status, wants, workload } from '../fixtures/workload-plan.ts';

describe('materialSinceFrom', () => {
  const first = { keyMaterialId: 'm0' };
  const r1 = { keyMaterialId: 'm1', rotationDate: '2026-11-20T08:00:00.000Z' };
  const r2 = { keyMaterialId: 'm2', rotationDate: '2026-11-22T08:00:00.000Z' };
  // biome-ignore format: one named case per line
  it.each([
    ['the first material, never rotated', [first], 'm0', { kind: 'original' }],
    ['the material a rotation made current: its date', [first, r1, r2], 'm1', { kind: 'rotated', date: r1.rotationDate }],
    ['the newest rotation, listed in any order', [r2, first, r1], 'm2', { kind: 'rotated', date: r2.rotationDate }],
    ['not listed yet (eventual consistency): unknown, never taken for the first material', [first, r1], 'm2', undefined],
    ['an empty list says nothing', [], 'm0', undefined],
    ['entries without ids say nothing', [{ rotationDate: r1.rotationDate }], 'm1', undefined],
  ] as const)('%s', (_name, listed, material, expected) => {
    expect(materialSinceFrom(listed, material)).toEqual(expected);
  });
});

describe('materialToDate: the rotation date is read only when the decision needs it', () => {
  const onKeyA = aws({ encryption: cmk(keyA) });
  const started = startedAt('2026-11-21T08:00:00.000Z');
  const recorded = (keyMaterialId: string, keyArn = keyA) =>
    status({ current: { keyType: 'CustomerManaged', keyArn, keyMaterialId } });
  const needs = (...mods: Parameters<typeof workload>[1][]) => {
    const i = workload('ManagedFlink', onKeyA, started, ...mods);
    const observeInput: MaterialObserveInput = {
      target: { region: 'us-east-1' },
      caps: i.capabilities ?? flinkCapabilities,
      desired: i.desired,
      observed: i.observed,
      status: i.status,
    };
    return materialToDate(observeInput);
  };
  // biome-ignore format: one named case per line
  it.each([
    ['first sight of a running application with a start time', needs(), { keyArn: keyA, materialId: 'm1' }],
    ['the recorded material is not the current one (a rotation since)', needs(recorded('m0')), { keyArn: keyA, materialId: 'm1' }],
    ['a record for another key does not count', needs(recorded('m1', keyB)), { keyArn: keyA, materialId: 'm1' }],
    ['steady state: the recorded material is current, no read', needs(recorded('m1')), undefined],
    ['not running, no read', needs(aws({ running: false, awsState: 'READY' })), undefined],
    ['no start time from AWS, no read (the fallback needs none)', needs(aws({ runningSince: undefined })), undefined],
    ['on another key than the desired one, no read', needs(wants(cmk(keyB))), undefined],
    ['the AWS owned key has no material, no read', needs(wants(awsOwned), aws({ encryption: awsOwned })), undefined],
    ['the key reports no material, no read', needs((i) => ({ ...i, desired: { kind: 'resolved', setting: cmk(keyA) } })), undefined],
    ['a service whose running storage does not keep old material, no read', needs((i) => ({ ...i, capabilities: keyspacesCapabilities })), undefined],
  ] as const)('%s', (_name, got, expected) => {
    expect(got).toEqual(expected);
  });
});
