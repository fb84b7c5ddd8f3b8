// One large chunk over a slow uplink with a blackout in the middle, through the worker's gs:// path:
// how many sessions, attempts and bytes it costs. A userspace proxy shapes the link (this kernel has
// no netem, and shaping loopback would slow everything else on the machine).
//
//   node --conditions=source --import ./node_modules/tsx/dist/loader.mjs scripts/upload-shaped-link.ts \
//     [--mb 46.7] [--mbit 20] [--blackout-s 30] [--blackout-at-s 5] [--progress-timeout-ms 15000]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startUploadWorker } from '@crispy-streamer/harness/local-stack';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startRedisServer } from '@crispy-streamer/harness/redis-server';
import { startGcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
import { startShapedProxy } from '@crispy-streamer/harness/shaped-proxy';
import { enqueueChunk, writeSyntheticChunk } from '@crispy-streamer/harness/chunk-job';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '46.7' },
    mbit: { type: 'string', default: '20' },
    'blackout-s': { type: 'string', default: '30' },
    'blackout-at-s': { type: 'string', default: '5' },
    'progress-timeout-ms': { type: 'string', default: '15000' },
  },
});
const bytes = Math.round(Number(values.mb) * 1_000_000);
const dir = await mkdtemp(join(tmpdir(), 'crispy-shaped-'));
const redis = await startRedisServer();
const gcs = await startGcsTestServer();
const link = await startShapedProxy({ host: '127.0.0.1', port: gcs.port }, Number(values.mbit) * 1_000_000);
const worker = startUploadWorker({
  env: {
    REDIS_URL: redis.url,
    HTTP_PORT: String(await freePort()),
    BUCKET_URL: 'gs://shaped-bucket/chunks',
    GCS_API_ENDPOINT: link.url,
    GOOGLE_CLOUD_PROJECT: 'shaped-test',
    METADATA_SERVER_DETECTION: 'none',
    UPLOAD_CONCURRENCY: '1',
    UPLOAD_CONCURRENCY_MAX: '1',
    UPLOAD_PROGRESS_TIMEOUT_MS: String(values['progress-timeout-ms']),
  },
});
try {
  await worker.waitForLog((l) => l.message === 'upload-worker ready', 30_000, 'that it is ready');
  const chunk = await writeSyntheticChunk(join(dir, 'spool'), 'shaped', 1, bytes);
  const started = Date.now();
  await enqueueChunk(redis.url, chunk);
  await sleep(Number(values['blackout-at-s']) * 1000);
  link.blackout(Number(values['blackout-s']) * 1000);
  const done = await worker.waitForLog((l) => l.message === 'chunk uploaded' || String(l.message).startsWith('chunk upload gave up'), 600_000, 'the upload');
  const seconds = (Date.now() - started) / 1000;
  const stored = gcs.objects('shaped-bucket')[0];
  const received = gcs.requests.reduce((sum, r) => sum + r.bytes, 0);
  console.log(
    JSON.stringify({
      chunkBytes: bytes,
      linkMbit: Number(values.mbit),
      blackoutSeconds: Number(values['blackout-s']),
      progressTimeoutMs: Number(values['progress-timeout-ms']),
      outcome: done.message,
      stored: stored?.crc32c === chunk.crc32c && stored.bytes.length === bytes,
      seconds,
      sessions: gcs.requests.filter((r) => r.method === 'POST' && r.path.includes('uploadType=resumable')).length,
      attemptsSpent: done.attempts,
      abandonedForNoProgress: worker.logs.filter((l) => String((l.err as { message?: string } | undefined)?.message ?? '').includes('made no progress')).length,
      serverReceivedBytes: received,
      overhead: Number((received / bytes).toFixed(3)),
    }),
  );
  if (process.env.SHOW_LOGS === '1') {
    for (const line of worker.logs) if (line.severity !== 'INFO' || line.message !== 'chunk uploaded') console.log(JSON.stringify(line));
    for (const r of gcs.requests) console.log(`${r.method} ${r.status} ${r.bytes}`);
  }
} finally {
  await worker.stop();
  await link.stop();
  await gcs.stop();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}
