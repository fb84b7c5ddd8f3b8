import { readFileSync } from 'node:fs';
import { CLOCK_TICKS_PER_SECOND, mb, type ProcessTotals } from './process-stats.js';

/** One of the figures, met or not, with how far off. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | undefined;
  detail: string;
}

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

export interface WorkloadResult {
  name: string;
  tables: Table[];
  notes: string[];
  targets: TargetCheck[];
  /** Everything measured, for the JSON file. */
  data: unknown;
  /** Series for the chart. */
  chart?: {
    latencies?: { label: string; values: number[] }[];
    throughput?: { label: string; value: number; unit: string; group: string }[];
  };
}

export interface BenchContext {
  quick: boolean;
  cameraSeconds: number | undefined;
  fileSeconds: number | undefined;
  outageSeconds: number | undefined;
  storages: ('local' | 'gcs')[];
  concurrency: number;
  /** Notifications reach the function on this machine (the combined run); otherwise a 204 sink (edge only). */
  withFunction: boolean;
  profileDir: string | undefined;
  /** pid -> what it was, for naming the CPU profiles. */
  profiledPids: Map<number, string>;
  log: (line: string) => void;
  /** Raw upload limits measured by file-copy, for backlog drain (chunks/s and MB/s). */
  uploadLimits: { storage: string; chunksPerSecond: number; mbPerSecond: number; chunkMb: number }[];
}

export const fmt = {
  ms: (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`),
  s: (v: number | undefined, digits = 1) => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(digits)} s`),
  n: (v: number | undefined, digits = 0) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits)),
  x: (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(v >= 100 ? 0 : 1)}x`),
  mb: (kb: number | undefined) => (kb === undefined || !Number.isFinite(kb) ? '-' : `${mb(kb)} MB`),
  pct: (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(1)} %`),
};

/** CPU seconds this process's reaped children used so far (ffmpeg runs we waited for). */
export function ownChildrenCpuSeconds(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13] ?? 0) + Number(f[14] ?? 0)) / CLOCK_TICKS_PER_SECOND;
}

/** CPU and memory of one service over a run: node itself and its ffmpeg children apart. */
export interface ServiceUsage {
  nodeCpuSeconds: number;
  ffmpegCpuSeconds: number;
  otherChildCpuSeconds: number;
  nodePeakKb: number;
  nodeRssKb: number;
  ffmpegPeakKb: number;
  ffmpegSumPeakKb: number;
}

export function usageBetween(before: ProcessTotals | undefined, after: ProcessTotals | undefined): ServiceUsage | undefined {
  if (after === undefined) return undefined;
  const b = before;
  const ffmpeg = (after.childrenCpuByGroup.ffmpeg ?? 0) - (b?.childrenCpuByGroup.ffmpeg ?? 0);
  const allChildren = after.childrenCpu - (b?.childrenCpu ?? 0);
  return {
    nodeCpuSeconds: after.selfCpu - (b?.selfCpu ?? 0),
    ffmpegCpuSeconds: ffmpeg,
    otherChildCpuSeconds: Math.max(0, allChildren - ffmpeg),
    nodePeakKb: after.selfPeakKb,
    nodeRssKb: after.selfRssKb,
    ffmpegPeakKb: after.childPeakKbByGroup.ffmpeg ?? 0,
    ffmpegSumPeakKb: after.childSumPeakKbByGroup.ffmpeg ?? 0,
  };
}

export function markdownTable(table: Table): string {
  const lines = [`| ${table.columns.join(' | ')} |`, `| ${table.columns.map(() => '---').join(' | ')} |`];
  for (const row of table.rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

export function textTable(table: Table): string {
  const widths = table.columns.map((c, i) => Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [table.title, line(table.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n');
}
