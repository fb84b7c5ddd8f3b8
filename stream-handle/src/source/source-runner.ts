import { readFile, stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backoffDelayMs,
  type BackoffPolicy,
  type ChunkJobData,
  type ClockSync,
  type Logger,
  type RecorderMetrics,
  type RtspTransport,
} from '@crispy-streamer/shared';
import { CameraClockTracker } from '../clock/camera-clock-tracker.js';
import { HostClockWatch, type ClockReading } from '../clock/host-clock-watch.js';
import { RecordingClock, type ChunkPlacement } from '../clock/recording-clock.js';
import type { ChunkQueue } from '../queue/chunk-queue.js';
import { cameraAnswers, type CameraAnswers } from '../recorder/camera-reachability.js';
import {
  UNKNOWN_FAILURE,
  classifyFfmpegFailure,
  classifyFfmpegLine,
  isClockRestart,
  isNoteworthyLine,
  isOutputOpenedLine,
  parseCreationTime,
  parseInputDuration,
  parseLostPackets,
  parseTimestampStep,
  videoTicksPerSecond,
  type SourceFailure,
} from '../recorder/ffmpeg-log.js';
import { describeAudioPlan, planChunkFormat, samePlan, type FormatPlan, type PlanSettings } from '../recorder/format-plan.js';
import { InputReportReader, describeStreams, type ProbedStream } from '../recorder/input-report.js';
import { buildRecorderArgs, recorderInputOptions, type RtspTimeoutOption } from '../recorder/recorder-args.js';
import { probeSource, type ProbeSource } from '../recorder/source-probe.js';
import type { RecorderExit, RunningRecorder, StartRecorder } from '../recorder/recorder.js';
import type { SegmentListEntry } from '../recorder/segment-list.js';
import type { SourceSpool, SpoolChunkFile } from '../spool/source-spool.js';
import { ChunkFinaliser, isChunkContentError } from './chunk-finaliser.js';
import type { ChunkRecordingFacts } from './chunk-metadata.js';
import { ChunkRecutter, type RunContext } from './chunk-recutter.js';
import { EnqueuePipeline } from './enqueue-pipeline.js';
import { gopAdvice } from './keyframe-advice.js';
import { pixelFormatOfHeader } from './parameter-change.js';
import type { EvidenceSigner } from './evidence-signer.js';
import type { SourceConfig } from './source-config.js';
import type { SourceObserver } from './source-observer.js';
import { planFileIngest } from './file-ingest.js';
import { DEFAULT_RECONNECT, delayBeforeReconnectMs, probeDelayMs, type ReconnectPolicy } from './reconnect-policy.js';
import { recoverSourceSpool } from './spool-recovery.js';
import { refusesTransport, transportCandidates } from './transport-choice.js';

export type SourceOutcome =
  { status: 'completed'; chunks: number } | { status: 'failed'; chunks: number; reason: string } | { status: 'stopped'; chunks: number };

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
  /** Backoff between attempts at a camera that refused, and after the fast window of an outage. */
  reconnect: BackoffPolicy;
  /** Watching for a camera that went away: a connection attempt this often, for this long, then backoff. */
  reconnectProbe?: { intervalMs: number; fastWindowMs: number };
  stopGraceMs: number;
  /** Asks ffmpeg what a source holds (tests give a fake). */
  probeSource?: ProbeSource;
  /** Whether a camera's RTSP port accepts a connection (tests give a fake). */
  cameraAnswers?: CameraAnswers;
  metrics?: RecorderMetrics;
  /** Signs each chunk's evidence record; without a key, records are hashed and chained only. */
  signer?: EvidenceSigner;
  /** Whether the host clock is NTP-synchronised, as last probed. */
  clockSync?: () => ClockSync;
  /** A camera's chunks are placed on its own clock while it stays within this of the node's (CAMERA_CLOCK_MAX_OFFSET_SECONDS). */
  cameraClockMaxOffsetMs?: number;
  /** This node's wall and monotonic clocks (tests give a fake). */
  readClocks?: () => ClockReading;
  /** Retrying a chunk whose finalisation failed for a reason of the disk (full, I/O error). */
  finaliseRetry?: BackoffPolicy;
  /** Retrying a chunk Redis did not take. */
  enqueueRetry?: BackoffPolicy;
  /** Told when the source's state changes (fleet status, alerts); never in the way of recording. */
  observer?: SourceObserver;
}

/** CAMERA_CLOCK_MAX_OFFSET_SECONDS' default, in ms. */
export const DEFAULT_CAMERA_CLOCK_MAX_OFFSET_MS = 10_000;

/** A recording that lasted this long without a chunk still counts as a failure to connect. */
const HEALTHY_RUN_MS = 30_000;
/** A probe of a file takes a fraction of a second; of a camera, a connection and ffmpeg's analysis. */
const PROBE_TIMEOUT_MS = 60_000;
/** One connection attempt at a camera that went away. */
const ANSWER_TIMEOUT_MS = 1000;
/** A camera that comes back with other streams is recorded anew at once, this many times in a row; then with backoff. */
const MAX_IMMEDIATE_REPLANS = 3;

/** How one ffmpeg run ended. */
interface RunResult {
  exit: RecorderExit;
  /** The failure ffmpeg's lines proved, if any (kept even when later noise pushes it out of the tail). */
  failure: SourceFailure;
  produced: boolean;
  startedAtMs: number;
  /** ffmpeg reported streams the recording was not planned for: record again with these. */
  replanWith?: ProbedStream[];
  /** The stream changed (parameters, timestamps): record again at once, without waiting. */
  restartForChange?: boolean;
  /** A file whose stream changed part-way: recorded again from here (media seconds). */
  resumeAtSeconds?: number;
}

/** What a recording needs before it starts: the source's streams and what to make of them. */
type Preparation = { ok: true; plan: FormatPlan; streams: ProbedStream[] } | { ok: false; failure: SourceFailure; stderrTail: string[] };
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
  /** Where the last chunk ended on this node's clock (gaps are found on it)... */
  private lastChunkEndMs: number | undefined;
  /** ...and on the timeline it carries (`startTime`: gaps are said on it). */
  private lastChunkRecordedEndMs: number | undefined;
  /** The next chunk follows a recording stopped on purpose (its stream changed): report even a short gap. */
  private gapExpected = false;
  /** Chunks are finalised one after another, in the order ffmpeg listed them. */
  private finalising: Promise<void> = Promise.resolve();
  /** Why recording is paused (the spool is full), or undefined while it runs. */
  private pausedFor: string | undefined;
  private unpause: (() => void) | undefined;
  /** A file resumed where an earlier run stopped: media seconds already ingested. */
  private resumeAtSeconds: number | undefined;
  private readonly finaliser: ChunkFinaliser;
  private readonly cameraClock: CameraClockTracker | undefined;
  private readonly hostClock: HostClockWatch;
  private readonly enqueue: EnqueuePipeline;
  /** Resolves when stop() is called: nothing run() waits for may outlast it. */
  private readonly stopRequested: Promise<void>;
  private requestStop: () => void = () => undefined;
  private readonly log: Logger;
  /** The streams ffmpeg last reported for this source; a camera's are asked again only when they change. */
  private streams: ProbedStream[] | undefined;
  /** The plan last logged: a line is written when it changes. */
  private loggedPlan: FormatPlan | undefined;
  /** transport auto: the transport a camera last delivered over, and where the current round of attempts stands. */
  private workedTransport: RtspTransport | undefined;
  private transportAttempt = 0;
  private readonly reconnectPolicy: ReconnectPolicy;
  private readonly recutter: ChunkRecutter;

  constructor(private readonly deps: SourceRunnerDeps) {
    this.log = deps.logger.child({ source: deps.source.id });
    this.cameraClock =
      deps.source.kind === 'rtsp'
        ? new CameraClockTracker({
            sourceId: deps.source.id,
            logger: deps.logger,
            metrics: deps.metrics,
            maxOffsetMs: deps.cameraClockMaxOffsetMs ?? DEFAULT_CAMERA_CLOCK_MAX_OFFSET_MS,
            hostSynchronised: () => deps.clockSync?.() === 'synchronised',
          })
        : undefined;
    this.hostClock = new HostClockWatch(deps.readClocks);
    this.finaliser = new ChunkFinaliser({ ...deps, ...(this.cameraClock === undefined ? {} : { cameraClock: this.cameraClock }) });
    this.recutter = new ChunkRecutter({
      source: deps.source,
      spool: deps.spool,
      ffmpegPath: deps.ffmpegPath,
      finaliser: this.finaliser,
      log: this.log,
      stopGraceMs: deps.stopGraceMs,
    });
    this.stopRequested = new Promise((resolve) => {
      this.requestStop = resolve;
    });
    this.reconnectPolicy = {
      probeIntervalMs: deps.reconnectProbe?.intervalMs ?? DEFAULT_RECONNECT.probeIntervalMs,
      fastWindowMs: deps.reconnectProbe?.fastWindowMs ?? DEFAULT_RECONNECT.fastWindowMs,
      backoff: deps.reconnect,
    };
    this.enqueue = new EnqueuePipeline({
      queue: deps.queue,
      logger: deps.logger,
      metrics: deps.metrics,
      retry: deps.enqueueRetry,
      onQueued: (job, message) => this.logQueued(job, message),
    });
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
    this.log.info(
      { url: source.displayUrl, kind: source.kind, mode: source.mode, chunkSeconds: source.chunkSeconds, firstSequence: this.finaliser.nextSequence },
      'source starting',
    );

    let failuresInARow = 0;
    let replansInARow = 0;
    /** When the camera was last recorded, or first tried. */
    let lastWorkedAtMs = Date.now();
    for (;;) {
      await this.waitWhilePaused();
      if (this.stopping) return { status: 'stopped', chunks: this.chunks };
      const runStartChunks = this.chunks;
      const candidates = transportCandidates(source.transport, this.workedTransport);
      const transport = source.kind === 'rtsp' ? candidates[this.transportAttempt % candidates.length] : undefined;
      const preparation = await this.prepare(transport);
      if (this.stopping) return { status: 'stopped', chunks: this.chunks };
      let run: RunResult;
      if (preparation.ok) {
        run = await this.recordOnce(preparation.plan, transport);
      } else {
        run = { exit: { code: 1, signal: null, stderrTail: preparation.stderrTail }, failure: preparation.failure, produced: false, startedAtMs: Date.now() };
      }
      await this.finalising;
      if (this.stopping) return { status: 'stopped', chunks: this.chunks };
      if (this.pausedFor !== undefined && source.kind === 'rtsp') continue;
      if (run.replanWith !== undefined) {
        this.streams = run.replanWith;
        replansInARow++;
        if (replansInARow <= MAX_IMMEDIATE_REPLANS) continue;
      }
      if (run.resumeAtSeconds !== undefined && source.kind !== 'rtsp') {
        // A file whose stream changed part-way: the rest of it, from where its chunks now end.
        this.resumeAtSeconds = run.resumeAtSeconds;
        continue;
      }
      if (run.restartForChange === true && source.kind === 'rtsp' && this.chunks > runStartChunks) {
        // The reconnect leaves a gap, however short: it is reported.
        this.gapExpected = true;
        continue;
      }
      if (source.kind !== 'rtsp') {
        await this.queuedOrStopped();
        if (this.stopping) return { status: 'stopped', chunks: this.chunks };
      }

      const producedChunks = this.chunks > runStartChunks;
      const cleanExit = run.exit.code === 0;
      if (source.kind !== 'rtsp') {
        // A resumed file may have had nothing left to cut: the earlier run had finished it.
        if (preparation.ok && cleanExit && (producedChunks || this.resumeAtSeconds !== undefined)) {
          await this.finaliser.completeFile();
          this.log.info({ chunks: this.chunks }, 'source finished: every chunk queued');
          return { status: 'completed', chunks: this.chunks };
        }
        const { failure } = run;
        const reason =
          cleanExit && preparation.ok
            ? 'ffmpeg produced no chunks from this source'
            : `${failure.advice} (ffmpeg ${preparation.ok ? `exit ${run.exit.code ?? run.exit.signal}` : 'could not open the source'})`;
        this.log.error(
          { url: source.displayUrl, failure: failure.kind, cause: failure.line, ffmpeg: run.exit.stderrTail.slice(-5) },
          `source failed: ${reason}`,
        );
        return { status: 'failed', chunks: this.chunks, reason };
      }

      // A live camera: every exit, even a clean one, means the stream ended. Try again.
      const endedAtMs = Date.now();
      const worked = producedChunks || endedAtMs - run.startedAtMs > HEALTHY_RUN_MS;
      const { failure } = run;
      if (worked) {
        lastWorkedAtMs = endedAtMs;
        replansInARow = 0;
        if (transport !== undefined) this.workedTransport = transport;
        this.transportAttempt = 0;
      } else if (source.transport === 'auto' && transport !== undefined && refusesTransport(failure, transport, producedChunks)) {
        this.transportAttempt++;
        const next = candidates[this.transportAttempt % candidates.length];
        if (this.transportAttempt % candidates.length !== 0) {
          this.log.warn(
            { url: source.displayUrl, transport, next, failure: failure.kind, cause: failure.line },
            `camera refused RTSP over ${transport}: trying ${next ?? 'the next transport'}`,
          );
          continue;
        }
      }
      failuresInARow = worked ? 1 : failuresInARow + 1;
      this.deps.metrics?.ffmpegRestarts.inc({ source: source.id, reason: failure.kind });
      const delayMs = delayBeforeReconnectMs({ failure, worked, failuresInARow, outageMs: endedAtMs - lastWorkedAtMs }, this.reconnectPolicy);
      this.log.warn(
        {
          url: source.displayUrl,
          transport,
          exitCode: run.exit.code,
          signal: run.exit.signal,
          failure: failure.kind,
          cause: failure.line,
          attempt: failuresInARow,
          retryInMs: delayMs,
          ffmpeg: run.exit.stderrTail.slice(-3),
        },
        `camera stream ended: ${failure.kind === 'unknown' ? 'reconnecting' : failure.advice}`,
      );
      this.notify((o) =>
        o.streamEnded?.({ reason: failure.kind === 'unknown' ? 'the stream ended' : failure.advice, failure: failure.kind, retryInMs: delayMs }),
      );
      if (delayMs > 0) {
        this.wakeUp = new AbortController();
        await sleep(delayMs, undefined, { signal: this.wakeUp.signal }).catch(() => undefined);
      }
      await this.waitUntilCameraAnswers(lastWorkedAtMs);
      if (this.stopping) return { status: 'stopped', chunks: this.chunks };
    }
  }

  /**
   * Watches for a camera that went away with one cheap connection attempt after another: every
   * `probeIntervalMs` for the first minute of the outage, then with backoff. Returns at once if it
   * answers (or when stopping).
   */
  private async waitUntilCameraAnswers(outageSinceMs: number): Promise<void> {
    const answers = this.deps.cameraAnswers ?? cameraAnswers;
    const url = this.deps.source.url;
    let failedAfterWindow = 0;
    let announced = false;
    for (;;) {
      if (this.stopping) return;
      if (await answers(url, ANSWER_TIMEOUT_MS)) {
        if (announced)
          this.log.info(
            { url: this.deps.source.displayUrl, awayMs: Date.now() - outageSinceMs },
            `camera answers again after ${((Date.now() - outageSinceMs) / 1000).toFixed(1)} s: reconnecting`,
          );
        return;
      }
      const outageMs = Date.now() - outageSinceMs;
      if (outageMs >= this.reconnectPolicy.fastWindowMs) failedAfterWindow++;
      const delayMs = probeDelayMs(outageMs, failedAfterWindow, this.reconnectPolicy);
      if (!announced) {
        announced = true;
        this.log.warn(
          { url: this.deps.source.displayUrl, probeEveryMs: this.reconnectPolicy.probeIntervalMs, forMs: this.reconnectPolicy.fastWindowMs },
          'camera does not answer: watching for it',
        );
      }
      this.wakeUp = new AbortController();
      await sleep(delayMs, undefined, { signal: this.wakeUp.signal }).catch(() => undefined);
    }
  }

  private planSettings(): PlanSettings {
    const { source } = this.deps;
    return { mode: source.mode, encodeCodec: source.encode.codec, audio: source.audio };
  }

  /**
   * What the source holds, and the container and stream options for it: from ffmpeg's own report.
   * A file is asked every time it is recorded; a camera once, and again whenever a recording
   * found its streams changed.
   */
  private async prepare(transport: RtspTransport | undefined): Promise<Preparation> {
    const { source } = this.deps;
    if (this.streams === undefined || source.kind !== 'rtsp') {
      const probe = await (this.deps.probeSource ?? probeSource)(this.deps.ffmpegPath, source.url, this.inputOptions(transport), PROBE_TIMEOUT_MS);
      if (!probe.complete) {
        const failure = classifyFfmpegFailure(probe.stderrTail);
        return {
          ok: false,
          failure:
            failure.kind === 'unknown' ? { ...UNKNOWN_FAILURE, advice: "ffmpeg could not open the source: see ffmpeg's last lines in this log" } : failure,
          stderrTail: probe.stderrTail,
        };
      }
      this.log.debug({ streams: describeStreams(probe.streams), probeMs: probe.elapsedMs }, 'source probed');
      this.streams = probe.streams;
    }
    const planned = planChunkFormat(this.streams, this.planSettings());
    if (!planned.ok) {
      this.streams = undefined;
      return { ok: false, failure: { kind: 'no-video-stream', retryable: false, advice: planned.reason }, stderrTail: [] };
    }
    this.logPlan(planned.plan, this.streams);
    return { ok: true, plan: planned.plan, streams: this.streams };
  }

  /** One line whenever what the chunks hold changes: the container, and what happens to each audio track. */
  private logPlan(plan: FormatPlan, streams: readonly ProbedStream[]): void {
    if (this.loggedPlan !== undefined && samePlan(this.loggedPlan, plan)) return;
    this.loggedPlan = plan;
    const audio = describeAudioPlan(plan, streams);
    this.log.info(
      {
        container: plan.container,
        containerReason: plan.containerReason,
        pixelFormat: plan.pixelFormat,
        audio: plan.audio,
        dropped: plan.dropped,
        streams: describeStreams(streams),
      },
      `recording as ${plan.container}: ${plan.containerReason}; ${audio}${plan.dropped.length === 0 ? '' : `; not recorded: ${plan.dropped.join('; ')}`}`,
    );
  }

  private inputOptions(transport: RtspTransport | undefined): string[] {
    return recorderInputOptions({
      source: this.deps.source,
      rtspTimeoutSeconds: this.deps.rtspTimeoutSeconds,
      rtspTimeoutOption: this.deps.rtspTimeoutOption,
      ...(transport === undefined ? {} : { transport }),
      ...(this.resumeAtSeconds === undefined ? {} : { resumeAtSeconds: this.resumeAtSeconds }),
    });
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
    await this.discardUnlistedChunks();
    this.enqueue.stop();
    await Promise.race([this.enqueue.drained(), sleep(this.deps.stopGraceMs)]);
    if (this.enqueue.waiting > 0) {
      this.log.warn(
        { waitingToQueue: this.enqueue.waiting },
        'stopping with chunks not yet queued (Redis unreachable?): they stay in the spool and are queued at the next start',
      );
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

  /**
   * The chunk this run's ffmpeg was writing when it stopped, never listed. A file's is discarded:
   * its footage is read again from the file by the next run. A camera's is kept (the next start
   * recovers what it holds) unless it is empty: ffmpeg stopped as it opened it, so it holds no
   * footage, and left behind it would look like a chunk lost.
   */
  private async discardUnlistedChunks(): Promise<void> {
    const { spool, source } = this.deps;
    for (const chunk of (await spool.scan().catch(() => undefined))?.unlisted ?? []) {
      if (chunk.sequence < this.finaliser.nextSequence) continue; // not this run's: the next start sees to it
      if (source.kind === 'file') {
        await unlink(chunk.path).catch(() => undefined);
        this.log.info(
          { file: chunk.path, sequence: chunk.sequence },
          'stopped mid-chunk: the unfinished chunk is discarded, the next run records that part of the file again',
        );
        continue;
      }
      const bytes = await stat(chunk.path).then(
        (found) => found.size,
        () => undefined,
      );
      if (bytes !== 0) continue;
      await unlink(chunk.path).catch(() => undefined);
      this.log.info({ file: chunk.path, sequence: chunk.sequence }, 'stopped as a chunk was opened: its empty file is removed (it held no footage)');
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

  private async recordOnce(plan: FormatPlan, transport: RtspTransport | undefined): Promise<RunResult> {
    const { source, spool } = this.deps;
    // A number a file holds is never handed to ffmpeg again, whatever happened to its chunk: ffmpeg
    // would overwrite it.
    this.finaliser.reserve(await spool.highestSequenceOnDisk());
    const args = buildRecorderArgs({
      source,
      plan,
      segmentDir: spool.dir,
      firstSequence: this.finaliser.nextSequence,
      rtspTimeoutSeconds: this.deps.rtspTimeoutSeconds,
      rtspTimeoutOption: this.deps.rtspTimeoutOption,
      ...(transport === undefined ? {} : { transport }),
      ...(this.resumeAtSeconds === undefined ? {} : { resumeAtSeconds: this.resumeAtSeconds }),
    });
    const fileModifiedMs =
      source.kind === 'file'
        ? await stat(source.url).then(
            (info) => info.mtimeMs,
            () => undefined,
          )
        : undefined;
    const clock = new RecordingClock(source.kind, Date.now(), fileModifiedMs, this.resumeAtSeconds);
    this.cameraClock?.newRecording();
    const report = new InputReportReader();
    let failure: SourceFailure = UNKNOWN_FAILURE;
    let replanWith: ProbedStream[] | undefined;
    let packetsLost = 0;
    let timestampsWarned = false;
    const chunksBefore = this.chunks;
    // eslint-disable-next-line prefer-const -- assigned once the recorder exists; the callbacks run after.
    let context: RunContext;

    this.deps.metrics?.sourceUp.set({ source: source.id }, 1);
    const recorder = this.deps.startRecorder(this.deps.ffmpegPath, args, {
      onStderrLine: (line) => {
        if (report.feed(line)) replanWith = this.checkReportedStreams(plan, report.streams, recorder);
        if (isOutputOpenedLine(line)) clock.noteOutputOpened(Date.now());
        const creation = parseCreationTime(line);
        if (creation !== undefined) clock.noteFileCreationTime(creation);
        const duration = parseInputDuration(line);
        if (duration !== undefined) clock.noteFileDuration(duration);
        failure = classifyFfmpegLine(line) ?? failure;
        packetsLost += parseLostPackets(line);
        const step = parseTimestampStep(line);
        if (step !== undefined && isClockRestart(step, videoTicksPerSecond(plan.container)) && !timestampsWarned) {
          timestampsWarned = true;
          this.timestampsWentBackwards(context, line);
        }
        if (isNoteworthyLine(line)) this.log.warn({ ffmpeg: line }, 'ffmpeg reported a problem');
        else this.log.trace({ ffmpeg: line }, 'ffmpeg');
      },
      onSegment: (entry) => {
        const listedAtMs = Date.now();
        const hostClockStepMs = this.hostClock.check();
        if (hostClockStepMs !== undefined) this.hostClockStepped(hostClockStepMs);
        // Losses ffmpeg reported since the chunk before were in the packets of this chunk.
        const facts = {
          pixelFormat: plan.pixelFormat,
          audio: plan.audio,
          dropped: plan.dropped,
          ...(transport === undefined ? {} : { transport, packetsLost }),
          ...(hostClockStepMs === undefined ? {} : { hostClockStepMs }),
        };
        packetsLost = 0;
        this.finalising = this.finalising.then(() => this.finaliseChunk(entry, clock, listedAtMs, facts, context));
      },
    });
    context = { recorder, renames: new Map(), restartForChange: false };
    this.current = recorder;
    this.notify((o) => o.recorderStarted?.());
    const exit = await recorder.exited;
    this.deps.metrics?.sourceUp.set({ source: source.id }, 0);
    await this.finalising;
    if (failure === UNKNOWN_FAILURE) failure = classifyFfmpegFailure(exit.stderrTail);
    return {
      exit,
      failure,
      produced: this.chunks > chunksBefore,
      startedAtMs: recorder.startedAtMs,
      ...(replanWith === undefined ? {} : { replanWith }),
      ...(context.restartForChange ? { restartForChange: true } : {}),
      ...(context.resumeAtSeconds === undefined ? {} : { resumeAtSeconds: context.resumeAtSeconds }),
    };
  }

  /**
   * A camera whose timestamps went backwards (it restarted its clock): ffmpeg would squeeze every
   * frame after into a tick until they caught up, and the chunks' durations would lie. The
   * recording is closed and made again, on a fresh timeline.
   */
  private timestampsWentBackwards(context: RunContext, line: string): void {
    if (this.deps.source.kind !== 'rtsp') {
      this.log.warn({ ffmpeg: line }, "the file's timestamps go backwards here: the chunk holding this part keeps ffmpeg's corrected times");
      return;
    }
    this.log.warn(
      { ffmpeg: line },
      "the camera's timestamps went backwards (it restarted its clock?): closing this recording and starting a new one, so the chunks' times stay true",
    );
    context.restartForChange = true;
    void context.recorder.stop(this.deps.stopGraceMs);
  }

  /**
   * ffmpeg's report of the streams of this recording: if they call for another container or other
   * stream options (a camera back with another codec), the recording is stopped (its chunk is
   * closed and kept) and made again for them. Returns the streams to plan for, or undefined.
   */
  private checkReportedStreams(plan: FormatPlan, reported: ProbedStream[], recorder: RunningRecorder): ProbedStream[] | undefined {
    const { source } = this.deps;
    if (source.kind === 'rtsp') this.streams = reported;
    const replanned = planChunkFormat(reported, this.planSettings());
    // No video at all: ffmpeg will say so itself.
    if (!replanned.ok || samePlan(replanned.plan, plan)) return undefined;
    this.log.warn(
      { planned: describeStreams([plan.video]), reported: describeStreams(reported), container: replanned.plan.container },
      'the source reports other streams than this recording was set up for: closing it and recording again for them',
    );
    if (source.kind === 'rtsp') void recorder.stop(this.deps.stopGraceMs);
    else void recorder.abort();
    return reported;
  }

  private async finaliseChunk(
    entry: SegmentListEntry,
    clock: RecordingClock,
    listedAtMs: number,
    facts: ChunkRecordingFacts,
    context: RunContext,
  ): Promise<void> {
    const fileName = context.renames.get(entry.fileName) ?? entry.fileName;
    const chunk = this.deps.spool.chunkFile(fileName);
    if (chunk === undefined) {
      this.log.error({ file: entry.fileName }, 'ffmpeg listed a file that is not one of our chunks; left alone');
      return;
    }
    // A file cut again after a change: ffmpeg had run ahead; that part is being recorded again.
    if (context.skipAfter !== undefined && chunk.sequence > context.skipAfter && !context.renames.has(entry.fileName)) return;
    this.finaliser.reserve(chunk.sequence);
    // Placed once: a live recording is anchored on its first chunk, and a retry must not move it.
    let placement: ChunkPlacement | undefined;
    const place = (mediaDurationMs: number) => (placement ??= clock.placeChunk(entry, mediaDurationMs, listedAtMs));
    let after: { chunk: SpoolChunkFile; placement: ChunkPlacement } | undefined;
    try {
      after = await this.recutter.recutIfParametersChanged(chunk, place, context);
    } catch (error) {
      this.log.error(
        { err: error, file: chunk.path, sequence: chunk.sequence },
        "the chunk's stream parameters changed but it could not be cut again: it is kept as ffmpeg wrote it",
      );
    }
    await this.finaliseWithRetries(chunk, place, await this.factsOfHeader(chunk, facts));
    if (after !== undefined) {
      const { placement: afterPlacement } = after;
      await this.finaliseWithRetries(after.chunk, () => afterPlacement, await this.factsOfHeader(after.chunk, facts));
    }
  }

  /** The recording's facts, with the pixel format the chunk's own header says (grey H.264, which ffmpeg reports as 4:2:0). */
  private async factsOfHeader(chunk: SpoolChunkFile, facts: ChunkRecordingFacts): Promise<ChunkRecordingFacts> {
    if (facts.pixelFormat === undefined) return facts;
    const bytes = await readFile(chunk.path).catch(() => undefined);
    if (bytes === undefined) return facts;
    return { ...facts, pixelFormat: await pixelFormatOfHeader(bytes, chunk.container, facts.pixelFormat) };
  }

  private async finaliseWithRetries(chunk: SpoolChunkFile, place: (mediaDurationMs: number) => ChunkPlacement, facts: ChunkRecordingFacts): Promise<void> {
    for (let failures = 1; ; failures++) {
      try {
        const job = await this.finaliser.finaliseListed(chunk, place, facts);
        this.chunkRecorded(job);
        this.noteKeyframes();
        return;
      } catch (error) {
        // A disk that failed (full, an I/O error) may recover: the chunk is tried again in its
        // place in the order, for a while. A broken file, or a failure that lasts, must not hold up
        // the chunks behind it: it stays in the spool, its number is never reused, and the next
        // start describes it again from its own bytes (or quarantines it).
        const retry = !isChunkContentError(error) && !this.stopping && failures < FINALISE_ATTEMPTS;
        this.log.error(
          { err: error, file: chunk.path, sequence: chunk.sequence, attempt: failures },
          retry
            ? 'chunk could not be finalised; it stays in the spool and is tried again'
            : 'chunk could not be finalised; it stays in the spool until the next start',
        );
        if (!retry) return;
        await sleep(backoffDelayMs(failures, this.deps.finaliseRetry ?? FINALISE_RETRY));
      }
    }
  }

  /** Whole GOPs seen in the chunks cut so far (seconds each), for the one hint below. */
  private gops: number[] = [];
  private gopHinted = false;

  /**
   * Copy mode cuts at the source's keyframes: when its keyframe interval does not divide
   * chunkSeconds, chunks cannot be that long, and the log says what to set instead (once).
   */
  private noteKeyframes(): void {
    const info = this.finaliser.lastInspection;
    const { source } = this.deps;
    if (this.gopHinted || source.mode !== 'copy' || info === undefined || info.keyframeCount === undefined || info.keyframeCount === 0) return;
    this.gops.push(info.durationMs / 1000 / info.keyframeCount);
    if (this.gops.length < 3) return;
    const gop = [...this.gops].sort((a, b) => a - b)[Math.floor(this.gops.length / 2)] ?? 0;
    this.gopHinted = true;
    const advice = gopAdvice(gop, source.chunkSeconds, info.frameRate);
    if (advice !== undefined) this.log.warn({ keyframeIntervalSeconds: Math.round(gop * 1000) / 1000, chunkSeconds: source.chunkSeconds }, advice);
  }

  private chunkRecorded(job: ChunkJobData): void {
    const { metadata } = job;
    // Gaps are measured on this node's clock: a camera's chunks move from it to the camera's own
    // clock when its first Sender Report arrives, and that is no gap.
    const hostStart = metadata.hostTime ?? metadata.startTime;
    this.reportGap(hostStart, metadata.startTime);
    this.lastChunkEndMs = Date.parse(hostStart) + metadata.durationMs;
    this.lastChunkRecordedEndMs = Date.parse(metadata.startTime) + metadata.durationMs;
    this.chunks++;
    this.deps.metrics?.chunksRecorded.inc({ source: this.deps.source.id });
    this.enqueue.schedule(job, 'chunk recorded');
    this.notify((o) => o.chunkRecorded?.(metadata));
  }

  /**
   * This node's wall clock stepped since the chunk before. A recording keeps the timeline it was
   * anchored on; one started after the step is placed on the stepped clock, so its chunks may
   * overlap earlier ones (and their names sort before them). Their names stay unique: each holds
   * its sequence number, which never goes back.
   */
  private hostClockStepped(stepMs: number): void {
    this.deps.metrics?.clockSteps.inc({ source: this.deps.source.id, clock: 'host' });
    this.log.warn(
      { hostClockStepMs: stepMs },
      `this node's clock stepped ${stepMs < 0 ? 'back' : 'forward'} by ${(Math.abs(stepMs) / 1000).toFixed(3)} s against its monotonic clock: the next chunk is marked (hostClockStepMs); chunks of later recordings may overlap earlier ones`,
    );
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

  /**
   * A gap is found on this node's clock (`hostStart`), and said on the timeline the chunks carry
   * (`startTime`, maybe the camera's): the times the bucket, coverage and the fleet page show.
   */
  private reportGap(hostStart: string, startTime: string): void {
    if (this.lastChunkEndMs === undefined) return;
    const gapMs = Date.parse(hostStart) - this.lastChunkEndMs;
    const fromMs = this.lastChunkRecordedEndMs ?? this.lastChunkEndMs;
    if (gapMs < -1000) {
      this.log.warn(
        { overlapMs: -gapMs, previousEnd: new Date(fromMs).toISOString(), startTime },
        `this chunk starts ${(-gapMs / 1000).toFixed(1)} s before the one before it ended: this node's clock went back (see hostClockStepMs)`,
      );
    }
    const expected = this.gapExpected;
    this.gapExpected = false;
    // A few frames of jitter between chunks is not a gap worth a warning; after a recording made
    // again on purpose (its stream changed), any gap is.
    if (gapMs > (expected ? 40 : 500)) {
      this.deps.metrics?.gapSeconds.inc({ source: this.deps.source.id }, gapMs / 1000);
      // Said on the chunks' timeline, so that from + gapMs = to, as the bucket and the alerts see it.
      const saidGapMs = Date.parse(startTime) - fromMs;
      this.log.warn({ gapMs: saidGapMs, gapFrom: new Date(fromMs).toISOString(), gapTo: startTime }, `recording gap of ${(saidGapMs / 1000).toFixed(1)} s`);
      this.notify((o) => o.gap?.({ fromMs, toMs: Date.parse(startTime) }));
    }
  }

  private logQueued(job: ChunkJobData, message: string): void {
    const { metadata } = job;
    this.log.info(
      {
        sequence: metadata.sequence,
        startTime: metadata.startTime,
        durationMs: metadata.durationMs,
        bytes: metadata.bytes,
        width: metadata.width,
        height: metadata.height,
        container: metadata.container,
        clock: metadata.clock,
        ...(metadata.transport === undefined ? {} : { transport: metadata.transport, packetsLost: metadata.packetsLost }),
        ...(metadata.hostTime === undefined ? {} : { hostTime: metadata.hostTime }),
        ...(metadata.cameraTime === undefined ? {} : { cameraTime: metadata.cameraTime, clockOffsetMs: metadata.clockOffsetMs }),
        ...(metadata.cameraTimeSource === undefined ? {} : { cameraTimeSource: metadata.cameraTimeSource }),
        ...(metadata.cameraClockStepMs === undefined ? {} : { cameraClockStepMs: metadata.cameraClockStepMs }),
        ...(metadata.hostClockStepMs === undefined ? {} : { hostClockStepMs: metadata.hostClockStepMs }),
      },
      message,
    );
  }
}
