import { stat, unlink } from 'node:fs/promises';
import { chunkContentType, chunkObjectName, toObjectMetadata, type ChunkJobData } from '@crispy-streamer/shared';
import { SourceMismatchError, type ObjectStore, type PutOptions } from './storage/object-store.js';

export interface UploadResult {
  objectName: string;
  generation: string;
  outcome: 'created' | 'already-present';
  bytes: number;
  /** The upload continued a session an earlier attempt had started. */
  resumedSession?: boolean;
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
  /** The file's size, or undefined when there is no such file. */
  size(path: string): Promise<number | undefined>;
  /** Removes the chunk and its job data once the bucket holds it. */
  remove(path: string): Promise<void>;
}

export const spoolFiles: SpoolFiles = {
  async size(path) {
    try {
      return (await stat(path)).size;
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
 * never taken from the job). The file is streamed from the spool, never held whole in memory; the
 * store checks it against the recorded size and CRC32C as it reads it (and the bucket checks the
 * CRC32C we declare), stores it create-only, and the file is deleted from the spool only after the
 * bucket confirmed it.
 */
export async function uploadChunk(
  job: ChunkJobData,
  spoolPath: string,
  store: ObjectStore,
  prefix: string,
  files: SpoolFiles,
  options: PutOptions = {},
): Promise<UploadResult> {
  const { metadata } = job;
  const objectName = chunkObjectName(prefix, metadata);
  const size = await files.size(spoolPath);

  if (size === undefined) {
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
  // The size costs nothing to check; the CRC32C is checked in the read that uploads the file.
  if (size !== metadata.bytes) throw new ChunkCorruptError(spoolPath, `${size} bytes, recorded ${metadata.bytes}`);

  let result;
  try {
    result = await store.put(
      {
        name: objectName,
        source: { path: spoolPath, size: metadata.bytes, crc32c: metadata.crc32c },
        contentType: chunkContentType(metadata.container),
        // The evidence record travels beside the chunk's metadata, exactly as the recorder made it.
        metadata: { ...toObjectMetadata(metadata), ...job.evidence },
      },
      options,
    );
  } catch (error) {
    if (error instanceof SourceMismatchError) throw new ChunkCorruptError(spoolPath, error.detail);
    throw error;
  }
  await files.remove(spoolPath);
  return {
    objectName,
    generation: result.generation,
    outcome: result.outcome,
    bytes: metadata.bytes,
    ...(result.resumedSession === true ? { resumedSession: true } : {}),
  };
}
