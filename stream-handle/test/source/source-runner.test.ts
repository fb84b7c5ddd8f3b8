import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  GENESIS_PREV,
  chunkFileName,
  chunkFilePath,
  crc32cBase64,
  fromEvidenceMetadata,
  inspectMp4Buffer,
  recordHash,
  type ChunkJobData,
  type EvidenceRecord,
  type Mp4Info,
} from '@crispy-streamer/shared';
import type { ChunkQueue } from '../../src/queue/chunk-queue.js';
import type { RecorderArgs } from '../../src/recorder/recorder-args.js';
import type { RecorderExit, RecorderHandlers, StartRecorder } from '../../src/recorder/recorder.js';
import type { SourceConfig } from '../../src/source/source-config.js';
import type { CameraAnswers } from '../../src/recorder/camera-reachability.js';
import type { ProbeSource } from '../../src/recorder/source-probe.js';
import { SourceRunner, type SourceRunnerDeps } from '../../src/source/source-runner.js';
import { SourceSpool } from '../../src/spool/source-spool.js';
import { captureLogger, probeH264, sourceConfig, type LogLine } from '../support.js';

const run = promisify(execFile);

// Two small real MP4s, 1 s and 2 s of 320x240 at 10 fps, made once.
let fixtureDir = '';
let oneSecond: Buffer;
let twoSeconds: Buffer;
let oneSecondInfo: Mp4Info;
let twoSecondsInfo: Mp4Info;

beforeAll(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'source-runner-fixtures-'));
  const make = async (name: string, seconds: number): Promise<Buffer> => {
    const out = join(fixtureDir, name);
    await run('/usr/bin/ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=10',
      '-t',
      String(seconds),
      '-c:v',
      'libx264',
      '-g',
      '10',
      out,
    ]);
    return readFile(out);
  };
  [oneSecond, twoSeconds] = await Promise.all([make('one.mp4', 1), make('two.mp4', 2)]);
  [oneSecondInfo, twoSecondsInfo] = await Promise.all([inspectMp4Buffer(oneSecond), inspectMp4Buffer(twoSeconds)]);
  return () => rm(fixtureDir, { recursive: true, force: true });
}, 30_000);

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'source-runner-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

// ---- A fake recorder: plays a script per ffmpeg run instead of spawning ffmpeg. ----

interface FakeRun {
  args: RecorderArgs;
  handlers: RecorderHandlers;
  firstSequence: number;
  segmentDir: string;
  /** Resolves when the runner asks this ffmpeg to stop. */
  stopRequested: Promise<void>;
}
type Script = (run: FakeRun) => Promise<RecorderExit>;

interface RecorderCall {
  args: RecorderArgs;
  firstSequence: number;
  startedAtMs: number;
  exitedAtMs: number | undefined;
  stopCalls: number;
  abortCalls: number;
}

function optionValue(options: string[], name: string): string | undefined {
  const index = options.indexOf(name);
  return index < 0 ? undefined : options[index + 1];
}

function fakeRecorder(scripts: Script[]): { start: StartRecorder; calls: RecorderCall[] } {
  const calls: RecorderCall[] = [];
  const start: StartRecorder = (_ffmpegPath, args, handlers) => {
    const script = scripts.shift() ?? untilStopped();
    const call: RecorderCall = {
      args,
      firstSequence: Number(optionValue(args.outputOptions, '-segment_start_number')),
      startedAtMs: Date.now(),
      exitedAtMs: undefined,
      stopCalls: 0,
      abortCalls: 0,
    };
    calls.push(call);
    let requestStop: () => void = () => undefined;
    const stopRequested = new Promise<void>((resolve) => {
      requestStop = resolve;
    });
    let running = true;
    const exited = (async () => {
      await Promise.resolve();
      const exit = await script({ args, handlers, firstSequence: call.firstSequence, segmentDir: dirname(args.outputPattern), stopRequested });
      running = false;
      call.exitedAtMs = Date.now();
      return exit;
    })();
    return {
      startedAtMs: call.startedAtMs,
      get running() {
        return running;
      },
      exited,
      async stop() {
        call.stopCalls++;
        requestStop();
        return exited;
      },
      async abort() {
        call.abortCalls++;
        requestStop();
        return exited;
      },
      suspend() {},
      resume() {},
    };
  };
  return { start, calls };
}

/** ffmpeg writing these chunks one after another (each listed once written), then exiting. */
function chunks(files: Buffer[], options: { sourceId?: string; code?: number; stderrTail?: string[]; creationTime?: string } = {}): Script {
  return async ({ handlers, firstSequence, segmentDir }) => {
    handlers.onStderrLine("Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '/media/clip.mp4':");
    if (options.creationTime !== undefined) handlers.onStderrLine(`    creation_time   : ${options.creationTime}`);
    handlers.onStderrLine(H264_STREAM_LINE);
    handlers.onStderrLine(`Output #0, segment, to '${segmentDir}/cam0-%010d.mp4':`);
    let at = 0;
    for (const [i, bytes] of files.entries()) {
      const fileName = chunkFileName(options.sourceId ?? 'cam0', firstSequence + i, 'mp4');
      await writeFile(join(segmentDir, fileName), bytes);
      const seconds = (await inspectMp4Buffer(bytes)).durationMs / 1000;
      handlers.onSegment({ fileName, startSeconds: at, endSeconds: at + seconds });
      at += seconds;
    }
    return { code: options.code ?? 0, signal: null, stderrTail: options.stderrTail ?? [] };
  };
}

function fails(code: number, stderrTail: string[]): Script {
  return async () => ({ code, signal: null, stderrTail });
}

/** A live camera: records nothing new until asked to stop. */
function untilStopped(): Script {
  return async ({ stopRequested }) => {
    await stopRequested;
    return { code: 255, signal: null, stderrTail: ['Exiting normally, received signal 15.'] };
  };
}

// ---- A fake queue that records what it was given. ----

class FakeQueue implements ChunkQueue {
  readonly jobs: ChunkJobData[] = [];
  attempts = 0;
  /** What was on disk when each enqueue was attempted. */
  readonly seenOnDisk: { chunk: boolean; jobData: boolean }[] = [];

  constructor(private failures = 0) {}

  async enqueue(job: ChunkJobData): Promise<'added' | 'exists'> {
    this.attempts++;
    const path = chunkFilePath(root, job.metadata);
    this.seenOnDisk.push({ chunk: existsSync(path), jobData: existsSync(`${path}.json`) });
    if (this.failures > 0) {
      this.failures--;
      throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    }
    this.jobs.push(job);
    return 'added';
  }

  async removeUnlessActive(): Promise<'removed' | 'absent' | 'active'> {
    return 'absent';
  }

  async close(): Promise<void> {}
}

/** The fixtures' stream, as ffmpeg reports it. */
const H264_STREAM_LINE = '  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 320x240, 10 fps, 10 tbr, 10240 tbn (default)';
/** A probe that finds what the fixtures hold. */

const FILE_SOURCE = sourceConfig({ id: 'cam0', url: '/media/clip.mp4' });
const CAMERA = sourceConfig({ id: 'cam0', url: 'rtsp://admin:s3cret@127.0.0.1:8554/cam' });
const UNAUTHORIZED = [
  '[rtsp @ 0x55f0d6a3c8c0] method DESCRIBE failed: 401 Unauthorized',
  'rtsp://admin:***@127.0.0.1:8554/cam: Server returned 401 Unauthorized (authorization failed)',
];
const REFUSED = [
  '[tcp @ 0x5626b7e0a240] Connection to tcp://127.0.0.1:8554?timeout=10000000 failed: Connection refused',
  'rtsp://admin:***@127.0.0.1:8554/cam: Connection refused',
];

function makeRunner(options: {
  source?: SourceConfig;
  queue: ChunkQueue;
  start: StartRecorder;
  reconnect?: SourceRunnerDeps['reconnect'];
  reconnectProbe?: SourceRunnerDeps['reconnectProbe'];
  stopGraceMs?: number;
  clockSync?: SourceRunnerDeps['clockSync'];
  probeSource?: ProbeSource;
  cameraAnswers?: CameraAnswers;
}) {
  const source = options.source ?? FILE_SOURCE;
  const { logger, lines } = captureLogger();
  const runner = new SourceRunner({
    source,
    spool: new SourceSpool(root, source.id),
    queue: options.queue,
    logger,
    ffmpegPath: '/usr/bin/ffmpeg',
    startRecorder: options.start,
    nodeId: 'edge-1',
    rtspTimeoutSeconds: 10,
    rtspTimeoutOption: '-timeout',
    reconnect: options.reconnect ?? { minDelayMs: 30, maxDelayMs: 1000, jitter: 0 },
    reconnectProbe: options.reconnectProbe ?? { intervalMs: 20, fastWindowMs: 60_000 },
    probeSource: options.probeSource ?? probeH264,
    cameraAnswers: options.cameraAnswers ?? (async () => true),
    stopGraceMs: options.stopGraceMs ?? 200,
    enqueueRetry: { minDelayMs: 1000, maxDelayMs: 30_000, jitter: 0 },
    finaliseRetry: { minDelayMs: 5, maxDelayMs: 5, jitter: 0 },
    ...(options.clockSync === undefined ? {} : { clockSync: options.clockSync }),
  });
  return { runner, lines };
}

const spoolDir = (): string => join(root, 'cam0');
const chunkPath = (sequence: number): string => join(spoolDir(), chunkFileName('cam0', sequence, 'mp4'));
const readJson = async (path: string): Promise<unknown> => JSON.parse(await readFile(path, 'utf8'));
/** The evidence record a queued chunk carries. */
function recordOf(job: ChunkJobData | undefined): EvidenceRecord {
  const evidence = fromEvidenceMetadata(job?.evidence ?? {});
  if (evidence === undefined) return expect.unreachable(`chunk ${job?.metadata.sequence} has no evidence record`);
  return evidence.record;
}

const messages = (lines: LogLine[], severity?: string): string[] =>
  lines.filter((l) => severity === undefined || l.severity === severity).map((l) => l.message);

describe('SourceRunner', () => {
  describe('a file source', () => {
    it('queues every chunk in order with its metadata, writes job data beside it and saves the next sequence', async () => {
      const queue = new FakeQueue();
      const recorder = fakeRecorder([chunks([oneSecond, twoSeconds], { creationTime: '2026-11-23T09:00:00.000000Z' })]);
      const { runner } = makeRunner({ queue, start: recorder.start });

      expect(await runner.run()).toEqual({ status: 'completed', chunks: 2 });

      expect(recorder.calls).toHaveLength(1);
      expect(recorder.calls[0]?.firstSequence).toBe(0);
      expect(recorder.calls[0]?.args.input).toBe('/media/clip.mp4');
      expect(recorder.calls[0]?.args.outputPattern).toBe(join(spoolDir(), 'cam0-%010d.mp4'));

      expect(oneSecondInfo.durationMs).toBe(1000);
      expect(twoSecondsInfo.durationMs).toBe(2000);
      const expected: ChunkJobData[] = [
        {
          v: 1,
          metadata: {
            sourceId: 'cam0',
            sequence: 0,
            startTime: '2026-11-23T09:00:00.000Z',
            durationMs: 1000,
            frameCount: 10,
            frameRate: 10,
            bytes: oneSecond.byteLength,
            crc32c: crc32cBase64(oneSecond),
            container: 'mp4',
            codec: 'h264',
            width: 320,
            height: 240,
            mode: 'copy',
            clock: 'file',
            clockSync: 'unknown',
            recordedBy: 'edge-1',
            pixelFormat: 'yuv420p',
            audio: [],
            dropped: [],
          },
        },
        {
          v: 1,
          metadata: {
            sourceId: 'cam0',
            sequence: 1,
            startTime: '2026-11-23T09:00:01.000Z',
            durationMs: 2000,
            frameCount: 20,
            frameRate: 10,
            bytes: twoSeconds.byteLength,
            crc32c: crc32cBase64(twoSeconds),
            container: 'mp4',
            codec: 'h264',
            width: 320,
            height: 240,
            mode: 'copy',
            clock: 'file',
            clockSync: 'unknown',
            recordedBy: 'edge-1',
            pixelFormat: 'yuv420p',
            audio: [],
            dropped: [],
          },
        },
      ];
      expect(queue.jobs.map(({ v, metadata }) => ({ v, metadata }))).toEqual(expected);
      // What was queued is exactly what was written beside each chunk.
      expect(await readJson(`${chunkPath(0)}.json`)).toEqual(queue.jobs[0]);
      expect(await readJson(`${chunkPath(1)}.json`)).toEqual(queue.jobs[1]);
      expect(await readJson(join(spoolDir(), 'state.json'))).toMatchObject({ nextSequence: 2 });
      // Job data is on disk before the queue is asked: the spool can always rebuild the queue.
      expect(queue.seenOnDisk).toEqual([
        { chunk: true, jobData: true },
        { chunk: true, jobData: true },
      ]);
    });

    it("starts chunks at the host's clock when the file has no creation time, noting whether it is synchronised", async () => {
      const queue = new FakeQueue();
      const before = Date.now();
      const { runner } = makeRunner({ queue, start: fakeRecorder([chunks([oneSecond, oneSecond])]).start, clockSync: () => 'synchronised' });
      await runner.run();
      const [first, second] = queue.jobs.map((j) => j.metadata);
      expect(first?.clock).toBe('host');
      expect(first?.clockSync).toBe('synchronised');
      expect(Date.parse(first?.startTime ?? '')).toBeGreaterThanOrEqual(before);
      expect(Date.parse(first?.startTime ?? '')).toBeLessThanOrEqual(Date.now());
      expect(Date.parse(second?.startTime ?? '') - Date.parse(first?.startTime ?? '')).toBe(1000);
    });

    it('fails, without throwing or retrying, when ffmpeg cannot read the file', async () => {
      const queue = new FakeQueue();
      const recorder = fakeRecorder([fails(1, ['/media/clip.mp4: Invalid data found when processing input'])]);
      const { runner, lines } = makeRunner({ queue, start: recorder.start });

      expect(await runner.run()).toEqual({
        status: 'failed',
        chunks: 0,
        reason: 'ffmpeg cannot read this as video: check that the source is a video file or stream (ffmpeg exit 1)',
      });
      expect(recorder.calls).toHaveLength(1);
      expect(queue.attempts).toBe(0);
      expect(messages(lines, 'ERROR')).toContain(
        'source failed: ffmpeg cannot read this as video: check that the source is a video file or stream (ffmpeg exit 1)',
      );
    });

    it('fails when ffmpeg exits cleanly without listing any chunk', async () => {
      const { runner } = makeRunner({ queue: new FakeQueue(), start: fakeRecorder([chunks([])]).start });
      expect(await runner.run()).toEqual({ status: 'failed', chunks: 0, reason: 'ffmpeg produced no chunks from this source' });
    });

    it('leaves a listed chunk that is not a whole MP4 in the spool without job data', async () => {
      const queue = new FakeQueue();
      const broken: Script = async ({ handlers, segmentDir }) => {
        await writeFile(join(segmentDir, chunkFileName('cam0', 0, 'mp4')), twoSeconds.subarray(0, twoSeconds.byteLength / 2));
        handlers.onSegment({ fileName: chunkFileName('cam0', 0, 'mp4'), startSeconds: 0, endSeconds: 2 });
        return { code: 0, signal: null, stderrTail: [] };
      };
      const { runner, lines } = makeRunner({ queue, start: fakeRecorder([broken]).start });
      expect(await runner.run()).toEqual({ status: 'failed', chunks: 0, reason: 'ffmpeg produced no chunks from this source' });
      expect(queue.attempts).toBe(0);
      expect(existsSync(chunkPath(0))).toBe(true);
      expect(existsSync(`${chunkPath(0)}.json`)).toBe(false);
      expect(messages(lines, 'ERROR')).toContain('chunk could not be finalised; it stays in the spool until the next start');
    }, 10_000);

    it('ignores a listed file that is not one of its chunk names', async () => {
      const queue = new FakeQueue();
      const foreign: Script = async ({ handlers }) => {
        handlers.onSegment({ fileName: 'other-0000000000.mp4', startSeconds: 0, endSeconds: 1 });
        return { code: 0, signal: null, stderrTail: [] };
      };
      const { runner, lines } = makeRunner({ queue, start: fakeRecorder([foreign]).start });
      expect((await runner.run()).status).toBe('failed');
      expect(messages(lines, 'ERROR')).toContain('ffmpeg listed a file that is not one of our chunks; left alone');
    });
  });

  describe('a camera', () => {
    it('retries a camera that refuses with doubling backoff, and stop() ends run() as stopped', async () => {
      const queue = new FakeQueue();
      const recorder = fakeRecorder([fails(1, UNAUTHORIZED), fails(1, UNAUTHORIZED), untilStopped()]);
      const { runner, lines } = makeRunner({ source: CAMERA, queue, start: recorder.start, reconnect: { minDelayMs: 30, maxDelayMs: 1000, jitter: 0 } });

      const outcome = runner.run();
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(3), { timeout: 2000, interval: 5 });
      expect(runner.recording).toBe(true);
      await runner.stop();

      expect(await outcome).toEqual({ status: 'stopped', chunks: 0 });
      expect(runner.recording).toBe(false);
      expect(recorder.calls.map((c) => c.stopCalls)).toEqual([0, 0, 1]);
      const [first, second, third] = recorder.calls;
      // Timers may fire a millisecond early by Date.now()'s reckoning.
      expect((second?.startedAtMs ?? 0) - (first?.exitedAtMs ?? 0)).toBeGreaterThanOrEqual(29);
      expect((third?.startedAtMs ?? 0) - (second?.exitedAtMs ?? 0)).toBeGreaterThanOrEqual(59);

      const ended = lines.filter((l) => l.message.startsWith('camera stream ended: the camera refused the credentials'));
      expect(ended.map((l) => ({ severity: l.severity, attempt: l.attempt, retryInMs: l.retryInMs, failure: l.failure, cause: l.cause }))).toEqual([
        { severity: 'WARNING', attempt: 1, retryInMs: 30, failure: 'unauthorized', cause: UNAUTHORIZED[1] },
        { severity: 'WARNING', attempt: 2, retryInMs: 60, failure: 'unauthorized', cause: UNAUTHORIZED[1] },
      ]);
      expect(JSON.stringify(lines)).not.toContain('s3cret');
    });

    it('watches a camera that went away with a connection attempt every probe interval, and records again as soon as it answers', async () => {
      const queue = new FakeQueue();
      const recorder = fakeRecorder([chunks([oneSecond]), fails(1, REFUSED), untilStopped()]);
      const attempts: number[] = [];
      let answersFrom = Number.POSITIVE_INFINITY;
      const cameraAnswers: CameraAnswers = async () => {
        attempts.push(Date.now());
        return Date.now() >= answersFrom;
      };
      const { runner, lines } = makeRunner({
        source: CAMERA,
        queue,
        start: recorder.start,
        cameraAnswers,
        reconnectProbe: { intervalMs: 20, fastWindowMs: 60_000 },
        reconnect: { minDelayMs: 5000, maxDelayMs: 5000, jitter: 0 },
      });
      const outcome = runner.run();
      // The stream ended after a chunk: watched for at once, ffmpeg not started while it does not answer.
      await vi.waitFor(() => expect(attempts.length).toBeGreaterThanOrEqual(5), { timeout: 2000, interval: 5 });
      expect(recorder.calls).toHaveLength(1);
      answersFrom = Date.now();
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(2), { timeout: 2000, interval: 2 });
      // Started within a probe interval (and a little) of answering, with no backoff.
      expect((recorder.calls[1]?.startedAtMs ?? 0) - answersFrom).toBeLessThan(200);
      const gaps = attempts.slice(1, 5).map((at, i) => at - (attempts[i] ?? 0));
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(19);
      // ffmpeg then finds it refusing connections (it went away again): watched again, not hammered.
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(3), { timeout: 2000, interval: 2 });
      await runner.stop();
      expect(await outcome).toEqual({ status: 'stopped', chunks: 1 });
      expect((recorder.calls[2]?.startedAtMs ?? 0) - (recorder.calls[1]?.exitedAtMs ?? 0)).toBeGreaterThanOrEqual(19);
      expect(messages(lines)).toContain('camera does not answer: watching for it');
      expect(messages(lines).some((m) => /^camera answers again after \d+\.\d s: reconnecting$/.test(m))).toBe(true);
    });

    it('a camera back with another codec: the recording is closed (its chunk kept) and made again for the streams ffmpeg reports', async () => {
      const queue = new FakeQueue();
      // Probed as H.264; ffmpeg then reports H.265: the recording must become hvc1-tagged.
      const reportsHevc: Script = async (fake) => {
        fake.handlers.onStderrLine("Input #0, rtsp, from 'rtsp://admin:***@127.0.0.1:8554/cam':");
        fake.handlers.onStderrLine('  Stream #0:0: Video: hevc (Main), yuv420p(tv), 320x240, 10 fps, 10 tbr, 90k tbn');
        fake.handlers.onStderrLine("Output #0, segment, to 'x':");
        return chunks([oneSecond])(fake).then(async (exit) => {
          await fake.stopRequested;
          return exit;
        });
      };
      const recorder = fakeRecorder([reportsHevc, untilStopped()]);
      const { runner, lines } = makeRunner({ source: CAMERA, queue, start: recorder.start });
      const outcome = runner.run();
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(2), { timeout: 2000, interval: 5 });
      await runner.stop();
      expect(await outcome).toEqual({ status: 'stopped', chunks: 1 });
      expect(recorder.calls[0]?.stopCalls).toBe(1);
      expect(recorder.calls[0]?.args.outputOptions).not.toContain('-tag:v');
      const second = recorder.calls[1]?.args.outputOptions ?? [];
      expect(second.slice(second.indexOf('-tag:v'), second.indexOf('-tag:v') + 2)).toEqual(['-tag:v', 'hvc1']);
      expect(messages(lines)).toContain('the source reports other streams than this recording was set up for: closing it and recording again for them');
      expect(queue.jobs).toHaveLength(1);
    });

    it('transport auto: tries TCP, then UDP on a 461, and asks UDP first from then on', async () => {
      const refused461 = ['[rtsp @ 0x55a0] method SETUP failed: 461 Unsupported transport', 'rtsp://admin:***@127.0.0.1:8554/cam: Protocol not supported'];
      const probes: string[] = [];
      const probeSource: ProbeSource = async (_ffmpeg, _url, inputOptions) => {
        const transport = inputOptions[inputOptions.indexOf('-rtsp_transport') + 1] ?? '';
        probes.push(transport);
        return transport === 'tcp' ? { complete: false, streams: [], stderrTail: refused461, elapsedMs: 1 } : probeH264('', '', [], 0);
      };
      const recorder = fakeRecorder([chunks([oneSecond]), untilStopped()]);
      const { runner, lines } = makeRunner({ source: { ...CAMERA, transport: 'auto' }, queue: new FakeQueue(), start: recorder.start, probeSource });
      const outcome = runner.run();
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(2), { timeout: 2000, interval: 5 });
      await runner.stop();
      await outcome;
      expect(probes).toEqual(['tcp', 'udp']);
      const transports = recorder.calls.map((c) => c.args.inputOptions[c.args.inputOptions.indexOf('-rtsp_transport') + 1]);
      expect(transports).toEqual(['udp', 'udp']);
      expect(lines.find((l) => l.message === 'camera refused RTSP over tcp: trying udp')).toMatchObject({
        failure: 'unsupported-transport',
        cause: refused461[0],
      });
    });

    it('gives ffmpeg the camera URL with TCP transport and the socket timeout in microseconds', async () => {
      const recorder = fakeRecorder([untilStopped()]);
      const { runner } = makeRunner({ source: CAMERA, queue: new FakeQueue(), start: recorder.start });
      const outcome = runner.run();
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(1));
      await runner.stop();
      await outcome;
      expect(recorder.calls[0]?.args.input).toBe('rtsp://admin:s3cret@127.0.0.1:8554/cam');
      expect(recorder.calls[0]?.args.inputOptions.slice(0, 4)).toEqual(['-rtsp_transport', 'tcp', '-timeout', '10000000']);
    });

    it('stops at once when stopped during the backoff wait', async () => {
      const recorder = fakeRecorder([fails(1, UNAUTHORIZED)]);
      const { runner } = makeRunner({
        source: CAMERA,
        queue: new FakeQueue(),
        start: recorder.start,
        reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
      });
      const outcome = runner.run();
      await vi.waitFor(() => expect(recorder.calls[0]?.exitedAtMs).toBeDefined());
      const stoppedAt = Date.now();
      await runner.stop();
      expect(await outcome).toEqual({ status: 'stopped', chunks: 0 });
      expect(Date.now() - stoppedAt).toBeLessThan(1000);
      expect(recorder.calls).toHaveLength(1);
    });

    it('continues the sequence after a drop and resets the backoff once chunks were recorded', async () => {
      const queue = new FakeQueue();
      const recorder = fakeRecorder([chunks([oneSecond, oneSecond], { code: 1, stderrTail: REFUSED }), untilStopped()]);
      const { runner, lines } = makeRunner({ source: CAMERA, queue, start: recorder.start });
      const outcome = runner.run();
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(2), { timeout: 2000 });
      await runner.stop();
      expect(await outcome).toEqual({ status: 'stopped', chunks: 2 });
      expect(recorder.calls[1]?.firstSequence).toBe(2);
      expect(queue.jobs.map((j) => j.metadata.sequence)).toEqual([0, 1]);
      expect(lines.find((l) => l.message.startsWith('camera stream ended'))?.attempt).toBe(1);
    });

    it('pauses by stopping ffmpeg, and records again only after resume()', async () => {
      const recorder = fakeRecorder([untilStopped(), untilStopped()]);
      const { runner } = makeRunner({
        source: CAMERA,
        queue: new FakeQueue(),
        start: recorder.start,
        reconnect: { minDelayMs: 10, maxDelayMs: 10, jitter: 0 },
      });
      const outcome = runner.run();
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(1));
      await runner.pause('spool full');
      expect(runner.paused).toBe(true);
      expect(recorder.calls[0]?.stopCalls).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(recorder.calls).toHaveLength(1);
      runner.resume();
      expect(runner.paused).toBe(false);
      await vi.waitFor(() => expect(recorder.calls).toHaveLength(2));
      await runner.stop();
      expect((await outcome).status).toBe('stopped');
    });
  });

  describe('restarts', () => {
    it('continues the sequence from the spool and requeues chunks still waiting there', async () => {
      const firstQueue = new FakeQueue();
      const first = makeRunner({ queue: firstQueue, start: fakeRecorder([chunks([oneSecond, twoSeconds])]).start });
      expect(await first.runner.run()).toEqual({ status: 'completed', chunks: 2 });

      const secondQueue = new FakeQueue();
      const secondRecorder = fakeRecorder([chunks([oneSecond])]);
      const second = makeRunner({ queue: secondQueue, start: secondRecorder.start });
      expect(await second.runner.run()).toEqual({ status: 'completed', chunks: 1 });

      expect(secondRecorder.calls[0]?.firstSequence).toBe(2);
      expect(secondQueue.jobs.map((j) => j.metadata.sequence)).toEqual([0, 1, 2]);
      expect(secondQueue.jobs.slice(0, 2)).toEqual(firstQueue.jobs);
      expect(messages(second.lines).filter((m) => m === 'requeued from spool')).toHaveLength(2);
      // The evidence chain carries on across the restart.
      const [r0, r1, r2] = secondQueue.jobs.map(recordOf);
      expect(r0?.prev).toBe(GENESIS_PREV);
      expect(r1?.prev).toBe(recordHash(recordOf(secondQueue.jobs[0])));
      expect(r2?.prev).toBe(recordHash(recordOf(secondQueue.jobs[1])));
      expect(r2?.sequence).toBe(2);
      expect(await readJson(join(spoolDir(), 'state.json'))).toMatchObject({ nextSequence: 3 });
    });

    it('continues after state.json even when earlier chunks have left the spool', async () => {
      await mkdir(spoolDir(), { recursive: true });
      await writeFile(join(spoolDir(), 'state.json'), JSON.stringify({ nextSequence: 41 }));
      const recorder = fakeRecorder([chunks([oneSecond])]);
      const queue = new FakeQueue();
      const { runner } = makeRunner({ queue, start: recorder.start });
      await runner.run();
      expect(recorder.calls[0]?.firstSequence).toBe(41);
      expect(queue.jobs.map((j) => j.metadata.sequence)).toEqual([41]);
    });

    it('moves an unlisted chunk file that is not a whole MP4 to quarantine and records after it', async () => {
      await mkdir(spoolDir(), { recursive: true });
      await writeFile(chunkPath(4), 'half a chunk, killed mid-write');
      await writeFile(chunkPath(5), twoSeconds.subarray(0, Math.floor(twoSeconds.byteLength / 2)));
      const recorder = fakeRecorder([chunks([oneSecond])]);
      const queue = new FakeQueue();
      const { runner, lines } = makeRunner({ queue, start: recorder.start });

      expect(await runner.run()).toEqual({ status: 'completed', chunks: 1 });

      expect(existsSync(chunkPath(4))).toBe(false);
      const inQuarantine = await readdir(join(spoolDir(), 'quarantine'));
      // Each file moved aside has a note of why beside it.
      const quarantined = inQuarantine.filter((name) => !name.endsWith('.why.json'));
      expect(quarantined).toHaveLength(2);
      expect(inQuarantine.filter((name) => name.endsWith('.why.json'))).toHaveLength(2);
      const garbage = quarantined.find((name) => name.endsWith('-cam0-0000000004.mp4')) ?? '';
      expect(garbage).toMatch(/^\d+-cam0-0000000004\.mp4$/);
      expect(await readFile(join(spoolDir(), 'quarantine', garbage), 'utf8')).toBe('half a chunk, killed mid-write');
      expect(quarantined.some((name) => /^\d+-cam0-0000000005\.mp4$/.test(name))).toBe(true);
      expect(recorder.calls[0]?.firstSequence).toBe(6);
      expect(queue.jobs.map((j) => j.metadata.sequence)).toEqual([6]);
      expect(messages(lines, 'ERROR').filter((m) => m.includes('moved to quarantine'))).toHaveLength(2);
    });

    it('recovers an unlisted chunk that is a whole MP4, dating it from its file time', async () => {
      await mkdir(spoolDir(), { recursive: true });
      await writeFile(chunkPath(4), oneSecond);
      const closedAt = Date.parse('2026-11-23T09:00:10.000Z') / 1000;
      await utimes(chunkPath(4), closedAt, closedAt);
      const queue = new FakeQueue();
      const recorder = fakeRecorder([chunks([oneSecond])]);
      const { runner } = makeRunner({ queue, start: recorder.start });

      await runner.run();

      expect(queue.jobs.map((j) => j.metadata.sequence)).toEqual([4, 5]);
      expect(queue.jobs[0]?.metadata).toMatchObject({ startTime: '2026-11-23T09:00:09.000Z', durationMs: 1000, clock: 'host', bytes: oneSecond.byteLength });
      expect(await readJson(`${chunkPath(4)}.json`)).toEqual(queue.jobs[0]);
      expect(recorder.calls[0]?.firstSequence).toBe(5);
    });
  });

  // Found by an adversarial run; each failed before its fix.
  describe('what a broken spool must not do', () => {
    it('never reuses a sequence a file holds: a chunk whose job data could not be written is kept, and the next recording starts after it', async () => {
      const queue = new FakeQueue();
      const dropsAfterABrokenChunk: Script = async ({ handlers, firstSequence, segmentDir }) => {
        handlers.onStderrLine(`Output #0, segment, to '${segmentDir}/cam0-%010d.mp4':`);
        const [good, broken] = [firstSequence, firstSequence + 1].map((n) => chunkFileName('cam0', n, 'mp4')) as [string, string];
        await writeFile(join(segmentDir, good), oneSecond);
        handlers.onSegment({ fileName: good, startSeconds: 0, endSeconds: 1 });
        // Something holds the place of the second chunk's job data: writing it fails.
        await mkdir(join(segmentDir, `${broken}.json`, 'in-the-way'), { recursive: true });
        await writeFile(join(segmentDir, broken), twoSeconds);
        handlers.onSegment({ fileName: broken, startSeconds: 1, endSeconds: 3 });
        return { code: 0, signal: null, stderrTail: [] }; // then the camera dropped
      };
      const recorder = fakeRecorder([dropsAfterABrokenChunk, chunks([oneSecond])]);
      const { runner, lines } = makeRunner({ source: CAMERA, queue, start: recorder.start });
      const outcome = runner.run();
      await vi.waitFor(() => expect(queue.jobs).toHaveLength(2), { timeout: 5000 });
      await runner.stop();
      expect(await outcome).toEqual({ status: 'stopped', chunks: 2 });

      // The fault happened: chunk 1's job data could not be written, every time it was tried.
      expect(messages(lines, 'ERROR').filter((m) => m.startsWith('chunk could not be finalised'))).toHaveLength(6);
      expect(recorder.calls[1]?.firstSequence).toBe(2);
      expect(queue.jobs.map((j) => j.metadata.sequence)).toEqual([0, 2]);
      // The recorded chunk is still there, untouched, for the next start to describe.
      expect((await readFile(chunkPath(1))).equals(twoSeconds)).toBe(true);
    });

    it('describes a chunk whose job data is empty (cut short by a power loss) again from its own bytes, quarantines the job data and records on', async () => {
      await mkdir(spoolDir(), { recursive: true });
      await writeFile(chunkPath(3), twoSeconds);
      await writeFile(`${chunkPath(3)}.json`, '');
      const queue = new FakeQueue();
      const recorder = fakeRecorder([chunks([oneSecond])]);
      const { runner, lines } = makeRunner({ queue, start: recorder.start });

      expect(await runner.run()).toEqual({ status: 'completed', chunks: 1 });

      expect(queue.jobs.map((j) => j.metadata.sequence)).toEqual([3, 4]);
      expect(queue.jobs[0]?.metadata).toMatchObject({ bytes: twoSeconds.byteLength, durationMs: 2000, crc32c: crc32cBase64(twoSeconds) });
      expect(messages(lines, 'ERROR')).toContain(
        'job data of a chunk is unreadable (cut short by a power loss?): moved to quarantine; the chunk is described again from its own bytes',
      );
      const quarantined = await readdir(join(spoolDir(), 'quarantine'));
      expect(quarantined.filter((name) => /^\d+-cam0-0000000003\.mp4\.json$/.test(name))).toHaveLength(1);
      expect(await readJson(`${chunkPath(3)}.json`)).toMatchObject({ v: 1, metadata: { sequence: 3 } });
    });
  });

  describe('when the queue refuses chunks', () => {
    it('keeps the chunk and its job data in the spool and retries until the queue takes it', async () => {
      const queue = new FakeQueue(1);
      const { runner, lines } = makeRunner({ queue, start: fakeRecorder([chunks([oneSecond])]).start });

      expect(await runner.run()).toEqual({ status: 'completed', chunks: 1 });

      expect(queue.attempts).toBe(2);
      expect(queue.seenOnDisk).toEqual([
        { chunk: true, jobData: true },
        { chunk: true, jobData: true },
      ]);
      expect(queue.jobs.map((j) => j.metadata.sequence)).toEqual([0]);
      const retry = lines.find((l) => l.message === 'could not queue chunk; it is safe in the spool, retrying');
      expect(retry).toMatchObject({ severity: 'ERROR', attempt: 1, retryInMs: 1000, sequence: 0 });
    }, 10_000);

    it('does not crash: a file source waits for the queue, and stop() leaves the chunk in the spool', async () => {
      const queue = new FakeQueue(Number.POSITIVE_INFINITY);
      const { runner, lines } = makeRunner({ queue, start: fakeRecorder([chunks([oneSecond])]).start, stopGraceMs: 50 });
      let settled = false;
      const outcome = runner.run().finally(() => {
        settled = true;
      });
      await vi.waitFor(() => expect(queue.attempts).toBe(1));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(settled).toBe(false);
      expect(existsSync(chunkPath(0))).toBe(true);
      expect(await readJson(`${chunkPath(0)}.json`)).toMatchObject({ v: 1, metadata: { sequence: 0 } });

      await runner.stop();
      expect(messages(lines, 'WARNING')).toContain(
        'stopping with chunks not yet queued (Redis unreachable?): they stay in the spool and are queued at the next start',
      );
      await outcome;
      expect(queue.jobs).toEqual([]);
      expect(existsSync(`${chunkPath(0)}.json`)).toBe(true);
    }, 10_000);

    // Regression, fixed: stopping a file source while Redis is down makes run() report `completed` and log
    // "source finished: every chunk queued" although nothing was queued: after `await this.queueing`
    // (stream-handle/src/source-runner.ts:114, SourceRunner.run) `stopping` is not checked again.
    it('reports a file source stopped before its chunks were queued as stopped, not completed', async () => {
      const queue = new FakeQueue(Number.POSITIVE_INFINITY);
      const { runner, lines } = makeRunner({ queue, start: fakeRecorder([chunks([oneSecond])]).start, stopGraceMs: 50 });
      const outcome = runner.run();
      await vi.waitFor(() => expect(queue.attempts).toBe(1));
      await runner.stop();
      expect(await outcome).toEqual({ status: 'stopped', chunks: 1 });
      expect(messages(lines)).not.toContain('source finished: every chunk queued');
    }, 10_000);
  });
});
