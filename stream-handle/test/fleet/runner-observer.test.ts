import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chunkFileName, type ChunkJobData } from '@crispy-streamer/shared';
import { CameraTracker } from '../../src/fleet/camera-tracker.js';
import type { ChunkQueue } from '../../src/queue/chunk-queue.js';
import type { RecorderExit, RecorderHandlers, StartRecorder } from '../../src/recorder/recorder.js';
import { SourceRunner } from '../../src/source/source-runner.js';
import type { SourceObserver } from '../../src/source/source-observer.js';
import { SourceSpool } from '../../src/spool/source-spool.js';
import { captureLogger, probeH264, sourceConfig } from '../support.js';

// The runner tells its observer what happens, at the moments it happens, and an observer that
// throws changes nothing about recording. ffmpeg is played by a script; the chunks are real MP4s.

const run = promisify(execFile);
let dir = '';
let oneSecond: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runner-observer-'));
  const out = join(dir, 'one.mp4');
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
    '1',
    '-c:v',
    'libx264',
    '-g',
    '10',
    out,
  ]);
  oneSecond = await readFile(out);
}, 30_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

type Script = (handlers: RecorderHandlers, segmentDir: string, firstSequence: number, stopped: Promise<void>) => Promise<RecorderExit>;

function scripted(scripts: Script[]): StartRecorder {
  return (_ffmpeg, args, handlers) => {
    const script = scripts.shift() ?? (async (_h, _d, _f, stopped) => (await stopped, { code: 255, signal: null, stderrTail: [] }));
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    let running = true;
    const first = Number(args.outputOptions[args.outputOptions.indexOf('-segment_start_number') + 1]);
    const exited = (async () => {
      await Promise.resolve();
      const exit = await script(handlers, dirname(args.outputPattern), first, stopped);
      running = false;
      return exit;
    })();
    return {
      startedAtMs: Date.now(),
      get running() {
        return running;
      },
      exited,
      stop: async () => (stop(), exited),
      abort: async () => (stop(), exited),
      suspend() {},
      resume() {},
    };
  };
}

/** A camera run: opens its output, lists `count` one-second chunks, then the connection drops. */
function records(count: number, options: { waitMs?: number; thenUntilStopped?: boolean } = {}): Script {
  return async (handlers, segmentDir, first, stopped) => {
    await new Promise((resolve) => setTimeout(resolve, options.waitMs ?? 0));
    handlers.onStderrLine(`Output #0, segment, to '${segmentDir}/cam7-%010d.mp4':`);
    for (let i = 0; i < count; i++) {
      const fileName = chunkFileName('cam7', first + i, 'mp4');
      await writeFile(join(segmentDir, fileName), oneSecond);
      handlers.onSegment({ fileName, startSeconds: i, endSeconds: i + 1 });
    }
    if (options.thenUntilStopped === true) {
      await stopped;
      return { code: 255, signal: null, stderrTail: ['Exiting normally, received signal 15.'] };
    }
    return { code: 0, signal: null, stderrTail: ['[tcp @ 0x1] Connection to tcp://127.0.0.1:8554 failed: Connection refused'] };
  };
}

const queue: ChunkQueue = { enqueue: async () => 'added', removeUnlessActive: async () => 'absent', close: async () => undefined };

describe('a SourceRunner and its observer', () => {
  it('reports start, chunks, the drop, the gap and the chunk after it, in that order', async () => {
    const calls: string[] = [];
    const tracker = new CameraTracker({ id: 'cam7', live: true, chunkSeconds: 1 });
    const observer: SourceObserver = {
      recorderStarted: () => (calls.push('started'), tracker.recorderStarted()),
      chunkRecorded: (m) => (calls.push(`chunk ${m.sequence}`), tracker.chunkRecorded(m)),
      streamEnded: (e) => (calls.push(`ended: ${e.reason}`), tracker.streamEnded(e)),
      gap: (g) => (calls.push(`gap ${Math.round((g.toMs - g.fromMs) / 100) / 10} s`), tracker.gap(g)),
    };
    const { logger, lines } = captureLogger();
    const runner = new SourceRunner({
      source: sourceConfig({ id: 'cam7', url: 'rtsp://127.0.0.1:8554/cam7', chunkSeconds: 1 }),
      spool: new SourceSpool(dir, 'cam7'),
      queue,
      logger,
      ffmpegPath: '/usr/bin/ffmpeg',
      // The second run takes 3.5 s to deliver its first one-second chunk; the first run listed its
      // second chunk as it began (so it ends 1 s later): 1.5 s are missing.
      startRecorder: scripted([records(2), records(1, { waitMs: 3500, thenUntilStopped: true })]),
      nodeId: 'edge-a',
      rtspTimeoutSeconds: 10,
      rtspTimeoutOption: '-timeout',
      reconnect: { minDelayMs: 20, maxDelayMs: 20, jitter: 0 },
      // No camera listens here: the fake recorder plays it, and the camera always answers.
      cameraAnswers: async () => true,
      probeSource: probeH264,
      stopGraceMs: 200,
      observer,
    });
    const outcome = runner.run();
    await vi.waitFor(() => expect(calls).toContain('chunk 2'), { timeout: 10_000 });
    expect(tracker.snapshot().state).toBe('recording');
    await runner.stop();
    await outcome;
    const gapLine = lines.find((l) => l.message.startsWith('recording gap'));
    expect(calls.slice(0, 7)).toEqual([
      'started',
      'chunk 0',
      'chunk 1',
      'ended: cannot reach the camera: check the host, port and network',
      'started',
      expect.stringMatching(/^gap 1\.\d s$/),
      'chunk 2',
    ]);
    // The gap the observer got is the one the log reports.
    const [gap] = tracker.snapshot().recentGaps;
    expect(gap && new Date(gap.fromMs).toISOString()).toBe(gapLine?.gapFrom);
    expect(gap && new Date(gap.toMs).toISOString()).toBe(gapLine?.gapTo);
    expect(tracker.snapshot().lastHour).toMatchObject({ reconnects: 1, gaps: 1 });
  }, 20_000);

  it('records on when its observer throws', async () => {
    const enqueued: ChunkJobData[] = [];
    const { logger, lines } = captureLogger();
    const runner = new SourceRunner({
      source: sourceConfig({ id: 'cam7', url: 'rtsp://127.0.0.1:8554/cam7', chunkSeconds: 1 }),
      spool: new SourceSpool(await mkdtemp(join(dir, 'throwing-')), 'cam7'),
      queue: { ...queue, enqueue: async (job) => (enqueued.push(job), 'added') },
      logger,
      ffmpegPath: '/usr/bin/ffmpeg',
      startRecorder: scripted([records(3)]),
      nodeId: 'edge-a',
      rtspTimeoutSeconds: 10,
      rtspTimeoutOption: '-timeout',
      reconnect: { minDelayMs: 20, maxDelayMs: 20, jitter: 0 },
      // No camera listens here: the fake recorder plays it, and the camera always answers.
      cameraAnswers: async () => true,
      probeSource: probeH264,
      stopGraceMs: 200,
      observer: {
        chunkRecorded: () => {
          throw new Error('observer broke');
        },
        recorderStarted: () => {
          throw new Error('observer broke');
        },
      },
    });
    const outcome = runner.run();
    await vi.waitFor(() => expect(enqueued).toHaveLength(3), { timeout: 10_000 });
    await runner.stop();
    expect((await outcome).chunks).toBe(3);
    expect(lines.filter((l) => l.message === 'source observer failed; recording goes on').length).toBeGreaterThanOrEqual(4);
  }, 15_000);
});
