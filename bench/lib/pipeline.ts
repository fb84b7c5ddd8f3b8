import { setTimeout as sleep } from 'node:timers/promises';
import { startRedisServer } from '@crispy-streamer/harness/redis-server';
import type { LogLine, ServiceProcess } from '@crispy-streamer/harness/service-process';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';
import { onCleanup } from './cleanup.js';
import { startNotificationSink, type NotificationSink } from './notification-sink.js';
import { ProcessSampler, type ProcessTotals } from './process-stats.js';
import type { BenchStorage, StoredObjectInfo } from './storage.js';

/** The three services (function, worker, and stream-handle runs) on a private Redis, sampled. */
export interface BenchPipeline {
  pipeline: LocalPipeline;
  redisUrl: string;
  redisPid: number | undefined;
  sampler: ProcessSampler;
  storage: BenchStorage;
  /** Starts stream-handle and tracks it (label 'stream-handle'). */
  runStreamHandle(env: Record<string, string>, args?: string[]): ServiceProcess;
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  objects(): Promise<StoredObjectInfo[]>;
  /** Worker and function lines of every worker process so far, and of the function. */
  workerLogs(): LogLine[];
  functionLogs(): LogLine[];
  /** Where notifications go: 'function' (the combined run) or 'sink' (edge only: the function idles, unmeasured). */
  notifications: 'function' | 'sink';
  /** The sink, in edge-only runs. */
  sink: NotificationSink | undefined;
  /** Notifications that reached their end: chunks the function described, or POSTs the sink counted. */
  deliveredCount(): number;
  /**
   * Waits until `expected` notifications arrived, or, once the worker logged `expected` uploads,
   * at most NOTIFICATION_GRACE_MS more (a notification lost on the way must not hold a run for
   * the whole cap), or until `capMs`. Returns how many arrived.
   */
  waitForDelivery(expected: number, capMs: number): Promise<number>;
  /** Latest totals of each tracked process. */
  totals(): Record<string, ProcessTotals | undefined>;
  stop(): Promise<void>;
}

export const LOG_LEVEL = 'info';

/** After the last upload, how long notifications may still take before a run stops waiting for them. */
const NOTIFICATION_GRACE_MS = 15_000;

const isStoredLine = (line: LogLine) => line.message === 'chunk uploaded' || line.message === 'chunk was already in the bucket';

export interface BenchPipelineOptions {
  workerEnv?: Record<string, string>;
  sampleIntervalMs?: number;
  /** true: notifications reach the function on this machine (the combined run); false: a 204 sink. */
  withFunction?: boolean;
}

const isDescription = (l: LogLine) => typeof l.message === 'string' && l.message.startsWith('chunk described');

export async function startBenchPipeline(storage: BenchStorage, options: BenchPipelineOptions = {}): Promise<BenchPipeline> {
  let sink: NotificationSink | undefined;
  if (options.withFunction !== true) sink = await startNotificationSink();
  const redis = await startRedisServer();
  const stopRedis = onCleanup('redis-server', () => redis.stop());
  const sampler = new ProcessSampler(options.sampleIntervalMs ?? 200).start();
  const redisPid = redis.pid;
  sampler.track('redis', redisPid, 'none');
  if (storage.pid !== undefined) sampler.track('storage', storage.pid, 'none');
  const base = storage.pipelineOptions(LOG_LEVEL, sink?.url);
  let pipeline: LocalPipeline;
  try {
    pipeline = await startLocalPipeline(redis.url, { ...base, workerEnv: { ...base.workerEnv, ...options.workerEnv } });
  } catch (error) {
    await stopRedis();
    throw error;
  }
  const stopPipeline = onCleanup('pipeline services', () => pipeline.stop());
  sampler.track('cloud-function', pipeline.fn.child.pid);
  sampler.track('upload-worker', pipeline.worker.child.pid);
  const workers: ServiceProcess[] = [pipeline.worker];
  const recorders: ServiceProcess[] = [];

  const bench: BenchPipeline = {
    pipeline,
    redisUrl: redis.url,
    redisPid,
    sampler,
    storage,
    runStreamHandle(env, args) {
      const recorder = pipeline.runStreamHandle({ LOG_LEVEL, ...env }, args);
      recorders.push(recorder);
      sampler.track('stream-handle', recorder.child.pid);
      return recorder;
    },
    async stopWorker() {
      sampler.sampleNow();
      await pipeline.stopWorker();
    },
    async startWorker() {
      await pipeline.startWorker();
      workers.push(pipeline.worker);
      sampler.track('upload-worker', pipeline.worker.child.pid);
    },
    objects: () => storage.objects(pipeline.bucketDir),
    workerLogs: () => workers.flatMap((w) => w.logs),
    functionLogs: () => pipeline.fn.logs,
    notifications: sink === undefined ? 'function' : 'sink',
    sink,
    deliveredCount: () => (sink === undefined ? pipeline.fn.logs.filter(isDescription).length : sink.count()),
    async waitForDelivery(expected, capMs) {
      const capAt = Date.now() + capMs;
      let allStoredAt: number | undefined;
      while (bench.deliveredCount() < expected && Date.now() < capAt) {
        if (allStoredAt === undefined && bench.workerLogs().filter(isStoredLine).length >= expected) allStoredAt = Date.now();
        if (allStoredAt !== undefined && Date.now() - allStoredAt > NOTIFICATION_GRACE_MS) break;
        await sleep(200);
      }
      return bench.deliveredCount();
    },
    totals() {
      return Object.fromEntries(['stream-handle', 'upload-worker', 'cloud-function', 'redis', 'storage'].map((label) => [label, sampler.totals(label)]));
    },
    async stop() {
      sampler.stop();
      await stopPipeline();
      await stopRedis();
      await sink?.stop();
    },
  };
  return bench;
}

/** Everything known about one chunk, joined from the three services' logs and the bucket. */
export interface ChunkTrace {
  source: string;
  sequence: number;
  bytes: number | undefined;
  durationMs: number | undefined;
  frameCount: number | undefined;
  recordedAtMs: number | undefined;
  /** When stream-handle queued it (the BullMQ job's timestamp). */
  queuedAtMs: number | undefined;
  /** The worker's closedToStoredMs: queued -> upload job completed. */
  closedToStoredMs: number | undefined;
  uploadLoggedAtMs: number | undefined;
  /** The bucket's creation time of the object. */
  objectCreatedAtMs: number | undefined;
  describedAtMs: number | undefined;
  sinceFinalizeMs: number | undefined;
  describeElapsedMs: number | undefined;
}

const timeOf = (line: LogLine): number => Date.parse(String(line.time));

export function traceChunks(recorderLogs: LogLine[], workerLogs: LogLine[], functionLogs: LogLine[], objects: StoredObjectInfo[]): ChunkTrace[] {
  const traces = new Map<string, ChunkTrace>();
  const get = (source: string, sequence: number): ChunkTrace => {
    const key = `${source}#${sequence}`;
    let trace = traces.get(key);
    if (trace === undefined) {
      trace = {
        source,
        sequence,
        bytes: undefined,
        durationMs: undefined,
        frameCount: undefined,
        recordedAtMs: undefined,
        queuedAtMs: undefined,
        closedToStoredMs: undefined,
        uploadLoggedAtMs: undefined,
        objectCreatedAtMs: undefined,
        describedAtMs: undefined,
        sinceFinalizeMs: undefined,
        describeElapsedMs: undefined,
      };
      traces.set(key, trace);
    }
    return trace;
  };
  for (const line of recorderLogs) {
    if (line.message !== 'chunk recorded' || typeof line.source !== 'string') continue;
    const trace = get(line.source, Number(line.sequence));
    trace.recordedAtMs = timeOf(line);
    trace.bytes = Number(line.bytes);
    trace.durationMs = Number(line.durationMs);
  }
  for (const line of workerLogs) {
    if ((line.message !== 'chunk uploaded' && line.message !== 'chunk was already in the bucket') || typeof line.source !== 'string') continue;
    const trace = get(line.source, Number(line.sequence));
    trace.uploadLoggedAtMs = timeOf(line);
    trace.closedToStoredMs = Number(line.closedToStoredMs);
    trace.queuedAtMs = trace.uploadLoggedAtMs - trace.closedToStoredMs;
    trace.bytes ??= Number(line.bytes);
  }
  for (const line of functionLogs) {
    if (typeof line.message !== 'string' || !line.message.startsWith('chunk described') || typeof line.source !== 'string') continue;
    const trace = get(line.source, Number(line.sequence));
    trace.describedAtMs = timeOf(line);
    trace.sinceFinalizeMs = Number(line.sinceFinalizeMs);
    trace.describeElapsedMs = Number(line.elapsedMs);
  }
  for (const object of objects) {
    if (object.source === undefined || object.sequence === undefined) continue;
    const trace = get(object.source, object.sequence);
    trace.objectCreatedAtMs = object.createdAtMs;
    trace.frameCount = object.frameCount;
    trace.durationMs ??= object.durationMs;
    trace.bytes ??= object.size;
  }
  return [...traces.values()].sort((a, b) => a.source.localeCompare(b.source) || a.sequence - b.sequence);
}

/** Latencies of a set of traced chunks, in ms. */
export function latencies(traces: ChunkTrace[]) {
  const pick = (f: (t: ChunkTrace) => number | undefined) => traces.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return {
    /** The worker's own closedToStoredMs (queued -> upload job done). */
    closedToStored: pick((t) => t.closedToStoredMs),
    /** Queued -> the bucket created the object. */
    queuedToCreated: pick((t) => (t.objectCreatedAtMs === undefined || t.queuedAtMs === undefined ? undefined : t.objectCreatedAtMs - t.queuedAtMs)),
    /** Queued -> the function logged its description. */
    queuedToDescribed: pick((t) => (t.describedAtMs === undefined || t.queuedAtMs === undefined ? undefined : t.describedAtMs - t.queuedAtMs)),
    describeElapsed: pick((t) => t.describeElapsedMs),
  };
}
