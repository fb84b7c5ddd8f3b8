import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine } from '@crispy-streamer/harness/service-process';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { LIBFAKETIME, startRtspCamera, type RtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// stream-handle under libfaketime (its wall clock only; its monotonic clock is the machine's),
// stepped back an hour while it records, then the camera drops and comes back: the recording
// made after the step is placed on the stepped clock. Its chunks overlap the earlier ones and
// their names sort before them; what must hold is that the step is seen, logged and marked on
// the chunk, that no name is reused and nothing is lost.

const HOUR_MS = 3_600_000;

describe("this node's clock stepping back an hour", () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let camera: RtspCamera | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
  });
  afterAll(async () => {
    await camera?.stop();
    await pipeline?.stop();
    await redis?.stop();
  });

  it('is logged and marked on the chunk, later chunks that overlap are said to, and every chunk is stored under its own name', async () => {
    camera = await startRtspCamera({ width: 640, height: 360, fps: 30, gopFrames: 30 });
    const clockFile = join(pipeline.dir, 'stream-handle.faketime');
    await writeFile(clockFile, '+0\n');
    const recorder = pipeline.runStreamHandle({
      SOURCE_URL: camera.url('cam0'),
      SOURCE_ID: 'stepped',
      CHUNK_SECONDS: '2',
      RECONNECT_MIN_DELAY_MS: '300',
      RECONNECT_MAX_DELAY_MS: '1000',
      LD_PRELOAD: LIBFAKETIME,
      DONT_FAKE_MONOTONIC: '1',
      FAKETIME_TIMESTAMP_FILE: clockFile,
      FAKETIME_CACHE_DURATION: '1',
    });
    const chunks = () => recorder.logs.filter((l) => l.source === 'stepped' && l.message === 'chunk recorded');
    await recorder.waitForLog(() => chunks().length >= 2, 40_000, 'two chunks');
    await writeFile(clockFile, '-3600\n');
    const stepLog = await recorder.waitForLog(
      (l) => l.source === 'stepped' && String(l.message).startsWith("this node's clock stepped back"),
      20_000,
      'the step',
    );
    await recorder.waitForLog(() => chunks().some((l) => l.hostClockStepMs !== undefined), 20_000, 'a marked chunk');
    // A new recording, anchored on the stepped clock.
    await camera.kill();
    await recorder.waitForLog((l) => l.source === 'stepped' && String(l.message).startsWith('camera stream ended'), 20_000, 'that the stream ended');
    await camera.start();
    const overlap = await recorder.waitForLog(
      (l) => l.source === 'stepped' && String(l.message).includes('before the one before it ended'),
      40_000,
      'the overlap',
    );
    await recorder.waitForLog(
      () => chunks().filter((l) => Date.parse(String(l.hostTime)) < Date.parse(String(overlap.previousEnd)) - HOUR_MS / 2).length >= 2,
      30_000,
      'two chunks after',
    );
    expect(await recorder.stop()).toBe(0);

    const recorded = chunks();
    const marked = recorded.filter((l) => l.hostClockStepMs !== undefined);
    expect(marked).toHaveLength(1);
    expect(Math.abs(Number(marked[0]?.hostClockStepMs) + HOUR_MS)).toBeLessThan(250);
    expect(Math.abs(Number(stepLog.hostClockStepMs) + HOUR_MS)).toBeLessThan(250);
    expect(Number(overlap.overlapMs)).toBeGreaterThan(HOUR_MS - 60_000);
    // The chunks after the new start are an hour behind those before, on the node's clock.
    const last = recorded.at(-1) as LogLine;
    expect(Date.parse(String(last.hostTime))).toBeLessThan(Date.parse(String(recorded[0]?.hostTime)));

    const sequences = recorded.map((l) => Number(l.sequence));
    expect(sequences).toEqual(sequences.map((_, i) => i));
    await pipeline.waitForDescriptions('stepped', sequences);
    const objects = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'stepped');
    expect(new Set(objects.map((o) => o.name)).size).toBe(objects.length);
    expect(objects.map((o) => Number(o.resource.metadata.sequence)).sort((a, b) => a - b)).toEqual(sequences);
    const stored = objects.find((o) => Number(o.resource.metadata.sequence) === Number(marked[0]?.sequence));
    expect(stored?.resource.metadata.hostClockStepMs).toBe(String(marked[0]?.hostClockStepMs));
    const record = JSON.parse(String(stored?.resource.metadata.evidenceRecord)) as Record<string, unknown>;
    expect(record.hostClockStepMs).toBe(Number(marked[0]?.hostClockStepMs));
  });
});
