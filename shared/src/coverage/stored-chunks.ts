import { parseChunkObjectName } from '../bucket/chunk-object-names.js';
import { fromEvidenceMetadata } from '../evidence/object-metadata.js';
import type { TimedChunk } from './chunk-gaps.js';

/** A chunk object placed in time: what the coverage needs of a listing. */
export interface StoredChunk extends TimedChunk {
  name: string;
}

/**
 * Places an object of a source's listing in time: the sequence and start from its name, the
 * duration from its custom metadata (`durationMs`, else the evidence record's). Undefined for an
 * object that is not one of the source's chunks, or whose duration nobody states.
 */
export function storedChunkOf(prefix: string, source: string, name: string, metadata: Record<string, string | undefined>): StoredChunk | undefined {
  const parsed = parseChunkObjectName(prefix, source, name);
  if (parsed === undefined) return undefined;
  let durationMs = Number(metadata.durationMs);
  if (metadata.durationMs === undefined || !Number.isFinite(durationMs) || durationMs < 0) {
    try {
      durationMs = fromEvidenceMetadata(metadata)?.record.durationMs ?? Number.NaN;
    } catch {
      durationMs = Number.NaN;
    }
  }
  if (!Number.isFinite(durationMs) || durationMs < 0) return undefined;
  return { name, sequence: parsed.sequence, startMs: Date.parse(parsed.startTime), durationMs };
}
