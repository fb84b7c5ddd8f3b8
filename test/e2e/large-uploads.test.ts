import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chunkObjectName, crc32cBase64 } from '@crispy-streamer/shared';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startUploadWorker } from '@crispy-streamer/harness/local-stack';
import type { LogLine, ServiceProcess } from '@crispy-streamer/harness/service-process';
import { enqueueChunk, writeSyntheticChunk, type SyntheticChunk } from '@crispy-streamer/harness/chunk-job';
import { startGcsTestServer, type FaultSpec, type GcsTestServer, type RequestRecord } from '@crispy-streamer/harness/gcs-test-server';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { recordFaultOutcome } from '@crispy-streamer/harness/local-pipeline';
import { RESUMABLE_CHUNK_BYTES } from '../../upload-worker/src/storage/gcs-store.js';

// Large chunks through the worker's gs:// path, the worker as a process with real Redis, against
// our GCS test server (as strict as Google's testbench), addressed by host name: `localhost`.

const BUCKET = 'large-bucket';
const PREFIX = 'large';
const MB = 1_000_000;
const KiB = 1024;
const PROGRESS_TIMEOUT_MS = 3000;

let redis: RedisServer;
let gcs: GcsTestServer;
let worker: ServiceProcess;
let spoolDir: string;
let sequence = 0;

beforeAll(async () => {
  redis = await startRedisServer();
  gcs = await startGcsTestServer();
  spoolDir = await mkdtemp(join(tmpdir(), 'crispy-large-'));
  worker = startUploadWorker({
    env: {
      REDIS_URL: redis.url,
      SPOOL_DIR: spoolDir,
      HTTP_PORT: String(await freePort()),
      BUCKET_URL: `gs://${BUCKET}/${PREFIX}`,
      GCS_API_ENDPOINT: gcs.localhostUrl,
      GOOGLE_CLOUD_PROJECT: 'large-test',
      METADATA_SERVER_DETECTION: 'none',
      UPLOAD_CONCURRENCY: '1',
      UPLOAD_CONCURRENCY_MAX: '1',
      UPLOAD_PROGRESS_TIMEOUT_MS: String(PROGRESS_TIMEOUT_MS),
      OUTAGE_MIN_PAUSE_MS: '200',
      OUTAGE_MAX_PAUSE_MS: '1000',
    },
  });
  await worker.waitForLog((l) => l.message === 'upload-worker ready', 30_000, 'that it is ready');
});
afterEach(() => {
  gcs.clearFaults();
  gcs.configure({ checksumMismatch: 'google' });
});
afterAll(async () => {
  await worker?.stop();
  await gcs?.stop();
  await redis?.stop();
  if (spoolDir !== undefined) await rm(spoolDir, { recursive: true, force: true });
});

interface Queued {
  chunk: SyntheticChunk;
  sha256: string;
  sourceId: string;
}

/** Writes a chunk of `bytes` into the spool under a source of its own and queues it. */
async function queueChunk(sourceId: string, bytes: number): Promise<Queued> {
  const chunk = await writeSyntheticChunk(spoolDir, sourceId, ++sequence, bytes);
  const sha256 = createHash('sha256')
    .update(await readFile(chunk.spoolPath))
    .digest('hex');
  await enqueueChunk(redis.url, chunk, { backoffMs: 200 });
  return { chunk, sha256, sourceId };
}

const linesOf = (sourceId: string): LogLine[] => worker.logs.filter((l) => l.source === sourceId);
const messagesOf = (sourceId: string): string[] => linesOf(sourceId).map((l) => String(l.message));
const objectOf = (queued: Queued) => gcs.objects(BUCKET).find((o) => o.metadata.source === queued.sourceId);
/** Requests that touched this source's object (its name is in the path, for uploads and session URIs alike). */
const requestsOf = (sourceId: string): RequestRecord[] =>
  gcs.requests.filter((r) => decodeURIComponent(r.path).includes(`/${sourceId}/`) || decodeURIComponent(r.path).includes(`${sourceId}_`));
const sessionsOf = (sourceId: string): number => requestsOf(sourceId).filter((r) => r.method === 'POST' && r.path.includes('uploadType=resumable')).length;
const receivedFor = (sourceId: string): number => requestsOf(sourceId).reduce((sum, r) => sum + r.bytes, 0);

function waitForOutcome(sourceId: string, timeoutMs = 120_000): Promise<LogLine> {
  return worker.waitForLog(
    (l) =>
      l.source === sourceId &&
      (l.message === 'chunk uploaded' || l.message === 'chunk was already in the bucket' || String(l.message).startsWith('chunk upload gave up')),
    timeoutMs,
    `the outcome of ${sourceId}`,
  );
}

/** The object holds exactly the file's bytes: size, CRC32C (ours and the server's) and SHA-256. */
function expectStoredWhole(queued: Queued): void {
  const object = objectOf(queued);
  expect(object?.bytes.length).toBe(queued.chunk.job.metadata.bytes);
  expect(object?.crc32c).toBe(queued.chunk.crc32c);
  expect(crc32cBase64(object?.bytes ?? Buffer.alloc(0))).toBe(queued.chunk.crc32c);
  expect(
    createHash('sha256')
      .update(object?.bytes ?? Buffer.alloc(0))
      .digest('hex'),
  ).toBe(queued.sha256);
}

describe('a 40 MB chunk, the connection faulted 256 KiB in', () => {
  // A cut connection loses only what was in flight past the last 256 KiB the server kept; a 503
  // after the whole request was read (the testbench's return-503-after-256K) loses the rest of that
  // request, at most one RESUMABLE_CHUNK_BYTES.
  const faults: { label: string; answered: number; spec: FaultSpec; mostResent: number }[] = [
    { label: 'connection cut', answered: 0, spec: { kind: 'drop-after-bytes', bytes: 256 * KiB }, mostResent: 1024 * KiB },
    { label: '503', answered: 503, spec: { kind: 'status-after-bytes', status: 503, bytes: 256 * KiB }, mostResent: RESUMABLE_CHUNK_BYTES },
  ];
  for (const fault of faults) {
    it(`${fault.label}: resumes in the same attempt, sending far less than 40 MB again, and stores the file's bytes`, async () => {
      const sourceId = `resume-${fault.answered === 0 ? 'drop' : 'status'}`;
      gcs.injectFault(fault.spec);
      const queued = await queueChunk(sourceId, 40 * MB);
      const outcome = await waitForOutcome(sourceId);
      const received = receivedFor(sourceId);
      recordFaultOutcome(`40 MB upload, ${fault.label} after 256 KiB`, {
        recorded: [sequence],
        stored: gcs
          .objects(BUCKET)
          .filter((o) => o.metadata.source === sourceId)
          .map((o) => Number(o.metadata.sequence)),
      });

      expect(outcome).toMatchObject({ message: 'chunk uploaded', outcome: 'created', bytes: 40 * MB, attempts: 1 });
      // The fault happened: the first data request was cut, or answered 503.
      const dataRequests = requestsOf(sourceId).filter((r) => r.method === 'PUT');
      expect(dataRequests[0]).toMatchObject({ status: fault.answered });
      // One session, one attempt: no retry spent, no outage pause.
      expect(sessionsOf(sourceId)).toBe(1);
      expect(
        messagesOf(sourceId).filter((m) => m === 'chunk upload failed; will retry' || m.startsWith('chunk upload gave up') || m.startsWith('storage ')),
      ).toEqual([]);
      const resent = received - 40 * MB;
      console.log(`40 MB upload, ${fault.label} after 256 KiB: the server received ${received} bytes, ${resent} sent again, in one attempt`);
      expect(resent).toBeGreaterThan(0);
      expect(resent).toBeLessThanOrEqual(fault.mostResent);
      expect(received).toBeLessThan(1.25 * 40 * MB);
      expectStoredWhole(queued);
      expect(existsSync(queued.chunk.spoolPath)).toBe(false);
    });
  }
});

describe('an attempt that stalls', () => {
  it('is abandoned after the progress timeout, and the next attempt continues the same session', async () => {
    const sourceId = 'stalled';
    // The second request of the upload stops 300 KiB in and is never answered.
    let dataRequests = 0;
    gcs.injectFault({ kind: 'stall-after-bytes', bytes: 300 * KiB, match: (_method, path) => path.includes(`${sourceId}_`) && ++dataRequests === 2 });
    const queued = await queueChunk(sourceId, 40 * MB);
    const outcome = await waitForOutcome(sourceId);
    const received = receivedFor(sourceId);
    recordFaultOutcome('40 MB upload stalled past the progress timeout', {
      recorded: [sequence],
      stored: gcs
        .objects(BUCKET)
        .filter((o) => o.metadata.source === sourceId)
        .map((o) => Number(o.metadata.sequence)),
    });

    expect(outcome).toMatchObject({ message: 'chunk uploaded', outcome: 'created', resumedSession: true });
    const stall = linesOf(sourceId).find((l) => l.message === 'storage unavailable: uploads paused, the backlog waits in the spool');
    expect(String((stall?.err as { message?: string } | undefined)?.message)).toContain(`upload made no progress for ${PROGRESS_TIMEOUT_MS} ms`);
    expect(sessionsOf(sourceId)).toBe(1);
    console.log(`40 MB upload stalled past the progress timeout: the server received ${received} bytes over two attempts and one session`);
    expect(received).toBeLessThan(1.5 * 40 * MB);
    expectStoredWhole(queued);
  });
});

describe('create-only onto an existing object', () => {
  const storage = (): Storage => new Storage({ apiEndpoint: gcs.url, projectId: 'large-test' });

  for (const size of [2 * MB, 20 * MB]) {
    const kind = size > 16 * 1024 * 1024 ? 'resumable' : 'multipart';

    it(`${kind}: the same bytes already stored are taken as done; other bytes are a conflict; the stored object is untouched`, async () => {
      // Same bytes: put the chunk there first, as an earlier attempt whose answer was lost would have.
      const same = await writeSyntheticChunk(spoolDir, `exists-same-${kind}`, ++sequence, size);
      const name = chunkObjectName(PREFIX, same.job.metadata);
      await storage()
        .bucket(BUCKET)
        .file(name)
        .save(await readFile(same.spoolPath), { resumable: false });
      const before = gcs.objects(BUCKET).find((o) => o.name === name);
      await enqueueChunk(redis.url, same, { backoffMs: 200 });
      const done = await waitForOutcome(same.job.metadata.sourceId);
      expect(done).toMatchObject({ message: 'chunk was already in the bucket', outcome: 'already-present', generation: before?.generation });
      expect(existsSync(same.spoolPath)).toBe(false);

      // Other bytes under the chunk's name: never overwritten; the chunk stays in the spool.
      const other = await writeSyntheticChunk(spoolDir, `exists-other-${kind}`, ++sequence, size);
      const otherName = chunkObjectName(PREFIX, other.job.metadata);
      const squatter = Buffer.from('someone else stored these bytes under the name');
      await storage().bucket(BUCKET).file(otherName).save(squatter, { resumable: false });
      await enqueueChunk(redis.url, other, { backoffMs: 200 });
      const refused = await waitForOutcome(other.job.metadata.sourceId);
      expect(refused.message).toBe('chunk upload gave up: the file stays in the spool and the job in the failed set');
      expect(String((refused.err as { message?: string }).message)).toContain('already exists with different content');
      expect(
        gcs
          .objects(BUCKET)
          .find((o) => o.name === otherName)
          ?.bytes.equals(squatter),
      ).toBe(true);
      // (Buffers compared with equals(): a deep toEqual of megabytes walks every index.)
      const after = gcs.objects(BUCKET).find((o) => o.name === name);
      expect([after?.generation, after?.crc32c, after?.bytes.equals(before?.bytes ?? Buffer.alloc(0))]).toEqual([before?.generation, before?.crc32c, true]);
      expect(existsSync(other.spoolPath)).toBe(true);
    });
  }
});

describe('bytes damaged on the way', () => {
  for (const [style, size] of [
    ['testbench', 20 * MB],
    ['google', 20 * MB],
    ['testbench', 2 * MB],
    ['google', 2 * MB],
  ] as const) {
    const kind = size > 16 * 1024 * 1024 ? 'resumable' : 'multipart';
    it(`${kind}, refused with ${style === 'google' ? "Cloud Storage's 400" : "the testbench's 412"}: a corrupted upload, logged as such and retried, never "already present"`, async () => {
      const sourceId = `damaged-${style}-${kind}`;
      gcs.configure({ checksumMismatch: style });
      gcs.injectFault({ kind: 'corrupt-upload', match: (_method, path) => decodeURIComponent(path).includes(`${sourceId}_`) });
      const queued = await queueChunk(sourceId, size);
      const outcome = await waitForOutcome(sourceId);
      recordFaultOutcome(`${kind} upload damaged on the way (${style === 'google' ? '400' : '412'} answer)`, {
        recorded: [sequence],
        stored: gcs
          .objects(BUCKET)
          .filter((o) => o.metadata.source === sourceId)
          .map((o) => Number(o.metadata.sequence)),
      });

      const corrupted = linesOf(sourceId).find((l) => String(l.message).startsWith('corrupted upload'));
      expect(corrupted).toMatchObject({ severity: 'ERROR', attempt: 1, err: { type: 'CorruptedUploadError' } });
      expect(String((corrupted?.err as { message?: string }).message)).toContain(
        style === 'google' ? "doesn't match calculated CRC32C" : 'crc32c validation failed',
      );
      expect(messagesOf(sourceId)).toContain('chunk upload failed; will retry');
      // Retried, and the second attempt stored the file's bytes.
      expect(outcome).toMatchObject({ message: 'chunk uploaded', outcome: 'created', attempts: 2 });
      // Never taken for "already present", and no confusing 404 anywhere in its story.
      expect(messagesOf(sourceId)).not.toContain('chunk was already in the bucket');
      expect(JSON.stringify(linesOf(sourceId))).not.toMatch(/\b404\b|No such object/);
      expectStoredWhole(queued);
    });
  }
});
