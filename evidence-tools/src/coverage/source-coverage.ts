import { buildCoverage, dayFolderPrefixes, mergeSpans, storedChunkOf, type Coverage, type StoredChunk } from '@crispy-streamer/shared/coverage';
import { chunkOverdueAfterMs, isStale, type CameraStatus, type TimeSpan } from '@crispy-streamer/shared/fleet';
import type { ChunkBucketReader } from '../verify/bucket-reader.js';

// A source's coverage of a time range: what the bucket holds (names and metadata, bytes unread),
// and what the nodes' spools hold that the bucket does not have yet (from the fleet status).

/** A chunk may start this long before the range and still reach into it (600 s chunks). */
const LONGEST_CHUNK_MS = 600_000;

export interface StoredListing {
  chunks: StoredChunk[];
  /** Objects of the source in the range that cannot be placed (not a chunk name, no duration). */
  unplaceable: string[];
}

/** Lists the day folders of the range (and the day before its start), and places each object. */
export async function readStoredChunks(reader: ChunkBucketReader, prefix: string, source: string, range: TimeSpan, concurrency = 16): Promise<StoredListing> {
  const names: string[] = [];
  for (const folder of dayFolderPrefixes(prefix, source, range.fromMs - LONGEST_CHUNK_MS, range.toMs)) names.push(...(await reader.list(folder)));
  const chunks: StoredChunk[] = [];
  const unplaceable: string[] = [];
  let next = 0;
  const work = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++];
      if (name === undefined) continue;
      const metadata = await reader.readMetadata(name);
      if (metadata === undefined) continue; // deleted meanwhile
      const chunk = storedChunkOf(prefix, source, name, metadata);
      if (chunk === undefined) unplaceable.push(name);
      else if (chunk.startMs + chunk.durationMs > range.fromMs - LONGEST_CHUNK_MS && chunk.startMs <= range.toMs) chunks.push(chunk);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, names.length)) }, work));
  chunks.sort((a, b) => a.sequence - b.sequence);
  return { chunks, unplaceable: unplaceable.sort() };
}

export interface SpoolView {
  /** Whether the fleet status was consulted at all. */
  consulted: boolean;
  /** Why not, or what went wrong. */
  note: string | undefined;
  pending: TimeSpan[];
  /** Some node's spool holds more than its status lists. */
  truncated: boolean;
  nodes: { node: string; state: CameraStatus['state']; stale: boolean; heartbeat: string; waitingChunks: number }[];
  live: { recording: boolean; allowanceMs: number } | undefined;
}

/** What the source's nodes report: waiting footage, and whether it records right now. */
export function spoolViewOf(statuses: readonly CameraStatus[], source: string, nowMs: number): SpoolView {
  const mine = statuses.filter((status) => status.sourceId === source);
  const fresh = mine.filter((status) => !isStale(status, nowMs));
  const chunkSeconds = Math.max(0, ...mine.map((status) => status.chunkSeconds));
  return {
    consulted: true,
    note: mine.length === 0 ? 'no node reports this source in the fleet status' : undefined,
    pending: mergeSpans(mine.flatMap((status) => status.spool.waitingSpans)),
    truncated: mine.some((status) => status.spool.waitingSpansTruncated),
    nodes: mine.map((status) => ({
      node: status.nodeId,
      state: status.state,
      stale: isStale(status, nowMs),
      heartbeat: new Date(status.heartbeatMs).toISOString(),
      waitingChunks: status.spool.waitingChunks,
    })),
    live: mine.length === 0 ? undefined : { recording: fresh.some((status) => status.state === 'recording'), allowanceMs: chunkOverdueAfterMs(chunkSeconds) },
  };
}

export function notConsulted(note: string): SpoolView {
  return { consulted: false, note, pending: [], truncated: false, nodes: [], live: undefined };
}

export function coverageOf(listing: StoredListing, spools: SpoolView, range: TimeSpan, nowMs: number): Coverage {
  return buildCoverage({ range, nowMs, stored: listing.chunks, pending: spools.pending, ...(spools.live === undefined ? {} : { live: spools.live }) });
}
