// npm run bench:function — the function's frame decode, per decoder candidate: CPU (node plus the
// decoder child), wall time, cold start and deploy size, on 720p30 and 1080p30 H.264 chunks cut
// like the pipeline's (2 s GOP, 3 s asked, 4 s chunks). Prints the table and writes it to
// bench/results/DATE-function-decoders.{md,json}; asserts nothing.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { inspectMp4Buffer, readMp4Layout } from '@crispy-streamer/shared';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { CANDIDATES, CANDIDATES_DIR, STATIC_FFMPEG } from './lib/function-decoders/candidates.js';

const CHUNK_DIR = join(REPO_ROOT, 'bench/.cache/function-decoders');
const LOADER = join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs');
const WARM_CALLS = Number(process.env.WARM_CALLS ?? 30);
const COLD_RUNS = Number(process.env.COLD_RUNS ?? 3);
const TARGET_CPU_MS = 30;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** 12 s of testsrc2 with x264 (veryfast, CRF 20, 2 s GOP), cut by the segment muxer into 4, 2, 4 and 2 s chunks; returns the third (4 s). */
function chunkFor(label: string, size: string): string {
  mkdirSync(CHUNK_DIR, { recursive: true });
  const chunk = join(CHUNK_DIR, `${label}-002.mp4`);
  if (existsSync(chunk)) return chunk;
  log(`  generating the ${label} chunks with Debian's ffmpeg (once; kept in bench/.cache) ...`);
  const source = join(CHUNK_DIR, `${label}-source.mp4`);
  const ffmpeg = (args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args]);
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=30`,
    '-t',
    '12',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '20',
    '-g',
    '60',
    '-keyint_min',
    '60',
    '-sc_threshold',
    '0',
    '-pix_fmt',
    'yuv420p',
    source,
  ]);
  ffmpeg([
    '-i',
    source,
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
    join(CHUNK_DIR, `${label}-%03d.mp4`),
  ]);
  return chunk;
}

/** node-av and ffmpeg.wasm's core, outside the project's dependencies: only the bench needs them. */
function installCandidates(): void {
  if (existsSync(join(CANDIDATES_DIR, 'node_modules/node-av')) && existsSync(join(CANDIDATES_DIR, 'node_modules/@ffmpeg/core'))) return;
  log('  installing the in-process candidates into bench/.cache/decoder-candidates (once) ...');
  mkdirSync(CANDIDATES_DIR, { recursive: true });
  writeFileSync(join(CANDIDATES_DIR, 'package.json'), `${JSON.stringify({ name: 'decoder-candidates', private: true })}\n`);
  // --ignore-scripts: node-av's postinstall downloads an ffmpeg binary it does not need for decoding.
  execFileSync(
    'npm',
    ['install', '--prefix', CANDIDATES_DIR, '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', 'node-av@6.1.1', '@ffmpeg/core@0.12.10'],
    { stdio: 'inherit' },
  );
}

function bytesOf(paths: string[]): number {
  const existing = paths.filter((path) => existsSync(path));
  if (existing.length === 0) return 0;
  return Number(
    execFileSync('du', ['-sbc', ...existing])
      .toString()
      .trim()
      .split('\n')
      .pop()
      ?.split('\t')[0] ?? 0,
  );
}

async function startRangeServer(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', LOADER, join(REPO_ROOT, 'bench/lib/function-decoders/range-server.ts'), CHUNK_DIR], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the range server exited (${code})`)));
  });
  return { port, stop: () => child.kill('SIGTERM') };
}

interface Measured {
  name: string;
  frame: { width: number; height: number; channels: number; pixelFormat?: string };
  cold: { wallMs: number; selfCpuMs: number; childCpuMs: number };
  warm: { wallMs: number; selfCpuMs: number; childCpuMs: number };
  rssMb: number;
}

function measure(name: string, url: string, size: number, calls: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    // No `--conditions=source`: the function's compiled code and shared/dist, as deployed.
    const child = spawn(
      process.execPath,
      ['--import', LOADER, join(REPO_ROOT, 'bench/lib/function-decoders/measure.ts'), name, url, String(size), String(calls)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('close', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Measured) : reject(new Error(`${name}: exit ${code}: ${err.slice(-600)}`)),
    );
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : 'n/a');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

execFileSync('npx', ['tsc', '-b', 'shared', 'cloud-function'], { cwd: REPO_ROOT, stdio: 'inherit' });
const chunks = [
  { label: '720p', path: chunkFor('720p', '1280x720') },
  { label: '1080p', path: chunkFor('1080p', '1920x1080') },
];
let inProcess = true;
try {
  installCandidates();
} catch (error) {
  inProcess = false;
  log(`  the in-process candidates could not be installed: ${(error as Error).message}`);
}
const loadBefore = loadavg()[0] ?? 0;
const server = await startRangeServer();
const rows: { candidate: string; chunk: string; result?: Measured; coldWallMs?: number; coldCpuMs?: number; error?: string }[] = [];
try {
  for (const candidate of CANDIDATES) {
    if (!inProcess && (candidate.name.startsWith('node-av') || candidate.name.includes('WASM'))) continue;
    for (const chunk of chunks) {
      const size = (await readFile(chunk.path)).byteLength;
      const url = `http://${candidate.name.startsWith('before') ? '127.0.0.1' : 'localhost'}:${server.port}/${chunk.label}-002.mp4`;
      log(`  ${candidate.name}, ${chunk.label} ...`);
      try {
        const result = await measure(candidate.name, url, size, WARM_CALLS);
        const colds = [result.cold];
        for (let i = 1; i < COLD_RUNS; i++) colds.push((await measure(candidate.name, url, size, 0)).cold);
        rows.push({
          candidate: candidate.name,
          chunk: chunk.label,
          result,
          coldWallMs: median(colds.map((c) => c.wallMs)),
          coldCpuMs: median(colds.map((c) => c.selfCpuMs + c.childCpuMs)),
        });
      } catch (error) {
        rows.push({ candidate: candidate.name, chunk: chunk.label, error: (error as Error).message });
      }
    }
  }
} finally {
  server.stop();
}

const sharp = [
  join(REPO_ROOT, 'node_modules/sharp'),
  ...readdirSync(join(REPO_ROOT, 'node_modules/@img')).map((name) => join(REPO_ROOT, 'node_modules/@img', name)),
];
const staticFfmpeg = [join(REPO_ROOT, 'node_modules/@ffmpeg-installer/ffmpeg'), join(REPO_ROOT, 'node_modules/@ffmpeg-installer/linux-x64')];
const deploy: Record<string, string> = {
  'static ffmpeg, Annex B on a pipe (chosen)': `${mb(bytesOf([...staticFfmpeg, ...sharp]))} (static ffmpeg ${mb(bytesOf(staticFfmpeg))} + sharp ${mb(bytesOf(sharp))})`,
  'static ffmpeg, sparse MP4 file': `${mb(bytesOf([...staticFfmpeg, ...sharp]))} (the same)`,
  'before: static ffmpeg -i URL': `${mb(bytesOf([...staticFfmpeg, ...sharp]))} (the same)`,
  "Debian's ffmpeg 5.1, Annex B on a pipe": 'not deployable: Cloud Functions has no system ffmpeg (in an image, Debian ffmpeg is ~463 MB)',
  "Debian's ffmpeg 5.1, sparse MP4 file": 'not deployable (as above)',
  'node-av 6.1.1 (in process)': `${mb(bytesOf([join(CANDIDATES_DIR, 'node_modules/node-av'), join(CANDIDATES_DIR, 'node_modules/@seydx')]))} (native addon with FFmpeg linked in; no sharp needed)`,
  '@ffmpeg/core 0.12.10 (WASM)': `${mb(bytesOf([join(CANDIDATES_DIR, 'node_modules/@ffmpeg/core'), ...sharp]))} (wasm ${mb(bytesOf([join(CANDIDATES_DIR, 'node_modules/@ffmpeg/core')]))} + sharp)`,
};

const keyframes: string[] = [];
for (const chunk of chunks) {
  const bytes = new Uint8Array(await readFile(chunk.path));
  const layout = await readMp4Layout(async (o, l) => bytes.subarray(o, o + l), bytes.byteLength);
  const info = await inspectMp4Buffer(bytes);
  keyframes.push(
    `${chunk.label}: ${(bytes.byteLength / 1e6).toFixed(2)} MB, ${info.durationMs} ms, first keyframe ${(layout.firstSyncSample.size / 1024).toFixed(0)} KiB`,
  );
}

const lines = [
  `Function frame decode per chunk, ${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadBefore.toFixed(1)} at the start and ${(loadavg()[0] ?? 0).toFixed(1)} at the end; static ffmpeg ${STATIC_FFMPEG.split('/node_modules/')[1] ?? ''}.`,
  `Chunks: ${keyframes.join('; ')}. Warm figures are means of ${WARM_CALLS} calls in one process; cold is the first call in a fresh process (imports included), median of ${COLD_RUNS}. CPU = node (all threads) + the decoder child, target <= ${TARGET_CPU_MS} ms per 720p chunk.`,
  '',
  '| candidate | chunk | CPU ms (node + decoder) | wall ms | cold start: wall ms / CPU ms | frame | node RSS | deploy size |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((row) => {
    if (row.result === undefined)
      return `| ${row.candidate} | ${row.chunk} | failed: ${row.error?.replace(/\|/g, '/').slice(0, 200) ?? ''} | | | | | ${deploy[row.candidate] ?? ''} |`;
    const { warm, frame } = row.result;
    const cpu = warm.selfCpuMs + warm.childCpuMs;
    return `| ${row.candidate} | ${row.chunk} | **${ms(cpu)}** (${ms(warm.selfCpuMs)} + ${ms(warm.childCpuMs)}) | ${ms(warm.wallMs)} | ${ms(row.coldWallMs ?? NaN)} / ${ms(row.coldCpuMs ?? NaN)} | ${frame.width}x${frame.height}x${frame.channels} ${frame.pixelFormat ?? ''} | ${row.result.rssMb.toFixed(0)} MB | ${deploy[row.candidate] ?? ''} |`;
  }),
];
const table = lines.join('\n');
process.stdout.write(`${table}\n`);
const stamp = new Date()
  .toISOString()
  .replace(/:\d\d\.\d+Z$/, 'Z')
  .replace(/:/g, '-');
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(REPO_ROOT, `bench/results/${stamp}-function-decoders.md`), `${table}\n`);
writeFileSync(join(REPO_ROOT, `bench/results/${stamp}-function-decoders.json`), `${JSON.stringify({ rows, deploy, chunks: keyframes }, null, 2)}\n`);
