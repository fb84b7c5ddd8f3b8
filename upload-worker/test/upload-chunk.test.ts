import { describe, expect, it } from 'vitest';
import { CHUNK_CONTENT_TYPE, chunkObjectName, crc32cBase64, toObjectMetadata, type ChunkJobData } from '@crispy-streamer/shared';
import {
  ObjectConflictError,
  SourceMismatchError,
  type ObjectStore,
  type PutObjectRequest,
  type PutObjectResult,
  type PutOptions,
  type StoredObjectSummary,
} from '../src/storage/object-store.js';
import { ChunkCorruptError, SpoolFileMissingError, uploadChunk, type SpoolFiles } from '../src/upload-chunk.js';
import { chunkMetadataOf } from '@crispy-streamer/harness/chunk-fixtures';

const BYTES = Buffer.from('pretend this is an MP4 chunk');
const SPOOL_PATH = '/spool/cam0/cam0-0000000042.mp4';

function job(bytes: Buffer = BYTES): ChunkJobData {
  return {
    v: 1,
    metadata: chunkMetadataOf(bytes, { width: 320, height: 240 }),
  };
}

const OBJECT_NAME = 'site-a/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4';

/** The spool's files, shared by the fake spool and the fake store, which reads them as the real stores do. */
type Disk = Map<string, Buffer>;

/** A bucket in memory, create-only and checking the file against the request, like the real stores. */
class FakeStore implements ObjectStore {
  readonly description = 'memory://test';
  readonly bucket = 'test';
  readonly objects = new Map<string, { bytes: Buffer; crc32c: string; generation: string }>();
  readonly puts: PutObjectRequest[] = [];
  readonly options: (PutOptions | undefined)[] = [];
  failWith: Error | undefined;

  constructor(private readonly disk: Disk) {}

  async put(request: PutObjectRequest, options?: PutOptions): Promise<PutObjectResult> {
    this.puts.push(request);
    this.options.push(options);
    if (this.failWith !== undefined) throw this.failWith;
    const bytes = this.disk.get(request.source.path) ?? Buffer.alloc(0);
    if (crc32cBase64(bytes) !== request.source.crc32c) {
      throw new SourceMismatchError(request.source.path, `crc32c ${crc32cBase64(bytes)}, recorded ${request.source.crc32c}`);
    }
    const existing = this.objects.get(request.name);
    if (existing !== undefined) {
      if (!existing.bytes.equals(bytes)) throw new ObjectConflictError(request.name, 'different bytes');
      return { outcome: 'already-present', generation: existing.generation };
    }
    const generation = String(1000 + this.objects.size);
    this.objects.set(request.name, { bytes, crc32c: request.source.crc32c, generation });
    return { outcome: 'created', generation };
  }

  async head(name: string): Promise<StoredObjectSummary | undefined> {
    const found = this.objects.get(name);
    return found === undefined ? undefined : { generation: found.generation, crc32c: found.crc32c, size: found.bytes.byteLength };
  }
}

class FakeSpool implements SpoolFiles {
  readonly removed: string[] = [];

  constructor(readonly disk: Disk = new Map()) {}

  withChunk(content: Buffer): this {
    this.disk.set(SPOOL_PATH, content);
    return this;
  }

  async size(path: string): Promise<number | undefined> {
    return this.disk.get(path)?.byteLength;
  }

  async remove(path: string): Promise<void> {
    this.removed.push(path);
    this.disk.delete(path);
  }
}

/** A spool holding `content` as the chunk, and a store reading from it. */
function setup(content?: Buffer): { spool: FakeSpool; store: FakeStore } {
  const spool = new FakeSpool();
  if (content !== undefined) spool.withChunk(content);
  return { spool, store: new FakeStore(spool.disk) };
}

describe('uploadChunk', () => {
  it('hands the store the file by path with its recorded size and CRC32C, then removes it from the spool', async () => {
    const { store, spool } = setup(BYTES);
    const onProgress = () => undefined;
    const signal = new AbortController().signal;

    const result = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool, { signal, onProgress });

    expect(result).toEqual({ objectName: OBJECT_NAME, generation: '1000', outcome: 'created', bytes: BYTES.byteLength });
    expect(OBJECT_NAME).toBe(chunkObjectName('site-a', job().metadata));
    expect(store.puts).toEqual([
      {
        name: OBJECT_NAME,
        source: { path: SPOOL_PATH, size: BYTES.byteLength, crc32c: crc32cBase64(BYTES) },
        contentType: CHUNK_CONTENT_TYPE,
        metadata: toObjectMetadata(job().metadata),
      },
    ]);
    // The attempt's abort signal and progress callback reach the store.
    expect(store.options).toEqual([{ signal, onProgress }]);
    expect(spool.removed).toEqual([SPOOL_PATH]);
  });

  it("stores the chunk's evidence entries beside its metadata, as the recorder made them", async () => {
    const { store, spool } = setup(BYTES);
    const evidence = { evidenceRecord: '{"v":1}', evidenceSignature: 'sig' };
    await uploadChunk({ ...job(), evidence }, SPOOL_PATH, store, 'site-a', spool);
    expect(store.puts[0]?.metadata).toEqual({ ...toObjectMetadata(job().metadata), ...evidence });
  });

  it('uses the bare object name without a prefix', async () => {
    const { store, spool } = setup(BYTES);
    const result = await uploadChunk(job(), SPOOL_PATH, store, '', spool);
    expect(result.objectName).toBe('cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4');
  });

  it('says when the upload continued the session of an earlier attempt', async () => {
    const { store, spool } = setup(BYTES);
    store.put = async () => ({ outcome: 'created', generation: '5', resumedSession: true });
    expect(await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool)).toEqual({
      objectName: OBJECT_NAME,
      generation: '5',
      outcome: 'created',
      bytes: BYTES.byteLength,
      resumedSession: true,
    });
  });

  it('treats an object already stored with the same bytes as done, and removes the spool file', async () => {
    const { store, spool } = setup(BYTES);
    await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);
    spool.withChunk(BYTES);
    spool.removed.length = 0;

    const result = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);

    expect(result).toEqual({ objectName: OBJECT_NAME, generation: '1000', outcome: 'already-present', bytes: BYTES.byteLength });
    expect(spool.removed).toEqual([SPOOL_PATH]);
  });

  it('treats a missing spool file as done when the bucket holds the object with the same CRC32C and size', async () => {
    const { store, spool } = setup(BYTES);
    await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);
    store.puts.length = 0;

    const result = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);

    expect(result).toEqual({ objectName: OBJECT_NAME, generation: '1000', outcome: 'already-present', bytes: BYTES.byteLength });
    expect(store.puts).toEqual([]);
  });

  // Regression, fixed: when the spool file is gone but the bucket holds the object (a retry after the first
  // attempt removed the chunk but died before removing its job data), the job data stays in the
  // spool for ever: upload-worker/src/upload-chunk.ts:63-68 returns without files.remove(). The
  // stream-handle then counts that orphan sidecar as a pending chunk (SpoolGuard drop-oldest logs it
  // as DROPPED before upload). Fix: call files.remove(spoolPath) there too (it tolerates ENOENT).
  it('removes leftover job data when the spool file is gone but the object is stored', async () => {
    const { store, spool } = setup(BYTES);
    await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);
    spool.removed.length = 0;
    await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool);
    expect(spool.removed).toEqual([SPOOL_PATH]);
  });

  it('fails with SpoolFileMissingError, saying to share the spool, when neither file nor object exists', async () => {
    const { store, spool } = setup();
    const error = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpoolFileMissingError);
    expect((error as SpoolFileMissingError).spoolPath).toBe(SPOOL_PATH);
    expect((error as Error).message).toBe(
      `chunk file ${SPOOL_PATH} is not visible to this worker: mount the recorder's spool volume at the same path. ` +
        'The chunk stays recoverable on the recorder; retry the job once the spool is shared.',
    );
    expect(store.puts).toEqual([]);
  });

  it('fails with SpoolFileMissingError when the stored object has other bytes', async () => {
    const { store, spool } = setup();
    const other = Buffer.from('pretend this is an MP4 chunK');
    store.objects.set(OBJECT_NAME, { bytes: other, crc32c: crc32cBase64(other), generation: '7' });
    await expect(uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool)).rejects.toBeInstanceOf(SpoolFileMissingError);
  });

  it('refuses a file whose size differs from the recorded size before sending anything: nothing uploaded, nothing removed', async () => {
    const { store, spool } = setup(Buffer.concat([BYTES, Buffer.from('!')]));
    const error = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChunkCorruptError);
    expect((error as Error).message).toBe(
      `chunk file ${SPOOL_PATH} no longer matches what was recorded (${BYTES.byteLength + 1} bytes, recorded ${BYTES.byteLength}): not uploaded, left on disk`,
    );
    expect(store.puts).toEqual([]);
    expect(spool.removed).toEqual([]);
  });

  it('turns the store finding the file unlike its CRC32C into ChunkCorruptError: nothing stored, nothing removed', async () => {
    const flipped = Buffer.from(BYTES);
    flipped[3] = (flipped[3] ?? 0) ^ 0x01;
    const { store, spool } = setup(flipped);
    const error = await uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChunkCorruptError);
    expect((error as Error).name).toBe('ChunkCorruptError');
    expect((error as Error).message).toBe(
      `chunk file ${SPOOL_PATH} no longer matches what was recorded (crc32c ${crc32cBase64(flipped)}, recorded ${crc32cBase64(BYTES)}): not uploaded, left on disk`,
    );
    expect(store.objects.size).toBe(0);
    expect(spool.removed).toEqual([]);
  });

  it('keeps the spool file when the store fails', async () => {
    const { store, spool } = setup(BYTES);
    store.failWith = new Error('503 Service Unavailable');
    await expect(uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool)).rejects.toThrow('503 Service Unavailable');
    expect(spool.removed).toEqual([]);
    expect(spool.disk.has(SPOOL_PATH)).toBe(true);
  });

  it('keeps the spool file when the bucket holds other bytes under the name', async () => {
    const { store, spool } = setup(BYTES);
    const other = Buffer.from('x'.repeat(BYTES.byteLength));
    store.objects.set(OBJECT_NAME, { bytes: other, crc32c: crc32cBase64(other), generation: '7' });
    await expect(uploadChunk(job(), SPOOL_PATH, store, 'site-a', spool)).rejects.toBeInstanceOf(ObjectConflictError);
    expect(spool.removed).toEqual([]);
  });
});
