// CPU time per part of the bench, from /proc (Linux only; elsewhere every figure is empty).
//
// Why: the floor counts AWS latency and quotas, not CPU. On a small machine the kube-apiserver, etcd,
// the emulator, the bench and the operator share the same cores, and at 10,000 workloads they can
// need more CPU than the cores have; then time is bound by CPU, not by AWS. A scenario's CPU
// seconds per part and the machine's busy share tell which it was.
//
// Guarantees:
// - Parts are found by walking the process tree below this process (the bench) and naming each
//   process by its command line. The bench's processes live for a whole N; a process that exits
//   inside a window is left out of it (a part's figure never goes below zero).
// - Never throws: an unreadable /proc gives zeros.

import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export type CpuPart = 'operator' | 'kube-apiserver' | 'etcd' | 'emulator' | 'bench' | 'other';

export interface CpuSnapshot {
  /** CPU seconds (user + system) used so far, per part. */
  seconds: Record<CpuPart, number>;
  /**
   * Machine-wide jiffies from /proc/stat, all CPUs: busy (everything but idle and iowait), total,
   * and stolen (the host ran another guest on a CPU this machine had work for; counted as busy).
   */
  machine: { busy: number; total: number; stolen?: number };
}

export interface CpuUse {
  /** CPU seconds per part in the window. */
  seconds: Record<CpuPart, number>;
  /** Busy share of all the machine's CPUs in the window, 0..1 (everything, not only the bench). */
  machineBusy: number;
  /**
   * Share of all the machine's CPU time in the window the host gave to other guests while this one
   * had work, 0..1 (inside machineBusy). A run of the same code is slower by about this much: read
   * before comparing two runs' times or CPU seconds.
   */
  machineStolen?: number;
  /** The machine's CPUs. */
  cpus: number;
  /**
   * The CPU seconds of every part but the operator, spread over all CPUs: how long the machine was
   * kept busy by the API server, etcd, the emulator and the bench serving this scenario's traffic.
   * No operator making the same requests could finish sooner on this machine.
   */
  othersBusySeconds: number;
}

const ticksPerSecond = 100; // USER_HZ: 100 on every Linux build Node supports

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** pid, ppid and user + system ticks from /proc/<pid>/stat (the comm field may hold spaces). */
function stat(pid: number): { ppid: number; ticks: number } | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (!text) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the comm: state(0) ppid(1) ... utime(11) stime(12).
  const ppid = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ppid) && Number.isFinite(ticks) ? { ppid, ticks } : undefined;
}

export function partOf(commandLine: string): CpuPart {
  if (commandLine.includes('kube-apiserver')) return 'kube-apiserver';
  if (/(^|\/)etcd(\s|$)/.test(commandLine)) return 'etcd';
  if (/\bemulator\b/.test(commandLine)) return 'emulator';
  // The build the image runs (bin/cmk-operator.js) or, with CMK_BENCH_FROM_SOURCE=1, the sources.
  if (/(cli\/main\.ts|bin\/cmk-operator\.js)\s+run\b/.test(commandLine)) return 'operator';
  if (commandLine.includes('bench')) return 'bench';
  return 'other';
}

const emptyParts = (): Record<CpuPart, number> => ({
  operator: 0,
  'kube-apiserver': 0,
  etcd: 0,
  emulator: 0,
  bench: 0,
  other: 0,
});

/**
 * The `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal guest guest_nice.
 * guest and guest_nice are inside user and nice already: left out of the total.
 */
export function machineJiffiesOf(line: string | undefined): { busy: number; total: number; stolen: number } {
  if (!line?.startsWith('cpu ')) return { busy: 0, total: 0, stolen: 0 };
  const v = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map((x) => (Number.isFinite(Number(x)) ? Number(x) : 0));
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: total - idle, total, stolen: v[7] ?? 0 };
}

function machineJiffies(): { busy: number; total: number; stolen: number } {
  return machineJiffiesOf(readText('/proc/stat')?.split('\n')[0]);
}

/** The CPU used so far by this process and every process below it, per part. */
export function cpuSnapshot(root: number = process.pid): CpuSnapshot {
  const seconds = emptyParts();
  let pids: number[] = [];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return { seconds, machine: { busy: 0, total: 0, stolen: 0 } };
  }
  const info = new Map<number, { ppid: number; ticks: number }>();
  for (const pid of pids) {
    const s = stat(pid);
    if (s) info.set(pid, s);
  }
  const below = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === root) return true;
      const parent = info.get(p)?.ppid;
      if (parent === undefined) return false;
      p = parent;
    }
    return false;
  };
  for (const [pid, s] of info) {
    if (!below(pid)) continue;
    const commandLine =
      pid === root ? 'bench' : (readText(`/proc/${pid}/cmdline`) ?? '').replaceAll('\0', ' ');
    seconds[partOf(commandLine)] += s.ticks / ticksPerSecond;
  }
  return { seconds, machine: machineJiffies() };
}

/** What was used between two snapshots. */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const seconds = emptyParts();
  for (const part of Object.keys(seconds) as CpuPart[])
    seconds[part] = Math.round(Math.max(0, after.seconds[part] - before.seconds[part]) * 10) / 10;
  const total = after.machine.total - before.machine.total;
  const share = (d: number) => (total > 0 ? Math.round((d / total) * 100) / 100 : 0);
  const machineBusy = share(after.machine.busy - before.machine.busy);
  const machineStolen = share((after.machine.stolen ?? 0) - (before.machine.stolen ?? 0));
  const cpus = Math.max(1, availableParallelism());
  const others = seconds['kube-apiserver'] + seconds.etcd + seconds.emulator + seconds.bench + seconds.other;
  return {
    seconds,
    machineBusy,
    machineStolen,
    cpus,
    othersBusySeconds: Math.round((others / cpus) * 10) / 10,
  };
}
