import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  inspectMp4,
  inspectMp4Buffer,
  inspectMp4File,
  type Mp4Info,
  Mp4IncompleteError,
  NotMp4Error,
  type RangeReader,
  readMp4Layout,
  readMp4LayoutBuffer,
} from '../src/mp4-inspect.js';

const run = promisify(execFile);

let dir = '';
const path = (name: string): string => join(dir, name);

async function ffmpeg(args: string[]): Promise<void> {
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { maxBuffer: 16 << 20 });
}

/** x264 at fixed GOP: no scene-cut keyframes, so keyframe counts are predictable. */
function x264(gop: number, bframes: number): string[] {
  const g = String(gop);
  return ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', g, '-keyint_min', g, '-sc_threshold', '0', '-bf', String(bframes)];
}

function testsrc(size: string, seconds: number): string[] {
  return ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`, '-t', String(seconds)];
}

function segment(input: string, outDir: string, seconds: number): string[] {
  return [
    '-i',
    input,
    '-c',
    'copy',
    '-f',
    'segment',
    '-segment_time',
    String(seconds),
    '-segment_format',
    'mp4',
    '-reset_timestamps',
    '1',
    '-segment_list',
    join(outDir, 'list.csv'),
    '-segment_list_type',
    'csv',
    join(outDir, 'seg%03d.mp4'),
  ];
}

interface ProbedStream {
  frames: number;
  durationMs: number;
}

async function ffprobeCountFrames(file: string): Promise<ProbedStream> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-count_frames',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=nb_read_frames,duration',
    '-of',
    'json',
    file,
  ]);
  const parsed = JSON.parse(stdout) as { streams: Array<{ nb_read_frames: string; duration: string }> };
  const stream = parsed.streams[0];
  if (stream === undefined) throw new Error(`ffprobe found no video stream in ${file}`);
  return { frames: Number(stream.nb_read_frames), durationMs: Number(stream.duration) * 1000 };
}

/** A RangeReader over a buffer that records what was asked of it. */
function countingReader(bytes: Uint8Array): { read: RangeReader; calls: number; bytes: number } {
  const stats = {
    calls: 0,
    bytes: 0,
    read: async (offset: number, length: number): Promise<Uint8Array> => {
      stats.calls++;
      const out = bytes.subarray(offset, offset + length);
      stats.bytes += out.byteLength;
      return out;
    },
  };
  return stats;
}

async function incompleteReason(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Mp4IncompleteError);
  return (err as Mp4IncompleteError).reason;
}

// --- tiny box tools for corrupting real files ---------------------------------------------

const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset).getUint32(at);
const setU32 = (b: Uint8Array, at: number, v: number): void => new DataView(b.buffer, b.byteOffset).setUint32(at, v);
const typeAt = (b: Uint8Array, at: number): string => String.fromCharCode(...b.subarray(at + 4, at + 8));

/** Offset of the box reached by following `types` from the top level (32-bit sizes only). */
function boxOffset(b: Uint8Array, types: readonly string[]): number {
  let start = 0;
  let end = b.byteLength;
  let found = -1;
  for (const type of types) {
    found = -1;
    for (let at = start; at + 8 <= end; at += u32(b, at)) {
      if (typeAt(b, at) === type) {
        found = at;
        break;
      }
    }
    if (found < 0) throw new Error(`no ${types.join('/')}`);
    start = found + 8;
    end = found + u32(b, found);
  }
  return found;
}

const STBL = ['moov', 'trak', 'mdia', 'minf', 'stbl'] as const;

function renameBox(b: Uint8Array, at: number, type: string): void {
  for (let i = 0; i < 4; i++) b[at + 4 + i] = type.charCodeAt(i);
}

async function copyOf(name: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path(name)));
}

// ------------------------------------------------------------------------------------------

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mp4-inspect-'));
  await Promise.all([
    ffmpeg([...testsrc('1280x720', 4), ...x264(60, 0), path('clip.mp4')]).then(() =>
      ffmpeg(['-i', path('clip.mp4'), '-c', 'copy', '-movflags', '+faststart', path('faststart.mp4')]),
    ),
    ffmpeg([...testsrc('1280x720', 4), ...x264(60, 2), path('bframes.mp4')]),
    ffmpeg([...testsrc('640x360', 2), '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-pix_fmt', 'yuv420p', path('hevc.mp4')]),
    ffmpeg([
      ...testsrc('320x240', 4),
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-t',
      '4',
      ...x264(60, 0),
      '-c:a',
      'aac',
      '-shortest',
      path('audio.mp4'),
    ]),
    // 10 s, 2 s GOP, with B-frames: cut at 3 s it yields 4 s + 2 s + 4 s chunks.
    ffmpeg([...testsrc('1280x720', 10), ...x264(60, 2), path('src10.mp4')]).then(async () => {
      await mkdir(path('seg'));
      await ffmpeg(segment(path('src10.mp4'), path('seg'), 3));
    }),
    // A typical 3 s 720p chunk: 1 s GOP so the cuts land exactly on 3 s.
    ffmpeg([...testsrc('1280x720', 6), ...x264(30, 2), path('src6.mp4')]).then(async () => {
      await mkdir(path('chunk'));
      await ffmpeg(segment(path('src6.mp4'), path('chunk'), 3));
    }),
    // Timescales this large force 64-bit (version 1) mdhd and mvhd: 3 s = 6e9 ticks > 2^32.
    ffmpeg([...testsrc('320x240', 3), ...x264(30, 0), '-video_track_timescale', '2000000000', '-movie_timescale', '2000000000', path('v1.mp4')]),
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '1', '-c:a', 'aac', path('audio-only.m4a')]),
    ffmpeg([...testsrc('320x240', 1), '-frames:v', '1', path('image.png')]),
    // What a live camera is recorded as: fragmented, a producer reference time before each fragment.
    ffmpeg([...testsrc('640x360', 7), ...x264(30, 0), path('src7.mp4')]).then(async () => {
      await mkdir(path('frag'));
      await ffmpeg([
        '-i',
        path('src7.mp4'),
        '-c',
        'copy',
        '-f',
        'segment',
        '-segment_time',
        '3',
        '-reset_timestamps',
        '1',
        '-segment_format',
        'mp4',
        '-segment_format_options',
        'movflags=+frag_keyframe+empty_moov+default_base_moof:write_prft=wallclock',
        path('frag/frag%03d.mp4'),
      ]);
    }),
  ]);
  await writeFile(path('notes.txt'), 'hello world, this is not a video\n'.repeat(10));
}, 120_000);

afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('inspectMp4File on ffmpeg output', () => {
  it('reads a 4 s 720p30 H.264 clip with a 2 s GOP', async () => {
    const info = await inspectMp4File(path('clip.mp4'));
    expect(info).toEqual<Mp4Info>({
      container: 'mp4',
      brand: 'isom',
      durationMs: 4000,
      frameCount: 120,
      frameRate: 30,
      codec: 'h264',
      width: 1280,
      height: 720,
      hasAudio: false,
      timescale: 15360,
      keyframeCount: 2,
      movieDurationMs: 4000,
    });
  });

  it('counts the same with B-frames (ctts reorders, stts still sums to the duration)', async () => {
    const info = await inspectMp4File(path('bframes.mp4'));
    expect(info).toMatchObject({ durationMs: 4000, frameCount: 120, frameRate: 30, codec: 'h264', keyframeCount: 2 });
  });

  it('reports hevc for libx265 output (hev1 sample entry)', async () => {
    const info = await inspectMp4File(path('hevc.mp4'));
    expect(info).toMatchObject({ codec: 'hevc', width: 640, height: 360, frameCount: 60, durationMs: 2000 });
  });

  it('sees the audio track, and takes duration from the video track only', async () => {
    const info = await inspectMp4File(path('audio.mp4'));
    expect(info).toMatchObject({ hasAudio: true, width: 320, height: 240, frameCount: 120, durationMs: 4000 });
  });

  it('handles a moov-first (+faststart) file', async () => {
    const plain = await inspectMp4File(path('clip.mp4'));
    expect(await inspectMp4File(path('faststart.mp4'))).toEqual(plain);
  });

  it('handles version 1 (64-bit) mdhd and mvhd', async () => {
    const bytes = await copyOf('v1.mp4');
    expect(bytes[boxOffset(bytes, ['moov', 'mvhd']) + 8]).toBe(1);
    expect(bytes[boxOffset(bytes, ['moov', 'trak', 'mdia', 'mdhd']) + 8]).toBe(1);
    const info = await inspectMp4Buffer(bytes);
    expect(info).toMatchObject({ timescale: 2_000_000_000, frameCount: 90, durationMs: 3000, frameRate: 30, movieDurationMs: 3000 });
  });

  it('agrees with ffprobe -count_frames', async () => {
    for (const name of ['bframes.mp4', 'seg/seg000.mp4', 'seg/seg001.mp4', 'v1.mp4']) {
      const [ours, probed] = await Promise.all([inspectMp4File(path(name)), ffprobeCountFrames(path(name))]);
      expect(ours.frameCount, name).toBe(probed.frames);
      expect(Math.abs(ours.durationMs - probed.durationMs), name).toBeLessThan(0.01);
    }
  });

  it('gives inspectMp4Buffer and inspectMp4File the same answer', async () => {
    expect(await inspectMp4Buffer(await copyOf('audio.mp4'))).toEqual(await inspectMp4File(path('audio.mp4')));
  });
});

describe('segment muxer chunks', () => {
  async function segments(): Promise<Array<{ name: string; start: number; end: number; info: Mp4Info }>> {
    const csv = await readFile(path('seg/list.csv'), 'utf8');
    const rows = csv
      .trim()
      .split('\n')
      .map((line) => line.split(','));
    return Promise.all(
      rows.map(async ([name = '', start = '', end = '']) => ({
        name,
        start: Number(start),
        end: Number(end),
        info: await inspectMp4File(path(join('seg', name))),
      })),
    );
  }

  it('adds up to the source: frames exactly, duration within one frame', async () => {
    const source = await inspectMp4File(path('src10.mp4'));
    const segs = await segments();
    expect(segs.length).toBeGreaterThan(1);
    const frames = segs.reduce((n, s) => n + s.info.frameCount, 0);
    const duration = segs.reduce((n, s) => n + s.info.durationMs, 0);
    expect(source.frameCount).toBe(300);
    expect(frames).toBe(source.frameCount);
    expect(Math.abs(duration - source.durationMs)).toBeLessThanOrEqual(1000 / 30);
    // Cuts land on the 2 s keyframes at or after each 3 s boundary: 4 s, 2 s, 4 s.
    expect(segs.map((s) => s.info.durationMs)).toEqual([4000, 2000, 4000]);
  });

  it('first chunk with B-frames: mvhd (and the segment list) include the B-frame delay, stts does not', async () => {
    const [first, second] = await segments();
    if (first === undefined || second === undefined) throw new Error('expected segments');
    // With -reset_timestamps 1 the first chunk keeps its composition delay (2 B-frames =
    // 66.7 ms) as an empty edit, so its presentation is 4067 ms for 4000 ms of media...
    expect(first.info.durationMs).toBe(4000);
    expect(first.info.movieDurationMs).toBe(4067);
    // ...and ffmpeg's segment list reports it the same way; later chunks are exact.
    expect((first.end - first.start) * 1000).toBeCloseTo(4066.667, 2);
    expect(second.info.movieDurationMs).toBe(second.info.durationMs);
    expect((second.end - second.start) * 1000).toBeCloseTo(second.info.durationMs, 2);
  });

  it('a typical 3 s chunk', async () => {
    const info = await inspectMp4File(path('chunk/seg001.mp4'));
    expect(info).toMatchObject({ durationMs: 3000, frameCount: 90, frameRate: 30, width: 1280, height: 720, keyframeCount: 3 });
  });
});

describe('reads little', () => {
  it('walks headers and reads moov, not mdat', async () => {
    const bytes = await copyOf('src10.mp4');
    const moovSize = u32(bytes, boxOffset(bytes, ['moov']));
    expect(bytes.byteLength).toBeGreaterThan(1_000_000);

    const reader = countingReader(bytes);
    await inspectMp4(reader.read, bytes.byteLength);
    // One read-ahead window at 0 (ftyp, free, mdat header), one at the moov header that
    // brings the whole moov along.
    expect(reader.calls).toBe(2);
    expect(reader.bytes).toBeLessThan(64 * 1024);

    const strict = countingReader(bytes);
    await inspectMp4(strict.read, bytes.byteLength, { readAheadBytes: 0 });
    expect(strict.bytes).toBeLessThan(moovSize + 100);
  });

  it('refuses a huge moov before reading it', async () => {
    // ftyp + a moov header claiming 100 MiB + mdat; everything else reads as zeros.
    const head = new Uint8Array(32);
    setU32(head, 0, 16);
    head.set(
      [...'ftypisom'].map((c) => c.charCodeAt(0)),
      4,
    );
    setU32(head, 16, 100 * 1024 * 1024);
    head.set(
      [...'moov'].map((c) => c.charCodeAt(0)),
      20,
    );
    const size = 16 + 100 * 1024 * 1024 + 8;
    let requested = 0;
    const read: RangeReader = async (offset, length) => {
      requested += length;
      const out = new Uint8Array(length);
      if (offset < head.byteLength) out.set(head.subarray(offset, offset + length));
      return out;
    };
    expect(await incompleteReason(inspectMp4(read, size))).toBe('moov-too-large');
    expect(requested).toBeLessThan(64 * 1024);
    expect(await incompleteReason(inspectMp4File(path('clip.mp4'), { maxMoovBytes: 1000 }))).toBe('moov-too-large');
  });
});

describe('incomplete files', () => {
  it('a file cut in half, or missing its last 10 bytes', async () => {
    for (const name of ['clip.mp4', 'faststart.mp4']) {
      const bytes = await copyOf(name);
      const half = bytes.subarray(0, bytes.byteLength >> 1);
      expect(await incompleteReason(inspectMp4Buffer(half)), name).toBe('truncated');
      const short = bytes.subarray(0, bytes.byteLength - 10);
      expect(await incompleteReason(inspectMp4Buffer(short)), name).toBe('truncated');
    }
  });

  it('ftyp + free + mdat header with size 0: what ffmpeg leaves before its first flush', async () => {
    const bytes = new Uint8Array(48);
    bytes.set((await copyOf('clip.mp4')).subarray(0, 40)); // ftyp(32) + free(8)
    renameBox(bytes, 40, 'mdat'); // size 0 = "to end of file": the mov muxer patches it on close
    expect(await incompleteReason(inspectMp4Buffer(bytes))).toBe('no-moov');
  });

  it('a real ffmpeg killed with SIGKILL mid-recording', async () => {
    const out = path('killed.mp4');
    const child = spawn(
      'ffmpeg',
      ['-hide_banner', '-loglevel', 'error', '-y', '-re', ...testsrc('320x240', 30), '-c:v', 'libx264', '-preset', 'ultrafast', out],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const size = await stat(out).then(
          (s) => s.size,
          () => 0,
        );
        if (size >= 48) break;
        if (Date.now() > deadline) throw new Error('ffmpeg did not start writing');
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(await incompleteReason(inspectMp4File(out))).toBe('no-moov');
  }, 30_000);

  it('an empty file, and a few bytes that could still become an ftyp', async () => {
    expect(await incompleteReason(inspectMp4Buffer(new Uint8Array(0)))).toBe('empty');
    expect(await incompleteReason(inspectMp4Buffer(new Uint8Array([0, 0, 0, 32, 0x66, 0x74])))).toBe('truncated');
  });

  it('stray bytes after the last box', async () => {
    const bytes = await copyOf('clip.mp4');
    const padded = new Uint8Array(bytes.byteLength + 4);
    padded.set(bytes);
    expect(await incompleteReason(inspectMp4Buffer(padded))).toBe('truncated');
  });

  it('a reader that delivers less than the promised size', async () => {
    const bytes = await copyOf('clip.mp4');
    const read: RangeReader = async (offset, length) => bytes.subarray(offset, offset + length);
    expect(await incompleteReason(inspectMp4(read, bytes.byteLength + 1000))).toBe('short-read');
  });

  it('no moov, two moovs, no mdat, no leading ftyp', async () => {
    const bytes = await copyOf('clip.mp4');
    const moovAt = boxOffset(bytes, ['moov']);
    const moov = bytes.subarray(moovAt);

    expect(await incompleteReason(inspectMp4Buffer(bytes.subarray(0, moovAt)))).toBe('no-moov');

    const twice = new Uint8Array(bytes.byteLength + moov.byteLength);
    twice.set(bytes);
    twice.set(moov, bytes.byteLength);
    expect(await incompleteReason(inspectMp4Buffer(twice))).toBe('multiple-moov');

    const noMdat = new Uint8Array(32 + moov.byteLength);
    noMdat.set(bytes.subarray(0, 32));
    noMdat.set(moov, 32);
    expect(await incompleteReason(inspectMp4Buffer(noMdat))).toBe('no-mdat');

    expect(await incompleteReason(inspectMp4Buffer(moov))).toBe('no-ftyp');
  });
});

describe('box sizes: 64-bit, size 0, hostile', () => {
  it('64-bit largesize mdat (what ffmpeg turns free+mdat into past 4 GiB)', async () => {
    const bytes = await copyOf('clip.mp4');
    expect([typeAt(bytes, 32), typeAt(bytes, 40)]).toEqual(['free', 'mdat']);
    const mdatSize = u32(bytes, 40);
    // free(8) + mdat(8) occupy exactly the 16 bytes of a largesize mdat header.
    setU32(bytes, 32, 1);
    renameBox(bytes, 32, 'mdat');
    setU32(bytes, 40, 0);
    setU32(bytes, 44, mdatSize + 8);
    expect(await inspectMp4Buffer(bytes)).toEqual(await inspectMp4File(path('clip.mp4')));
  });

  it('size 0 (to end of file) on the last box', async () => {
    const bytes = await copyOf('faststart.mp4');
    const mdatAt = boxOffset(bytes, ['mdat']);
    expect(mdatAt + u32(bytes, mdatAt)).toBe(bytes.byteLength);
    setU32(bytes, mdatAt, 0);
    expect(await inspectMp4Buffer(bytes)).toMatchObject({ frameCount: 120, durationMs: 4000 });
  });

  it('box size below 8', async () => {
    const bytes = await copyOf('clip.mp4');
    setU32(bytes, 32, 4); // the free box
    expect(await incompleteReason(inspectMp4Buffer(bytes))).toBe('bad-box-size');
  });

  it('nested box larger than its parent', async () => {
    const bytes = await copyOf('clip.mp4');
    const stsz = boxOffset(bytes, [...STBL, 'stsz']);
    setU32(bytes, stsz, u32(bytes, stsz) + 1_000_000);
    expect(await incompleteReason(inspectMp4Buffer(bytes))).toBe('box-overflows-parent');
  });

  it('hostile stts entry count', async () => {
    const bytes = await copyOf('clip.mp4');
    setU32(bytes, boxOffset(bytes, [...STBL, 'stts']) + 12, 0x7fffffff);
    expect(await incompleteReason(inspectMp4Buffer(bytes))).toBe('malformed');
  });

  it('stts and stsz disagreeing on the sample count', async () => {
    const bytes = await copyOf('clip.mp4');
    const stsz = boxOffset(bytes, [...STBL, 'stsz']);
    setU32(bytes, stsz + 16, u32(bytes, stsz + 16) - 1);
    expect(await incompleteReason(inspectMp4Buffer(bytes))).toBe('sample-count-mismatch');
  });
});

describe('sample tables', () => {
  it('no stss means every sample is a keyframe', async () => {
    const bytes = await copyOf('clip.mp4');
    renameBox(bytes, boxOffset(bytes, [...STBL, 'stss']), 'free');
    expect(await inspectMp4Buffer(bytes)).toMatchObject({ frameCount: 120, keyframeCount: 120 });
  });

  it('a video track without stts is incomplete', async () => {
    const bytes = await copyOf('clip.mp4');
    renameBox(bytes, boxOffset(bytes, [...STBL, 'stts']), 'free');
    expect(await incompleteReason(inspectMp4Buffer(bytes))).toBe('missing-sample-table');
  });
});

describe('not MP4 / no video', () => {
  it('a text file and a PNG', async () => {
    await expect(inspectMp4File(path('notes.txt'))).rejects.toBeInstanceOf(NotMp4Error);
    await expect(inspectMp4File(path('image.png'))).rejects.toBeInstanceOf(NotMp4Error);
    await expect(inspectMp4Buffer(new TextEncoder().encode('hi\n'))).rejects.toBeInstanceOf(NotMp4Error);
  });

  it('an audio-only file has no video track', async () => {
    await expect(inspectMp4File(path('audio-only.m4a'))).rejects.toThrow(/no video track.*soun/);
  });
});

// --- the first keyframe's place, against ffprobe's packet positions ------------------------

interface ProbedPacket {
  pos: number;
  size: number;
  keyframe: boolean;
}

/** The video packets in file order as ffprobe reports them: byte position, size, key flag. */
async function ffprobePackets(file: string): Promise<ProbedPacket[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pos,size,flags', '-of', 'json', file], {
    maxBuffer: 16 << 20,
  });
  const parsed = JSON.parse(stdout) as { packets: { pos: string; size: string; flags: string }[] };
  return parsed.packets.map((p) => ({ pos: Number(p.pos), size: Number(p.size), keyframe: p.flags.startsWith('K') }));
}

async function layoutOf(bytes: Uint8Array) {
  return readMp4Layout(async (offset, length) => bytes.subarray(offset, offset + length), bytes.byteLength);
}

/** Replaces the video track's stco by a co64 with the same offsets, growing its ancestors (moov is last, so no offset moves). */
function stcoToCo64(bytes: Uint8Array): Uint8Array {
  const stco = boxOffset(bytes, [...STBL, 'stco']);
  const count = u32(bytes, stco + 12);
  const co64 = new Uint8Array(16 + count * 8);
  setU32(co64, 0, co64.byteLength);
  co64.set(new TextEncoder().encode('co64'), 4);
  setU32(co64, 12, count);
  for (let i = 0; i < count; i++) setU32(co64, 16 + i * 8 + 4, u32(bytes, stco + 16 + i * 4));
  const grow = co64.byteLength - u32(bytes, stco);
  const out = new Uint8Array(bytes.byteLength + grow);
  out.set(bytes.subarray(0, stco));
  out.set(co64, stco);
  out.set(bytes.subarray(stco + u32(bytes, stco)), stco + co64.byteLength);
  for (let depth = STBL.length; depth >= 1; depth--) {
    const at = boxOffset(bytes, STBL.slice(0, depth));
    setU32(out, at, u32(bytes, at) + grow);
  }
  return out;
}

describe('readMp4Layout: the first keyframe, the codec configuration, the boxes as read', () => {
  it.each(['clip.mp4', 'bframes.mp4', 'audio.mp4', 'faststart.mp4', 'hevc.mp4', 'seg/seg001.mp4', 'chunk/seg000.mp4'])(
    '%s: the first sync sample is where ffprobe finds the first keyframe',
    async (name) => {
      const bytes = await copyOf(name);
      const layout = await layoutOf(bytes);
      const first = (await ffprobePackets(path(name))).find((p) => p.keyframe);
      expect(layout.firstSyncSample).toEqual({ sampleNumber: 1, offset: first?.pos, size: first?.size });
      expect(layout.info).toEqual(await inspectMp4Buffer(bytes));
    },
  );

  it('finds a keyframe past the first chunk of an interleaved file (audio chunks between)', async () => {
    const bytes = await copyOf('audio.mp4');
    const stss = boxOffset(bytes, [...STBL, 'stss']);
    expect(u32(bytes, stss + 12)).toBe(2);
    // The second keyframe becomes the first sync sample: sample 61, two seconds in.
    setU32(bytes, stss + 16, u32(bytes, stss + 20));
    const layout = await layoutOf(bytes);
    const keyframes = (await ffprobePackets(path('audio.mp4'))).filter((p) => p.keyframe);
    expect(layout.firstSyncSample).toEqual({ sampleNumber: 61, offset: keyframes[1]?.pos, size: keyframes[1]?.size });
  });

  it('reads co64 chunk offsets like stco', async () => {
    const bytes = await copyOf('audio.mp4');
    const plain = await layoutOf(bytes);
    const wide = stcoToCo64(bytes);
    expect(() => boxOffset(wide, [...STBL, 'co64'])).not.toThrow();
    expect((await layoutOf(wide)).firstSyncSample).toEqual(plain.firstSyncSample);
  });

  it('without stss the first sample is the first keyframe', async () => {
    const bytes = await copyOf('clip.mp4');
    renameBox(bytes, boxOffset(bytes, [...STBL, 'stss']), 'free');
    expect((await layoutOf(bytes)).firstSyncSample.sampleNumber).toBe(1);
  });

  it('hands back the ftyp and moov bytes and the codec configuration box', async () => {
    const bytes = await copyOf('chunk/seg000.mp4');
    const layout = await layoutOf(bytes);
    const moov = boxOffset(bytes, ['moov']);
    expect(layout.ftyp).toMatchObject({ offset: 0, size: u32(bytes, 0) });
    expect(Buffer.from(layout.ftyp.bytes).equals(Buffer.from(bytes.subarray(0, u32(bytes, 0))))).toBe(true);
    expect(layout.moov).toMatchObject({ offset: moov, size: u32(bytes, moov) });
    expect(Buffer.from(layout.moov.bytes).equals(Buffer.from(bytes.subarray(moov, moov + u32(bytes, moov))))).toBe(true);
    expect(layout.sampleEntry).toBe('avc1');
    const avcC = boxOffset(bytes, [...STBL, 'stsd']);
    expect(layout.codecConfig?.type).toBe('avcC');
    // avcC: configurationVersion 1, then the SPS's profile/compat/level bytes.
    expect(layout.codecConfig?.bytes[0]).toBe(1);
    expect(avcC).toBeGreaterThan(moov);
    expect((await layoutOf(await copyOf('hevc.mp4'))).codecConfig?.type).toBe('hvcC');
  });

  it('makes the same reads as inspectMp4: no second read of the moov', async () => {
    const bytes = await copyOf('chunk/seg001.mp4');
    const plain = countingReader(bytes);
    await inspectMp4(plain.read, bytes.byteLength);
    const layout = countingReader(bytes);
    await readMp4Layout(layout.read, bytes.byteLength);
    expect(layout.calls).toBe(plain.calls);
    expect(layout.bytes).toBe(plain.bytes);
  });

  it('refuses a keyframe the tables place outside the media data, or that does not exist', async () => {
    const outside = await copyOf('clip.mp4');
    const stco = boxOffset(outside, [...STBL, 'stco']);
    setU32(outside, stco + 16, boxOffset(outside, ['moov']));
    await expect(layoutOf(outside)).rejects.toThrow(/lies outside every mdat box/);
    expect(await incompleteReason(layoutOf(outside))).toBe('malformed');

    const beyond = await copyOf('clip.mp4');
    setU32(beyond, boxOffset(beyond, [...STBL, 'stss']) + 16, 121);
    await expect(layoutOf(beyond)).rejects.toThrow(/stss names sample 121 of 120/);

    const none = await copyOf('clip.mp4');
    setU32(none, boxOffset(none, [...STBL, 'stss']) + 12, 0);
    await expect(layoutOf(none)).rejects.toThrow(/no keyframe/);

    const noStsc = await copyOf('clip.mp4');
    renameBox(noStsc, boxOffset(noStsc, [...STBL, 'stsc']), 'free');
    expect(await incompleteReason(layoutOf(noStsc))).toBe('missing-sample-table');
  });

  it('refuses what is not an MP4 as inspectMp4 does', async () => {
    await expect(layoutOf(new TextEncoder().encode('#EXTM3U\n#EXT-X-VERSION:3\nhttp://127.0.0.1:9/x.ts\n'))).rejects.toBeInstanceOf(NotMp4Error);
  });
});

describe('fragmented MP4 (live cameras: empty moov, prft + moof + mdat per keyframe, mfra)', () => {
  it('agrees with ffprobe -count_frames on durations and frames, and counts keyframes', async () => {
    for (const name of ['frag/frag000.mp4', 'frag/frag001.mp4', 'frag/frag002.mp4']) {
      const [ours, probed] = await Promise.all([inspectMp4File(path(name)), ffprobeCountFrames(path(name))]);
      expect(ours.fragmented, name).toBe(true);
      expect(ours.frameCount, name).toBe(probed.frames);
      expect(Math.abs(ours.durationMs - probed.durationMs), name).toBeLessThan(0.01);
      expect(ours.keyframeCount, name).toBe(Math.round(ours.durationMs / 1000));
    }
  });

  it('reads one producer reference time per fragment, on the media timeline, in whole-second steps here', async () => {
    const before = Date.now();
    const info = await inspectMp4File(path('frag/frag000.mp4'));
    const times = info.producerTimes ?? [];
    expect(times.map((t) => t.fragment)).toEqual([0, 1, 2]);
    expect(times.map((t) => t.mediaSeconds)).toEqual([0, 1, 2]);
    expect(times.every((t) => t.flags === 24)).toBe(true);
    // A file has no Sender Report: ffmpeg writes its own clock when it writes each fragment (made in beforeAll).
    for (const t of times) expect(before - t.wallclockMs).toBeGreaterThanOrEqual(0);
    for (const t of times) expect(before - t.wallclockMs).toBeLessThan(120_000);
    expect(info.mediaStartSeconds).toBe(0);
  });

  it('locates every keyframe inside an mdat, at its presentation time', async () => {
    const bytes = await copyOf('frag/frag001.mp4');
    const layout = await readMp4LayoutBuffer(bytes, { allSyncSamples: true });
    expect(layout.syncSamples?.map((s) => s.presentationSeconds)).toEqual([0, 1, 2]);
    const first = layout.firstSyncSample;
    // An IDR slice or SPS/SEI NAL unit, length-prefixed: the first 4 bytes are a length that fits the sample.
    expect(new DataView(bytes.buffer, bytes.byteOffset + first.offset, 4).getUint32(0)).toBeLessThan(first.size);
  });

  it('without its closing mfra (writer killed at a fragment boundary) it is unfinished, and cut mid-fragment truncated', async () => {
    const bytes = await copyOf('frag/frag000.mp4');
    const mfra = findTopLevel(bytes, 'mfra');
    expect(await incompleteReason(inspectMp4Buffer(bytes.subarray(0, mfra)))).toBe('no-mfra');
    expect(await incompleteReason(inspectMp4Buffer(bytes.subarray(0, mfra - 100)))).toBe('truncated');
    const firstMoof = findTopLevel(bytes, 'prft');
    // ftyp + moov, the first fragment not yet written.
    expect(await incompleteReason(inspectMp4Buffer(bytes.subarray(0, firstMoof)))).toBe('no-mdat');
  });
});

function findTopLevel(bytes: Uint8Array, type: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 8 <= bytes.byteLength; at += view.getUint32(at)) {
    if (String.fromCharCode(...bytes.subarray(at + 4, at + 8)) === type) return at;
  }
  throw new Error(`no top-level ${type}`);
}
