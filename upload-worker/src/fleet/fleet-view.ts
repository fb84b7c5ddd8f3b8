import { buildCoverage, type Coverage, type SegmentKind, type StoredChunk } from '@crispy-streamer/shared/coverage';
import {
  HEALTH_RANK,
  assessCamera,
  chunkOverdueAfterMs,
  type CameraHealth,
  type CameraStatus,
  type FleetUploads,
  type TimeSpan,
} from '@crispy-streamer/shared/fleet';
import type { InvalidRecord } from './fleet-store.js';

// What the fleet page shows, decided here from what Redis and the bucket say: one row per camera
// of every node, worst first, with its 24-hour coverage strip and its gaps. Plain data in, plain
// JSON out; the page only draws it.

/** The 24-hour strip: a cell a minute. The last hour's: a cell each 5 s. */
export const STRIP_CELLS = 1440;
export const HOUR_STRIP_CELLS = 720;
/**
 * Cell codes of the strip, one character per cell; the worst kind in a cell wins. `none`: before
 * the source's first chunk in the window (the camera may not have existed); it is listed among the
 * gaps all the same. `unknown`: the bucket has not been listed yet.
 */
type CellKind = SegmentKind | 'none' | 'unknown';
export const STRIP_CODES: Readonly<Record<CellKind, string>> = { gap: 'g', pending: 'p', 'in-progress': 'i', stored: 's', none: 'n', unknown: 'u' };
const CELL_ORDER: readonly CellKind[] = ['gap', 'pending', 'unknown', 'none', 'in-progress', 'stored'];
const MAX_GAPS_LISTED = 200;

export interface CameraBucketView {
  chunks: readonly StoredChunk[];
  listedAtMs: number | undefined;
  error: string | undefined;
}

export interface FleetViewInput {
  nowMs: number;
  windowMs: number;
  statuses: readonly CameraStatus[];
  invalid: readonly InvalidRecord[];
  bucketOf: (source: string) => CameraBucketView;
  uploads: FleetUploads;
  /** Where the coverage comes from, for the page. */
  bucket: string;
  redisError: string | undefined;
}

export interface FleetRow {
  id: string;
  node: string;
  source: string;
  health: CameraHealth;
  rank: number;
  summary: string;
  problems: string[];
  state: CameraStatus['state'];
  stateSince: string;
  reason: string | null;
  live: boolean;
  video: CameraStatus['video'] | null;
  lastChunk: { sequence: number; end: string; ageMs: number } | null;
  lastStored: { at: string; ageMs: number } | null;
  lastHour: CameraStatus['lastHour'];
  lastDay: CameraStatus['lastDay'];
  spool: { waitingChunks: number; waitingBytes: number; oldestWaitingAgeMs: number | null; freeBytes: number; usageRatio: number };
  clockSync: CameraStatus['clockSync'];
  heartbeatAgeMs: number;
  coverage: {
    /** From the bucket's listing; false until the worker has listed it. */
    known: boolean;
    listedAgeMs: number | null;
    error: string | null;
    /** Run-length encoded cells (`s1400g3s37`: 1400 stored, 3 gap, 37 stored), oldest first. */
    strip: string;
    /** The last hour, likewise. */
    hourStrip: string;
    /** Start of the first footage the window knows of (its first chunk, or an outage the node reports), when the window begins before it. */
    firstChunk: string | null;
    /** Share of the window from its first footage that is recorded (in the bucket or being recorded). */
    storedRatio: number;
    hourStoredRatio: number;
    pendingRatio: number;
    gapMs: number;
    gaps: {
      from: string;
      to: string;
      durationMs: number;
      missingSequences: { first: number; last: number; count: number } | null;
      edge: 'start' | 'end' | null;
    }[];
    pending: { from: string; to: string }[];
    gapsTruncated: boolean;
  };
  /** Another node reports the same source id: their chunks share one folder of the bucket. */
  duplicateSource: boolean;
}

export interface FleetView {
  at: string;
  window: { from: string; to: string; ms: number };
  bucket: string;
  summary: Record<CameraHealth, number> & { cameras: number; nodes: number };
  rows: FleetRow[];
  uploads: FleetUploads;
  invalid: InvalidRecord[];
  redisError: string | null;
}

export function buildFleetView(input: FleetViewInput): FleetView {
  const { nowMs, windowMs } = input;
  const range = { fromMs: nowMs - windowMs, toMs: nowMs };
  const sourceCount = new Map<string, number>();
  for (const status of input.statuses) sourceCount.set(status.sourceId, (sourceCount.get(status.sourceId) ?? 0) + 1);

  const rows = input.statuses.map((status): FleetRow => {
    const assessment = assessCamera(status, nowMs);
    const bucket = input.bucketOf(status.sourceId);
    const known = bucket.listedAtMs !== undefined;
    const coverage = buildCoverage({
      range,
      nowMs,
      stored: bucket.chunks,
      pending: status.spool.waitingSpans,
      live: { recording: status.state === 'recording' && assessment.health !== 'stale', allowanceMs: chunkOverdueAfterMs(status.chunkSeconds) },
    });
    const lastStoredMs = input.uploads.sources[status.sourceId]?.lastStoredMs;
    const newestGaps = coverage.gaps.slice(-MAX_GAPS_LISTED);
    // The recorder's own gaps (an outage going on included) are known gaps, also before the
    // first chunk the bucket holds: a camera dark all day is red, not "before its first chunk".
    const nodeGaps = status.live ? status.recentGaps : [];
    const before = leadingNoneMs(coverage, nodeGaps);
    return {
      id: `${status.nodeId}/${status.sourceId}`,
      node: status.nodeId,
      source: status.sourceId,
      health: assessment.health,
      rank: HEALTH_RANK[assessment.health],
      summary: assessment.summary,
      problems: assessment.problems,
      state: status.state,
      stateSince: iso(status.stateSinceMs),
      reason: status.reason ?? null,
      live: status.live,
      video: status.video ?? null,
      lastChunk:
        status.lastChunk === undefined
          ? null
          : { sequence: status.lastChunk.sequence, end: iso(status.lastChunk.endMs), ageMs: nowMs - status.lastChunk.endMs },
      lastStored: lastStoredMs === undefined ? null : { at: iso(lastStoredMs), ageMs: nowMs - lastStoredMs },
      lastHour: status.lastHour,
      lastDay: status.lastDay,
      spool: {
        waitingChunks: status.spool.waitingChunks,
        waitingBytes: status.spool.waitingBytes,
        oldestWaitingAgeMs: status.spool.oldestWaitingEndMs === undefined ? null : nowMs - status.spool.oldestWaitingEndMs,
        freeBytes: status.spool.freeBytes,
        usageRatio: status.spool.usageRatio,
      },
      clockSync: status.clockSync,
      heartbeatAgeMs: nowMs - status.heartbeatMs,
      coverage: {
        known,
        listedAgeMs: bucket.listedAtMs === undefined ? null : nowMs - bucket.listedAtMs,
        error: bucket.error ?? null,
        strip: runLength(known ? coverageStrip(coverage, STRIP_CELLS, coverage.fromMs, nodeGaps) : STRIP_CODES.unknown.repeat(STRIP_CELLS)),
        hourStrip: runLength(known ? coverageStrip(coverage, HOUR_STRIP_CELLS, nowMs - 3600_000, nodeGaps) : STRIP_CODES.unknown.repeat(HOUR_STRIP_CELLS)),
        firstChunk: known && before.ms > 0 ? iso(coverage.fromMs + before.ms) : null,
        storedRatio: share(coverage, ['stored', 'in-progress'], coverage.fromMs, coverage.fromMs + before.ms),
        hourStoredRatio: share(coverage, ['stored', 'in-progress'], nowMs - 3600_000, coverage.fromMs + before.ms),
        pendingRatio: share(coverage, ['pending'], coverage.fromMs, coverage.fromMs + before.ms),
        gapMs: known ? coverage.gapMs - before.ms : 0,
        gaps: known
          ? newestGaps.map((gap) => ({
              from: iso(gap.fromMs),
              to: iso(gap.toMs),
              durationMs: gap.durationMs,
              missingSequences: gap.missingSequences ?? null,
              edge: gap.edge ?? null,
            }))
          : [],
        pending: coverage.segments.filter((s) => s.kind === 'pending').map((s) => ({ from: iso(s.fromMs), to: iso(s.toMs) })),
        gapsTruncated: known && coverage.gaps.length > newestGaps.length,
      },
      duplicateSource: (sourceCount.get(status.sourceId) ?? 0) > 1,
    };
  });
  rows.sort((a, b) => a.rank - b.rank || a.coverage.storedRatio - b.coverage.storedRatio || compare(a.node, b.node) || compare(a.source, b.source));
  const summary = { down: 0, stale: 0, warn: 0, ok: 0, idle: 0, cameras: rows.length, nodes: new Set(rows.map((row) => row.node)).size };
  for (const row of rows) summary[row.health]++;
  return {
    at: iso(nowMs),
    window: { from: iso(range.fromMs), to: iso(range.toMs), ms: windowMs },
    bucket: input.bucket,
    summary,
    rows,
    uploads: input.uploads,
    invalid: [...input.invalid],
    redisError: input.redisError ?? null,
  };
}

/**
 * How long the window runs before anything is known of the source: the gap before its first chunk
 * in the bucket, less any gap the node reports there (that time was missed, not unknown).
 */
function leadingNoneMs(coverage: Coverage, nodeGaps: readonly TimeSpan[]): { ms: number } {
  const leading = coverage.gaps[0]?.edge === 'start' ? coverage.gaps[0] : undefined;
  if (leading === undefined) return { ms: 0 };
  const knownFrom = Math.min(leading.toMs, ...nodeGaps.map((gap) => Math.max(gap.fromMs, leading.fromMs)));
  return { ms: Math.max(0, knownFrom - leading.fromMs) };
}

/**
 * The coverage from `fromMs` to its end in `cells` equal cells, each the worst kind found in it;
 * `nodeGaps` (the recorder's) are painted as gaps over what would be "before its first chunk".
 */
export function coverageStrip(coverage: Coverage, cells: number, fromMs = coverage.fromMs, nodeGaps: readonly TimeSpan[] = []): string {
  const span = coverage.toMs - fromMs;
  const codes: CellKind[] = new Array<CellKind>(cells).fill('unknown');
  if (span <= 0) return codes.map((kind) => STRIP_CODES[kind]).join('');
  const cellMs = span / cells;
  const leading = coverage.gaps[0]?.edge === 'start' ? coverage.gaps[0] : undefined;
  for (const segment of coverage.segments) {
    const kind: CellKind = leading !== undefined && segment.kind === 'gap' && segment.fromMs === leading.fromMs ? 'none' : segment.kind;
    if (segment.toMs <= fromMs) continue;
    const first = Math.max(0, Math.floor((segment.fromMs - fromMs) / cellMs));
    const last = Math.min(cells - 1, Math.ceil((segment.toMs - fromMs) / cellMs) - 1);
    for (let cell = first; cell <= last; cell++) {
      const current = codes[cell] ?? 'unknown';
      if (current === 'unknown' || CELL_ORDER.indexOf(kind) < CELL_ORDER.indexOf(current)) codes[cell] = kind;
    }
  }
  for (const gap of nodeGaps) {
    if (gap.toMs <= fromMs || gap.fromMs >= coverage.toMs) continue;
    const first = Math.max(0, Math.floor((gap.fromMs - fromMs) / cellMs));
    const last = Math.min(cells - 1, Math.ceil((gap.toMs - fromMs) / cellMs) - 1);
    for (let cell = first; cell <= last; cell++) if (codes[cell] === 'none') codes[cell] = 'gap';
  }
  return codes.map((kind) => STRIP_CODES[kind]).join('');
}

/** `sssgg` as `s3g2`: a strip of a day is a few runs, not 1440 characters a second. */
export function runLength(cells: string): string {
  let out = '';
  for (let i = 0; i < cells.length;) {
    let j = i;
    while (j < cells.length && cells[j] === cells[i]) j++;
    out += `${cells[i]}${j - i}`;
    i = j;
  }
  return out;
}

/** The share of [fromMs, end] taken by segments of `kinds`, leaving out what lies before anything was known. */
function share(coverage: Coverage, kinds: readonly SegmentKind[], fromMs: number, knownFromMs: number): number {
  const start = Math.max(fromMs, knownFromMs);
  const span = coverage.toMs - start;
  if (span <= 0) return 0;
  const ms = coverage.segments.filter((s) => kinds.includes(s.kind)).reduce((sum, s) => sum + Math.max(0, s.toMs - Math.max(s.fromMs, start)), 0);
  return Math.round((ms / span) * 10_000) / 10_000;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
