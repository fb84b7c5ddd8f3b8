import { readFile, rm, writeFile } from 'node:fs/promises';
import { runCommandOrThrow } from './child-process.js';

export interface SampleVideoOptions {
  /** Default 30. */
  seconds?: number;
  /** Default 1280. */
  width?: number;
  /** Default 720. */
  height?: number;
  /** Default 30. */
  fps?: number;
  /** Seconds between keyframes, fixed (no scene-cut keyframes). Default 2. */
  gopSeconds?: number;
  /** Two B-frames between references, so decode order differs from display order. Default false. */
  bFrames?: boolean;
  /** Default libx264. */
  codec?: 'libx264' | 'libx265';
  /** x265's sample entry in the MP4: hvc1 by default; hev1 is what ffmpeg writes unless told. */
  hevcTag?: 'hvc1' | 'hev1';
  /** Default yuv420p; `gray` makes a 4:0:0 stream. */
  pixelFormat?: string;
}

export const FFMPEG_BIN = process.env.FFMPEG_BIN ?? 'ffmpeg';
export const FFPROBE_BIN = process.env.FFPROBE_BIN ?? 'ffprobe';

/** Encodes a moving test pattern (no audio) into an mp4 at path, overwriting it. */
export async function makeSampleVideo(path: string, options: SampleVideoOptions = {}): Promise<void> {
  const seconds = options.seconds ?? 30;
  const width = options.width ?? 1280;
  const height = options.height ?? 720;
  const fps = options.fps ?? 30;
  const gopFrames = Math.max(1, Math.round(fps * (options.gopSeconds ?? 2)));
  const bFrames = options.bFrames === true ? 2 : 0;
  const codec = options.codec ?? 'libx264';

  const codecArgs =
    codec === 'libx264'
      ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(gopFrames), '-keyint_min', String(gopFrames), '-sc_threshold', '0', '-bf', String(bFrames)]
      : [
          '-c:v',
          'libx265',
          '-preset',
          'ultrafast',
          '-x265-params',
          `keyint=${gopFrames}:min-keyint=${gopFrames}:scenecut=0:bframes=${bFrames}:log-level=error`,
          // hvc1 rather than hev1: what Apple players and most tooling expect in mp4.
          '-tag:v',
          options.hevcTag ?? 'hvc1',
        ];
  await runCommandOrThrow(
    FFMPEG_BIN,
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${width}x${height}:rate=${fps}:duration=${seconds}`,
      ...codecArgs,
      '-pix_fmt',
      options.pixelFormat ?? 'yuv420p',
      '-an',
      '-movflags',
      '+faststart',
      path,
    ],
    { timeoutMs: 120_000 + seconds * 2_000 },
  );
}

/** Container duration in seconds. */
export async function probeDuration(path: string): Promise<number> {
  const { stdout } = await runCommandOrThrow(FFPROBE_BIN, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], {
    timeoutMs: 30_000,
  });
  const duration = Number.parseFloat(stdout.trim());
  if (!Number.isFinite(duration)) throw new Error(`ffprobe gave no duration for ${path}: ${JSON.stringify(stdout)}`);
  return duration;
}

export interface VideoStreamFacts {
  codec: string;
  width: number;
  height: number;
  /** Frames actually present (counted by demuxing, not read from the header). */
  frames: number;
  /** Presentation times of the keyframes, in seconds, ascending. */
  keyframeTimes: number[];
  /** Duration of the container, in seconds. */
  duration: number;
}

/** Demuxes the first video stream (no decoding) and reports what is in it. */
export async function probeVideo(path: string): Promise<VideoStreamFacts> {
  const { stdout } = await runCommandOrThrow(
    FFPROBE_BIN,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height:packet=pts_time,flags:format=duration', '-of', 'json', path],
    { timeoutMs: 60_000 },
  );
  const parsed = JSON.parse(stdout) as {
    streams?: { codec_name?: string; width?: number; height?: number }[];
    packets?: { pts_time?: string; flags?: string }[];
    format?: { duration?: string };
  };
  const stream = parsed.streams?.[0];
  if (stream === undefined) throw new Error(`no video stream in ${path}`);
  const packets = parsed.packets ?? [];
  const keyframeTimes = packets
    .filter((packet) => packet.flags?.includes('K') === true && packet.pts_time !== undefined)
    .map((packet) => Number.parseFloat(packet.pts_time ?? ''))
    .sort((a, b) => a - b);
  return {
    codec: stream.codec_name ?? 'unknown',
    width: stream.width ?? 0,
    height: stream.height ?? 0,
    frames: packets.length,
    keyframeTimes,
    duration: Number.parseFloat(parsed.format?.duration ?? 'NaN'),
  };
}

export interface InputOptions {
  seconds?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** Seconds between keyframes. Default 1. */
  gopSeconds?: number;
}

function testPattern(options: InputOptions, filter = ''): string[] {
  const size = `${options.width ?? 320}x${options.height ?? 240}`;
  return ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${options.fps ?? 25}:duration=${options.seconds ?? 4}${filter}`];
}

async function encode(path: string, args: string[], seconds: number): Promise<void> {
  await runCommandOrThrow(FFMPEG_BIN, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args, path], { timeoutMs: 120_000 + seconds * 10_000 });
}

/**
 * VP9 with an alpha plane in WebM (libvpx-vp9, yuva420p): the left half half-transparent, the
 * right half opaque. Copying it into MP4 would drop the alpha plane.
 */
export async function makeVp9AlphaWebm(path: string, options: InputOptions = {}): Promise<void> {
  const fps = options.fps ?? 25;
  const half = Math.round((options.width ?? 320) / 2);
  await encode(
    path,
    [
      ...testPattern(options, `,format=yuva420p,geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)':a='if(gt(X,${half}),255,96)'`),
      '-c:v',
      'libvpx-vp9',
      '-deadline',
      'realtime',
      '-cpu-used',
      '8',
      '-row-mt',
      '1',
      '-b:v',
      '800k',
      '-auto-alt-ref',
      '0',
      '-g',
      String(Math.round(fps * (options.gopSeconds ?? 1))),
    ],
    options.seconds ?? 4,
  );
}

/** FFV1 grey (8-bit, or 16-bit with `bits: 16`) in Matroska: lossless, every frame a keyframe. MP4 refuses FFV1. */
export async function makeFfv1GrayMkv(path: string, options: InputOptions & { bits?: 8 | 16 } = {}): Promise<void> {
  await encode(
    path,
    [...testPattern(options, `,format=${options.bits === 16 ? 'gray16le' : 'gray'}`), '-c:v', 'ffv1', '-level', '3', '-g', '1'],
    options.seconds ?? 4,
  );
}

/** H.264 beside G.711 audio (mu-law or A-law, 8 kHz mono) in Matroska, as a CCTV camera's recording. MP4 refuses G.711. */
export async function makeG711Video(path: string, options: InputOptions & { law?: 'mulaw' | 'alaw' } = {}): Promise<void> {
  const fps = options.fps ?? 25;
  const gop = String(Math.round(fps * (options.gopSeconds ?? 1)));
  await encode(
    path,
    [
      ...testPattern(options),
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=440:sample_rate=8000:duration=${options.seconds ?? 4}`,
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      gop,
      '-keyint_min',
      gop,
      '-sc_threshold',
      '0',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      options.law === 'alaw' ? 'pcm_alaw' : 'pcm_mulaw',
    ],
    options.seconds ?? 4,
  );
}

/**
 * An MPEG-TS file whose resolution changes part-way, with no break in its timestamps: `parts`
 * H.264 streams of the given sizes, each `seconds` long, one after another (a new SPS at each).
 */
export async function makeResolutionChangeTs(path: string, parts: { width: number; height: number; seconds: number }[], fps = 25): Promise<void> {
  const pieces: string[] = [];
  let offset = 0;
  for (const [i, part] of parts.entries()) {
    const piece = `${path}.part${i}.ts`;
    await encode(
      piece,
      [
        ...testPattern({ ...part, fps }),
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-g',
        String(fps),
        '-keyint_min',
        String(fps),
        '-sc_threshold',
        '0',
        '-bf',
        '0',
        '-pix_fmt',
        'yuv420p',
        '-output_ts_offset',
        String(offset),
        '-f',
        'mpegts',
      ],
      part.seconds,
    );
    pieces.push(piece);
    offset += part.seconds;
  }
  await writeFile(path, Buffer.concat(await Promise.all(pieces.map((piece) => readFile(piece)))));
  await Promise.all(pieces.map((piece) => rm(piece, { force: true })));
}

/** The codec tag of a file's first video stream (`hvc1`, `hev1`, `avc1`...). */
export async function probeVideoTag(path: string): Promise<string> {
  const { stdout } = await runCommandOrThrow(
    FFPROBE_BIN,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_tag_string', '-of', 'csv=p=0', path],
    { timeoutMs: 30_000 },
  );
  return stdout.trim();
}

/** Codec names of a file's audio streams, in order. */
export async function probeAudioCodecs(path: string): Promise<string[]> {
  const { stdout } = await runCommandOrThrow(
    FFPROBE_BIN,
    ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', path],
    { timeoutMs: 30_000 },
  );
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** The size of every frame of a file's video, decoded: `WxH` strings, in order. */
export async function probeFrameSizes(path: string): Promise<string[]> {
  const { stdout } = await runCommandOrThrow(
    FFPROBE_BIN,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=width,height', '-of', 'csv=p=0', path],
    { timeoutMs: 60_000 },
  );
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => line.split(',').slice(0, 2).join('x'));
}
