import type { ChunkClock } from '@crispy-streamer/shared';
import type { SegmentListEntry } from '../recorder/segment-list.js';
import type { SourceKind } from '../source/source-config.js';

/** Where a chunk sits in time: its first frame's UTC instant (epoch ms) and the clock that says so. */
export interface ChunkPlacement {
  startMs: number;
  clock: ChunkClock;
  /** Where its first frame sits in the source's media, in seconds from the start (files: from the file's start). */
  mediaStartSeconds?: number;
  /** When ffmpeg finished writing it, on this node's clock (its listing, or a recovered file's modification time). */
  writtenAtMs?: number;
}

/**
 * One ffmpeg run's timeline, decided from what ffmpeg said and when. Pure: the caller feeds it
 * facts (times it observed, lines it parsed) and asks where each listed chunk starts.
 *
 * - A file with a `creation_time` starts then; without one, it was finished when it was last
 *   written, so it started its duration before that (`clock: file`). Ingest time would say
 *   nothing about the footage.
 * - Anything else is placed on this node's clock (`clock: host`). A live camera is anchored on its
 *   first chunk: ffmpeg lists a chunk the moment the packet that ends it arrives.
 */
export class RecordingClock {
  private outputOpenedMs: number | undefined;
  private fileCreationMs: number | undefined;
  private fileDurationMs: number | undefined;
  /** How far ffmpeg's list times run ahead of the media, measured on the first chunk. */
  private listOffsetSeconds: number | undefined;
  /** A live recording's media time 0 on the host clock, from its first chunk. */
  private liveStartMs: number | undefined;

  constructor(
    private readonly kind: SourceKind,
    /** When ffmpeg was started: the host-clock fallback if it never says it opened its output. */
    private readonly spawnedAtMs: number,
    /** The file's modification time, for a local file. */
    private readonly fileModifiedMs: number | undefined,
    /** Where in the file this run starts (a resumed file), in seconds of media. */
    private readonly mediaOffsetSeconds = 0,
  ) {}

  /** ffmpeg printed `Output #0`: it has its first packet and opened the output. */
  noteOutputOpened(atMs: number): void {
    this.outputOpenedMs ??= atMs;
  }

  noteFileCreationTime(ms: number): void {
    if (this.kind === 'file') this.fileCreationMs ??= ms;
  }

  noteFileDuration(ms: number): void {
    if (this.kind === 'file') this.fileDurationMs ??= ms;
  }

  private fileStartMs(): number | undefined {
    if (this.fileCreationMs !== undefined) return this.fileCreationMs;
    if (this.fileModifiedMs !== undefined && this.fileDurationMs !== undefined) return this.fileModifiedMs - this.fileDurationMs;
    return undefined;
  }

  /** Where the chunk ffmpeg listed at `listedAtMs` starts; its media length comes from its own boxes. */
  placeChunk(entry: SegmentListEntry, mediaDurationMs: number, listedAtMs: number): ChunkPlacement {
    const fileStartMs = this.fileStartMs();
    if (fileStartMs === undefined && this.kind === 'rtsp') return this.placeLiveChunk(entry, mediaDurationMs, listedAtMs);
    this.listOffsetSeconds ??= listOffsetFromFirstChunk(entry, mediaDurationMs);
    const mediaStartSeconds = this.mediaOffsetSeconds + Math.max(0, entry.startSeconds - this.listOffsetSeconds);
    if (fileStartMs !== undefined) return { startMs: Math.round(fileStartMs + mediaStartSeconds * 1000), clock: 'file', mediaStartSeconds };
    return { startMs: Math.round((this.outputOpenedMs ?? this.spawnedAtMs) + mediaStartSeconds * 1000), clock: 'host', mediaStartSeconds };
  }

  /**
   * ffmpeg's segment list counts from the stream's first packet, so the recording's time 0 is at
   * most the first chunk's listing time less its listed end (and at most the moment ffmpeg opened
   * its output, which comes after probing). The first chunk begins at the first keyframe, which can
   * arrive seconds after the first packet while the list still says 0: it started its media length
   * before its end. Later chunks start where the list says, on the same anchor, so they tile.
   */
  private placeLiveChunk(entry: SegmentListEntry, mediaDurationMs: number, listedAtMs: number): ChunkPlacement {
    let startSeconds = entry.startSeconds;
    if (this.liveStartMs === undefined) {
      this.liveStartMs = Math.min(this.outputOpenedMs ?? this.spawnedAtMs, Math.round(listedAtMs - entry.endSeconds * 1000));
      startSeconds = Math.max(entry.startSeconds, entry.endSeconds - mediaDurationMs / 1000);
    }
    return { startMs: Math.round(this.liveStartMs + startSeconds * 1000), clock: 'host', mediaStartSeconds: startSeconds, writtenAtMs: listedAtMs };
  }
}

/**
 * With B-frames the first chunk of a recording carries an empty edit of a few frames, and every
 * later list time is shifted by it: the shift is the first chunk's listed length beyond its media.
 */
export function listOffsetFromFirstChunk(entry: SegmentListEntry, mediaDurationMs: number): number {
  const listedSeconds = entry.endSeconds - entry.startSeconds;
  const offset = listedSeconds - mediaDurationMs / 1000;
  // Only a small positive shift is an edit delay; anything else is not ours to correct.
  return offset > 0 && offset < 1 ? offset : 0;
}
