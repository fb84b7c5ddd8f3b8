import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cBase64 } from '@crispy-streamer/shared';
import { DigestStream, digestFile, readVerified } from '../src/storage/file-digest.js';
import { SourceMismatchError } from '../src/storage/object-store.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-digest-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('file digests', () => {
  it('hashes piece by piece to the same CRC32C as the whole, counting bytes and telling of each piece', async () => {
    const bytes = randomBytes(300_000);
    let pieces = 0;
    const digest = new DigestStream({ onData: () => pieces++ });
    digest.resume(); // passes everything on, as to the upload
    for (let at = 0; at < bytes.length; at += 65_536) digest.write(bytes.subarray(at, at + 65_536));
    digest.end();
    await once(digest, 'end');
    expect(digest.bytes).toBe(bytes.length);
    expect(digest.crc32c).toBe(crc32cBase64(bytes));
    expect(pieces).toBe(5);
    expect(digest.mismatch({ size: bytes.length, crc32c: crc32cBase64(bytes) })).toBeUndefined();
    expect(digest.mismatch({ size: bytes.length + 1, crc32c: crc32cBase64(bytes) })).toBe(`${bytes.length} bytes, recorded ${bytes.length + 1}`);
    expect(digest.mismatch({ size: bytes.length, crc32c: 'AAAAAA==' })).toBe(`crc32c ${crc32cBase64(bytes)}, recorded AAAAAA==`);
  });

  it('reads a small file whole only if it is what was recorded', async () => {
    const bytes = randomBytes(1000);
    const path = join(dir, 'small.bin');
    await writeFile(path, bytes);
    expect((await readVerified({ path, size: 1000, crc32c: crc32cBase64(bytes) })).equals(bytes)).toBe(true);
    await expect(readVerified({ path, size: 1000, crc32c: 'AAAAAA==' })).rejects.toBeInstanceOf(SourceMismatchError);
    await expect(readVerified({ path, size: 999, crc32c: crc32cBase64(bytes) })).rejects.toThrow('1000 bytes, recorded 999');
    expect(await digestFile(path)).toMatchObject({ size: 1000, crc32c: crc32cBase64(bytes) });
  });
});
