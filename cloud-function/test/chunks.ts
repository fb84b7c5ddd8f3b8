import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { RangeReader } from '@crispy-streamer/shared';

// Real chunks for the function's tests, made by Debian's ffmpeg the way stream-handle cuts them
// (a fixed GOP, then the segment muxer with -c copy: ftyp, free, mdat, moov at the end).

const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** The static 2018 ffmpeg that the function deploys with. */
export const STATIC_FFMPEG = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
export const DEBIAN_FFMPEG = '/usr/bin/ffmpeg';

export async function ffmpeg(args: string[]): Promise<void> {
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { maxBuffer: 16 << 20 });
}

export interface ChunkOptions {
  size?: string;
  seconds?: number;
  codec?: 'libx264' | 'libx265' | 'mpeg4';
  pixFmt?: string;
  /** The lavfi test pattern; testsrc2 rounds its size to even sides, testsrc keeps odd ones. */
  pattern?: 'testsrc2' | 'testsrc';
}

/** A 2 s-GOP clip cut into 3 s segments; returns the first segment's path. */
export async function makeChunk(dir: string, name: string, options: ChunkOptions = {}): Promise<string> {
  const source = `${dir}/${name}-source.mp4`;
  const codec = options.codec ?? 'libx264';
  const codecArgs =
    codec === 'libx264'
      ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0']
      : codec === 'libx265'
        ? ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'keyint=60:min-keyint=60:scenecut=0:log-level=error', '-tag:v', 'hvc1']
        : ['-c:v', 'mpeg4', '-g', '60'];
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `${options.pattern ?? 'testsrc2'}=size=${options.size ?? '1280x720'}:rate=30`,
    '-t',
    String(options.seconds ?? 4),
    ...codecArgs,
    '-pix_fmt',
    options.pixFmt ?? 'yuv420p',
    source,
  ]);
  await ffmpeg([
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
    `${dir}/${name}-%03d.mp4`,
  ]);
  return `${dir}/${name}-000.mp4`;
}

/** Positioned reads of a file, counting what was asked. */
export async function fileRangeReader(path: string): Promise<{ read: RangeReader; size: number; bytesRead: () => number; close: () => Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  let bytesRead = 0;
  return {
    size,
    bytesRead: () => bytesRead,
    close: () => handle.close(),
    read: async (offset, length) => {
      const buffer = new Uint8Array(length);
      const { bytesRead: got } = await handle.read(buffer, 0, length, offset);
      bytesRead += got;
      return buffer.subarray(0, got);
    },
  };
}

export interface MatroskaChunkOptions {
  size?: string;
  seconds?: number;
  /** Encoder arguments (codec, pixel format, GOP). */
  video: string[];
  /** Audio to mux beside the video (encoder arguments); none by default. */
  audio?: string[];
  format: 'matroska' | 'webm';
  pattern?: ChunkOptions['pattern'];
}

/** A clip cut into 1 s Matroska/WebM segments by the segment muxer, as stream-handle does; returns the second segment. */
export async function makeMatroskaChunk(dir: string, name: string, options: MatroskaChunkOptions): Promise<string> {
  const extension = options.format === 'webm' ? 'webm' : 'mkv';
  const source = `${dir}/${name}-source.${extension}`;
  const seconds = String(options.seconds ?? 3);
  const audioInput = options.audio === undefined ? [] : ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=8000:duration=${seconds}`];
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `${options.pattern ?? 'testsrc2'}=size=${options.size ?? '320x240'}:rate=25:duration=${seconds}`,
    ...audioInput,
    ...options.video,
    ...(options.audio ?? ['-an']),
    source,
  ]);
  await ffmpeg([
    '-i',
    source,
    '-map',
    '0',
    '-c',
    'copy',
    '-f',
    'segment',
    '-segment_time',
    '1',
    '-segment_format',
    options.format,
    '-reset_timestamps',
    '1',
    `${dir}/${name}-%03d.${extension}`,
  ]);
  return `${dir}/${name}-001.${extension}`;
}
