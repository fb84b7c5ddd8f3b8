import type { TimeSpan } from '../fleet/camera-status.js';
import { GAP_TOLERANCE_MS, findChunkGaps, type TimedChunk } from './chunk-gaps.js';

// A source's coverage of a stretch of time: what is in the bucket, what is recorded but still
// waiting in a node's spool, what nobody has. The coverage command prints it, the fleet page
// draws it. Gaps between stored chunks come from findChunkGaps, the rule `verify` uses too.

/**
 * - `stored`: chunks in the bucket.
 * - `pending`: recorded, waiting in the node's spool (not yet in the bucket).
 * - `gap`: no footage anywhere.
 * - `in-progress`: the chunk being recorded right now (after the last one, within a chunk's time).
 */
export type SegmentKind = 'stored' | 'pending' | 'gap' | 'in-progress';

export interface CoverageSegment extends TimeSpan {
  kind: SegmentKind;
}

export interface CoverageGap extends TimeSpan {
  durationMs: number;
  /**
   * Sequences absent from the bucket between the chunks on either side. None: the recorder had
   * no footage (the camera was down); some: chunks were recorded that the bucket lacks and no
   * spool holds (dropped, lost, or deleted).
   */
  missingSequences: { first: number; last: number; count: number } | undefined;
  /** At the start or end of the range, with no chunk beyond it to close it. */
  edge: 'start' | 'end' | undefined;
}

export interface Coverage extends TimeSpan {
  /** Tile [fromMs, toMs) in order. */
  segments: CoverageSegment[];
  gaps: CoverageGap[];
  storedMs: number;
  pendingMs: number;
  gapMs: number;
  inProgressMs: number;
  longestGapMs: number;
  /** Chunks of the bucket overlapping the range. */
  storedChunks: number;
}

export interface CoverageInput {
  /** What is asked about; its end is cut at `nowMs` (the future is not a gap). */
  range: TimeSpan;
  nowMs: number;
  /** Chunks in the bucket, with those just before and after the range if known. */
  stored: readonly TimedChunk[];
  /** Footage recorded and waiting in a spool (camera-status.ts), oldest first or not. */
  pending: readonly TimeSpan[];
  toleranceMs?: number;
  /** When the source records right now: the time since its last chunk, up to `allowanceMs`, is in progress. */
  live?: { recording: boolean; allowanceMs: number };
}

interface RawGap extends TimeSpan {
  missingSequences: CoverageGap['missingSequences'];
  edge: CoverageGap['edge'];
}

export function buildCoverage(input: CoverageInput): Coverage {
  const tolerance = input.toleranceMs ?? GAP_TOLERANCE_MS;
  const fromMs = input.range.fromMs;
  const toMs = Math.max(fromMs, Math.min(input.range.toMs, input.nowMs));
  const raw: RawGap[] = [];
  const chunks = input.stored.filter((chunk) => Number.isFinite(chunk.startMs) && chunk.durationMs >= 0);
  if (chunks.length === 0) {
    raw.push({ fromMs, toMs, missingSequences: undefined, edge: 'start' });
  } else {
    const firstStart = Math.min(...chunks.map((chunk) => chunk.startMs));
    const lastEnd = Math.max(...chunks.map((chunk) => chunk.startMs + chunk.durationMs));
    if (firstStart - fromMs > tolerance) raw.push({ fromMs, toMs: firstStart, missingSequences: undefined, edge: 'start' });
    for (const gap of findChunkGaps(chunks, { minUncoveredMs: tolerance })) {
      raw.push({
        fromMs: gap.fromMs,
        toMs: gap.toMs,
        missingSequences: gap.missingCount === 0 ? undefined : { first: gap.firstMissingSequence, last: gap.lastMissingSequence, count: gap.missingCount },
        edge: undefined,
      });
    }
    if (toMs - lastEnd > tolerance) raw.push({ fromMs: lastEnd, toMs, missingSequences: undefined, edge: 'end' });
  }

  // Gaps in the range, less what a spool holds; the rest of the range is stored.
  const pending = mergeSpans(input.pending.map((span) => clip(span, fromMs, toMs)).filter(nonEmpty));
  const holes: CoverageSegment[] = [];
  const gaps: CoverageGap[] = [];
  for (const gap of raw) {
    const clipped = clip(gap, fromMs, toMs);
    if (!nonEmpty(clipped)) continue;
    for (const piece of subtract(clipped, pending)) {
      holes.push({ ...piece, kind: 'gap' });
    }
    for (const span of pending) {
      const overlap = clip(span, clipped.fromMs, clipped.toMs);
      if (nonEmpty(overlap)) holes.push({ ...overlap, kind: 'pending' });
    }
  }
  holes.sort((a, b) => a.fromMs - b.fromMs);
  // The time since the last chunk of a source recording right now is its chunk in the making.
  const last = holes[holes.length - 1];
  if (
    last !== undefined &&
    last.kind === 'gap' &&
    last.toMs === toMs &&
    toMs === input.nowMs &&
    input.live?.recording === true &&
    last.toMs - last.fromMs <= input.live.allowanceMs
  ) {
    last.kind = 'in-progress';
  }
  for (const hole of holes) {
    if (hole.kind !== 'gap') continue;
    const origin = raw.find((gap) => gap.fromMs <= hole.fromMs && gap.toMs >= hole.toMs);
    gaps.push({ fromMs: hole.fromMs, toMs: hole.toMs, durationMs: hole.toMs - hole.fromMs, missingSequences: origin?.missingSequences, edge: origin?.edge });
  }

  const segments: CoverageSegment[] = [];
  let cursor = fromMs;
  for (const hole of holes) {
    // Sequences out of time order can make two holes overlap: each moment is drawn once.
    const fromHere = Math.max(hole.fromMs, cursor);
    if (hole.toMs <= fromHere) continue;
    if (fromHere > cursor) segments.push({ kind: 'stored', fromMs: cursor, toMs: fromHere });
    segments.push({ ...hole, fromMs: fromHere });
    cursor = hole.toMs;
  }
  if (cursor < toMs) segments.push({ kind: 'stored', fromMs: cursor, toMs });
  const total = (kind: SegmentKind) => segments.filter((s) => s.kind === kind).reduce((sum, s) => sum + s.toMs - s.fromMs, 0);
  return {
    fromMs,
    toMs,
    segments: joinNeighbours(segments),
    gaps,
    storedMs: total('stored'),
    pendingMs: total('pending'),
    gapMs: total('gap'),
    inProgressMs: total('in-progress'),
    longestGapMs: Math.max(0, ...gaps.map((gap) => gap.durationMs)),
    storedChunks: chunks.filter((chunk) => chunk.startMs < toMs && chunk.startMs + chunk.durationMs > fromMs).length,
  };
}

function clip(span: TimeSpan, fromMs: number, toMs: number): TimeSpan {
  return { fromMs: Math.max(span.fromMs, fromMs), toMs: Math.min(span.toMs, toMs) };
}

function nonEmpty(span: TimeSpan): boolean {
  return span.toMs > span.fromMs;
}

/** Sorted, overlapping or touching spans joined. */
export function mergeSpans(spans: readonly TimeSpan[]): TimeSpan[] {
  const sorted = [...spans].sort((a, b) => a.fromMs - b.fromMs);
  const merged: TimeSpan[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && span.fromMs <= last.toMs) last.toMs = Math.max(last.toMs, span.toMs);
    else merged.push({ fromMs: span.fromMs, toMs: span.toMs });
  }
  return merged;
}

/** `span` less the (merged, sorted) `cuts`. */
function subtract(span: TimeSpan, cuts: readonly TimeSpan[]): TimeSpan[] {
  const pieces: TimeSpan[] = [];
  let cursor = span.fromMs;
  for (const cut of cuts) {
    if (cut.toMs <= cursor || cut.fromMs >= span.toMs) continue;
    if (cut.fromMs > cursor) pieces.push({ fromMs: cursor, toMs: cut.fromMs });
    cursor = Math.max(cursor, cut.toMs);
  }
  if (cursor < span.toMs) pieces.push({ fromMs: cursor, toMs: span.toMs });
  return pieces;
}

/** Two stored segments side by side (a zero-length hole between them) become one. */
function joinNeighbours(segments: CoverageSegment[]): CoverageSegment[] {
  const joined: CoverageSegment[] = [];
  for (const segment of segments) {
    if (segment.toMs <= segment.fromMs) continue;
    const last = joined[joined.length - 1];
    if (last !== undefined && last.kind === segment.kind && last.toMs === segment.fromMs) last.toMs = segment.toMs;
    else joined.push({ ...segment });
  }
  return joined;
}
