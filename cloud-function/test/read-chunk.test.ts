import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectMp4File } from '@crispy-streamer/shared';
import { UnreadableChunkError } from '../src/decoder-input/decoder-input.js';
import { readChunk } from '../src/decoder-input/read-chunk.js';
import { probeFirstFrame } from '../src/frame-probe.js';
import { DEBIAN_FFMPEG, STATIC_FFMPEG, ffmpeg, fileRangeReader, makeChunk, makeMatroskaChunk } from './chunks.js';

let dir = '';
const chunks: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'read-chunk-'));
  const made = await Promise.all([
    makeChunk(dir, 'h264-720p'),
    makeChunk(dir, 'h264-1080p', { size: '1920x1080' }),
    makeChunk(dir, 'hevc', { size: '640x360', codec: 'libx265' }),
    makeChunk(dir, 'gray', { size: '320x240', codec: 'libx265', pixFmt: 'gray' }),
    makeChunk(dir, 'gray-h264', { size: '320x240', pixFmt: 'gray' }),
    makeChunk(dir, 'mpeg4', { size: '320x240', codec: 'mpeg4' }),
    // Sizes and formats the one-row strip must get right: odd sides (4:4:4 and 4:0:0 H.264 allow them), 10 bits, a frame of 2x2.
    makeChunk(dir, 'h264-odd-444', { size: '321x241', pixFmt: 'yuv444p', pattern: 'testsrc' }),
    makeChunk(dir, 'gray-h264-odd', { size: '321x241', pixFmt: 'gray', pattern: 'testsrc' }),
    makeChunk(dir, 'h264-10bit', { size: '320x240', pixFmt: 'yuv420p10le' }),
    makeChunk(dir, 'h264-tiny', { size: '2x2' }),
    makeMatroskaChunk(dir, 'vp9-odd', {
      format: 'webm',
      size: '321x241',
      pattern: 'testsrc',
      video: ['-pix_fmt', 'yuv420p', '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-g', '25'],
    }),
    // The inputs MP4 cannot hold, as stream-handle writes them: WebM and Matroska.
    makeMatroskaChunk(dir, 'vp9-alpha', {
      format: 'webm',
      size: '180x320',
      video: ['-vf', 'format=yuva420p', '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-g', '25', '-auto-alt-ref', '0'],
    }),
    makeMatroskaChunk(dir, 'ffv1-gray', { format: 'matroska', video: ['-vf', 'format=gray', '-c:v', 'ffv1', '-level', '3'] }),
    makeMatroskaChunk(dir, 'ffv1-gray16', { format: 'matroska', video: ['-vf', 'format=gray16le', '-c:v', 'ffv1', '-level', '3'] }),
    makeMatroskaChunk(dir, 'h264-mulaw', {
      format: 'matroska',
      video: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'gray'],
      audio: ['-c:a', 'pcm_mulaw'],
    }),
    makeMatroskaChunk(dir, 'mpeg4-mkv', { format: 'matroska', video: ['-c:v', 'mpeg4', '-g', '25'] }),
    // VP9 and AV1 in MP4 (what MP4 holds as they are).
    (async () => {
      await ffmpeg([
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=25:duration=1',
        '-c:v',
        'libvpx-vp9',
        '-deadline',
        'realtime',
        '-cpu-used',
        '8',
        `${dir}/vp9.mp4`,
      ]);
      return `${dir}/vp9.mp4`;
    })(),
    (async () => {
      await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=1', '-c:v', 'libaom-av1', '-cpu-used', '8', `${dir}/av1.mp4`]);
      return `${dir}/av1.mp4`;
    })(),
  ]);
  [
    chunks.h264,
    chunks.h264Big,
    chunks.hevc,
    chunks.gray,
    chunks.grayH264,
    chunks.mpeg4,
    chunks.h264Odd444,
    chunks.grayH264Odd,
    chunks.h264TenBit,
    chunks.h264Tiny,
    chunks.vp9Odd,
    chunks.vp9Alpha,
    chunks.ffv1Gray,
    chunks.ffv1Gray16,
    chunks.h264Mulaw,
    chunks.mpeg4Mkv,
    chunks.vp9Mp4,
    chunks.av1Mp4,
  ] = made;
}, 120_000);
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

async function readFile_(path: string) {
  const file = await fileRangeReader(path);
  try {
    return { readout: await readChunk(file.read, file.size), bytesRead: file.bytesRead(), size: file.size };
  } finally {
    await file.close();
  }
}

async function refusal(bytes: Uint8Array): Promise<UnreadableChunkError> {
  const error = await readChunk(async (offset, length) => bytes.subarray(offset, offset + length), bytes.byteLength).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnreadableChunkError);
  return error as UnreadableChunkError;
}

describe('readChunk: the MP4 reader hands the decoder one keyframe', () => {
  it('reads the moov and the first keyframe of a 720p chunk, not the chunk', async () => {
    const { readout, bytesRead, size } = await readFile_(chunks.h264 ?? '');
    expect(readout.container).toBe('mp4');
    expect(readout.info).toEqual(await inspectMp4File(chunks.h264 ?? ''));
    expect(readout.input.format).toBe('h264');
    expect(Array.from(readout.input.bytes.subarray(0, 5))).toEqual([0, 0, 0, 1, 0x67]);
    // A 4 s chunk with a 2 s GOP holds two keyframes and 118 other frames: we read one keyframe.
    expect(bytesRead).toBeLessThan(size / 2);
  });

  it.each([
    ['h264', 1280, 720, 'yuv420p', 3],
    ['h264Big', 1920, 1080, 'yuv420p', 3],
    ['hevc', 640, 360, 'yuv420p', 3],
    ['gray', 320, 240, 'gray', 1],
    // ffmpeg's H.264 decoder presents 4:0:0 as 4:2:0 with flat chroma; the SPS says grey, and the picture is written grey.
    ['grayH264', 320, 240, 'gray', 1],
    ['vp9Alpha', 180, 320, 'yuva420p', 4],
    ['ffv1Gray', 320, 240, 'gray', 1],
    ['ffv1Gray16', 320, 240, 'gray16le', 1],
    ['h264Mulaw', 320, 240, 'gray', 1],
    ['mpeg4Mkv', 320, 240, 'yuv420p', 3],
    ['vp9Mp4', 320, 240, 'yuv420p', 3],
    ['av1Mp4', 320, 240, 'yuv420p', 3],
    ['h264Odd444', 321, 241, 'yuv444p', 3],
    ['grayH264Odd', 321, 241, 'gray', 1],
    ['h264TenBit', 320, 240, 'yuv420p10le', 3],
    ['h264Tiny', 2, 2, 'yuv420p', 3],
    ['vp9Odd', 321, 241, 'yuv420p', 3],
  ])('%s: both ffmpegs decode it to %ix%i %s with %i channels', async (name, width, height, pixelFormat, channels) => {
    const { readout } = await readFile_(chunks[name] ?? '');
    for (const ffmpeg of [STATIC_FFMPEG, DEBIAN_FFMPEG]) {
      expect(await probeFirstFrame(ffmpeg, readout.input, 20_000)).toEqual({ width, height, channels, pixelFormat });
    }
  });

  it('refuses a codec it does not decode, naming it', async () => {
    const bytes = new Uint8Array(await readFile(chunks.mpeg4 ?? ''));
    const error = await refusal(bytes);
    expect(error.reason).toBe('unsupported');
    expect(error.message).toMatch(/the video track is mpeg4 \('mp4v' sample entry.*H.264, H.265, VP9 and AV1 are decoded from MP4/);
  });

  it('reads a Matroska chunk whole, in one read, and says what its own elements say', async () => {
    const { readout, bytesRead, size } = await readFile_(chunks.vp9Alpha ?? '');
    expect(readout.container).toBe('webm');
    expect(readout.info).toMatchObject({ codec: 'vp9', width: 180, height: 320, hasAlpha: true, frameCount: 25, durationMs: 1000 });
    expect(readout.input).toMatchObject({ format: 'matroska', decoder: 'libvpx-vp9' });
    // The first 16 bytes to pick the reader, then the whole object.
    expect(bytesRead).toBe(size + 16);
    const mulaw = (await readFile_(chunks.h264Mulaw ?? '')).readout;
    expect(mulaw).toMatchObject({ container: 'mkv', info: { codec: 'h264', hasAudio: true, frameCount: 25 }, input: { format: 'h264', monochrome: true } });
  });

  it('refuses a Matroska chunk cut short or still being written', async () => {
    const whole = new Uint8Array(await readFile(chunks.ffv1Gray ?? ''));
    expect((await refusal(whole.subarray(0, whole.byteLength - 10))).reason).toBe('incomplete');
    const unfinished = whole.slice();
    // The Segment's size set to "unknown", as ffmpeg leaves it until the trailer.
    const segmentSizeAt = whole.indexOf(0x67, 40) + 1;
    unfinished.set([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], segmentSizeAt);
    const refused = await refusal(unfinished);
    expect(refused.reason).toBe('incomplete');
    expect(refused.message).toMatch(/unknown-size/);
  });

  it('refuses an HLS playlist named like a chunk, saying what it is', async () => {
    const error = await refusal(new TextEncoder().encode('#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:4,\nhttp://127.0.0.1:9/chunk.ts\n#EXT-X-ENDLIST\n'));
    expect(error.reason).toBe('not-a-video-container');
    expect(error.message).toBe('not a video container: the object holds an HLS playlist (#EXTM3U)');
  });

  it('refuses random bytes, a text file, an empty and a truncated chunk', async () => {
    // Random bytes, but not by chance printable at the start (2 % of random heads read as text).
    const random = Buffer.concat([Buffer.from([0xff]), randomBytes(4095)]);
    expect((await refusal(random)).message).toMatch(/^not a video container: the object holds bytes ff[0-9a-f]{14}$/);
    expect((await refusal(new TextEncoder().encode('hello world\n'))).message).toBe('not a video container: the object holds text starting "hello world\\n"');
    expect((await refusal(new Uint8Array(0))).reason).toBe('incomplete');
    const whole = new Uint8Array(await readFile(chunks.h264 ?? ''));
    const truncated = await refusal(whole.subarray(0, Math.floor(whole.byteLength / 2)));
    expect(truncated.reason).toBe('incomplete');
    expect(truncated.message).toMatch(/truncated/);
  });

  it('refuses a chunk whose keyframe bytes are not H.264 NAL units', async () => {
    const bytes = new Uint8Array(await readFile(chunks.h264 ?? ''));
    const { readout: _unused, ...rest } = await readFile_(chunks.h264 ?? '');
    expect(rest.size).toBe((await stat(chunks.h264 ?? '')).size);
    // Overwrite the first keyframe with playlist text: the length prefixes no longer add up.
    const playlist = new TextEncoder().encode('#EXTM3U\nhttp://127.0.0.1:9/x.ts\n'.repeat(20));
    bytes.set(playlist, 48);
    const path = join(dir, 'playlist-keyframe.mp4');
    await writeFile(path, bytes);
    const error = await refusal(bytes);
    expect(error.reason).toBe('malformed');
    expect(error.message).toMatch(/NAL unit of \d+ bytes/);
  });
});
