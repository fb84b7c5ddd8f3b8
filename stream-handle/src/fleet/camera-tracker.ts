import type { ChunkMetadata } from '@crispy-streamer/shared';
import type { CameraState, CameraStatus, TimeSpan, WindowCounts } from '@crispy-streamer/shared/fleet';
import type { SourceObserver } from '../source/source-observer.js';

// One source's state as its runner reports it, in memory: what the fleet status and the alerts
// are made of. Every call is a few assignments; nothing here waits or touches a disk or Redis.

export interface TrackedSource {
  id: string;
  /** A camera or stream reconnects; a file is read once. */
  live: boolean;
  chunkSeconds: number;
}

/** The part of a camera's status this source knows (node, spool and clock are added by the publisher). */
export type TrackedStatus = Pick<
  CameraStatus,
  'sourceId' | 'live' | 'state' | 'stateSinceMs' | 'reason' | 'chunkSeconds' | 'video' | 'lastChunk' | 'lastHour' | 'lastDay' | 'recentGaps'
>;

export type TrackerChange = 'state' | 'chunk' | 'gap';

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/** Gaps of the last day kept to count and draw; a camera dropping more often than this is counted short (and is red anyway). */
const MAX_GAPS_KEPT = 1000;
/** Bit rate over the last chunks: one chunk follows the keyframes and swings too much. */
const BITRATE_CHUNKS = 10;

export class CameraTracker implements SourceObserver {
  private state: CameraState = 'starting';
  private stateSinceMs: number;
  private reason: string | undefined;
  private video: CameraStatus['video'];
  private lastChunk: CameraStatus['lastChunk'];
  private readonly recentChunks: { bytes: number; durationMs: number }[] = [];
  /** Closed gaps of the last day, oldest first. */
  private readonly gaps: TimeSpan[] = [];
  /** Drops per minute (epoch minute -> count), for the last day. */
  private readonly drops = new Map<number, number>();
  private readonly startedAtMs: number;
  /** The gap reported last, for whoever is told of it (alerts). */
  lastGap: TimeSpan | undefined;
  private readonly listeners: ((change: TrackerChange) => void)[] = [];

  constructor(
    readonly source: TrackedSource,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAtMs = now();
    this.stateSinceMs = this.startedAtMs;
  }

  onChange(listener: (change: TrackerChange) => void): void {
    this.listeners.push(listener);
  }

  recorderStarted(): void {
    // Reconnecting stays reconnecting until a chunk proves the camera back.
    if (this.state === 'paused') this.setState('starting', undefined);
  }

  chunkRecorded(metadata: ChunkMetadata): void {
    const startMs = Date.parse(metadata.startTime);
    this.lastChunk = { sequence: metadata.sequence, startMs, endMs: startMs + metadata.durationMs, recordedAtMs: this.now() };
    this.recentChunks.push({ bytes: metadata.bytes, durationMs: metadata.durationMs });
    if (this.recentChunks.length > BITRATE_CHUNKS) this.recentChunks.shift();
    const bytes = this.recentChunks.reduce((sum, chunk) => sum + chunk.bytes, 0);
    const seconds = this.recentChunks.reduce((sum, chunk) => sum + chunk.durationMs, 0) / 1000;
    this.video = { width: metadata.width, height: metadata.height, codec: metadata.codec, bitrateBps: seconds > 0 ? Math.round((bytes * 8) / seconds) : 0 };
    if (this.state !== 'recording' && !this.isOver()) this.setState('recording', undefined);
    this.emit('chunk');
  }

  streamEnded(event: { reason: string }): void {
    if (this.isOver() || this.state === 'paused') return;
    if (this.state === 'reconnecting') {
      // Still down: the latest reason is the one to act on; since stays when it first dropped.
      this.reason = event.reason;
      this.emit('state');
      return;
    }
    if (this.state === 'recording') this.countDrop();
    this.setState('reconnecting', event.reason);
  }

  gap(event: { fromMs: number; toMs: number }): void {
    this.gaps.push({ fromMs: event.fromMs, toMs: event.toMs });
    this.lastGap = { fromMs: event.fromMs, toMs: event.toMs };
    this.prune();
    this.emit('gap');
  }

  paused(reason: string): void {
    if (this.isOver()) return;
    this.setState('paused', reason);
  }

  resumed(): void {
    if (this.state === 'paused') this.setState('starting', undefined);
  }

  /** The runner returned: a file finished or failed, or the service stopped it. */
  finished(outcome: { status: 'completed' | 'failed' | 'stopped'; reason?: string }): void {
    if (outcome.status === 'completed') this.setState('finished', undefined);
    else if (outcome.status === 'failed') this.setState('failed', outcome.reason);
    else this.setState('stopped', undefined);
  }

  /** The service is stopping: recording ends on purpose, not by fault. */
  stopping(): void {
    if (!this.isOver()) this.setState('stopped', 'the service is stopping');
  }

  /** Closed gaps in time order, and the outage going on now (if any) last. */
  gapsIncludingOngoing(nowMs: number): (TimeSpan & { ongoing: boolean })[] {
    const all = this.gaps.map((gap) => ({ ...gap, ongoing: false }));
    const ongoing = this.ongoingOutage(nowMs);
    if (ongoing !== undefined) all.push({ ...ongoing, ongoing: true });
    return all;
  }

  snapshot(nowMs: number = this.now()): TrackedStatus {
    this.prune();
    const gaps = this.gapsIncludingOngoing(nowMs);
    return {
      sourceId: this.source.id,
      live: this.source.live,
      state: this.state,
      stateSinceMs: this.stateSinceMs,
      reason: this.reason,
      chunkSeconds: this.source.chunkSeconds,
      video: this.video,
      lastChunk: this.lastChunk,
      lastHour: this.windowCounts(gaps, nowMs - HOUR_MS, nowMs),
      lastDay: this.windowCounts(gaps, nowMs - DAY_MS, nowMs),
      recentGaps: gaps.slice(-50),
    };
  }

  get currentState(): CameraState {
    return this.state;
  }

  /**
   * A live source not recording right now has missed footage since its last chunk ended (or since
   * it was started, if it never recorded). A pause counts too: the camera sends, nobody records.
   */
  private ongoingOutage(nowMs: number): TimeSpan | undefined {
    if (!this.source.live) return undefined;
    const down = this.state === 'reconnecting' || this.state === 'paused' || (this.state === 'starting' && this.lastChunk !== undefined);
    if (!down) return undefined;
    const fromMs = this.lastChunk?.endMs ?? this.startedAtMs;
    return nowMs > fromMs ? { fromMs, toMs: nowMs } : undefined;
  }

  private windowCounts(gaps: readonly TimeSpan[], fromMs: number, toMs: number): WindowCounts {
    let count = 0;
    let ms = 0;
    for (const gap of gaps) {
      const overlap = Math.min(gap.toMs, toMs) - Math.max(gap.fromMs, fromMs);
      if (overlap <= 0) continue;
      count++;
      ms += overlap;
    }
    let reconnects = 0;
    for (const [minute, drops] of this.drops) if ((minute + 1) * 60_000 > fromMs) reconnects += drops;
    return { reconnects, gaps: count, gapSeconds: Math.round(ms) / 1000 };
  }

  private countDrop(): void {
    const minute = Math.floor(this.now() / 60_000);
    this.drops.set(minute, (this.drops.get(minute) ?? 0) + 1);
  }

  private prune(): void {
    const dayAgo = this.now() - DAY_MS;
    while (this.gaps.length > 0 && ((this.gaps[0]?.toMs ?? 0) < dayAgo || this.gaps.length > MAX_GAPS_KEPT)) this.gaps.shift();
    for (const minute of this.drops.keys()) if ((minute + 1) * 60_000 < dayAgo) this.drops.delete(minute);
  }

  private isOver(): boolean {
    return this.state === 'stopped' || this.state === 'finished' || this.state === 'failed';
  }

  private setState(state: CameraState, reason: string | undefined): void {
    this.state = state;
    this.reason = reason;
    this.stateSinceMs = this.now();
    this.emit('state');
  }

  private emit(change: TrackerChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A listener's failure is its own (the publisher and the alerts log theirs).
      }
    }
  }
}
