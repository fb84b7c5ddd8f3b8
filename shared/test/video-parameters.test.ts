import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMp4LayoutBuffer } from '../src/mp4-inspect.js';
import { inBandSps, parseConfigurationRecord, sameSequence, sequenceParameters } from '../src/video-parameters.js';

const run = promisify(execFile);
let dir = '';

async function spsOf(name: string, args: string[], codec: 'h264' | 'hevc'): Promise<Uint8Array> {
  const path = join(dir, name);
  await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=718x402:rate=25:duration=0.2',
    ...args,
    path,
  ]);
  const layout = await readMp4LayoutBuffer(await readFile(path));
  const sps = parseConfigurationRecord(codec, layout.codecConfig?.bytes ?? new Uint8Array()).sps[0];
  if (sps === undefined) throw new Error(`no SPS in ${name}`);
  return sps;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'video-parameters-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sequenceParameters', () => {
  it.each([
    ['H.264 4:2:0 8-bit, cropped to an odd size', 'h264', ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'], { chromaFormat: 1, bitDepth: 8 }],
    ['H.264 10-bit', 'h264', ['-c:v', 'libx264', '-pix_fmt', 'yuv420p10le'], { chromaFormat: 1, bitDepth: 10, profile: 110 }],
    ['H.264 grey (4:0:0)', 'h264', ['-c:v', 'libx264', '-pix_fmt', 'gray'], { chromaFormat: 0 }],
    ['H.264 4:4:4', 'h264', ['-c:v', 'libx264', '-pix_fmt', 'yuv444p'], { chromaFormat: 3 }],
    ['H.265 4:2:0', 'hevc', ['-c:v', 'libx265', '-x265-params', 'log-level=error'], { chromaFormat: 1, bitDepth: 8, profile: 1 }],
    ['H.265 grey', 'hevc', ['-c:v', 'libx265', '-x265-params', 'log-level=error', '-pix_fmt', 'gray'], { chromaFormat: 0 }],
  ] as const)('%s: the size and format the encoder wrote', async (_label, codec, args, expected) => {
    const sps = await spsOf(`${_label.replace(/\W+/g, '-')}.mp4`, [...args], codec);
    expect(sequenceParameters(codec, sps)).toMatchObject({ width: 718, height: 402, ...expected });
  });

  it('two SPSs of one size and profile are the same sequence; of another size or profile, not; garbage is compared by its bytes', async () => {
    const a = await spsOf('a.mp4', ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10'], 'h264');
    const b = await spsOf('b.mp4', ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-crf', '35'], 'h264');
    const c = await spsOf('c.mp4', ['-c:v', 'libx264', '-preset', 'ultrafast', '-vf', 'scale=320:240'], 'h264');
    const d = await spsOf('d.mp4', ['-c:v', 'libx264', '-preset', 'slow'], 'h264');
    expect(sameSequence('h264', a, b)).toBe(true);
    expect(sameSequence('h264', a, c)).toBe(false);
    expect(sameSequence('h264', a, d)).toBe(false);
    expect(sameSequence('h264', Uint8Array.of(0x67, 1), Uint8Array.of(0x67, 1, 0))).toBe(true);
    expect(sequenceParameters('h264', Uint8Array.of(0x67))).toBeUndefined();
  });

  it('finds the SPS in front of a keyframe, length-prefixed', () => {
    const sample = Uint8Array.of(0, 0, 0, 3, 0x67, 0xaa, 0xbb, 0, 0, 0, 2, 0x68, 0xcc, 0, 0, 0, 2, 0x65, 0x88);
    expect(inBandSps('h264', sample, 4)).toEqual([Uint8Array.of(0x67, 0xaa, 0xbb)]);
    expect(inBandSps('h264', sample.subarray(0, 6), 4)).toEqual([]);
  });
});
