import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { CRC32C, Storage, type StorageOptions } from '@google-cloud/storage';
import {
  LOCAL_OBJECT_RESOURCE_SUFFIX,
  isAtomicWriteLeftover,
  isLocalBucketHousekeeping,
  localObjectResourcePath,
  type BucketLocation,
  type StorageObjectResource,
  errorMessage,
} from '@crispy-streamer/shared';
import type { ContentDigest, StoredChunk } from './check-chain.js';
import { selectForRange, sourceListPrefix, type StartTimeRange } from './object-names.js';

// Reading a source's chunks out of a bucket, for the checks in check-chain.ts. Read-only: the
// verifier never writes, so it can run with a viewer's credentials.

export interface ChunkBucketReader {
  /** gs://BUCKET or file:///DIR, for the report. */
  readonly description: string;
  /** Names of every object under `listPrefix`. */
  list(listPrefix: string): Promise<string[]>;
  /** The object's digest (streamed, never held whole) and custom metadata. */
  read(name: string): Promise<Omit<StoredChunk, 'inRange'>>;
  /** The object's custom metadata only, bytes unread (the coverage command needs no more); undefined when it is gone. */
  readMetadata(name: string): Promise<Record<string, string> | undefined>;
}

export interface GcsReaderSettings {
  bucket: string;
  projectId?: string;
  apiEndpoint?: string;
}

/** Streams bytes through SHA-256 and CRC32C at once. */
export async function digestStream(stream: Readable): Promise<ContentDigest> {
  const sha256 = createHash('sha256');
  const crc32c = new CRC32C();
  let bytes = 0;
  for await (const piece of stream) {
    const buffer = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array);
    sha256.update(buffer);
    crc32c.update(buffer);
    bytes += buffer.byteLength;
  }
  return { sha256: sha256.digest('hex'), crc32c: crc32c.toString(), bytes };
}

/** Custom metadata values come back typed loosely from the client; the bucket holds strings. */
function stringMetadata(raw: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
    else if (value !== null && value !== undefined) out[key] = JSON.stringify(value);
  }
  return out;
}

export function createGcsReader(settings: GcsReaderSettings): ChunkBucketReader {
  const options: StorageOptions = { retryOptions: { autoRetry: true, maxRetries: 3 } };
  if (settings.projectId !== undefined) options.projectId = settings.projectId;
  if (settings.apiEndpoint !== undefined) options.apiEndpoint = settings.apiEndpoint;
  const bucket = new Storage(options).bucket(settings.bucket);
  // The listing carries each object's resource; reading that generation keeps bytes and metadata
  // of one and the same object together.
  const listed = new Map<string, { generation: string | undefined; metadata: Record<string, string> }>();

  return {
    description: `gs://${settings.bucket}`,
    async list(listPrefix) {
      const [files] = await bucket.getFiles({ prefix: listPrefix });
      for (const file of files) {
        const { generation, metadata } = file.metadata;
        listed.set(file.name, {
          generation: generation === undefined ? undefined : String(generation),
          metadata: stringMetadata(metadata),
        });
      }
      return files.map((file) => file.name);
    },
    async read(name) {
      let entry = listed.get(name);
      if (entry === undefined) {
        const [resource] = await bucket.file(name).getMetadata();
        entry = { generation: String(resource.generation), metadata: stringMetadata(resource.metadata) };
      }
      const file = entry.generation === undefined ? bucket.file(name) : bucket.file(name, { generation: entry.generation });
      // Our own digests are compared with the record; the client's check would only throw instead.
      const content = await digestStream(file.createReadStream({ validation: false }));
      return { name, content, metadata: entry.metadata };
    },
    async readMetadata(name) {
      const entry = listed.get(name);
      if (entry !== undefined) return entry.metadata;
      try {
        const [resource] = await bucket.file(name).getMetadata();
        return stringMetadata(resource.metadata);
      } catch (error) {
        if ((error as { code?: unknown }).code === 404) return undefined;
        throw error;
      }
    },
  };
}

/**
 * The local bucket (layout: shared/src/bucket/local-bucket-layout.ts): `DIR/NAME` holds the
 * bytes, `DIR/NAME.meta.json` the resource. Unlike the bucket itself, the verifier also reports half-objects (bytes without a
 * resource, or a resource without bytes): for evidence, both are findings.
 */
export function createLocalReader(dir: string): ChunkBucketReader {
  return {
    description: `file://${dir}`,
    async list(listPrefix) {
      const folder = join(dir, ...listPrefix.split('/').filter((part) => part !== ''));
      const names = new Set<string>();
      for (const path of await filesUnder(folder)) {
        const name = relative(dir, path).split(sep).join('/');
        // The bucket's own housekeeping, and a resource write a crash left half done, hold no objects.
        if (isLocalBucketHousekeeping(name) || isAtomicWriteLeftover(name)) continue;
        names.add(name.endsWith(LOCAL_OBJECT_RESOURCE_SUFFIX) ? name.slice(0, -LOCAL_OBJECT_RESOURCE_SUFFIX.length) : name);
      }
      return [...names].sort();
    },
    async read(name) {
      const path = join(dir, ...name.split('/'));
      let metadata: Record<string, string> = {};
      try {
        const resource = JSON.parse(await readFile(localObjectResourcePath(path), 'utf8')) as StorageObjectResource;
        metadata = stringMetadata(resource.metadata);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new Error(`cannot read the resource of ${name}: ${errorMessage(error)}`, { cause: error });
      }
      let content: ContentDigest | undefined;
      try {
        content = await digestStream(createReadStream(path));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      return { name, content, metadata };
    },
    async readMetadata(name) {
      try {
        const resource = JSON.parse(await readFile(localObjectResourcePath(join(dir, ...name.split('/'))), 'utf8')) as StorageObjectResource;
        return stringMetadata(resource.metadata);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new Error(`cannot read the resource of ${name}: ${errorMessage(error)}`, { cause: error });
      }
    },
  };
}

/** Every file below `folder`, depth first; none when it does not exist. */
async function filesUnder(folder: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

export function createReader(location: BucketLocation, env: { apiEndpoint?: string; projectId?: string }): ChunkBucketReader {
  if (location.kind === 'local') return createLocalReader(location.dir);
  const settings: GcsReaderSettings = { bucket: location.bucket };
  if (env.apiEndpoint !== undefined) settings.apiEndpoint = env.apiEndpoint;
  if (env.projectId !== undefined) settings.projectId = env.projectId;
  return createGcsReader(settings);
}

/**
 * Lists the source, picks the objects of the time range plus its two neighbours, and reads them
 * a few at a time.
 */
export async function readSourceChunks(
  reader: ChunkBucketReader,
  prefix: string,
  source: string,
  range: StartTimeRange,
  concurrency = 8,
): Promise<StoredChunk[]> {
  const names = await reader.list(sourceListPrefix(prefix, source));
  const { inRange, neighbours } = selectForRange(names, prefix, source, range);
  const wanted = [...inRange.map((name) => ({ name, inRange: true })), ...neighbours.map((name) => ({ name, inRange: false }))];
  const chunks: StoredChunk[] = new Array<StoredChunk>(wanted.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < wanted.length) {
      const index = next++;
      const item = wanted[index];
      if (item === undefined) continue;
      chunks[index] = { ...(await reader.read(item.name)), inRange: item.inRange };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, wanted.length) }, worker));
  return chunks;
}
