import type { ChunkMetadata } from '../chunk.js';
import { EVIDENCE_RECORD_VERSION, GENESIS_PREV, isRecordHash, recordDurationMs, recordHash, type EvidenceRecord } from './record.js';

/** What a source's recorder must remember (durably) between chunks. */
export interface ChainState {
  lastRecordHash: string;
  /** -1 before the first record. */
  lastSequence: number;
}

/** The state of a source that has never made a record. */
export const GENESIS_CHAIN_STATE: Readonly<ChainState> = Object.freeze({ lastRecordHash: GENESIS_PREV, lastSequence: -1 });

/** What the recorder knows of a chunk when it makes its record: its metadata plus the SHA-256. */
export type EvidenceChunkFacts = Pick<ChunkMetadata, 'sourceId' | 'sequence' | 'startTime' | 'durationMs' | 'bytes' | 'crc32c' | 'clock'> &
  Partial<Pick<ChunkMetadata, 'cameraTimeSource' | 'hostTime' | 'cameraTime' | 'clockOffsetMs' | 'cameraClockStepMs' | 'hostClockStepMs'>> & {
    sha256: string;
    /** The signing key's id, when the record is to be signed. */
    keyId?: string;
  };

/**
 * The record of the next chunk and the state after it. Pure: the caller persists the state.
 * Sequences must increase; a skipped sequence is allowed (the record still links to the last
 * record made), and the verifier reports it as a gap the recorder itself left.
 */
export function nextRecord(state: ChainState, facts: EvidenceChunkFacts): { record: EvidenceRecord; state: ChainState } {
  if (!Number.isSafeInteger(facts.sequence) || facts.sequence <= state.lastSequence) {
    throw new Error(`sequence ${facts.sequence} of ${facts.sourceId} does not follow the last recorded sequence ${state.lastSequence}`);
  }
  if (!isRecordHash(state.lastRecordHash)) throw new Error(`chain state holds no record hash: ${JSON.stringify(state.lastRecordHash)}`);
  const record: EvidenceRecord = {
    v: EVIDENCE_RECORD_VERSION,
    source: facts.sourceId,
    sequence: facts.sequence,
    startTime: facts.startTime,
    durationMs: recordDurationMs(facts.durationMs),
    bytes: facts.bytes,
    sha256: facts.sha256,
    crc32c: facts.crc32c,
    clock: facts.clock,
    prev: state.lastRecordHash,
  };
  for (const key of ['cameraTimeSource', 'hostTime', 'cameraTime', 'clockOffsetMs', 'cameraClockStepMs', 'hostClockStepMs'] as const) {
    if (facts[key] !== undefined) Object.assign(record, { [key]: facts[key] });
  }
  if (facts.keyId !== undefined) record.keyId = facts.keyId;
  return { record, state: { lastRecordHash: recordHash(record), lastSequence: record.sequence } };
}
