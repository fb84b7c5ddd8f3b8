import { CHUNK_CONTAINERS, chunkExtension, chunkObjectName, type ChunkContainer } from '../chunk.js';

// Reading chunk object names back (chunkObjectName in chunk.ts writes them):
// `PREFIX/SOURCE/YYYY-MM-DD/SOURCE_STAMP_SEQUENCE.EXT`, the extension the chunk's container's
// (.mp4, .webm, .mkv). Names sort by source, day and start time, so a day folder lists in time order.

/** What a chunk's object name says. */
export interface ChunkName {
  source: string;
  startTime: string;
  sequence: number;
  container: ChunkContainer;
}

const STAMP_AND_SEQUENCE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z_(\d{10,16})(\.[a-z0-9]+)$/;
const CONTAINER_BY_EXTENSION = new Map(CHUNK_CONTAINERS.map((container) => [chunkExtension(container), container] as const));

/** Where a source's objects live; the slash keeps `cam-1` from listing `cam-10`. */
export function sourceListPrefix(prefix: string, source: string): string {
  return prefix === '' ? `${source}/` : `${prefix}/${source}/`;
}

/** The folder of one UTC day of a source: `PREFIX/SOURCE/YYYY-MM-DD/`. */
export function dayFolderPrefix(prefix: string, source: string, dayMs: number): string {
  return `${sourceListPrefix(prefix, source)}${new Date(dayMs).toISOString().slice(0, 10)}/`;
}

/** The day folders holding chunks that start in [fromMs, toMs], oldest first. */
export function dayFolderPrefixes(prefix: string, source: string, fromMs: number, toMs: number): string[] {
  const day = 24 * 3600_000;
  const folders: string[] = [];
  for (let at = Math.floor(fromMs / day) * day; at <= toMs; at += day) folders.push(dayFolderPrefix(prefix, source, at));
  return folders;
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
  const [, year, month, day, hour, minute, second, millis, sequenceText, extension] = match;
  const container = CONTAINER_BY_EXTENSION.get(extension ?? '');
  if (container === undefined) return undefined;
  const startTime = `${year}-${month}-${day}T${hour}:${minute}:${second}.${millis}Z`;
  const sequence = Number(sequenceText);
  if (Number.isNaN(Date.parse(startTime)) || !Number.isSafeInteger(sequence)) return undefined;
  const parsed: ChunkName = { source, startTime, sequence, container };
  try {
    if (chunkObjectName(prefix, { sourceId: source, sequence, startTime, container }) !== name) return undefined;
  } catch {
    return undefined;
  }
  return parsed;
}
