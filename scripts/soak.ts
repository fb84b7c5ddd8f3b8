// The chaos soak: cameras and a file source through the whole stack while a random fault is
// injected every ~30 s; then every recorded chunk is compared with the bucket. See docs/soak.md.
//
//   npm run soak -- --minutes 60 --cameras 16

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '@crispy-streamer/shared';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { parseSoakArgs } from '@crispy-streamer/harness/soak/soak-options';
import { soakPassed, soakReport } from '@crispy-streamer/harness/soak/soak-report';
import { runSoak } from '@crispy-streamer/harness/soak/soak-run';

async function main(): Promise<number> {
  const options = parseSoakArgs(process.argv.slice(2));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = join(REPO_ROOT, 'test-output');
  const logDir = process.env.SOAK_LOG_DIR ?? join(outDir, `soak-${stamp}-logs`);
  mkdirSync(outDir, { recursive: true });
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.log(`${signal}: ending the fault phase; draining, judging and cleaning up (a second ${signal} leaves a mess)`);
      stop.abort();
    });
  }
  const result = await runSoak(options, logDir, (line) => console.log(line), stop.signal);
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(outDir, `soak-${stamp}.json`), json);
  writeFileSync(join(outDir, 'soak-result.json'), json);
  console.log(`\n${soakReport(result)}\n\nresult: test-output/soak-${stamp}.json`);
  const passed = soakPassed(result);
  console.log(passed ? 'SOAK PASSED: 0 lost, 0 duplicated, every fault proved.' : 'SOAK FAILED: see above.');
  return passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`soak failed: ${errorMessage(error)}`);
    process.exit(2);
  },
);
