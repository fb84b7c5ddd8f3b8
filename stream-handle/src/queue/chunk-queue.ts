import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CHUNK_JOB_NAME, chunkJobId, type ChunkJobData } from '@crispy-streamer/shared';

export interface ChunkQueue {
  /** `exists` when a job for this chunk is already in Redis (queued, running, failed or done). */
  enqueue(job: ChunkJobData): Promise<'added' | 'exists'>;
  /** Takes a chunk's job off the queue unless a worker is uploading it right now. */
  removeUnlessActive(sourceId: string, sequence: number): Promise<'removed' | 'absent' | 'active'>;
  close(): Promise<void>;
}

export interface ChunkQueueSettings {
  queueName: string;
  attempts: number;
  backoffMs: number;
  /**
   * The queue's own errors (Redis refusing the password, connection lost). Without a listener
   * BullMQ prints them to the console itself, the Redis AUTH command's arguments included.
   */
  onError: (error: Error) => void;
}

/** BullMQ queue of chunks to upload. The job id makes a second enqueue of a chunk a no-op. */
export function createChunkQueue(connection: Redis, settings: ChunkQueueSettings): ChunkQueue {
  const queue = new Queue<ChunkJobData>(settings.queueName, { connection });
  queue.on('error', settings.onError);
  return {
    async enqueue(job) {
      const jobId = chunkJobId(job.metadata.sourceId, job.metadata.sequence);
      if ((await queue.getJob(jobId)) !== undefined) return 'exists';
      await queue.add(CHUNK_JOB_NAME, job, {
        jobId,
        attempts: settings.attempts,
        backoff: { type: 'exponential', delay: settings.backoffMs, jitter: 0.5 },
        // Keep a day of finished jobs for Bull Board; failed jobs stay until someone acts.
        removeOnComplete: { age: 24 * 3600, count: 50_000 },
        removeOnFail: false,
      });
      return 'added';
    },
    async removeUnlessActive(sourceId, sequence) {
      const job = await queue.getJob(chunkJobId(sourceId, sequence));
      if (job === undefined) return 'absent';
      if ((await job.getState()) === 'active') return 'active';
      try {
        await job.remove();
        return 'removed';
      } catch {
        // Locked: a worker picked it up in the meantime.
        return 'active';
      }
    },
    async close() {
      await queue.close();
    },
  };
}
