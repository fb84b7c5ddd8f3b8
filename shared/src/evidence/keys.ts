import { createPublicKey, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sha256Hex } from './record.js';
import { errorMessage } from '../errors.js';

// The Ed25519 keys evidence records are signed with: the key id, and loading PEMs given at run time.

export function assertEd25519(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${what} is a ${key.asymmetricKeyType ?? key.type} key; evidence records are signed with Ed25519`);
  }
}

/** First 16 hex digits of the SHA-256 of the public key's DER SubjectPublicKeyInfo (44 bytes for Ed25519). */
export function keyIdOf(publicKey: KeyObject): string {
  const key = publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
  assertEd25519(key, 'the key');
  return sha256Hex(key.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

/** A PKCS#8 PEM private key, given as the PEM text itself or as the path of a file holding it. */
export function loadPrivateKey(pemOrPath: string): KeyObject {
  const isPem = pemOrPath.trimStart().startsWith('-----BEGIN');
  const where = isPem ? 'the private key PEM' : pemOrPath;
  let pem: string;
  try {
    pem = isPem ? pemOrPath : readFileSync(pemOrPath, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the evidence private key ${where}: ${errorMessage(error)}`, { cause: error });
  }
  if (!/-----BEGIN PRIVATE KEY-----/.test(pem)) {
    throw new Error(`${where} holds no PKCS#8 private key (-----BEGIN PRIVATE KEY-----); make one with keygen`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new Error(`${where} is not a usable private key: ${errorMessage(error)}`, { cause: error });
  }
  assertEd25519(key, where);
  return key;
}

/**
 * Public keys from PEM files (SubjectPublicKeyInfo, `-----BEGIN PUBLIC KEY-----`), by key id.
 * A private key is refused: whoever verifies should never need one.
 */
export function loadPublicKeys(paths: readonly string[]): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const path of paths) {
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`cannot read public key ${path}: ${errorMessage(error)}`, { cause: error });
    }
    if (/PRIVATE KEY-----/.test(pem)) throw new Error(`${path} holds a private key; give the public key (evidence-public.pem)`);
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (error) {
      throw new Error(`${path} is not a PEM public key: ${errorMessage(error)}`, { cause: error });
    }
    assertEd25519(key, path);
    keys.set(keyIdOf(key), key);
  }
  return keys;
}
