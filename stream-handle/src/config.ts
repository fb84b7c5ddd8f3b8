import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type ConfigProblem, displayUrl, EnvReader, errorMessage, readLogLevel, readQueueName, readRedisUrl } from '@crispy-streamer/shared';
import { DEFAULT_FLEET_NAME, FLEET_NAME_PATTERN } from '@crispy-streamer/shared/fleet';
import { parseSource, type SourceConfig } from './source/source-config.js';
import type { ConfiguredSpoolLimits } from './spool/spool-policy.js';

export interface StreamHandleConfig {
  spoolDir: string;
  redisUrl: string;
  queueName: string;
  nodeId: string;
  sources: SourceConfig[];
  /** Upload attempts per chunk before it stays in the failed set. */
  uploadAttempts: number;
  uploadBackoffMs: number;
  /** RTSP socket timeout: a camera silent this long counts as dropped. */
  rtspTimeoutSeconds: number;
  /** A camera's chunks are placed on its own clock while it is within this many seconds of the node's. */
  cameraClockMaxOffsetSeconds: number;
  reconnectMinDelayMs: number;
  reconnectMaxDelayMs: number;
  /** A camera that went away is tried this often during the first RECONNECT_FAST_WINDOW_MS of the outage. */
  reconnectProbeMs: number;
  reconnectFastWindowMs: number;
  /** How long ffmpeg gets to close its chunk after SIGTERM before SIGKILL. */
  stopGraceMs: number;
  /** /healthz, /readyz and /metrics; port 0 picks a free one. */
  statusHost: string;
  statusPort: number;
  /** Resolved against the spool's file system at start (resolveSpoolLimits). */
  spoolLimits: ConfiguredSpoolLimits;
  spoolCheckMs: number;
  spoolReconcileMs: number;
  /** Ed25519 private key (PEM, or a path to one) that signs evidence records. */
  evidencePrivateKey: string | undefined;
  /** The fleet this node's cameras show in (status-keys.ts): nodes and workers sharing a Redis under one name. */
  fleetName: string;
  /** How often every camera's status is written to Redis for the fleet page (and soon after a change). */
  fleetStatusIntervalMs: number;
  /** Optional: camera-down, camera-back and gap events are POSTed here. */
  alertWebhookUrl: string | undefined;
  alertWebhookToken: string | undefined;
  /** A live source not recording for this long raises camera-down. */
  alertCameraDownAfterMs: number;
  logLevel: string;
}

const SERVICE = 'stream-handle';

/**
 * Source URLs in a file may name environment variables, `rtsp://viewer:${CAM1_PASSWORD}@cam1/s1`,
 * so passwords can come from secrets while the file itself holds none.
 */
export function expandEnvReferences(text: string, env: Record<string, string | undefined>, missing: (name: string) => void): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
    const value = env[name];
    if (value === undefined) {
      missing(name);
      return '';
    }
    return value;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `--sources FILE` on the command line wins over SOURCES_FILE. */
export function sourcesFileFromArgs(argv: string[]): string | undefined {
  const index = argv.findIndex((arg) => arg === '--sources' || arg === '-s');
  if (index >= 0) return argv[index + 1];
  const inline = argv.find((arg) => arg.startsWith('--sources='));
  return inline?.slice('--sources='.length);
}

function readSourcesFile(path: string, problems: ConfigProblem[]): { sources: unknown[]; defaults: Record<string, unknown> } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push({ setting: 'SOURCES_FILE', message: `cannot read ${path}: ${errorMessage(error)}` });
    return { sources: [], defaults: {} };
  }
  let document: unknown;
  try {
    document = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    problems.push({ setting: 'SOURCES_FILE', message: `${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${errorMessage(error)}` });
    return { sources: [], defaults: {} };
  }
  const root = (document ?? {}) as Record<string, unknown>;
  if (!Array.isArray(root.sources)) {
    problems.push({ setting: 'SOURCES_FILE', message: `${path} must hold a "sources:" list, each with an id and a url` });
    return { sources: [], defaults: {} };
  }
  const defaults = (root.defaults ?? {}) as Record<string, unknown>;
  return { sources: root.sources, defaults };
}

/**
 * Sources come from a file (YAML or JSON) and/or from env: SOURCE_URL (or RTSP_URL) with
 * SOURCE_ID, CHUNK_SECONDS and CHUNK_MODE describe one more source.
 */
export function loadStreamHandleConfig(env: Record<string, string | undefined>, argv: string[] = []): StreamHandleConfig {
  const reader = new EnvReader(env);
  const problems = reader.problems;
  const sources: SourceConfig[] = [];

  // Every camera's transport unless its own setting says otherwise.
  const transportDefault = reader.string('RTSP_TRANSPORT');
  const sourcesFile = sourcesFileFromArgs(argv) ?? reader.string('SOURCES_FILE');
  if (sourcesFile !== undefined) {
    const path = resolve(sourcesFile);
    const { sources: rawSources, defaults } = readSourcesFile(path, problems);
    rawSources.forEach((raw, index) => {
      const own = raw as Record<string, unknown>;
      const merged: Record<string, unknown> = { ...(transportDefault === undefined ? {} : { transport: transportDefault }), ...defaults, ...own };
      // encode settings merge field by field: a source that sets only crf keeps the default codec.
      if (isRecord(defaults.encode) && isRecord(own.encode)) merged.encode = { ...defaults.encode, ...own.encode };
      if (typeof merged.url === 'string') {
        merged.url = expandEnvReferences(merged.url, env, (name) =>
          problems.push({
            setting: `sources[${index}].url`,
            message: `refers to \${${name}}, which is not set: set it in the environment (e.g. from a secret)`,
          }),
        );
      }
      const source = parseSource(merged, `sources[${index}]`, dirname(path), problems);
      if (source !== undefined) sources.push(source);
    });
  }

  const envUrl = reader.string('SOURCE_URL') ?? reader.string('RTSP_URL');
  if (envUrl !== undefined) {
    const raw: Record<string, unknown> = { id: reader.string('SOURCE_ID', 'cam0'), url: envUrl };
    const chunkSeconds = reader.string('CHUNK_SECONDS');
    if (chunkSeconds !== undefined) raw.chunkSeconds = chunkSeconds;
    const mode = reader.string('CHUNK_MODE');
    if (mode !== undefined) raw.mode = mode;
    if (reader.string('REALTIME') !== undefined) raw.realtime = reader.boolean('REALTIME', false);
    const audio = reader.string('AUDIO');
    if (audio !== undefined) raw.audio = audio;
    if (transportDefault !== undefined) raw.transport = transportDefault;
    const source = parseSource(raw, 'SOURCE_URL', process.cwd(), problems);
    if (source !== undefined) sources.push(source);
  }

  if (sourcesFile === undefined && envUrl === undefined) {
    problems.push({ setting: 'sources', message: 'none configured: pass --sources FILE (YAML or JSON), set SOURCES_FILE, or set SOURCE_URL / RTSP_URL' });
  }
  const seen = new Set<string>();
  for (const source of sources) {
    if (seen.has(source.id)) problems.push({ setting: `source ${source.id}`, message: 'two sources share this id: ids must be unique on a node' });
    seen.add(source.id);
  }

  const config: StreamHandleConfig = {
    spoolDir: resolve(reader.string('SPOOL_DIR', './spool')),
    redisUrl: readRedisUrl(reader),
    queueName: readQueueName(reader),
    nodeId: reader.string('NODE_ID', hostname()),
    sources,
    uploadAttempts: reader.integer('UPLOAD_ATTEMPTS', 12, { min: 1, max: 1000 }),
    uploadBackoffMs: reader.integer('UPLOAD_BACKOFF_MS', 1000, { min: 10, max: 600_000 }),
    rtspTimeoutSeconds: reader.integer('RTSP_TIMEOUT_SECONDS', 10, { min: 1, max: 300 }),
    // Up to a year: a camera set to the wrong time zone is hours off, and a test may want that trusted.
    cameraClockMaxOffsetSeconds: reader.integer('CAMERA_CLOCK_MAX_OFFSET_SECONDS', 10, { min: 0, max: 366 * 86_400 }),
    reconnectMinDelayMs: reader.integer('RECONNECT_MIN_DELAY_MS', 1000, { min: 10, max: 600_000 }),
    reconnectMaxDelayMs: reader.integer('RECONNECT_MAX_DELAY_MS', 30_000, { min: 10, max: 3_600_000 }),
    reconnectProbeMs: reader.integer('RECONNECT_PROBE_MS', 250, { min: 10, max: 60_000 }),
    reconnectFastWindowMs: reader.integer('RECONNECT_FAST_WINDOW_MS', 60_000, { min: 0, max: 3_600_000 }),
    stopGraceMs: reader.integer('STOP_GRACE_MS', 10_000, { min: 100, max: 600_000 }),
    statusHost: reader.string('STATUS_HOST', '127.0.0.1'),
    statusPort: reader.integer('STATUS_PORT', 3001, { min: 0, max: 65535 }),
    spoolLimits: {
      maxBytes: reader.integer('SPOOL_MAX_BYTES', 0, { min: 0, max: Number.MAX_SAFE_INTEGER }),
      minFreeBytes:
        reader.string('SPOOL_MIN_FREE_BYTES') === undefined ? undefined : reader.integer('SPOOL_MIN_FREE_BYTES', 0, { min: 0, max: Number.MAX_SAFE_INTEGER }),
      policy: reader.oneOf('SPOOL_FULL_POLICY', 'stop-recording', ['stop-recording', 'drop-oldest'] as const),
    },
    spoolCheckMs: reader.integer('SPOOL_CHECK_MS', 2000, { min: 100, max: 600_000 }),
    spoolReconcileMs: reader.integer('SPOOL_RECONCILE_MS', 60_000, { min: 500, max: 3_600_000 }),
    evidencePrivateKey: reader.string('EVIDENCE_PRIVATE_KEY'),
    fleetName: reader.string('FLEET_NAME', DEFAULT_FLEET_NAME),
    fleetStatusIntervalMs: reader.integer('FLEET_STATUS_INTERVAL_MS', 2000, { min: 250, max: 60_000 }),
    alertWebhookUrl: reader.string('ALERT_WEBHOOK_URL'),
    alertWebhookToken: reader.string('ALERT_WEBHOOK_TOKEN'),
    alertCameraDownAfterMs: reader.integer('ALERT_CAMERA_DOWN_AFTER_MS', 10_000, { min: 0, max: 3_600_000 }),
    logLevel: readLogLevel(reader),
  };
  if (!FLEET_NAME_PATTERN.test(config.fleetName)) reader.problem('FLEET_NAME', `"${config.fleetName}" may hold only 1-64 letters, digits, '-' and '_'`);
  if (config.alertWebhookUrl !== undefined && !/^https?:\/\/[^/]/.test(config.alertWebhookUrl)) {
    reader.problem(
      'ALERT_WEBHOOK_URL',
      `"${displayUrl(config.alertWebhookUrl)}" is not an http(s) URL: give the receiver's full URL, e.g. https://alerts.example.org/hooks/crispy`,
    );
  }
  if (config.alertWebhookToken !== undefined && config.alertWebhookUrl === undefined)
    reader.problem('ALERT_WEBHOOK_TOKEN', 'is set but ALERT_WEBHOOK_URL is not: set both, or neither');
  if (problems.length > 0) throw new ConfigError(SERVICE, problems);
  return config;
}
