import type { ClockSync, Logger } from '@crispy-streamer/shared';
import { CAMERA_STATUS_VERSION, type CameraStatus } from '@crispy-streamer/shared/fleet';
import type { CameraTracker } from './camera-tracker.js';
import type { FleetStatusStore } from './fleet-status-store.js';
import type { SpoolBacklog } from './spool-backlog.js';

// Publishes this node's cameras to the fleet status every interval, and soon after a camera
// changes state (so a camera going dark shows within a second or two, not an interval). One write
// at a time: while Redis is away, or slow, writes fail or are skipped, and recording never waits.

export interface SpoolFigures {
  freeBytes: number;
  usageRatio: number;
}

export interface StatusPublisherDeps {
  nodeId: string;
  sources: readonly { tracker: CameraTracker; backlog: SpoolBacklog }[];
  store: FleetStatusStore;
  intervalMs: number;
  clockSync: () => ClockSync;
  /** The spool as last measured (SpoolGuard); undefined before the first measurement. */
  spool: () => SpoolFigures | undefined;
  logger: Logger;
  /** After a change, how long to wait for more before writing (a reconnect changes state twice). */
  settleMs?: number;
  now?: () => number;
}

/** A status older than this is stale: three missed writes and a margin. */
export function staleAfterMs(intervalMs: number): number {
  return 3 * intervalMs + 2000;
}

export class StatusPublisher {
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private again = false;
  private failingSinceMs: number | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly deps: StatusPublisherDeps) {
    this.now = deps.now ?? Date.now;
    for (const { tracker } of deps.sources) {
      tracker.onChange((change) => {
        if (change !== 'chunk') this.publishSoon();
      });
    }
  }

  start(): void {
    this.timer = setInterval(() => void this.publish(), this.deps.intervalMs);
    this.timer.unref();
    void this.publish();
  }

  /** Writes once more (the cameras now `stopped`), within `graceMs`; then no more. */
  async stop(graceMs: number): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    await Promise.race([this.writing, new Promise((resolve) => setTimeout(resolve, graceMs))]);
    await Promise.race([this.publish(), new Promise((resolve) => setTimeout(resolve, graceMs))]);
    this.stopped = true;
  }

  publishSoon(): void {
    if (this.soon !== undefined || this.stopped) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.publish();
    }, this.deps.settleMs ?? 100);
    this.soon.unref();
  }

  /** The statuses as they stand now (also what /metrics reads). */
  async statuses(): Promise<CameraStatus[]> {
    await Promise.all(this.deps.sources.map(({ backlog }) => backlog.refresh()));
    const nowMs = this.now();
    const spool = this.deps.spool();
    const clockSync = this.deps.clockSync();
    return this.deps.sources.map(({ tracker, backlog }) => ({
      version: CAMERA_STATUS_VERSION,
      nodeId: this.deps.nodeId,
      heartbeatMs: nowMs,
      staleAfterMs: staleAfterMs(this.deps.intervalMs),
      ...tracker.snapshot(nowMs),
      spool: { ...backlog.summary(), freeBytes: spool?.freeBytes ?? 0, usageRatio: spool?.usageRatio ?? 0 },
      clockSync,
    }));
  }

  async publish(): Promise<void> {
    if (this.stopped) return;
    if (this.writing !== undefined) {
      // One write at a time; a change meanwhile is written right after.
      this.again = true;
      return this.writing;
    }
    this.writing = (async () => {
      try {
        do {
          this.again = false;
          await this.writeOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }

  private async writeOnce(): Promise<void> {
    try {
      const statuses = await this.statuses();
      await this.deps.store.write(statuses, this.now());
      if (this.failingSinceMs !== undefined) {
        this.deps.logger.info({ afterMs: this.now() - this.failingSinceMs }, 'fleet status written again');
        this.failingSinceMs = undefined;
      }
    } catch (error) {
      // Said once per outage, not every interval: the status goes stale, recording goes on.
      if (this.failingSinceMs === undefined) {
        this.failingSinceMs = this.now();
        this.deps.logger.warn(
          { err: error },
          "could not write the fleet status to Redis: the fleet page shows this node's cameras as stale until it can; recording goes on",
        );
      }
    }
  }
}
