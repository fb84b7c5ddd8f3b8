import type { Mp4Info, RangeReader } from '@crispy-streamer/shared';

// What the frame decoder is handed: one keyframe as a raw elementary stream, built in Node from
// bytes the function read itself. The decoder never opens a URL or a container; each container
// (MP4 today, Matroska/WebM later) has a reader that turns a stored chunk into this.

/** Raw elementary streams the decoder accepts, by ffmpeg demuxer name. */
export type ElementaryStreamFormat = 'h264' | 'hevc';

export interface DecoderInput {
  format: ElementaryStreamFormat;
  /** One keyframe with the parameter sets in front, Annex B. */
  bytes: Uint8Array;
}

/** A chunk as one container reader saw it: the container's own account, and the first keyframe. */
export interface ChunkReadout {
  container: 'mp4';
  info: Mp4Info;
  input: DecoderInput;
}

/** Reads a stored chunk of one container kind through byte ranges. */
export interface ContainerReader {
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
