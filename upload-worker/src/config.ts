import { resolve } from 'node:path';
import { hostname } from 'node:os';
import {
  ConfigError,
  EnvReader,
  displayUrl,
  parseBucketUrl,
  type BucketLocation,
  errorMessage,
  readGcpProject,
  readGcsApiEndpoint,
  readLogLevel,
  readQueueName,
  readRedisUrl,
} from '@crispy-streamer/shared';
import { DEFAULT_FLEET_NAME, FLEET_NAME_PATTERN } from '@crispy-streamer/shared/fleet';

export interface UploadWorkerConfig {
  redisUrl: string;
  /** The recorders' spool, at whatever path this worker sees it: the only folder it reads chunks from. */
  spoolDir: string;
  queueName: string;
  bucket: BucketLocation;
  /** Uploads in flight: the floor, and what the worker runs while the queue keeps up. */
  concurrency: number;
  /** The most uploads in flight while chunks wait (adaptive-concurrency.ts); equal to concurrency: fixed. */
  maxConcurrency: number;
  /** GCS JSON API endpoint override (fake-gcs-server or a test server). */
  gcsApiEndpoint: string | undefined;
  gcpProject: string | undefined;
  httpHost: string;
  httpPort: number;
  /** Bull Board credentials; required when the HTTP server listens beyond localhost. */
  boardUser: string | undefined;
  boardPassword: string | undefined;
  /** Local bucket only: where to POST OBJECT_FINALIZE notifications (Pub/Sub push format). */
  notifyUrl: string | undefined;
  /** Local bucket only: the secret its signed URLs are made with (shared with the function). */
  localSigningSecret: string | undefined;
  shutdownGraceMs: number;
  /**
   * An upload attempt that moves no bytes for this long (none taken by the connection, none
   * acknowledged) is abandoned as a storage outage; the next attempt continues its session.
   */
  uploadProgressTimeoutMs: number;
  /** Pauses of the whole queue while storage is unavailable: from min doubling to max. */
  outageMinPauseMs: number;
  outageMaxPauseMs: number;
  /** BullMQ lock and stalled-check timing: how soon a job of a crashed worker runs again. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** The fleet this worker publishes to and shows (status-keys.ts); the same as its nodes'. */
  fleetName: string;
  /** This worker's name on the fleet page (default: host name and process id). */
  workerId: string;
  /** How often this worker's upload figures are written to Redis. */
  fleetPublishMs: number;
  /** The fleet page lists the bucket for its coverage strips at most this often. */
  fleetBucketRefreshMs: number;
  /** Optional: a camera whose node went silent raises camera-down here (and camera-back). */
  alertWebhookUrl: string | undefined;
  alertWebhookToken: string | undefined;
  logLevel: string;
}

const SERVICE = 'upload-worker';
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function loadUploadWorkerConfig(env: Record<string, string | undefined>): UploadWorkerConfig {
  const reader = new EnvReader(env);
  const bucketUrl = reader.string('BUCKET_URL', 'file://./bucket');
  let bucket: BucketLocation = { kind: 'local', bucket: 'bucket', prefix: '', dir: './bucket' };
  try {
    bucket = parseBucketUrl(bucketUrl);
  } catch (error) {
    reader.problem('BUCKET_URL', errorMessage(error));
  }
  const config: UploadWorkerConfig = {
    redisUrl: readRedisUrl(reader),
    spoolDir: resolve(reader.string('SPOOL_DIR', './spool')),
    queueName: readQueueName(reader),
    bucket,
    concurrency: reader.integer('UPLOAD_CONCURRENCY', 8, { min: 1, max: 256 }),
    maxConcurrency: 0,
    gcsApiEndpoint: readGcsApiEndpoint(reader),
    gcpProject: readGcpProject(reader),
    httpHost: reader.string('HTTP_HOST', '127.0.0.1'),
    httpPort: reader.integer('HTTP_PORT', 3000, { min: 0, max: 65535 }),
    boardUser: reader.string('BOARD_USER'),
    boardPassword: reader.string('BOARD_PASSWORD'),
    notifyUrl: reader.string('NOTIFY_URL'),
    localSigningSecret: reader.string('LOCAL_SIGNING_SECRET'),
    shutdownGraceMs: reader.integer('SHUTDOWN_GRACE_MS', 30_000, { min: 0, max: 600_000 }),
    // At least the storage client's longest wait between two tries (2 s), or its own resumes would count as stalls.
    uploadProgressTimeoutMs: reader.integer('UPLOAD_PROGRESS_TIMEOUT_MS', 60_000, { min: 3000, max: 3_600_000 }),
    outageMinPauseMs: reader.integer('OUTAGE_MIN_PAUSE_MS', 1000, { min: 10, max: 600_000 }),
    outageMaxPauseMs: reader.integer('OUTAGE_MAX_PAUSE_MS', 30_000, { min: 10, max: 3_600_000 }),
    lockDurationMs: reader.integer('LOCK_DURATION_MS', 30_000, { min: 1000, max: 3_600_000 }),
    stalledIntervalMs: reader.integer('STALLED_INTERVAL_MS', 30_000, { min: 500, max: 3_600_000 }),
    fleetName: reader.string('FLEET_NAME', DEFAULT_FLEET_NAME),
    workerId: reader.string('WORKER_ID', `${hostname()}-${process.pid}`),
    fleetPublishMs: reader.integer('FLEET_PUBLISH_MS', 2000, { min: 250, max: 60_000 }),
    fleetBucketRefreshMs: reader.integer('FLEET_BUCKET_REFRESH_MS', 15_000, { min: 1000, max: 3_600_000 }),
    alertWebhookUrl: reader.string('ALERT_WEBHOOK_URL'),
    alertWebhookToken: reader.string('ALERT_WEBHOOK_TOKEN'),
    logLevel: readLogLevel(reader),
  };
  config.maxConcurrency = reader.integer('UPLOAD_CONCURRENCY_MAX', Math.max(32, config.concurrency), { min: 1, max: 256 });
  if (config.maxConcurrency < config.concurrency) {
    reader.problem(
      'UPLOAD_CONCURRENCY_MAX',
      `${config.maxConcurrency} is below UPLOAD_CONCURRENCY (${config.concurrency}): set it to at least that, or equal to it for a fixed number of uploads`,
    );
  }
  if (!LOOPBACK.has(config.httpHost) && (config.boardUser === undefined || config.boardPassword === undefined)) {
    reader.problem(
      'BOARD_USER',
      `HTTP_HOST=${config.httpHost} exposes Bull Board beyond this machine: set BOARD_USER and BOARD_PASSWORD, or bind HTTP_HOST=127.0.0.1`,
    );
  }
  if (env['UPLOAD_TIMEOUT_MS'] !== undefined) {
    // A total-time limit made uploads slower than it impossible; refusing the old name beats ignoring it.
    reader.problem(
      'UPLOAD_TIMEOUT_MS',
      'is no longer used: an upload attempt is bounded by lack of progress, not total time. Set UPLOAD_PROGRESS_TIMEOUT_MS (default 60000) to how long an upload may move no bytes, and remove UPLOAD_TIMEOUT_MS',
    );
  }
  if (!FLEET_NAME_PATTERN.test(config.fleetName)) reader.problem('FLEET_NAME', `"${config.fleetName}" may hold only 1-64 letters, digits, '-' and '_'`);
  if (config.workerId.trim() === '' || config.workerId.length > 200) reader.problem('WORKER_ID', 'must be 1-200 characters');
  if (config.alertWebhookUrl !== undefined && !/^https?:\/\/[^/]/.test(config.alertWebhookUrl)) {
    reader.problem(
      'ALERT_WEBHOOK_URL',
      `"${displayUrl(config.alertWebhookUrl)}" is not an http(s) URL: give the receiver's full URL, e.g. https://alerts.example.org/hooks/crispy`,
    );
  }
  if (config.alertWebhookToken !== undefined && config.alertWebhookUrl === undefined)
    reader.problem('ALERT_WEBHOOK_TOKEN', 'is set but ALERT_WEBHOOK_URL is not: set both, or neither');
  if (config.notifyUrl !== undefined && !/^https?:\/\//.test(config.notifyUrl)) {
    reader.problem(
      'NOTIFY_URL',
      `"${config.notifyUrl}" is not an http(s) URL: point it at the function, e.g. http://127.0.0.1:8080/projects/local/topics/chunks`,
    );
  }
  if (config.notifyUrl !== undefined && bucket.kind === 'gcs') {
    reader.problem('NOTIFY_URL', 'is for the local bucket only: a gs:// bucket notifies through its own Pub/Sub notification');
  }
  if (config.localSigningSecret !== undefined && config.localSigningSecret.length < 16) {
    reader.problem('LOCAL_SIGNING_SECRET', 'is shorter than 16 characters: use a long random string (openssl rand -hex 32)');
  }
  if (reader.problems.length > 0) throw new ConfigError(SERVICE, reader.problems);
  return config;
}
