// What the fleet status costs: a node with N cameras writing its status to a private
// redis-server, timed per write, with the Redis memory it takes; and a worker reading every camera
// back and building the fleet page's data, with the size of that JSON.
//   node --conditions=source --import ./node_modules/tsx/dist/loader.mjs scripts/fleet-status-cost.ts [CAMERAS]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFleetRedisConnection } from '@crispy-streamer/shared/redis';
import { mergeUploadFigures, readCameraStatuses } from '@crispy-streamer/shared/fleet';
import { CameraTracker } from '../stream-handle/src/fleet/camera-tracker.js';
import { redisFleetStatusStore } from '../stream-handle/src/fleet/fleet-status-store.js';
import { SpoolBacklog } from '../stream-handle/src/fleet/spool-backlog.js';
import { StatusPublisher } from '../stream-handle/src/fleet/status-publisher.js';
import { buildFleetView } from '../upload-worker/src/fleet/fleet-view.js';
import { createLogger } from '@crispy-streamer/shared';
import { startRedisServer } from '@crispy-streamer/harness/redis-server';

const cameras = Number(process.argv[2] ?? 64);
const redis = await startRedisServer();
const spool = await mkdtemp(join(tmpdir(), 'fleet-cost-'));
const connection = createFleetRedisConnection(redis.url, 'cost');
await new Promise((resolve) => connection.once('ready', resolve));
const before = Number(/used_memory:(\d+)/.exec(await connection.info('memory'))?.[1]);
const now = Date.now();
const sources = Array.from({ length: cameras }, (_, i) => {
  const tracker = new CameraTracker({ id: `cam${i}`, live: true, chunkSeconds: 3 });
  for (let s = 0; s < 200; s++) {
    tracker.chunkRecorded({
      sourceId: `cam${i}`,
      sequence: s,
      startTime: new Date(now - (200 - s) * 3000).toISOString(),
      durationMs: 3000,
      frameCount: 90,
      frameRate: 30,
      bytes: 1_000_000,
      crc32c: 'AAAAAA==',
      container: 'mp4',
      codec: 'h264',
      width: 1280,
      height: 720,
      mode: 'copy',
      clock: 'host',
      clockSync: 'synchronised',
      recordedBy: 'edge',
    });
  }
  for (let g = 0; g < 50; g++) tracker.gap({ fromMs: now - 86_000_000 + g * 60_000, toMs: now - 86_000_000 + g * 60_000 + 5000 });
  return { tracker, backlog: new SpoolBacklog(spool, `cam${i}`) };
});
const publisher = new StatusPublisher({
  nodeId: 'edge-a',
  sources,
  store: redisFleetStatusStore(connection, 'cost'),
  intervalMs: 2000,
  clockSync: () => 'synchronised',
  spool: () => ({ freeBytes: 1e11, usageRatio: 0.3 }),
  logger: createLogger({ service: 'cost', level: 'error', pretty: false }),
});
const times: number[] = [];
for (let i = 0; i < 50; i++) {
  const started = performance.now();
  await publisher.publish();
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
const after = Number(/used_memory:(\d+)/.exec(await connection.info('memory'))?.[1]);
const readStarted = performance.now();
const { statuses } = await readCameraStatuses(connection, 'cost', Date.now());
const readMs = performance.now() - readStarted;
const viewStarted = performance.now();
const view = buildFleetView({
  nowMs: Date.now(),
  windowMs: 86_400_000,
  statuses,
  invalid: [],
  bucketOf: () => ({ chunks: [], listedAtMs: Date.now(), error: undefined }),
  uploads: mergeUploadFigures([], Date.now()),
  bucket: 'b',
  redisError: undefined,
});
const viewMs = performance.now() - viewStarted;
console.log(
  JSON.stringify({
    cameras,
    writeMs: { p50: Number(times[25]?.toFixed(2)), p95: Number(times[47]?.toFixed(2)), max: Number(times[49]?.toFixed(2)) },
    redisBytesPerCamera: Math.round((after - before) / cameras),
    readAllMs: Number(readMs.toFixed(2)),
    buildViewMs: Number(viewMs.toFixed(2)),
    fleetDataBytes: JSON.stringify(view).length,
  }),
);
await publisher.stop(500);
connection.disconnect();
await redis.stop();
await rm(spool, { recursive: true, force: true });
