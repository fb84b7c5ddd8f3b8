import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * How far a write must have reached before it counts as done:
 * - `fsync`: the file's bytes and the rename that names it are on the disk (survives power loss);
 * - `rename-only`: readers see the old file or the new one, never half of one, but a power cut may
 *   leave neither (the caller can rebuild it).
 * Every caller says which it needs, and why, where it writes.
 */
export type Durability = 'fsync' | 'rename-only';

/** fsync a folder, so that a rename into it survives a power cut. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a file someone else wrote (ffmpeg's chunk), through a read-only handle. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `content` to a temporary file beside `path` (a name no other writer can pick), then
 * renames it into place. A failure removes the temporary file and leaves `path` as it was.
 */
export async function writeFileAtomically(
  path: string,
  content: string | Uint8Array,
  options: {
    durability: Durability;
    /** How to fsync the folder (a group commit shared by several writers); by default syncDirectory. */
    syncDir?: (dir: string) => Promise<void>;
  },
): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(temporary, 'wx');
    try {
      await handle.writeFile(content);
      if (options.durability === 'fsync') await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  if (options.durability === 'fsync') await (options.syncDir ?? syncDirectory)(dirname(path));
}

/** Temporary files writeFileAtomically leaves only when its process dies mid-write. */
export function isAtomicWriteLeftover(fileName: string): boolean {
  return /\.\d+\.[0-9a-f]{8}\.tmp$/.test(fileName);
}
