import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectChunkBuffer, parseConfigurationRecord, readMp4LayoutBuffer, sequenceParameters } from '@crispy-streamer/shared';
import { reheadChunk, splitChunk } from '../../src/recorder/chunk-recut.js';
import { findParameterChange } from '../../src/source/parameter-change.js';

const run = promisify(execFile);
const ffmpeg = (args: string[]) => run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { maxBuffer: 16 << 20 });
let dir = '';
const segments: Record<'mp4' | 'mkv', string[]> = { mp4: [], mkv: [] };

// 640x360 for 2.4 s, then 320x240 for 2.4 s, in one MPEG-TS (a new SPS at the change), cut
// into 2 s chunks the way stream-handle cuts: the second chunk changes part-way, the third is all
// 320x240 under a 640x360 header.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parameter-change-'));
  const parts = [];
  for (const [i, size, offset] of [
    [0, '640x360', 0],
    [1, '320x240', 2.4],
  ] as const) {
    const part = join(dir, `part${i}.ts`);
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${size}:rate=25:duration=2.4`,
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '10',
      '-bf',
      '2',
      '-output_ts_offset',
      String(offset),
      '-f',
      'mpegts',
      part,
    ]);
    parts.push(await readFile(part));
  }
  await writeFile(join(dir, 'change.ts'), Buffer.concat(parts));
  for (const [container, format] of [
    ['mp4', 'mp4'],
    ['mkv', 'matroska'],
  ] as const) {
    await ffmpeg([
      '-i',
      join(dir, 'change.ts'),
      '-map',
      '0:v:0',
      '-c',
      'copy',
      '-f',
      'segment',
      '-segment_time',
      '2',
      '-segment_format',
      format,
      '-reset_timestamps',
      '1',
      join(dir, `seg-%d.${container}`),
    ]);
    segments[container] = (await readdir(dir))
      .filter((name) => name.endsWith(`.${container}`) && name.startsWith('seg-'))
      .sort()
      .map((name) => join(dir, name));
  }
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('findParameterChange', () => {
  it.each(['mp4', 'mkv'] as const)('%s: none in a clean chunk, part-way in the mixed one, at the start of the one under a stale header', async (container) => {
    const [clean, mixed, stale] = segments[container];
    expect(await findParameterChange(await readFile(clean ?? ''), container)).toBeUndefined();
    const inside = await findParameterChange(await readFile(mixed ?? ''), container);
    // The keyframe's presentation time in the chunk, as ffprobe shows it (0.32 s: the TS parts'
    // B-frame delay shifts it from the 0.4 s of the source).
    expect(inside?.atSeconds).toBeCloseTo(0.32, 3);
    expect(inside?.keyframe).toBeGreaterThan(0);
    expect(await findParameterChange(await readFile(stale ?? ''), container)).toEqual({ atSeconds: 0, keyframe: 0 });
  });

  it('cut at the change and given a header of their own, the parts are true to their frames and lose none', async () => {
    const mixed = segments.mp4[1] ?? '';
    const whole = await inspectChunkBuffer(await readFile(mixed), 'mp4');
    const change = await findParameterChange(await readFile(mixed), 'mp4');
    const [before, after] = await splitChunk('ffmpeg', mixed, 'mp4', change?.atSeconds ?? -1, join(dir, 'split'));
    await reheadChunk('ffmpeg', [after], 'mp4', 'h264', join(dir, 'after-reheaded.mp4'));
    const beforeInfo = await inspectChunkBuffer(await readFile(before), 'mp4');
    const afterInfo = await inspectChunkBuffer(await readFile(join(dir, 'after-reheaded.mp4')), 'mp4');
    expect([beforeInfo.width, beforeInfo.height, afterInfo.width, afterInfo.height]).toEqual([640, 360, 320, 240]);
    expect(beforeInfo.frameCount + afterInfo.frameCount).toBe(whole.frameCount);
    expect(await findParameterChange(await readFile(before), 'mp4')).toBeUndefined();
    expect(await findParameterChange(await readFile(join(dir, 'after-reheaded.mp4')), 'mp4')).toBeUndefined();
    // The header is the frames' own: its SPS says 320x240.
    const layout = await readMp4LayoutBuffer(await readFile(join(dir, 'after-reheaded.mp4')));
    const sps = parseConfigurationRecord('h264', layout.codecConfig?.bytes ?? new Uint8Array()).sps[0];
    expect(sps === undefined ? undefined : sequenceParameters('h264', sps)).toMatchObject({ width: 320, height: 240 });
  });
});
