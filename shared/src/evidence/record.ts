import { createHash } from 'node:crypto';
import {
  CAMERA_TIME_SOURCES,
  CHUNK_CLOCKS,
  CRC32C_BASE64_PATTERN,
  ISO_MILLIS_UTC_PATTERN,
  SOURCE_ID_PATTERN,
  type CameraTimeSource,
  type ChunkClock,
} from '../chunk.js';

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
// Version 2 (written since chunks carry the camera's clock beside the node's) adds, between crc32c
// and prev, the clock startTime is on and whatever of both clocks the chunk knows:
//   ...,"crc32c":C,"clock":K[,"cameraTimeSource":S][,"hostTime":T][,"cameraTime":T]
//   [,"clockOffsetMs":I][,"cameraClockStepMs":I][,"hostClockStepMs":I],"prev":H[,"keyId":K]}
//   Bracketed fields are left out when the chunk has no such value. I is a signed integer: a
//   leading '-' for negative values, never "-0".
// - Keys in exactly that order, no whitespace anywhere, UTF-8 (in practice ASCII).
// - Numbers are integers up to 2^53-1 in magnitude in plain decimal: no leading zeros, no
//   fraction, no exponent; non-negative (no sign) except the signed millisecond fields of v2.
// - Strings are written between double quotes with no escaping: every field is restricted to
//   characters that JSON never escapes (see RECORD_FIELD_RULES), so a third party can build the
//   bytes by concatenation and need not match any particular JSON library.
// - The record hash is the lower-case hex SHA-256 of those bytes; the signature is Ed25519
//   (RFC 8032, pure, no pre-hash) over the same bytes, carried in base64.

/** The version this program writes; it reads 1 and 2. */
export const EVIDENCE_RECORD_VERSION = 2;
export const EVIDENCE_RECORD_VERSIONS: readonly number[] = [1, 2];
/** `prev` of the first record ever made for a source. */
export const GENESIS_PREV = '0'.repeat(64);

export interface EvidenceRecord {
  v: 1 | 2;
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
  /** v2: which clock startTime is on (host, camera, file). */
  clock?: ChunkClock;
  /** v2: how the camera time was obtained (chunk metadata's cameraTimeSource). */
  cameraTimeSource?: CameraTimeSource;
  /** v2, a camera: the node's time of the first frame. */
  hostTime?: string;
  /** v2, a camera that sent a Sender Report: the camera's time of the first frame. */
  cameraTime?: string;
  /** v2: cameraTime minus hostTime (ms, signed). */
  clockOffsetMs?: number;
  /** v2: the camera's clock stepped by this much in or just before this chunk (ms, signed). */
  cameraClockStepMs?: number;
  /** v2: the node's wall clock stepped by this much against its monotonic clock since the chunk before (ms, signed). */
  hostClockStepMs?: number;
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

type FieldKind = 'version' | 'integer' | 'signed' | 'string';
interface FieldRule {
  key: keyof EvidenceRecord;
  kind: FieldKind;
  optional?: boolean;
  /** Only in records of version 2 (required there unless optional). */
  since?: 2;
  /** For strings: the whole value must match, which also keeps it free of JSON escapes. */
  pattern?: RegExp;
  describe?: string;
}

/** The canonical key order, and what each field may hold. */
const RECORD_FIELD_RULES: readonly FieldRule[] = [
  { key: 'v', kind: 'version' },
  { key: 'source', kind: 'string', pattern: SOURCE_ID_PATTERN, describe: 'a source id (letters, digits, _ and -, at most 64)' },
  { key: 'sequence', kind: 'integer' },
  { key: 'startTime', kind: 'string', pattern: ISO_MILLIS_UTC_PATTERN, describe: 'UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ' },
  { key: 'durationMs', kind: 'integer' },
  { key: 'bytes', kind: 'integer' },
  { key: 'sha256', kind: 'string', pattern: HEX_SHA256, describe: '64 lower-case hex digits' },
  { key: 'crc32c', kind: 'string', pattern: CRC32C_BASE64_PATTERN, describe: 'base64 of 4 bytes' },
  { key: 'clock', kind: 'string', since: 2, pattern: new RegExp(`^(${CHUNK_CLOCKS.join('|')})$`), describe: CHUNK_CLOCKS.join(', ') },
  {
    key: 'cameraTimeSource',
    kind: 'string',
    since: 2,
    optional: true,
    pattern: new RegExp(`^(${CAMERA_TIME_SOURCES.join('|')})$`),
    describe: CAMERA_TIME_SOURCES.join(', '),
  },
  { key: 'hostTime', kind: 'string', since: 2, optional: true, pattern: ISO_MILLIS_UTC_PATTERN, describe: 'UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ' },
  { key: 'cameraTime', kind: 'string', since: 2, optional: true, pattern: ISO_MILLIS_UTC_PATTERN, describe: 'UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ' },
  { key: 'clockOffsetMs', kind: 'signed', since: 2, optional: true },
  { key: 'cameraClockStepMs', kind: 'signed', since: 2, optional: true },
  { key: 'hostClockStepMs', kind: 'signed', since: 2, optional: true },
  { key: 'prev', kind: 'string', pattern: HEX_SHA256, describe: '64 lower-case hex digits' },
  { key: 'keyId', kind: 'string', pattern: KEY_ID, optional: true, describe: '16 lower-case hex digits' },
];
/** The rules of a record's version: v1 records hold none of the fields v2 added. */
function rulesOf(version: unknown): readonly FieldRule[] {
  return version === 2 ? RECORD_FIELD_RULES : RECORD_FIELD_RULES.filter((rule) => rule.since === undefined);
}

/** Every way `value` falls short of a valid record; empty when it is one. */
export function recordProblems(value: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const rules = rulesOf(value.v);
  const keys = new Set<string>(rules.map((rule) => rule.key));
  for (const key of Object.keys(value)) {
    if (!keys.has(key))
      problems.push(
        `unknown field "${key}"${RECORD_FIELD_RULES.some((rule) => rule.key === key) ? ` (a version 2 field in a version ${JSON.stringify(value.v)} record)` : ''}`,
      );
  }
  for (const rule of rules) {
    const field = value[rule.key];
    if (field === undefined) {
      if (!rule.optional) problems.push(`${rule.key} is missing`);
      continue;
    }
    if (rule.kind === 'version') {
      if (typeof field !== 'number' || !EVIDENCE_RECORD_VERSIONS.includes(field))
        problems.push(`v must be ${EVIDENCE_RECORD_VERSIONS.join(' or ')}, not ${JSON.stringify(field)}`);
    } else if (rule.kind === 'integer') {
      if (typeof field !== 'number' || !Number.isSafeInteger(field) || field < 0 || Object.is(field, -0)) {
        problems.push(`${rule.key} must be a non-negative integer, not ${JSON.stringify(field)}`);
      }
    } else if (rule.kind === 'signed') {
      if (typeof field !== 'number' || !Number.isSafeInteger(field) || Object.is(field, -0))
        problems.push(`${rule.key} must be an integer, not ${JSON.stringify(field)}`);
    } else if (typeof field !== 'string' || (rule.pattern !== undefined && !rule.pattern.test(field))) {
      problems.push(`${rule.key} must be ${rule.describe ?? 'a string'}, not ${JSON.stringify(field)}`);
    }
  }
  // The pattern admits 2026-02-30; only a real instant, written the way toISOString writes it, may pass.
  for (const key of ['startTime', 'hostTime', 'cameraTime'] as const) {
    const time = value[key];
    if (typeof time !== 'string' || !ISO_MILLIS_UTC_PATTERN.test(time)) continue;
    const parsed = new Date(time);
    if (Number.isNaN(parsed.getTime()) || parsed.toISOString() !== time) problems.push(`${key} ${time} is not a real UTC time`);
  }
  if (value.v === 2 && value.clock === 'camera' && value.cameraTime === undefined) problems.push('clock is camera but cameraTime is missing');
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
  for (const rule of rulesOf(record.v)) {
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

/** Chunk durations are exact to the microsecond; records hold whole milliseconds (half rounds up). */
export function recordDurationMs(durationMs: number): number {
  return Math.round(durationMs);
}

/** Whether a string is a record hash (or `prev`): 64 lower-case hex digits. */
export function isRecordHash(value: string): boolean {
  return HEX_SHA256.test(value);
}
