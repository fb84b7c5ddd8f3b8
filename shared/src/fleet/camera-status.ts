import { SOURCE_ID_PATTERN, type ClockSync } from '../chunk.js';

// One camera's status as stream-handle publishes it in Redis (key: status-keys.ts). Written by
// one process, read by others of possibly another version: every field is checked on the way in.
// Times are epoch milliseconds.

export const CAMERA_STATUS_VERSION = 1;

/**
 * - `starting`: ffmpeg started, no chunk yet.
 * - `recording`: chunks are arriving.
 * - `reconnecting`: a live source's stream ended; ffmpeg is being restarted with backoff.
 * - `paused`: the spool is full (policy stop-recording); recording resumes when uploads make room.
 * - `failed`: the source gave up (a file ffmpeg cannot read, say), with the reason.
 * - `finished`: a file source ingested whole. `stopped`: the service was asked to stop.
 */
export const CAMERA_STATES = ['starting', 'recording', 'reconnecting', 'paused', 'failed', 'finished', 'stopped'] as const;
export type CameraState = (typeof CAMERA_STATES)[number];

/** A stretch of time, [fromMs, toMs). */
export interface TimeSpan {
  fromMs: number;
  toMs: number;
}

export interface WindowCounts {
  /** Times the stream dropped and recording had to reconnect. */
  reconnects: number;
  /** Gaps between chunks (and an outage still going on) within the window. */
  gaps: number;
  /** Seconds of those gaps that fall within the window. */
  gapSeconds: number;
}

export interface CameraStatus {
  version: typeof CAMERA_STATUS_VERSION;
  nodeId: string;
  sourceId: string;
  /** A camera or stream (it reconnects), not a file. */
  live: boolean;
  state: CameraState;
  stateSinceMs: number;
  /** Why it is reconnecting, paused or failed. */
  reason: string | undefined;
  /** When the node last wrote this status; older than staleAfterMs means the node is silent. */
  heartbeatMs: number;
  staleAfterMs: number;
  chunkSeconds: number;
  /** What the last chunks held. */
  video: { width: number; height: number; codec: string; bitrateBps: number } | undefined;
  lastChunk: { sequence: number; startMs: number; endMs: number; recordedAtMs: number } | undefined;
  lastHour: WindowCounts;
  lastDay: WindowCounts;
  /** The last gaps, oldest first, at most MAX_RECENT_GAPS; `ongoing`: not recording since fromMs. */
  recentGaps: (TimeSpan & { ongoing: boolean })[];
  spool: {
    /** Chunks recorded and waiting in the spool (not yet in the bucket). */
    waitingChunks: number;
    waitingBytes: number;
    /** End of the oldest waiting chunk: it has waited since then. */
    oldestWaitingEndMs: number | undefined;
    /** The waiting chunks as stretches of footage, oldest first, at most MAX_WAITING_SPANS. */
    waitingSpans: TimeSpan[];
    /** True when more chunks wait than waitingSpans describes. */
    waitingSpansTruncated: boolean;
    /** The node's spool file system: free bytes, and how close it is to full by the spool policy (1 = full). */
    freeBytes: number;
    usageRatio: number;
  };
  clockSync: ClockSync;
}

export const MAX_RECENT_GAPS = 50;
export const MAX_WAITING_SPANS = 100;

/** The hash fields written to Redis: scalars as text, structures as JSON. */
export function serializeCameraStatus(status: CameraStatus): Record<string, string> {
  return {
    version: String(status.version),
    nodeId: status.nodeId,
    sourceId: status.sourceId,
    live: status.live ? '1' : '0',
    state: status.state,
    stateSinceMs: String(status.stateSinceMs),
    reason: status.reason ?? '',
    heartbeatMs: String(status.heartbeatMs),
    staleAfterMs: String(status.staleAfterMs),
    chunkSeconds: String(status.chunkSeconds),
    video: JSON.stringify(status.video ?? null),
    lastChunk: JSON.stringify(status.lastChunk ?? null),
    lastHour: JSON.stringify(status.lastHour),
    lastDay: JSON.stringify(status.lastDay),
    recentGaps: JSON.stringify(status.recentGaps.slice(-MAX_RECENT_GAPS)),
    spool: JSON.stringify({ ...status.spool, waitingSpans: status.spool.waitingSpans.slice(0, MAX_WAITING_SPANS) }),
    clockSync: status.clockSync,
  };
}

export type ParsedCameraStatus = { ok: true; status: CameraStatus } | { ok: false; problems: string[] };

/** Reads a hash back; names every field that is missing or malformed instead of guessing. */
export function parseCameraStatus(hash: Record<string, string | undefined>): ParsedCameraStatus {
  const problems: string[] = [];
  const version = Number(hash.version);
  if (hash.version === undefined) return { ok: false, problems: ['no version field: not a camera status'] };
  if (version !== CAMERA_STATUS_VERSION) {
    return {
      ok: false,
      problems: [
        `version ${hash.version}: this reader knows version ${CAMERA_STATUS_VERSION} only (${version > CAMERA_STATUS_VERSION ? 'written by a newer stream-handle' : 'not a version we wrote'})`,
      ],
    };
  }
  const field = new FieldReader(hash, problems);
  const nodeId = field.text('nodeId', (v) => v !== '', 'a node id');
  const sourceId = field.text('sourceId', (v) => SOURCE_ID_PATTERN.test(v), 'a source id');
  const live = field.text('live', (v) => v === '0' || v === '1', '0 or 1') === '1';
  const state = field.text('state', (v) => (CAMERA_STATES as readonly string[]).includes(v), CAMERA_STATES.join(', ')) as CameraState;
  const reason = hash.reason === undefined || hash.reason === '' ? undefined : hash.reason;
  const stateSinceMs = field.time('stateSinceMs');
  const heartbeatMs = field.time('heartbeatMs');
  const staleAfterMs = field.number('staleAfterMs', (n) => Number.isSafeInteger(n) && n > 0, 'milliseconds > 0');
  const chunkSeconds = field.number('chunkSeconds', (n) => Number.isFinite(n) && n > 0, 'seconds > 0');
  const clockSync = field.text(
    'clockSync',
    (v) => v === 'synchronised' || v === 'unsynchronised' || v === 'unknown',
    'synchronised, unsynchronised or unknown',
  ) as ClockSync;

  const video = field.json(
    'video',
    (v): CameraStatus['video'] | false => {
      if (v === null) return undefined;
      if (!isObject(v) || !isCount(v.width) || !isCount(v.height) || typeof v.codec !== 'string' || !isNonNegative(v.bitrateBps)) return false;
      return { width: v.width, height: v.height, codec: v.codec, bitrateBps: v.bitrateBps };
    },
    'null or {width, height, codec, bitrateBps}',
  );
  const lastChunk = field.json(
    'lastChunk',
    (v): CameraStatus['lastChunk'] | false => {
      if (v === null) return undefined;
      if (!isObject(v) || !isCount(v.sequence) || !isTime(v.startMs) || !isTime(v.endMs) || !isTime(v.recordedAtMs) || v.endMs < v.startMs) return false;
      return { sequence: v.sequence, startMs: v.startMs, endMs: v.endMs, recordedAtMs: v.recordedAtMs };
    },
    'null or {sequence, startMs, endMs, recordedAtMs}',
  );
  const counts = (v: unknown): WindowCounts | false =>
    isObject(v) && isCount(v.reconnects) && isCount(v.gaps) && isNonNegative(v.gapSeconds)
      ? { reconnects: v.reconnects, gaps: v.gaps, gapSeconds: v.gapSeconds }
      : false;
  const lastHour = field.json('lastHour', counts, '{reconnects, gaps, gapSeconds}');
  const lastDay = field.json('lastDay', counts, '{reconnects, gaps, gapSeconds}');
  const recentGaps = field.json(
    'recentGaps',
    (v): CameraStatus['recentGaps'] | false => {
      if (!Array.isArray(v) || v.length > MAX_RECENT_GAPS) return false;
      const gaps: CameraStatus['recentGaps'] = [];
      for (const gap of v as unknown[]) {
        if (!isSpan(gap) || !isObject(gap) || typeof gap.ongoing !== 'boolean') return false;
        gaps.push({ fromMs: gap.fromMs, toMs: gap.toMs, ongoing: gap.ongoing });
      }
      return gaps;
    },
    `a list of at most ${MAX_RECENT_GAPS} {fromMs, toMs, ongoing}`,
  );
  const spool = field.json(
    'spool',
    (v): CameraStatus['spool'] | false => {
      if (!isObject(v) || !isCount(v.waitingChunks) || !isCount(v.waitingBytes) || !isCount(v.freeBytes) || !isNonNegative(v.usageRatio)) return false;
      if (v.oldestWaitingEndMs !== undefined && v.oldestWaitingEndMs !== null && !isTime(v.oldestWaitingEndMs)) return false;
      if (
        !Array.isArray(v.waitingSpans) ||
        v.waitingSpans.length > MAX_WAITING_SPANS ||
        !v.waitingSpans.every(isSpan) ||
        typeof v.waitingSpansTruncated !== 'boolean'
      )
        return false;
      return {
        waitingChunks: v.waitingChunks,
        waitingBytes: v.waitingBytes,
        oldestWaitingEndMs: typeof v.oldestWaitingEndMs === 'number' ? v.oldestWaitingEndMs : undefined,
        waitingSpans: v.waitingSpans.map((span) => ({ fromMs: span.fromMs, toMs: span.toMs })),
        waitingSpansTruncated: v.waitingSpansTruncated,
        freeBytes: v.freeBytes,
        usageRatio: v.usageRatio,
      };
    },
    '{waitingChunks, waitingBytes, oldestWaitingEndMs, waitingSpans, waitingSpansTruncated, freeBytes, usageRatio}',
  );

  if (problems.length > 0 || lastHour === undefined || lastDay === undefined || recentGaps === undefined || spool === undefined) return { ok: false, problems };
  return {
    ok: true,
    status: {
      version: CAMERA_STATUS_VERSION,
      nodeId,
      sourceId,
      live,
      state,
      stateSinceMs,
      reason,
      heartbeatMs,
      staleAfterMs,
      chunkSeconds,
      video,
      lastChunk,
      lastHour,
      lastDay,
      recentGaps,
      spool,
      clockSync,
    },
  };
}

/** Reads typed fields of a hash, collecting what is wrong with each. */
class FieldReader {
  constructor(
    private readonly hash: Record<string, string | undefined>,
    private readonly problems: string[],
  ) {}

  text(name: string, ok: (value: string) => boolean, what: string): string {
    const value = this.hash[name];
    if (value === undefined || !ok(value)) {
      this.problems.push(`${name} must be ${what}, not ${value === undefined ? 'missing' : JSON.stringify(value.slice(0, 80))}`);
      return '';
    }
    return value;
  }

  number(name: string, ok: (value: number) => boolean, what: string): number {
    const raw = this.hash[name];
    const value = raw === undefined || raw.trim() === '' ? Number.NaN : Number(raw);
    if (!ok(value)) {
      this.problems.push(`${name} must be ${what}, not ${raw === undefined ? 'missing' : JSON.stringify(raw.slice(0, 80))}`);
      return 0;
    }
    return value;
  }

  time(name: string): number {
    return this.number(name, isTime, 'a time in epoch milliseconds');
  }

  /** `read` returns the value, or false when the JSON has the wrong shape. */
  json<T>(name: string, read: (value: unknown) => T | false, what: string): T | undefined {
    const raw = this.hash[name];
    if (raw === undefined) {
      this.problems.push(`${name} must be ${what}, not missing`);
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      this.problems.push(`${name} is not JSON`);
      return undefined;
    }
    const value = read(parsed);
    if (value === false) {
      this.problems.push(`${name} must be ${what}`);
      return undefined;
    }
    return value;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isNonNegative(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** Epoch milliseconds between 2000 and 2200: anything else is a unit or a clock mistake. */
function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 946_684_800_000 && value < 7_258_118_400_000;
}

function isSpan(value: unknown): value is TimeSpan {
  return isObject(value) && isTime(value.fromMs) && isTime(value.toMs) && value.toMs >= value.fromMs;
}
