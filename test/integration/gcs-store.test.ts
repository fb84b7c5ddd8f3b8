import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crc32cBase64 } from '@crispy-streamer/shared';
import { withProgressTimeout, UploadStalledError } from '../../upload-worker/src/progress-watchdog.js';
import { createGcsStore, RESUMABLE_CHUNK_BYTES, RESUMABLE_THRESHOLD_BYTES } from '../../upload-worker/src/storage/gcs-store.js';
import {
  CorruptedUploadError,
  ObjectConflictError,
  SourceMismatchError,
  type ObjectStore,
  type PutObjectRequest,
} from '../../upload-worker/src/storage/object-store.js';
import { memoryUploadSessions, sessionRedisKey } from '../../upload-worker/src/storage/upload-sessions.js';
import { startGcsTestServer, type GcsTestServer, type RequestRecord } from '@crispy-streamer/harness/gcs-test-server';

// The gs:// store with the real @google-cloud/storage client against our test server, which answers
// like Google's testbench (resumable semantics, preconditions at finalisation, checksum answers).

process.env['METADATA_SERVER_DETECTION'] = 'none';

const BUCKET = 'store-bucket';
const KiB = 1024;
const MiB = 1024 * KiB;
const LARGE = RESUMABLE_THRESHOLD_BYTES + 4 * MiB + 12_345; // resumable, three requests of at most 8 MiB

let server: GcsTestServer;
let dir: string;
let files = 0;

beforeAll(async () => {
  server = await startGcsTestServer();
  dir = await mkdtemp(join(tmpdir(), 'gcs-store-'));
});
afterEach(() => {
  server.clearFaults();
  server.configure({ checksumMismatch: 'google' });
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function chunkFile(bytes: Buffer, name: string, crc32c = crc32cBase64(bytes)): Promise<PutObjectRequest> {
  const path = join(dir, `chunk-${++files}.mp4`);
  await writeFile(path, bytes);
  return { name, source: { path, size: bytes.byteLength, crc32c }, contentType: 'video/mp4', metadata: { source: 'cam-store', sequence: String(files) } };
}

function storeWith(sessions = memoryUploadSessions(), endpoint = server.url): { store: ObjectStore; sessions: ReturnType<typeof memoryUploadSessions> } {
  return { store: createGcsStore({ bucket: BUCKET, projectId: 'store-test', apiEndpoint: endpoint, sessions }), sessions };
}

const mark = (): number => server.requests.length;
const since = (from: number): RequestRecord[] => server.requests.slice(from);
const forObject = (records: RequestRecord[], name: string): RequestRecord[] => records.filter((r) => decodeURIComponent(r.path).includes(name));
const sessionsStarted = (records: RequestRecord[]): number => records.filter((r) => r.method === 'POST' && r.path.includes('uploadType=resumable')).length;
const received = (records: RequestRecord[]): number => records.reduce((sum, r) => sum + r.bytes, 0);
const stored = (name: string) => server.objects(BUCKET).find((o) => o.name === name);

describe('gs:// store, small chunks: one multipart request', () => {
  it('stores a chunk create-only with its declared CRC32C', async () => {
    const bytes = randomBytes(300 * KiB);
    const request = await chunkFile(bytes, 'small/created.mp4');
    const from = mark();
    const result = await storeWith().store.put(request);
    expect(result).toEqual({ outcome: 'created', generation: stored('small/created.mp4')?.generation });
    expect(since(from).map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200']);
    expect(since(from)[0]?.path).toContain('ifGenerationMatch=0');
    expect(stored('small/created.mp4')?.bytes.equals(bytes)).toBe(true);
  });

  it('refuses a file that is not what was recorded, before sending a byte', async () => {
    const bytes = randomBytes(100 * KiB);
    const request = await chunkFile(bytes, 'small/corrupt-on-disk.mp4', crc32cBase64(Buffer.from('the recorded bytes')));
    const from = mark();
    await expect(storeWith().store.put(request)).rejects.toBeInstanceOf(SourceMismatchError);
    expect(since(from)).toEqual([]);
  });
});

describe('gs:// store, large chunks: a resumable session streamed from the file', () => {
  it('states the total size and streams in 8 MiB requests', async () => {
    const bytes = randomBytes(LARGE);
    const request = await chunkFile(bytes, 'large/plain.mp4');
    const { store, sessions } = storeWith();
    const from = mark();
    const result = await store.put(request);
    expect(result.outcome).toBe('created');
    const log = since(from);
    expect(log.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'PUT 308', 'PUT 308', 'PUT 200']);
    expect(log.slice(1).map((r) => r.bytes)).toEqual([RESUMABLE_CHUNK_BYTES, RESUMABLE_CHUNK_BYTES, LARGE - 2 * RESUMABLE_CHUNK_BYTES]);
    expect(stored('large/plain.mp4')?.bytes.equals(bytes)).toBe(true);
    expect(stored('large/plain.mp4')?.crc32c).toBe(request.source.crc32c);
    // Done: no session left waiting.
    expect(sessions.records.size).toBe(0);
  });

  for (const fault of [
    { kind: 'drop-after-bytes', bytes: 256 * KiB, what: 'a connection cut' },
    { kind: 'status-after-bytes', status: 503, bytes: 256 * KiB, what: 'a 503' },
  ] as const) {
    it(`resumes after ${fault.what} 256 KiB into the upload, in the same call, resending at most one request's worth`, async () => {
      const bytes = randomBytes(LARGE);
      const request = await chunkFile(bytes, `large/resumed-${fault.kind}.mp4`);
      const { store } = storeWith();
      server.injectFault(fault);
      const from = mark();
      await store.put(request);
      const log = forObject(since(from), request.name);
      // The fault happened: the first data request got no answer, or the 503.
      expect(log[1]).toMatchObject({ method: 'PUT', status: fault.kind === 'drop-after-bytes' ? 0 : 503 });
      expect(sessionsStarted(log)).toBe(1);
      expect(received(log)).toBeLessThan(LARGE + RESUMABLE_CHUNK_BYTES);
      expect(stored(request.name)?.bytes.equals(bytes)).toBe(true);
    });
  }

  it('a stalled attempt keeps its session; the next attempt continues it from what the bucket holds', async () => {
    const bytes = randomBytes(LARGE);
    const request = await chunkFile(bytes, 'large/stalled.mp4');
    const { store, sessions } = storeWith();
    // The second request stalls 300 KiB in: the session then holds 8 MiB + 256 KiB.
    let dataRequests = 0;
    server.injectFault({ kind: 'stall-after-bytes', bytes: 300 * KiB, match: (_method, path) => path.includes('stalled.mp4') && ++dataRequests === 2 });
    const from = mark();
    const first = await withProgressTimeout(
      ({ signal, progress }) => store.put(request, { signal, onProgress: progress }),
      1500,
      () => 'stalled',
    ).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(UploadStalledError);
    expect(sessions.records.has(sessionRedisKey({ bucket: BUCKET, object: request.name }))).toBe(true);

    const second = await store.put(request);
    expect(second).toMatchObject({ outcome: 'created', resumedSession: true });
    const log = forObject(since(from), request.name);
    expect(sessionsStarted(log)).toBe(1);
    // The second attempt sent only what the session lacked: 8 MiB + 256 KiB were kept.
    const secondAttempt = log.slice(log.findIndex((r) => r.status === 0) + 1);
    expect(received(secondAttempt)).toBe(LARGE - RESUMABLE_CHUNK_BYTES - 256 * KiB);
    expect(received(log)).toBeLessThan(LARGE * 1.5);
    expect(stored(request.name)?.bytes.equals(bytes)).toBe(true);
    expect(sessions.records.size).toBe(0);
  });

  it('a session the bucket no longer knows (expired) starts a new one', async () => {
    const bytes = randomBytes(LARGE);
    const request = await chunkFile(bytes, 'large/expired-session.mp4');
    const { store, sessions } = storeWith();
    const key = { bucket: BUCKET, object: request.name, size: request.source.size, crc32c: request.source.crc32c };
    await sessions.save(key, `${server.url}/upload/storage/v1/b/${BUCKET}/o?uploadType=resumable&name=x&upload_id=expired-long-ago`);
    const from = mark();
    const result = await store.put(request);
    expect(result).toMatchObject({ outcome: 'created' });
    const log = since(from);
    expect(log[0]).toMatchObject({ method: 'PUT', status: 404 }); // the status query on the old session
    expect(sessionsStarted(log)).toBe(1);
    expect(stored(request.name)?.bytes.equals(bytes)).toBe(true);
  });

  it('a session that had finished while its answer was lost: one request, and the object is taken as created', async () => {
    const bytes = randomBytes(LARGE);
    const request = await chunkFile(bytes, 'large/answer-lost.mp4');
    const { store, sessions } = storeWith();
    let uri = '';
    const save = sessions.save.bind(sessions);
    sessions.save = async (key, created) => {
      uri = created;
      await save(key, created);
    };
    await store.put(request);
    // As if the worker died after the bucket finished the upload but before it cleared the session.
    await save({ bucket: BUCKET, object: request.name, size: request.source.size, crc32c: request.source.crc32c }, uri);
    const from = mark();
    const again = await store.put(request);
    expect(again).toMatchObject({ outcome: 'created', generation: stored(request.name)?.generation, resumedSession: true });
    const log = since(from);
    expect(log.map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 200', 'PUT 200']); // status query, then one request
    expect(received(log)).toBeLessThanOrEqual(RESUMABLE_CHUNK_BYTES);
  });

  it('works with the bucket addressed by host name (localhost)', async () => {
    const bytes = randomBytes(LARGE);
    const request = await chunkFile(bytes, 'large/by-host-name.mp4');
    server.injectFault({ kind: 'drop-after-bytes', bytes: 256 * KiB });
    await storeWith(undefined, server.localhostUrl).store.put(request);
    expect(stored(request.name)?.bytes.equals(bytes)).toBe(true);
  });
});

describe('gs:// store: refusals mean what the bucket holds, not what the status says', () => {
  for (const size of [200 * KiB, LARGE]) {
    const kind = size > RESUMABLE_THRESHOLD_BYTES ? 'resumable' : 'multipart';

    it(`${kind}: create-only onto the same bytes is already-present; onto other bytes a conflict; the stored object is untouched`, async () => {
      const bytes = randomBytes(size);
      const name = `refusals/${kind}-exists.mp4`;
      const { store } = storeWith();
      const first = await store.put(await chunkFile(bytes, name));
      const from = mark();
      expect(await store.put(await chunkFile(bytes, name))).toEqual({ outcome: 'already-present', generation: first.generation });
      // Refused with 412 (for a resumable upload when it finishes, as the testbench does), then looked up.
      expect(
        since(from)
          .map((r) => `${r.method} ${r.status}`)
          .filter((r) => r.endsWith('412')),
      ).toHaveLength(1);

      const other = randomBytes(size);
      const error = await store.put(await chunkFile(other, name)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ObjectConflictError);
      expect(stored(name)?.bytes.equals(bytes)).toBe(true);
      expect(stored(name)?.generation).toBe(first.generation);
    });

    for (const style of ['google', 'testbench'] as const) {
      it(`${kind}: bytes damaged on the way, refused with ${style === 'google' ? "Cloud Storage's 400" : "the testbench's 412"}, are a corrupted upload, and the next upload stores them`, async () => {
        const bytes = randomBytes(size);
        const name = `refusals/${kind}-damaged-${style}.mp4`;
        const { store, sessions } = storeWith();
        server.configure({ checksumMismatch: style });
        server.injectFault({ kind: 'corrupt-upload' });
        const error = await store.put(await chunkFile(bytes, name)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CorruptedUploadError);
        expect((error as CorruptedUploadError).status).toBe(style === 'google' ? 400 : 412);
        expect((error as Error).message).toMatch(/^corrupted upload of refusals\//);
        expect((error as Error).message).toContain(style === 'google' ? "doesn't match calculated CRC32C" : 'crc32c validation failed');
        expect(stored(name)).toBeUndefined();
        expect(sessions.records.size).toBe(0); // a refused session cannot finish: the next upload starts anew
        expect(await store.put(await chunkFile(bytes, name))).toMatchObject({ outcome: 'created' });
        expect(stored(name)?.bytes.equals(bytes)).toBe(true);
      });
    }
  }

  it("resumable: a file unlike its record, refused by the bucket, is the file's fault (SourceMismatchError), not a corrupted upload", async () => {
    const bytes = randomBytes(LARGE);
    const request = await chunkFile(bytes, 'refusals/changed-on-disk.mp4', crc32cBase64(Buffer.from('what was recorded')));
    const error = await storeWith()
      .store.put(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceMismatchError);
    expect((error as SourceMismatchError).detail).toBe(`crc32c ${crc32cBase64(bytes)}, recorded ${request.source.crc32c}`);
    expect(stored(request.name)).toBeUndefined();
  });
});
