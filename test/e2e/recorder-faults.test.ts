import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine, ServiceProcess } from '@crispy-streamer/harness/service-process';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startRtspCamera, type RtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { recordFaultOutcome, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

function sequencesIn(logs: LogLine[], source: string): number[] {
  return logs
    .filter((l) => l.source === source && (l.message === 'chunk recorded' || l.message === 'recovered chunk queued' || l.message === 'requeued from spool'))
    .map((l) => Number(l.sequence));
}

const contiguousFromZero = (values: number[]) => [...new Set(values)].sort((a, b) => a - b).every((value, index) => value === index);

// Faults on the recording side: the recorder killed outright, Redis crashing, cameras that stop
// answering or were never there. Every recorded chunk must reach the bucket once, or be reported.
describe('recorder, Redis and camera faults', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  const cameras: RtspCamera[] = [];
  const recorders: ServiceProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
    pipeline = await startLocalPipeline(redis.url);
  });
  afterEach(async () => {
    for (const recorder of recorders.splice(0)) await recorder.stop();
    for (const camera of cameras.splice(0)) await camera.stop();
  });
  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  async function quarantined(source: string): Promise<string[]> {
    return readdir(join(pipeline.spoolDir, source, 'quarantine')).catch(() => []);
  }

  it('stream-handle SIGKILLed mid-recording: the orphaned ffmpeg is stopped and no chunk is lost', async () => {
    const camera = await startRtspCamera();
    cameras.push(camera);
    const env = { SOURCE_URL: camera.url('cam0'), SOURCE_ID: 'killed', CHUNK_SECONDS: '2' };
    const first = pipeline.runStreamHandle(env);
    await first.waitForLog((l) => l.message === 'chunk recorded' && Number(l.sequence) >= 1, 30_000, 'two chunks');
    first.child.kill('SIGKILL');
    await first.exited;
    const second = pipeline.runStreamHandle(env);
    recorders.push(second);
    await second.waitForLog((l) => String(l.message).startsWith('an ffmpeg from a previous run is still recording'), 20_000, 'the orphan being stopped');
    await second.waitForLog((l) => l.message === 'chunk recorded', 30_000, 'recording again');
    expect(await second.stop()).toBe(0);

    const sequences = [...sequencesIn(first.logs, 'killed'), ...sequencesIn(second.logs, 'killed')];
    const lost = (await quarantined('killed')).map((name) => Number(/(\d{10})\.mp4$/.exec(name)?.[1]));
    const unique = [...new Set(sequences)].sort((a, b) => a - b);
    const described = await pipeline.waitForDescriptions('killed', unique).catch((error: unknown) => error);
    const stored = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'killed').map((o) => Number(o.resource.metadata.sequence));
    recordFaultOutcome('stream-handle SIGKILLed mid-recording', { recorded: [...unique, ...lost], stored, reported: lost });
    // Everything recorded is accounted for: queued (before or after the crash) or reported in quarantine.
    expect(contiguousFromZero([...sequences, ...lost])).toBe(true);
    if (described instanceof Error) throw described;
    expect(stored).toEqual(unique);
  });

  it('Redis crashes while a camera records: recording goes on, and the backlog is queued when Redis is back', async () => {
    const camera = await startRtspCamera();
    cameras.push(camera);
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: camera.url('cam0'), SOURCE_ID: 'redis-down', CHUNK_SECONDS: '1', SPOOL_RECONCILE_MS: '3000' });
    recorders.push(recorder);
    await recorder.waitForLog((l) => l.message === 'chunk recorded' && Number(l.sequence) >= 1, 30_000, 'two chunks');
    await redis.kill();
    // Chunks are finalised into the spool while Redis is gone.
    const spoolDir = join(pipeline.spoolDir, 'redis-down');
    const deadline = Date.now() + 15_000;
    while ((await readdir(spoolDir)).filter((name) => name.endsWith('.mp4.json')).length < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect((await readdir(spoolDir)).filter((name) => name.endsWith('.mp4.json')).length).toBeGreaterThanOrEqual(3);
    await redis.restart();
    await recorder.waitForLog((l) => l.message === 'chunk recorded' && Number(l.sequence) >= 6, 30_000, 'chunks after Redis returned');
    expect(await recorder.stop()).toBe(0);

    const sequences = [...new Set(sequencesIn(recorder.logs, 'redis-down'))].sort((a, b) => a - b);
    expect(contiguousFromZero(sequences)).toBe(true);
    const described = await pipeline.waitForDescriptions('redis-down', sequences, 90_000).catch((error: unknown) => error);
    const stored = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'redis-down').map((o) => Number(o.resource.metadata.sequence));
    recordFaultOutcome('Redis SIGKILLed and restarted', { recorded: sequences, stored });
    if (described instanceof Error) throw described;
    expect(stored).toEqual(sequences);
  });

  it('a frozen camera times out and is reconnected; a camera that was never there is retried without stopping the other', async () => {
    const camera = await startRtspCamera({ mounts: ['cam0', 'cam1'] });
    cameras.push(camera);
    const nobody = await freePort();
    const sourcesFile = join(pipeline.dir, 'faulty-cameras.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(sourcesFile, `sources:\n  - id: freezes\n    url: ${camera.url('cam0')}\n  - id: absent\n    url: rtsp://127.0.0.1:${nobody}/cam\n`);
    const recorder = pipeline.runStreamHandle(
      { RTSP_TIMEOUT_SECONDS: '2', RECONNECT_MIN_DELAY_MS: '300', RECONNECT_MAX_DELAY_MS: '1000', CHUNK_SECONDS: '2' },
      ['--sources', sourcesFile],
    );
    recorders.push(recorder);
    await recorder.waitForLog((l) => l.message === 'chunk recorded' && l.source === 'freezes', 30_000, 'a first chunk');
    const absent = await recorder.waitForLog((l) => l.source === 'absent' && l.failure === 'unreachable', 20_000, 'the absent camera');
    expect(String(absent.message)).toContain('cannot reach the camera');
    camera.freeze();
    const ended = await recorder.waitForLog((l) => l.source === 'freezes' && String(l.message).startsWith('camera stream ended'), 30_000, 'the timeout');
    camera.thaw();
    const gap = await recorder.waitForLog((l) => l.source === 'freezes' && String(l.message).startsWith('recording gap'), 40_000, 'the gap after the freeze');
    // The fault happened (the socket timeout ended the stream), and left a gap. The camera is
    // reconnected at once (a frozen server still accepts connections), and after SIGCONT it sends
    // what it held back in a burst: the gap is shorter than the freeze.
    expect(ended.failure).toBe('timeout');
    expect(Number(gap.gapMs)).toBeGreaterThan(500);
    expect(await recorder.stop()).toBe(0);
    // The absent camera is watched with a connection attempt every 250 ms (no ffmpeg while it does not answer).
    expect(recorder.logs.some((l) => l.source === 'absent' && l.message === 'camera does not answer: watching for it')).toBe(true);
    expect(recorder.logs.filter((l) => l.source === 'absent' && l.message === 'chunk recorded')).toHaveLength(0);
  });
});
