// The soak's printed report: the faults injected and what happened, by kind, and the verdict.

import { FAULT_DESCRIPTIONS } from './soak-faults.js';
import type { SoakResult } from './soak-run.js';

const table = (header: string[], rows: (string | number)[][]): string =>
  [header, header.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');

export function soakReport(result: SoakResult): string {
  const v = result.verdict;
  const parts = [
    `Chaos soak: ${result.options.minutes} min, ${result.options.cameras} cameras + 1 file source, a fault every ~${result.options.faultEverySeconds} s (seed ${result.options.seed}), ${result.startedAt} to ${result.finishedAt}`,
    '',
    table(
      ['time (UTC)', 'fault', 'victim', 'happened', 'proof', 'outcome'],
      result.faults.map((f) => [f.at.slice(11, 19), f.kind, f.victim, f.happened ? 'yes' : 'NO', f.proof, f.outcome]),
    ),
    '',
    table(
      ['fault', 'what it does', 'injected', 'proved to happen'],
      result.byKind.map((k) => [k.kind, FAULT_DESCRIPTIONS[k.kind], k.injected, k.happened]),
    ),
    ...result.notInjectable.map((n) => `not injected here: ${n.kind} (${n.why})`),
    '',
    table(
      ['chunks recorded', 'stored once', 'duplicated', 'dropped by policy, reported', 'lost', 'size mismatches', 'in the bucket, never announced'],
      [[v.recorded, v.storedOnce, v.duplicated, v.droppedByPolicy, v.lost, v.sizeMismatches, v.unannounced]],
    ),
    '',
    `behind live (chunk end -> object created): p50 ${(v.behindLiveMs.p50 / 1000).toFixed(1)} s, p95 ${(v.behindLiveMs.p95 / 1000).toFixed(1)} s, max ${(v.behindLiveMs.max / 1000).toFixed(1)} s; backlog drained ${result.drainSeconds.toFixed(0)} s after the recorders stopped`,
    result.described === undefined
      ? 'function: not run (no Pub/Sub emulator)'
      : `function: described ${result.described} distinct chunks; ${result.undescribed} stored chunks not described`,
    `machine: ${result.load.cores} cores, 1-min load average mean ${result.load.loadAverage1m.mean} max ${result.load.loadAverage1m.max}; MemAvailable ${result.load.memAvailableMiB.start} MiB at start, ${result.load.memAvailableMiB.min} MiB at least`,
    `logs: ${result.logDir}`,
  ];
  for (const [name, list] of Object.entries(v.examples)) if (list.length > 0) parts.push(`${name}: ${list.join('; ')}`);
  return parts.join('\n');
}

/** 0 lost, 0 duplicated, every stored chunk whole, and every injected fault proved to happen. */
export function soakPassed(result: SoakResult): boolean {
  const v = result.verdict;
  return v.lost === 0 && v.duplicated === 0 && v.sizeMismatches === 0 && result.faults.length > 0 && result.faults.every((f) => f.happened);
}
