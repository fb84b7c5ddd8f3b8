import { mkdir, statfs } from 'node:fs/promises';
import {
  checkWithin,
  ConfigError,
  createLogger,
  displayUrl,
  errorMessage,
  passwordOfUrl,
  redactEverywhere,
  resolveFfmpeg,
  settledWithin,
} from '@crispy-streamer/shared';
import { createMetricsRegistry, createRecorderMetrics } from '@crispy-streamer/shared/metrics';
import { createRedisConnection, warnUnlessNoEviction } from '@crispy-streamer/shared/redis';
import { createChunkQueue } from './queue/chunk-queue.js';
import { loadStreamHandleConfig } from './config.js';
import { detectRtspTimeoutOption } from './recorder/ffmpeg-capabilities.js';
import { probeHostClockSync } from './clock/host-clock-sync.js';
import { loadEvidenceSigner } from './source/evidence-signer.js';
import { startRecorder } from './recorder/recorder.js';
import { SourceRunner, type SourceOutcome } from './source/source-runner.js';
import { SourceSpool } from './spool/source-spool.js';
import { SpoolGuard } from './spool/spool-guard.js';
import { resolveSpoolLimits, type SpoolLimits } from './spool/spool-policy.js';
import { measureSpool } from './spool/spool-usage.js';
import { startStatusServer } from './status/status-server.js';
import { createNodeFleet } from './fleet/node-fleet.js';

/** How long stopping may take in all: ffmpeg's grace, then queueing's, and a margin. */
function shutdownDeadlineMs(stopGraceMs: number): number {
  return 3 * stopGraceMs + 10_000;
}

async function main(): Promise<number> {
  let config;
  try {
    config = loadStreamHandleConfig(process.env, process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  // The spool's limits fit its file system, or the service does not start: a floor the disk
  // cannot satisfy would pause recording for ever.
  let spoolLimits: SpoolLimits;
  try {
    await mkdir(config.spoolDir, { recursive: true });
    const disk = await statfs(config.spoolDir);
    const resolved = resolveSpoolLimits(config.spoolLimits, disk.blocks * disk.bsize);
    if (resolved.problems.length > 0) {
      process.stderr.write(`${new ConfigError('stream-handle', resolved.problems).message}\n`);
      return 2;
    }
    spoolLimits = resolved.limits;
  } catch (error) {
    process.stderr.write(
      `stream-handle: invalid configuration:\n  - SPOOL_DIR: ${config.spoolDir} cannot be used as the spool (${errorMessage(error)}): point it at a writable folder\n`,
    );
    return 2;
  }
  // Every password this process holds is redacted wherever it might surface, not only inside URLs.
  redactEverywhere(passwordOfUrl(config.redisUrl));
  for (const source of config.sources) redactEverywhere(passwordOfUrl(source.url));
  const logger = createLogger({ service: 'stream-handle', level: config.logLevel });
  // Debian's ffmpeg (the image has it; ensure-deps installs it). The npm-bundled 2018 static build is
  // no fallback here: it crashes resolving any host name, and cameras are named by host.
  const ffmpeg = resolveFfmpeg(process.env, () => undefined);
  const rtspTimeoutOption = config.sources.some((s) => s.kind === 'rtsp') ? await detectRtspTimeoutOption(ffmpeg.path) : '-timeout';
  logger.info(
    {
      ffmpeg: ffmpeg.path,
      ffmpegOrigin: ffmpeg.origin,
      spoolDir: config.spoolDir,
      redis: displayUrl(config.redisUrl),
      sources: config.sources.length,
      nodeId: config.nodeId,
      spoolMinFreeBytes: spoolLimits.minFreeBytes,
      spoolMaxBytes: spoolLimits.maxBytes,
    },
    'stream-handle starting',
  );

  const redis = createRedisConnection(config.redisUrl, 'stream-handle');
  redis.on('error', (error) => logger.warn({ err: error, redis: displayUrl(config.redisUrl) }, 'Redis connection problem; chunks keep recording to the spool'));
  void warnUnlessNoEviction(redis, config.redisUrl, logger);
  const queue = createChunkQueue(redis, {
    queueName: config.queueName,
    attempts: config.uploadAttempts,
    backoffMs: config.uploadBackoffMs,
    onError: (error) => logger.warn({ err: error, redis: displayUrl(config.redisUrl) }, 'upload queue problem; chunks keep recording to the spool'),
  });

  let signer;
  try {
    signer = loadEvidenceSigner(config.evidencePrivateKey);
  } catch (error) {
    process.stderr.write(`stream-handle: invalid configuration:\n  - EVIDENCE_PRIVATE_KEY: ${errorMessage(error)}\n`);
    return 2;
  }
  if (signer.keyId === undefined) logger.warn('no EVIDENCE_PRIVATE_KEY: chunks are hashed and chained but UNSIGNED');
  else logger.info({ keyId: signer.keyId }, 'evidence records are signed');
  // Start times come from this clock: say when it is not known to be right, and look again now and then.
  let clockSync = await probeHostClockSync();
  if (clockSync !== 'synchronised')
    logger.warn({ clockSync }, 'the host clock is not known to be NTP-synchronised: chunk start times are only as good as this clock');
  const clockTimer = setInterval(() => void probeHostClockSync().then((state) => (clockSync = state)), 10 * 60_000);
  clockTimer.unref();
  // The node on every series, so an alert names where its camera is.
  const registry = createMetricsRegistry('stream-handle', { node: config.nodeId });
  const metrics = createRecorderMetrics(registry);
  const fleet = createNodeFleet({
    nodeId: config.nodeId,
    redisUrl: config.redisUrl,
    fleetName: config.fleetName,
    spoolDir: config.spoolDir,
    spoolLimits,
    sources: config.sources,
    statusIntervalMs: config.fleetStatusIntervalMs,
    clockSync: () => clockSync,
    registry,
    logger,
    alertWebhook:
      config.alertWebhookUrl === undefined
        ? undefined
        : { url: config.alertWebhookUrl, token: config.alertWebhookToken, cameraDownAfterMs: config.alertCameraDownAfterMs },
  });
  const runners = config.sources.map(
    (source) =>
      new SourceRunner({
        source,
        spool: new SourceSpool(config.spoolDir, source.id),
        queue,
        logger,
        ffmpegPath: ffmpeg.path,
        startRecorder,
        nodeId: config.nodeId,
        rtspTimeoutSeconds: config.rtspTimeoutSeconds,
        cameraClockMaxOffsetMs: config.cameraClockMaxOffsetSeconds * 1000,
        rtspTimeoutOption,
        reconnect: { minDelayMs: config.reconnectMinDelayMs, maxDelayMs: config.reconnectMaxDelayMs, jitter: 0.2 },
        reconnectProbe: { intervalMs: config.reconnectProbeMs, fastWindowMs: config.reconnectFastWindowMs },
        stopGraceMs: config.stopGraceMs,
        metrics,
        signer,
        clockSync: () => clockSync,
        observer: fleet.observerFor(source.id),
      }),
  );
  const guard = new SpoolGuard({
    spoolDir: config.spoolDir,
    limits: spoolLimits,
    sources: runners,
    queue,
    logger,
    metrics,
    intervalMs: config.spoolCheckMs,
    reconcileMs: config.spoolReconcileMs,
    onMeasured: (usage) => fleet.spoolMeasured(usage),
  });
  guard.start();
  fleet.start();
  const status = await startStatusServer({
    host: config.statusHost,
    port: config.statusPort,
    registry,
    spoolDir: config.spoolDir,
    readiness: [
      {
        name: 'redis',
        check: () =>
          checkWithin(
            redis.ping().then((reply) => reply === 'PONG'),
            1000,
          ),
      },
      // Ready means every camera is being recorded right now.
      ...config.sources.flatMap((source, index) => {
        const runner = runners[index];
        return source.kind === 'rtsp' && runner !== undefined ? [{ name: `ffmpeg ${source.id}`, check: async () => runner.recording }] : [];
      }),
    ],
  });
  logger.info({ status: status.url }, 'health at /healthz and /readyz, metrics at /metrics');

  let stopRequested = false;
  let stopped: Promise<unknown> = Promise.resolve();
  const stopAll = (signal: string) => {
    if (stopRequested) return;
    stopRequested = true;
    logger.info({ signal }, 'stopping: closing the current chunk of every source');
    fleet.stopping();
    stopped = Promise.all(runners.map((runner) => runner.stop()));
    // Every step of stopping is bounded; this is the bound on them all, should one still hang.
    setTimeout(() => {
      logger.error(
        { afterMs: shutdownDeadlineMs(config.stopGraceMs) },
        'stopping took too long: exiting now; what was recorded stays in the spool for the next start',
      );
      process.exit(1);
    }, shutdownDeadlineMs(config.stopGraceMs)).unref();
  };
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));

  // One source failing (even throwing) never stops the others.
  const outcomes = await Promise.all(
    runners.map((runner, index) =>
      runner
        .run()
        .catch((error: unknown): SourceOutcome => {
          logger.error({ err: error, source: config.sources[index]?.id }, 'source crashed');
          return { status: 'failed', chunks: 0, reason: errorMessage(error) };
        })
        .then((outcome) => {
          fleet.sourceFinished(config.sources[index]?.id ?? '', outcome);
          return outcome;
        }),
    ),
  );
  // The last chunks are finalised when run() returns; stop() also waits (a while) until they are queued.
  await stopped;
  guard.stop();
  await fleet.stop(2000);
  await status.close();
  // Closing the queue waits for Redis; Redis may be gone.
  await settledWithin(queue.close(), 2000);
  redis.disconnect();
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  const notQueued = runners.reduce((sum, runner) => sum + runner.waitingToQueue, 0);
  const spool = await measureSpool(config.spoolDir).catch(() => undefined);
  logger[notQueued > 0 ? 'warn' : 'info'](
    { chunks: outcomes.reduce((sum, o) => sum + o.chunks, 0), failedSources: failed, chunksInSpool: spool?.chunkFiles, bytesInSpool: spool?.bytes, notQueued },
    notQueued > 0
      ? `stream-handle finished: ${notQueued} chunk(s) could not be queued (Redis unreachable?); they stay in the spool and are queued at the next start`
      : 'stream-handle finished',
  );
  return failed > 0 && !stopRequested ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`stream-handle: ${displayUrl(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
    process.exit(1);
  },
);
