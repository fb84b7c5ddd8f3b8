import { appendFile, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkJobData, Logger, RecorderMetrics } from '@crispy-streamer/shared';
import type { ChunkQueue } from './chunk-queue.js';
import { chooseChunksToDrop, decideSpoolAction, type SpoolLimits } from './spool-policy.js';
import { measureSpool, type SpoolUsage } from './spool-usage.js';

export interface PausableSource {
  pause(reason: string): Promise<void>;
  resume(): void;
  readonly paused: boolean;
}

/** Every chunk the policy deletes is written here, one JSON line each, besides being logged. */
export const DROPPED_LOG = 'dropped.jsonl';

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
      for (const job of await this.pendingChunks()) {
        const queuedAt = await stat(`${job.spoolPath}.json`).then((info) => info.mtimeMs, () => Date.now());
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

  private async pendingChunks(): Promise<ChunkJobData[]> {
    const jobs: ChunkJobData[] = [];
    for (const entry of await readdir(this.deps.spoolDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = join(this.deps.spoolDir, entry.name);
      for (const name of await readdir(dir)) {
        if (!name.endsWith('.mp4.json')) continue;
        const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
        if (text !== undefined) jobs.push(JSON.parse(text) as ChunkJobData);
      }
    }
    return jobs;
  }

  private async dropOldest(bytesToFree: number, reason: string): Promise<void> {
    const candidates = (await this.pendingChunks()).map((job) => ({ job, startTime: job.metadata.startTime, bytes: job.metadata.bytes }));
    for (const { job } of chooseChunksToDrop(candidates, bytesToFree)) {
      const { metadata, spoolPath } = job;
      // A chunk being uploaded right now is about to leave the spool anyway.
      if ((await this.deps.queue.removeUnlessActive(metadata.sourceId, metadata.sequence)) === 'active') continue;
      await unlink(spoolPath).catch(() => undefined);
      await unlink(`${spoolPath}.json`).catch(() => undefined);
      const record = { ...metadata, droppedAt: new Date().toISOString(), reason, policy: 'drop-oldest' };
      await appendFile(join(this.deps.spoolDir, DROPPED_LOG), `${JSON.stringify(record)}\n`);
      this.deps.metrics?.chunksDropped.inc({ source: metadata.sourceId, reason: 'spool-full' });
      this.deps.logger.error(
        { source: metadata.sourceId, sequence: metadata.sequence, startTime: metadata.startTime, durationMs: metadata.durationMs, bytes: metadata.bytes, reason },
        'chunk DROPPED before upload: the spool is full (policy drop-oldest)',
      );
    }
  }
}
