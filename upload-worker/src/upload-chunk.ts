import { readFile, unlink } from 'node:fs/promises';
import { chunkContentType, chunkObjectName, crc32cBase64, toObjectMetadata, type ChunkJobData } from '@crispy-streamer/shared';
import type { ObjectStore } from './storage/object-store.js';

export interface UploadResult {
  objectName: string;
  generation: string;
  outcome: 'created' | 'already-present';
  bytes: number;
}

/** The job's file is not where the job says: this worker does not see the recorder's spool. */
export class SpoolFileMissingError extends Error {
  constructor(readonly spoolPath: string) {
    super(
      `chunk file ${spoolPath} is not visible to this worker: mount the recorder's spool volume at the same path. ` +
        'The chunk stays recoverable on the recorder; retry the job once the spool is shared.',
    );
    this.name = 'SpoolFileMissingError';
  }
}

/** The file on disk is not the chunk that was recorded (bit rot, or something rewrote it). */
export class ChunkCorruptError extends Error {
  constructor(spoolPath: string, detail: string) {
    super(`chunk file ${spoolPath} no longer matches what was recorded (${detail}): not uploaded, left on disk`);
    this.name = 'ChunkCorruptError';
  }
}

export interface SpoolFiles {
  read(path: string): Promise<Buffer | undefined>;
  /** Removes the chunk and its job data once the bucket holds it. */
  remove(path: string): Promise<void>;
}

export const spoolFiles: SpoolFiles = {
  async read(path) {
    try {
      return await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  },
  async remove(path) {
    await unlink(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await unlink(`${path}.json`).catch(() => undefined);
  },
};

/**
 * Uploads one chunk exactly once, from `spoolPath` (derived from the chunk by the spool layout,
 * never taken from the job). The bytes are checked against the recorded size and CRC32C,
 * stored create-only, and deleted from the spool only after the bucket confirmed them.
 */
export async function uploadChunk(job: ChunkJobData, spoolPath: string, store: ObjectStore, prefix: string, files: SpoolFiles): Promise<UploadResult> {
  const { metadata } = job;
  const objectName = chunkObjectName(prefix, metadata);
  const bytes = await files.read(spoolPath);

  if (bytes === undefined) {
    // A retry after an upload whose completion was lost: the bucket has it, the file is gone.
    const stored = await store.head(objectName);
    if (stored !== undefined && stored.crc32c === metadata.crc32c && stored.size === metadata.bytes) {
      // The job data may have outlived the chunk file: without this it would look like a chunk
      // still waiting for upload.
      await files.remove(spoolPath);
      return { objectName, generation: stored.generation, outcome: 'already-present', bytes: stored.size };
    }
    throw new SpoolFileMissingError(spoolPath);
  }
  if (bytes.byteLength !== metadata.bytes) throw new ChunkCorruptError(spoolPath, `${bytes.byteLength} bytes, recorded ${metadata.bytes}`);
  const crc32c = crc32cBase64(bytes);
  if (crc32c !== metadata.crc32c) throw new ChunkCorruptError(spoolPath, `crc32c ${crc32c}, recorded ${metadata.crc32c}`);

  const result = await store.put({
    name: objectName,
    bytes,
    contentType: chunkContentType(metadata.container),
    // The evidence record travels beside the chunk's metadata, exactly as the recorder made it.
    metadata: { ...toObjectMetadata(metadata), ...job.evidence },
    crc32c,
  });
  await files.remove(spoolPath);
  return { objectName, generation: result.generation, outcome: result.outcome, bytes: bytes.byteLength };
}
