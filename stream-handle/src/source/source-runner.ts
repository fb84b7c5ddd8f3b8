import { stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, type BackoffPolicy, type ChunkJobData, type ClockSync, type Logger, type RecorderMetrics } from '@crispy-streamer/shared';
import { RecordingClock, type ChunkPlacement } from '../clock/recording-clock.js';
import type { ChunkQueue } from '../queue/chunk-queue.js';
import { classifyFfmpegFailure, isNoteworthyLine, isOutputOpenedLine, parseCreationTime, parseInputDuration } from '../recorder/ffmpeg-log.js';
import { buildRecorderArgs, type RtspTimeoutOption } from '../recorder/recorder-args.js';
import type { RecorderExit, RunningRecorder, StartRecorder } from '../recorder/recorder.js';
import type { SegmentListEntry } from '../recorder/segment-list.js';
import type { SourceSpool } from '../spool/source-spool.js';
import { ChunkFinaliser, isChunkContentError } from './chunk-finaliser.js';
import { EnqueuePipeline } from './enqueue-pipeline.js';
import type { EvidenceSigner } from './evidence-signer.js';
import type { SourceConfig } from './source-config.js';
import type { SourceObserver } from './source-observer.js';
import { planFileIngest } from './file-ingest.js';
import { recoverSourceSpool } from './spool-recovery.js';

export type SourceOutcome =
  | { status: 'completed'; chunks: number }
  | { status: 'failed'; chunks: number; reason: string }
  | { status: 'stopped'; chunks: number };

export interface SourceRunnerDeps {
  source: SourceConfig;
  spool: SourceSpool;
  queue: ChunkQueue;
  logger: Logger;
  ffmpegPath: string;
  startRecorder: StartRecorder;
  nodeId: string;
  rtspTimeoutSeconds: number;
  rtspTimeoutOption: RtspTimeoutOption;
  reconnect: BackoffPolicy;
  stopGraceMs: number;
  metrics?: RecorderMetrics;
  /** Signs each chunk's evidence record; without a key, records are hashed and chained only. */
  signer?: EvidenceSigner;
  /** Whether the host clock is NTP-synchronised, as last probed. */
  clockSync?: () => ClockSync;
  /** Retrying a chunk whose finalisation failed for a reason of the disk (full, I/O error). */
  finaliseRetry?: BackoffPolicy;
  /** Retrying a chunk Redis did not take. */
  enqueueRetry?: BackoffPolicy;
  /** Told when the source's state changes (fleet status, alerts); never in the way of recording. */
  observer?: SourceObserver;
}

/** A recording that lasted this long without a chunk still counts as a failure to connect. */
const HEALTHY_RUN_MS = 30_000;
/** Finalising a chunk is tried this often (0.25 s doubling to 4 s between: about 8 s in all). */
const FINALISE_ATTEMPTS = 6;
const FINALISE_RETRY: BackoffPolicy = { minDelayMs: 250, maxDelayMs: 4000, jitter: 0.2 };

/**
 * Records one source for as long as it should run: a file until its end, a camera until stopped,
 * reconnecting with backoff whenever ffmpeg exits. Chunks are finalised and queued in order.
 */
export class SourceRunner {
  private stopping = false;
  private current: RunningRecorder | undefined;
  private wakeUp: AbortController | undefined;
  private chunks = 0;
  private lastChunkEndMs: number | undefined;
  /** Chunks are finalised one after another, in the order ffmpeg listed them. */
  private finalising: Promise<void> = Promise.resolve();
  /** Why recording is paused (the spool is full), or undefined while it runs. */
  private pausedFor: string | undefined;
  private unpause: (() => void) | undefined;
  /** A file resumed where an earlier run stopped: media seconds already ingested. */
  private resumeAtSeconds: number | undefined;
  private readonly finaliser: ChunkFinaliser;
  private readonly enqueue: EnqueuePipeline;
  /** Resolves when stop() is called: nothing run() waits for may outlast it. */
  private readonly stopRequested: Promise<void>;
  private requestStop: () => void = () => undefined;
  private readonly log: Logger;

  constructor(private readonly deps: SourceRunnerDeps) {
    this.log = deps.logger.child({ source: deps.source.id });
    this.finaliser = new ChunkFinaliser(deps);
    this.stopRequested = new Promise((resolve) => {
      this.requestStop = resolve;
    });
    this.enqueue = new EnqueuePipeline({ queue: deps.queue, logger: deps.logger, metrics: deps.metrics, retry: deps.enqueueRetry, onQueued: (job, message) => this.logQueued(job, message) });
  }

  async run(): Promise<SourceOutcome> {
    const { source, spool } = this.deps;
    await spool.prepare();
    const { pending, recovered } = await recoverSourceSpool({
      sourceId: source.id,
      spool,
      finaliser: this.finaliser,
      logger: this.deps.logger,
      metrics: this.deps.metrics,
      stopGraceMs: this.deps.stopGraceMs,
      orphans: source.kind === 'file' ? 'kill' : 'close-chunk',
    });
    for (const job of recovered) this.enqueue.schedule(job, 'recovered chunk queued');
    for (const job of pending) this.enqueue.schedule(job, 'requeued from spool');
    if (source.kind === 'file' && !(await this.planFile())) {
      await this.queuedOrStopped();
      return { status: this.stopping ? 'stopped' : 'completed', chunks: 0 };
    }
    this.log.info({ url: source.displayUrl, kind: source.kind, mode: source.mode, chunkSeconds: source.chunkSeconds, firstSequence: this.finaliser.nextSequence }, 'source starting');

    let failuresInARow = 0;
    for (;;) {
      await this.waitWhilePaused();
      if (this.stopping) return { status: 'stopped', chunks: this.chunks };
      const runStartChunks = this.chunks;
      const exit = await this.recordOnce();
      await this.finalising;
      if (this.stopping) return { status: 'stopped', chunks: this.chunks };
      if (this.pausedFor !== undefined && source.kind === 'rtsp') continue;
      if (source.kind !== 'rtsp') {
        await this.queuedOrStopped();
        if (this.stopping) return { status: 'stopped', chunks: this.chunks };
      }

      const producedChunks = this.chunks > runStartChunks;
      const cleanExit = exit.code === 0;
      if (source.kind !== 'rtsp') {
        // A resumed file may have had nothing left to cut: the earlier run had finished it.
        if (cleanExit && (producedChunks || this.resumeAtSeconds !== undefined)) {
          await this.finaliser.completeFile();
          this.log.info({ chunks: this.chunks }, 'source finished: every chunk queued');
          return { status: 'completed', chunks: this.chunks };
        }
        const failure = classifyFfmpegFailure(exit.stderrTail);
        const reason = cleanExit ? 'ffmpeg produced no chunks from this source' : `${failure.advice} (ffmpeg exit ${exit.code ?? exit.signal})`;
        this.log.error({ url: source.displayUrl, failure: failure.kind, ffmpeg: exit.stderrTail.slice(-5) }, `source failed: ${reason}`);
        return { status: 'failed', chunks: this.chunks, reason };
      }

      // A live camera: every exit, even a clean one, means the stream ended. Try again.
      const ranLongEnough = Date.now() - (this.current?.startedAtMs ?? Date.now()) > HEALTHY_RUN_MS;
      failuresInARow = producedChunks || ranLongEnough ? 1 : failuresInARow + 1;
      const failure = classifyFfmpegFailure(exit.stderrTail);
      this.deps.metrics?.ffmpegRestarts.inc({ source: source.id, reason: failure.kind });
      const delayMs = backoffDelayMs(failuresInARow, this.deps.reconnect);
      this.log.warn(
        { url: source.displayUrl, exitCode: exit.code, signal: exit.signal, failure: failure.kind, attempt: failuresInARow, retryInMs: delayMs, ffmpeg: exit.stderrTail.slice(-3) },
        `camera stream ended: ${failure.kind === 'unknown' ? 'reconnecting' : failure.advice}`,
      );
      this.notify((o) => o.streamEnded?.({ reason: failure.kind === 'unknown' ? 'the stream ended' : failure.advice, failure: failure.kind, retryInMs: delayMs }));
      this.wakeUp = new AbortController();
      await sleep(delayMs, undefined, { signal: this.wakeUp.signal }).catch(() => undefined);
      if (this.stopping) return { status: 'stopped', chunks: this.chunks };
    }
  }

  /**
   * Stops recording new chunks until `resume()`: a camera's ffmpeg closes its chunk and exits (the
   * time until resume is reported as a gap); a file's ffmpeg is frozen where it is.
   */
  async pause(reason: string): Promise<void> {
    if (this.pausedFor !== undefined || this.stopping) return;
    this.pausedFor = reason;
    this.log.error({ reason }, 'recording paused: the spool is full (policy stop-recording); it resumes when uploads make room');
    this.notify((o) => o.paused?.(reason));
    if (this.deps.source.kind === 'rtsp') await this.current?.stop(this.deps.stopGraceMs);
    else this.current?.suspend();
  }

  resume(): void {
    if (this.pausedFor === undefined) return;
    this.pausedFor = undefined;
    this.log.info('recording resumed: the spool has room again');
    this.notify((o) => o.resumed?.());
    if (this.deps.source.kind !== 'rtsp') this.current?.resume();
    this.unpause?.();
  }

  get paused(): boolean {
    return this.pausedFor !== undefined;
  }

  private async waitWhilePaused(): Promise<void> {
    if (this.pausedFor === undefined || this.deps.source.kind !== 'rtsp') return;
    await new Promise<void>((resolve) => {
      this.unpause = resolve;
    });
    this.unpause = undefined;
  }

  /**
   * A camera's ffmpeg is asked to close its current chunk; a file's is stopped at its last whole
   * chunk (the next run resumes there, on a keyframe, so no footage is cut twice). Then waits until
   * every listed chunk is finalised and, within the grace period, queued. What Redis could not take
   * by then stays in the spool for the next start.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.requestStop();
    this.wakeUp?.abort();
    this.unpause?.();
    if (this.deps.source.kind === 'file') await this.current?.abort();
    else await this.current?.stop(this.deps.stopGraceMs);
    await this.finalising;
    if (this.deps.source.kind === 'file') await this.discardUnfinishedChunk();
    this.enqueue.stop();
    await Promise.race([this.enqueue.drained(), sleep(this.deps.stopGraceMs)]);
    if (this.enqueue.waiting > 0) {
      this.log.warn({ waitingToQueue: this.enqueue.waiting }, 'stopping with chunks not yet queued (Redis unreachable?): they stay in the spool and are queued at the next start');
    }
  }

  /** A file's chunks wait for the queue before the source counts as done; a stop ends the wait (Redis may be gone). */
  private async queuedOrStopped(): Promise<void> {
    await Promise.race([this.enqueue.drained(), this.stopRequested]);
  }

  /** Chunks finalised that the queue has not taken: they wait in the spool for the next start. */
  get waitingToQueue(): number {
    return this.enqueue.waiting;
  }

  /** The chunk a stopped file's ffmpeg was writing: its footage is read again from the file by the next run. */
  private async discardUnfinishedChunk(): Promise<void> {
    const { spool } = this.deps;
    for (const chunk of (await spool.scan().catch(() => undefined))?.unlisted ?? []) {
      if (chunk.sequence < this.finaliser.nextSequence) continue; // not this run's: the next start sees to it
      await unlink(chunk.path).catch(() => undefined);
      this.log.info({ file: chunk.path, sequence: chunk.sequence }, 'stopped mid-chunk: the unfinished chunk is discarded, the next run records that part of the file again');
    }
  }

  /**
   * A file an earlier run ingested part of is resumed where it stopped; one it ingested whole is
   * not ingested again (the same footage would reach the bucket twice). False: nothing to record.
   */
  private async planFile(): Promise<boolean> {
    const { source } = this.deps;
    const info = await stat(source.url).catch(() => undefined);
    if (info === undefined) return true; // ffmpeg names the problem
    const identity = { path: source.url, size: info.size, mtimeMs: info.mtimeMs };
    const plan = planFileIngest(this.finaliser.fileIngest, identity);
    if (plan.action === 'skip') {
      const { firstSequence, lastSequence } = plan.already;
      this.log.warn(
        { file: source.url, firstSequence, lastSequence },
        `file already ingested whole (chunks ${firstSequence}-${lastSequence}): not ingested again. To ingest it again on purpose, give the source a new id, or delete ${this.deps.spool.dir}/state.json`,
      );
      return false;
    }
    if (plan.action === 'resume') {
      this.resumeAtSeconds = plan.atSeconds;
      this.log.warn(
        { file: source.url, resumeAtSeconds: plan.atSeconds, afterSequence: plan.after.lastSequence },
        `an earlier run stopped part-way through this file: resuming at ${plan.atSeconds.toFixed(3)} s, after chunk ${plan.after.lastSequence}`,
      );
    }
    this.finaliser.beginFile(identity, plan);
    return true;
  }

  /** Whether ffmpeg is running for this source right now (readiness). */
  get recording(): boolean {
    return this.current !== undefined && this.current.running;
  }

  private async recordOnce(): Promise<RecorderExit> {
    const { source, spool } = this.deps;
    // A number a file holds is never handed to ffmpeg again, whatever happened to its chunk: ffmpeg
    // would overwrite it.
    this.finaliser.reserve(await spool.highestSequenceOnDisk());
    const args = buildRecorderArgs({
      source,
      segmentDir: spool.dir,
      firstSequence: this.finaliser.nextSequence,
      rtspTimeoutSeconds: this.deps.rtspTimeoutSeconds,
      rtspTimeoutOption: this.deps.rtspTimeoutOption,
      ...(this.resumeAtSeconds === undefined ? {} : { resumeAtSeconds: this.resumeAtSeconds }),
    });
    const fileModifiedMs = source.kind === 'file' ? await stat(source.url).then((info) => info.mtimeMs, () => undefined) : undefined;
    const clock = new RecordingClock(source.kind, Date.now(), fileModifiedMs, this.resumeAtSeconds);

    this.deps.metrics?.sourceUp.set({ source: source.id }, 1);
    this.current = this.deps.startRecorder(this.deps.ffmpegPath, args, {
      onStderrLine: (line) => {
        if (isOutputOpenedLine(line)) clock.noteOutputOpened(Date.now());
        const creation = parseCreationTime(line);
        if (creation !== undefined) clock.noteFileCreationTime(creation);
        const duration = parseInputDuration(line);
        if (duration !== undefined) clock.noteFileDuration(duration);
        if (isNoteworthyLine(line)) this.log.warn({ ffmpeg: line }, 'ffmpeg reported a problem');
        else this.log.trace({ ffmpeg: line }, 'ffmpeg');
      },
      onSegment: (entry) => {
        const listedAtMs = Date.now();
        this.finalising = this.finalising.then(() => this.finaliseChunk(entry, clock, listedAtMs));
      },
    });
    this.notify((o) => o.recorderStarted?.());
    const exit = await this.current.exited;
    this.deps.metrics?.sourceUp.set({ source: source.id }, 0);
    return exit;
  }

  private async finaliseChunk(entry: SegmentListEntry, clock: RecordingClock, listedAtMs: number): Promise<void> {
    const chunk = this.deps.spool.chunkFile(entry.fileName);
    if (chunk === undefined) {
      this.log.error({ file: entry.fileName }, 'ffmpeg listed a file that is not one of our chunks; left alone');
      return;
    }
    this.finaliser.reserve(chunk.sequence);
    // Placed once: a live recording is anchored on its first chunk, and a retry must not move it.
    let placement: ChunkPlacement | undefined;
    const place = (mediaDurationMs: number) => (placement ??= clock.placeChunk(entry, mediaDurationMs, listedAtMs));
    for (let failures = 1; ; failures++) {
      try {
        const job = await this.finaliser.finaliseListed(chunk, place);
        this.chunkRecorded(job);
        return;
      } catch (error) {
        // A disk that failed (full, an I/O error) may recover: the chunk is tried again in its
        // place in the order, for a while. A broken file, or a failure that lasts, must not hold up
        // the chunks behind it: it stays in the spool, its number is never reused, and the next
        // start describes it again from its own bytes (or quarantines it).
        const retry = !isChunkContentError(error) && !this.stopping && failures < FINALISE_ATTEMPTS;
        this.log.error(
          { err: error, file: chunk.path, sequence: chunk.sequence, attempt: failures },
          retry ? 'chunk could not be finalised; it stays in the spool and is tried again' : 'chunk could not be finalised; it stays in the spool until the next start',
        );
        if (!retry) return;
        await sleep(backoffDelayMs(failures, this.deps.finaliseRetry ?? FINALISE_RETRY));
      }
    }
  }

  private chunkRecorded(job: ChunkJobData): void {
    const { metadata } = job;
    this.reportGap(metadata.startTime);
    this.lastChunkEndMs = Date.parse(metadata.startTime) + metadata.durationMs;
    this.chunks++;
    this.deps.metrics?.chunksRecorded.inc({ source: this.deps.source.id });
    this.enqueue.schedule(job, 'chunk recorded');
    this.notify((o) => o.chunkRecorded?.(metadata));
  }

  /** The observer's trouble is its own: recording goes on whatever it does. */
  private notify(call: (observer: SourceObserver) => void): void {
    if (this.deps.observer === undefined) return;
    try {
      call(this.deps.observer);
    } catch (error) {
      this.log.warn({ err: error }, 'source observer failed; recording goes on');
    }
  }

  private reportGap(startTime: string): void {
    if (this.lastChunkEndMs === undefined) return;
    const gapMs = Date.parse(startTime) - this.lastChunkEndMs;
    // A few frames of jitter between chunks is not a gap worth a warning.
    if (gapMs > 500) {
      this.deps.metrics?.gapSeconds.inc({ source: this.deps.source.id }, gapMs / 1000);
      this.log.warn({ gapMs, gapFrom: new Date(this.lastChunkEndMs).toISOString(), gapTo: startTime }, `recording gap of ${(gapMs / 1000).toFixed(1)} s`);
      const fromMs = this.lastChunkEndMs;
      this.notify((o) => o.gap?.({ fromMs, toMs: Date.parse(startTime) }));
    }
  }

  private logQueued(job: ChunkJobData, message: string): void {
    const { metadata } = job;
    this.log.info(
      { sequence: metadata.sequence, startTime: metadata.startTime, durationMs: metadata.durationMs, bytes: metadata.bytes, width: metadata.width, height: metadata.height },
      message,
    );
  }
}
