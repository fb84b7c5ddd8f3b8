import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Mp4IncompleteError,
  crc32cBase64,
  inspectMp4Buffer,
  type ChunkClock,
  GENESIS_CHAIN_STATE,
  nextRecord,
  sha256Hex,
  toEvidenceMetadata,
  type ChainState,
  type ChunkJobData,
  type ClockSync,
  type Logger,
  type Mp4Info,
  type RecorderMetrics,
} from '@crispy-streamer/shared';
import { reconnectDelayMs, type BackoffPolicy } from './backoff.js';
import { buildChunkMetadata, liveChunkTiming, timelineOffsetFromFirstChunk, type ChunkFacts } from './chunk-metadata.js';
import type { ChunkQueue } from './chunk-queue.js';
import { classifyFfmpegFailure, isNoteworthyLine, isOutputOpenedLine, parseCreationTime, parseInputDuration } from './ffmpeg-log.js';
import { buildRecorderArgs, segmentFilePattern, sequenceOfSegmentFile, type RtspTimeoutOption } from './recorder-args.js';
import { findStaleRecorders, stopProcesses } from './stale-recorders.js';
import type { EvidenceSigner } from './evidence-signer.js';
import type { RecorderExit, RunningRecorder, StartRecorder } from './recorder.js';
import type { SegmentListEntry } from './segment-list.js';
import type { SourceConfig } from './source-config.js';
import type { SourceSpool } from './source-spool.js';

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
}

/** A recording that lasted this long without a chunk still counts as a failure to connect. */
const HEALTHY_RUN_MS = 30_000;
/** ffmpeg lists a chunk after writing its trailer but before closing it; give the close a moment. */
const INCOMPLETE_RETRIES = 20;
const INCOMPLETE_RETRY_MS = 25;

/**
 * Records one source for as long as it should run: a file until its end, a camera until stopped,
 * reconnecting with backoff whenever ffmpeg exits. Chunks are finalised and queued in order.
 */
export class SourceRunner {
  private stopping = false;
  private current: RunningRecorder | undefined;
  private wakeUp: AbortController | undefined;
  private chunks = 0;
  private nextSequence = 0;
  private chain: ChainState = { ...GENESIS_CHAIN_STATE };
  private lastChunkEndMs: number | undefined;
  /** Chunks are finalised one after another, in the order ffmpeg listed them. */
  private finalising: Promise<void> = Promise.resolve();
  /**
   * Queueing runs behind finalising, never in its way: while Redis is down, chunks keep being
   * finalised (their job data written to the spool) and wait here for Redis to return.
   */
  private queueing: Promise<void> = Promise.resolve();
  private waitingToQueue = 0;
  /** Why recording is paused (the spool is full), or undefined while it runs. */
  private pausedFor: string | undefined;
  private unpause: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: SourceRunnerDeps) {
    this.log = deps.logger.child({ source: deps.source.id });
  }

  async run(): Promise<SourceOutcome> {
    const { source, spool } = this.deps;
    await spool.prepare();
    // An ffmpeg orphaned by a killed predecessor would keep writing chunks under our feet.
    const stale = await findStaleRecorders(join(spool.dir, segmentFilePattern(source.id)));
    if (stale.length > 0) {
      this.log.warn({ pids: stale }, 'an ffmpeg from a previous run is still recording this source: stopping it before starting again');
      await stopProcesses(stale, this.deps.stopGraceMs);
    }
    const scan = await spool.scan();
    this.chain = await spool.chainState(scan);
    this.nextSequence = await spool.nextSequence(scan);
    const unlisted = [...scan.unlisted].sort((a, b) => a.localeCompare(b));
    for (const path of unlisted) await this.recoverOrQuarantine(path);
    for (const job of scan.pending) this.scheduleEnqueue(job, 'requeued from spool');
    this.log.info({ url: source.displayUrl, kind: source.kind, mode: source.mode, chunkSeconds: source.chunkSeconds, firstSequence: this.nextSequence }, 'source starting');

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
        await this.queueing;
        if (this.stopping) return { status: 'stopped', chunks: this.chunks };
      }

      const producedChunks = this.chunks > runStartChunks;
      const cleanExit = exit.code === 0;
      if (source.kind !== 'rtsp') {
        if (cleanExit && producedChunks) {
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
      const delayMs = reconnectDelayMs(failuresInARow, this.deps.reconnect);
      this.log.warn(
        { url: source.displayUrl, exitCode: exit.code, signal: exit.signal, failure: failure.kind, attempt: failuresInARow, retryInMs: delayMs, ffmpeg: exit.stderrTail.slice(-3) },
        `camera stream ended: ${failure.kind === 'unknown' ? 'reconnecting' : failure.advice}`,
      );
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
    if (this.deps.source.kind === 'rtsp') await this.current?.stop(this.deps.stopGraceMs);
    else this.current?.suspend();
  }

  resume(): void {
    if (this.pausedFor === undefined) return;
    this.pausedFor = undefined;
    this.log.info('recording resumed: the spool has room again');
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
   * Asks ffmpeg to close its current chunk and waits until it is finalised and, within the grace
   * period, queued. What Redis could not take by then stays in the spool for the next start.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.abort();
    this.unpause?.();
    await this.current?.stop(this.deps.stopGraceMs);
    await this.finalising;
    const queued = await Promise.race([
      this.queueing.then(() => true),
      sleep(this.deps.stopGraceMs).then(() => false),
    ]);
    if (!queued) {
      this.log.warn({ waitingToQueue: this.waitingToQueue }, 'stopping with chunks not yet queued (Redis unreachable?): they stay in the spool and are queued at the next start');
    }
  }

  private async recordOnce(): Promise<RecorderExit> {
    const { source, spool } = this.deps;
    const args = buildRecorderArgs({
      source,
      segmentDir: spool.dir,
      firstSequence: this.nextSequence,
      rtspTimeoutSeconds: this.deps.rtspTimeoutSeconds,
      rtspTimeoutOption: this.deps.rtspTimeoutOption,
    });
    let recordingStartMs: number | undefined;
    let fileCreationMs: number | undefined;
    let fileDurationMs: number | undefined;
    // A file without a creation time was finished when it was last written: its recording
    // started its duration before that. Ingest time would say nothing about the footage.
    const fileModifiedMs = source.kind === 'file' ? await stat(source.url).then((info) => info.mtimeMs, () => undefined) : undefined;
    const spawnedAtMs = Date.now();
    const timeline: RecordingTimeline = { offsetSeconds: undefined, liveStartMs: undefined };

    this.deps.metrics?.sourceUp.set({ source: source.id }, 1);
    this.current = this.deps.startRecorder(this.deps.ffmpegPath, args, {
      onStderrLine: (line) => {
        if (recordingStartMs === undefined && isOutputOpenedLine(line)) recordingStartMs = Date.now();
        fileCreationMs ??= source.kind === 'file' ? parseCreationTime(line) : undefined;
        fileDurationMs ??= source.kind === 'file' ? parseInputDuration(line) : undefined;
        if (isNoteworthyLine(line)) this.log.warn({ ffmpeg: line }, 'ffmpeg reported a problem');
        else this.log.trace({ ffmpeg: line }, 'ffmpeg');
      },
      onSegment: (entry) => {
        const listedAtMs = Date.now();
        const fileStartMs = fileCreationMs ?? (fileModifiedMs !== undefined && fileDurationMs !== undefined ? fileModifiedMs - fileDurationMs : undefined);
        const [startMs, clock]: [number, ChunkClock] = fileStartMs !== undefined ? [fileStartMs, 'file'] : [recordingStartMs ?? spawnedAtMs, 'host'];
        this.finalising = this.finalising.then(() => this.finaliseChunk(entry, startMs, clock, timeline, listedAtMs));
      },
    });
    const exit = await this.current.exited;
    this.deps.metrics?.sourceUp.set({ source: source.id }, 0);
    return exit;
  }

  /** Whether ffmpeg is running for this source right now (readiness). */
  get recording(): boolean {
    return this.current !== undefined && this.current.running;
  }

  private async finaliseChunk(
    entry: SegmentListEntry,
    outputOpenedMs: number,
    clock: ChunkClock,
    timeline: RecordingTimeline,
    listedAtMs: number,
  ): Promise<void> {
    const { source, spool } = this.deps;
    const sequence = sequenceOfSegmentFile(source.id, entry.fileName);
    const path = spool.chunkPath(entry.fileName);
    if (sequence === undefined) {
      this.log.error({ file: entry.fileName }, 'ffmpeg listed a file that is not one of our chunks; left alone');
      return;
    }
    try {
      const { bytes, mp4 } = await readCompleteChunk(path);
      let timing = { entry, recordingStartMs: outputOpenedMs, timelineOffsetSeconds: 0 };
      if (clock === 'host' && source.kind === 'rtsp') {
        // Anchored on the recording's first chunk, then shared, so its chunks tile the timeline.
        const live = liveChunkTiming(timeline.liveStartMs, entry, mp4.durationMs, outputOpenedMs, listedAtMs);
        timeline.liveStartMs = live.recordingStartMs;
        timing = { ...timing, ...live };
      } else {
        timeline.offsetSeconds ??= timelineOffsetFromFirstChunk(entry, mp4.durationMs);
        timing.timelineOffsetSeconds = timeline.offsetSeconds;
      }
      const job = await this.writeJobData(path, sequence, bytes, mp4, { ...timing, recordingClock: clock });
      const { metadata } = job;
      this.nextSequence = Math.max(this.nextSequence, sequence + 1);
      await spool.saveState(this.nextSequence, this.chain);
      this.reportGap(metadata.startTime);
      this.lastChunkEndMs = Date.parse(metadata.startTime) + metadata.durationMs;
      this.chunks++;
      this.deps.metrics?.chunksRecorded.inc({ source: source.id });
      this.scheduleEnqueue(job, 'chunk recorded');
    } catch (error) {
      this.log.error({ err: error, file: path, sequence }, 'chunk could not be finalised; it stays in the spool');
    }
  }

  private reportGap(startTime: string): void {
    if (this.lastChunkEndMs === undefined) return;
    const gapMs = Date.parse(startTime) - this.lastChunkEndMs;
    // A few frames of jitter between chunks is not a gap worth a warning.
    if (gapMs > 500) {
      this.deps.metrics?.gapSeconds.inc({ source: this.deps.source.id }, gapMs / 1000);
      this.log.warn({ gapMs, gapFrom: new Date(this.lastChunkEndMs).toISOString(), gapTo: startTime }, `recording gap of ${(gapMs / 1000).toFixed(1)} s`);
    }
  }

  /** Decides the chunk's metadata and writes its job data to the spool, before any queue sees it. */
  private async writeJobData(
    path: string,
    sequence: number,
    bytes: Buffer,
    mp4: Mp4Info,
    timing: Pick<ChunkFacts, 'entry' | 'recordingStartMs' | 'recordingClock' | 'timelineOffsetSeconds'>,
  ): Promise<ChunkJobData> {
    const metadata = buildChunkMetadata({
      source: this.deps.source,
      sequence,
      ...timing,
      mp4,
      bytes: bytes.byteLength,
      crc32c: crc32cBase64(bytes),
      nodeId: this.deps.nodeId,
      clockSync: this.deps.clockSync?.() ?? 'unknown',
    });
    // The chunk's evidence record links to the one before it; a chunk that cannot follow the
    // chain (its sequence is behind it) still goes up, without a record, and says so.
    let evidence: Record<string, string> | undefined;
    let chain = this.chain;
    try {
      const next = nextRecord(this.chain, { ...metadata, sha256: sha256Hex(bytes), keyId: this.deps.signer?.keyId });
      evidence = toEvidenceMetadata(next.record, this.deps.signer?.sign(next.record));
      chain = next.state;
    } catch (error) {
      this.log.error({ err: error, sequence }, 'chunk has no evidence record: it does not follow the chain');
    }
    const job: ChunkJobData = { metadata, spoolPath: path, ...(evidence === undefined ? {} : { evidence }) };
    // The job data goes to disk before the queue: the spool can always rebuild the queue.
    await this.deps.spool.writeJobData(job);
    this.chain = chain;
    return job;
  }

  private scheduleEnqueue(job: ChunkJobData, message: string): void {
    this.waitingToQueue++;
    this.deps.metrics?.waitingToQueue.inc({ source: job.metadata.sourceId });
    this.queueing = this.queueing.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.deps.queue.enqueue(job);
          this.waitingToQueue--;
          this.deps.metrics?.waitingToQueue.dec({ source: job.metadata.sourceId });
          this.deps.metrics?.chunksEnqueued.inc({ source: job.metadata.sourceId });
          this.logQueued(job, message);
          return;
        } catch (error) {
          if (this.stopping) {
            this.log.warn({ err: error, sequence: job.metadata.sequence }, 'could not queue chunk before stopping; it stays in the spool');
            return;
          }
          const delayMs = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
          this.log.error({ err: error, sequence: job.metadata.sequence, attempt, retryInMs: delayMs }, 'could not queue chunk; it is safe in the spool, retrying');
          await sleep(delayMs);
        }
      }
    });
  }

  /** A chunk file with no job data: finished by ffmpeg but not by us (crash), or never finished. */
  private async recoverOrQuarantine(path: string): Promise<void> {
    const { source, spool } = this.deps;
    const fileName = path.slice(path.lastIndexOf('/') + 1);
    const sequence = sequenceOfSegmentFile(source.id, fileName);
    try {
      const bytes = await readFile(path);
      const mp4 = await inspectMp4Buffer(bytes);
      if (sequence === undefined) throw new Error('not one of our chunk names');
      const { mtimeMs } = await stat(path);
      const job = await this.writeJobData(path, sequence, bytes, mp4, {
        entry: { fileName, startSeconds: 0, endSeconds: mp4.durationMs / 1000 },
        // The file was closed when its last frame was written: its start is that less its length.
        recordingStartMs: mtimeMs - mp4.durationMs,
        recordingClock: 'host',
        timelineOffsetSeconds: 0,
      });
      const { metadata } = job;
      this.nextSequence = Math.max(this.nextSequence, sequence + 1);
      await spool.saveState(this.nextSequence, this.chain);
      this.log.warn({ file: path, sequence, startTime: metadata.startTime }, 'recovered a complete chunk that was never queued (the recorder stopped abruptly); start time estimated from the file time');
      this.scheduleEnqueue(job, 'recovered chunk queued');
    } catch (error) {
      const moved = await spool.quarantine(path);
      this.deps.metrics?.chunksQuarantined.inc({ source: source.id });
      this.log.error(
        { file: path, movedTo: moved, reason: error instanceof Error ? error.message : String(error) },
        'chunk file was never completed by ffmpeg (killed mid-chunk?) and cannot be repaired: moved to quarantine',
      );
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

/** Per ffmpeg run: the shift between its segment times and the media, learnt from its first chunk. */
interface RecordingTimeline {
  offsetSeconds: number | undefined;
  /** A live recording's media time 0 on the host clock, from its first chunk. */
  liveStartMs: number | undefined;
}

/** Reads a listed chunk and proves it is a whole MP4 before anything trusts it. */
async function readCompleteChunk(path: string): Promise<{ bytes: Buffer; mp4: Awaited<ReturnType<typeof inspectMp4Buffer>> }> {
  for (let attempt = 0; ; attempt++) {
    const bytes = await readFile(path);
    try {
      return { bytes, mp4: await inspectMp4Buffer(bytes) };
    } catch (error) {
      if (!(error instanceof Mp4IncompleteError) || attempt >= INCOMPLETE_RETRIES) throw error;
      await sleep(INCOMPLETE_RETRY_MS);
    }
  }
}
