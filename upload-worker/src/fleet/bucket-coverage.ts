import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Storage, type StorageOptions } from '@google-cloud/storage';
import { compactTimestamp, errorMessage, LOCAL_OBJECT_RESOURCE_SUFFIX, localObjectResourcePath, type StorageObjectResource } from '@crispy-streamer/shared';
import { dayFolderPrefixes, sourceListPrefix, storedChunkOf, type StoredChunk } from '@crispy-streamer/shared/coverage';

// What the bucket holds of each camera over the last day, for the fleet page's coverage strips.
// Listed from the bucket itself (names and custom metadata, never bytes), a day folder at a time,
// and cached: a refresh lists only from a little before what it already knows, and the whole day
// again now and then, so a chunk uploaded late (a backlog, a retry) is found too.

/** One listed object: its name and custom metadata. */
export interface ListedObject {
  name: string;
  metadata: Record<string, string | undefined>;
}

/** Lists a folder of the bucket, names from `startOffset` on (inclusive), in name order. */
export interface ChunkLister {
  list(folderPrefix: string, startOffset: string | undefined): Promise<ListedObject[]>;
}

export function gcsChunkLister(settings: { bucket: string; projectId?: string | undefined; apiEndpoint?: string | undefined }): ChunkLister {
  const options: StorageOptions = { retryOptions: { autoRetry: true, maxRetries: 2 } };
  if (settings.projectId !== undefined) options.projectId = settings.projectId;
  if (settings.apiEndpoint !== undefined) options.apiEndpoint = settings.apiEndpoint;
  const bucket = new Storage(options).bucket(settings.bucket);
  return {
    async list(folderPrefix, startOffset) {
      const [files] = await bucket.getFiles({
        prefix: folderPrefix,
        ...(startOffset === undefined ? {} : { startOffset }),
        autoPaginate: true,
        fields: 'items(name,metadata),nextPageToken',
      });
      return files.map((file) => ({ name: file.name, metadata: stringValues(file.metadata.metadata as Record<string, unknown> | undefined) }));
    },
  };
}

/** The local bucket's layout: DIR/NAME holds the bytes, DIR/NAME.meta.json the resource. */
export function localChunkLister(dir: string): ChunkLister {
  return {
    async list(folderPrefix, startOffset) {
      const folder = join(dir, ...folderPrefix.split('/').filter((part) => part !== ''));
      const entries = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [] as string[];
        throw error;
      });
      const names = entries
        .filter((entry) => !entry.endsWith(LOCAL_OBJECT_RESOURCE_SUFFIX) && !entry.startsWith('.'))
        .map((entry) => `${folderPrefix}${entry}`)
        .filter((name) => startOffset === undefined || name >= startOffset)
        .sort();
      const listed: ListedObject[] = [];
      for (const name of names) {
        // An object is there once its resource is: the bucket links the bytes, then writes it.
        const text = await readFile(localObjectResourcePath(join(dir, ...name.split('/'))), 'utf8').catch(() => undefined);
        if (text === undefined) continue;
        try {
          listed.push({ name, metadata: stringValues((JSON.parse(text) as StorageObjectResource).metadata) });
        } catch {
          // Half-written by the bucket right now: listed next time.
        }
      }
      return listed;
    },
  };
}

function stringValues(raw: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw ?? {}))
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
  return out;
}

export interface SourceCoverageCache {
  chunks: StoredChunk[];
  /** When the bucket was last listed for this source; undefined before the first listing. */
  listedAtMs: number | undefined;
  error: string | undefined;
}

export interface BucketCoverageSettings {
  lister: ChunkLister;
  prefix: string;
  /** How much the strips show. */
  windowMs?: number;
  /** A refresh relists from this long before the newest chunk known (late uploads land there). */
  relistMarginMs?: number;
  /** The whole window is listed again this often. */
  fullRelistMs?: number;
  now?: () => number;
}

const DAY_MS = 24 * 3600_000;
/** A chunk may start this long before the window and still reach into it (a 600 s chunk). */
const LONGEST_CHUNK_MS = 600_000;

export class BucketCoverage {
  private readonly caches = new Map<string, SourceCoverageCache & { byName: Map<string, StoredChunk>; fullAtMs: number | undefined }>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(private readonly settings: BucketCoverageSettings) {
    this.windowMs = settings.windowMs ?? DAY_MS;
    this.now = settings.now ?? Date.now;
  }

  /** What is known of a source, as of its last listing. */
  coverageOf(source: string): SourceCoverageCache {
    const cache = this.caches.get(source);
    if (cache === undefined) return { chunks: [], listedAtMs: undefined, error: undefined };
    return { chunks: cache.chunks, listedAtMs: cache.listedAtMs, error: cache.error };
  }

  /**
   * Lists what is new for a source. `oldestPendingMs`: the start of the oldest chunk still in a
   * spool; anything older has left the spools, so nothing older can arrive late.
   */
  async refresh(source: string, oldestPendingMs?: number): Promise<void> {
    const nowMs = this.now();
    const cache = this.caches.get(source) ?? {
      chunks: [],
      byName: new Map<string, StoredChunk>(),
      listedAtMs: undefined,
      fullAtMs: undefined,
      error: undefined,
    };
    this.caches.set(source, cache);
    const windowStartMs = nowMs - this.windowMs - LONGEST_CHUNK_MS;
    const full = cache.fullAtMs === undefined || nowMs - cache.fullAtMs >= (this.settings.fullRelistMs ?? 10 * 60_000);
    const newestStart = cache.chunks.reduce((newest, chunk) => Math.max(newest, chunk.startMs), -Infinity);
    let fromMs = windowStartMs;
    if (!full && Number.isFinite(newestStart)) {
      fromMs = Math.max(windowStartMs, newestStart - (this.settings.relistMarginMs ?? 5 * 60_000));
      if (oldestPendingMs !== undefined) fromMs = Math.max(windowStartMs, Math.min(fromMs, oldestPendingMs - 1000));
    }
    try {
      const seen = new Set<string>();
      for (const folder of dayFolderPrefixes(this.settings.prefix, source, fromMs, nowMs)) {
        const folderDayMs = Date.parse(`${folder.slice(-11, -1)}T00:00:00.000Z`);
        // Names in a day folder sort by start time: start listing at the first one that may matter.
        const startOffset = fromMs > folderDayMs ? `${folder}${source}_${compactTimestamp(new Date(fromMs).toISOString())}` : undefined;
        for (const object of await this.settings.lister.list(folder, startOffset)) {
          seen.add(object.name);
          if (cache.byName.has(object.name)) continue;
          const chunk = storedChunkOf(this.settings.prefix, source, object.name, object.metadata);
          if (chunk !== undefined) cache.byName.set(object.name, chunk);
        }
      }
      // A full listing also forgets what is gone from the bucket (deleted, or never there).
      for (const [name, chunk] of cache.byName) {
        if (chunk.startMs < windowStartMs || (full && !seen.has(name))) cache.byName.delete(name);
      }
      cache.chunks = [...cache.byName.values()].sort((a, b) => a.sequence - b.sequence);
      cache.listedAtMs = nowMs;
      if (full) cache.fullAtMs = nowMs;
      cache.error = undefined;
    } catch (error) {
      cache.error = errorMessage(error);
    }
  }

  /** The folder a source's chunks are listed under, for messages. */
  folderOf(source: string): string {
    return sourceListPrefix(this.settings.prefix, source);
  }
}
