import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { parseSoakArgs } from '@crispy-streamer/harness/soak/soak-options';
import { soakReport } from '@crispy-streamer/harness/soak/soak-report';
import { runSoak } from '@crispy-streamer/harness/soak/soak-run';
import { appendFaultOutcome } from '@crispy-streamer/harness/local-pipeline';

// The chaos soak's 3-minute version (docs/soak.md): two cameras and a file source through the
// whole stack while a fault is injected every ~12 s, so every kind this machine can inject comes
// up at least once. Every fault must prove it happened; afterwards no recorded chunk may be
// missing from the bucket (unless the spool policy dropped and reported it) or be there twice.
describe('chaos soak, 3 minutes', () => {
  it('every injected fault happened; 0 lost, 0 duplicated, every stored chunk whole', async () => {
    const options = parseSoakArgs(['--minutes', '3', '--cameras', '2', '--fault-every', '12', '--seed', String(Date.now() % 100_000)]);
    const outDir = join(REPO_ROOT, 'test-output');
    mkdirSync(outDir, { recursive: true });
    const result = await runSoak(options, join(outDir, 'soak-ci-logs'), () => undefined);
    writeFileSync(join(outDir, 'soak-ci-result.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(soakReport(result));
    const v = result.verdict;
    const fault = `chaos soak, 3 min, 2 cameras + a file, ${result.faults.length} random faults`;
    appendFaultOutcome({ fault, recorded: v.recorded, stored: v.storedOnce, duplicated: v.duplicated, reported: v.droppedByPolicy, lost: v.lost });

    // Every kind this machine can inject was injected, and each proved it happened.
    expect(result.byKind.filter((k) => k.injected === 0).map((k) => k.kind)).toEqual([]);
    expect(result.faults.filter((f) => !f.happened).map((f) => `${f.kind}: ${f.proof}`)).toEqual([]);
    expect(result.faults.filter((f) => f.outcome.includes('NOT RECOVERED')).map((f) => `${f.kind}: ${f.outcome}`)).toEqual([]);
    expect(v.recorded).toBeGreaterThan(40);
    const problems = { lost: v.lost, duplicated: v.duplicated, sizeMismatches: v.sizeMismatches, examples: v.examples.lost };
    expect(problems).toEqual({ lost: 0, duplicated: 0, sizeMismatches: 0, examples: [] });
    expect(v.storedOnce + v.droppedByPolicy).toBe(v.recorded);
    if (result.described !== undefined) expect(result.undescribed).toBe(0);
  }, 480_000);
});
