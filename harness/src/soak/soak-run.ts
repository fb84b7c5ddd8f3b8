// One soak: the stack up, a fault every ~N s for the given minutes, then the recorders stopped,
// the backlog drained, and every recorded chunk compared with the bucket.

import { readFileSync, readFileSync as read, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine } from '../service-process.js';
import { FaultBag, nextFaultDelayMs, seededRandom } from './fault-schedule.js';
import { FAULT_KINDS, availableFaults, injectFault, type FaultKind, type FaultRecord } from './soak-faults.js';
import type { SoakOptions } from './soak-options.js';
import { SOAK_BUCKET, startSoakStack, type SoakStack } from './soak-stack.js';
import { soakVerdict, type BucketChunk, type ChunkRef, type RecordedChunk, type SoakVerdict } from './soak-verdict.js';

export interface SoakResult {
  options: SoakOptions;
  startedAt: string;
  finishedAt: string;
  faults: FaultRecord[];
  byKind: { kind: FaultKind; injected: number; happened: number }[];
  /** kinds this machine could not inject, and why */
  notInjectable: { kind: FaultKind; why: string }[];
  verdict: SoakVerdict;
  /** distinct chunks the function described (at-least-once delivery; undefined without the Pub/Sub emulator) */
  described: number | undefined;
  /** chunks in the bucket not yet described when the soak gave up waiting */
  undescribed: number | undefined;
  load: { cores: number; loadAverage1m: { mean: number; max: number }; memAvailableMiB: { min: number; start: number } };
  drainSeconds: number;
  logDir: string;
}

const RECORDED_MESSAGES = new Set(['chunk recorded', 'requeued from spool', 'recovered chunk queued']);

function recordedChunks(stack: SoakStack): RecordedChunk[] {
  return stack.recorders
    .flatMap((r) => r.service.all.flatMap((p) => p.logs))
    .filter((l: LogLine) => RECORDED_MESSAGES.has(String(l.message)) && typeof l.source === 'string')
    .map((l) => {
      const endMs = Date.parse(String(l.startTime)) + Number(l.durationMs);
      return { source: String(l.source), sequence: Number(l.sequence), bytes: Number(l.bytes), endMs };
    });
}

function bucketChunks(stack: SoakStack): BucketChunk[] {
  return stack.gcs
    .objectSummaries(SOAK_BUCKET)
    .map((o) => ({ name: o.name, source: o.metadata.source ?? '', sequence: Number(o.metadata.sequence), size: o.size, createdMs: Date.parse(o.timeCreated) }));
}

function droppedChunks(stack: SoakStack): ChunkRef[] {
  let text: string;
  try {
    text = readFileSync(join(stack.spoolDir, 'dropped.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { sourceId: string; sequence: number })
    .map((d) => ({ source: d.sourceId, sequence: d.sequence }));
}

function sampleLoad(): { load1: number; memAvailableMiB: number } {
  const load1 = Number(read('/proc/loadavg', 'utf8').split(' ')[0]);
  const kb = Number(/MemAvailable:\s+(\d+)/.exec(read('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  return { load1, memAvailableMiB: Math.round(kb / 1024) };
}

/** `stop` ends the fault phase early (Ctrl-C): the soak still drains, judges and cleans up. */
export async function runSoak(options: SoakOptions, logDir: string, say: (line: string) => void, stop?: AbortSignal): Promise<SoakResult> {
  const startedAt = new Date().toISOString();
  const random = seededRandom(options.seed);
  const fileSeconds = Math.round(Math.min(300, Math.max(30, options.minutes * 30)));
  say(`starting the stack: ${options.cameras} cameras, a ${fileSeconds} s file source, chunks of ${options.chunkSeconds} s ...`);
  const stack = await startSoakStack({ cameras: options.cameras, chunkSeconds: options.chunkSeconds, fileSeconds, logDir });
  const loads: { load1: number; memAvailableMiB: number }[] = [sampleLoad()];
  const sampler = setInterval(() => loads.push(sampleLoad()), 5000);
  try {
    const possible = availableFaults(stack);
    const unknown = options.only.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
    if (unknown.length > 0) throw new Error(`--only: no fault called ${unknown.join(', ')}; the faults are ${FAULT_KINDS.join(', ')}`);
    const kinds = options.only.length === 0 ? possible : possible.filter((k) => options.only.includes(k));
    if (kinds.length === 0) throw new Error(`--only ${options.only.join(',')}: none of these can be injected on this machine`);
    const notInjectable = FAULT_KINDS.filter((k) => !possible.includes(k)).map((kind) => ({
      kind,
      why:
        kind === 'kill-cloud-function'
          ? 'no Pub/Sub emulator: the function is not part of this run'
          : kind === 'disk-full'
            ? 'not root: the spool cannot get a file system of its own'
            : 'libfaketime is not installed',
    }));
    for (const { kind, why } of notInjectable) say(`not injected: ${kind} (${why})`);
    const bag = new FaultBag(kinds, random);
    const endAt = Date.now() + options.minutes * 60_000;
    const faults: FaultRecord[] = [];
    say(`recording for ${options.minutes} min, a fault every ~${options.faultEverySeconds} s (seed ${options.seed})`);
    const stopped = () => stop?.aborted === true;
    // Faults start every ~N s, counted from the previous fault's start (one that takes longer is followed at once).
    let lastStart = Date.now();
    for (;;) {
      const nextAt = lastStart + nextFaultDelayMs(options.faultEverySeconds, random);
      if (nextAt > endAt - 5000 || stopped()) break;
      await sleep(Math.max(0, nextAt - Date.now()), undefined, { signal: stop }).catch(() => undefined);
      if (stopped()) break;
      const kind = bag.next();
      lastStart = Date.now();
      const record = await injectFault(kind, stack, random);
      faults.push(record);
      say(`${record.at} ${record.kind.padEnd(18)} ${record.happened ? 'happened' : 'DID NOT HAPPEN'}: ${record.proof}; ${record.outcome}`);
    }
    await sleep(Math.max(0, endAt - Date.now()), undefined, { signal: stop }).catch(() => undefined);

    say('stopping the recorders (SIGTERM: each finishes and queues its last chunk), then draining the backlog ...');
    stack.gcs.clearFaults();
    for (const recorder of stack.recorders) {
      if (recorder.clockFile !== undefined) writeFileSync(recorder.clockFile, '+0\n');
      await recorder.service.current.stop(20_000);
    }
    const drainStart = Date.now();
    const recorded = recordedChunks(stack);
    const dropped = new Set(droppedChunks(stack).map((d) => `${d.source}#${d.sequence}`));
    const expected = new Set(recorded.map((c) => `${c.source}#${c.sequence}`).filter((k) => !dropped.has(k)));
    let lastProgress = Date.now();
    let lastCount = -1;
    for (;;) {
      const present = new Set(bucketChunks(stack).map((o) => `${o.source}#${o.sequence}`));
      const missing = [...expected].filter((k) => !present.has(k)).length;
      if (missing === 0) break;
      if (present.size !== lastCount) {
        lastCount = present.size;
        lastProgress = Date.now();
      }
      if (Date.now() - lastProgress > 180_000) {
        say(`the backlog stopped draining with ${missing} chunks missing`);
        break;
      }
      await sleep(1000);
    }
    const drainSeconds = (Date.now() - drainStart) / 1000;
    let described: number | undefined;
    let undescribed: number | undefined;
    if (stack.fn !== undefined) {
      const fn = stack.fn;
      const stored = new Set(bucketChunks(stack).map((o) => `${o.source}#${o.sequence}`));
      const describedKeys = () =>
        new Set(
          fn.all
            .flatMap((p) => p.logs)
            .filter((l) => String(l.message).startsWith('chunk described'))
            .map((l) => `${String(l.source)}#${Number(l.sequence)}`),
        );
      const deadline = Date.now() + 120_000;
      while ([...stored].some((k) => !describedKeys().has(k)) && Date.now() < deadline) await sleep(1000);
      const keys = describedKeys();
      described = keys.size;
      undescribed = [...stored].filter((k) => !keys.has(k)).length;
    }
    const verdict = soakVerdict(recordedChunks(stack), bucketChunks(stack), droppedChunks(stack), new Set(stack.cameras.keys()));
    const byKind = kinds.map((kind) => {
      const ofKind = faults.filter((f) => f.kind === kind);
      return { kind, injected: ofKind.length, happened: ofKind.filter((f) => f.happened).length };
    });
    const load1 = loads.map((l) => l.load1);
    return {
      options,
      startedAt,
      finishedAt: new Date().toISOString(),
      faults,
      byKind,
      notInjectable,
      verdict,
      described,
      undescribed,
      load: {
        cores: cpus().length,
        loadAverage1m: { mean: Math.round((load1.reduce((a, b) => a + b, 0) / load1.length) * 100) / 100, max: Math.max(...load1) },
        memAvailableMiB: { min: Math.min(...loads.map((l) => l.memAvailableMiB)), start: loads[0]?.memAvailableMiB ?? 0 },
      },
      drainSeconds,
      logDir,
    };
  } finally {
    clearInterval(sampler);
    await stack.stop();
  }
}
