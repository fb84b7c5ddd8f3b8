import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type LogLine } from '@crispy-streamer/harness/service-process';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startRtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { recordFaultOutcome, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// A camera killed mid-chunk and started again N seconds later: the recording's gap must be the
// outage and no more. The camera's return is the moment its RTSP port accepts connections again;
// the first frame recorded after it is the start of the first chunk after the gap.

interface ReconnectFigures {
  outageSeconds: number;
  /** Kill to return, as the test saw it. */
  realOutageMs: number;
  /** The gap stream-handle logged: the last chunk's end before the kill to the first chunk's start after. */
  recordedGapMs: number;
  /** The camera's return to the first frame recorded. */
  resumeAfterReturnMs: number;
  /** The last frame recorded before the kill, to the kill. */
  endBeforeKillMs: number;
}

const chunkLines = (logs: LogLine[], source: string) => logs.filter((l) => l.source === source && l.message === 'chunk recorded');

describe('a camera that comes back is recorded again within a second', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  const figures: ReconnectFigures[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
  });
  afterAll(async () => {
    if (figures.length > 0) {
      mkdirSync(join(REPO_ROOT, 'test-output'), { recursive: true });
      for (const figure of figures)
        appendFileSync(join(REPO_ROOT, 'test-output', 'reconnect-gap.jsonl'), `${JSON.stringify({ ...figure, at: new Date().toISOString() })}\n`);
      console.log(`reconnect figures:\n${figures.map((f) => JSON.stringify(f)).join('\n')}`);
    }
    await pipeline?.stop();
    await redis?.stop();
  });

  for (const outageSeconds of [5, 2]) {
    it(`killed mid-chunk and back ${outageSeconds} s later: the recorded gap is the outage, within a second`, async () => {
      const source = `back-after-${outageSeconds}s`;
      const camera = await startRtspCamera({ width: 320, height: 240, fps: 25, gopFrames: 50 });
      try {
        // Default reconnect settings: a connection attempt every 250 ms during the first minute.
        const recorder = pipeline.runStreamHandle({ SOURCE_URL: camera.url(), SOURCE_ID: source, CHUNK_SECONDS: '2' });
        await recorder.waitForLog((l) => l.source === source && l.message === 'chunk recorded' && Number(l.sequence) >= 1, 40_000, 'two chunks');
        // Mid-chunk: a second into the chunk after the one just listed.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const killedAtMs = Date.now();
        await camera.kill();
        await recorder.waitForLog((l) => l.source === source && String(l.message) === 'camera does not answer: watching for it', 10_000, 'that it watches');
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, killedAtMs + outageSeconds * 1000 - Date.now())));
        const returnedAtMs = await camera.start();
        const gap = await recorder.waitForLog((l) => l.source === source && String(l.message).startsWith('recording gap'), 30_000, 'the gap');
        await recorder.waitForLog(
          (l) => l.source === source && l.message === 'chunk recorded' && Date.parse(String(l.startTime)) >= Date.parse(String(gap.gapTo)),
          30_000,
          'a chunk after the gap',
        );
        expect(await recorder.stop()).toBe(0);

        const chunks = chunkLines(recorder.logs, source);
        const sequences = chunks.map((l) => Number(l.sequence));
        await pipeline.waitForDescriptions(source, sequences);
        const stored = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === source).map((o) => Number(o.resource.metadata.sequence));
        recordFaultOutcome(`camera killed, back ${outageSeconds} s later`, { recorded: sequences, stored });
        expect(sequences).toEqual(sequences.map((_, i) => i));
        expect(stored).toEqual(sequences);

        const figure: ReconnectFigures = {
          outageSeconds,
          realOutageMs: returnedAtMs - killedAtMs,
          recordedGapMs: Number(gap.gapMs),
          resumeAfterReturnMs: Date.parse(String(gap.gapTo)) - returnedAtMs,
          endBeforeKillMs: killedAtMs - Date.parse(String(gap.gapFrom)),
        };
        figures.push(figure);
        // The fault happened: the camera was away for the whole outage.
        expect(figure.realOutageMs).toBeGreaterThanOrEqual(outageSeconds * 1000);
        // Recording resumes within a second of the camera's return, and the footage up to the kill was kept.
        expect(figure.resumeAfterReturnMs).toBeGreaterThanOrEqual(0);
        expect(figure.resumeAfterReturnMs).toBeLessThan(1000);
        expect(figure.endBeforeKillMs).toBeLessThan(500);
        expect(figure.recordedGapMs - figure.realOutageMs).toBeLessThan(1000);
      } finally {
        await camera.stop();
      }
    }, 120_000);
  }
});
