import type { KeyObject } from 'node:crypto';
import { chunkObjectName, isChunkContainer } from '../chunk.js';
import { fromEvidenceMetadata } from './object-metadata.js';
import { recordDurationMs, recordHash, type EvidenceRecord } from './record.js';
import { verifyRecordSignature } from './signature.js';
import { errorMessage } from '../errors.js';

// One check of one stored object against its evidence record, used by the function (on every
// notification, with what the bucket says of the object) and by verify (with the bytes read).
// The words for the outcomes are the same in both.

/** What is known of a stored object. */
export interface StoredObjectFacts {
  name: string;
  /** The object's custom metadata. */
  metadata: Record<string, string | undefined>;
  /**
   * Its bytes: size and CRC32C as the bucket reports them or as read; SHA-256 only when they were
   * read. Undefined: the object has no bytes (a local bucket left with only its resource).
   */
  content: { bytes: number; crc32c: string; sha256?: string } | undefined;
}

export interface CheckObjectOptions {
  /** Key id -> public key of the recorders whose signatures count. */
  publicKeys: ReadonlyMap<string, KeyObject>;
  /** The source the object must belong to; by default the one its record names. */
  source?: string;
  /** The bucket prefix its name must start with; undefined: only the part after a prefix is checked. */
  prefix?: string;
}

/**
 * - `valid`: signed by one of the keys given.
 * - `unsigned`: the record names no key and carries no signature.
 * - `not-checked`: signed, and no keys were given at all.
 * - `unknown-key`: signed by a key that is not among those given.
 * - `missing`: the record names a key but its signature was removed.
 * - `invalid`: the signature does not verify.
 */
export type SignatureStatus = 'valid' | 'unsigned' | 'not-checked' | 'unknown-key' | 'missing' | 'invalid';

export interface ObjectEvidenceCheck {
  /**
   * `verified`: the record matches the object and its signature verifies with a key given.
   * `unsigned`: the record matches, and carries no signature. `unverifiable`: the record matches
   * and is signed, but by no key given. `INVALID`: anything that does not add up (`reasons`).
   */
  integrity: 'verified' | 'unsigned' | 'unverifiable' | 'INVALID';
  /** Why it is INVALID, each thing that does not add up; empty otherwise. */
  reasons: string[];
  /** The part of `reasons` about the object itself (bytes, name, metadata), not its signature. */
  mismatches: string[];
  /** What is wrong with the signature, when anything is. */
  signatureDetail?: string;
  /** The record, when the metadata holds a readable one. */
  record?: EvidenceRecord;
  recordHash?: string;
  keyId?: string;
  /** Undefined when there is no readable record. */
  signature?: SignatureStatus;
  /** The object's metadata carries no evidence at all (as opposed to unreadable evidence). */
  noRecord: boolean;
}

export function checkObjectEvidence(object: StoredObjectFacts, options: CheckObjectOptions): ObjectEvidenceCheck {
  let evidence;
  try {
    evidence = fromEvidenceMetadata(object.metadata);
  } catch (error) {
    const reason = errorMessage(error);
    return { integrity: 'INVALID', reasons: [reason], mismatches: [reason], noRecord: false };
  }
  if (evidence === undefined) {
    const reason = 'the object carries no evidence record';
    return { integrity: 'INVALID', reasons: [reason], mismatches: [reason], noRecord: true };
  }
  const { record, signature } = evidence;
  const mismatches = objectMismatches(object, record, options);
  const status = signatureStatus(record, signature, options.publicKeys);
  const signatureDetail = describeSignature(status, record, options.publicKeys);
  const reasons = status === 'missing' || status === 'invalid' ? [...mismatches, signatureDetail ?? status] : [...mismatches];
  const integrity = reasons.length > 0 ? 'INVALID' : status === 'valid' ? 'verified' : status === 'unsigned' ? 'unsigned' : 'unverifiable';
  const check: ObjectEvidenceCheck = { integrity, reasons, mismatches, record, recordHash: recordHash(record), signature: status, noRecord: false };
  if (signatureDetail !== undefined) check.signatureDetail = signatureDetail;
  if (record.keyId !== undefined) check.keyId = record.keyId;
  return check;
}

function describeSignature(status: SignatureStatus, record: EvidenceRecord, publicKeys: ReadonlyMap<string, KeyObject>): string | undefined {
  const keyId = record.keyId ?? '(none)';
  switch (status) {
    case 'missing':
      return `the record names key ${keyId} but the object carries no signature`;
    case 'invalid':
      return `the signature does not verify with key ${keyId}`;
    case 'unknown-key':
      return `signed by key ${keyId}, which is not among the public keys given (${[...publicKeys.keys()].join(', ')})`;
    case 'not-checked':
      return `signed by key ${keyId}; no public key given to check it`;
    default:
      return undefined;
  }
}

function signatureStatus(record: EvidenceRecord, signature: string | undefined, publicKeys: ReadonlyMap<string, KeyObject>): SignatureStatus {
  if (signature === undefined) return record.keyId === undefined ? 'unsigned' : 'missing';
  if (publicKeys.size === 0) return 'not-checked';
  // fromEvidenceMetadata refuses a signature without a key id.
  const key = record.keyId === undefined ? undefined : publicKeys.get(record.keyId);
  if (key === undefined) return 'unknown-key';
  return verifyRecordSignature(record, signature, key) ? 'valid' : 'invalid';
}

/** How the object differs from what its record says: its bytes, its name, and the chunk metadata beside it. */
function objectMismatches(object: StoredObjectFacts, record: EvidenceRecord, options: CheckObjectOptions): string[] {
  const reasons: string[] = [];
  const { content } = object;
  if (content === undefined) {
    reasons.push('the object has no bytes');
  } else {
    if (content.sha256 !== undefined && content.sha256 !== record.sha256)
      reasons.push(`sha256 of the bytes is ${content.sha256}, the record says ${record.sha256}`);
    if (content.bytes !== record.bytes) reasons.push(`the object is ${content.bytes} bytes, the record says ${record.bytes}`);
    if (content.crc32c !== record.crc32c) reasons.push(`crc32c of the bytes is ${content.crc32c}, the record says ${record.crc32c}`);
  }
  const source = options.source ?? record.source;
  if (record.source !== source) reasons.push(`the record is for source ${record.source}, not ${source}`);
  // The record names no container; the metadata beside it does (and a wrong one fails the name check all the same).
  const container = isChunkContainer(object.metadata.container) ? object.metadata.container : 'mp4';
  const expectedName = chunkObjectName(options.prefix ?? '', { sourceId: record.source, sequence: record.sequence, startTime: record.startTime, container });
  const nameMatches = options.prefix === undefined ? object.name === expectedName || object.name.endsWith(`/${expectedName}`) : object.name === expectedName;
  if (!nameMatches) reasons.push(`the name does not match the record, which belongs under ${expectedName}`);

  // The chunk metadata written beside the record (toObjectMetadata) must say the same.
  const expected: [key: string, recorded: string, matches: (value: string) => boolean][] = [
    ['source', record.source, (value) => value === record.source],
    ['sequence', String(record.sequence), (value) => value === String(record.sequence)],
    ['startTime', record.startTime, (value) => value === record.startTime],
    ['durationMs', String(record.durationMs), (value) => value.trim() !== '' && recordDurationMs(Number(value)) === record.durationMs],
    ['bytes', String(record.bytes), (value) => value === String(record.bytes)],
    ['crc32c', record.crc32c, (value) => value === record.crc32c],
  ];
  // Version 2 signs both clocks: the metadata beside it must say the same of them.
  if (record.v === 2) {
    for (const key of ['clock', 'cameraTimeSource', 'hostTime', 'cameraTime', 'clockOffsetMs', 'cameraClockStepMs', 'hostClockStepMs'] as const) {
      const recorded = record[key];
      if (recorded === undefined) {
        const value = object.metadata[key];
        if (value !== undefined) reasons.push(`object metadata says ${key}=${value}, the record has no ${key}`);
        continue;
      }
      expected.push([key, String(recorded), (value) => value === String(recorded)]);
    }
  }
  for (const [key, recorded, matches] of expected) {
    const value = object.metadata[key];
    if (value === undefined) reasons.push(`object metadata has no ${key} (the record says ${recorded})`);
    else if (!matches(value)) reasons.push(`object metadata says ${key}=${value}, the record says ${recorded}`);
  }
  return reasons;
}
