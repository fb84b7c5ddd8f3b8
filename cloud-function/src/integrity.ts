import type { KeyObject } from 'node:crypto';
import { checkObjectEvidence, type ObjectEvidenceCheck, type StorageObjectResource } from '@crispy-streamer/shared';

/** The log fields of a chunk's integrity: the evidence check's words, as verify reports them too. */
export interface IntegrityFields {
  integrity: ObjectEvidenceCheck['integrity'];
  reason?: string;
  keyId?: string;
  recordHash?: string;
}

/**
 * Checks a chunk's evidence record against the object resource alone (the bucket's own size and
 * CRC32C): no bytes are read. `unverifiable` also covers a signature by a key not configured here
 * (EVIDENCE_PUBLIC_KEYS).
 */
export function checkIntegrity(object: StorageObjectResource, publicKeys: ReadonlyMap<string, KeyObject>): IntegrityFields {
  const check = checkObjectEvidence(
    { name: object.name, metadata: object.metadata ?? {}, content: { bytes: Number(object.size), crc32c: object.crc32c } },
    { publicKeys },
  );
  const fields: IntegrityFields = { integrity: check.integrity };
  if (check.reasons.length > 0) fields.reason = check.reasons.join('; ');
  else if (check.signature === 'unknown-key' || check.signature === 'not-checked')
    fields.reason = `no public key configured for key ${check.keyId ?? ''} (EVIDENCE_PUBLIC_KEYS)`;
  if (check.keyId !== undefined) fields.keyId = check.keyId;
  if (check.recordHash !== undefined) fields.recordHash = check.recordHash;
  return fields;
}
