import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMp4Layout } from '@crispy-streamer/shared';
import { MalformedBitstreamError, parseAvcC, parseHvcC, splitLengthPrefixed, toAnnexB } from '../src/decoder-input/annex-b.js';
import { ffmpeg, makeChunk } from './chunks.js';

/** SHA-256 of each NAL unit of an Annex B stream (3- or 4-byte start codes), sorted: the order of SEI and parameter sets may differ. */
function nalUnitsOf(stream: Uint8Array): string[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < stream.byteLength; i++) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) starts.push(i + 3);
  }
  return starts
    .map((start, k) => {
      let end = k + 1 < starts.length ? (starts[k + 1] ?? 0) - 3 : stream.byteLength;
      while (end > start && stream[end - 1] === 0) end--;
      return createHash('sha256').update(stream.subarray(start, end)).digest('hex').slice(0, 16);
    })
    .sort();
}
const h264Type = (unit: Uint8Array) => (unit[0] ?? 0) & 0x1f;
const hevcType = (unit: Uint8Array) => ((unit[0] ?? 0) >> 1) & 0x3f;

let dir = '';
let h264Chunk = '';
let hevcChunk = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'annex-b-'));
  [h264Chunk, hevcChunk] = await Promise.all([makeChunk(dir, 'h264'), makeChunk(dir, 'hevc', { size: '640x360', codec: 'libx265' })]);
}, 120_000);
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

async function keyframeOf(path: string) {
  const bytes = new Uint8Array(await readFile(path));
  const layout = await readMp4Layout(async (offset, length) => bytes.subarray(offset, offset + length), bytes.byteLength);
  const { offset, size } = layout.firstSyncSample;
  return { layout, sample: bytes.subarray(offset, offset + size) };
}

describe('parameter sets from the sample entry', () => {
  it('avcC of an x264 chunk: one SPS and one PPS, 4-byte lengths', async () => {
    const { layout } = await keyframeOf(h264Chunk);
    const sets = parseAvcC(layout.codecConfig?.bytes ?? new Uint8Array());
    expect(sets.lengthSize).toBe(4);
    expect(sets.nalUnits.map(h264Type)).toEqual([7, 8]);
  });

  it('hvcC of an x265 chunk: VPS, SPS, PPS (and x265 SEI)', async () => {
    const { layout } = await keyframeOf(hevcChunk);
    const sets = parseHvcC(layout.codecConfig?.bytes ?? new Uint8Array());
    expect(sets.lengthSize).toBe(4);
    expect(sets.nalUnits.map(hevcType).slice(0, 3)).toEqual([32, 33, 34]);
  });

  it('refuses records cut short or of another version', () => {
    expect(() => parseAvcC(Uint8Array.of(1, 100, 0, 31, 0xff, 0xe1, 0, 30, 0x67))).toThrow(MalformedBitstreamError);
    expect(() => parseAvcC(Uint8Array.of(2, 100, 0, 31, 0xff, 0xe0, 0))).toThrow(/configurationVersion/);
    expect(() => parseHvcC(Uint8Array.of(1, 2, 3))).toThrow(/hvcC ends/);
  });
});

describe('one keyframe as Annex B', () => {
  it("holds exactly the NAL units ffmpeg's h264_mp4toannexb writes for the first frame", async () => {
    const { layout, sample } = await keyframeOf(h264Chunk);
    const ours = toAnnexB(parseAvcC(layout.codecConfig?.bytes ?? new Uint8Array()), sample);
    const reference = join(dir, 'first.h264');
    await ffmpeg(['-i', h264Chunk, '-c', 'copy', '-bsf:v', 'h264_mp4toannexb', '-frames:v', '1', '-f', 'h264', reference]);
    expect(nalUnitsOf(ours)).toEqual(nalUnitsOf(new Uint8Array(await readFile(reference))));
    // Parameter sets first, and an IDR slice (type 5) in the sample.
    const units = splitLengthPrefixed(sample, 4);
    expect(units.map(h264Type)).toContain(5);
  });

  it('is the same for H.265 (hevc_mp4toannexb)', async () => {
    const { layout, sample } = await keyframeOf(hevcChunk);
    const ours = toAnnexB(parseHvcC(layout.codecConfig?.bytes ?? new Uint8Array()), sample);
    const reference = join(dir, 'first.hevc');
    await ffmpeg(['-i', hevcChunk, '-c', 'copy', '-bsf:v', 'hevc_mp4toannexb', '-frames:v', '1', '-f', 'hevc', reference]);
    expect(nalUnitsOf(ours)).toEqual(nalUnitsOf(new Uint8Array(await readFile(reference))));
  });

  it('refuses a sample that is not length-prefixed NAL units (an HLS playlist, a length past the end)', () => {
    const playlist = new TextEncoder().encode('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://127.0.0.1:9/a.ts\n');
    expect(() => splitLengthPrefixed(playlist, 4)).toThrow(MalformedBitstreamError);
    expect(() => splitLengthPrefixed(Uint8Array.of(0, 0, 0, 9, 0x65, 1, 2), 4)).toThrow(/does not fit/);
    expect(() => splitLengthPrefixed(Uint8Array.of(0, 0, 0, 0), 4)).toThrow(/does not fit/);
    expect(() => splitLengthPrefixed(Uint8Array.of(0, 0), 4)).toThrow(/runs past/);
    expect(() => splitLengthPrefixed(new Uint8Array(0), 4)).toThrow(/no NAL unit/);
  });
});
