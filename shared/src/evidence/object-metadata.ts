import { EvidenceRecordError, canonicalRecord, recordProblems, type EvidenceRecord } from './record.js';
import { SIGNATURE_BASE64 } from './signature.js';
import { errorMessage } from '../errors.js';

/** Object custom-metadata keys that carry the evidence. */
export const EVIDENCE_METADATA_KEYS = {
  record: 'evidenceRecord',
  signature: 'evidenceSignature',
  keyId: 'evidenceKeyId',
} as const;

export interface EvidenceMetadata {
  record: EvidenceRecord;
  /** Present when the record was signed; a record naming a key without one was stripped of it. */
  signature: string | undefined;
}

/** The custom-metadata entries that carry a record (and its signature) on the chunk's object. */
export function toEvidenceMetadata(record: EvidenceRecord, signature: string | undefined): Record<string, string> {
  const entries: Record<string, string> = { [EVIDENCE_METADATA_KEYS.record]: canonicalRecord(record) };
  if (signature === undefined) {
    if (record.keyId !== undefined) throw new Error(`the record names key ${record.keyId} but no signature was given`);
    return entries;
  }
  if (record.keyId === undefined) throw new Error('a signed record must name its key (keyId)');
  if (!SIGNATURE_BASE64.test(signature)) throw new Error('the signature is not 64 bytes of base64');
  entries[EVIDENCE_METADATA_KEYS.signature] = signature;
  entries[EVIDENCE_METADATA_KEYS.keyId] = record.keyId;
  return entries;
}

/**
 * The record and signature in an object's custom metadata; undefined when it carries none of
 * the evidence keys. Throws EvidenceRecordError naming every problem when they are malformed,
 * including a record that is valid JSON but not in canonical form (its hash would be ambiguous).
 */
export function fromEvidenceMetadata(metadata: Record<string, string | undefined>): EvidenceMetadata | undefined {
  const text = metadata[EVIDENCE_METADATA_KEYS.record];
  const signature = metadata[EVIDENCE_METADATA_KEYS.signature];
  const keyId = metadata[EVIDENCE_METADATA_KEYS.keyId];
  if (text === undefined && signature === undefined && keyId === undefined) return undefined;
  const context = 'evidence metadata';
  if (text === undefined || text === '') {
    throw new EvidenceRecordError(
      [`${EVIDENCE_METADATA_KEYS.record} is missing although ${EVIDENCE_METADATA_KEYS.signature}/${EVIDENCE_METADATA_KEYS.keyId} are set`],
      context,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new EvidenceRecordError([`${EVIDENCE_METADATA_KEYS.record} is not JSON (${errorMessage(error)})`], context);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new EvidenceRecordError([`${EVIDENCE_METADATA_KEYS.record} is not a JSON object`], context);
  }
  const problems = recordProblems(parsed as Record<string, unknown>);
  if (problems.length > 0) throw new EvidenceRecordError(problems, context);
  const record = parsed as EvidenceRecord;
  if (canonicalRecord(record) !== text) problems.push(`${EVIDENCE_METADATA_KEYS.record} is not in canonical form (key order, spacing or number format differ)`);
  // The key id beside the record is a copy for people and filters; it must agree with the record,
  // and go with every signature. Without a signature it may be gone with it: the verifier then
  // reports the stripped signature rather than a malformed object.
  if ((keyId !== undefined || signature !== undefined) && keyId !== record.keyId) {
    problems.push(
      `${EVIDENCE_METADATA_KEYS.keyId} is ${keyId === undefined ? 'missing' : `"${keyId}"`} but the record names ${record.keyId === undefined ? 'no key' : `key ${record.keyId}`}`,
    );
  }
  if (signature !== undefined) {
    if (!SIGNATURE_BASE64.test(signature)) problems.push(`${EVIDENCE_METADATA_KEYS.signature} is not 64 bytes of base64`);
    if (record.keyId === undefined) problems.push(`${EVIDENCE_METADATA_KEYS.signature} is set but the record names no key`);
  }
  if (problems.length > 0) throw new EvidenceRecordError(problems, context);
  return { record, signature };
}
