import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { chunkFilePath, parseJobData, type ChunkJobData, type Logger, errorMessage } from '@crispy-streamer/shared';
import { withProgressTimeout } from './progress-watchdog.js';
import type { ObjectStore } from './storage/object-store.js';
import { classifyUploadFailure, type OutageBackoff } from './upload-failure.js';
import { uploadChunk, type SpoolFiles, type UploadResult } from './upload-chunk.js';

export interface ChunkProcessorDeps {
  store: ObjectStore;
  prefix: string;
  /** The spool as this worker sees it: the only folder chunks are read from. */
  spoolDir: string;
  files: SpoolFiles;
  outage: OutageBackoff;
  /** Pauses every worker on the queue for this long (BullMQ's rate limit). */
  pauseQueue(delayMs: number): Promise<void>;
  /** An attempt that makes no progress for this long is abandoned as a storage outage. */
  progressTimeoutMs: number;
  logger: Logger;
  /** Seconds one successful attempt took. */
  observeUpload?(sourceId: string, seconds: number): void;
}

/** What a BullMQ worker runs for each chunk job: one upload attempt, and what its failure means. */
export function createChunkProcessor(deps: ChunkProcessorDeps): (job: Job<ChunkJobData, UploadResult>) => Promise<UploadResult> {
  const { logger, outage } = deps;
  return async (job) => {
    // Anyone who can write to Redis can add a job: only valid chunk job data is acted on, and the
    // file is the spool's own chunk of that source and sequence, whatever else the job says.
    let data: ChunkJobData;
    let spoolPath: string;
    try {
      data = parseJobData(job.data, `job ${job.id ?? '?'}`);
      spoolPath = chunkFilePath(deps.spoolDir, data.metadata);
    } catch (error) {
      throw new UnrecoverableError(errorMessage(error));
    }
    const { metadata } = data;
    const attemptStarted = Date.now();
    try {
      const result = await withProgressTimeout(
        ({ signal, progress }) => uploadChunk(data, spoolPath, deps.store, deps.prefix, deps.files, { signal, onProgress: progress }),
        deps.progressTimeoutMs,
        () =>
          `upload made no progress for ${deps.progressTimeoutMs} ms (storage unreachable, stalled or hanging): abandoned; the next attempt continues its session`,
      );
      deps.observeUpload?.(metadata.sourceId, (Date.now() - attemptStarted) / 1000);
      const outageFailures = outage.recovered();
      if (outageFailures > 0) logger.info({ failedAttempts: outageFailures }, 'storage is back: draining the backlog, oldest first');
      return result;
    } catch (error) {
      const fields = { err: error, source: metadata.sourceId, sequence: metadata.sequence, attempt: job.attemptsMade + 1 };
      switch (classifyUploadFailure(error)) {
        case 'storage-unavailable': {
          // Pause every worker on the queue and put this job back in line, without spending one
          // of its attempts: an outage says nothing about the chunk.
          const { delayMs, started } = outage.next();
          await deps.pauseQueue(delayMs);
          if (started) logger.error({ ...fields, pauseMs: delayMs }, 'storage unavailable: uploads paused, the backlog waits in the spool');
          else logger.warn({ ...fields, pauseMs: delayMs }, 'storage still unavailable');
          throw Worker.RateLimitError();
        }
        case 'permanent':
          // Retrying cannot fix these; the file stays on disk and the job in the failed set.
          throw new UnrecoverableError(errorMessage(error));
        case 'corrupted-upload':
          logger.error(fields, 'corrupted upload: the bucket refused bytes that reached it damaged; nothing was stored, the upload is retried');
          throw error;
        case 'chunk-failure':
          throw error;
      }
    }
  };
}
