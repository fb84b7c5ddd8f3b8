import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, type BackoffPolicy, type ChunkJobData, type Logger, type RecorderMetrics } from '@crispy-streamer/shared';
import type { ChunkQueue } from '../queue/chunk-queue.js';

/** Queueing retries while Redis is away: 1 s doubling to 30 s. */
export const ENQUEUE_RETRY: BackoffPolicy = { minDelayMs: 1000, maxDelayMs: 30_000, jitter: 0.2 };

/**
 * Hands finalised chunks to the queue, in order, behind finalisation and never in its way: while
 * Redis is down, chunks keep being finalised (their job data already in the spool) and wait here.
 */
export class EnqueuePipeline {
  private tail: Promise<void> = Promise.resolve();
  private waitingCount = 0;
  private stopped = false;
  private readonly wakeUp = new AbortController();

  constructor(
    private readonly deps: {
      queue: ChunkQueue;
      logger: Logger;
      metrics?: RecorderMetrics;
      retry?: BackoffPolicy;
      /** A line per chunk queued, with what it holds. */
      onQueued?: (job: ChunkJobData, message: string) => void;
    },
  ) {}

  /** Chunks finalised and not yet taken by the queue (also those given up at stop: they wait in the spool). */
  get waiting(): number {
    return this.waitingCount;
  }

  schedule(job: ChunkJobData, message: string): void {
    const source = job.metadata.sourceId;
    this.waitingCount++;
    this.deps.metrics?.waitingToQueue.inc({ source });
    this.tail = this.tail.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.deps.queue.enqueue(job);
          this.waitingCount--;
          this.deps.metrics?.waitingToQueue.dec({ source });
          this.deps.metrics?.chunksEnqueued.inc({ source });
          this.deps.onQueued?.(job, message);
          return;
        } catch (error) {
          if (this.stopped) {
            // Still waiting, in the spool: the next start queues it.
            this.deps.logger.warn({ err: error, source, sequence: job.metadata.sequence }, 'could not queue chunk before stopping; it stays in the spool');
            return;
          }
          const delayMs = backoffDelayMs(attempt, this.deps.retry ?? ENQUEUE_RETRY);
          this.deps.logger.error(
            { err: error, source, sequence: job.metadata.sequence, attempt, retryInMs: delayMs },
            'could not queue chunk; it is safe in the spool, retrying',
          );
          await sleep(delayMs, undefined, { signal: this.wakeUp.signal }).catch(() => undefined);
        }
      }
    });
  }

  /** Resolves once every chunk scheduled so far was queued, or given up at stop. */
  drained(): Promise<void> {
    return this.tail;
  }

  /** No more waiting between retries: each chunk gets one last try, then stays in the spool. */
  stop(): void {
    this.stopped = true;
    this.wakeUp.abort();
  }
}
