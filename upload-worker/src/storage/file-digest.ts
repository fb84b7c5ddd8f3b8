import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32cUpdate, crc32cValueToBase64 } from '@crispy-streamer/shared';
import { SourceMismatchError, type ObjectSource } from './object-store.js';

/**
 * A pass-through that counts and hashes what flows through it, so a file is checked in the same
 * read that uploads or copies it.
 */
export class DigestStream extends Transform {
  bytes = 0;
  private crc = 0;
  private readonly md5: Hash | undefined;
  private readonly onData: (() => void) | undefined;

  /** `onData` is called for every piece that passes: the upload moved forward. */
  constructor(options: { md5?: boolean; onData?: () => void } = {}) {
    super();
    this.md5 = options.md5 === true ? createHash('md5') : undefined;
    this.onData = options.onData;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.byteLength;
    this.crc = crc32cUpdate(this.crc, chunk);
    this.md5?.update(chunk);
    this.onData?.();
    callback(null, chunk);
  }

  get crc32c(): string {
    return crc32cValueToBase64(this.crc);
  }

  /** Only once the stream has ended, and only when made with `md5: true`. */
  md5Base64(): string | undefined {
    return this.md5?.digest('base64');
  }

  /** What differs from the expected size and CRC32C, or undefined when the bytes match. */
  mismatch(expected: Pick<ObjectSource, 'size' | 'crc32c'>): string | undefined {
    if (this.bytes !== expected.size) return `${this.bytes} bytes, recorded ${expected.size}`;
    if (this.crc32c !== expected.crc32c) return `crc32c ${this.crc32c}, recorded ${expected.crc32c}`;
    return undefined;
  }
}

/** Reads a (small) file whole and checks it; throws SourceMismatchError when it is not what it should be. */
export async function readVerified(source: ObjectSource): Promise<Buffer> {
  const handle = await open(source.path, 'r');
  let bytes: Buffer;
  try {
    bytes = await handle.readFile();
  } finally {
    await handle.close();
  }
  const crc = crc32cValueToBase64(crc32cUpdate(0, bytes));
  if (bytes.byteLength !== source.size) throw new SourceMismatchError(source.path, `${bytes.byteLength} bytes, recorded ${source.size}`);
  if (crc !== source.crc32c) throw new SourceMismatchError(source.path, `crc32c ${crc}, recorded ${source.crc32c}`);
  return bytes;
}

/**
 * Reads of this size, straight from a file handle: a chunk (1-3 MB) takes one to three reads, where a
 * read stream's 64 KiB pieces and its stream machinery cost the worker more CPU than the hashing.
 */
const READ_PIECE_BYTES = 1024 * 1024;

/** Reads `path` once from start to end, handing each piece (valid until the next) to `each`. */
async function eachPiece(path: string, each: (piece: Buffer) => Promise<void> | void): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_PIECE_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) return;
      await each(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/** Size, CRC32C and MD5 of a file, in one read. */
export async function digestFile(path: string): Promise<{ size: number; crc32c: string; md5Hash: string }> {
  let size = 0;
  let crc = 0;
  const md5 = createHash('md5');
  await eachPiece(path, (piece) => {
    size += piece.byteLength;
    crc = crc32cUpdate(crc, piece);
    md5.update(piece);
  });
  return { size, crc32c: crc32cValueToBase64(crc), md5Hash: md5.digest('base64') };
}

/** Copies `from` to a new file `to` (which must not exist), returning what was copied, in one read. */
export async function copyWithDigest(from: string, to: string): Promise<{ size: number; crc32c: string; md5Hash: string }> {
  let size = 0;
  let crc = 0;
  const md5 = createHash('md5');
  const out = await open(to, 'wx');
  try {
    await eachPiece(from, async (piece) => {
      size += piece.byteLength;
      crc = crc32cUpdate(crc, piece);
      md5.update(piece);
      await out.writeFile(piece); // writes all of it, at the handle's position
    });
  } finally {
    await out.close();
  }
  return { size, crc32c: crc32cValueToBase64(crc), md5Hash: md5.digest('base64') };
}
