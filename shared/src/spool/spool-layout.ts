import { join } from 'node:path';
import { CHUNK_CONTAINERS, SOURCE_ID_PATTERN, chunkExtension, type ChunkContainer } from '../chunk.js';

// The spool's layout on disk, shared by stream-handle (which writes it) and the upload workers
// (which read and empty it). Nothing else spells these names.
//
//   SPOOL/SOURCE/SOURCE-0000000042.mp4        a chunk (.webm, .mkv: see ChunkContainer), complete once its job data exists
//   SPOOL/SOURCE/SOURCE-0000000042.mp4.json   its job data (job-data.ts), written before queueing
//   SPOOL/SOURCE/state.json                   the next sequence and the evidence chain's last link
//   SPOOL/SOURCE/quarantine/                  files that cannot be trusted, moved aside
//   SPOOL/dropped.jsonl                       chunks the drop-oldest policy deleted, one JSON line each

export const SOURCE_STATE_FILE = 'state.json';
export const QUARANTINE_DIR = 'quarantine';
export const DROPPED_LOG_FILE = 'dropped.jsonl';
const JOB_DATA_SUFFIX = '.json';
/** Sequences are written with at least this many digits, so names sort in order. */
const SEQUENCE_DIGITS = 10;

export function sourceSpoolDir(spoolRoot: string, sourceId: string): string {
  if (!SOURCE_ID_PATTERN.test(sourceId)) throw new Error(`"${sourceId}" is not a source id: it cannot name a spool folder`);
  return join(spoolRoot, sourceId);
}

export function chunkFileName(sourceId: string, sequence: number, container: ChunkContainer): string {
  return `${sourceId}-${String(sequence).padStart(SEQUENCE_DIGITS, '0')}${chunkExtension(container)}`;
}

/** The name pattern ffmpeg's segment muxer numbers chunks by (`-segment_start_number` sets the first). */
export function chunkFilePattern(sourceId: string, container: ChunkContainer): string {
  return `${sourceId}-%0${SEQUENCE_DIGITS}d${chunkExtension(container)}`;
}

/** Where a chunk lives in a spool: derived from what it is, never taken from a job. */
export function chunkFilePath(spoolRoot: string, chunk: { sourceId: string; sequence: number; container: ChunkContainer }): string {
  return join(sourceSpoolDir(spoolRoot, chunk.sourceId), chunkFileName(chunk.sourceId, chunk.sequence, chunk.container));
}

/** The sequence and container of a chunk file name of this source, or undefined for any other name. */
export function parseChunkFileName(sourceId: string, fileName: string): { sequence: number; container: ChunkContainer } | undefined {
  const prefix = `${sourceId}-`;
  if (!fileName.startsWith(prefix)) return undefined;
  for (const container of CHUNK_CONTAINERS) {
    const extension = chunkExtension(container);
    if (!fileName.endsWith(extension)) continue;
    const digits = fileName.slice(prefix.length, -extension.length);
    if (!new RegExp(`^\\d{${SEQUENCE_DIGITS},15}$`).test(digits)) return undefined;
    return { sequence: Number(digits), container };
  }
  return undefined;
}

export function jobDataPath(chunkPath: string): string {
  return `${chunkPath}${JOB_DATA_SUFFIX}`;
}

/** The chunk a job data file describes, or undefined if `fileName` is not a job data file of a chunk. */
export function chunkOfJobDataFile(sourceId: string, fileName: string): { chunkFileName: string; sequence: number; container: ChunkContainer } | undefined {
  if (!fileName.endsWith(JOB_DATA_SUFFIX)) return undefined;
  const chunkName = fileName.slice(0, -JOB_DATA_SUFFIX.length);
  const chunk = parseChunkFileName(sourceId, chunkName);
  return chunk === undefined ? undefined : { chunkFileName: chunkName, ...chunk };
}

/** Whether a file in a source's folder counts towards the spool's usage: a chunk or its job data. */
export function isSpoolChunkOrJobData(sourceId: string, fileName: string): boolean {
  return parseChunkFileName(sourceId, fileName) !== undefined || chunkOfJobDataFile(sourceId, fileName) !== undefined;
}
