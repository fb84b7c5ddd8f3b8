import type { ChunkMetadata, Mp4Info } from '@crispy-streamer/shared';
import type { ChunkPlacement } from '../clock/recording-clock.js';
import type { SourceConfig } from './source-config.js';

export interface ChunkFacts {
  source: SourceConfig;
  sequence: number;
  placement: ChunkPlacement;
  clockSync: ChunkMetadata['clockSync'];
  mp4: Mp4Info;
  bytes: number;
  crc32c: string;
  nodeId: string;
}

/**
 * The chunk's metadata, decided once. Its duration is the video track's own (frames times frame
 * durations), because the segment list's times are off by a couple of frames with B-frames.
 */
export function buildChunkMetadata(facts: ChunkFacts): ChunkMetadata {
  return {
    sourceId: facts.source.id,
    sequence: facts.sequence,
    startTime: new Date(facts.placement.startMs).toISOString(),
    durationMs: facts.mp4.durationMs,
    frameCount: facts.mp4.frameCount,
    frameRate: facts.mp4.frameRate,
    bytes: facts.bytes,
    crc32c: facts.crc32c,
    container: 'mp4',
    codec: facts.mp4.codec,
    width: facts.mp4.width,
    height: facts.mp4.height,
    mode: facts.source.mode,
    clock: facts.placement.clock,
    clockSync: facts.clockSync,
    recordedBy: facts.nodeId,
  };
}
