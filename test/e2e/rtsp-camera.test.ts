import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import type { LogLine } from '@crispy-streamer/harness/service-process';
import { startRtspCamera, type RtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { recordFaultOutcome, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

const PASSWORD = 's3cret-Pa55';

function recordedChunks(logs: LogLine[], source: string): LogLine[] {
  return logs.filter((l) => l.source === source && (l.message === 'chunk recorded' || l.message === 'recovered chunk queued'));
}

describe('live RTSP cameras through all three services', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  const cameras: RtspCamera[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
  });
  afterEach(async () => {
    for (const camera of cameras.splice(0)) await camera.stop();
  });
  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  it('records ~15 s, stops cleanly on SIGTERM, and every chunk is stored and described', async () => {
    const camera = await startRtspCamera();
    cameras.push(camera);
    // The camera by host name, as cameras are configured: ffmpeg resolves it (the static 2018 build
    // would crash doing so; Debian's does not).
    const byName = camera.url('cam0').replace('//127.0.0.1:', '//localhost:');
    expect(byName).toMatch(/^rtsp:\/\/localhost:\d+\/cam0$/);
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: byName, SOURCE_ID: 'live', CHUNK_SECONDS: '3' });
    await recorder.waitForLog((l) => l.message === 'chunk recorded' && Number(l.sequence) >= 3, 40_000, 'four chunks');
    expect(await recorder.stop()).toBe(0);

    const chunks = recordedChunks(recorder.logs, 'live');
    const sequences = chunks.map((l) => Number(l.sequence));
    expect(sequences).toEqual(sequences.map((_, i) => i));
    // The camera sends a keyframe every 2 s, so 3 s chunks are cut at 4 s or 2 s; the last one
    // is wherever SIGTERM closed it.
    for (const chunk of chunks.slice(0, -1)) expect([2000, 4000]).toContain(Math.round(Number(chunk.durationMs) / 100) * 100);
    // Chunks of one recording tile its timeline: each starts where the one before ended.
    for (let i = 1; i < chunks.length; i++) {
      const previous = chunks[i - 1] as LogLine;
      const end = Date.parse(String(previous.startTime)) + Number(previous.durationMs);
      expect(Math.abs(Date.parse(String(chunks[i]?.startTime)) - end)).toBeLessThanOrEqual(40);
    }

    // Start times are wall-clock times of the footage: a chunk cannot end after stream-handle
    // logged it recorded, and is logged within a second of its end (ffmpeg lists it when the
    // keyframe after it arrives). The last one was closed early by SIGTERM and is left out.
    for (const chunk of chunks.slice(0, -1)) {
      const endMs = Date.parse(String(chunk.startTime)) + Number(chunk.durationMs);
      const loggedMs = Date.parse(String(chunk.time));
      expect(endMs).toBeLessThanOrEqual(loggedMs + 5);
      expect(loggedMs - endMs).toBeLessThan(1_000);
    }

    const described = await pipeline.waitForDescriptions('live', sequences);
    for (const line of described) expect(line).toMatchObject({ width: 1280, height: 720, channels: 3, durationCheck: 'match' });
    const objects = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'live');
    expect(objects.map((o) => Number(o.resource.metadata.sequence))).toEqual(sequences);
  });

  it('joining a camera mid-GOP: the first chunk starts at its keyframe, with no false gap after it', async () => {
    // The looping camera runs from its start, so a reader joins wherever the stream is: usually
    // between keyframes (4 s GOP here), where ffmpeg drops packets until the next keyframe.
    const video = join(pipeline.dir, 'gop4.mp4');
    await makeSampleVideo(video, { seconds: 20, width: 640, height: 360, gopSeconds: 4 });
    const camera = await startRtspCamera({ sourceFile: video });
    cameras.push(camera);
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: camera.url('cam0'), SOURCE_ID: 'midgop', CHUNK_SECONDS: '4' });
    await recorder.waitForLog((l) => l.message === 'chunk recorded' && Number(l.sequence) >= 2, 40_000, 'three chunks');
    expect(await recorder.stop()).toBe(0);
    const chunks = recordedChunks(recorder.logs, 'midgop');
    expect(recorder.logs.filter((l) => String(l.message).startsWith('recording gap'))).toEqual([]);
    for (let i = 1; i < chunks.length; i++) {
      const previous = chunks[i - 1] as LogLine;
      expect(Math.abs(Date.parse(String(chunks[i]?.startTime)) - (Date.parse(String(previous.startTime)) + Number(previous.durationMs)))).toBeLessThanOrEqual(
        40,
      );
    }
    const first = chunks[0] as LogLine;
    const firstEndMs = Date.parse(String(first.startTime)) + Number(first.durationMs);
    expect(firstEndMs).toBeLessThanOrEqual(Date.parse(String(first.time)) + 5);
    expect(Date.parse(String(first.time)) - firstEndMs).toBeLessThan(1_000);
    await pipeline.waitForDescriptions(
      'midgop',
      chunks.map((l) => Number(l.sequence)),
    );
  });

  it('reconnects when the camera dies, reports the gap, and never logs the password', async () => {
    const camera = await startRtspCamera({ credentials: { user: 'viewer', password: PASSWORD } });
    cameras.push(camera);
    const recorder = pipeline.runStreamHandle({
      SOURCE_URL: camera.url('cam0'),
      SOURCE_ID: 'flaky',
      CHUNK_SECONDS: '2',
      RECONNECT_MIN_DELAY_MS: '300',
      RECONNECT_MAX_DELAY_MS: '1000',
    });
    await recorder.waitForLog((l) => l.message === 'chunk recorded' && l.source === 'flaky', 30_000, 'a first chunk');
    await camera.kill();
    await recorder.waitForLog((l) => l.source === 'flaky' && String(l.message).startsWith('camera stream ended'), 20_000, 'that the stream ended');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await camera.restart();
    const gap = await recorder.waitForLog((l) => l.source === 'flaky' && String(l.message).startsWith('recording gap'), 40_000, 'the gap');
    expect(Number(gap.gapMs)).toBeGreaterThanOrEqual(2000);
    await recorder.waitForLog(
      (l) => l.message === 'chunk recorded' && Date.parse(String(l.startTime)) >= Date.parse(String(gap.gapTo)) + 1,
      30_000,
      'a chunk after the gap',
    );
    expect(await recorder.stop()).toBe(0);

    const sequences = recordedChunks(recorder.logs, 'flaky').map((l) => Number(l.sequence));
    const described = await pipeline.waitForDescriptions('flaky', sequences).catch((error: unknown) => error);
    const flakyStored = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'flaky').map((o) => Number(o.resource.metadata.sequence));
    recordFaultOutcome('camera killed and restarted', { recorded: sequences, stored: flakyStored });
    expect(sequences).toEqual(sequences.map((_, i) => i));
    if (described instanceof Error) throw described;
    expect(flakyStored).toEqual(sequences);

    const everything = [
      ...pipeline.allLogs().map((l) => JSON.stringify(l)),
      ...recorder.otherOutput,
      ...pipeline.worker.otherOutput,
      ...pipeline.fn.otherOutput,
    ].join('\n');
    expect(everything).toContain('viewer:***@');
    expect(everything).not.toContain(PASSWORD);
  });

  it('a camera refusing the credentials is named with a clear reason while the other camera records', async () => {
    const camera = await startRtspCamera({ credentials: { user: 'viewer', password: PASSWORD }, mounts: ['cam0', 'cam1'] });
    cameras.push(camera);
    const sourcesFile = join(pipeline.dir, 'two-cameras.yaml');
    // Not the source's id: every password a node holds is redacted wherever it appears, ids included.
    const wrongUrl = camera.url('cam1').replace(PASSWORD, 'Not-The-Pass-42');
    await writeFile(sourcesFile, `sources:\n  - id: right-password\n    url: ${camera.url('cam0')}\n  - id: wrong-password\n    url: ${wrongUrl}\n`);
    const recorder = pipeline.runStreamHandle({ RECONNECT_MIN_DELAY_MS: '500', RECONNECT_MAX_DELAY_MS: '1000' }, ['--sources', sourcesFile]);
    const refused = await recorder.waitForLog((l) => l.source === 'wrong-password' && l.failure === 'unauthorized', 30_000, 'the 401');
    expect(String(refused.message)).toContain('the camera refused the credentials');
    await recorder.waitForLog(
      (l) => l.message === 'chunk recorded' && l.source === 'right-password' && Number(l.sequence) >= 1,
      30_000,
      'chunks from the good camera',
    );
    expect(await recorder.stop()).toBe(0);
    expect(recordedChunks(recorder.logs, 'wrong-password')).toHaveLength(0);
    expect(JSON.stringify(recorder.logs)).not.toContain('Not-The-Pass-42');
  });
});
