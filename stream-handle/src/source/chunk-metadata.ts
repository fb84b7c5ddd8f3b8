import type { AudioTrackOutcome, ChunkContainer, ChunkInspection, ChunkMetadata, RtspTransport } from '@crispy-streamer/shared';
import type { LiveClockFacts } from '../clock/camera-clock-tracker.js';
import type { ChunkPlacement } from '../clock/recording-clock.js';
import type { SourceConfig } from './source-config.js';

/** What the recording knew of a chunk beyond its bytes: decided with the container, before ffmpeg cut it. */
export interface ChunkRecordingFacts {
  pixelFormat?: string;
  audio?: AudioTrackOutcome[];
  dropped?: string[];
  transport?: RtspTransport;
  packetsLost?: number;
  /** A camera: both clocks of the chunk's first frame, their offset and any step. */
  clock?: LiveClockFacts;
  /** This node's wall clock stepped against its monotonic clock since the chunk before (ms). */
  hostClockStepMs?: number;
}

export interface ChunkFacts {
  source: SourceConfig;
  sequence: number;
  placement: ChunkPlacement;
  clockSync: ChunkMetadata['clockSync'];
  container: ChunkContainer;
  /** What the chunk's own bytes say (its boxes or elements). */
  info: ChunkInspection;
  recording: ChunkRecordingFacts;
  bytes: number;
  crc32c: string;
  nodeId: string;
}

/**
 * The chunk's metadata, decided once. Its duration is the video track's own (frames times frame
 * durations), because the segment list's times are off by a couple of frames with B-frames.
 */
export function buildChunkMetadata(facts: ChunkFacts): ChunkMetadata {
  const { info, recording } = facts;
  const metadata: ChunkMetadata = {
    sourceId: facts.source.id,
    sequence: facts.sequence,
    startTime: new Date(facts.placement.startMs).toISOString(),
    durationMs: info.durationMs,
    frameCount: info.frameCount,
    frameRate: info.frameRate,
    bytes: facts.bytes,
    crc32c: facts.crc32c,
    container: facts.container,
    codec: info.codec,
    width: info.width,
    height: info.height,
    mode: facts.source.mode,
    clock: facts.placement.clock,
    clockSync: facts.clockSync,
    recordedBy: facts.nodeId,
  };
  if (recording.pixelFormat !== undefined) metadata.pixelFormat = recording.pixelFormat;
  if (recording.audio !== undefined) metadata.audio = recording.audio;
  if (recording.dropped !== undefined) metadata.dropped = recording.dropped;
  if (recording.transport !== undefined) metadata.transport = recording.transport;
  if (recording.packetsLost !== undefined) metadata.packetsLost = recording.packetsLost;
  const clock = recording.clock;
  if (clock !== undefined) {
    for (const key of ['hostTime', 'cameraTime', 'cameraTimeSource', 'clockOffsetMs', 'cameraClockStepMs'] as const) {
      if (clock[key] !== undefined) Object.assign(metadata, { [key]: clock[key] });
    }
  }
  if (recording.hostClockStepMs !== undefined) metadata.hostClockStepMs = recording.hostClockStepMs;
  return metadata;
}
