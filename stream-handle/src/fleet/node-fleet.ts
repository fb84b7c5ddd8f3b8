import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { displayUrl, passwordOfUrl, redactEverywhere, type ClockSync, type Logger } from '@crispy-streamer/shared';
import { createCameraMetrics } from '@crispy-streamer/shared/metrics';
import { createFleetRedisConnection } from '@crispy-streamer/shared/redis';
import { WebhookSender } from '@crispy-streamer/shared/alerts';
import type { SourceConfig } from '../source/source-config.js';
import type { SourceObserver } from '../source/source-observer.js';
import { spoolUsageRatio, type SpoolLimits } from '../spool/spool-policy.js';
import type { SpoolUsage } from '../spool/spool-usage.js';
import { CameraAlerts, isRecording } from './camera-alerts.js';
import { CameraTracker } from './camera-tracker.js';
import { redisFleetStatusStore, type FleetStatusStore } from './fleet-status-store.js';
import { SpoolBacklog } from './spool-backlog.js';
import { StatusPublisher, type SpoolFigures } from './status-publisher.js';

// This node's part of the fleet: a tracker per source (its runner's observer), the status written
// to Redis for the fleet page, the camera gauges on /metrics, and the optional webhook alerts.
// main.ts builds it and hands it events; nothing here is on the recording path.

export interface NodeFleetSettings {
  nodeId: string;
  redisUrl: string;
  fleetName: string;
  spoolDir: string;
  spoolLimits: SpoolLimits;
  sources: readonly SourceConfig[];
  statusIntervalMs: number;
  clockSync: () => ClockSync;
  registry: Registry;
  logger: Logger;
  alertWebhook: { url: string; token: string | undefined; cameraDownAfterMs: number } | undefined;
  /** Tests give a store of their own; by default Redis, on a connection of its own that fails fast. */
  store?: FleetStatusStore;
}

export interface NodeFleet {
  observerFor(sourceId: string): SourceObserver | undefined;
  spoolMeasured(usage: SpoolUsage): void;
  sourceFinished(sourceId: string, outcome: { status: 'completed' | 'failed' | 'stopped'; reason?: string }): void;
  /** The service is stopping on purpose: cameras show `stopped`, not down. */
  stopping(): void;
  start(): void;
  /** Writes the final status and gives the webhook `graceMs` to deliver what is left. */
  stop(graceMs: number): Promise<void>;
}

export function createNodeFleet(settings: NodeFleetSettings): NodeFleet {
  const { logger } = settings;
  const sources = settings.sources.map((source) => ({
    source,
    tracker: new CameraTracker({ id: source.id, live: source.kind !== 'file', chunkSeconds: source.chunkSeconds }),
    backlog: new SpoolBacklog(settings.spoolDir, source.id),
  }));
  let spool: SpoolFigures | undefined;

  let redis: Redis | undefined;
  let store = settings.store;
  if (store === undefined) {
    redis = createFleetRedisConnection(settings.redisUrl, 'stream-handle-fleet');
    // Its errors are the publisher's to report, once per outage; the queue's connection reports the rest.
    redis.on('error', () => undefined);
    store = redisFleetStatusStore(redis, settings.fleetName);
  }
  const publisher = new StatusPublisher({
    nodeId: settings.nodeId,
    sources,
    store,
    intervalMs: settings.statusIntervalMs,
    clockSync: settings.clockSync,
    spool: () => spool,
    logger,
  });

  const cameraMetrics = createCameraMetrics(settings.registry, () => {
    const nowMs = Date.now();
    return {
      cameras: sources.map(({ source, tracker, backlog }) => {
        const snapshot = tracker.snapshot(nowMs);
        const waiting = backlog.summary();
        return {
          source: source.id,
          live: snapshot.live,
          state: snapshot.state,
          recording: isRecording(snapshot, nowMs),
          lastChunkEndMs: snapshot.lastChunk?.endMs,
          waitingChunks: waiting.waitingChunks,
          waitingBytes: waiting.waitingBytes,
          oldestWaitingAgeMs: waiting.oldestWaitingEndMs === undefined ? 0 : Math.max(0, nowMs - waiting.oldestWaitingEndMs),
        };
      }),
      spoolUsageRatio: spool?.usageRatio,
      clockSync: settings.clockSync(),
    };
  });
  for (const { source, tracker } of sources) {
    tracker.onChange((change) => {
      if (change === 'gap') cameraMetrics.gaps.inc({ source: source.id });
    });
  }

  let sender: WebhookSender | undefined;
  let alerts: CameraAlerts | undefined;
  if (settings.alertWebhook !== undefined) {
    redactEverywhere(passwordOfUrl(settings.alertWebhook.url));
    redactEverywhere(settings.alertWebhook.token);
    sender = new WebhookSender({ url: settings.alertWebhook.url, token: settings.alertWebhook.token, logger });
    alerts = new CameraAlerts({
      nodeId: settings.nodeId,
      trackers: sources.map((s) => s.tracker),
      sender,
      downAfterMs: settings.alertWebhook.cameraDownAfterMs,
      logger,
    });
    logger.info(
      { webhook: displayUrl(sender.target), cameraDownAfterMs: settings.alertWebhook.cameraDownAfterMs },
      'alerts go to the webhook (camera-down, camera-back, gap)',
    );
  }

  const trackerOf = (sourceId: string) => sources.find((s) => s.source.id === sourceId)?.tracker;
  return {
    observerFor: trackerOf,
    spoolMeasured(usage) {
      spool = { freeBytes: usage.freeBytes, usageRatio: spoolUsageRatio(usage, settings.spoolLimits) };
    },
    sourceFinished(sourceId, outcome) {
      trackerOf(sourceId)?.finished(outcome);
    },
    stopping() {
      for (const { tracker } of sources) tracker.stopping();
    },
    start() {
      publisher.start();
      alerts?.start();
    },
    async stop(graceMs) {
      alerts?.stop();
      await Promise.all([publisher.stop(graceMs), sender?.close(graceMs)]);
      redis?.disconnect();
    },
  };
}
