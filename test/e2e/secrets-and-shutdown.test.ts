import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStreamHandle, startUploadWorker } from '@crispy-streamer/harness/local-stack';
import type { ServiceProcess } from '@crispy-streamer/harness/service-process';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';

// Found by an adversarial run: with a wrong Redis password the worker printed BullMQ's
// `args: ['3','AUTH','default','WrongPW-999']` 298 times; a camera password holding a quote was
// logged 41 times; and neither service exited on SIGTERM while Redis refused them (20 s, 595 s).
const WRONG_REDIS_PASSWORD = 'WrongPW-999';
const CAMERA_PASSWORD = "it's-S3cret7";

/** Everything a service wrote, JSON lines and the rest. */
const output = (service: ServiceProcess) => [...service.logs.map((line) => JSON.stringify(line)), ...service.otherOutput].join('\n');

/** SIGTERM, and how long until the process was gone (it is SIGKILLed after 60 s, failing the test). */
async function stopTimed(service: ServiceProcess): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await service.stop(60_000);
  return { code, ms: Date.now() - started };
}

describe('secrets, and stopping, when Redis refuses us or is gone', () => {
  let redis: RedisServer;
  let dir = '';
  let sample = '';
  let wrongUrl = '';

  beforeAll(async () => {
    redis = await startRedisServer({ password: 'CorrectPW-123' });
    wrongUrl = `redis://default:${WRONG_REDIS_PASSWORD}@localhost:${redis.port}`;
    dir = await mkdtemp(join(tmpdir(), 'crispy-secrets-'));
    sample = join(dir, 'sample.mp4');
    await makeSampleVideo(sample, { seconds: 6, width: 320, height: 240 });
  });
  afterAll(async () => {
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stream-handle with a wrong Redis password: no password in any line, and SIGTERM ends it within its bound, saying what stays in the spool', async () => {
    const deadCamera = await freePort();
    const recorder = startStreamHandle({
      env: {
        REDIS_URL: wrongUrl,
        SPOOL_DIR: join(dir, 'spool'),
        STATUS_PORT: '0',
        STOP_GRACE_MS: '2000',
        SOURCES_FILE: '',
        SOURCE_URL: sample,
        SOURCE_ID: 'file',
        LOG_LEVEL: 'debug',
      },
    });
    // The camera with a quote in its password sits beside the file, on a port nobody answers.
    const camera = startStreamHandle({
      env: {
        REDIS_URL: wrongUrl,
        SPOOL_DIR: join(dir, 'spool'),
        STATUS_PORT: '0',
        STOP_GRACE_MS: '2000',
        SOURCE_URL: `rtsp://admin:${CAMERA_PASSWORD}@localhost:${deadCamera}/cam`,
        SOURCE_ID: 'cam',
        LOG_LEVEL: 'debug',
      },
    });
    await recorder.waitForLog(
      (l) =>
        l.message === 'could not queue chunk; it is safe in the spool, retrying' || l.message === 'upload queue problem; chunks keep recording to the spool',
      30_000,
      'Redis refusing it',
    );
    // A chunk finished and waiting for the queue (its job data beside it in the spool), not only
    // the queue's complaint, which can come before any chunk is: the stop must say what stays.
    const spoolOfFile = join(dir, 'spool', 'file');
    const deadline = Date.now() + 30_000;
    const waiting = async () => (await readdir(spoolOfFile).catch(() => [])).some((name) => name.endsWith('.mp4.json'));
    while (!(await waiting()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await waiting()).toBe(true);
    await camera.waitForLog((l) => typeof l.message === 'string' && l.message.startsWith('camera stream ended'), 30_000, 'the camera failing');
    // The fault happened: Redis refused the password.
    expect(output(recorder)).toMatch(/WRONGPASS|NOAUTH|invalid username-password/);

    const [file, cam] = await Promise.all([stopTimed(recorder), stopTimed(camera)]);
    for (const stopped of [file, cam]) {
      expect(stopped.code).toBe(0);
      expect(stopped.ms).toBeLessThan(3 * 2000 + 10_000);
    }
    expect(recorder.logs.at(-1)).toMatchObject({
      message: expect.stringMatching(/could not be queued .* stay in the spool/) as unknown,
      notQueued: expect.any(Number) as unknown,
    });
    for (const service of [recorder, camera]) {
      expect(output(service)).not.toContain(WRONG_REDIS_PASSWORD);
      expect(output(service)).not.toContain(CAMERA_PASSWORD);
      expect(output(service)).not.toContain('S3cret7');
    }
    expect(output(camera)).toContain('rtsp://admin:***@localhost');
  }, 90_000);

  it('upload-worker with a wrong Redis password: no password in any line, and SIGTERM ends it within its bound', async () => {
    const worker = startUploadWorker({
      env: {
        REDIS_URL: wrongUrl,
        SPOOL_DIR: join(dir, 'spool'),
        BUCKET_URL: `file://${join(dir, 'bucket')}`,
        HTTP_PORT: '0',
        SHUTDOWN_GRACE_MS: '2000',
        BOARD_USER: 'admin',
        BOARD_PASSWORD: 'Board-Secret-42',
        LOG_LEVEL: 'debug',
      },
    });
    await worker.waitForLog((l) => l.message === 'upload-worker ready', 30_000, 'that it is ready');
    await worker.waitForLog((l) => /WRONGPASS|NOAUTH|invalid username-password/.test(JSON.stringify(l)), 30_000, 'Redis refusing it');
    await new Promise((resolve) => setTimeout(resolve, 3000)); // long enough for BullMQ to retry and complain
    const stopped = await stopTimed(worker);
    expect(stopped.ms).toBeLessThan(2000 + 8000 + 2000);
    expect(output(worker)).not.toContain(WRONG_REDIS_PASSWORD);
    expect(output(worker)).not.toContain('Board-Secret-42');
    expect(worker.otherOutput.filter((line) => line.includes('AUTH'))).toEqual([]);
  }, 60_000);

  it('stream-handle whose Redis went away: SIGTERM still ends a file source within its bound', async () => {
    const gone = await startRedisServer();
    const recorder = startStreamHandle({
      env: {
        REDIS_URL: gone.url,
        SPOOL_DIR: join(dir, 'spool-gone'),
        STATUS_PORT: '0',
        STOP_GRACE_MS: '2000',
        SOURCE_URL: sample,
        SOURCE_ID: 'file',
        REALTIME: 'true',
      },
    });
    await recorder.waitForLog((l) => l.message === 'source starting', 30_000, 'its start');
    await gone.kill();
    // A chunk finalised into the spool while Redis is gone: its queueing waits for Redis.
    const spool = join(dir, 'spool-gone', 'file');
    const deadline = Date.now() + 30_000;
    while (!(await readdir(spool).catch(() => [] as string[])).some((name) => name.endsWith('.mp4.json')) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await readdir(spool)).some((name) => name.endsWith('.mp4.json'))).toBe(true);
    const stopped = await stopTimed(recorder);
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(3 * 2000 + 10_000);
    await gone.stop();
  }, 60_000);
});
