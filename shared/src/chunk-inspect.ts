import type { ChunkContainer } from './chunk.js';
import { MatroskaIncompleteError, NotMatroskaError, inspectMatroskaBuffer, type MatroskaInfo } from './matroska-inspect.js';
import { Mp4IncompleteError, NotMp4Error, inspectMp4Buffer, type Mp4Info } from './mp4-inspect.js';

/** What a chunk's own bytes say, whatever its container: MP4 through its boxes, Matroska/WebM through its elements. */
export type ChunkInspection = Mp4Info | MatroskaInfo;

/** Inspects a whole chunk in memory by its container; throws as the container's reader does. */
export async function inspectChunkBuffer(bytes: Uint8Array, container: ChunkContainer): Promise<ChunkInspection> {
  if (container === 'mp4') return inspectMp4Buffer(bytes);
  const info = inspectMatroskaBuffer(bytes);
  if (info.container !== container) throw new MatroskaIncompleteError('malformed', `the file is ${info.docType}, its name says ${container}`);
  return info;
}

/** The file is not finished (yet): ffmpeg may still be closing it. */
export function isIncompleteChunkError(error: unknown): error is Mp4IncompleteError | MatroskaIncompleteError {
  return error instanceof Mp4IncompleteError || error instanceof MatroskaIncompleteError;
}

/** The bytes are not a whole chunk of their container, and reading them again will not change that soon. */
export function isChunkContentError(error: unknown): boolean {
  return isIncompleteChunkError(error) || error instanceof NotMp4Error || error instanceof NotMatroskaError;
}
