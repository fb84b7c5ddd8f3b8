import type { RangeReader } from '@crispy-streamer/shared';
import { describeHead, UnreadableChunkError, type ChunkReadout, type ContainerReader } from './decoder-input.js';
import { matroskaReader } from './matroska-reader.js';
import { mp4Reader } from './mp4-reader.js';

/** One reader per container, picked by the file's first bytes. */
export const CONTAINER_READERS: readonly ContainerReader[] = [mp4Reader, matroskaReader];

/**
 * Picks the container reader by the file's first bytes and lets it read the chunk. Bytes that no
 * reader recognises are refused before anything interprets them.
 */
export async function readChunk(read: RangeReader, size: number, readers: readonly ContainerReader[] = CONTAINER_READERS): Promise<ChunkReadout> {
  if (size === 0) throw new UnreadableChunkError('incomplete', 'the object is empty');
  const head = await read(0, Math.min(16, size));
  const reader = readers.find((candidate) => candidate.recognises(head));
  if (reader === undefined) {
    throw new UnreadableChunkError('not-a-video-container', `not a video container: the object holds ${describeHead(head)}`);
  }
  return reader.read(read, size);
}
