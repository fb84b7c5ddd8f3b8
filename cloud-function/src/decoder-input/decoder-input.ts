import type { ChunkContainer, ChunkInspection, RangeReader } from '@crispy-streamer/shared';

// What the frame decoder is handed: one keyframe, built in Node from bytes the function read
// itself: a raw elementary stream (H.264, H.265) or a one-frame Matroska file of our own making
// (VP9 and its alpha plane, AV1, FFV1, MJPEG...). The decoder never opens a URL or the stored
// container; each container (MP4, Matroska/WebM) has a reader that turns a stored chunk into this.

/** What the decoder is handed, by ffmpeg demuxer name. */
export type ElementaryStreamFormat = 'h264' | 'hevc' | 'matroska';

export interface DecoderInput {
  format: ElementaryStreamFormat;
  /** One keyframe: with the parameter sets in front (Annex B), or as a one-frame Matroska file. */
  bytes: Uint8Array;
  /**
   * The ffmpeg decoder to use instead of the default: `libvpx-vp9` (`libvpx` for VP8) decodes the
   * alpha plane, which ffmpeg's own VP9 decoder ignores.
   */
  decoder?: string;
  /**
   * The stream is monochrome though the decoder presents it as 4:2:0 with flat chroma (ffmpeg's
   * H.264 decoder does so for 4:0:0): the picture is written grey, one channel, as it is.
   */
  monochrome?: boolean;
}

/** A chunk as one container reader saw it: the container's own account, and the first keyframe. */
export interface ChunkReadout {
  container: ChunkContainer;
  info: ChunkInspection;
  input: DecoderInput;
}

/** Reads a stored chunk of one container kind through byte ranges. */
export interface ContainerReader {
  /** The container it reads (Matroska's reader reads WebM too). */
  readonly container: ChunkReadout['container'];
  /** True when the file's first bytes say it is this container. */
  recognises(head: Uint8Array): boolean;
  read(read: RangeReader, size: number): Promise<ChunkReadout>;
}

export type UnreadableReason = 'not-a-video-container' | 'incomplete' | 'malformed' | 'unsupported';

/**
 * The stored bytes are not a chunk we can describe, and reading them again will not change that:
 * not an MP4 at all (an HLS playlist named .mp4, random bytes), cut short, inconsistent, or a codec
 * we do not decode. The notification is acknowledged with an error line.
 */
export class UnreadableChunkError extends Error {
  override readonly name = 'UnreadableChunkError';
  constructor(
    readonly reason: UnreadableReason,
    message: string,
  ) {
    super(message);
  }
}

/** What the first bytes look like, for the error line when no reader recognises them. */
export function describeHead(head: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head.subarray(0, 16));
  if (text.startsWith('#EXTM3U')) return 'an HLS playlist (#EXTM3U)';
  const printable = /^[\x20-\x7e\t\r\n]{4,}/.test(text);
  if (printable) return `text starting ${JSON.stringify(text.slice(0, 16))}`;
  return `bytes ${Buffer.from(head.subarray(0, 8)).toString('hex')}`;
}
