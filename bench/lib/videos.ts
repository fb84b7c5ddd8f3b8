import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';

const run = promisify(execFile);

/** Generated inputs are kept here between runs (git-ignored); delete the folder to re-make them. */
export const VIDEO_CACHE_DIR = join(REPO_ROOT, 'bench/.cache');

export interface VideoSpec {
  width: number;
  height: number;
  fps: number;
  seconds: number;
  gopSeconds: number;
  /** B-frames; cameras usually send none. */
  bFrames?: number;
}

export interface VideoFile extends VideoSpec {
  path: string;
  frames: number;
  bytes: number;
  bitrateMbps: number;
  /** How it was made, for the report. */
  recipe: string;
}

function cacheName(spec: VideoSpec): string {
  return `testsrc2-${spec.width}x${spec.height}p${spec.fps}-gop${spec.gopSeconds}s-bf${spec.bFrames ?? 'x'}-${spec.seconds}s.mp4`;
}

function encodeArgs(spec: VideoSpec): string[] {
  const gop = String(spec.fps * spec.gopSeconds);
  return [
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-g',
    gop,
    '-keyint_min',
    gop,
    '-sc_threshold',
    '0',
    ...(spec.bFrames === undefined ? [] : ['-bf', String(spec.bFrames)]),
    '-pix_fmt',
    'yuv420p',
  ];
}

async function probe(path: string): Promise<{ frames: number; bytes: number; durationS: number }> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-count_packets',
    '-show_entries',
    'stream=nb_read_packets:format=size,duration',
    '-of',
    'json',
    path,
  ]);
  const parsed = JSON.parse(stdout) as { streams: { nb_read_packets: string }[]; format: { size: string; duration: string } };
  return { frames: Number(parsed.streams[0]?.nb_read_packets), bytes: Number(parsed.format.size), durationS: Number(parsed.format.duration) };
}

/**
 * A moving test pattern (testsrc2) encoded like the local pipeline's makeTestVideo: libx264 veryfast,
 * a fixed GOP, no scene-cut keyframes. A shorter length of a size already made is cut from the
 * longer file (stream copy at a keyframe), which takes no time.
 */
export async function ensureVideo(spec: VideoSpec, log: (line: string) => void): Promise<VideoFile> {
  await mkdir(VIDEO_CACHE_DIR, { recursive: true });
  const path = join(VIDEO_CACHE_DIR, cacheName(spec));
  const recipe = `ffmpeg -f lavfi -i testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps} -t ${spec.seconds} ${encodeArgs(spec).join(' ')}`;
  if (!existsSync(path)) {
    const longer = [600, 300, 120]
      .filter((s) => s > spec.seconds)
      .map((seconds) => join(VIDEO_CACHE_DIR, cacheName({ ...spec, seconds })))
      .find((p) => existsSync(p));
    const temporary = `${path}.tmp.mp4`;
    const started = Date.now();
    if (longer !== undefined && spec.seconds % spec.gopSeconds === 0) {
      await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', longer, '-t', String(spec.seconds), '-c', 'copy', temporary]);
    } else {
      log(`  generating ${cacheName(spec)} (once; kept in bench/.cache) ...`);
      await run(
        'ffmpeg',
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-y',
          '-f',
          'lavfi',
          '-i',
          `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}`,
          '-t',
          String(spec.seconds),
          ...encodeArgs(spec),
          temporary,
        ],
        { maxBuffer: 16 * 1024 * 1024 },
      );
      log(`  ... made in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    await rename(temporary, path);
  }
  const facts = await probe(path);
  return { ...spec, path, frames: facts.frames, bytes: facts.bytes, bitrateMbps: (facts.bytes * 8) / facts.durationS / 1e6, recipe };
}
