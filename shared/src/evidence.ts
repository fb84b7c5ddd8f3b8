import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SOURCE_ID_PATTERN, type ChunkMetadata } from './chunk.js';

// Evidence records: one small signed statement per chunk, chained per source.
//
// A record says "chunk SEQUENCE of SOURCE started at START, lasted DURATION, is BYTES long and
// hashes to SHA256", and names the hash of the source's previous record in `prev`. Deleting,
// reordering or inserting a chunk therefore breaks a link, and an Ed25519 signature over each
// record ties it to the recorder's key. The record travels as the object's custom metadata.
//
// CANONICAL ENCODING (what is hashed and signed; docs/evidence.md says the same):
//   {"v":1,"source":S,"sequence":N,"startTime":T,"durationMs":N,"bytes":N,"sha256":H,"crc32c":C,"prev":H}
//   with ,"keyId":K inserted before the closing brace when the record names a key.
// - Keys in exactly that order, no whitespace anywhere, UTF-8 (in practice ASCII).
// - Numbers are non-negative integers up to 2^53-1 in plain decimal: no sign, no leading zeros,
//   no fraction, no exponent.
// - Strings are written between double quotes with no escaping: every field is restricted to
//   characters that JSON never escapes (see RECORD_FIELD_RULES), so a third party can build the
//   bytes by concatenation and need not match any particular JSON library.
// - The record hash is the lower-case hex SHA-256 of those bytes; the signature is Ed25519
//   (RFC 8032, pure, no pre-hash) over the same bytes, carried in base64.

export const EVIDENCE_RECORD_VERSION = 1;
/** `prev` of the first record ever made for a source. */
export const GENESIS_PREV = '0'.repeat(64);

/** Object custom-metadata keys that carry the evidence. */
export const EVIDENCE_METADATA_KEYS = {
  record: 'evidenceRecord',
  signature: 'evidenceSignature',
  keyId: 'evidenceKeyId',
} as const;

export interface EvidenceRecord {
  v: 1;
  source: string;
  sequence: number;
  /** UTC, exactly as Date#toISOString writes it: YYYY-MM-DDTHH:MM:SS.mmmZ. */
  startTime: string;
  /** Whole milliseconds (the chunk's exact duration rounded to the nearest ms). */
  durationMs: number;
  bytes: number;
  /** Lower-case hex SHA-256 of the chunk's bytes. */
  sha256: string;
  /** Base64 of the big-endian CRC32C of the bytes, as Cloud Storage writes it. */
  crc32c: string;
  /** Hex SHA-256 of the previous record's canonical encoding for this source, or GENESIS_PREV. */
  prev: string;
  /** keyIdOf() the public key whose private half signs this record; absent for unsigned records. */
  keyId?: string;
}

/** A record or its metadata is not what this format allows. The message lists every problem. */
export class EvidenceRecordError extends Error {
  constructor(
    readonly problems: string[],
    context = 'evidence record',
  ) {
    super(`${context} is invalid: ${problems.join('; ')}`);
    this.name = 'EvidenceRecordError';
  }
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
/** 4 bytes in canonical base64: the sixth character carries 2 bits, so its low 4 bits are zero. */
const CRC32C_BASE64 = /^[A-Za-z0-9+/]{5}[AQgw]==$/;
const ISO_MILLIS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** 64 bytes in canonical base64: 86 characters and '==', the last character carrying 2 bits. */
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/;

type FieldKind = 'version' | 'integer' | 'string';
interface FieldRule {
  key: keyof EvidenceRecord;
  kind: FieldKind;
  optional?: boolean;
  /** For strings: the whole value must match, which also keeps it free of JSON escapes. */
  pattern?: RegExp;
  describe?: string;
}

/** The canonical key order, and what each field may hold. */
const RECORD_FIELD_RULES: readonly FieldRule[] = [
  { key: 'v', kind: 'version' },
  { key: 'source', kind: 'string', pattern: SOURCE_ID_PATTERN, describe: 'a source id (letters, digits, _ and -, at most 64)' },
  { key: 'sequence', kind: 'integer' },
  { key: 'startTime', kind: 'string', pattern: ISO_MILLIS_UTC, describe: 'UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ' },
  { key: 'durationMs', kind: 'integer' },
  { key: 'bytes', kind: 'integer' },
  { key: 'sha256', kind: 'string', pattern: HEX_SHA256, describe: '64 lower-case hex digits' },
  { key: 'crc32c', kind: 'string', pattern: CRC32C_BASE64, describe: 'base64 of 4 bytes' },
  { key: 'prev', kind: 'string', pattern: HEX_SHA256, describe: '64 lower-case hex digits' },
  { key: 'keyId', kind: 'string', pattern: KEY_ID, optional: true, describe: '16 lower-case hex digits' },
];
const RECORD_KEYS = new Set<string>(RECORD_FIELD_RULES.map((rule) => rule.key));

/** Every way `value` falls short of a valid record; empty when it is one. */
function recordProblems(value: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(value)) {
    if (!RECORD_KEYS.has(key)) problems.push(`unknown field "${key}"`);
  }
  for (const rule of RECORD_FIELD_RULES) {
    const field = value[rule.key];
    if (field === undefined) {
      if (!rule.optional) problems.push(`${rule.key} is missing`);
      continue;
    }
    if (rule.kind === 'version') {
      if (field !== EVIDENCE_RECORD_VERSION) problems.push(`v must be ${EVIDENCE_RECORD_VERSION}, not ${JSON.stringify(field)}`);
    } else if (rule.kind === 'integer') {
      if (typeof field !== 'number' || !Number.isSafeInteger(field) || field < 0 || Object.is(field, -0)) {
        problems.push(`${rule.key} must be a non-negative integer, not ${JSON.stringify(field)}`);
      }
    } else if (typeof field !== 'string' || (rule.pattern !== undefined && !rule.pattern.test(field))) {
      problems.push(`${rule.key} must be ${rule.describe ?? 'a string'}, not ${JSON.stringify(field)}`);
    }
  }
  // The pattern admits 2026-02-30; only a real instant, written the way toISOString writes it, may pass.
  const { startTime } = value;
  if (typeof startTime === 'string' && ISO_MILLIS_UTC.test(startTime)) {
    const parsed = new Date(startTime);
    if (Number.isNaN(parsed.getTime()) || parsed.toISOString() !== startTime) problems.push(`startTime ${startTime} is not a real UTC time`);
  }
  return problems;
}

function assertRecord(value: Record<string, unknown>): void {
  const problems = recordProblems(value);
  if (problems.length > 0) throw new EvidenceRecordError(problems);
}

/**
 * The canonical encoding described at the top of this file. Throws EvidenceRecordError for a
 * record this format cannot hold, so nothing malformed is ever hashed or signed.
 */
export function canonicalRecord(record: EvidenceRecord): string {
  // A record read from elsewhere may carry extra fields at run time; they must not pass silently.
  assertRecord(record as unknown as Record<string, unknown>);
  const parts: string[] = [];
  for (const rule of RECORD_FIELD_RULES) {
    const field = record[rule.key];
    if (field === undefined) continue;
    // Validated above: integers print as plain decimal, strings need no escaping.
    parts.push(`"${rule.key}":${typeof field === 'number' ? String(field) : `"${field}"`}`);
  }
  return `{${parts.join(',')}}`;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Hex SHA-256 of the record's canonical encoding: what the next record's `prev` holds. */
export function recordHash(record: EvidenceRecord): string {
  return sha256Hex(canonicalRecord(record));
}

// ---- keys and signatures ---------------------------------------------------------------------

function assertEd25519(key: KeyObject, what: string): void {
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
    throw new Error(`cannot read the evidence private key ${where}: ${(error as Error).message}`);
  }
  if (!/-----BEGIN PRIVATE KEY-----/.test(pem)) {
    throw new Error(`${where} holds no PKCS#8 private key (-----BEGIN PRIVATE KEY-----); make one with keygen`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new Error(`${where} is not a usable private key: ${(error as Error).message}`);
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
      throw new Error(`cannot read public key ${path}: ${(error as Error).message}`);
    }
    if (/PRIVATE KEY-----/.test(pem)) throw new Error(`${path} holds a private key; give the public key (evidence-public.pem)`);
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (error) {
      throw new Error(`${path} is not a PEM public key: ${(error as Error).message}`);
    }
    assertEd25519(key, path);
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

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

// ---- the chain -----------------------------------------------------------------------------

/** What a source's recorder must remember (durably) between chunks. */
export interface ChainState {
  lastRecordHash: string;
  /** -1 before the first record. */
  lastSequence: number;
}

/** The state of a source that has never made a record. */
export const GENESIS_CHAIN_STATE: Readonly<ChainState> = Object.freeze({ lastRecordHash: GENESIS_PREV, lastSequence: -1 });

/** What the recorder knows of a chunk when it makes its record: its metadata plus the SHA-256. */
export type EvidenceChunkFacts = Pick<ChunkMetadata, 'sourceId' | 'sequence' | 'startTime' | 'durationMs' | 'bytes' | 'crc32c'> & {
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
  if (!HEX_SHA256.test(state.lastRecordHash)) throw new Error(`chain state holds no record hash: ${JSON.stringify(state.lastRecordHash)}`);
  const record: EvidenceRecord = {
    v: EVIDENCE_RECORD_VERSION,
    source: facts.sourceId,
    sequence: facts.sequence,
    startTime: facts.startTime,
    durationMs: recordDurationMs(facts.durationMs),
    bytes: facts.bytes,
    sha256: facts.sha256,
    crc32c: facts.crc32c,
    prev: state.lastRecordHash,
  };
  if (facts.keyId !== undefined) record.keyId = facts.keyId;
  return { record, state: { lastRecordHash: recordHash(record), lastSequence: record.sequence } };
}

/** Chunk durations are exact to the microsecond; records hold whole milliseconds (half rounds up). */
export function recordDurationMs(durationMs: number): number {
  return Math.round(durationMs);
}

// ---- object metadata -------------------------------------------------------------------------

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
    throw new EvidenceRecordError([`${EVIDENCE_METADATA_KEYS.record} is missing although ${EVIDENCE_METADATA_KEYS.signature}/${EVIDENCE_METADATA_KEYS.keyId} are set`], context);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new EvidenceRecordError([`${EVIDENCE_METADATA_KEYS.record} is not JSON (${(error as Error).message})`], context);
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
    problems.push(`${EVIDENCE_METADATA_KEYS.keyId} is ${keyId === undefined ? 'missing' : `"${keyId}"`} but the record names ${record.keyId === undefined ? 'no key' : `key ${record.keyId}`}`);
  }
  if (signature !== undefined) {
    if (!SIGNATURE_BASE64.test(signature)) problems.push(`${EVIDENCE_METADATA_KEYS.signature} is not 64 bytes of base64`);
    if (record.keyId === undefined) problems.push(`${EVIDENCE_METADATA_KEYS.signature} is set but the record names no key`);
  }
  if (problems.length > 0) throw new EvidenceRecordError(problems, context);
  return { record, signature };
}
