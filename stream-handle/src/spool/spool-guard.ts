import { appendFile, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DROPPED_LOG_FILE,
  SOURCE_ID_PATTERN,
  chunkFilePath,
  chunkOfJobDataFile,
  jobDataPath,
  parseJobDataText,
  type ChunkJobData,
  type Logger,
  type RecorderMetrics,
} from '@crispy-streamer/shared';
import type { ChunkQueue } from '../queue/chunk-queue.js';
import { chooseChunksToDrop, decideSpoolAction, type SpoolLimits } from './spool-policy.js';
import { measureSpool, type SpoolUsage } from './spool-usage.js';

export interface PausableSource {
  pause(reason: string): Promise<void>;
  resume(): void;
  readonly paused: boolean;
}

/** A chunk waiting in the spool, as the guard finds it. */
interface WaitingChunk {
  job: ChunkJobData;
  chunkPath: string;
  jobDataPath: string;
}

/** Checks the spool every few seconds and applies the configured policy when it is full. */
export class SpoolGuard {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly deps: {
      spoolDir: string;
      limits: SpoolLimits;
      sources: PausableSource[];
      queue: ChunkQueue;
      logger: Logger;
      metrics?: RecorderMetrics;
      intervalMs: number;
      /** How often chunks waiting in the spool are queued again, in case Redis lost their jobs. */
      reconcileMs: number;
      measure?: (spoolDir: string) => Promise<SpoolUsage>;
      /** Told every measurement (the fleet status and metrics show it). */
      onMeasured?: (usage: SpoolUsage) => void;
    },
  ) {}

  private reconcileTimer: NodeJS.Timeout | undefined;

  start(): void {
    this.timer = setInterval(() => void this.check(), this.deps.intervalMs);
    this.timer.unref();
    this.reconcileTimer = setInterval(() => void this.requeueWaiting(), this.deps.reconcileMs);
    this.reconcileTimer.unref();
    void this.check();
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.reconcileTimer);
  }

  /**
   * A Redis that crashed (AOF fsyncs once a second) or was flushed can lose jobs whose chunks are
   * still in the spool. Queueing a chunk again is harmless (its job id is fixed), so every chunk
   * that has waited longer than one interval is queued again.
   */
  async requeueWaiting(): Promise<void> {
    try {
      const olderThan = Date.now() - this.deps.reconcileMs;
      let requeued = 0;
      for (const { job, jobDataPath: path } of await this.waitingChunks()) {
        const queuedAt = await stat(path).then(
          (info) => info.mtimeMs,
          () => Date.now(),
        );
        if (queuedAt > olderThan) continue;
        if ((await this.deps.queue.enqueue(job)) === 'added') requeued++;
      }
      if (requeued > 0) this.deps.logger.warn({ requeued }, 'chunks waiting in the spool had lost their jobs (Redis restarted?): queued again');
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'could not reconcile the spool with the queue; will try again');
    }
  }

  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const usage = await (this.deps.measure ?? measureSpool)(this.deps.spoolDir);
      this.deps.onMeasured?.(usage);
      const paused = this.deps.sources.some((source) => source.paused);
      const action = decideSpoolAction(usage, this.deps.limits, paused);
      if (action.kind === 'pause') await Promise.all(this.deps.sources.map((source) => source.pause(action.reason)));
      else if (action.kind === 'resume') for (const source of this.deps.sources) source.resume();
      else if (action.kind === 'drop') await this.dropOldest(action.bytesToFree, action.reason);
    } catch (error) {
      this.deps.logger.error({ err: error, spoolDir: this.deps.spoolDir }, 'could not check the spool');
    } finally {
      this.checking = false;
    }
  }

  /** Every chunk with readable job data in every source folder; the recorder deals with the rest. */
  private async waitingChunks(): Promise<WaitingChunk[]> {
    const chunks: WaitingChunk[] = [];
    for (const entry of await readdir(this.deps.spoolDir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !SOURCE_ID_PATTERN.test(entry.name)) continue;
      const dir = join(this.deps.spoolDir, entry.name);
      for (const name of await readdir(dir)) {
        if (chunkOfJobDataFile(entry.name, name) === undefined) continue;
        const path = join(dir, name);
        const text = await readFile(path, 'utf8').catch(() => undefined);
        if (text === undefined) continue;
        try {
          const job = parseJobDataText(text, path);
          chunks.push({ job, jobDataPath: path, chunkPath: chunkFilePath(this.deps.spoolDir, job.metadata) });
        } catch {
          // Unreadable job data is the source's to put right when it next starts.
        }
      }
    }
    return chunks;
  }

  private async dropOldest(bytesToFree: number, reason: string): Promise<void> {
    const candidates = (await this.waitingChunks()).map((chunk) => ({ ...chunk, startTime: chunk.job.metadata.startTime, bytes: chunk.job.metadata.bytes }));
    for (const { job, chunkPath } of chooseChunksToDrop(candidates, bytesToFree)) {
      const { metadata } = job;
      // A chunk being uploaded right now is about to leave the spool anyway.
      if ((await this.deps.queue.removeUnlessActive(metadata.sourceId, metadata.sequence)) === 'active') continue;
      await unlink(chunkPath).catch(() => undefined);
      await unlink(jobDataPath(chunkPath)).catch(() => undefined);
      const record = { ...metadata, droppedAt: new Date().toISOString(), reason, policy: 'drop-oldest' };
      await appendFile(join(this.deps.spoolDir, DROPPED_LOG_FILE), `${JSON.stringify(record)}\n`);
      this.deps.metrics?.chunksDropped.inc({ source: metadata.sourceId, reason: 'spool-full' });
      this.deps.logger.error(
        {
          source: metadata.sourceId,
          sequence: metadata.sequence,
          startTime: metadata.startTime,
          durationMs: metadata.durationMs,
          bytes: metadata.bytes,
          reason,
        },
        'chunk DROPPED before upload: the spool is full (policy drop-oldest)',
      );
    }
  }
}
