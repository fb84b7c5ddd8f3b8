// One fault's outcome in chunks: the line format of test-output/fault-summary.jsonl, written by the
// end-to-end fault tests (recordFaultOutcome in test/e2e/pipeline-harness.ts) and the soak, read by
// scripts/fault-summary.ts. The target is 0 lost and 0 duplicated.

export interface FaultOutcome {
  fault: string;
  /** distinct chunks stream-handle recorded */
  recorded: number;
  /** recorded chunks exactly one object holds */
  stored: number;
  /** recorded chunks more than one object holds */
  duplicated: number;
  /** recorded chunks in no object but reported (dropped by policy, or kept in quarantine) */
  reported: number;
  /** recorded chunks in no object and not reported */
  lost: number;
}

/** Counts one fault's chunks from sequence numbers: recorded, one entry per object found, reported. */
export function faultOutcome(fault: string, sequences: { recorded: number[]; stored: number[]; reported?: number[] }): FaultOutcome {
  const recorded = [...new Set(sequences.recorded)];
  const copies = new Map<number, number>();
  for (const sequence of sequences.stored) copies.set(sequence, (copies.get(sequence) ?? 0) + 1);
  const reportedSet = new Set(sequences.reported ?? []);
  let stored = 0;
  let duplicated = 0;
  let reported = 0;
  for (const sequence of recorded) {
    const count = copies.get(sequence) ?? 0;
    if (count === 1) stored++;
    else if (count > 1) duplicated++;
    else if (reportedSet.has(sequence)) reported++;
  }
  return { fault, recorded: recorded.length, stored, duplicated, reported, lost: recorded.length - stored - duplicated - reported };
}

/** A line of the summary file; lines written before the duplicated column count 0 there. */
export function parseFaultOutcome(line: string): FaultOutcome {
  const raw = JSON.parse(line) as Partial<FaultOutcome> & { fault: string; recorded: number; stored: number; reported: number; lost: number };
  return { fault: raw.fault, recorded: raw.recorded, stored: raw.stored, duplicated: raw.duplicated ?? 0, reported: raw.reported, lost: raw.lost };
}

/** The run fails on a lost or a duplicated chunk alike. */
export function faultRunFailed(outcomes: readonly FaultOutcome[]): boolean {
  return outcomes.some((o) => o.lost !== 0 || o.duplicated !== 0);
}

export function faultSummaryTable(outcomes: readonly FaultOutcome[]): string {
  const keys = ['recorded', 'stored', 'duplicated', 'reported', 'lost'] as const;
  const rows: (string | number)[][] = outcomes.map((o) => [o.fault, ...keys.map((key) => o[key])]);
  rows.push([`all ${outcomes.length} faults`, ...keys.map((key) => outcomes.reduce((sum, o) => sum + o[key], 0))]);
  const header = ['fault', 'chunks recorded', 'stored once', 'duplicated', 'dropped by policy, reported', 'lost'];
  return [header, header.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}
