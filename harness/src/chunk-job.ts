import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { chunkMetadata } from './chunk-fixtures.js';
import {
  CHUNK_JOB_NAME,
  chunkFilePath,
  chunkJobId,
  crc32cUpdate,
  crc32cValueToBase64,
  jobDataPath,
  makeJobData,
  serializeJobData,
  type ChunkJobData,
} from '@crispy-streamer/shared';

// A chunk of any size in a spool, queued the way stream-handle queues it (job id, sidecar, retry
// policy), without recording video: the upload worker treats a chunk's bytes as opaque, and a test of
// a 40 MB or 200 MB upload should not spend its time in ffmpeg.

export interface SyntheticChunk {
  job: ChunkJobData;
  /** Where the chunk lies in the spool (the spool layout's path for it). */
  spoolPath: string;
  jobId: string;
  /** CRC32C of the file as written, base64 big-endian (Cloud Storage's form). */
  crc32c: string;
}

/** Writes `bytes` random bytes as SPOOL/SOURCE/SOURCE-SEQUENCE.mp4 (1 MiB at a time) with its job data beside it. */
export async function writeSyntheticChunk(spoolDir: string, sourceId: string, sequence: number, bytes: number): Promise<SyntheticChunk> {
  await mkdir(join(spoolDir, sourceId), { recursive: true });
  const spoolPath = chunkFilePath(spoolDir, { sourceId, sequence, container: 'mp4' });
  const out = createWriteStream(spoolPath);
  let crc = 0;
  for (let written = 0; written < bytes;) {
    const piece = randomBytes(Math.min(1024 * 1024, bytes - written));
    crc = crc32cUpdate(crc, piece);
    written += piece.byteLength;
    if (!out.write(piece)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  const checksum = crc32cValueToBase64(crc);
  const job = makeJobData(
    chunkMetadata({
      sourceId,
      sequence,
      startTime: new Date(Date.UTC(2026, 0, 2, 3, 4, 5) + sequence * 3000).toISOString(),
      bytes,
      crc32c: checksum,
      recordedBy: 'test',
    }),
    undefined,
  );
  await writeFile(jobDataPath(spoolPath), serializeJobData(job));
  return { job, spoolPath, jobId: chunkJobId(sourceId, sequence), crc32c: checksum };
}

/** Queues the chunk with stream-handle's options (attempts, exponential backoff). */
export async function enqueueChunk(
  redisUrl: string,
  chunk: SyntheticChunk,
  options: { attempts?: number; backoffMs?: number; queueName?: string } = {},
): Promise<void> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<ChunkJobData>(options.queueName ?? 'chunks', { connection });
  try {
    await queue.add(CHUNK_JOB_NAME, chunk.job, {
      jobId: chunk.jobId,
      attempts: options.attempts ?? 12,
      backoff: { type: 'exponential', delay: options.backoffMs ?? 1000, jitter: 0.5 },
      removeOnFail: false,
    });
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
