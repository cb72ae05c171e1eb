// The bench's CPU accounting: each process of a bench run is named for its part, and the figures of
// a window are differences that never go below zero.

import { describe, expect, it } from 'vitest';
import { type CpuSnapshot, cpuBetween, machineJiffiesOf, partOf } from '../../bench/cpu.ts';

describe('bench CPU accounting', () => {
  it.each([
    ['/cache/bin/kube-apiserver --etcd-servers=http://127.0.0.1:2379', 'kube-apiserver'],
    ['/cache/bin/etcd --name=default --data-dir=/tmp/x', 'etcd'],
    ['/repo/node_modules/node/bin/node /repo/src/dev/main.ts emulator --port 0', 'emulator'],
    ['/repo/node_modules/node/bin/node /repo/src/cli/main.ts run --kubeconfig /tmp/k', 'operator'],
    [
      '/repo/node_modules/node/bin/node --max-semi-space-size=4 /repo/dist/bench-operator-x1/bin/cmk-operator.js run --kubeconfig /tmp/k',
      'operator',
    ],
    ['node scripts/bench.ts --n 60', 'bench'],
    ['/bin/sleep 1', 'other'],
  ])('%s is %s', (commandLine, part) => {
    expect(partOf(commandLine)).toBe(part);
  });

  it('a window is the difference of two snapshots; an exited process does not make it negative', () => {
    const at = (operator: number, apiserver: number, busy: number, total: number): CpuSnapshot => ({
      seconds: { operator, 'kube-apiserver': apiserver, etcd: 0, emulator: 0, bench: 0, other: 0 },
      machine: { busy, total },
    });
    const use = cpuBetween(at(10, 50, 1_000, 4_000), at(40.04, 20, 2_500, 6_000));
    expect(use.seconds.operator).toBe(30);
    expect(use.seconds['kube-apiserver']).toBe(0);
    expect(use.machineBusy).toBe(0.75);
    expect(use.othersBusySeconds).toBe(0); // the API server's figure went down: left out, not negative
  });

  it("reads the host's steal from /proc/stat as busy, and leaves guest time out of the total", () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    expect(machineJiffiesOf('cpu  600 0 100 200 50 0 0 50 300 0')).toEqual({
      busy: 750,
      total: 1000,
      stolen: 50,
    });
    expect(machineJiffiesOf('intr 1 2 3')).toEqual({ busy: 0, total: 0, stolen: 0 });
    const at = (busy: number, total: number, stolen: number): CpuSnapshot => ({
      seconds: { operator: 0, 'kube-apiserver': 0, etcd: 0, emulator: 0, bench: 0, other: 0 },
      machine: { busy, total, stolen },
    });
    const use = cpuBetween(at(1_000, 4_000, 100), at(2_500, 6_000, 900));
    expect(use.machineBusy).toBe(0.75);
    expect(use.machineStolen).toBe(0.4); // 800 of the window's 2,000 jiffies
  });
});
