import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MatroskaIncompleteError,
  NotMatroskaError,
  inspectMatroskaBuffer,
  looksLikeMatroska,
  matroskaVideoDurationNs,
  readMatroskaLayout,
} from '../src/matroska-inspect.js';

const run = promisify(execFile);

let dir = '';
const path = (name: string): string => join(dir, name);

async function ffmpeg(args: string[]): Promise<void> {
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { maxBuffer: 16 << 20 });
}

/** What ffprobe counts by demuxing: frames, and the keyframes among them. */
async function ffprobePackets(file: string): Promise<{ frames: number; keyframes: number; width: number; height: number; codec: string }> {
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=flags:stream=width,height,codec_name', '-of', 'json', file],
    { maxBuffer: 16 << 20 },
  );
  const parsed = JSON.parse(stdout) as { packets: { flags: string }[]; streams: { width: number; height: number; codec_name: string }[] };
  const stream = parsed.streams[0];
  if (stream === undefined) throw new Error(`no video stream in ${file}`);
  return {
    frames: parsed.packets.length,
    keyframes: parsed.packets.filter((p) => p.flags.startsWith('K')).length,
    width: stream.width,
    height: stream.height,
    codec: stream.codec_name,
  };
}

async function segmentInto(input: string, name: string, format: 'matroska' | 'webm', seconds: number, extra: string[] = []): Promise<string[]> {
  const out = path(name);
  await mkdir(out, { recursive: true });
  const extension = format === 'webm' ? 'webm' : 'mkv';
  await ffmpeg([
    '-i',
    input,
    '-map',
    '0',
    '-c',
    'copy',
    ...extra,
    '-f',
    'segment',
    '-segment_time',
    String(seconds),
    '-segment_format',
    format,
    '-reset_timestamps',
    '1',
    join(out, `seg%03d.${extension}`),
  ]);
  return (await readdir(out)).sort().map((file) => join(out, file));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mkv-inspect-'));
  await Promise.all([
    // VP9 with an alpha plane, portrait, as a WebM: 3 s at 30 fps, a keyframe a second.
    ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=180x320:rate=30:duration=3,format=yuva420p',
      '-c:v',
      'libvpx-vp9',
      '-deadline',
      'realtime',
      '-cpu-used',
      '8',
      '-g',
      '30',
      '-b:v',
      '300k',
      '-auto-alt-ref',
      '0',
      path('alpha.webm'),
    ]),
    // FFV1 grey at 25 fps, every frame intra.
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=3,format=gray', '-c:v', 'ffv1', '-level', '3', '-g', '1', path('gray.mkv')]),
    // H.264 with B-frames and G.711 audio: presentation order differs from file order.
    ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=30:duration=4',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=8000:duration=4',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '30',
      '-bf',
      '2',
      '-c:a',
      'pcm_mulaw',
      path('bframes-mulaw.mkv'),
    ]),
  ]);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readMatroskaLayout on ffmpeg output', () => {
  it('VP9 with alpha: WebM, the alpha plane of every frame found in its BlockAdditional', async () => {
    const bytes = await readFile(path('alpha.webm'));
    const layout = readMatroskaLayout(bytes);
    expect(layout.info).toMatchObject({
      container: 'webm',
      codec: 'vp9',
      width: 180,
      height: 320,
      hasAlpha: true,
      frameCount: 90,
      durationMs: 3000,
      frameRate: 30,
      keyframeCount: 3,
      hasAudio: false,
    });
    expect(layout.frames.every((frame) => frame.additions.length === 1 && frame.additions[0]?.id === 1)).toBe(true);
    expect(layout.frames[0]).toMatchObject({ keyframe: true, timeNs: 0 });
    const probed = await ffprobePackets(path('alpha.webm'));
    expect({ frames: layout.info.frameCount, keyframes: layout.info.keyframeCount }).toEqual({ frames: probed.frames, keyframes: probed.keyframes });
  });

  it('FFV1 grey in Matroska (stored VfW-style): codec, size and exact duration', async () => {
    const info = inspectMatroskaBuffer(await readFile(path('gray.mkv')));
    expect(info).toMatchObject({
      container: 'mkv',
      codec: 'ffv1',
      codecId: 'V_MS/VFW/FOURCC',
      width: 320,
      height: 240,
      frameCount: 75,
      durationMs: 3000,
      frameRate: 25,
      keyframeCount: 75,
      hasAlpha: false,
    });
  });

  it('H.264 with B-frames beside G.711 audio: counts video frames only, duration from presentation times', async () => {
    const info = inspectMatroskaBuffer(await readFile(path('bframes-mulaw.mkv')));
    expect(info).toMatchObject({ codec: 'h264', frameCount: 120, durationMs: 4000, hasAudio: true, keyframeCount: 4 });
  });

  it('segments cut by the segment muxer tile the source: frames and durations add up', async () => {
    for (const [input, format] of [
      ['alpha.webm', 'webm'],
      ['gray.mkv', 'matroska'],
      ['bframes-mulaw.mkv', 'matroska'],
    ] as const) {
      const source = inspectMatroskaBuffer(await readFile(path(input)));
      const segments = await segmentInto(path(input), `seg-${input}`, format, 1);
      const infos = await Promise.all(segments.map(async (file) => inspectMatroskaBuffer(await readFile(file))));
      expect(infos.length).toBeGreaterThanOrEqual(3);
      expect(infos.reduce((sum, info) => sum + info.frameCount, 0)).toBe(source.frameCount);
      expect(infos.reduce((sum, info) => sum + info.durationMs, 0)).toBeCloseTo(source.durationMs, 2);
      for (const [i, file] of segments.entries()) {
        const probed = await ffprobePackets(file);
        expect(infos[i]?.frameCount).toBe(probed.frames);
        expect(infos[i]?.keyframeCount).toBe(probed.keyframes);
      }
    }
  }, 60_000);
});

describe('what is not a whole Matroska file', () => {
  it('a segment ffmpeg is killed while writing has a Segment of unknown size', async () => {
    const out = path('killed.mkv');
    const child = spawn(
      'ffmpeg',
      ['-hide_banner', '-loglevel', 'error', '-y', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-c:v', 'ffv1', out],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const deadline = Date.now() + 15_000;
      while (
        (await stat(out).then(
          (s) => s.size,
          () => 0,
        )) < 100_000
      ) {
        if (Date.now() > deadline) throw new Error('ffmpeg did not start writing');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    await expect(readFile(out).then((bytes) => readMatroskaLayout(bytes))).rejects.toMatchObject({ reason: 'unknown-size' });
  }, 30_000);

  it('an empty file is empty', () => {
    expect(() => readMatroskaLayout(new Uint8Array(0))).toThrow(/\(empty\)/);
  });

  it('a whole chunk cut short, or with bytes after it, is refused', async () => {
    const bytes = await readFile(path('gray.mkv'));
    expect(() => readMatroskaLayout(bytes.subarray(0, bytes.byteLength - 100))).toThrow(/truncated/);
    expect(() => readMatroskaLayout(Buffer.concat([bytes, Buffer.from('junk')]))).toThrow(/bytes follow the Segment/);
  });

  it('text, an MP4 and random bytes are not Matroska', async () => {
    expect(() => readMatroskaLayout(Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\n'))).toThrow(NotMatroskaError);
    expect(() => readMatroskaLayout(Buffer.from('000000206674797069736f6d', 'hex'))).toThrow(NotMatroskaError);
    expect(looksLikeMatroska(Buffer.from('1a45dfa3', 'hex'))).toBe(true);
    expect(looksLikeMatroska(Buffer.from('1a45df', 'hex'))).toBe(false);
  });

  it('a hostile size claiming more than the file holds is truncation, not a crash', async () => {
    const bytes = Buffer.from(await readFile(path('gray.mkv')));
    // The Segment's size field (8 bytes after its 4-byte ID, right after the EBML header) set huge.
    const segmentAt = readMatroskaLayout(bytes).ebmlHeader.size;
    bytes.writeUInt8(0x01, segmentAt + 4);
    bytes.writeUIntBE(0x00ffffffffff, segmentAt + 6, 6);
    expect(() => readMatroskaLayout(bytes)).toThrow(MatroskaIncompleteError);
  });
});

describe('matroskaVideoDurationNs', () => {
  it('is frames x DefaultDuration when the millisecond timestamps agree with it', () => {
    const times = Array.from({ length: 90 }, (_, i) => Math.round((i * 1000) / 30) * 1e6);
    expect(matroskaVideoDurationNs(times, 33_333_333, undefined, undefined, 1e6)).toBe(90 * 33_333_333);
  });

  it('is the span plus the last frame where frames are missing (a gap)', () => {
    const times = [0, 40, 80, 200, 240].map((ms) => ms * 1e6);
    expect(matroskaVideoDurationNs(times, 40e6, undefined, undefined, 1e6)).toBe(280e6);
  });

  it('without a DefaultDuration, the last frame lasts to the Segment end, else the median interval', () => {
    expect(matroskaVideoDurationNs([0, 100e6, 200e6], undefined, undefined, 300e6, 1e6)).toBe(300e6);
    expect(matroskaVideoDurationNs([0, 100e6, 200e6], undefined, undefined, undefined, 1e6)).toBe(300e6);
    expect(matroskaVideoDurationNs([0, 100e6, 200e6], undefined, 50e6, undefined, 1e6)).toBe(250e6);
  });
});
