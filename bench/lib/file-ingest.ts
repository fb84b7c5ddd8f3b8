import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from './cleanup.js';
import { distribution, type Distribution } from './percentiles.js';
import { latencies, startBenchPipeline, traceChunks } from './pipeline.js';
import { ProcessSampler } from './process-stats.js';
import { ownChildrenCpuSeconds, usageBetween, type BenchContext, type ServiceUsage } from './report.js';
import { gcsStorage, localStorage, type BenchStorage, type RawUploadResult } from './storage.js';
import type { VideoFile } from './videos.js';

export const CHUNK_SECONDS = 3;

export interface RawFfmpegResult {
  wallMs: number;
  cpuSeconds: number;
  peakKb: number;
  chunks: number;
  command: string;
}

function encodeArgs(mode: 'copy' | 'encode'): string[] {
  return mode === 'copy'
    ? ['-c', 'copy']
    : [
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-crf',
        '26',
        '-pix_fmt',
        'yuv420p',
        '-force_key_frames',
        `expr:gte(t,n_forced*${CHUNK_SECONDS})`,
        '-sc_threshold',
        '0',
        '-segment_time_delta',
        '0.05',
      ];
}

/** ffmpeg alone cutting (and in encode mode encoding) the file into the same chunks on disk. */
export async function rawFfmpeg(video: VideoFile, mode: 'copy' | 'encode', outDir: string): Promise<RawFfmpegResult> {
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-i',
    video.path,
    '-map',
    '0:v:0',
    '-an',
    ...encodeArgs(mode),
    '-f',
    'segment',
    '-segment_time',
    String(CHUNK_SECONDS),
    '-segment_format',
    'mp4',
    '-reset_timestamps',
    '1',
    join(outDir, 'out%05d.mp4'),
  ];
  const sampler = new ProcessSampler(100).start();
  const cpu0 = ownChildrenCpuSeconds();
  const started = performance.now();
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  sampler.track('ffmpeg', child.pid, 'none');
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const wallMs = performance.now() - started;
  const peakKb = sampler.totals('ffmpeg')?.selfPeakKb ?? 0;
  sampler.stop();
  if (code !== 0) throw new Error(`ffmpeg alone failed (${code}): ${stderr.slice(-2000)}`);
  return {
    wallMs,
    cpuSeconds: ownChildrenCpuSeconds() - cpu0,
    peakKb,
    chunks: (await readdir(outDir)).length,
    command: `ffmpeg ${args.join(' ').replace(video.path, 'F').replace(outDir, 'OUT')}`,
  };
}

export interface FileIngestRun {
  video: string;
  videoSeconds: number;
  frames: number;
  mode: 'copy' | 'encode';
  storage: string;
  storageKind: 'local' | 'gcs';
  bitrateMbps: number;
  rawFfmpeg: RawFfmpegResult;
  rawUpload: RawUploadResult | undefined;
  chunksRecorded: number;
  objectsStored: number;
  chunksDescribed: number;
  framesStored: number;
  bytesStored: number;
  /** From spawning stream-handle. */
  startupMs: number;
  recorderDoneMs: number;
  storedMs: number;
  uploadsLoggedMs: number;
  describedMs: number;
  /** Video seconds per wall second to the last object stored / the last description logged. */
  speedStored: number;
  speedDescribed: number;
  fpsStored: number;
  fpsDescribed: number;
  /** Pipeline wall (to stored) / the larger raw limit. */
  ratioStored: number;
  ratioDescribed: number;
  rawLimitMs: number;
  usage: Record<string, ServiceUsage | undefined>;
  latencyMs: Record<string, Distribution>;
  /** The machine's load average just before the pipeline run. */
  loadAverageBefore: number[];
}

export async function makeStorage(kind: 'local' | 'gcs'): Promise<BenchStorage> {
  return kind === 'local' ? localStorage() : gcsStorage();
}

/** One file through the whole pipeline, with its raw limits measured just before. */
export async function ingestFile(
  ctx: BenchContext,
  video: VideoFile,
  mode: 'copy' | 'encode',
  storageKind: 'local' | 'gcs',
  label: string,
): Promise<FileIngestRun> {
  const outDir = await mkdtemp(join(tmpdir(), 'crispy-bench-ffmpeg-'));
  const removeOut = onCleanup('raw ffmpeg output', () => rm(outDir, { recursive: true, force: true }));
  const storage = await makeStorage(storageKind);
  const stopStorage = onCleanup('storage', () => storage.stop());
  try {
    ctx.log(`  [${label}] ffmpeg alone (${mode}) ...`);
    const raw = await rawFfmpeg(video, mode, outDir);
    ctx.log(`  [${label}] ffmpeg alone: ${(raw.wallMs / 1000).toFixed(2)} s, ${raw.chunks} chunks`);
    let rawUpload: RawUploadResult | undefined;
    if (mode === 'copy') {
      const files = (await readdir(outDir)).sort().map((f) => join(outDir, f));
      rawUpload = await storage.rawUpload(files, ctx.concurrency);
      ctx.log(
        `  [${label}] plain upload (${storage.kind}): ${(rawUpload.wallMs / 1000).toFixed(2)} s for ${rawUpload.files} chunks at concurrency ${ctx.concurrency}`,
      );
    }
    await removeOut();

    const profileEnv: Record<string, string> =
      ctx.profileDir === undefined
        ? {}
        : { NODE_OPTIONS: `--import=${pathToFileURL(join(REPO_ROOT, 'bench/lib/cpu-prof-preload.mjs')).href}`, CPU_PROF_DIR: ctx.profileDir };
    const workerEnv = { UPLOAD_CONCURRENCY: String(ctx.concurrency), ...profileEnv };
    const bench = await startBenchPipeline(storage, { workerEnv, withFunction: ctx.withFunction });
    const stopBench = onCleanup('bench pipeline', () => bench.stop());
    try {
      await sleep(500);
      bench.sampler.sampleNow();
      const before = bench.totals();
      const loadAverageBefore = loadavg();
      const sourceId = `file-${mode}`;
      const t0 = Date.now();
      const recorder = bench.runStreamHandle(
        { SOURCE_URL: video.path, SOURCE_ID: sourceId, CHUNK_SECONDS: String(CHUNK_SECONDS), CHUNK_MODE: mode, ...profileEnv },
        [],
      );
      if (ctx.profileDir !== undefined) {
        ctx.profiledPids.set(recorder.child.pid ?? -1, `stream-handle (${label})`);
        ctx.profiledPids.set(bench.pipeline.worker.child.pid ?? -1, `upload-worker (${label})`);
      }
      const exitCode = await recorder.exited;
      const recorderDoneMs = Date.now() - t0;
      if (exitCode !== 0) throw new Error(`stream-handle exited ${exitCode}: ${recorder.otherOutput.slice(-10).join('\n')}`);
      const recorded = recorder.logs.filter((l) => l.message === 'chunk recorded').length;
      ctx.log(
        `  [${label}] stream-handle done in ${(recorderDoneMs / 1000).toFixed(2)} s: ${recorded} chunks queued; waiting for uploads and descriptions ...`,
      );
      // One source per pipeline here, so the sink's count is this source's.
      const describedCount = () => bench.deliveredCount();
      await bench.waitForDelivery(recorded, Math.max(180_000, recorded * 3_000));
      bench.sampler.sampleNow();
      const after = bench.totals();
      const objects = (await bench.objects()).filter((o) => o.source === sourceId);
      const traces = traceChunks(recorder.logs, bench.workerLogs(), bench.functionLogs(), objects);
      const lat = latencies(traces);
      const startLine = recorder.logs.find((l) => l.message === 'source starting');
      const maxOf = (values: (number | undefined)[]) => Math.max(...values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
      const storedMs = maxOf(objects.map((o) => o.createdAtMs)) - t0;
      const describedMs = maxOf(traces.map((t) => t.describedAtMs)) - t0;
      const uploadsLoggedMs = maxOf(traces.map((t) => t.uploadLoggedAtMs)) - t0;
      const framesStored = objects.reduce((sum, o) => sum + (o.frameCount ?? 0), 0);
      const rawLimitMs = Math.max(raw.wallMs, rawUpload?.wallMs ?? 0);
      const usage: Record<string, ServiceUsage | undefined> = {
        'stream-handle': usageBetween(undefined, after['stream-handle']),
        'upload-worker': usageBetween(before['upload-worker'], after['upload-worker']),
        'cloud-function': usageBetween(before['cloud-function'], after['cloud-function']),
        redis: usageBetween(before.redis, after.redis),
        ...(storage.pid === undefined ? {} : { storage: usageBetween(before.storage, after.storage) }),
      };
      const run: FileIngestRun = {
        video: `${video.width}x${video.height}p${video.fps} ${video.seconds} s`,
        videoSeconds: video.frames / video.fps,
        frames: video.frames,
        mode,
        storage: storage.label,
        storageKind,
        bitrateMbps: video.bitrateMbps,
        rawFfmpeg: raw,
        rawUpload,
        chunksRecorded: recorded,
        objectsStored: objects.length,
        chunksDescribed: describedCount(),
        framesStored,
        bytesStored: objects.reduce((sum, o) => sum + o.size, 0),
        startupMs: startLine === undefined ? Number.NaN : Date.parse(String(startLine.time)) - t0,
        recorderDoneMs,
        storedMs,
        uploadsLoggedMs,
        describedMs,
        speedStored: video.frames / video.fps / (storedMs / 1000),
        speedDescribed: video.frames / video.fps / (describedMs / 1000),
        fpsStored: framesStored / (storedMs / 1000),
        fpsDescribed: framesStored / (describedMs / 1000),
        ratioStored: storedMs / rawLimitMs,
        ratioDescribed: describedMs / rawLimitMs,
        rawLimitMs,
        usage,
        loadAverageBefore,
        latencyMs: {
          closedToStored: distribution(lat.closedToStored),
          queuedToCreated: distribution(lat.queuedToCreated),
          queuedToDescribed: distribution(lat.queuedToDescribed),
          describeElapsed: distribution(lat.describeElapsed),
        },
      };
      ctx.log(
        `  [${label}] stored ${objects.length}/${recorded} in ${(storedMs / 1000).toFixed(2)} s (${run.speedStored.toFixed(1)}x real time), ` +
          (Number.isFinite(describedMs)
            ? `described ${run.chunksDescribed} in ${(describedMs / 1000).toFixed(2)} s`
            : `${run.chunksDescribed} notifications caught by the sink (the function is off the edge)`),
      );
      return run;
    } finally {
      await stopBench();
    }
  } finally {
    await removeOut();
    await stopStorage();
  }
}
