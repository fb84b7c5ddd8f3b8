import { describe, expect, it } from 'vitest';
import type { Mp4Info } from '@crispy-streamer/shared';
import { buildChunkMetadata, liveChunkTiming, timelineOffsetFromFirstChunk, type ChunkFacts } from '../src/chunk-metadata.js';
import { sourceConfig } from './support.js';

const RECORDING_START_MS = Date.parse('2026-11-23T09:00:00.000Z');

const mp4: Mp4Info = {
  container: 'mp4',
  brand: 'isom',
  durationMs: 3000,
  frameCount: 90,
  frameRate: 30,
  codec: 'h264',
  width: 1280,
  height: 720,
  hasAudio: false,
  timescale: 15360,
};

function facts(overrides: Partial<ChunkFacts> = {}): ChunkFacts {
  return {
    source: sourceConfig({ id: 'cam0', mode: 'encode' }),
    sequence: 7,
    // The list says 3.12 s: off by a few frames from the media, as ffmpeg's list is with B-frames.
    entry: { fileName: 'cam0-0000000007.mp4', startSeconds: 6, endSeconds: 9.12 },
    recordingStartMs: RECORDING_START_MS,
    recordingClock: 'host',
    clockSync: 'synchronised',
    timelineOffsetSeconds: 0,
    mp4,
    bytes: 654321,
    crc32c: '4waSgw==',
    nodeId: 'edge-1',
    ...overrides,
  };
}

describe('buildChunkMetadata', () => {
  it('starts at the recording start plus the segment start, and takes the duration from the MP4', () => {
    expect(buildChunkMetadata(facts())).toEqual({
      sourceId: 'cam0',
      sequence: 7,
      startTime: '2026-11-23T09:00:06.000Z',
      durationMs: 3000,
      frameCount: 90,
      frameRate: 30,
      bytes: 654321,
      crc32c: '4waSgw==',
      container: 'mp4',
      codec: 'h264',
      width: 1280,
      height: 720,
      mode: 'encode',
      clock: 'host',
      clockSync: 'synchronised',
      recordedBy: 'edge-1',
    });
  });

  it('rounds fractional segment starts to the millisecond', () => {
    const metadata = buildChunkMetadata(facts({ entry: { fileName: 'x', startSeconds: 3.0333333, endSeconds: 6 } }));
    expect(metadata.startTime).toBe('2026-11-23T09:00:03.033Z');
  });

  it('subtracts the timeline offset learnt from the first chunk', () => {
    const metadata = buildChunkMetadata(facts({ timelineOffsetSeconds: 0.067 }));
    expect(metadata.startTime).toBe('2026-11-23T09:00:05.933Z');
  });

  it('never starts a chunk before the recording', () => {
    const metadata = buildChunkMetadata(facts({ entry: { fileName: 'x', startSeconds: 0, endSeconds: 3.067 }, timelineOffsetSeconds: 0.067 }));
    expect(metadata.startTime).toBe('2026-11-23T09:00:00.000Z');
  });

  it("keeps the clock the start time came from, and the source's mode", () => {
    const metadata = buildChunkMetadata(facts({ recordingClock: 'file', source: sourceConfig({ mode: 'copy' }) }));
    expect(metadata.clock).toBe('file');
    expect(metadata.mode).toBe('copy');
  });
});

describe('timelineOffsetFromFirstChunk', () => {
  it('is the listed length beyond the media length', () => {
    expect(timelineOffsetFromFirstChunk({ fileName: 'x', startSeconds: 0, endSeconds: 4.066667 }, 4000)).toBeCloseTo(0.066667, 6);
  });

  it('is 0 when the list is not longer than the media, or is a second or more longer', () => {
    expect(timelineOffsetFromFirstChunk({ fileName: 'x', startSeconds: 0, endSeconds: 4 }, 4000)).toBe(0);
    expect(timelineOffsetFromFirstChunk({ fileName: 'x', startSeconds: 0, endSeconds: 3.9 }, 4000)).toBe(0);
    expect(timelineOffsetFromFirstChunk({ fileName: 'x', startSeconds: 0, endSeconds: 5 }, 4000)).toBe(0);
  });
});

describe('liveChunkTiming', () => {
  const opened = Date.parse('2026-11-23T09:00:02.500Z');
  const listed = Date.parse('2026-11-23T09:00:05.600Z');
  it('puts time 0 at the first chunk\'s listing less its listed end, when that is earlier than the output opening', () => {
    // The first packet arrived at 09:00:01.600; ffmpeg probed until 09:00:02.500; the first chunk
    // (4 s of list time, all of it media) was listed at 09:00:05.600.
    const timing = liveChunkTiming(undefined, { fileName: 'c', startSeconds: 0, endSeconds: 4 }, 4000, opened, listed);
    expect(new Date(timing.recordingStartMs).toISOString()).toBe('2026-11-23T09:00:01.600Z');
    expect(timing.entry.startSeconds).toBe(0);
  });
  it('starts the first chunk at its first keyframe, its media length before its end', () => {
    // The stream was joined mid-GOP: the list says 0-3.5 s, the chunk holds 2 s from the keyframe.
    const timing = liveChunkTiming(undefined, { fileName: 'c', startSeconds: 0, endSeconds: 3.5 }, 2000, opened, listed);
    expect(timing.entry.startSeconds).toBe(1.5);
    const metadata = buildChunkMetadata(facts({ recordingStartMs: timing.recordingStartMs, entry: timing.entry, mp4: { ...mp4, durationMs: 2000 } }));
    // It ends when it was listed, so the next chunk (list 3.5 s) follows it without a gap.
    expect(Date.parse(metadata.startTime) + metadata.durationMs).toBe(listed);
  });
  it('keeps the recording\'s start for later chunks, which start where the list says', () => {
    const later = liveChunkTiming(opened - 900, { fileName: 'd', startSeconds: 3.5, endSeconds: 5.5 }, 1900, opened, listed + 2000);
    expect(later).toEqual({ recordingStartMs: opened - 900, entry: { fileName: 'd', startSeconds: 3.5, endSeconds: 5.5 } });
  });
  it('keeps the output opening when the first chunk was listed late (it ended while ffmpeg was still probing)', () => {
    const listedLate = Date.parse('2026-11-23T09:00:07.000Z');
    expect(liveChunkTiming(undefined, { fileName: 'c', startSeconds: 0, endSeconds: 1 }, 1000, opened, listedLate).recordingStartMs).toBe(opened);
  });
});
