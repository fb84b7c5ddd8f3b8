import { chunkMetadataProblems, type ChunkMetadata } from '../chunk.js';
import { errorMessage } from '../errors.js';

// The job data of a chunk: written beside the chunk in the spool (spool-layout.ts names the file)
// and carried by its BullMQ job. This module is its only writer and reader.
//
// Version 1 names no file: the worker finds the chunk from its own spool folder and the chunk's
// source, sequence and container, so a job can never point it at another file. Jobs written
// before versions existed (no `v`, with a `spoolPath`) are read as version 1; their path is ignored.

export const JOB_DATA_VERSION = 1;

export interface ChunkJobData {
  v: typeof JOB_DATA_VERSION;
  metadata: ChunkMetadata;
  /** The chunk's hash-chained (and, with a key, signed) evidence record, as object metadata. */
  evidence?: Record<string, string>;
}

/** Job data that is not what this version writes; the message lists every problem. */
export class JobDataError extends Error {
  constructor(
    readonly problems: string[],
    where: string,
  ) {
    super(`${where} is not valid chunk job data: ${problems.join('; ')}`);
    this.name = 'JobDataError';
  }
}

export function makeJobData(metadata: ChunkMetadata, evidence: Record<string, string> | undefined): ChunkJobData {
  return evidence === undefined ? { v: JOB_DATA_VERSION, metadata } : { v: JOB_DATA_VERSION, metadata, evidence };
}

export function serializeJobData(job: ChunkJobData): string {
  return JSON.stringify(job);
}

/** Custom metadata keys are short names; their values are what Cloud Storage stores (8 KiB in all). */
const MAX_EVIDENCE_ENTRIES = 16;

/**
 * Validates job data from anywhere another process could have written it (a spool file, Redis,
 * Bull Board's API). Unknown fields are refused: they would mean another writer, or another version.
 */
export function parseJobData(value: unknown, where: string): ChunkJobData {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new JobDataError(['it is not a JSON object'], where);
  const raw = value as Record<string, unknown>;
  const problems: string[] = [];
  const legacy = raw.v === undefined;
  if (!legacy && raw.v !== JOB_DATA_VERSION) problems.push(`version ${JSON.stringify(raw.v)} is not one this program reads (${JOB_DATA_VERSION})`);
  const known = new Set(['v', 'metadata', 'evidence', ...(legacy ? ['spoolPath'] : [])]);
  for (const key of Object.keys(raw)) if (!known.has(key)) problems.push(`unknown field "${key}"`);
  problems.push(...chunkMetadataProblems(raw.metadata).map((problem) => `metadata.${problem}`));
  const { evidence } = raw;
  if (evidence !== undefined) {
    const entries = evidence !== null && typeof evidence === 'object' && !Array.isArray(evidence) ? Object.entries(evidence) : undefined;
    if (
      entries === undefined ||
      entries.length > MAX_EVIDENCE_ENTRIES ||
      entries.some(([key, item]) => !/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(key) || typeof item !== 'string')
    ) {
      problems.push('evidence must be an object of at most 16 string values');
    }
  }
  if (problems.length > 0) throw new JobDataError(problems, where);
  return makeJobData(raw.metadata as ChunkMetadata, evidence as Record<string, string> | undefined);
}

/** Reads job data from its JSON text (a spool file). */
export function parseJobDataText(text: string, where: string): ChunkJobData {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new JobDataError([`it is not JSON (${errorMessage(error)})`], where);
  }
  return parseJobData(value, where);
}
