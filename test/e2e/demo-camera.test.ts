import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type LogLine } from '@crispy-streamer/harness/service-process';
import { spawnChild, type Child } from '@crispy-streamer/harness/child-process';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { RTSP_CAMERA_PYTHON } from '@crispy-streamer/harness/rtsp-camera';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// The compose demo profile's own camera (deploy/demo-camera/), run here on loopback: what a user
// of `docker compose --profile demo up` records. It sends two packets with one timestamp at the
// start of each stream, which once made stream-handle record again every chunk (chunks under a
// second, a gap after each, and nothing left to close when told to stop).

describe('the compose demo camera, recorded by host name', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let camera: Child;
  let port: number;

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    port = await freePort();
    const script = join(REPO_ROOT, 'deploy', 'demo-camera', 'demo-camera.py');
    camera = spawnChild(
      RTSP_CAMERA_PYTHON,
      [script, '--address', '127.0.0.1', '--port', String(port), '--mount', 'demo', '--width', '640', '--height', '360'],
      { name: 'demo-camera' },
    );
    await camera.waitForLine((line) => line.includes('demo-camera: serving'), 20_000, 'the demo camera serving');
  });
  afterAll(async () => {
    await camera?.stop();
    await pipeline?.stop();
    await redis?.stop();
  });

  it('records whole 2 s chunks with no gap, and SIGTERM closes the chunk in progress, stored, spool empty', async () => {
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: `rtsp://localhost:${port}/demo`, SOURCE_ID: 'demo', CHUNK_SECONDS: '2' });
    await recorder.waitForLog((l) => l.message === 'chunk recorded' && Number(l.sequence) >= 3, 60_000, 'four chunks');
    expect(await recorder.stop()).toBe(0);

    const stoppedAt = recorder.logs.findIndex((l) => String(l.message).startsWith('stopping: closing the current chunk'));
    expect(stoppedAt).toBeGreaterThan(0);
    const chunks = recorder.logs.filter((l: LogLine) => l.message === 'chunk recorded');
    expect(chunks.map((l) => Number(l.sequence))).toEqual(chunks.map((_, index) => index));
    // The demo camera sends a keyframe every 2 s: every chunk but the one the stop closed is 2 s.
    for (const chunk of chunks.slice(0, -1)) expect(Math.abs(Number(chunk.durationMs) - 2000)).toBeLessThan(100);
    expect(recorder.logs.filter((l) => String(l.message).startsWith('recording gap'))).toEqual([]);
    expect(recorder.logs.filter((l) => String(l.message).includes('timestamps went backwards'))).toEqual([]);
    // The chunk in progress when SIGTERM came was closed and recorded after it.
    expect(recorder.logs.slice(stoppedAt).some((l) => l.message === 'chunk recorded')).toBe(true);

    const sequences = chunks.map((l) => Number(l.sequence));
    await pipeline.waitForDescriptions('demo', sequences);
    const stored = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'demo');
    expect(stored.map((o) => Number(o.resource.metadata.sequence)).sort((a, b) => a - b)).toEqual(sequences);
    const left = (await readdir(join(pipeline.spoolDir, 'demo'))).filter((name) => /\.(mp4|webm|mkv)$/.test(name));
    expect(left).toEqual([]);
  }, 120_000);
});
