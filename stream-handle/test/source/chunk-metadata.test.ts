import { describe, expect, it } from 'vitest';
import type { Mp4Info } from '@crispy-streamer/shared';
import { buildChunkMetadata, type ChunkFacts } from '../../src/source/chunk-metadata.js';
import { sourceConfig } from '../support.js';

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
    placement: { startMs: Date.parse('2026-11-23T09:00:06.000Z'), clock: 'host' },
    clockSync: 'synchronised',
    container: 'mp4',
    info: mp4,
    recording: {},
    bytes: 654321,
    crc32c: '4waSgw==',
    nodeId: 'edge-1',
    ...overrides,
  };
}

describe('buildChunkMetadata', () => {
  it('starts where the chunk was placed, and takes the duration, frames and picture from the MP4', () => {
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

  it("keeps the clock the start time came from, and the source's mode", () => {
    const metadata = buildChunkMetadata(facts({ placement: { startMs: 0, clock: 'file' }, source: sourceConfig({ mode: 'copy' }) }));
    expect(metadata.clock).toBe('file');
    expect(metadata.mode).toBe('copy');
  });
});
