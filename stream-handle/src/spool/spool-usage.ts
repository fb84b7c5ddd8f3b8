import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { SOURCE_ID_PATTERN, isSpoolChunkOrJobData, parseChunkFileName } from '@crispy-streamer/shared';

export interface SpoolUsage {
  /** Bytes of chunk files (and their job data) waiting in the spool. */
  bytes: number;
  chunkFiles: number;
  /** Free bytes on the spool's file system, for an unprivileged writer. */
  freeBytes: number;
  /** Size of the spool's file system. */
  totalBytes: number;
}

/** Walks SPOOL/SOURCE/ folders (not quarantine) and asks the file system for free space. */
export async function measureSpool(spoolDir: string): Promise<SpoolUsage> {
  let bytes = 0;
  let chunkFiles = 0;
  const sources = await readdir(spoolDir, { withFileTypes: true }).catch(() => []);
  for (const source of sources) {
    if (!source.isDirectory() || !SOURCE_ID_PATTERN.test(source.name)) continue;
    const dir = join(spoolDir, source.name);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!isSpoolChunkOrJobData(source.name, name)) continue;
      const info = await stat(join(dir, name)).catch(() => undefined);
      if (info === undefined) continue;
      bytes += info.size;
      if (parseChunkFileName(source.name, name) !== undefined) chunkFiles++;
    }
  }
  const fs = await statfs(spoolDir);
  return { bytes, chunkFiles, freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize };
}
