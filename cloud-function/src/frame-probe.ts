import { spawn } from 'node:child_process';
import sharp from 'sharp';
import { redactSecrets } from '@crispy-streamer/shared';

export interface FrameFacts {
  width: number;
  height: number;
  /** Colour channels of the decoded frame: 3 for RGB, 4 with alpha, 1 for grey. */
  channels: number;
  /** The container's duration as ffmpeg reports it (10 ms resolution), if it reports one. */
  probedDurationMs: number | undefined;
}

/** ffmpeg could not read the object: 404/403 mean it is gone or the URL is refused. */
export class FrameReadError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number | undefined,
  ) {
    super(message);
    this.name = 'FrameReadError';
  }
}

export function parseFfmpegDuration(stderr: string): number | undefined {
  const match = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(stderr);
  if (match === null) return undefined;
  return Math.round((Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3])) * 1000);
}

function httpStatusIn(stderr: string): number | undefined {
  const match = /Server returned (\d{3})|HTTP error (\d{3})/.exec(stderr);
  const code = match?.[1] ?? match?.[2];
  return code === undefined ? undefined : Number(code);
}

/**
 * Decodes the first frame of the video at `url` to PNG with ffmpeg and measures it with sharp.
 * Over HTTP ffmpeg reads with range requests: the header and the first keyframe, not the chunk.
 */
export async function probeFirstFrame(ffmpegPath: string, url: string, timeoutMs: number): Promise<FrameFacts> {
  // PNG without compression: deflating a 1080p frame costs more than decoding it, and the PNG only
  // travels through a pipe to sharp. A small probe size: the MP4 header already gives the codec
  // parameters, so ffmpeg need not read seconds of packets before the first frame. (An
  // analyzeduration of 0 would mean its default, 5 s, so it is left alone.)
  const args = ['-hide_banner', '-nostdin', '-probesize', '32768', '-i', url, '-map', '0:v:0', '-frames:v', '1', '-an', '-c:v', 'png', '-compression_level', '0', '-f', 'image2pipe', 'pipe:1'];
  const child = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const frame: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => frame.push(data));
  child.stderr.on('data', (data: Buffer) => {
    if (stderr.length < 64_000) stderr += data.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  }).finally(() => clearTimeout(timer));
  const png = Buffer.concat(frame);
  if (code !== 0 || png.byteLength === 0) {
    const lastLines = redactSecrets(stderr.trim().split('\n').slice(-3).join(' | '));
    throw new FrameReadError(`ffmpeg could not decode a frame (exit ${code ?? 'killed after timeout'}): ${lastLines}`, httpStatusIn(stderr));
  }
  const meta = await sharp(png).metadata();
  if (meta.width === undefined || meta.height === undefined || meta.channels === undefined) {
    throw new FrameReadError('the decoded frame has no size', undefined);
  }
  return { width: meta.width, height: meta.height, channels: meta.channels, probedDurationMs: parseFfmpegDuration(stderr) };
}
