// npm run bench:recorder-memory — the PSS (smaps_rollup) of one recording ffmpeg, with the options
// that might shrink it: N copies of each variant record the test camera at once (720p30, -c copy,
// 3 s segments like stream-handle's), and after a settling time each one's PSS is read. Prints a
// table with the load average; asserts nothing. RECORDERS (default 8) and SECONDS (default 12).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { startRtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { readPssKb } from './lib/process-stats.js';
import { ensureVideo } from './lib/videos.js';

const RECORDERS = Number(process.env.RECORDERS ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 12);

/** stream-handle's RTSP input options (recorder-args.ts) and copy-mode segment output. */
const BASE_INPUT = ['-rtsp_transport', 'tcp', '-timeout', '10000000', '-fflags', '+genpts+discardcorrupt'];
// The 2018 static build in @ffmpeg-installer: one binary, no shared libraries to relocate (its RTSP
// I/O timeout is -stimeout; -timeout there means listen).
const STATIC_FFMPEG = join(REPO_ROOT, 'node_modules/@ffmpeg-installer/linux-x64/ffmpeg');
const STATIC_INPUT = ['-rtsp_transport', 'tcp', '-stimeout', '10000000', '-fflags', '+genpts+discardcorrupt'];
const VARIANTS: { name: string; input: string[]; global: string[]; binary?: string; baseInput?: string[] }[] = [
  { name: "stream-handle's options", input: [], global: [] },
  { name: '-probesize 500k -analyzeduration 1 s', input: ['-probesize', '500000', '-analyzeduration', '1000000'], global: [] },
  { name: '-threads 1 (the probe decoder)', input: ['-threads', '1'], global: [] },
  { name: '-thread_queue_size 8', input: ['-thread_queue_size', '8'], global: [] },
  { name: 'all three', input: ['-probesize', '500000', '-analyzeduration', '1000000', '-threads', '1', '-thread_queue_size', '8'], global: [] },
  { name: 'a static ffmpeg (@ffmpeg-installer, 2018)', input: [], global: [], binary: STATIC_FFMPEG, baseInput: STATIC_INPUT },
];

interface Row {
  variant: string;
  pssMb: number[];
  rssMb: number[];
  chunks: number;
}

function rssKb(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<void> {
  const video = await ensureVideo({ width: 1280, height: 720, fps: 30, seconds: 60, gopSeconds: 2, bFrames: 0 }, (l) => process.stderr.write(`${l}\n`));
  const camera = await startRtspCamera({ sourceFile: video.path, mounts: ['cam'] });
  const rows: Row[] = [];
  const load = loadavg();
  try {
    for (const variant of VARIANTS) {
      const dir = await mkdtemp(join(tmpdir(), 'crispy-recorder-memory-'));
      const children: ChildProcess[] = [];
      try {
        for (let i = 0; i < RECORDERS; i++) {
          const args = [
            '-hide_banner',
            '-nostdin',
            '-loglevel',
            'error',
            ...variant.global,
            ...(variant.baseInput ?? BASE_INPUT),
            ...variant.input,
            '-i',
            camera.url('cam'),
            '-map',
            '0:v:0',
            '-c',
            'copy',
            '-f',
            'segment',
            '-segment_time',
            '3',
            '-segment_format',
            'mp4',
            '-reset_timestamps',
            '1',
            join(dir, `r${i}-%05d.mp4`),
          ];
          children.push(spawn(variant.binary ?? 'ffmpeg', args, { stdio: 'ignore' }));
          await sleep(200); // the test camera dislikes clients arriving at the same instant
        }
        await sleep(SECONDS * 1000);
        const pss = children.map((c) => (readPssKb(c.pid ?? -1) ?? Number.NaN) / 1024);
        const rss = children.map((c) => rssKb(c.pid ?? -1) / 1024);
        rows.push({ variant: variant.name, pssMb: pss, rssMb: rss, chunks: (await readdir(dir)).length });
      } finally {
        for (const c of children) c.kill('SIGTERM');
        await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('close', resolve)))));
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await camera.stop();
  }
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  process.stdout.write(
    `recorder ffmpeg memory, ${RECORDERS} at once per variant, read after ${SECONDS} s; load average before ${load.map((l) => l.toFixed(2)).join(' ')}\n\n`,
  );
  process.stdout.write('| variant | PSS per ffmpeg, MB (mean; min-max) | RSS per ffmpeg, MB | chunk files |\n| --- | --- | --- | --- |\n');
  for (const r of rows) {
    process.stdout.write(
      `| ${r.variant} | ${mean(r.pssMb).toFixed(1)} (${Math.min(...r.pssMb).toFixed(1)}-${Math.max(...r.pssMb).toFixed(1)}) | ${mean(r.rssMb).toFixed(1)} | ${r.chunks} |\n`,
    );
  }
}

await main();
