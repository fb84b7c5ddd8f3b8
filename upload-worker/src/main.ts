import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import {
  ConfigError,
  createLogger,
  chunkFilePath,
  chunkMetadataProblems,
  displayUrl,
  passwordOfUrl,
  redactEverywhere,
  settledWithin,
  type ChunkJobData,
  NOTIFICATION_OUTBOX_DIR,
} from '@crispy-streamer/shared';
import { createMetricsRegistry, createQueueMetrics, createUploaderMetrics } from '@crispy-streamer/shared/metrics';
import { createFleetRedisConnection, createRedisConnection, warnUnlessNoEviction } from '@crispy-streamer/shared/redis';
import { loadUploadWorkerConfig } from './config.js';
import { UploadStats } from './dashboard/upload-stats.js';
import { startHttpServer } from './http-server.js';
import { pushDelivery } from './storage/finalize-notifier.js';
import { createNotificationOutbox, type NotificationOutbox } from './storage/notification-outbox.js';
import { createGcsStore } from './storage/gcs-store.js';
import { createLocalBucket, type LocalBucket } from './storage/local-bucket.js';
import type { ObjectStore } from './storage/object-store.js';
import { redisUploadSessions } from './storage/upload-sessions.js';
import { startConcurrencyControl } from './concurrency-control.js';
import { createChunkProcessor } from './chunk-processor.js';
import { OutageBackoff } from './upload-failure.js';
import { spoolFiles, type UploadResult } from './upload-chunk.js';
import { WebhookSender } from '@crispy-streamer/shared/alerts';
import { BucketCoverage, gcsChunkLister, localChunkLister } from './fleet/bucket-coverage.js';
import { redisFleetStore } from './fleet/fleet-store.js';
import { FleetService } from './fleet/fleet-service.js';

/** Beyond SHUTDOWN_GRACE_MS: closing the queue and the outbox, then the process gives up waiting. */
const SHUTDOWN_MARGIN_MS = 8000;

async function main(): Promise<number> {
  let config;
  try {
    config = loadUploadWorkerConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  // Every secret this process holds is redacted wherever it might surface, not only inside URLs.
  for (const secret of [passwordOfUrl(config.redisUrl), config.boardPassword, config.localSigningSecret, config.alertWebhookToken]) redactEverywhere(secret);
  if (config.alertWebhookUrl !== undefined) redactEverywhere(passwordOfUrl(config.alertWebhookUrl));
  const logger = createLogger({ service: 'upload-worker', level: config.logLevel });

  let store: ObjectStore;
  let localBucket: { store: LocalBucket; secret: string } | undefined;
  let outbox: NotificationOutbox | undefined;
  const queueConnection = createRedisConnection(config.redisUrl, 'upload-worker-board');
  const workerConnection = createRedisConnection(config.redisUrl, 'upload-worker');
  for (const connection of [queueConnection, workerConnection]) {
    connection.on('error', (error) => logger.warn({ err: error, redis: displayUrl(config.redisUrl) }, 'Redis connection problem; uploads wait for it'));
  }
  if (config.bucket.kind === 'gcs') {
    store = createGcsStore({
      bucket: config.bucket.bucket,
      projectId: config.gcpProject,
      apiEndpoint: config.gcsApiEndpoint,
      // Resumable sessions wait for the next attempt in Redis (upload-sessions.ts).
      sessions: redisUploadSessions(queueConnection, {
        onError: (error, action) => logger.warn({ err: error, action }, 'could not keep the upload session in Redis: an interrupted upload will start over'),
      }),
      logger,
    });
  } else {
    if (config.notifyUrl !== undefined) {
      outbox = createNotificationOutbox({
        dir: join(config.bucket.dir, NOTIFICATION_OUTBOX_DIR),
        deliver: pushDelivery(config.notifyUrl, `projects/local/subscriptions/${config.bucket.bucket}-finalize`),
        logger: logger.child({ notifyUrl: config.notifyUrl }),
      });
      await outbox.start();
    }
    const local = createLocalBucket(config.bucket.dir, config.bucket.bucket, outbox);
    store = local;
    const secret = config.localSigningSecret ?? randomBytes(32).toString('hex');
    if (config.localSigningSecret === undefined) {
      logger.warn(
        'LOCAL_SIGNING_SECRET is not set: signed URLs of the local bucket will only work until this worker restarts, and the function cannot make them',
      );
    }
    localBucket = { store: local, secret };
  }

  void warnUnlessNoEviction(queueConnection, config.redisUrl, logger);
  const queue = new Queue<ChunkJobData>(config.queueName, { connection: queueConnection });
  // Without a listener BullMQ prints its errors to the console itself, Redis AUTH arguments included.
  queue.on('error', (error) => logger.warn({ err: error, redis: displayUrl(config.redisUrl) }, 'upload queue problem; uploads wait for Redis'));

  const registry = createMetricsRegistry('upload-worker');
  const metrics = createUploaderMetrics(registry);
  const stats = new UploadStats();
  createQueueMetrics(registry, () => queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'));

  const prefix = config.bucket.prefix;
  const worker = new Worker<ChunkJobData, UploadResult>(
    config.queueName,
    createChunkProcessor({
      store,
      prefix,
      spoolDir: config.spoolDir,
      files: spoolFiles,
      outage: new OutageBackoff(config.outageMinPauseMs, config.outageMaxPauseMs),
      pauseQueue: (delayMs) => queue.rateLimit(delayMs),
      progressTimeoutMs: config.uploadProgressTimeoutMs,
      logger,
      observeUpload: (source, seconds) => metrics.uploadSeconds.observe({ source }, seconds),
    }),
    {
      connection: workerConnection,
      concurrency: config.concurrency,
      autorun: false,
      lockDuration: config.lockDurationMs,
      stalledInterval: config.stalledIntervalMs,
      // A job whose worker died twice mid-upload is worth a look, not a third silent try.
      maxStalledCount: 2,
    },
  );

  const concurrencyControl = startConcurrencyControl({
    limits: { min: config.concurrency, max: config.maxConcurrency },
    waitingCount: async () => {
      const counts = await queue.getJobCounts('waiting', 'prioritized');
      return (counts['waiting'] ?? 0) + (counts['prioritized'] ?? 0);
    },
    apply: (concurrency) => {
      worker.concurrency = concurrency;
    },
    logger,
  });

  worker.on('completed', (job, result) => {
    concurrencyControl.stored();
    const { metadata } = job.data;
    const now = Date.now();
    // job.timestamp is when stream-handle queued the chunk, right after ffmpeg closed it.
    const closedToStoredMs = now - job.timestamp;
    metrics.chunksUploaded.inc({ source: metadata.sourceId, outcome: result.outcome });
    metrics.uploadedBytes.inc({ source: metadata.sourceId }, result.bytes);
    metrics.closedToStoredSeconds.observe({ source: metadata.sourceId }, closedToStoredMs / 1000);
    metrics.lastStored.set({ source: metadata.sourceId }, now / 1000);
    const chunkEndMs = Date.parse(metadata.startTime) + metadata.durationMs;
    stats.record({ source: metadata.sourceId, finishedAtMs: now, closedToStoredMs, bytes: result.bytes, chunkEndMs });
    logger.info(
      {
        source: metadata.sourceId,
        sequence: metadata.sequence,
        object: result.objectName,
        generation: result.generation,
        outcome: result.outcome,
        bytes: result.bytes,
        attempts: job.attemptsMade,
        ...(result.resumedSession === true ? { resumedSession: true } : {}),
        queuedForMs: (job.processedOn ?? now) - job.timestamp,
        closedToStoredMs,
        sinceChunkEndMs: Date.now() - chunkEndMs,
      },
      result.outcome === 'created' ? 'chunk uploaded' : 'chunk was already in the bucket',
    );
  });
  worker.on('failed', (job, error) => {
    concurrencyControl.failed();
    if (job === undefined) return;
    // A job that failed validation carries data nobody vouches for: name it by its id only.
    const data: unknown = job.data;
    const metadata = chunkMetadataProblems((data as { metadata?: unknown } | null)?.metadata).length === 0 ? (data as ChunkJobData).metadata : undefined;
    const attempts = job.opts.attempts ?? 1;
    const final = error instanceof UnrecoverableError || error.name === 'UnrecoverableError' || job.attemptsMade >= attempts;
    metrics.uploadFailures.inc({ source: metadata?.sourceId ?? 'invalid-job', final: String(final) });
    const fields =
      metadata === undefined
        ? { jobId: job.id, attempt: job.attemptsMade, attempts, err: error }
        : {
            source: metadata.sourceId,
            sequence: metadata.sequence,
            file: chunkFilePath(config.spoolDir, metadata),
            attempt: job.attemptsMade,
            attempts,
            err: error,
          };
    if (final) logger.error(fields, 'chunk upload gave up: the file stays in the spool and the job in the failed set');
    else logger.warn(fields, 'chunk upload failed; will retry');
  });
  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));

  // The fleet: this worker's figures out, every node's cameras and every worker's figures in, on a
  // connection of its own that fails fast (an outage costs a failed read, never a queue of them).
  const fleetConnection = createFleetRedisConnection(config.redisUrl, 'upload-worker-fleet');
  fleetConnection.on('error', () => undefined);
  const alertSender =
    config.alertWebhookUrl === undefined ? undefined : new WebhookSender({ url: config.alertWebhookUrl, token: config.alertWebhookToken, logger });
  const fleet = new FleetService({
    store: redisFleetStore(fleetConnection, config.fleetName),
    coverage: new BucketCoverage({
      lister:
        config.bucket.kind === 'gcs'
          ? gcsChunkLister({ bucket: config.bucket.bucket, projectId: config.gcpProject, apiEndpoint: config.gcsApiEndpoint })
          : localChunkLister(config.bucket.dir),
      prefix,
    }),
    stats,
    workerId: config.workerId,
    queueName: config.queueName,
    bucket: store.description,
    concurrency: () => concurrencyControl.concurrency,
    queueCounts: () => queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
    logger,
    publishEveryMs: config.fleetPublishMs,
    bucketRefreshMs: config.fleetBucketRefreshMs,
    ...(alertSender === undefined ? {} : { alerts: alertSender }),
  });
  fleet.start();

  const http = await startHttpServer({
    host: config.httpHost,
    port: config.httpPort,
    queue,
    board: config.boardUser !== undefined && config.boardPassword !== undefined ? { user: config.boardUser, password: config.boardPassword } : undefined,
    localBucket,
    registry,
    stats,
    fleet,
    health: async () => {
      const redisOk = await queueConnection.ping().then(
        () => true,
        () => false,
      );
      return { ok: redisOk && worker.isRunning(), detail: { redis: redisOk, workerRunning: worker.isRunning() } };
    },
  });
  void worker.run();
  logger.info(
    {
      bucket: store.description,
      prefix,
      concurrency: config.concurrency,
      maxConcurrency: config.maxConcurrency,
      queue: config.queueName,
      http: http.url,
      board: `${http.url}/board`,
      dashboard: `${http.url}/dashboard`,
      fleet: `${http.url}/fleet`,
      fleetName: config.fleetName,
      workerId: config.workerId,
    },
    'upload-worker ready',
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping: finishing uploads in flight');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // Every step is bounded: Redis or storage may be gone, and a worker that never exits holds up
  // whoever stops it (a deploy, a node drain). What is not done stays in the spool and the queue.
  const graceEndsAt = Date.now() + config.shutdownGraceMs;
  setTimeout(() => {
    logger.error(
      { afterMs: config.shutdownGraceMs + SHUTDOWN_MARGIN_MS },
      'stopping took too long: exiting now; unfinished uploads run again on the next worker',
    );
    process.exit(1);
  }, config.shutdownGraceMs + SHUTDOWN_MARGIN_MS).unref();
  if (!(await settledWithin(worker.close(), config.shutdownGraceMs))) {
    logger.warn({ graceMs: config.shutdownGraceMs }, 'uploads still running after the grace period: they will be retried by the next worker');
    await settledWithin(worker.close(true), 2000);
  }
  if (outbox !== undefined) {
    const { pending } = await outbox.close(Math.max(1_000, graceEndsAt - Date.now()));
    if (pending > 0)
      logger.warn({ notifications: pending }, 'finalize notifications not delivered yet: they stay in the outbox and the next worker delivers them');
  }
  concurrencyControl.stop();
  fleet.stop();
  await alertSender?.close(2000);
  await http.close();
  await settledWithin(queue.close(), 2000);
  fleetConnection.disconnect();
  queueConnection.disconnect();
  workerConnection.disconnect();
  logger.info('upload-worker stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`upload-worker: ${displayUrl(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
    process.exit(1);
  },
);
