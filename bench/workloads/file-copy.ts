import { ingestFile, type FileIngestRun } from '../lib/file-ingest.js';
import { fmt, type BenchContext, type Table, type TargetCheck, type WorkloadResult } from '../lib/report.js';
import { ensureVideo } from '../lib/videos.js';

/**
 * Workload 1: a generated 720p30 and 1080p30 file (2 s GOP) through stream-handle in copy mode with
 * 3 s chunks, all the way to objects in the bucket and the function's log line for each; against
 * (a) ffmpeg alone cutting the same chunks and (b) plain uploads of those chunks with no queue.
 */
export async function fileCopy(ctx: BenchContext): Promise<WorkloadResult> {
  const seconds = ctx.fileSeconds ?? (ctx.quick ? 120 : 600);
  const sizes = ctx.quick
    ? [{ width: 1280, height: 720 }]
    : [
        { width: 1280, height: 720 },
        { width: 1920, height: 1080 },
      ];
  const runs: FileIngestRun[] = [];
  for (const size of sizes) {
    const video = await ensureVideo({ ...size, fps: 30, seconds, gopSeconds: 2 }, ctx.log);
    for (const storage of ctx.storages) {
      runs.push(await ingestFile(ctx, video, 'copy', storage, `copy ${size.height}p ${storage}`));
    }
  }
  for (const run of runs) {
    if (run.rawUpload !== undefined && run.video.startsWith('1280x720')) {
      ctx.uploadLimits.push({
        storage: run.storageKind,
        chunksPerSecond: run.rawUpload.files / (run.rawUpload.wallMs / 1000),
        mbPerSecond: run.rawUpload.bytes / 1e6 / (run.rawUpload.wallMs / 1000),
        chunkMb: run.rawUpload.bytes / 1e6 / run.rawUpload.files,
      });
    }
  }
  return summarise('file-copy', runs);
}

export function summarise(name: string, runs: FileIngestRun[]): WorkloadResult {
  const speed: Table = {
    title: `${name}: wall time and speed (3 s chunks; "stored" = last object created in the bucket, "described" = last function log line)`,
    columns: [
      'video',
      'storage',
      'chunks rec/stored/described',
      'ffmpeg alone',
      'plain upload',
      'pipeline to stored',
      'to described',
      'x real time (stored / described)',
      'frames/s (stored)',
      'ratio to raw limit (stored / described)',
    ],
    rows: runs.map((r) => [
      `${r.video} ${r.bitrateMbps.toFixed(1)} Mb/s`,
      r.storageKind,
      `${r.chunksRecorded}/${r.objectsStored}/${r.chunksDescribed}`,
      fmt.ms(r.rawFfmpeg.wallMs),
      r.rawUpload === undefined ? '-' : fmt.ms(r.rawUpload.wallMs),
      fmt.ms(r.storedMs),
      fmt.ms(r.describedMs),
      `${fmt.x(r.speedStored)} / ${fmt.x(r.speedDescribed)}`,
      fmt.n(r.fpsStored),
      `${fmt.n(r.ratioStored, 2)} / ${fmt.n(r.ratioDescribed, 2)}`,
    ]),
  };
  const resources: Table = {
    title: `${name}: CPU seconds and peak memory per process over the run (node itself | its ffmpeg children)`,
    columns: [
      'video',
      'storage',
      'stream-handle node',
      'its ffmpeg',
      'worker node',
      'function node',
      'its ffmpeg',
      'redis',
      'storage endpoint',
      'ffmpeg alone',
    ],
    rows: runs.map((r) => {
      const u = r.usage;
      const cpuMem = (cpu: number | undefined, kb: number | undefined) => `${fmt.s(cpu, 2)}, ${fmt.mb(kb)}`;
      return [
        r.video,
        r.storageKind,
        cpuMem(u['stream-handle']?.nodeCpuSeconds, u['stream-handle']?.nodePeakKb),
        cpuMem(u['stream-handle']?.ffmpegCpuSeconds, u['stream-handle']?.ffmpegPeakKb),
        cpuMem(u['upload-worker']?.nodeCpuSeconds, u['upload-worker']?.nodePeakKb),
        cpuMem(u['cloud-function']?.nodeCpuSeconds, u['cloud-function']?.nodePeakKb),
        `${fmt.s(u['cloud-function']?.ffmpegCpuSeconds, 2)}, ${fmt.mb(u['cloud-function']?.ffmpegSumPeakKb)} (sum)`,
        cpuMem(u.redis?.nodeCpuSeconds, u.redis?.nodePeakKb),
        u.storage === undefined ? 'in worker' : cpuMem(u.storage.nodeCpuSeconds, u.storage.nodePeakKb),
        cpuMem(r.rawFfmpeg.cpuSeconds, r.rawFfmpeg.peakKb),
      ];
    }),
  };
  // CPU time per chunk survives a busy machine far better than wall time: the figure to compare.
  const perChunk = (seconds: number | undefined, chunks: number) => fmt.n(((seconds ?? Number.NaN) * 1000) / chunks, 1);
  const cpuPerChunk: Table = {
    title: `${name}: CPU ms per chunk stored, per process (from /proc utime+stime; load average before the run)`,
    columns: [
      'video',
      'storage',
      'chunks stored',
      'worker node',
      'stream-handle node',
      'its ffmpeg',
      'redis',
      'storage endpoint',
      'function (node + ffmpeg)',
      'load before',
    ],
    rows: runs.map((r) => {
      const u = r.usage;
      const n = r.objectsStored;
      return [
        r.video,
        r.storageKind,
        String(n),
        perChunk(u['upload-worker']?.nodeCpuSeconds, n),
        perChunk(u['stream-handle']?.nodeCpuSeconds, n),
        perChunk(u['stream-handle']?.ffmpegCpuSeconds, n),
        perChunk(u.redis?.nodeCpuSeconds, n),
        u.storage === undefined ? 'in worker' : perChunk(u.storage.nodeCpuSeconds, n),
        perChunk((u['cloud-function']?.nodeCpuSeconds ?? 0) + (u['cloud-function']?.ffmpegCpuSeconds ?? 0), n),
        r.loadAverageBefore.map((l) => l.toFixed(2)).join(' '),
      ];
    }),
  };
  const latency: Table = {
    title: `${name}: per-chunk latency under a full-speed backlog (queued -> ..., ms; p50 / p95 / max)`,
    columns: ['video', 'storage', 'worker closedToStoredMs', 'queued -> object created', 'queued -> described', 'function elapsedMs'],
    rows: runs.map((r) => {
      const d = (key: string) => {
        const v = r.latencyMs[key];
        return v === undefined ? '-' : `${fmt.n(v.p50)} / ${fmt.n(v.p95)} / ${fmt.n(v.max)}`;
      };
      return [r.video, r.storageKind, d('closedToStored'), d('queuedToCreated'), d('queuedToDescribed'), d('describeElapsed')];
    }),
  };
  const targets: TargetCheck[] = [];
  for (const r of runs.filter((run) => run.mode === 'copy' && run.video.startsWith('1280x720'))) {
    targets.push({
      target: `copy mode 720p30 >= 100x real time end to end (${r.storageKind})`,
      measured: `${fmt.x(r.speedStored)} to stored (${fmt.n(r.fpsStored)} frames/s); ${fmt.x(r.speedDescribed)} to described (${fmt.n(r.fpsDescribed)} frames/s)`,
      met: r.speedStored >= 100,
      detail:
        r.speedStored >= 100
          ? `to objects stored; ${r.speedDescribed >= 100 ? 'to function logged as well' : `to function logged ${fmt.x(r.speedDescribed)}: the function is the slower consumer`}`
          : `missed by ${fmt.x(100 / r.speedStored)} (needs wall <= ${fmt.s(r.videoSeconds / 100)}, took ${fmt.s(r.storedMs / 1000)})`,
    });
    targets.push({
      target: `pipeline within 1.3x of the larger raw limit (${r.storageKind})`,
      measured: `${fmt.n(r.ratioStored, 2)}x to stored; ${fmt.n(r.ratioDescribed, 2)}x to described (raw limit ${fmt.ms(r.rawLimitMs)})`,
      met: r.ratioStored <= 1.3,
      detail: r.ratioStored <= 1.3 ? 'to objects stored' : `missed by ${fmt.n(r.ratioStored / 1.3, 2)}x`,
    });
  }
  return {
    name,
    tables: [speed, resources, cpuPerChunk, latency],
    notes: [],
    targets,
    data: runs,
    chart: {
      throughput: runs.flatMap((r) => [
        { label: `${r.video.split(' ')[0]} ${r.storageKind} pipeline`, value: r.speedStored, unit: 'x real time', group: name },
        {
          label: `${r.video.split(' ')[0]} ${r.storageKind} ffmpeg alone`,
          value: r.videoSeconds / (r.rawFfmpeg.wallMs / 1000),
          unit: 'x real time',
          group: name,
        },
        ...(r.rawUpload === undefined
          ? []
          : [
              {
                label: `${r.video.split(' ')[0]} ${r.storageKind} plain upload`,
                value: r.videoSeconds / (r.rawUpload.wallMs / 1000),
                unit: 'x real time',
                group: name,
              },
            ]),
      ]),
    },
  };
}
