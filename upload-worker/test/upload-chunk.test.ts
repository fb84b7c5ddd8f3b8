import { describe, expect, it } from 'vitest';
import { CHUNK_CONTENT_TYPE, chunkObjectName, crc32cBase64, toObjectMetadata, type ChunkJobData } from '@crispy-streamer/shared';
import { ObjectConflictError, type ObjectStore, type PutObjectRequest, type PutObjectResult, type StoredObjectSummary } from '../src/storage/object-store.js';
import { ChunkCorruptError, SpoolFileMissingError, uploadChunk, type SpoolFiles } from '../src/upload-chunk.js';

const BYTES = Buffer.from('pretend this is an MP4 chunk');
const SPOOL_PATH = '/spool/cam0/cam0-0000000042.mp4';

function job(bytes: Buffer = BYTES): ChunkJobData {
  return {
    v: 1,
    metadata: {
      sourceId: 'cam0',
      sequence: 42,
      startTime: '2026-11-23T09:32:49.123Z',
      durationMs: 3000,
      frameCount: 90,
      frameRate: 30,
      bytes: bytes.byteLength,
      crc32c: crc32cBase64(bytes),
      container: 'mp4',
      codec: 'h264',
      width: 320,
      height: 240,
      mode: 'copy',
      clock: 'host',
      clockSync: 'synchronised',
      recordedBy: 'edge-1',
    },
  };
}

const OBJECT_NAME = 'site-a/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4';

/** A bucket in memory, create-only like the real stores. */
class FakeStore implements ObjectStore {
  readonly description = 'memory://test';
  readonly bucket = 'test';
  readonly objects = new Map<string, { bytes: Buffer; crc32c: string; generation: string }>();
  readonly puts: PutObjectRequest[] = [];
  failWith: Error | undefined;

  async put(request: PutObjectRequest): Promise<PutObjectResult> {
    this.puts.push(request);
    if (this.failWith !== undefined) throw this.failWith;
    const existing = this.objects.get(request.name);
    if (existing !== undefined) {
      if (!existing.bytes.equals(request.bytes)) throw new ObjectConflictError(request.name, 'different bytes');
      return { outcome: 'already-present', generation: existing.generation };
    }
    const generation = String(1000 + this.objects.size);
    this.objects.set(request.name, { bytes: request.bytes, crc32c: request.crc32c, generation });
    return { outcome: 'created', generation };
  }

  async head(name: string): Promise<StoredObjectSummary | undefined> {
    const found = this.objects.get(name);
    return found === undefined ? undefined : { generation: found.generation, crc32c: found.crc32c, size: found.bytes.byteLength };
  }
}

class FakeSpool implements SpoolFiles {
  readonly files = new Map<string, Buffer>();
  readonly removed: string[] = [];

  constructor(content?: Buffer) {
    if (content !== undefined) this.files.set(SPOOL_PATH, content);
  }

  async read(path: string): Promise<Buffer | undefined> {
    const bytes = this.files.get(path);
    return bytes === undefined ? undefined : Buffer.from(bytes);
  }

  async remove(path: string): Promise<void> {
    this.removed.push(path);
    this.files.delete(path);
  }
}

describe('uploadChunk', () => {
  it('stores the chunk under its object name with its metadata, then removes it from the spool', async () => {
    const store = new FakeStore();
    const spool = new FakeSpool(BYTES);

    const result = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);

    expect(result).toEqual({ objectName: OBJECT_NAME, generation: '1000', outcome: 'created', bytes: BYTES.byteLength });
    expect(OBJECT_NAME).toBe(chunkObjectName('site-a', job().metadata));
    expect(store.puts).toHaveLength(1);
    expect(store.puts[0]).toEqual({
      name: OBJECT_NAME,
      bytes: BYTES,
      contentType: CHUNK_CONTENT_TYPE,
      metadata: toObjectMetadata(job().metadata),
      crc32c: crc32cBase64(BYTES),
    });
    expect(spool.removed).toEqual([SPOOL_PATH]);
  });

  it("stores the chunk's evidence entries beside its metadata, as the recorder made them", async () => {
    const store = new FakeStore();
    const evidence = { evidenceRecord: '{"v":1}', evidenceSignature: 'sig' };
    await uploadChunk({ ...job(), evidence }, SPOOL_PATH, store, 'site-a', new FakeSpool(BYTES));
    expect(store.puts[0]?.metadata).toEqual({ ...toObjectMetadata(job().metadata), ...evidence });
  });

  it('uses the bare object name without a prefix', async () => {
    const result = await uploadChunk(job(), SPOOL_PATH, new FakeStore(), '', new FakeSpool(BYTES));
    expect(result.objectName).toBe('cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4');
  });

  it('treats an object already stored with the same bytes as done, and removes the spool file', async () => {
    const store = new FakeStore();
    await uploadChunk(job(), SPOOL_PATH, store, 'site-a', new FakeSpool(BYTES));
    const spool = new FakeSpool(BYTES);

    const result = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);

    expect(result).toEqual({ objectName: OBJECT_NAME, generation: '1000', outcome: 'already-present', bytes: BYTES.byteLength });
    expect(spool.removed).toEqual([SPOOL_PATH]);
  });

  it('treats a missing spool file as done when the bucket holds the object with the same CRC32C and size', async () => {
    const store = new FakeStore();
    await uploadChunk(job(), SPOOL_PATH, store, 'site-a', new FakeSpool(BYTES));
    store.puts.length = 0;

    const result = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', new FakeSpool());

    expect(result).toEqual({ objectName: OBJECT_NAME, generation: '1000', outcome: 'already-present', bytes: BYTES.byteLength });
    expect(store.puts).toEqual([]);
  });

  // Regression, fixed: when the spool file is gone but the bucket holds the object (a retry after the first
  // attempt removed the chunk but died before removing its job data), the job data stays in the
  // spool for ever: upload-worker/src/upload-chunk.ts:63-68 returns without files.remove(). The
  // stream-handle then counts that orphan sidecar as a pending chunk (SpoolGuard drop-oldest logs it
  // as DROPPED before upload). Fix: call files.remove(spoolPath) there too (it tolerates ENOENT).
  it('removes leftover job data when the spool file is gone but the object is stored', async () => {
    const store = new FakeStore();
    await uploadChunk(job(), SPOOL_PATH, store, 'site-a', new FakeSpool(BYTES));
    const spool = new FakeSpool();
    await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);
    expect(spool.removed).toEqual([SPOOL_PATH]);
  });

  it('fails with SpoolFileMissingError, saying to share the spool, when neither file nor object exists', async () => {
    const store = new FakeStore();
    const error = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', new FakeSpool()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpoolFileMissingError);
    expect((error as SpoolFileMissingError).spoolPath).toBe(SPOOL_PATH);
    expect((error as Error).message).toBe(
      `chunk file ${SPOOL_PATH} is not visible to this worker: mount the recorder's spool volume at the same path. ` +
        'The chunk stays recoverable on the recorder; retry the job once the spool is shared.',
    );
    expect(store.puts).toEqual([]);
  });

  it('fails with SpoolFileMissingError when the stored object has other bytes', async () => {
    const store = new FakeStore();
    const other = Buffer.from('pretend this is an MP4 chunK');
    store.objects.set(OBJECT_NAME, { bytes: other, crc32c: crc32cBase64(other), generation: '7' });
    await expect(uploadChunk(job(), SPOOL_PATH, store, 'site-a', new FakeSpool())).rejects.toBeInstanceOf(SpoolFileMissingError);
  });

  it('refuses a file whose size differs from the recorded size: nothing uploaded, nothing removed', async () => {
    const store = new FakeStore();
    const spool = new FakeSpool(Buffer.concat([BYTES, Buffer.from('!')]));
    const error = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChunkCorruptError);
    expect((error as Error).message).toBe(
      `chunk file ${SPOOL_PATH} no longer matches what was recorded (${BYTES.byteLength + 1} bytes, recorded ${BYTES.byteLength}): not uploaded, left on disk`,
    );
    expect(store.puts).toEqual([]);
    expect(spool.removed).toEqual([]);
  });

  it('refuses a file whose CRC32C differs from the recorded one: nothing uploaded, nothing removed', async () => {
    const store = new FakeStore();
    const flipped = Buffer.from(BYTES);
    flipped[3] = (flipped[3] ?? 0) ^ 0x01;
    const spool = new FakeSpool(flipped);
    const error = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChunkCorruptError);
    expect((error as Error).name).toBe('ChunkCorruptError');
    expect((error as Error).message).toBe(
      `chunk file ${SPOOL_PATH} no longer matches what was recorded (crc32c ${crc32cBase64(flipped)}, recorded ${crc32cBase64(BYTES)}): not uploaded, left on disk`,
    );
    expect(store.puts).toEqual([]);
    expect(spool.removed).toEqual([]);
  });

  it('keeps the spool file when the store fails', async () => {
    const store = new FakeStore();
    store.failWith = new Error('503 Service Unavailable');
    const spool = new FakeSpool(BYTES);
    await expect(uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool)).rejects.toThrow('503 Service Unavailable');
    expect(spool.removed).toEqual([]);
    expect(spool.files.has(SPOOL_PATH)).toBe(true);
  });

  it('keeps the spool file when the bucket holds other bytes under the name', async () => {
    const store = new FakeStore();
    const other = Buffer.from('x'.repeat(BYTES.byteLength));
    store.objects.set(OBJECT_NAME, { bytes: other, crc32c: crc32cBase64(other), generation: '7' });
    const spool = new FakeSpool(BYTES);
    await expect(uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool)).rejects.toBeInstanceOf(ObjectConflictError);
    expect(spool.removed).toEqual([]);
  });
});
