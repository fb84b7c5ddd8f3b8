import { spawn } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { redactSecrets } from '@crispy-streamer/shared';
import type { DecoderInput } from './decoder-input/decoder-input.js';
import { processFrameDir } from './frame-dir.js';

// The one place ffmpeg runs in the function. It is handed one keyframe as a raw elementary stream
// on stdin (`-f h264` / `-f hevc`), may read nothing but that pipe (`-protocol_whitelist pipe`),
// and writes one PNG to a file of ours in the temp dir. It never sees a URL, so no host name is resolved in it (the
// static build bundled for Cloud Functions crashes resolving one) and no object can make it fetch
// anything. Each way it can fail is its own error type.

/** Base of every way the decoder can fail; `lastLines` is ffmpeg's stderr tail, redacted. */
export abstract class FrameDecodeError extends Error {
  constructor(
    message: string,
    readonly lastLines: string,
  ) {
    super(lastLines === '' ? message : `${message}: ${lastLines}`);
  }
}

/** Killed by a signal it did not get from us: SIGSEGV, SIGABRT, or SIGKILL from the OOM killer. */
export class DecoderCrashedError extends FrameDecodeError {
  override readonly name = 'DecoderCrashedError';
  constructor(
    readonly signal: NodeJS.Signals,
    lastLines: string,
  ) {
    super(`ffmpeg crashed with ${signal}`, lastLines);
  }
}

/** Still running after the time allowed; we killed it. */
export class DecoderTimedOutError extends FrameDecodeError {
  override readonly name = 'DecoderTimedOutError';
  constructor(
    readonly timeoutMs: number,
    lastLines: string,
  ) {
    super(`ffmpeg did not decode a frame within ${timeoutMs} ms and was killed`, lastLines);
  }
}

/** Exited with a non-zero code: it refused or could not decode the bytes. */
export class DecoderExitedError extends FrameDecodeError {
  override readonly name = 'DecoderExitedError';
  constructor(
    readonly exitCode: number,
    lastLines: string,
  ) {
    super(`ffmpeg exited with code ${exitCode}`, lastLines);
  }
}

/** Exited 0 but wrote no picture. */
export class NoFrameDecodedError extends FrameDecodeError {
  override readonly name = 'NoFrameDecodedError';
  constructor(lastLines: string) {
    super('ffmpeg exited 0 without a decoded frame', lastLines);
  }
}

/** ffmpeg could not be started at all (missing, not executable). */
export class DecoderUnavailableError extends FrameDecodeError {
  override readonly name = 'DecoderUnavailableError';
  constructor(path: string, cause: Error) {
    super(`ffmpeg at ${path} could not be started (${(cause as NodeJS.ErrnoException).code ?? cause.message})`, '');
  }
}

export interface DecodedFrame {
  /** The first row of the first frame as a PNG file, in the pixel layout ffmpeg's PNG encoder chose for the source. */
  pngPath: string;
  /** The decoder's pixel format as ffmpeg names it (yuv420p, gray, yuva420p...). */
  pixelFormat: string | undefined;
  /** The decoded picture's size as the decoder reports it on its stream line; undefined if the line is missing. */
  size: FrameSize | undefined;
}

export interface FrameSize {
  width: number;
  height: number;
}

/** A PNG bigger than this is not one frame of ours (8K RGBA uncompressed is ~133 MB): ffmpeg's -fs stops it. */
const MAX_PNG_BYTES = 160 * 1024 * 1024;

/**
 * ffmpeg's arguments for one frame. The input: a raw elementary stream on stdin, nothing but the
 * pipe allowed. The output: the decoded frame's first row as one uncompressed PNG written to
 * `pngPath` in the temp dir (RAM on Cloud Functions). One row, not the picture: converting and
 * writing a whole 720p frame (2.7 MB) cost ffmpeg ~17 ms of its ~37; the row keeps the decoded width
 * and channels for sharp to read, and the height comes from the decoder's stream line
 * (`parseFrameSize`). `exact=1`: without it crop rounds to the chroma grid (a 1-row 4:2:0 crop
 * becomes 0 rows, an odd width loses a column). No `-pix_fmt`: the PNG encoder picks rgb24, rgba
 * or gray (and their 16-bit forms) from the decoded format, so the PNG keeps the source's channels.
 * No compression: deflating costs more than writing. A file, not stdout: nothing to read through a
 * pipe, sharp reads only the file's header. One decoding thread: a single intra frame gains nothing
 * from more, and each costs a start.
 */
export function decoderArgs(input: Pick<DecoderInput, 'format' | 'decoder' | 'monochrome'>, pngPath: string): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-protocol_whitelist',
    'pipe',
    '-threads',
    '1',
    ...(input.decoder === undefined ? [] : ['-c:v', input.decoder]),
    '-f',
    input.format,
    '-i',
    'pipe:0',
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
    '-an',
    '-vf',
    STRIP_FILTER,
    // A 4:0:0 stream the decoder shows as 4:2:0 with flat chroma: its luma, which is all it has.
    ...(input.monochrome === true ? ['-pix_fmt', 'gray'] : []),
    '-c:v',
    'png',
    '-compression_level',
    '0',
    '-fs',
    String(MAX_PNG_BYTES),
    '-f',
    'image2',
    '-update',
    '1',
    '-y',
    pngPath,
  ];
}

/** The decoded frame's first row, exactly: its full width, one row, whatever the chroma subsampling. */
const STRIP_FILTER = 'crop=iw:1:0:0:exact=1';

/** The pixel format in ffmpeg's input stream line, e.g. `Stream #0:0: Video: h264 (High), yuv420p(progressive), 1280x720`. */
export function parsePixelFormat(stderr: string): string | undefined {
  return /Stream #\d+:\d+[^\n]*?: Video: [^,\n]+, ([a-z0-9_]+)/.exec(stderr)?.[1];
}

/**
 * The picture size in ffmpeg's input stream line, e.g. `Stream #0:0: Video: h264 (High), yuv420p(tv, bt709, progressive), 1280x720 [SAR 1:1 DAR 16:9]`:
 * the first `, WxH` after `Video:` on the first stream line (the input's; the output's follows it).
 */
export function parseFrameSize(stderr: string): FrameSize | undefined {
  const line = /Stream #\d+:\d+[^\n]*?: Video: ([^\n]*)/.exec(stderr)?.[1];
  const size = line === undefined ? undefined : /, (\d+)x(\d+)(?![\dx])/.exec(line);
  if (size === undefined || size === null) return undefined;
  const [width, height] = [Number(size[1]), Number(size[2])];
  return width > 0 && height > 0 ? { width, height } : undefined;
}

function lastLinesOf(stderr: string): string {
  return redactSecrets(stderr.trim().split('\n').slice(-3).join(' | '));
}

let frameCount = 0;

/**
 * Runs ffmpeg on one decoder input and hands the PNG it wrote to `use`; the file is removed
 * afterwards, whatever happens.
 */
export async function withDecodedFrame<T>(ffmpegPath: string, input: DecoderInput, timeoutMs: number, use: (frame: DecodedFrame) => Promise<T>): Promise<T> {
  const pngPath = join(await processFrameDir(), `frame-${process.pid}-${frameCount++}.png`);
  try {
    const stderr = await runDecoder(ffmpegPath, input, timeoutMs, pngPath);
    return await use({ pngPath, pixelFormat: input.monochrome === true ? 'gray' : parsePixelFormat(stderr), size: parseFrameSize(stderr) });
  } finally {
    await rm(pngPath, { force: true });
  }
}

const STDERR_KEPT = 64_000;

/** Runs ffmpeg to its end and returns the head of its stderr (its stream lines), or throws how it failed. */
async function runDecoder(ffmpegPath: string, input: DecoderInput, timeoutMs: number, pngPath: string): Promise<string> {
  // No environment: ffmpeg needs none, the function's own (its settings) is none of its business,
  // and copying it for every spawn was ~1 ms of node per chunk.
  const child = spawn(ffmpegPath, decoderArgs(input, pngPath), { stdio: ['pipe', 'ignore', 'pipe'], env: {} });
  // The tail for the failure's last lines; the head for the input stream line, printed early.
  let stderr = '';
  let head = '';
  let timedOut = false;
  child.stderr.on('data', (data: Buffer) => {
    const text = data.toString();
    if (head.length < STDERR_KEPT) head = (head + text).slice(0, STDERR_KEPT);
    stderr = (stderr + text).slice(-STDERR_KEPT);
  });
  // ffmpeg may exit before reading all of stdin (it refused the stream): that EPIPE is not ours to report.
  child.stdin.on('error', () => {});
  child.stdin.end(input.bytes);
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', (error) => reject(new DecoderUnavailableError(ffmpegPath, error)));
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  }).finally(() => clearTimeout(timer));
  const lastLines = lastLinesOf(stderr);
  if (timedOut) throw new DecoderTimedOutError(timeoutMs, lastLines);
  if (signal !== null) throw new DecoderCrashedError(signal, lastLines);
  if (code !== 0) throw new DecoderExitedError(code ?? -1, lastLines);
  const written = await stat(pngPath).then(
    (s) => s.size,
    () => 0,
  );
  if (written === 0) throw new NoFrameDecodedError(lastLines);
  return head;
}
