import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine, ServiceProcess } from '@crispy-streamer/harness/service-process';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startRtspCamera, type RtspCamera, type RtspCameraOptions } from '@crispy-streamer/harness/rtsp-camera';
import { probeAudioCodecs, probeVideoTag } from '@crispy-streamer/harness/sample-video';
import { startLocalPipeline, type BucketObject, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// Cameras that are not the H.264-over-TCP test camera: restricted to one RTP transport (as
// gst-rtsp-server's media factories restrict them), sending G.711 or H.265, asking for Digest
// credentials, losing packets on the way.

const recorded = (logs: LogLine[], source: string): LogLine[] => logs.filter((l) => l.source === source && l.message === 'chunk recorded');

describe('cameras of every transport, codec and audio, through all three services', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  const cameras: RtspCamera[] = [];
  const recorders: ServiceProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
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

  async function camera(options: RtspCameraOptions): Promise<RtspCamera> {
    const started = await startRtspCamera({ width: 320, height: 240, fps: 25, gopFrames: 25, ...options });
    cameras.push(started);
    return started;
  }

  /** stream-handle recording these sources (a sources file), with fast reconnects. */
  async function record(name: string, sources: Record<string, unknown>[], env: Record<string, string> = {}): Promise<ServiceProcess> {
    const file = join(pipeline.dir, `${name}.json`);
    await writeFile(file, JSON.stringify({ sources: sources.map((s) => ({ chunkSeconds: 2, ...s })) }));
    const recorder = pipeline.runStreamHandle({ RECONNECT_MIN_DELAY_MS: '300', RECONNECT_MAX_DELAY_MS: '1000', ...env }, ['--sources', file]);
    recorders.push(recorder);
    return recorder;
  }

  const chunksFrom = (recorder: ServiceProcess, source: string, count: number) =>
    recorder.waitForLog(
      (l) => l.source === source && l.message === 'chunk recorded' && Number(l.sequence) >= count - 1,
      60_000,
      `${count} chunks of ${source}`,
    );

  async function storedOf(source: string): Promise<BucketObject[]> {
    return (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === source);
  }

  it('a camera that offers only UDP: TCP is refused with the 461 and what to do; udp and auto record over UDP', async () => {
    const udpOnly = await camera({ protocols: 'udp', mounts: ['tcp', 'udp', 'auto'] });
    const recorder = await record('udp-only', [
      { id: 'udp-only-tcp', url: udpOnly.url('tcp') },
      { id: 'udp-only-udp', url: udpOnly.url('udp'), transport: 'udp' },
      { id: 'udp-only-auto', url: udpOnly.url('auto'), transport: 'auto' },
    ]);
    const refused = await recorder.waitForLog((l) => l.source === 'udp-only-tcp' && String(l.message).startsWith('camera stream ended'), 30_000, 'the 461');
    expect(refused).toMatchObject({ failure: 'unsupported-transport', transport: 'tcp' });
    expect(String(refused.cause)).toMatch(/method SETUP failed: 461 Unsupported transport/);
    expect(String(refused.message)).toContain("set the source's transport (or RTSP_TRANSPORT) to one it offers");
    const switched = await recorder.waitForLog(
      (l) => l.source === 'udp-only-auto' && String(l.message).startsWith('camera refused RTSP over tcp'),
      30_000,
      'auto leaving TCP',
    );
    expect(switched).toMatchObject({ transport: 'tcp', next: 'udp' });
    await chunksFrom(recorder, 'udp-only-udp', 3);
    await chunksFrom(recorder, 'udp-only-auto', 3);
    expect(await recorder.stop()).toBe(0);
    expect(recorded(recorder.logs, 'udp-only-tcp')).toHaveLength(0);
    for (const source of ['udp-only-udp', 'udp-only-auto']) {
      const sequences = recorded(recorder.logs, source).map((l) => Number(l.sequence));
      const described = await pipeline.waitForDescriptions(source, sequences);
      for (const line of described) expect(line).toMatchObject({ width: 320, height: 240, channels: 3, durationCheck: 'match' });
      for (const object of await storedOf(source)) expect(object.resource.metadata).toMatchObject({ transport: 'udp', packetsLost: '0' });
    }
  }, 120_000);

  it('a camera reachable only through RTSP-over-HTTP tunnelling: http records; auto finds it after TCP, UDP and multicast are refused', async () => {
    const httpOnly = await camera({ protocols: 'http', mounts: ['http', 'auto'] });
    const recorder = await record('http-only', [
      { id: 'http-only', url: httpOnly.url('http'), transport: 'http' },
      { id: 'http-only-auto', url: httpOnly.url('auto'), transport: 'auto' },
    ]);
    await chunksFrom(recorder, 'http-only', 2);
    await chunksFrom(recorder, 'http-only-auto', 2);
    expect(await recorder.stop()).toBe(0);
    const tried = recorder.logs
      .filter((l) => l.source === 'http-only-auto' && String(l.message).startsWith('camera refused RTSP over'))
      .map((l) => `${String(l.transport)}>${String(l.next)}`);
    expect(tried).toEqual(['tcp>udp', 'udp>udp_multicast', 'udp_multicast>http']);
    for (const source of ['http-only', 'http-only-auto']) {
      await pipeline.waitForDescriptions(
        source,
        recorded(recorder.logs, source).map((l) => Number(l.sequence)),
      );
      for (const object of await storedOf(source)) expect(object.resource.metadata.transport).toBe('http');
    }
  }, 120_000);

  it('RTP lost over UDP is counted per chunk', async () => {
    const lossy = await camera({ protocols: 'udp', dropEvery: 40 });
    const recorder = await record('lossy', [{ id: 'lossy', url: lossy.url(), transport: 'udp' }]);
    await chunksFrom(recorder, 'lossy', 4);
    expect(await recorder.stop()).toBe(0);
    const chunks = recorded(recorder.logs, 'lossy');
    await pipeline.waitForDescriptions(
      'lossy',
      chunks.map((l) => Number(l.sequence)),
    );
    const lost = (await storedOf('lossy')).map((o) => Number(o.resource.metadata.packetsLost));
    // One packet in 40 never left the camera: every whole chunk saw some of them missing.
    expect(lost.slice(0, -1).every((n) => n > 0)).toBe(true);
    // Never more than the camera dropped (it counts from before the recording began).
    await lossy.waitForLine((line) => line.startsWith('DROPPED'), 5_000, 'the drop count');
    const droppedByCamera = Number(/dropped=(\d+)/.exec(lossy.output.filter((line) => line.startsWith('DROPPED')).at(-1) ?? '')?.[1]);
    expect(lost.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(droppedByCamera);
    // The log says it chunk by chunk, as the metadata does.
    expect(chunks.map((l) => l.packetsLost)).toEqual(lost);
  }, 120_000);

  it('a G.711 camera: audio dropped, kept in Matroska, or re-encoded to AAC, each said once and in the metadata', async () => {
    const g711 = await camera({ audio: 'pcmu', mounts: ['off', 'keep', 'aac'] });
    const recorder = await record('g711-camera', [
      { id: 'g711-cam-off', url: g711.url('off'), audio: false },
      { id: 'g711-cam-keep', url: g711.url('keep'), audio: true },
      { id: 'g711-cam-aac', url: g711.url('aac'), audio: 'aac' },
    ]);
    for (const source of ['g711-cam-off', 'g711-cam-keep', 'g711-cam-aac']) await chunksFrom(recorder, source, 2);
    expect(await recorder.stop()).toBe(0);
    const plans = (source: string) =>
      recorder.logs.filter((l) => l.source === source && String(l.message).startsWith('recording as')).map((l) => String(l.message));
    expect(plans('g711-cam-off')).toEqual([
      'recording as mp4: MP4 holds h264 yuv420p as it is; audio #0:1 pcm_mulaw 8000 Hz: dropped by configuration (audio: false)',
    ]);
    expect(plans('g711-cam-keep')).toEqual([
      'recording as mkv: MP4 cannot hold pcm_mulaw audio: Matroska holds it as it is; audio #0:1 pcm_mulaw 8000 Hz: kept as it is',
    ]);
    expect(plans('g711-cam-aac')).toEqual([
      'recording as mp4: MP4 holds h264 yuv420p as it is; audio #0:1 pcm_mulaw 8000 Hz: re-encoded to AAC because MP4 cannot hold pcm_mulaw (audio: aac)',
    ]);
    for (const [source, container, audio, codecs] of [
      ['g711-cam-off', 'mp4', 'pcm_mulaw:dropped', []],
      ['g711-cam-keep', 'mkv', 'pcm_mulaw:kept', ['pcm_mulaw']],
      ['g711-cam-aac', 'mp4', 'pcm_mulaw:re-encoded:aac', ['aac']],
    ] as const) {
      const described = await pipeline.waitForDescriptions(
        source,
        recorded(recorder.logs, source).map((l) => Number(l.sequence)),
      );
      for (const line of described) expect(line).toMatchObject({ container, channels: 3, durationCheck: 'match' });
      for (const object of await storedOf(source)) {
        expect(object.resource.metadata).toMatchObject({ container, audio });
        expect(await probeAudioCodecs(join(pipeline.bucketDir, object.name))).toEqual(codecs);
      }
    }
  }, 120_000);

  it('an H.265 camera is recorded as hvc1', async () => {
    const hevc = await camera({ codec: 'h265' });
    const recorder = await record('hevc-camera', [{ id: 'hevc-cam', url: hevc.url() }]);
    await chunksFrom(recorder, 'hevc-cam', 2);
    expect(await recorder.stop()).toBe(0);
    const described = await pipeline.waitForDescriptions(
      'hevc-cam',
      recorded(recorder.logs, 'hevc-cam').map((l) => Number(l.sequence)),
    );
    for (const line of described) expect(line).toMatchObject({ codec: 'hevc', width: 320, height: 240, durationCheck: 'match' });
    for (const object of await storedOf('hevc-cam')) expect(await probeVideoTag(join(pipeline.bucketDir, object.name))).toBe('hvc1');
  }, 120_000);

  it('Digest credentials: right ones record, wrong ones are named (401) with the line that proved it; a wrong path is a 404', async () => {
    const digest = await camera({ credentials: { user: 'viewer', password: 'Digest-Pa55' }, auth: 'digest', mounts: ['cam0'] });
    const recorder = await record('digest', [
      { id: 'digest-right', url: digest.url() },
      { id: 'digest-wrong', url: digest.url().replace('Digest-Pa55', 'not-it') },
      { id: 'digest-path', url: digest.url('no-such-mount') },
    ]);
    const wrong = await recorder.waitForLog((l) => l.source === 'digest-wrong' && String(l.message).startsWith('camera stream ended'), 30_000, 'the 401');
    expect(wrong).toMatchObject({ failure: 'unauthorized' });
    expect(String(wrong.cause)).toMatch(/401 Unauthorized/);
    const missing = await recorder.waitForLog((l) => l.source === 'digest-path' && String(l.message).startsWith('camera stream ended'), 30_000, 'the 404');
    expect(missing).toMatchObject({ failure: 'not-found' });
    expect(String(missing.cause)).toMatch(/404 Not Found/);
    await chunksFrom(recorder, 'digest-right', 2);
    expect(await recorder.stop()).toBe(0);
    expect(JSON.stringify(recorder.logs)).not.toContain('Digest-Pa55');
  }, 120_000);
});
