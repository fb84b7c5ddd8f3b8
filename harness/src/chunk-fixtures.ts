import { crc32cBase64, type ChunkMetadata } from '@crispy-streamer/shared';

// The chunk metadata tests start from: a 3 s 720p30 H.264 chunk of cam0, recorded by edge-1.
// A test states only what it is about.

export function chunkMetadata(overrides: Partial<ChunkMetadata> = {}): ChunkMetadata {
  return {
    sourceId: 'cam0',
    sequence: 42,
    startTime: '2026-11-23T09:32:49.123Z',
    durationMs: 3000,
    frameCount: 90,
    frameRate: 30,
    bytes: 123456,
    crc32c: '4waSgw==',
    container: 'mp4',
    codec: 'h264',
    width: 1280,
    height: 720,
    mode: 'copy',
    clock: 'host',
    clockSync: 'synchronised',
    recordedBy: 'edge-1',
    ...overrides,
  };
}

/** The metadata of a chunk holding exactly these bytes: its size and CRC32C are theirs. */
export function chunkMetadataOf(bytes: Uint8Array, overrides: Partial<ChunkMetadata> = {}): ChunkMetadata {
  return chunkMetadata({ bytes: bytes.byteLength, crc32c: crc32cBase64(bytes), ...overrides });
}
