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
          '-c:v', 'libx265', '-preset', 'ultrafast',
          '-x265-params', `keyint=${gopFrames}:min-keyint=${gopFrames}:scenecut=0:bframes=${bFrames}:log-level=error`,
          // hvc1 rather than hev1: what Apple players and most tooling expect in mp4.
          '-tag:v', 'hvc1',
        ];
  await runCommandOrThrow(
    FFMPEG_BIN,
    [
      '-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}:duration=${seconds}`,
      ...codecArgs,
      '-pix_fmt', 'yuv420p',
      '-an',
      '-movflags', '+faststart',
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
    [
      '-v', 'error', '-select_streams', 'v:0',
      '-show_entries', 'stream=codec_name,width,height:packet=pts_time,flags:format=duration',
      '-of', 'json',
      path,
    ],
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
