import { parseChunkObjectName } from '@crispy-streamer/shared/coverage';

// Reading names back lives in shared (chunk-object-names.ts), beside the coverage that uses it too.
export { parseChunkObjectName, sourceListPrefix, type ChunkName } from '@crispy-streamer/shared/coverage';

/** Inclusive bounds on a chunk's start time, as ISO strings (either may be open). */
export interface StartTimeRange {
  from?: string;
  to?: string;
}

export interface RangeSelection {
  /** Chunks to check: start time inside the range, and every name that is not a chunk name. */
  inRange: string[];
  /**
   * The chunk just before the range and the one just after it (by sequence), read only for the
   * links at the range's ends: a chunk deleted at an edge of the range then still shows.
   */
  neighbours: string[];
}

/** Which of a source's object names to read for a check of `range`. */
export function selectForRange(names: readonly string[], prefix: string, source: string, range: StartTimeRange): RangeSelection {
  const fromMs = range.from === undefined ? -Infinity : Date.parse(range.from);
  const toMs = range.to === undefined ? Infinity : Date.parse(range.to);
  const inRange: string[] = [];
  let before: { name: string; sequence: number } | undefined;
  let after: { name: string; sequence: number } | undefined;
  for (const name of names) {
    const parsed = parseChunkObjectName(prefix, source, name);
    // A stray name cannot be placed in time: check it rather than skip it.
    if (parsed === undefined) {
      inRange.push(name);
      continue;
    }
    const startMs = Date.parse(parsed.startTime);
    if (startMs < fromMs) {
      if (before === undefined || parsed.sequence > before.sequence) before = { name, sequence: parsed.sequence };
    } else if (startMs > toMs) {
      if (after === undefined || parsed.sequence < after.sequence) after = { name, sequence: parsed.sequence };
    } else {
      inRange.push(name);
    }
  }
  const neighbours = [before, after].flatMap((item) => (item === undefined ? [] : [item.name]));
  return { inRange: inRange.sort(), neighbours };
}
