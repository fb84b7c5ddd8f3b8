/**
 * How far a file source has been ingested, kept in the source's spool state so that a run which
 * stopped part-way (killed, disk full, a crash) neither loses the rest nor puts the same footage
 * in the bucket twice under new sequence numbers.
 */
export interface FileIngestState {
  path: string;
  /** The file's size and modification time: the same path with other values is another file. */
  size: number;
  mtimeMs: number;
  /** Media seconds from the file's start up to the end of the last chunk finalised. */
  ingestedSeconds: number;
  /** Every chunk of the file was finalised and queued. */
  complete: boolean;
  /** The sequences its chunks took, for the log and for a person. */
  firstSequence: number;
  lastSequence: number;
}

export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

export type FileIngestPlan =
  { action: 'start' } | { action: 'resume'; atSeconds: number; after: FileIngestState } | { action: 'skip'; already: FileIngestState };

function sameFile(state: FileIngestState, file: FileIdentity): boolean {
  return state.path === file.path && state.size === file.size && state.mtimeMs === file.mtimeMs;
}

/** What to do with a file, given what an earlier run left in the spool state. */
export function planFileIngest(saved: FileIngestState | undefined, file: FileIdentity): FileIngestPlan {
  if (saved === undefined || !sameFile(saved, file)) return { action: 'start' };
  if (saved.complete) return { action: 'skip', already: saved };
  if (saved.ingestedSeconds <= 0) return { action: 'start' };
  return { action: 'resume', atSeconds: saved.ingestedSeconds, after: saved };
}

/** Parses the saved state leniently: anything unexpected means "no record", so the file starts over. */
export function readFileIngestState(value: unknown): FileIngestState | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const numbers = ['size', 'mtimeMs', 'ingestedSeconds', 'firstSequence', 'lastSequence'] as const;
  if (typeof v.path !== 'string' || typeof v.complete !== 'boolean' || numbers.some((key) => typeof v[key] !== 'number' || !Number.isFinite(v[key])))
    return undefined;
  return v as unknown as FileIngestState;
}
