import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetRedisConnection } from '@crispy-streamer/shared/redis';
import {
  FLEET_STATUS_TTL_MS,
  claimFleetAlert,
  fleetKeys,
  readCameraStatuses,
  readUploadFigures,
  serializeCameraStatus,
  writeCameraStatuses,
  writeUploadFigures,
} from '@crispy-streamer/shared/fleet';
import { CameraTracker } from '../../stream-handle/src/fleet/camera-tracker.js';
import { redisFleetStatusStore } from '../../stream-handle/src/fleet/fleet-status-store.js';
import { SpoolBacklog } from '../../stream-handle/src/fleet/spool-backlog.js';
import { StatusPublisher } from '../../stream-handle/src/fleet/status-publisher.js';
import { captureLogger } from '../../stream-handle/test/support.js';
import { sampleStatus } from '../../shared/test/fleet/sample-status.js';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';

// The fleet status against a real redis-server: what one process writes another reads, and an
// outage (Redis gone, or hung) costs a write that fails within a second, never a wait or a queue.

describe('the fleet status in Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const connect = async (name: string) => {
    const connection = createFleetRedisConnection(redis.url, name);
    connection.on('error', () => undefined);
    await new Promise((resolve) => connection.once('ready', resolve));
    return connection;
  };

  it('what stream-handle writes the worker reads; records it cannot read are named, expired ones pruned', async () => {
    const writer = await connect('writer');
    const reader = await connect('reader');
    const now = Date.now();
    const a = sampleStatus({ nodeId: 'edge-a', sourceId: 'cam1', heartbeatMs: now });
    const b = sampleStatus({ nodeId: 'edge/b', sourceId: 'cam1', heartbeatMs: now });
    await writeCameraStatuses(writer, 'site-1', [a, b], now);
    // Another fleet in the same Redis stays apart.
    await writeCameraStatuses(writer, 'site-2', [sampleStatus({ nodeId: 'x', heartbeatMs: now })], now);
    const keys = fleetKeys('site-1');
    expect(await reader.pttl(keys.camera('edge-a', 'cam1'))).toBeGreaterThan(FLEET_STATUS_TTL_MS - 5000);
    // A newer writer's record, and one whose hash expired while still indexed.
    await reader.hset(keys.camera('edge-c', 'cam9'), { ...serializeCameraStatus(sampleStatus()), version: '2' });
    await reader.zadd(keys.cameraIndex, now, 'edge-c/cam9', now, 'edge-d/cam3');
    const read = await readCameraStatuses(reader, 'site-1', now);
    expect(read.statuses.map((s) => `${s.nodeId}:${s.sourceId}`).sort()).toEqual(['edge-a:cam1', 'edge/b:cam1']);
    expect(read.statuses.find((s) => s.nodeId === 'edge-a')).toEqual(a);
    expect(read.invalid).toEqual([{ key: keys.camera('edge-c', 'cam9'), problems: [expect.stringContaining('newer stream-handle')] }]);
    expect(await reader.zscore(keys.cameraIndex, 'edge-d/cam3')).toBeNull();
    writer.disconnect();
    reader.disconnect();
  });

  it('upload figures and alert claims: one worker wins each claim', async () => {
    const one = await connect('w1');
    const two = await connect('w2');
    const now = Date.now();
    const figures = {
      version: 1 as const,
      workerId: 'w1',
      queueName: 'chunks',
      bucket: 'file:///b',
      heartbeatMs: now,
      staleAfterMs: 8000,
      windowMs: 300_000,
      throughputWindowMs: 10_000,
      concurrency: 8,
      storedSinceStart: 3,
      queue: { waiting: 1 },
      sources: {},
      series: new Array<number>(60).fill(0),
    };
    await writeUploadFigures(one, 'site-1', figures);
    expect((await readUploadFigures(two, 'site-1', now)).figures).toEqual([figures]);
    const claims = await Promise.all([claimFleetAlert(one, 'site-1', 'silent:edge-a/cam1:1'), claimFleetAlert(two, 'site-1', 'silent:edge-a/cam1:1')]);
    expect(claims.sort()).toEqual([false, true]);
    one.disconnect();
    two.disconnect();
  });

  it('Redis hung or gone: a status write fails within a second, the publisher never waits, and it writes again once Redis is back', async () => {
    const connection = await connect('stream-handle-fleet');
    const tracker = new CameraTracker({ id: 'cam1', live: true, chunkSeconds: 2 });
    const { logger, lines } = captureLogger();
    const store = redisFleetStatusStore(connection, 'outage');
    const publisher = new StatusPublisher({
      nodeId: 'edge-a',
      sources: [{ tracker, backlog: new SpoolBacklog('/nonexistent', 'cam1') }],
      store,
      intervalMs: 60_000,
      clockSync: () => 'unknown',
      spool: () => undefined,
      logger,
    });
    await publisher.publish();
    expect((await readCameraStatuses(connection, 'outage', Date.now())).statuses).toHaveLength(1);

    // Hung: the server takes the connection's bytes and never answers.
    process.kill(redis.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      await publisher.publish();
      const hungMs = Date.now() - started;
      expect(hungMs).toBeLessThan(1800);
      // Twenty changes while it hangs cost no queue: each write fails on its own timeout, one at a time.
      const burst = Date.now();
      for (let i = 0; i < 20; i++) tracker.streamEnded({ reason: `attempt ${i}` });
      await publisher.publish();
      expect(Date.now() - burst).toBeLessThan(4000);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    expect(lines.filter((l) => l.message.startsWith('could not write the fleet status'))).toHaveLength(1);

    // Gone: refused at once, then written again after the restart.
    await redis.kill();
    const refused = Date.now();
    await publisher.publish();
    expect(Date.now() - refused).toBeLessThan(500);
    await redis.restart();
    await new Promise((resolve) => connection.once('ready', resolve));
    tracker.streamEnded({ reason: 'back' });
    await publisher.publish();
    expect(lines.filter((l) => l.message === 'fleet status written again').length).toBeGreaterThanOrEqual(1);
    expect((await readCameraStatuses(connection, 'outage', Date.now())).statuses[0]).toMatchObject({ state: 'reconnecting', reason: 'back' });
    await publisher.stop(500);
    connection.disconnect();
  });
});
