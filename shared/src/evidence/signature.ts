import { sign, verify, type KeyObject } from 'node:crypto';
import { assertEd25519, keyIdOf } from './keys.js';
import { canonicalRecord, type EvidenceRecord } from './record.js';

/** 64 bytes in canonical base64: 86 characters and '==', the last character carrying 2 bits. */
export const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/;

/**
 * Base64 Ed25519 signature over the record's canonical bytes. The record must already name the
 * key (`record.keyId === keyId`), and the key id must be the private key's own, so a signature
 * can never be filed under the wrong key.
 */
export function signRecord(record: EvidenceRecord, privateKey: KeyObject, keyId: string): string {
  assertEd25519(privateKey, 'the signing key');
  if (privateKey.type !== 'private') throw new Error('signRecord needs a private key');
  const ownId = keyIdOf(privateKey);
  if (keyId !== ownId) throw new Error(`key id ${keyId} is not the signing key's (${ownId})`);
  if (record.keyId !== keyId) {
    throw new Error(`the record names key ${record.keyId ?? '(none)'} but is being signed with ${keyId}: set keyId before signing`);
  }
  return sign(null, Buffer.from(canonicalRecord(record), 'utf8'), privateKey).toString('base64');
}

/** True only for a well-formed signature by `publicKey` over this exact record. */
export function verifyRecordSignature(record: EvidenceRecord, signature: string, publicKey: KeyObject): boolean {
  if (!SIGNATURE_BASE64.test(signature)) return false;
  let bytes: string;
  try {
    bytes = canonicalRecord(record);
  } catch {
    return false;
  }
  try {
    return verify(null, Buffer.from(bytes, 'utf8'), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    // Not an Ed25519 key, for instance: not a valid signature either way.
    return false;
  }
}
