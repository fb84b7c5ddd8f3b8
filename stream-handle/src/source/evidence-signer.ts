import { createPublicKey, type KeyObject } from 'node:crypto';
import { keyIdOf, loadPrivateKey, signRecord, type EvidenceRecord } from '@crispy-streamer/shared';

/** Signs evidence records with the node's Ed25519 key, or leaves them unsigned without one. */
export interface EvidenceSigner {
  /** The key's id, written into every record it signs; undefined when unsigned. */
  readonly keyId: string | undefined;
  sign(record: EvidenceRecord): string | undefined;
}

/** `setting`: EVIDENCE_PRIVATE_KEY, a PEM or a path to one (a mounted secret, never the image). */
export function loadEvidenceSigner(setting: string | undefined): EvidenceSigner {
  if (setting === undefined) return { keyId: undefined, sign: () => undefined };
  const privateKey: KeyObject = loadPrivateKey(setting);
  const keyId = keyIdOf(createPublicKey(privateKey));
  return { keyId, sign: (record) => signRecord(record, privateKey, keyId) };
}
