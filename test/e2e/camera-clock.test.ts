import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine, ServiceProcess } from '@crispy-streamer/harness/service-process';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startRtspCamera, type RtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// A camera whose clock is not the node's: gst-rtsp-server under libfaketime (realtime clock only),
// offset by what a file says. Its RTCP Sender Reports carry its own time; ffmpeg writes it into
// each fragment's producer reference time box; the chunks are placed on it.

const FPS = 30;
const FRAME_MS = 1000 / FPS;

function chunksOf(logs: readonly LogLine[], source: string): LogLine[] {
  return logs.filter((l) => l.source === source && l.message === 'chunk recorded');
}

function cameraChunks(logs: readonly LogLine[], source: string): LogLine[] {
  return chunksOf(logs, source).filter((l) => l.cameraTime !== undefined);
}

describe("evidence time from the camera's own clock", () => {
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

  async function cameraWithClock(name: string, offset: string, options: { noRtcp?: boolean } = {}): Promise<{ camera: RtspCamera; clockFile: string }> {
    const clockFile = join(pipeline.dir, `${name}.faketime`);
    await writeFile(clockFile, `${offset}\n`);
    const camera = await startRtspCamera({ width: 640, height: 360, fps: FPS, gopFrames: FPS, clockOffsetFile: clockFile, ...options });
    cameras.push(camera);
    return { camera, clockFile };
  }

  function record(camera: RtspCamera, id: string, env: Record<string, string> = {}): ServiceProcess {
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: camera.url('cam0'), SOURCE_ID: id, CHUNK_SECONDS: '3', ...env });
    recorders.push(recorder);
    return recorder;
  }

  /** Chunks on the camera's clock follow it within a frame, tile its timeline, and carry their offset to the bucket. */
  async function expectCameraTime(recorder: ServiceProcess, id: string, expectedOffsetMs: number): Promise<LogLine[]> {
    const chunks = cameraChunks(recorder.logs, id);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const chunk of chunks) {
      expect(chunk.clock).toBe('camera');
      expect(chunk.startTime).toBe(chunk.cameraTime);
      expect(['sender-report', 'sender-report-mapped-back']).toContain(chunk.cameraTimeSource);
      const offsetMs = Number(chunk.clockOffsetMs);
      expect(offsetMs).toBe(Date.parse(String(chunk.cameraTime)) - Date.parse(String(chunk.hostTime)));
      // The camera's time of the frame against its arrival here: the shift, less the camera's
      // encoding and sending (the frame is older than its arrival), within one frame.
      expect(Math.abs(offsetMs - expectedOffsetMs), `offset ${offsetMs} ms, camera set ${expectedOffsetMs} ms`).toBeLessThanOrEqual(FRAME_MS);
    }
    for (let i = 1; i < chunks.length; i++) {
      const previous = chunks[i - 1] as LogLine;
      if (Number(chunks[i]?.sequence) !== Number(previous.sequence) + 1) continue;
      const end = Date.parse(String(previous.startTime)) + Number(previous.durationMs);
      expect(Math.abs(Date.parse(String(chunks[i]?.startTime)) - end)).toBeLessThanOrEqual(FRAME_MS);
    }
    // Chunks before the camera's first Sender Report are on this node's clock, and say so.
    for (const chunk of chunksOf(recorder.logs, id).filter((l) => l.cameraTime === undefined)) {
      expect(chunk).toMatchObject({ clock: 'host', cameraTimeSource: 'no-sender-report' });
      expect(chunk.startTime).toBe(chunk.hostTime);
    }
    const sequences = chunks.map((l) => Number(l.sequence));
    await pipeline.waitForDescriptions(id, sequences);
    const objects = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === id);
    for (const chunk of chunks) {
      const stored = objects.find((o) => Number(o.resource.metadata.sequence) === Number(chunk.sequence));
      expect(stored?.resource.metadata).toMatchObject({
        clock: 'camera',
        cameraTime: chunk.cameraTime,
        hostTime: chunk.hostTime,
        clockOffsetMs: String(chunk.clockOffsetMs),
      });
      // The signed record covers both clocks and the offset.
      const record = JSON.parse(String(stored?.resource.metadata.evidenceRecord)) as Record<string, unknown>;
      expect(record).toMatchObject({
        v: 2,
        clock: 'camera',
        startTime: chunk.cameraTime,
        hostTime: chunk.hostTime,
        clockOffsetMs: Number(chunk.clockOffsetMs),
      });
    }
    return chunks;
  }

  it('a camera 3 s behind the node: its chunks carry its own time within a frame, and the offset', async () => {
    const { camera } = await cameraWithClock('behind', '-3');
    const recorder = record(camera, 'behind');
    await recorder.waitForLog(() => cameraChunks(recorder.logs, 'behind').length >= 3, 60_000, 'three chunks on the camera clock');
    expect(await recorder.stop()).toBe(0);
    await expectCameraTime(recorder, 'behind', -3000);
    // Moving from the node's clock to the camera's is no gap in the recording.
    expect(recorder.logs.filter((l) => String(l.message).startsWith('recording gap'))).toEqual([]);
  });

  it("a camera an hour ahead: trusted when the bound allows it, and placed on the node's clock with a warning when not", async () => {
    const { camera } = await cameraWithClock('ahead', '+3600');
    const trusting = record(camera, 'ahead', { CAMERA_CLOCK_MAX_OFFSET_SECONDS: '7200' });
    const wary = record(camera, 'ahead-wary');
    await trusting.waitForLog(() => cameraChunks(trusting.logs, 'ahead').length >= 3, 60_000, 'three chunks on the camera clock');
    await wary.waitForLog(
      () => chunksOf(wary.logs, 'ahead-wary').filter((l) => l.clockOffsetMs !== undefined).length >= 2,
      30_000,
      'two chunks with an offset',
    );
    expect(await trusting.stop()).toBe(0);
    expect(await wary.stop()).toBe(0);
    await expectCameraTime(trusting, 'ahead', 3_600_000);

    const measured = chunksOf(wary.logs, 'ahead-wary').filter((l) => l.clockOffsetMs !== undefined);
    for (const chunk of measured) {
      expect(chunk.clock).toBe('host');
      expect(chunk.startTime).toBe(chunk.hostTime);
      expect(Math.abs(Number(chunk.clockOffsetMs) - 3_600_000)).toBeLessThanOrEqual(FRAME_MS);
    }
    const warning = wary.logs.find((l) => String(l.message).includes('beyond CAMERA_CLOCK_MAX_OFFSET_SECONDS'));
    expect(warning).toBeDefined();
    expect(Math.abs(Number(warning?.offsetMs) - 3_600_000)).toBeLessThanOrEqual(FRAME_MS);
  });

  it('a camera whose clock steps mid-recording: the step is logged and marked on the chunk, and later chunks follow the new time', async () => {
    const { camera, clockFile } = await cameraWithClock('stepping', '-3');
    const recorder = record(camera, 'stepping');
    await recorder.waitForLog(() => cameraChunks(recorder.logs, 'stepping').length >= 2, 60_000, 'two chunks on the camera clock');
    await writeFile(clockFile, '+2\n');
    const stepLog = await recorder.waitForLog((l) => l.source === 'stepping' && String(l.message).startsWith("the camera's clock stepped"), 40_000, 'the step');
    await recorder.waitForLog(
      (l) => l.message === 'chunk recorded' && Number(l.sequence) >= Number(stepLog.sequence ?? 0) + 2 && Math.abs(Number(l.clockOffsetMs) - 2000) <= FRAME_MS,
      40_000,
      'chunks after the step',
    );
    expect(await recorder.stop()).toBe(0);
    expect(Math.abs(Number(stepLog.stepMs) - 5000)).toBeLessThanOrEqual(FRAME_MS);
    const chunks = cameraChunks(recorder.logs, 'stepping');
    const marked = chunks.filter((l) => l.cameraClockStepMs !== undefined);
    expect(marked).toHaveLength(1);
    expect(Math.abs(Number(marked[0]?.cameraClockStepMs) - 5000)).toBeLessThanOrEqual(FRAME_MS);
    const stepAt = chunks.indexOf(marked[0] as LogLine);
    for (const chunk of chunks.slice(0, stepAt)) expect(Math.abs(Number(chunk.clockOffsetMs) + 3000)).toBeLessThanOrEqual(FRAME_MS);
    for (const chunk of chunks.slice(stepAt + 1)) expect(Math.abs(Number(chunk.clockOffsetMs) - 2000)).toBeLessThanOrEqual(FRAME_MS);
    const stored = (await pipeline.bucketObjects()).find(
      (o) => o.resource.metadata.source === 'stepping' && Number(o.resource.metadata.sequence) === Number(marked[0]?.sequence),
    );
    await pipeline.waitForDescriptions('stepping', [Number(marked[0]?.sequence)]);
    const object =
      stored ??
      (await pipeline.bucketObjects()).find(
        (o) => o.resource.metadata.source === 'stepping' && Number(o.resource.metadata.sequence) === Number(marked[0]?.sequence),
      );
    expect(object?.resource.metadata.cameraClockStepMs).toBe(String(marked[0]?.cameraClockStepMs));
  });

  it("a camera that sends no Sender Report: every chunk is on the node's clock, labelled so, with a warning", async () => {
    const { camera } = await cameraWithClock('silent', '-3', { noRtcp: true });
    const recorder = record(camera, 'silent');
    await recorder.waitForLog((l) => l.message === 'chunk recorded' && l.source === 'silent' && Number(l.sequence) >= 4, 60_000, 'five chunks');
    expect(await recorder.stop()).toBe(0);
    const chunks = chunksOf(recorder.logs, 'silent');
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ clock: 'host', cameraTimeSource: 'no-sender-report' });
      expect(chunk.cameraTime).toBeUndefined();
      expect(chunk.startTime).toBe(chunk.hostTime);
    }
    expect(recorder.logs.some((l) => l.source === 'silent' && String(l.message).includes('no RTCP Sender Report'))).toBe(true);
  });
});
