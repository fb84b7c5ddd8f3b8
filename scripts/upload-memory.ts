// Measures the upload worker's memory while it uploads one large chunk to a gs:// bucket (our GCS
// test server): resident set size sampled every 50 ms from /proc, and the kernel's own peak (VmHWM).
//
//   node --conditions=source --import ./node_modules/tsx/dist/loader.mjs scripts/upload-memory.ts [MB]
//
// Set CRISPY_RUN_COMPILED=1 (after `npx tsc -b`) to run the worker as the images do.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startUploadWorker } from '@crispy-streamer/harness/local-stack';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startRedisServer } from '@crispy-streamer/harness/redis-server';
import { startGcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
import { enqueueChunk, writeSyntheticChunk } from '@crispy-streamer/harness/chunk-job';

const MiB = 1024 * 1024;

async function memoryOf(pid: number): Promise<{ rssMiB: number; peakMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rssMiB: field('VmRSS'), peakMiB: field('VmHWM') };
}

const megabytes = Number(process.argv[2] ?? 200);
const dir = await mkdtemp(join(tmpdir(), 'crispy-upload-memory-'));
const redis = await startRedisServer();
const gcs = await startGcsTestServer();
const worker = startUploadWorker({
  env: {
    REDIS_URL: redis.url,
    HTTP_PORT: String(await freePort()),
    BUCKET_URL: 'gs://memory-bucket/chunks',
    GCS_API_ENDPOINT: gcs.url,
    GOOGLE_CLOUD_PROJECT: 'memory-test',
    METADATA_SERVER_DETECTION: 'none',
    UPLOAD_CONCURRENCY: '1',
    UPLOAD_CONCURRENCY_MAX: '1',
  },
});
try {
  await worker.waitForLog((l) => l.message === 'upload-worker ready', 30_000, 'that it is ready');
  const pid = worker.child.pid ?? 0;
  await sleep(1000);
  const idle = await memoryOf(pid);
  const chunk = await writeSyntheticChunk(join(dir, 'spool'), 'memcam', 1, megabytes * MiB);
  const started = Date.now();
  await enqueueChunk(redis.url, chunk);
  let peakSampled = idle.rssMiB;
  while (!worker.logs.some((l) => l.message === 'chunk uploaded' || l.message?.startsWith('chunk upload gave up'))) {
    peakSampled = Math.max(peakSampled, (await memoryOf(pid)).rssMiB);
    if (Date.now() - started > 300_000) throw new Error('the upload did not finish within 5 minutes');
    await sleep(50);
  }
  const after = await memoryOf(pid);
  const line = worker.logs.find((l) => l.message === 'chunk uploaded');
  const stored = gcs.objects('memory-bucket')[0];
  const received = gcs.requests.reduce((sum, r) => sum + (r.bytes ?? 0), 0);
  console.log(
    JSON.stringify({
      chunkMiB: megabytes,
      uploaded: line !== undefined && stored?.crc32c === chunk.crc32c,
      seconds: (Date.now() - started) / 1000,
      idleRssMiB: Math.round(idle.rssMiB),
      peakRssSampledMiB: Math.round(peakSampled),
      peakRssKernelMiB: Math.round(after.peakMiB),
      serverReceivedMiB: Math.round(received / MiB),
      requests: gcs.requests.map((r) => `${r.method} ${r.status}`).join(', '),
    }),
  );
} finally {
  await worker.stop();
  await gcs.stop();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}
