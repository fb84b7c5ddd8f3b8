import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DecoderCrashedError,
  DecoderExitedError,
  DecoderTimedOutError,
  DecoderUnavailableError,
  NoFrameDecodedError,
  decoderArgs,
  parseFrameSize,
  parsePixelFormat,
  withDecodedFrame,
} from '../src/frame-decoder.js';
import type { DecoderInput } from '../src/decoder-input/decoder-input.js';
import { measurePng, probeFirstFrame } from '../src/frame-probe.js';
import { DEBIAN_FFMPEG, STATIC_FFMPEG } from './chunks.js';

const run = promisify(execFile);
let dir = '';
let server: Server;
const requests: string[] = [];
let playlist: Uint8Array;

/** Decodes and hands back what ffmpeg said, the file already removed. */
const decodeFirstFrame = (ffmpeg: string, input: DecoderInput, timeoutMs: number) => withDecodedFrame(ffmpeg, input, timeoutMs, async (frame) => frame);

/** A stand-in decoder: a real process that dies the way we name. */
async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'frame-decoder-'));
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.end('#EXTM3U\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  playlist = new TextEncoder().encode(
    `#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nhttp://127.0.0.1:${port}/seg.ts\nhttp://localhost:${port}/seg2.ts\n#EXT-X-ENDLIST\n`,
  );
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('decoderArgs', () => {
  it('reads only a pipe, as a raw elementary stream, and forces no pixel format', () => {
    const args = decoderArgs({ format: 'h264' }, '/tmp/x.png');
    expect(args.at(-1)).toBe('/tmp/x.png');
    expect(args.slice(args.indexOf('-protocol_whitelist'), args.indexOf('-protocol_whitelist') + 2)).toEqual(['-protocol_whitelist', 'pipe']);
    expect(args.slice(args.indexOf('-f'), args.indexOf('-i') + 2)).toEqual(['-f', 'h264', '-i', 'pipe:0']);
    expect(args).not.toContain('-pix_fmt');
    expect(decoderArgs({ format: 'hevc' }, '/tmp/x.png')).toContain('hevc');
  });

  it('names the decoder before the input when one is asked for (libvpx-vp9 reads VP9 alpha), and writes a monochrome stream grey', () => {
    const alpha = decoderArgs({ format: 'matroska', decoder: 'libvpx-vp9' }, '/tmp/x.png');
    expect(alpha.slice(alpha.indexOf('-c:v'), alpha.indexOf('-i') + 2)).toEqual(['-c:v', 'libvpx-vp9', '-f', 'matroska', '-i', 'pipe:0']);
    const grey = decoderArgs({ format: 'h264', monochrome: true }, '/tmp/x.png');
    expect(grey.slice(grey.indexOf('-pix_fmt'), grey.indexOf('-pix_fmt') + 2)).toEqual(['-pix_fmt', 'gray']);
    expect(grey.indexOf('-pix_fmt')).toBeGreaterThan(grey.indexOf('-i'));
  });

  it("writes the decoded frame's first row only, exactly (no rounding to the chroma grid)", () => {
    const args = decoderArgs({ format: 'h264' }, '/tmp/x.png');
    expect(args.slice(args.indexOf('-vf'), args.indexOf('-vf') + 2)).toEqual(['-vf', 'crop=iw:1:0:0:exact=1']);
    expect(args.indexOf('-vf')).toBeGreaterThan(args.indexOf('-i'));
  });
});

describe('parseFrameSize', () => {
  it("reads the input stream's picture size from ffmpeg's stderr, not the output's", () => {
    const stderr = [
      'Input #0, h264, from pipe:0:',
      '  Duration: N/A, bitrate: N/A',
      '    Stream #0:0: Video: h264 (High), yuv420p(tv, bt709, progressive), 1280x720 [SAR 1:1 DAR 16:9], 30 tbr, 1200k tbn, 60 tbc',
      'Output #0, image2, to /tmp/x.png:',
      '    Stream #0:0: Video: png, rgb24, 1280x1 [SAR 1:1 DAR 1280:1], q=2-31, 200 kb/s, 30 fps',
    ].join('\n');
    expect(parseFrameSize(stderr)).toEqual({ width: 1280, height: 720 });
    expect(parseFrameSize('  Stream #0:0(und): Video: vp9 (Profile 0), yuva420p(tv), 321x241, SAR 1:1 DAR 321:241, 25 fps')).toEqual({
      width: 321,
      height: 241,
    });
    expect(parseFrameSize('    Stream #0:0: Video: hevc (Rext), gray(pc, progressive), 2x2, 25 fps')).toEqual({ width: 2, height: 2 });
    // The codec tag's hex is not a size.
    expect(parseFrameSize('  Stream #0:0: Video: h264 (avc1 / 0x31637661), yuv420p, 640x360, 25 fps')).toEqual({ width: 640, height: 360 });
  });

  it('is undefined without a stream line, a size, or with a zero side', () => {
    expect(parseFrameSize('no stream line')).toBeUndefined();
    expect(parseFrameSize('  Stream #0:0: Video: h264, none, 25 fps')).toBeUndefined();
    expect(parseFrameSize('  Stream #0:0: Video: h264 (High), yuv420p, 0x0, 25 fps')).toBeUndefined();
    expect(parseFrameSize('  Stream #0:0: Audio: pcm_mulaw, 8000 Hz, 1x1\n')).toBeUndefined();
  });
});

describe('parsePixelFormat', () => {
  it("reads the input stream's pixel format from ffmpeg's stderr, old and new", () => {
    expect(parsePixelFormat('    Stream #0:0: Video: h264 (High), yuv420p(progressive), 1280x720, 25 fps')).toBe('yuv420p');
    expect(parsePixelFormat('  Stream #0:0: Video: hevc (Main), yuv420p(tv, progressive), 640x360')).toBe('yuv420p');
    expect(parsePixelFormat('    Stream #0:0: Video: hevc (Rext), gray(pc, progressive), 320x240')).toBe('gray');
    expect(parsePixelFormat('  Stream #0:0: Video: h264 (High 4:4:4 Predictive), yuv444p(progressive), 64x64')).toBe('yuv444p');
    expect(parsePixelFormat('Input #0, h264, from pipe:0:\n  Stream #0:0: Video: vp9 (Profile 0), yuva420p(tv), 64x64')).toBe('yuva420p');
    expect(parsePixelFormat('no stream line')).toBeUndefined();
  });
});

describe('the PNG row keeps the source width and channels (no forced pixel format)', () => {
  it.each([
    ['yuva420p', 4],
    ['gray', 1],
    ['gray16be', 1],
    ['yuv420p', 3],
    ['yuv420p10le', 3],
    ['rgba64le', 4],
  ])('a %s frame: sharp reads %i channels', async (pixelFormat, channels) => {
    // The output half of decoderArgs (from the strip on), fed a frame of that pixel format.
    const png = join(dir, `${pixelFormat}.png`);
    const args = decoderArgs({ format: 'h264' }, png);
    const output = args.slice(args.indexOf('-vf'));
    await run(DEBIAN_FFMPEG, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `testsrc=size=63x47,format=${pixelFormat}`,
      '-frames:v',
      '1',
      ...output,
    ]);
    expect(await measurePng(png)).toEqual({ width: 63, height: 1, channels });
  });
});

describe('probeFirstFrame: the row and the stream line must agree', () => {
  /** A stand-in decoder that writes a real 64x1 PNG where it is told and prints `streamLine`. */
  async function rowWriter(name: string, streamLine: string): Promise<string> {
    const row = join(dir, `${name}-row.png`);
    await run(DEBIAN_FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x1', '-frames:v', '1', '-y', row]);
    return script(`${name}.sh`, `echo '${streamLine}' >&2; for last; do :; done; cat >/dev/null; cp '${row}' "$last"`);
  }
  const input: DecoderInput = { format: 'h264', bytes: new Uint8Array(10) };

  it('takes the width and channels from the row and the height from the line', async () => {
    const agreeing = await rowWriter('agree', '  Stream #0:0: Video: h264 (High), yuv420p(progressive), 64x37, 25 fps');
    expect(await probeFirstFrame(agreeing, input, 10_000)).toEqual({ width: 64, height: 37, channels: 3, pixelFormat: 'yuv420p' });
  });

  it('a line that names another width, or no size, is no frame', async () => {
    const wider = await rowWriter('wider', '  Stream #0:0: Video: h264 (High), yuv420p(progressive), 1280x720, 25 fps');
    const error = await failure(probeFirstFrame(wider, input, 10_000));
    expect(error).toBeInstanceOf(NoFrameDecodedError);
    expect(error.message).toMatch(/the decoded row is 64x1, the decoder reported 1280x720/);
    const silent = await rowWriter('sizeless', 'no stream line');
    expect(await failure(probeFirstFrame(silent, input, 10_000))).toBeInstanceOf(NoFrameDecodedError);
  });
});

describe('each way the decoder fails is its own error', () => {
  it('a decoder killed by SIGSEGV is a crash with its signal', async () => {
    const crashing = await script('segv.sh', 'kill -SEGV $$');
    const error = await failure(decodeFirstFrame(crashing, { format: 'h264', bytes: new Uint8Array(10) }, 10_000));
    expect(error).toBeInstanceOf(DecoderCrashedError);
    expect((error as DecoderCrashedError).signal).toBe('SIGSEGV');
    expect(error.message).toMatch(/^ffmpeg crashed with SIGSEGV/);
  });

  it('a decoder still running after the timeout is a timeout, not a crash', async () => {
    const hanging = await script('hang.sh', 'exec sleep 30');
    const started = Date.now();
    const error = await failure(decodeFirstFrame(hanging, { format: 'h264', bytes: new Uint8Array(10) }, 1000));
    expect(error).toBeInstanceOf(DecoderTimedOutError);
    expect(error.message).toMatch(/^ffmpeg did not decode a frame within 1000 ms and was killed/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a non-zero exit carries the code and ffmpeg's last lines, redacted", async () => {
    const failing = await script('fail.sh', 'echo "opening https://user:abcdef0123@x.invalid/o?token=abcdef0123 failed" >&2; exit 3');
    const error = await failure(decodeFirstFrame(failing, { format: 'h264', bytes: new Uint8Array(10) }, 10_000));
    expect(error).toBeInstanceOf(DecoderExitedError);
    expect((error as DecoderExitedError).exitCode).toBe(3);
    expect(error.message).toMatch(/^ffmpeg exited with code 3: opening /);
    expect(error.message).not.toContain('abcdef0123');
  });

  it('the PNG file is gone afterwards, decoded or not', async () => {
    const failing = await script('fail2.sh', 'exit 1');
    await failure(decodeFirstFrame(failing, { format: 'h264', bytes: new Uint8Array(10) }, 10_000));
    const { readdir } = await import('node:fs/promises');
    const frameDirs = (await readdir(tmpdir())).filter((name) => name.startsWith('crispy-frames-'));
    for (const frameDir of frameDirs) {
      expect((await readdir(join(tmpdir(), frameDir))).filter((name) => name.startsWith(`frame-${process.pid}-`))).toEqual([]);
    }
  });

  it('exit 0 without a picture is no frame', async () => {
    const silent = await script('silent.sh', 'cat >/dev/null; exit 0');
    expect(await failure(decodeFirstFrame(silent, { format: 'h264', bytes: new Uint8Array(10) }, 10_000))).toBeInstanceOf(NoFrameDecodedError);
  });

  it("the decoder runs with no environment: the function's settings are not handed to it", async () => {
    process.env.CRISPY_DECODER_ENV_PROBE = 'visible';
    try {
      const printing = await script('env.sh', 'echo "vars: $(env | grep -c CRISPY_DECODER_ENV_PROBE)" >&2; exit 4');
      const error = await failure(decodeFirstFrame(printing, { format: 'h264', bytes: new Uint8Array(10) }, 10_000));
      expect(error.message).toMatch(/^ffmpeg exited with code 4: vars: 0$/);
    } finally {
      delete process.env.CRISPY_DECODER_ENV_PROBE;
    }
  });

  it('a missing binary is unavailable', async () => {
    const error = await failure(decodeFirstFrame(join(dir, 'no-such-ffmpeg'), { format: 'h264', bytes: new Uint8Array(10) }, 10_000));
    expect(error).toBeInstanceOf(DecoderUnavailableError);
    expect(error.message).toMatch(/ENOENT/);
  });
});

describe('an HLS playlist handed to the real decoders fetches nothing', () => {
  it.each([
    ['static 2018', STATIC_FFMPEG],
    ['Debian 5.1', DEBIAN_FFMPEG],
  ])('%s ffmpeg refuses it as H.264 and HEVC, and the playlist URLs get no request', async (_name, ffmpeg) => {
    for (const format of ['h264', 'hevc'] as const) {
      const error = await failure(decodeFirstFrame(ffmpeg, { format, bytes: playlist }, 20_000));
      expect(error).toBeInstanceOf(DecoderExitedError);
    }
    // Any request would have arrived before ffmpeg exited.
    expect(requests).toEqual([]);
  });
});
