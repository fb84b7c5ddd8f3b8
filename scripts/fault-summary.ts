// Prints the fault-injection suite's outcome, from the lines the end-to-end tests append to
// test-output/fault-summary.jsonl (harness/src/fault-outcome.ts owns the format).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { faultRunFailed, faultSummaryTable, parseFaultOutcome } from '@crispy-streamer/harness/fault-outcome';

const file = join(REPO_ROOT, 'test-output', 'fault-summary.jsonl');
let text = '';
try {
  text = readFileSync(file, 'utf8');
} catch {
  process.exit(0); // the end-to-end project did not run
}
const outcomes = text
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map(parseFaultOutcome);
process.stdout.write(`\nFault-injection suite (${file}):\n\n${faultSummaryTable(outcomes)}\n`);
if (faultRunFailed(outcomes)) {
  process.stdout.write('\nCHUNKS LOST OR DUPLICATED: see the rows above.\n');
  process.exit(1);
}
