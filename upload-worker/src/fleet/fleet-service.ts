import { alertEvent, type WebhookSender } from '@crispy-streamer/shared/alerts';
import {
  UPLOAD_FIGURES_VERSION,
  isStale,
  mergeUploadFigures,
  type CameraStatus,
  type FleetUploads,
  type WorkerUploadFigures,
} from '@crispy-streamer/shared/fleet';
import type { Logger } from '@crispy-streamer/shared';
import type { UploadStats } from '../dashboard/upload-stats.js';
import type { BucketCoverage } from './bucket-coverage.js';
import type { FleetStore } from './fleet-store.js';
import { buildFleetView, type FleetView } from './fleet-view.js';
import { errorMessage } from '@crispy-streamer/shared';

// The worker's part of the fleet: it publishes its own upload figures every few seconds, answers
// the fleet page from Redis (every camera of every node, every worker's figures) and the bucket
// (coverage), and, with a webhook, alerts when a node goes silent (a node cannot say so itself).

export interface FleetServiceDeps {
  store: FleetStore;
  coverage: BucketCoverage;
  stats: UploadStats;
  workerId: string;
  queueName: string;
  bucket: string;
  /** Uploads in flight allowed now (it adapts to the queue). */
  concurrency: () => number;
  queueCounts: () => Promise<Record<string, number>>;
  logger: Logger;
  publishEveryMs: number;
  /** The bucket is listed for the page at most this often (and only while someone looks). */
  bucketRefreshMs: number;
  windowMs?: number;
  alerts?: WebhookSender;
  now?: () => number;
}

export interface StaleMemory {
  /** The heartbeat it went silent after: the alert's identity, the same for every worker. */
  silentAfterMs: number;
}

export type StaleDecision = { kind: 'camera-down' | 'camera-back'; status: CameraStatus; eventId: string; silentAfterMs: number };

/**
 * Which cameras' nodes went silent, or came back, since the last look. Every worker decides the
 * same, and the event ids match, so claimAlert lets exactly one of them send each.
 */
export function decideStaleAlerts(statuses: readonly CameraStatus[], memory: Map<string, StaleMemory>, nowMs: number): StaleDecision[] {
  const decisions: StaleDecision[] = [];
  const seen = new Set<string>();
  for (const status of statuses) {
    if (!status.live) continue;
    const id = `${encodeURIComponent(status.nodeId)}/${status.sourceId}`;
    seen.add(id);
    const stale = isStale(status, nowMs);
    const known = memory.get(id);
    if (stale && known === undefined) {
      memory.set(id, { silentAfterMs: status.heartbeatMs });
      decisions.push({ kind: 'camera-down', status, eventId: `silent:${id}:${status.heartbeatMs}`, silentAfterMs: status.heartbeatMs });
    } else if (!stale && known !== undefined) {
      memory.delete(id);
      decisions.push({ kind: 'camera-back', status, eventId: `back:${id}:${known.silentAfterMs}`, silentAfterMs: known.silentAfterMs });
    }
  }
  // Gone from Redis altogether (a day without a word): nothing more to say about it.
  for (const id of memory.keys()) if (!seen.has(id)) memory.delete(id);
  return decisions;
}

export class FleetService {
  private publishTimer: NodeJS.Timeout | undefined;
  private alertTimer: NodeJS.Timeout | undefined;
  private publishing = false;
  private refreshing: Promise<void> | undefined;
  private lastRefreshMs = -Infinity;
  private publishFailing = false;
  private readonly staleMemory = new Map<string, StaleMemory>();
  private readonly now: () => number;

  constructor(private readonly deps: FleetServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.publishTimer = setInterval(() => void this.publishFigures(), this.deps.publishEveryMs);
    this.publishTimer.unref();
    void this.publishFigures();
    if (this.deps.alerts !== undefined) {
      this.alertTimer = setInterval(() => void this.checkSilentNodes(), 2000);
      this.alertTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.publishTimer);
    clearInterval(this.alertTimer);
  }

  /** This worker's figures, as the fleet reads them. */
  async ownFigures(): Promise<WorkerUploadFigures> {
    const nowMs = this.now();
    const { sources, series } = this.deps.stats.figures(nowMs);
    const queue = await this.deps.queueCounts().catch(() => ({}));
    return {
      version: UPLOAD_FIGURES_VERSION,
      workerId: this.deps.workerId,
      queueName: this.deps.queueName,
      bucket: this.deps.bucket,
      heartbeatMs: nowMs,
      staleAfterMs: 3 * this.deps.publishEveryMs + 2000,
      windowMs: this.deps.stats.windowMs,
      throughputWindowMs: this.deps.stats.throughputWindowMs,
      concurrency: this.deps.concurrency(),
      storedSinceStart: this.deps.stats.storedSinceStart,
      queue,
      sources,
      series,
    };
  }

  private async publishFigures(): Promise<void> {
    if (this.publishing) return;
    this.publishing = true;
    try {
      await this.deps.store.writeUploader(await this.ownFigures());
      if (this.publishFailing) this.deps.logger.info('upload figures written to the fleet status again');
      this.publishFailing = false;
    } catch (error) {
      if (!this.publishFailing)
        this.deps.logger.warn({ err: error }, "could not write this worker's upload figures to Redis: the fleet page leaves them out until it can");
      this.publishFailing = true;
    } finally {
      this.publishing = false;
    }
  }

  /** The fleet page's data; lists the bucket in the background when it is due. */
  async view(): Promise<FleetView> {
    const nowMs = this.now();
    let statuses: CameraStatus[] = [];
    let invalid: FleetView['invalid'] = [];
    let uploads: FleetUploads = mergeUploadFigures([], nowMs);
    let redisError: string | undefined;
    try {
      const [cameras, uploaders] = await Promise.all([this.deps.store.readCameras(nowMs), this.deps.store.readUploaders(nowMs)]);
      statuses = cameras.statuses;
      invalid = [...cameras.invalid, ...uploaders.invalid];
      uploads = mergeUploadFigures(uploaders.figures, nowMs);
    } catch (error) {
      redisError = `Redis did not answer: ${errorMessage(error)}`;
    }
    this.refreshBucketIfDue(statuses);
    return buildFleetView({
      nowMs,
      windowMs: this.deps.windowMs ?? 24 * 3600_000,
      statuses,
      invalid,
      bucketOf: (source) => this.deps.coverage.coverageOf(source),
      uploads,
      bucket: this.deps.bucket,
      redisError,
    });
  }

  /** Resolves when the bucket listing in progress (if any) is done: for tests and the first view. */
  async bucketListed(): Promise<void> {
    await this.refreshing;
  }

  private refreshBucketIfDue(statuses: readonly CameraStatus[]): void {
    const nowMs = this.now();
    if (this.refreshing !== undefined || nowMs - this.lastRefreshMs < this.deps.bucketRefreshMs || statuses.length === 0) return;
    this.lastRefreshMs = nowMs;
    const oldestPending = new Map<string, number>();
    for (const status of statuses) {
      const first = status.spool.waitingSpans[0]?.fromMs;
      if (first !== undefined) oldestPending.set(status.sourceId, Math.min(first, oldestPending.get(status.sourceId) ?? Infinity));
    }
    const sources = [...new Set(statuses.map((status) => status.sourceId))];
    this.refreshing = (async () => {
      // A few sources at a time: listing is one request per day folder (and page).
      for (let i = 0; i < sources.length; i += 4) {
        await Promise.all(sources.slice(i, i + 4).map((source) => this.deps.coverage.refresh(source, oldestPending.get(source))));
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
  }

  private async checkSilentNodes(): Promise<void> {
    const sender = this.deps.alerts;
    if (sender === undefined) return;
    const nowMs = this.now();
    let statuses: CameraStatus[];
    try {
      statuses = (await this.deps.store.readCameras(nowMs)).statuses;
    } catch {
      return; // Redis is away: nothing is known, and stream-handle's own alerts still go out.
    }
    for (const decision of decideStaleAlerts(statuses, this.staleMemory, nowMs)) {
      const claimed = await this.deps.store.claimAlert(decision.eventId).catch(() => false);
      if (!claimed) continue;
      const { status } = decision;
      const since = new Date(decision.silentAfterMs).toISOString();
      const event = alertEvent({
        id: decision.eventId,
        event: decision.kind,
        source: status.sourceId,
        node: status.nodeId,
        since,
        reason:
          decision.kind === 'camera-down'
            ? `node ${status.nodeId} silent since ${since}: whether it records is not known (power, network or the service down)`
            : `node ${status.nodeId} heard from again`,
        detectedBy: 'upload-worker',
        atMs: nowMs,
      });
      this.deps.logger.warn({ alert: event.event, source: event.source, node: event.node, id: event.id }, 'alert raised');
      sender.send(event);
    }
  }
}
