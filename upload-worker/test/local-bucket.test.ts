import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32cBase64, type StorageObjectResource } from '@crispy-streamer/shared';
import type { FinalizeNotifier } from '../src/storage/finalize-notifier.js';
import { createLocalBucket, type LocalBucket } from '../src/storage/local-bucket.js';
import { ObjectConflictError, SourceMismatchError, type PutObjectRequest } from '../src/storage/object-store.js';

const NAME = 'cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4';
const BYTES = Buffer.from('pretend this is an MP4 chunk');

let dir = '';
let spoolDir = '';
let spoolFiles = 0;
let notified: StorageObjectResource[];
let bucket: LocalBucket;

const notifier: FinalizeNotifier = {
  async notify(object) {
    notified.push(object);
  },
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-bucket-'));
  spoolDir = await mkdtemp(join(tmpdir(), 'local-bucket-spool-'));
  notified = [];
  bucket = createLocalBucket(join(dir, 'bucket'), 'bucket', notifier);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(spoolDir, { recursive: true, force: true });
});

/** Writes `bytes` as a chunk file in the spool and asks to store it; `in` puts it elsewhere (another file system). */
async function request(bytes: Buffer = BYTES, name = NAME, options: { in?: string } = {}): Promise<PutObjectRequest> {
  const path = join(options.in ?? spoolDir, `chunk-${++spoolFiles}.mp4`);
  await writeFile(path, bytes);
  return {
    name,
    source: { path, size: bytes.byteLength, crc32c: crc32cBase64(bytes) },
    contentType: 'video/mp4',
    metadata: { source: 'cam0', sequence: '42' },
  };
}

const objectPath = (name = NAME): string => join(dir, 'bucket', name);
const readMeta = async (name = NAME): Promise<StorageObjectResource> =>
  JSON.parse(await readFile(`${objectPath(name)}.meta.json`, 'utf8')) as StorageObjectResource;

describe('createLocalBucket', () => {
  it('describes itself as a file:// URL of its folder', () => {
    expect(bucket.description).toBe(`file://${join(dir, 'bucket')}`);
    expect(bucket.bucket).toBe('bucket');
    expect(bucket.dir).toBe(join(dir, 'bucket'));
  });

  it('stores the bytes and a resource with generation, CRC32C, MD5, size and metadata', async () => {
    const result = await bucket.put(await request());

    expect(result.outcome).toBe('created');
    expect(result.generation).toMatch(/^\d{16,}$/);
    expect(await readFile(objectPath())).toEqual(BYTES);
    const meta = await readMeta();
    expect(meta).toEqual({
      kind: 'storage#object',
      id: `bucket/${NAME}/${result.generation}`,
      name: NAME,
      bucket: 'bucket',
      generation: result.generation,
      metageneration: '1',
      contentType: 'video/mp4',
      size: String(BYTES.byteLength),
      crc32c: crc32cBase64(BYTES),
      md5Hash: createHash('md5').update(BYTES).digest('base64'),
      metadata: { source: 'cam0', sequence: '42' },
      timeCreated: meta.timeCreated,
      updated: meta.timeCreated,
      storageClass: 'STANDARD',
    });
    expect(new Date(meta.timeCreated).toISOString()).toBe(meta.timeCreated);
    expect(await readdir(join(dir, 'bucket', '.tmp'))).toEqual([]);
  });

  it('answers head and read for a stored object, and undefined for an absent one', async () => {
    const { generation } = await bucket.put(await request());
    expect(await bucket.head(NAME)).toEqual({ generation, crc32c: crc32cBase64(BYTES), size: BYTES.byteLength });
    expect((await bucket.read(NAME))?.path).toBe(objectPath());
    expect(await bucket.head('cam0/absent.mp4')).toBeUndefined();
    expect(await bucket.read('../outside')).toBeUndefined();
  });

  it('answers a second put of the same bytes with already-present and the same generation', async () => {
    const first = await bucket.put(await request());
    const metaBefore = await readMeta();
    const second = await bucket.put(await request());
    expect(second).toEqual({ outcome: 'already-present', generation: first.generation });
    expect(await readMeta()).toEqual(metaBefore);
  });

  it('gives each new object its own generation', async () => {
    const a = await bucket.put(await request(BYTES, 'a.mp4'));
    const b = await bucket.put(await request(BYTES, 'b.mp4'));
    expect(a.generation).not.toBe(b.generation);
  });

  it('refuses other bytes under an existing name and keeps the original', async () => {
    await bucket.put(await request());
    const metaBefore = await readMeta();
    const other = Buffer.from('a different chunk entirely!!');
    const error = await bucket.put(await request(other)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectConflictError);
    expect((error as Error).message).toBe(
      `object ${NAME} already exists with different content (stored crc32c ${crc32cBase64(BYTES)}, size ${BYTES.byteLength}); left untouched`,
    );
    expect(await readFile(objectPath())).toEqual(BYTES);
    expect(await readMeta()).toEqual(metaBefore);
    expect(notified).toHaveLength(1);
  });

  it('refuses a file that does not match its recorded CRC32C or size, storing nothing and leaving the file alone', async () => {
    const asked = await request();
    const wrongCrc = crc32cBase64(Buffer.from('other'));
    const error = await bucket.put({ ...asked, source: { ...asked.source, crc32c: wrongCrc } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceMismatchError);
    expect((error as SourceMismatchError).detail).toBe(`crc32c ${crc32cBase64(BYTES)}, recorded ${wrongCrc}`);
    await expect(bucket.put({ ...asked, source: { ...asked.source, size: BYTES.byteLength + 1 } })).rejects.toThrow(
      `${asked.source.path} does not match what it should hold (${BYTES.byteLength} bytes, recorded ${BYTES.byteLength + 1}): not stored`,
    );
    expect(await bucket.head(NAME)).toBeUndefined();
    expect(notified).toEqual([]);
    expect(await readFile(asked.source.path)).toEqual(BYTES);
    expect(await readdir(join(dir, 'bucket', '.tmp'))).toEqual([]);
  });

  it('links a spool file on the same file system into place: no copy, the object is the same inode', async () => {
    const asked = await request();
    await bucket.put(asked);
    expect((await stat(objectPath())).ino).toBe((await stat(asked.source.path)).ino);
    expect(await readFile(objectPath())).toEqual(BYTES);
  });

  const otherFileSystem = '/dev/shm';
  const canCrossDevices = existsSync(otherFileSystem);
  it.skipIf(!canCrossDevices)('copies a spool file from another file system, checking it in the same read', async () => {
    const elsewhere = await mkdtemp(join(otherFileSystem, 'local-bucket-spool-'));
    try {
      const asked = await request(BYTES, NAME, { in: elsewhere });
      expect((await stat(asked.source.path)).dev).not.toBe((await stat(dir)).dev);
      const result = await bucket.put(asked);
      expect(result.outcome).toBe('created');
      expect(await readFile(objectPath())).toEqual(BYTES);
      expect((await stat(objectPath())).ino).not.toBe((await stat(asked.source.path)).ino);
      expect((await readMeta()).md5Hash).toBe(createHash('md5').update(BYTES).digest('base64'));
      const corrupt = await request(Buffer.from('not the recorded bytes at all'), 'cam0/other.mp4', { in: elsewhere });
      await expect(bucket.put({ ...corrupt, source: { ...corrupt.source, crc32c: crc32cBase64(BYTES) } })).rejects.toBeInstanceOf(SourceMismatchError);
      expect(await bucket.head('cam0/other.mp4')).toBeUndefined();
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it.each(['../escape.mp4', 'a/../../escape.mp4', '/abs.mp4/..', 'x.mp4.meta.json', '.tmp/x.mp4', ''])('refuses the object name %j', async (name) => {
    await expect(bucket.put(await request(BYTES, name))).rejects.toThrow(`object name "${name}" is not allowed in the local bucket`);
    // Nothing was written anywhere, not even the bucket folder.
    expect(await readdir(dir)).toEqual([]);
    expect(notified).toEqual([]);
  });

  // Regression, fixed: a name with '..' that stays inside the folder is accepted and aliases another object:
  // 'a/../b.mp4' is stored at b.mp4 (upload-worker/src/storage/local-bucket.ts:38-44, objectPath, checks only that
  // the resolved path stays under the root). Cloud Storage treats both as distinct names.
  it("refuses any name with a '..' segment, even one that stays inside the bucket", async () => {
    await expect(bucket.put(await request(BYTES, 'cam0/../b.mp4'))).rejects.toThrow('is not allowed in the local bucket');
  });

  it('tells the notifier once per put, also when the object was already present', async () => {
    await bucket.put(await request());
    await bucket.put(await request());
    expect(notified).toHaveLength(2);
    expect(notified[0]).toEqual(await readMeta());
    expect(notified[1]).toEqual(notified[0]);
  });

  it('fails the put when the notifier fails, but keeps the object, and a retry notifies again', async () => {
    let attempts = 0;
    const flaky = createLocalBucket(join(dir, 'flaky'), 'flaky', {
      async notify() {
        attempts++;
        if (attempts === 1) throw new Error('notification for x not accepted by http://127.0.0.1:1/: fetch failed');
      },
    });
    await expect(flaky.put(await request())).rejects.toThrow('notification for x not accepted by http://127.0.0.1:1/: fetch failed');
    const stored = await flaky.head(NAME);
    expect(stored).toEqual({ generation: expect.stringMatching(/^\d+$/), crc32c: crc32cBase64(BYTES), size: BYTES.byteLength });
    expect(await readFile(join(dir, 'flaky', NAME))).toEqual(BYTES);

    expect(await flaky.put(await request())).toEqual({ outcome: 'already-present', generation: stored?.generation });
    expect(attempts).toBe(2);
  });

  it('finishes an earlier put that linked the bytes but died before writing the resource', async () => {
    await mkdir(dirname(objectPath()), { recursive: true });
    await writeFile(objectPath(), BYTES);
    expect(await bucket.head(NAME)).toBeUndefined();

    const result = await bucket.put(await request());

    expect(result.outcome).toBe('created');
    expect((await readMeta()).generation).toBe(result.generation);
    expect(notified).toHaveLength(1);
  });

  it('works without a notifier', async () => {
    const plain = createLocalBucket(join(dir, 'plain'), 'plain');
    expect((await plain.put(await request())).outcome).toBe('created');
  });
});
