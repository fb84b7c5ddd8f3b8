import type { ChunkMetadata, Mp4Info } from '@crispy-streamer/shared';
import type { SourceConfig } from './source-config.js';
import type { SegmentListEntry } from './segment-list.js';

export interface ChunkFacts {
  source: SourceConfig;
  sequence: number;
  entry: SegmentListEntry;
  /** Wall-clock time of the recording's first frame (epoch ms). */
  recordingStartMs: number;
  recordingClock: ChunkMetadata['clock'];
  clockSync: ChunkMetadata['clockSync'];
  /**
   * How far ffmpeg's segment times run ahead of the media: with B-frames the first chunk of a
   * recording carries an empty edit of a few frames, and every later list time is shifted by it.
   */
  timelineOffsetSeconds: number;
  mp4: Mp4Info;
  bytes: number;
  crc32c: string;
  nodeId: string;
}

/**
 * The chunk's metadata, decided once. Its start is the recording's start plus ffmpeg's segment
 * start time; its duration is the video track's own (frames times frame durations), because the
 * segment list's times are off by a couple of frames when the stream has B-frames.
 */
export function buildChunkMetadata(facts: ChunkFacts): ChunkMetadata {
  const mediaStartSeconds = Math.max(0, facts.entry.startSeconds - facts.timelineOffsetSeconds);
  const startMs = Math.round(facts.recordingStartMs + mediaStartSeconds * 1000);
  return {
    sourceId: facts.source.id,
    sequence: facts.sequence,
    startTime: new Date(startMs).toISOString(),
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
    clock: facts.recordingClock,
    clockSync: facts.clockSync,
    recordedBy: facts.nodeId,
  };
}

/** The shift measured on a recording's first chunk: its listed length beyond its media length. */
export function timelineOffsetFromFirstChunk(entry: SegmentListEntry, mediaDurationMs: number): number {
  const listedSeconds = entry.endSeconds - entry.startSeconds;
  const offset = listedSeconds - mediaDurationMs / 1000;
  // Only a small positive shift is an edit delay; anything else is not ours to correct.
  return offset > 0 && offset < 1 ? offset : 0;
}

/**
 * Where a live recording's chunk sits on the host clock. ffmpeg's segment list counts from the
 * stream's first packet, and lists a chunk the moment the packet that ends it arrives; so the
 * recording's time 0 is at most the first chunk's listing time less its listed end (and at most
 * the moment ffmpeg opened its output, which comes after probing). The first chunk begins at the
 * first keyframe, which can arrive seconds after the first packet while the list still says 0: it
 * started its media length before its end. Later chunks start where the list says.
 * `recordingStartMs` is undefined for the recording's first chunk and the returned value after.
 */
export function liveChunkTiming(
  recordingStartMs: number | undefined,
  entry: SegmentListEntry,
  mediaDurationMs: number,
  outputOpenedMs: number,
  listedAtMs: number,
): { recordingStartMs: number; entry: SegmentListEntry } {
  if (recordingStartMs !== undefined) return { recordingStartMs, entry };
  return {
    recordingStartMs: Math.min(outputOpenedMs, Math.round(listedAtMs - entry.endSeconds * 1000)),
    entry: { ...entry, startSeconds: Math.max(entry.startSeconds, entry.endSeconds - mediaDurationMs / 1000) },
  };
}
