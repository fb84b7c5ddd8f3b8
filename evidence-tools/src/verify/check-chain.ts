import type { KeyObject } from 'node:crypto';
import { checkObjectEvidence, crc32cBase64, GENESIS_PREV, sha256Hex, type EvidenceRecord } from '@crispy-streamer/shared';
import { findChunkGaps } from '@crispy-streamer/shared/coverage';
import { clockHistory, type ClockHistory } from './clock-history.js';
import { parseChunkObjectName } from './object-names.js';

// The verifier's decisions, with no storage in sight: given what the bucket holds for a source
// (names, digests of the bytes, custom metadata), say what is intact and what is not.

/** What an object's bytes actually are, as measured by whoever read them. */
export interface ContentDigest {
  sha256: string;
  crc32c: string;
  bytes: number;
}

export function digestBytes(bytes: Uint8Array): ContentDigest {
  return { sha256: sha256Hex(bytes), crc32c: crc32cBase64(bytes), bytes: bytes.byteLength };
}

export interface StoredChunk {
  name: string;
  /** Undefined when the object's bytes are gone (a local bucket holding only NAME.meta.json). */
  content: ContentDigest | undefined;
  /** The object's custom metadata. */
  metadata: Record<string, string>;
  /** False for the neighbours of a time range: read for the links at its ends, not checked themselves. */
  inRange: boolean;
}

export interface CheckOptions {
  source: string;
  /** The bucket prefix the names are under ('' for none). */
  prefix: string;
  /** Key id -> public key. Empty: signatures are not checked. */
  publicKeys: ReadonlyMap<string, KeyObject>;
  /** Count unsigned records as problems. */
  requireSigned: boolean;
}

/** Sequences with no valid record between two chunks that have one. */
export interface GapFinding {
  firstMissingSequence: number;
  lastMissingSequence: number;
  missingCount: number;
  /** The chunk before the gap and the one after it. */
  after: string;
  before: string;
  /** Footage not covered: from the end of `after` to the start of `before`. */
  from: string;
  to: string;
  /**
   * True when the chunk after the gap links straight to the one before it: the recorder never
   * chained the missing sequences (it skipped them). False: chained chunks went missing.
   */
  chainIntact: boolean;
  /** Objects whose names fall in the gap but that carry no valid record. */
  presentWithoutRecord: string[];
}

export interface BrokenLinkFinding {
  object: string;
  sequence: number;
  /** The object holding the record `prev` should have named; undefined when there is none. */
  previous: string | undefined;
  previousSequence: number | undefined;
  reason: string;
}

export interface BadSignatureFinding {
  object: string;
  keyId: string | undefined;
  /** `invalid`: does not verify; `unknown-key`: no such public key given; `missing`: the record names a key but carries no signature. */
  problem: 'invalid' | 'unknown-key' | 'missing';
  detail: string;
}

export interface TamperFinding {
  object: string;
  reasons: string[];
}

/** Several objects claiming one chunk: the same source+sequence, or the very same bytes. */
export interface ReplayFinding {
  kind: 'same-sequence' | 'same-content';
  objects: string[];
  sequence?: number;
  sha256?: string;
}

export interface ChunkCheckReport {
  source: string;
  keyIds: string[];
  requireSigned: boolean;
  /** Objects checked (inside the time range). */
  checked: number;
  /** Bytes, name and metadata match a record whose signature verifies with a given key. */
  verified: number;
  /** Signed records whose signature was not checked because no public key was given. */
  signatureNotChecked: number;
  /** Objects whose record matches but carries no signature and names no key. */
  unsigned: string[];
  /** Objects without any evidence metadata. */
  noRecord: string[];
  gaps: GapFinding[];
  brokenLinks: BrokenLinkFinding[];
  badSignatures: BadSignatureFinding[];
  tampered: TamperFinding[];
  replays: ReplayFinding[];
  /** What the signed records of the range say of time: clocks, the camera's offset, steps. */
  clocks: ClockHistory;
  /** One per finding that counts against the result; 1 also when nothing was there to check. */
  problems: number;
  ok: boolean;
}

interface RecordedChunk {
  chunk: StoredChunk;
  record: EvidenceRecord;
  hash: string;
}

/** Checks a source's chunks: each object against its record and signature, then the chain. */
export function checkChunks(chunks: readonly StoredChunk[], options: CheckOptions): ChunkCheckReport {
  const sorted = [...chunks].sort((a, b) => compareStrings(a.name, b.name));
  const tampered: TamperFinding[] = [];
  const badSignatures: BadSignatureFinding[] = [];
  const unsigned: string[] = [];
  const noRecord: string[] = [];
  const recorded: RecordedChunk[] = [];
  let verified = 0;
  let signatureNotChecked = 0;

  for (const chunk of sorted) {
    const check = checkObjectEvidence(
      { name: chunk.name, metadata: chunk.metadata, content: chunk.content },
      { publicKeys: options.publicKeys, source: options.source, prefix: options.prefix },
    );
    const { record, recordHash: hash } = check;
    if (record === undefined || hash === undefined) {
      if (chunk.inRange) {
        if (check.noRecord) noRecord.push(chunk.name);
        else tampered.push({ object: chunk.name, reasons: check.mismatches });
      }
      continue;
    }
    recorded.push({ chunk, record, hash });
    if (!chunk.inRange) continue;

    if (check.mismatches.length > 0) tampered.push({ object: chunk.name, reasons: check.mismatches });
    const status = check.signature;
    if (status === 'unsigned') unsigned.push(chunk.name);
    else if (status === 'not-checked') signatureNotChecked += 1;
    else if (status === 'missing' || status === 'invalid' || status === 'unknown-key') {
      badSignatures.push({ object: chunk.name, keyId: record.keyId, problem: status, detail: check.signatureDetail ?? status });
    }
    if (status === 'valid' && check.mismatches.length === 0) verified += 1;
  }

  const { gaps, brokenLinks } = checkLinks(recorded, sorted, options);
  const replays = findReplays(recorded, sorted);
  const checked = sorted.filter((chunk) => chunk.inRange).length;
  const problems =
    (checked === 0 ? 1 : 0) +
    noRecord.length +
    gaps.length +
    brokenLinks.length +
    badSignatures.length +
    tampered.length +
    replays.length +
    (options.requireSigned ? unsigned.length : 0);
  return {
    source: options.source,
    keyIds: [...options.publicKeys.keys()].sort(),
    requireSigned: options.requireSigned,
    checked,
    verified,
    signatureNotChecked,
    unsigned,
    noRecord,
    gaps,
    brokenLinks,
    badSignatures,
    tampered,
    replays,
    clocks: clockHistory(recorded.filter((entry) => entry.chunk.inRange).map((entry) => ({ object: entry.chunk.name, record: entry.record }))),
    problems,
    ok: problems === 0,
  };
}

/** Walks the records in sequence order: every `prev` must be the hash of the record before. */
function checkLinks(
  recorded: readonly RecordedChunk[],
  chunks: readonly StoredChunk[],
  options: CheckOptions,
): { gaps: GapFinding[]; brokenLinks: BrokenLinkFinding[] } {
  const bySequence = new Map<number, RecordedChunk[]>();
  for (const entry of recorded) {
    const group = bySequence.get(entry.record.sequence) ?? [];
    group.push(entry);
    bySequence.set(entry.record.sequence, group);
  }
  const sequences = [...bySequence.keys()].sort((a, b) => a - b);
  const brokenLinks: BrokenLinkFinding[] = [];

  sequences.forEach((sequence, index) => {
    const group = bySequence.get(sequence) ?? [];
    if (index === 0) {
      // Nothing was read before these: they must open the chain. A neighbour before a time range is
      // not checked here; the range's first chunk is checked against it.
      for (const entry of group) {
        if (!entry.chunk.inRange || entry.record.prev === GENESIS_PREV) continue;
        brokenLinks.push({
          object: entry.chunk.name,
          sequence,
          previous: undefined,
          previousSequence: undefined,
          reason: `links to record ${entry.record.prev}, which is in no object read: the chunks before sequence ${sequence} are missing or carry no valid record`,
        });
      }
      return;
    }
    const previousSequence = sequences[index - 1] ?? -1;
    const previousGroup = bySequence.get(previousSequence) ?? [];
    // Findings at the range's ends involve a neighbour; links between two neighbours do not occur.
    if (!touchesRange(group, previousGroup)) return;
    const previousHashes = new Set(previousGroup.map((entry) => entry.hash));
    const previousName = firstName(previousGroup);
    for (const entry of group) {
      if (previousHashes.has(entry.record.prev)) continue;
      const restarts = entry.record.prev === GENESIS_PREV;
      brokenLinks.push({
        object: entry.chunk.name,
        sequence,
        previous: previousName,
        previousSequence,
        reason: restarts
          ? `starts a new chain (prev is all zeros) although ${previousName} (sequence ${previousSequence}) comes before it`
          : `prev ${entry.record.prev} is not the hash of the record of ${previousName} (sequence ${previousSequence})`,
      });
    }
  });

  // Missing sequences, by the gap rule the coverage command shares (time alone is no finding here).
  const timed = recorded.map((entry) => ({
    entry,
    sequence: entry.record.sequence,
    startMs: Date.parse(entry.record.startTime),
    durationMs: entry.record.durationMs,
  }));
  const gaps: GapFinding[] = [];
  for (const gap of findChunkGaps(timed, { minUncoveredMs: Infinity })) {
    const after = gap.after.map((item) => item.entry);
    const before = gap.before.map((item) => item.entry);
    if (!touchesRange(before, after)) continue;
    const beforeSequence = gap.lastMissingSequence + 1;
    gaps.push({
      firstMissingSequence: gap.firstMissingSequence,
      lastMissingSequence: gap.lastMissingSequence,
      missingCount: gap.missingCount,
      after: firstName(after),
      before: firstName(before),
      from: new Date(gap.fromMs).toISOString(),
      to: new Date(gap.toMs).toISOString(),
      chainIntact: !brokenLinks.some((link) => link.sequence === beforeSequence && link.previous !== undefined),
      presentWithoutRecord: namesInSequenceRange(chunks, recorded, options, gap.firstMissingSequence, gap.lastMissingSequence),
    });
  }
  return { gaps, brokenLinks };
}

/** Whether either group holds a chunk inside the range (a finding between two neighbours is none). */
function touchesRange(group: readonly RecordedChunk[], previousGroup: readonly RecordedChunk[]): boolean {
  return group.some((entry) => entry.chunk.inRange) || previousGroup.some((entry) => entry.chunk.inRange);
}

/** Objects that are there, by name, for sequences in [first, last], but whose record is not valid. */
function namesInSequenceRange(
  chunks: readonly StoredChunk[],
  recorded: readonly RecordedChunk[],
  options: CheckOptions,
  first: number,
  last: number,
): string[] {
  const withRecord = new Set(recorded.map((entry) => entry.chunk.name));
  return chunks
    .filter((chunk) => !withRecord.has(chunk.name))
    .filter((chunk) => {
      const parsed = parseChunkObjectName(options.prefix, options.source, chunk.name);
      return parsed !== undefined && parsed.sequence >= first && parsed.sequence <= last;
    })
    .map((chunk) => chunk.name);
}

/** Two objects for one sequence, or one set of bytes under two names. */
function findReplays(recorded: readonly RecordedChunk[], chunks: readonly StoredChunk[]): ReplayFinding[] {
  const replays: ReplayFinding[] = [];
  const bySequence = groupBy(recorded, (entry) => String(entry.record.sequence));
  for (const group of bySequence.values()) {
    if (group.length < 2 || !group.some((entry) => entry.chunk.inRange)) continue;
    const sequence = group[0]?.record.sequence ?? -1;
    replays.push({ kind: 'same-sequence', sequence, objects: group.map((entry) => entry.chunk.name) });
  }
  const byContent = groupBy(
    chunks.filter((chunk) => chunk.content !== undefined),
    (chunk) => chunk.content?.sha256 ?? '',
  );
  for (const [sha256, group] of byContent) {
    if (group.length < 2 || !group.some((chunk) => chunk.inRange)) continue;
    replays.push({ kind: 'same-content', sha256, objects: group.map((chunk) => chunk.name) });
  }
  return replays;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key) ?? [];
    group.push(item);
    groups.set(key, group);
  }
  return groups;
}

function firstName(group: readonly RecordedChunk[]): string {
  return group.map((entry) => entry.chunk.name).sort(compareStrings)[0] ?? '(none)';
}

/** Code-unit order, the order Cloud Storage lists names in; independent of the locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
