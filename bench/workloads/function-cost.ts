import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { onCleanup } from '../lib/cleanup.js';
import { CHUNK_SECONDS, makeStorage } from '../lib/file-ingest.js';
import { distribution, type Distribution } from '../lib/percentiles.js';
import { startBenchPipeline } from '../lib/pipeline.js';
import { fmt, usageBetween, type BenchContext, type Table, type TargetCheck, type WorkloadResult } from '../lib/report.js';
import { ensureVideo } from '../lib/videos.js';

/**
 * The function's own cost per chunk, apart from the edge. The edge pipeline stores a file's chunks
 * with its notifications caught by the sink; then the caught notifications are pushed to the function
 * (the real service, reading the real bucket), first one at a time, then 8 at a time, as Pub/Sub
 * would push them. CPU per chunk = the function's node plus its decoder children over the replay,
 * divided by the chunks described; wall per chunk = the push request's time (the function answers
 * once it has described the chunk) and the function's own elapsedMs.
 */
interface FunctionCostRun {
  video: string;
  storage: string;
  concurrency: number;
  chunks: number;
  described: number;
  wallSeconds: number;
  nodeCpuMsPerChunk: number;
  decoderCpuMsPerChunk: number;
  cpuMsPerChunk: number;
  requestMs: Distribution;
  elapsedMs: Distribution;
  chunksPerSecond: number;
  loadAverageBefore: number[];
}

const CONCURRENCIES = [1, 8] as const;
const WARM_UP = 2;

export async function functionCost(ctx: BenchContext): Promise<WorkloadResult> {
  const seconds = ctx.quick ? 60 : 120;
  const storageKind = ctx.storages.includes('gcs') ? 'gcs' : 'local';
  const sizes = [
    { width: 1280, height: 720 },
    { width: 1920, height: 1080 },
  ];
  const runs: FunctionCostRun[] = [];
  for (const size of sizes) {
    const video = await ensureVideo({ ...size, fps: 30, seconds, gopSeconds: 2 }, ctx.log);
    const label = `function ${size.height}p ${storageKind}`;
    const storage = await makeStorage(storageKind);
    const stopStorage = onCleanup('storage', () => storage.stop());
    const bench = await startBenchPipeline(storage, { workerEnv: { UPLOAD_CONCURRENCY: String(ctx.concurrency) }, withFunction: false });
    const stopBench = onCleanup('bench pipeline', () => bench.stop());
    try {
      const sink = bench.sink;
      if (sink === undefined) throw new Error('the function-cost workload needs the notification sink');
      const profileEnv: Record<string, string> =
        ctx.profileDir === undefined
          ? {}
          : { NODE_OPTIONS: `--import=${pathToFileURL(join(REPO_ROOT, 'bench/lib/cpu-prof-preload.mjs')).href}`, CPU_PROF_DIR: ctx.profileDir };
      const recorder = bench.runStreamHandle(
        { SOURCE_URL: video.path, SOURCE_ID: 'function-cost', CHUNK_SECONDS: String(CHUNK_SECONDS), CHUNK_MODE: 'copy', ...profileEnv },
        [],
      );
      const exitCode = await recorder.exited;
      if (exitCode !== 0) throw new Error(`stream-handle exited ${exitCode}: ${recorder.otherOutput.slice(-10).join('\n')}`);
      const recorded = recorder.logs.filter((l) => l.message === 'chunk recorded').length;
      const deadline = Date.now() + 120_000;
      while (sink.count() < recorded && Date.now() < deadline) await sleep(100);
      const notifications = sink.received();
      ctx.log(`  [${label}] ${notifications.length} chunks stored and caught by the sink; pushing them to the function ...`);
      // Two chunks warm the function up (imports, JIT) and are not counted; then a third of the rest
      // one at a time (at least 8), the others 8 at a time: each chunk once, for the function dedupes.
      const serial = Math.max(8, Math.round((notifications.length - WARM_UP) * 0.3));
      const batches = [notifications.slice(0, WARM_UP), notifications.slice(WARM_UP, WARM_UP + serial), notifications.slice(WARM_UP + serial)];
      const pushUrl = bench.pipeline.functionPushUrl;
      for (const [i, concurrency] of [1, ...CONCURRENCIES].entries()) {
        const batch = batches[i] ?? [];
        const load = loadavg();
        const logsBefore = bench.functionLogs().length;
        bench.sampler.sampleNow();
        const before = bench.sampler.totals('cloud-function');
        const started = performance.now();
        const requestMs: number[] = [];
        let next = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < batch.length) {
              const n = batch[next++];
              if (n === undefined) break;
              const t = performance.now();
              const response = await fetch(pushUrl, { method: 'POST', headers: { 'content-type': n.contentType }, body: n.body });
              await response.arrayBuffer();
              if (!response.ok) throw new Error(`the function answered ${response.status} to a push`);
              requestMs.push(performance.now() - t);
            }
          }),
        );
        const wallSeconds = (performance.now() - started) / 1000;
        await sleep(300); // the function's log lines of the last chunks
        bench.sampler.sampleNow();
        const usage = usageBetween(before, bench.sampler.totals('cloud-function'));
        const lines = bench
          .functionLogs()
          .slice(logsBefore)
          .filter((l) => typeof l.message === 'string' && l.message.startsWith('chunk described'));
        const described = lines.length;
        const perChunk = (cpuSeconds: number | undefined) => ((cpuSeconds ?? Number.NaN) * 1000) / described;
        const run: FunctionCostRun = {
          video: `${video.width}x${video.height}p${video.fps} ${video.bitrateMbps.toFixed(1)} Mb/s`,
          storage: storageKind,
          concurrency,
          chunks: batch.length,
          described,
          wallSeconds,
          nodeCpuMsPerChunk: perChunk(usage?.nodeCpuSeconds),
          decoderCpuMsPerChunk: perChunk((usage?.ffmpegCpuSeconds ?? 0) + (usage?.otherChildCpuSeconds ?? 0)),
          cpuMsPerChunk: perChunk((usage?.nodeCpuSeconds ?? 0) + (usage?.ffmpegCpuSeconds ?? 0) + (usage?.otherChildCpuSeconds ?? 0)),
          requestMs: distribution(requestMs),
          elapsedMs: distribution(lines.map((l) => Number(l.elapsedMs))),
          chunksPerSecond: described / wallSeconds,
          loadAverageBefore: load,
        };
        if (i === 0) continue; // the warm-up
        ctx.log(
          `  [${label}] concurrency ${concurrency}: ${described}/${batch.length} described, ${fmt.n(run.cpuMsPerChunk, 1)} CPU ms per chunk, wall p50 ${fmt.n(run.requestMs.p50)} ms (load ${load.map((l) => l.toFixed(2)).join(' ')})`,
        );
        runs.push(run);
      }
    } finally {
      await stopBench();
      await stopStorage();
    }
  }
  const table: Table = {
    title: 'function cost per chunk, off the edge (the real service and bucket; chunks 4 s and 2 s alternately, 3 s mean)',
    columns: [
      'video',
      'storage',
      'concurrency',
      'chunks described',
      'CPU ms per chunk (node + decoder)',
      'wall ms per chunk p50 / p95 (push answered)',
      'function elapsedMs p50 / p95',
      'chunks/s',
      'load before',
    ],
    rows: runs.map((r) => [
      r.video,
      r.storage,
      String(r.concurrency),
      `${r.described}/${r.chunks}`,
      `${fmt.n(r.cpuMsPerChunk, 1)} (${fmt.n(r.nodeCpuMsPerChunk, 1)} + ${fmt.n(r.decoderCpuMsPerChunk, 1)})`,
      `${fmt.n(r.requestMs.p50)} / ${fmt.n(r.requestMs.p95)}`,
      `${fmt.n(r.elapsedMs.p50)} / ${fmt.n(r.elapsedMs.p95)}`,
      fmt.n(r.chunksPerSecond, 1),
      r.loadAverageBefore.map((l) => l.toFixed(2)).join(' '),
    ]),
  };
  const targets: TargetCheck[] = runs
    .filter((r) => r.video.startsWith('1280x720') && r.concurrency === 1)
    .map((r) => ({
      target: 'function CPU per 720p chunk (node + decoder) <= 30 ms',
      measured: `${fmt.n(r.cpuMsPerChunk, 1)} ms (${fmt.n(r.nodeCpuMsPerChunk, 1)} node + ${fmt.n(r.decoderCpuMsPerChunk, 1)} decoder), concurrency 1`,
      met: r.cpuMsPerChunk <= 30,
      detail: `load average before ${r.loadAverageBefore.map((l) => l.toFixed(2)).join(' ')}`,
    }));
  return {
    name: 'function',
    tables: [table],
    notes: ['CPU figures are CPU time of the function process and its children (from /proc), so other work on the machine stretches wall times but not them.'],
    targets,
    data: runs,
  };
}
