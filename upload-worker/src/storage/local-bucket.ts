import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  LOCAL_BUCKET_TMP_DIR,
  localObjectFilePath,
  localObjectResourcePath,
  syncDirectory,
  syncFile,
  writeFileAtomically,
  type StorageObjectResource,
} from '@crispy-streamer/shared';
import { coalescedSync } from './coalesced-sync.js';
import { copyWithDigest, digestFile } from './file-digest.js';
import type { FinalizeNotifier } from './finalize-notifier.js';
import { ObjectConflictError, SourceMismatchError, type ObjectSource, type ObjectStore, type PutObjectRequest, type PutObjectResult } from './object-store.js';

// A bucket on local disk, with the same object names as Cloud Storage (the layout, shared with
// verify, is shared/src/bucket/local-bucket-layout.ts). An object exists once its bytes and its
// resource are both there; the bytes are linked into place only if absent, which
// gives the same create-only semantics as ifGenerationMatch=0. A chunk on the same file system as
// the bucket is hard-linked, not copied: storing it costs one read (to check it), whatever its size.

export interface LocalBucket extends ObjectStore {
  readonly dir: string;
  /** The object's resource and the path of its bytes, or undefined if there is no such object. */
  read(name: string): Promise<{ resource: StorageObjectResource; path: string } | undefined>;
}

let generationCounter = 0;
function nextGeneration(): string {
  // Microseconds like Cloud Storage, made unique within this process.
  generationCounter = (generationCounter + 1) % 1000;
  return String(Date.now() * 1000 + generationCounter);
}

/**
 * `notifier`, when given, is told of every object stored, like a bucket with a Pub/Sub
 * notification; also when a retry finds the object already there, in case the first telling failed.
 */
export function createLocalBucket(dir: string, bucket: string, notifier?: FinalizeNotifier): LocalBucket {
  const root = resolve(dir);
  const tmpDir = join(root, LOCAL_BUCKET_TMP_DIR);
  const objectPath = (name: string): string => localObjectFilePath(root, name);
  // Folders this worker made or found: a recursive mkdir per chunk and folder cost more CPU than the
  // rest of the bookkeeping. A folder removed behind our back shows as ENOENT, and is made again.
  const madeDirs = new Set<string>();
  // Chunks of one source and hour share a folder: those finishing together share its fsync.
  const syncDir = coalescedSync(syncDirectory);
  const ensureDir = async (path: string): Promise<void> => {
    if (madeDirs.has(path)) return;
    await mkdir(path, { recursive: true });
    madeDirs.add(path);
  };
  /** Runs `step` in folder `dir`, making the folder again once if it has gone. */
  const inDir = async <T>(dir: string, step: () => Promise<T>): Promise<T> => {
    await ensureDir(dir);
    try {
      return await step();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      madeDirs.delete(dir);
      await ensureDir(dir);
      return step();
    }
  };

  const readResource = async (path: string): Promise<StorageObjectResource | undefined> => {
    try {
      return JSON.parse(await readFile(localObjectResourcePath(path), 'utf8')) as StorageObjectResource;
    } catch {
      return undefined;
    }
  };

  // Durable, folder included: the upload job is acknowledged (and the spool file deleted) once put() returns.
  const writeResource = async (path: string, resource: StorageObjectResource): Promise<void> => {
    await writeFileAtomically(localObjectResourcePath(path), JSON.stringify(resource, null, 2), { durability: 'fsync', syncDir });
  };

  const resourceFor = (request: PutObjectRequest, md5Hash: string): StorageObjectResource => {
    const now = new Date().toISOString();
    const generation = nextGeneration();
    return {
      kind: 'storage#object',
      id: `${bucket}/${request.name}/${generation}`,
      name: request.name,
      bucket,
      generation,
      metageneration: '1',
      contentType: request.contentType,
      size: String(request.source.size),
      crc32c: request.source.crc32c,
      md5Hash,
      metadata: request.metadata,
      timeCreated: now,
      updated: now,
      storageClass: 'STANDARD',
    };
  };

  return {
    description: `file://${root}`,
    bucket,
    dir: root,

    async put(request) {
      const path = objectPath(request.name);
      const temporary = join(tmpDir, randomUUID());
      try {
        const placed = await inDir(tmpDir, () => placeVerified(request.source, temporary));
        try {
          // No fsync of the folder here: the resource is renamed into the same folder next, and
          // that folder's fsync (before put returns) makes this link durable with it. Until the
          // resource is there the object does not exist, so a crash in between loses nothing.
          await inDir(dirname(path), () => link(temporary, path));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          const settled = await settleExisting(request, path, placed.md5Hash);
          await notifier?.notify(settled.resource);
          return settled.result;
        }
        const resource = resourceFor(request, placed.md5Hash);
        await writeResource(path, resource);
        await notifier?.notify(resource);
        return { outcome: 'created', generation: resource.generation };
      } finally {
        await unlink(temporary).catch(() => undefined);
      }
    },

    async head(name) {
      const found = await readObject(name);
      if (found === undefined) return undefined;
      return { generation: found.resource.generation, crc32c: found.resource.crc32c, size: Number(found.resource.size) };
    },

    read: readObject,
  };

  async function readObject(name: string): Promise<{ resource: StorageObjectResource; path: string } | undefined> {
    let path: string;
    try {
      path = objectPath(name);
    } catch {
      return undefined;
    }
    const resource = await readResource(path);
    if (resource === undefined) return undefined;
    try {
      await stat(path);
    } catch {
      return undefined;
    }
    return { resource, path };
  }

  /** The bytes are there already: the same bytes finish the earlier attempt, other bytes are a conflict. */
  async function settleExisting(
    request: PutObjectRequest,
    path: string,
    md5Hash: string,
  ): Promise<{ result: PutObjectResult; resource: StorageObjectResource }> {
    const existing = await digestFile(path);
    if (existing.crc32c !== request.source.crc32c || existing.size !== request.source.size) {
      throw new ObjectConflictError(request.name, `stored crc32c ${existing.crc32c}, size ${existing.size}`);
    }
    const resource = await readResource(path);
    if (resource !== undefined) return { result: { outcome: 'already-present', generation: resource.generation }, resource };
    // An earlier attempt stopped between linking the bytes and writing the resource.
    const made = resourceFor(request, md5Hash);
    await writeResource(path, made);
    return { result: { outcome: 'created', generation: made.generation }, resource: made };
  }
}

/**
 * Puts the source file at `temporary` (a new name in the bucket's .tmp) and checks it in the same
 * read: a hard link when the spool is on the bucket's file system (no copy), else a copy. The bytes
 * are flushed to disk before the caller links them into place.
 */
async function placeVerified(source: ObjectSource, temporary: string): Promise<{ md5Hash: string }> {
  let placed: { size: number; crc32c: string; md5Hash: string };
  try {
    await link(source.path, temporary);
    placed = await digestFile(temporary);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Another file system (EXDEV), or one that has no hard links.
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') throw error;
    placed = await copyWithDigest(source.path, temporary);
  }
  if (placed.size !== source.size) throw new SourceMismatchError(source.path, `${placed.size} bytes, recorded ${source.size}`);
  if (placed.crc32c !== source.crc32c) throw new SourceMismatchError(source.path, `crc32c ${placed.crc32c}, recorded ${source.crc32c}`);
  await syncFile(temporary);
  return { md5Hash: placed.md5Hash };
}
