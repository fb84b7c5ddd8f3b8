import { chunkObjectName } from '@crispy-streamer/shared';

/** What a chunk's object name says: `PREFIX/SOURCE/YYYY-MM-DD/SOURCE_STAMP_SEQUENCE.mp4`. */
export interface ChunkName {
  source: string;
  startTime: string;
  sequence: number;
}

const STAMP_AND_SEQUENCE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z_(\d{10,16})\.mp4$/;

/** Where a source's objects live; the slash keeps `cam-1` from listing `cam-10`. */
export function sourceListPrefix(prefix: string, source: string): string {
  return prefix === '' ? `${source}/` : `${prefix}/${source}/`;
}

/**
 * Reads a chunk object name written by chunkObjectName. Undefined for anything else, including
 * names that parse but that chunkObjectName would not have written (a wrong day folder, say).
 */
export function parseChunkObjectName(prefix: string, source: string, name: string): ChunkName | undefined {
  const folder = sourceListPrefix(prefix, source);
  if (!name.startsWith(folder)) return undefined;
  const fileName = name.slice(name.lastIndexOf('/') + 1);
  if (!fileName.startsWith(`${source}_`)) return undefined;
  const match = STAMP_AND_SEQUENCE.exec(fileName.slice(source.length + 1));
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second, millis, sequenceText] = match;
  const startTime = `${year}-${month}-${day}T${hour}:${minute}:${second}.${millis}Z`;
  const sequence = Number(sequenceText);
  if (Number.isNaN(Date.parse(startTime)) || !Number.isSafeInteger(sequence)) return undefined;
  const parsed: ChunkName = { source, startTime, sequence };
  try {
    if (chunkObjectName(prefix, { sourceId: source, sequence, startTime }) !== name) return undefined;
  } catch {
    return undefined;
  }
  return parsed;
}

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
