import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

// CPU time and memory of the processes under test, read from /proc while they run.
//
// For each tracked process ("root": a service, the camera, redis) we read, every intervalMs:
//   /proc/PID/stat    utime + stime       CPU of the process itself
//                     cutime + cstime     CPU of its children it has already reaped (ffmpeg runs that ended)
//   /proc/PID/status  VmHWM, VmRSS        peak and current resident memory
// and the same for every live descendant (found through the ppid field of /proc/*/stat), grouped by
// command name. So a service's CPU splits into "node" (itself) and its children (ffmpeg, and the
// esbuild service tsx runs), living or reaped. A child's CPU after its last sample and before it was
// reaped lands in the parent's cutime, so nothing is lost or counted twice.

export const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface RawStat {
  pid: number;
  comm: string;
  ppid: number;
  /** seconds */
  selfCpu: number;
  reapedChildrenCpu: number;
}

function readStat(pid: number): RawStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const comm = text.slice(open + 1, close);
  // After "(comm) ": state(0) ppid(1) pgrp(2) session(3) tty(4) tpgid(5) flags(6) minflt(7) cminflt(8)
  // majflt(9) cmajflt(10) utime(11) stime(12) cutime(13) cstime(14)
  const f = text.slice(close + 2).split(' ');
  if (f[0] === 'Z') return undefined;
  const tick = (i: number) => Number(f[i] ?? 0) / CLOCK_TICKS_PER_SECOND;
  return { pid, comm, ppid: Number(f[1]), selfCpu: tick(11) + tick(12), reapedChildrenCpu: tick(13) + tick(14) };
}

function readMemoryKb(pid: number): { hwm: number; rss: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { hwm: field('VmHWM'), rss: field('VmRSS') };
}

/**
 * kB: proportional set size from /proc/PID/smaps_rollup: each page counted once over all the processes
 * that share it (libraries, copy-on-write pages), so the PSS of N recorders adds up to what they cost.
 */
export function readPssKb(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const pss = /^Pss:\s+(\d+) kB/m.exec(text)?.[1];
    return pss === undefined ? undefined : Number(pss);
  } catch {
    return undefined;
  }
}

/** PSS of a tracked process and of its live descendants by command group, read now (walks page tables: not for every sample). */
export interface PssTotals {
  selfKb: number;
  byGroupKb: Record<string, number>;
  countByGroup: Record<string, number>;
}

function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat === undefined) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(stat.pid);
    children.set(stat.ppid, list);
  }
  return children;
}

/** Normalised command group: ffmpeg, esbuild, node, python3, redis-server, ... */
function groupOf(comm: string): string {
  if (comm.startsWith('ffmpeg')) return 'ffmpeg';
  if (comm.startsWith('esbuild')) return 'esbuild';
  if (comm.startsWith('redis')) return 'redis';
  if (comm.startsWith('python')) return 'python3';
  return comm;
}

/** Totals of one tracked process and its descendants at one moment. */
export interface ProcessTotals {
  label: string;
  pid: number;
  atMs: number;
  alive: boolean;
  /** CPU seconds of the process itself. */
  selfCpu: number;
  /** CPU seconds of all its descendants, living or reaped. */
  childrenCpu: number;
  /** CPU seconds of descendants by command group (reaped ones count under `reapedGroup`). */
  childrenCpuByGroup: Record<string, number>;
  /** kB: VmHWM of the process itself (peak resident memory). */
  selfPeakKb: number;
  /** kB: VmRSS of the process itself now. */
  selfRssKb: number;
  /** kB: the largest VmHWM of any single descendant of each group seen so far. */
  childPeakKbByGroup: Record<string, number>;
  /** kB: the largest sum of VmRSS of the live descendants of each group seen at one sample. */
  childSumPeakKbByGroup: Record<string, number>;
  /** kB: sum of VmRSS of the live descendants of each group now. */
  childRssKbByGroup: Record<string, number>;
}

interface Tracked {
  label: string;
  pid: number;
  /** Which group the reaped children's CPU is counted under (what the process spawns and waits for). */
  reapedGroup: string;
  last: ProcessTotals | undefined;
  /** Last seen CPU of each live non-reaped-group descendant, by pid: keeps esbuild apart from ffmpeg. */
  otherChildren: Map<number, { group: string; cpu: number }>;
}

/**
 * Samples a set of processes every intervalMs until stopped. `totals(label)` gives the latest
 * figures; the last sample before a process exits is kept (sampleNow() just before stopping one).
 */
export class ProcessSampler {
  private readonly tracked = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 200) {}

  track(label: string, pid: number | undefined, reapedGroup = 'ffmpeg'): void {
    if (pid === undefined) return;
    this.tracked.set(label, { label, pid, reapedGroup, last: undefined, otherChildren: new Map() });
    this.sampleNow();
  }

  untrack(label: string): void {
    this.tracked.delete(label);
  }

  start(): this {
    this.timer ??= setInterval(() => this.sampleNow(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.sampleNow();
  }

  sampleNow(): void {
    if (this.tracked.size === 0) return;
    const children = parentMap();
    const now = Date.now();
    for (const t of this.tracked.values()) {
      const root = readStat(t.pid);
      const memory = readMemoryKb(t.pid);
      if (root === undefined || memory === undefined) {
        if (t.last !== undefined) t.last = { ...t.last, alive: false };
        continue;
      }
      const prev = t.last;
      const byGroupLive: Record<string, number> = {};
      const rssByGroup: Record<string, number> = {};
      const peakByGroup: Record<string, number> = { ...(prev?.childPeakKbByGroup ?? {}) };
      let liveCpu = 0;
      const stack = [...(children.get(t.pid) ?? [])];
      const seenOthers = new Set<number>();
      while (stack.length > 0) {
        const pid = stack.pop() as number;
        stack.push(...(children.get(pid) ?? []));
        const stat = readStat(pid);
        const mem = readMemoryKb(pid);
        if (stat === undefined) continue;
        const group = groupOf(stat.comm);
        const cpu = stat.selfCpu + stat.reapedChildrenCpu;
        liveCpu += cpu;
        byGroupLive[group] = (byGroupLive[group] ?? 0) + cpu;
        if (group !== t.reapedGroup) {
          t.otherChildren.set(pid, { group, cpu });
          seenOthers.add(pid);
        }
        if (mem !== undefined) {
          rssByGroup[group] = (rssByGroup[group] ?? 0) + mem.rss;
          peakByGroup[group] = Math.max(peakByGroup[group] ?? 0, mem.hwm);
        }
      }
      // CPU of non-ffmpeg children that have exited: remembered at their last sample.
      const exitedOthers: Record<string, number> = {};
      for (const [pid, other] of t.otherChildren) {
        if (!seenOthers.has(pid)) exitedOthers[other.group] = (exitedOthers[other.group] ?? 0) + other.cpu;
      }
      const childrenCpu = Math.max(prev?.childrenCpu ?? 0, root.reapedChildrenCpu + liveCpu);
      const byGroup: Record<string, number> = {};
      for (const [group, cpu] of Object.entries(byGroupLive)) if (group !== t.reapedGroup) byGroup[group] = cpu;
      for (const [group, cpu] of Object.entries(exitedOthers)) byGroup[group] = (byGroup[group] ?? 0) + cpu;
      const others = Object.values(byGroup).reduce((a, b) => a + b, 0);
      byGroup[t.reapedGroup] = Math.max(prev?.childrenCpuByGroup[t.reapedGroup] ?? 0, childrenCpu - others);
      const sumPeak: Record<string, number> = { ...(prev?.childSumPeakKbByGroup ?? {}) };
      for (const [group, rss] of Object.entries(rssByGroup)) sumPeak[group] = Math.max(sumPeak[group] ?? 0, rss);
      t.last = {
        label: t.label,
        pid: t.pid,
        atMs: now,
        alive: true,
        selfCpu: root.selfCpu,
        childrenCpu,
        childrenCpuByGroup: byGroup,
        selfPeakKb: memory.hwm,
        selfRssKb: memory.rss,
        childPeakKbByGroup: peakByGroup,
        childSumPeakKbByGroup: sumPeak,
        childRssKbByGroup: rssByGroup,
      };
    }
  }

  pssNow(label: string): PssTotals | undefined {
    const t = this.tracked.get(label);
    if (t === undefined) return undefined;
    const selfKb = readPssKb(t.pid);
    if (selfKb === undefined) return undefined;
    const children = parentMap();
    const byGroupKb: Record<string, number> = {};
    const countByGroup: Record<string, number> = {};
    const stack = [...(children.get(t.pid) ?? [])];
    while (stack.length > 0) {
      const pid = stack.pop() as number;
      stack.push(...(children.get(pid) ?? []));
      const stat = readStat(pid);
      const pss = readPssKb(pid);
      if (stat === undefined || pss === undefined) continue;
      const group = groupOf(stat.comm);
      byGroupKb[group] = (byGroupKb[group] ?? 0) + pss;
      countByGroup[group] = (countByGroup[group] ?? 0) + 1;
    }
    return { selfKb, byGroupKb, countByGroup };
  }

  totals(label: string): ProcessTotals | undefined {
    return this.tracked.get(label)?.last;
  }

  all(): ProcessTotals[] {
    return [...this.tracked.values()].flatMap((t) => (t.last === undefined ? [] : [t.last]));
  }
}

/** CPU used between two samples of the same process, as seconds and percent of one core. */
export function cpuBetween(before: ProcessTotals | undefined, after: ProcessTotals | undefined, group = 'ffmpeg') {
  if (before === undefined || after === undefined) return { selfCpu: Number.NaN, childCpu: Number.NaN, seconds: Number.NaN };
  const seconds = (after.atMs - before.atMs) / 1000;
  return {
    selfCpu: after.selfCpu - before.selfCpu,
    childCpu: (after.childrenCpuByGroup[group] ?? 0) - (before.childrenCpuByGroup[group] ?? 0),
    seconds,
  };
}

export const mb = (kb: number | undefined): number => Math.round(((kb ?? 0) / 1024) * 10) / 10;

/** CPU seconds the whole machine has been busy (all cores, every process), from /proc/stat. */
export function machineBusyCpuSeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return busy / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}
