import type { KeyObject } from 'node:crypto';
import { fromEvidenceMetadata, recordHash, verifyRecordSignature, type StorageObjectResource } from '@crispy-streamer/shared';

export interface IntegrityCheck {
  /**
   * `verified`: signed by a configured key, and the stored object's size and CRC32C (computed by
   * the bucket) match the record. `unsigned`: the record matches but carries no signature.
   * `unverifiable`: signed, but no public key is configured here for its key id.
   * `INVALID`: anything that does not add up; `reason` says what.
   */
  integrity: 'verified' | 'unsigned' | 'unverifiable' | 'INVALID';
  reason?: string;
  keyId?: string;
  recordHash?: string;
}

/** Checks a chunk's evidence record against its object resource alone: no bytes are read. */
export function checkIntegrity(object: StorageObjectResource, publicKeys: ReadonlyMap<string, KeyObject>): IntegrityCheck {
  let evidence;
  try {
    evidence = fromEvidenceMetadata(object.metadata ?? {});
  } catch (error) {
    return { integrity: 'INVALID', reason: (error as Error).message };
  }
  if (evidence === undefined) return { integrity: 'INVALID', reason: 'the object carries no evidence record' };
  const { record, signature } = evidence;
  const hash = recordHash(record);
  const problems: string[] = [];
  if (record.bytes !== Number(object.size)) problems.push(`size ${object.size} but the record says ${record.bytes}`);
  if (record.crc32c !== object.crc32c) problems.push(`crc32c ${object.crc32c} but the record says ${record.crc32c}`);
  const custom = object.metadata ?? {};
  if (custom.source !== undefined && custom.source !== record.source) problems.push(`source ${custom.source} but the record says ${record.source}`);
  if (custom.sequence !== undefined && Number(custom.sequence) !== record.sequence) problems.push(`sequence ${custom.sequence} but the record says ${record.sequence}`);
  if (problems.length > 0) return { integrity: 'INVALID', reason: problems.join('; '), recordHash: hash, ...(record.keyId === undefined ? {} : { keyId: record.keyId }) };
  if (record.keyId === undefined) return { integrity: 'unsigned', recordHash: hash };
  if (signature === undefined) return { integrity: 'INVALID', reason: `the record names key ${record.keyId} but its signature was removed`, keyId: record.keyId, recordHash: hash };
  const key = publicKeys.get(record.keyId);
  if (key === undefined) return { integrity: 'unverifiable', reason: `no public key configured for key ${record.keyId}`, keyId: record.keyId, recordHash: hash };
  if (!verifyRecordSignature(record, signature, key)) return { integrity: 'INVALID', reason: `the signature does not match key ${record.keyId}`, keyId: record.keyId, recordHash: hash };
  return { integrity: 'verified', keyId: record.keyId, recordHash: hash };
}
