// Prints the fault-injection suite's outcome, from the lines the end-to-end tests append to
// test-output/fault-summary.jsonl (recordFaultOutcome in harness/src/local-pipeline.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';

export interface FaultOutcome {
  fault: string;
  recorded: number;
  stored: number;
  reported: number;
  lost: number;
}

export function faultSummaryTable(outcomes: FaultOutcome[]): string {
  const rows = outcomes.map((o) => [o.fault, o.recorded, o.stored, o.reported, o.lost]);
  const total = (key: 'recorded' | 'stored' | 'reported' | 'lost') => outcomes.reduce((sum, o) => sum + o[key], 0);
  rows.push([`all ${outcomes.length} faults`, total('recorded'), total('stored'), total('reported'), total('lost')]);
  const header = ['fault', 'chunks recorded', 'stored once', 'dropped by policy, reported', 'lost'];
  return [header, header.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

const file = join(REPO_ROOT, 'test-output', 'fault-summary.jsonl');
let text = '';
try {
  text = readFileSync(file, 'utf8');
} catch {
  process.exit(0); // the end-to-end project did not run
}
const outcomes = text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as FaultOutcome);
process.stdout.write(`\nFault-injection suite (${file}):\n\n${faultSummaryTable(outcomes)}\n`);
if (outcomes.some((o) => o.lost !== 0)) {
  process.stdout.write('\nCHUNKS LOST: see the rows above.\n');
  process.exit(1);
}
