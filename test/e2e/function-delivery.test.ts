import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pubsubPushBody, type StorageObjectResource } from '@crispy-streamer/shared';
import { makeSampleVideo } from '../support/sample-video.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startLocalPipeline, type LocalPipeline } from './pipeline-harness.js';
import type { LogLine } from '../../scripts/lib/service-process.js';

// Pub/Sub delivers at least once and carries whatever was published: the function must answer
// every message (a 2xx acknowledges it) with a clear log line, and never crash.
describe('the function under at-least-once delivery', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let stored: StorageObjectResource;

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    const video = join(pipeline.dir, 'clip.mp4');
    await makeSampleVideo(video, { seconds: 4, width: 640, height: 360 });
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: video, SOURCE_ID: 'delivery' });
    expect(await recorder.exited).toBe(0);
    await pipeline.waitForDescriptions('delivery', [0]);
    stored = (await pipeline.bucketObjects())[0]?.resource as unknown as StorageObjectResource;
  });
  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  async function push(body: unknown): Promise<number> {
    const response = await fetch(pipeline.functionPushUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return response.status;
  }
  const logsSince = (count: number) => pipeline.fn.logs.slice(count);
  // The push is answered before the function's stdout reaches this process: wait for the lines.
  async function linesSince(count: number, message: string, expected: number): Promise<LogLine[]> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const lines = logsSince(count).filter((l) => l.message === message);
      if (lines.length >= expected || Date.now() > deadline) return lines;
      await delay(20);
    }
  }

  it('a duplicate notification is acknowledged and not described twice', async () => {
    const before = pipeline.fn.logs.length;
    expect(await push(pubsubPushBody('OBJECT_FINALIZE', stored, 'projects/local/subscriptions/s'))).toBe(204);
    expect(await linesSince(before, 'duplicate notification: chunk already described', 1)).toHaveLength(1);
    expect(logsSince(before).filter((l) => l.message === 'chunk described')).toHaveLength(0);
  });

  it('a malformed message is acknowledged with an error line naming the problem', async () => {
    const before = pipeline.fn.logs.length;
    expect(await push({ message: { data: Buffer.from('not json').toString('base64'), attributes: { eventType: 'OBJECT_FINALIZE' }, messageId: '1' }, subscription: 's' })).toBe(204);
    expect(await push({ message: { data: Buffer.from('{}').toString('base64'), messageId: '2' }, subscription: 's' })).toBe(204);
    const reasons = (await linesSince(before, 'notification ignored: malformed', 2)).map((l) => String(l.reason));
    expect(reasons).toEqual([
      'malformed storage notification: the message data is not base64-encoded JSON',
      'malformed storage notification: the message has no eventType attribute: is the topic fed by a bucket notification?',
    ]);
  });

  it('a non-video object and a non-finalize event are skipped', async () => {
    const before = pipeline.fn.logs.length;
    const text = { ...stored, name: 'notes/readme.txt', contentType: 'text/plain', generation: '1' };
    expect(await push(pubsubPushBody('OBJECT_FINALIZE', text, 's'))).toBe(204);
    expect(await push(pubsubPushBody('OBJECT_DELETE', stored, 's'))).toBe(204);
    const skipped = (await linesSince(before, 'notification skipped', 2)).map((l) => String(l.reason));
    expect(skipped).toEqual(['text/plain is not a video', 'event OBJECT_DELETE is not a new object']);
  });

  it('a notification for an object deleted since is acknowledged with a warning', async () => {
    const before = pipeline.fn.logs.length;
    const ghost = { ...stored, name: 'delivery/2026-01-01/delivery_20260101T000000.000Z_0000009999.mp4', generation: '42' };
    expect(await push(pubsubPushBody('OBJECT_FINALIZE', ghost, 's'))).toBe(204);
    const [warning] = await linesSince(before, 'chunk deleted before it could be described', 1);
    expect(warning?.object).toBe(ghost.name);
  });
});
