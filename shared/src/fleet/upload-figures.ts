import { SOURCE_ID_PATTERN } from '../chunk.js';
import { CLOSED_TO_STORED_BUCKETS_SECONDS } from '../metrics.js';

// One upload worker's figures, as it publishes them in Redis every few seconds (key:
// status-keys.ts), made to be added up: counts and histogram buckets, never percentiles (a p95
// of p95s means nothing). The fleet page sums every live worker's and reads the percentiles off
// the sum, as Prometheus's histogram_quantile does with crispy_chunk_closed_to_stored_seconds,
// whose buckets these are.

export const UPLOAD_FIGURES_VERSION = 1;
/** Upper bounds (ms) of the latency buckets; a last bucket counts everything slower. */
export const LATENCY_BOUNDS_MS: readonly number[] = CLOSED_TO_STORED_BUCKETS_SECONDS.map((seconds) => seconds * 1000);
/** Seconds of the per-second series. */
export const SERIES_SECONDS = 60;

export interface SourceUploadFigures {
  /** Chunks stored within the window. */
  chunks: number;
  bytes: number;
  /** Chunks per latency bucket (closed to stored); LATENCY_BOUNDS_MS.length + 1 entries. */
  latencyBuckets: number[];
  latencySumMs: number;
  /** Bytes stored in the last THROUGHPUT_WINDOW_MS. */
  recentBytes: number;
  /** When this worker last stored a chunk of the source (kept beyond the window). */
  lastStoredMs: number | undefined;
}

export interface WorkerUploadFigures {
  version: typeof UPLOAD_FIGURES_VERSION;
  workerId: string;
  queueName: string;
  /** Where it uploads: gs://bucket or file:///dir. */
  bucket: string;
  heartbeatMs: number;
  staleAfterMs: number;
  /** The figures cover the last windowMs before heartbeatMs. */
  windowMs: number;
  throughputWindowMs: number;
  concurrency: number;
  /** Chunks stored since this worker started. */
  storedSinceStart: number;
  /** The queue's job counts as this worker read them (each worker of a queue reads the same). */
  queue: Record<string, number>;
  sources: Record<string, SourceUploadFigures>;
  /** Chunks stored per second, the last SERIES_SECONDS seconds up to heartbeatMs. */
  series: number[];
}

export function serializeUploadFigures(figures: WorkerUploadFigures): Record<string, string> {
  return { version: String(figures.version), figures: JSON.stringify(figures) };
}

export type ParsedUploadFigures = { ok: true; figures: WorkerUploadFigures } | { ok: false; problems: string[] };

export function parseUploadFigures(hash: Record<string, string | undefined>): ParsedUploadFigures {
  if (hash.version !== String(UPLOAD_FIGURES_VERSION))
    return { ok: false, problems: [`version ${hash.version ?? 'missing'}: this reader knows version ${UPLOAD_FIGURES_VERSION} only`] };
  let value: unknown;
  try {
    value = JSON.parse(hash.figures ?? '');
  } catch {
    return { ok: false, problems: ['figures is not JSON'] };
  }
  const problems: string[] = [];
  const v = value as Partial<WorkerUploadFigures> | null;
  if (v === null || typeof v !== 'object') return { ok: false, problems: ['figures is not an object'] };
  const count = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  const ms = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (typeof v.workerId !== 'string' || v.workerId === '') problems.push('workerId must be a worker id');
  if (typeof v.queueName !== 'string') problems.push('queueName must be a queue name');
  if (typeof v.bucket !== 'string') problems.push('bucket must be a bucket description');
  for (const key of ['heartbeatMs', 'staleAfterMs', 'windowMs', 'throughputWindowMs'] as const)
    if (!ms(v[key]) || v[key] === 0) problems.push(`${key} must be milliseconds > 0`);
  for (const key of ['concurrency', 'storedSinceStart'] as const) if (!count(v[key])) problems.push(`${key} must be a whole number >= 0`);
  if (typeof v.queue !== 'object' || v.queue === null || !Object.values(v.queue).every(count)) problems.push('queue must map job states to counts');
  if (!Array.isArray(v.series) || v.series.length !== SERIES_SECONDS || !v.series.every(count)) problems.push(`series must be ${SERIES_SECONDS} counts`);
  if (typeof v.sources !== 'object' || v.sources === null) problems.push('sources must map source ids to figures');
  else {
    for (const [source, figures] of Object.entries(v.sources)) {
      const f = figures as Partial<SourceUploadFigures>;
      const ok =
        SOURCE_ID_PATTERN.test(source) &&
        count(f.chunks) &&
        count(f.bytes) &&
        count(f.recentBytes) &&
        ms(f.latencySumMs) &&
        Array.isArray(f.latencyBuckets) &&
        f.latencyBuckets.length === LATENCY_BOUNDS_MS.length + 1 &&
        f.latencyBuckets.every(count) &&
        (f.lastStoredMs === undefined || f.lastStoredMs === null || ms(f.lastStoredMs));
      if (!ok) problems.push(`sources.${source.slice(0, 64)} is not a source's upload figures`);
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  const figures = v as WorkerUploadFigures;
  for (const source of Object.values(figures.sources)) if (source.lastStoredMs === null) source.lastStoredMs = undefined;
  return { ok: true, figures };
}

export interface LatencySummary {
  chunks: number;
  avgMs: number;
  /** Read off the summed histogram, interpolated within its bucket (like histogram_quantile). */
  p95Ms: number;
}

export function emptyLatencyBuckets(): number[] {
  return new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
}

/** Which bucket a latency falls in: the first bound it does not exceed. */
export function latencyBucketOf(latencyMs: number): number {
  const index = LATENCY_BOUNDS_MS.findIndex((bound) => latencyMs <= bound);
  return index < 0 ? LATENCY_BOUNDS_MS.length : index;
}

/** The q-quantile of a histogram; a quantile in the last (open) bucket is its lower bound. */
export function quantileOfBuckets(buckets: readonly number[], q: number): number {
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let cumulative = 0;
  for (let index = 0; index < buckets.length; index++) {
    const inBucket = buckets[index] ?? 0;
    if (cumulative + inBucket >= rank && inBucket > 0) {
      const lower = index === 0 ? 0 : (LATENCY_BOUNDS_MS[index - 1] ?? 0);
      const upper = LATENCY_BOUNDS_MS[index];
      if (upper === undefined) return lower;
      return lower + ((upper - lower) * (rank - cumulative)) / inBucket;
    }
    cumulative += inBucket;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1] ?? 0;
}

export interface FleetUploads {
  /** Every worker publishing, the silent ones marked stale (their figures are left out of the sums). */
  workers: {
    workerId: string;
    queueName: string;
    bucket: string;
    stale: boolean;
    heartbeatMs: number;
    concurrency: number;
    storedInWindow: number;
    storedSinceStart: number;
  }[];
  total: LatencySummary & { bytesPerSecond: number };
  sources: Record<string, LatencySummary & { bytesPerSecond: number; lastStoredMs: number | undefined }>;
  /** Summed over live workers, aligned on the newest heartbeat's second. */
  series: number[];
  /** Job counts per queue (workers of one queue report the same counts: the freshest is taken). */
  queues: Record<string, Record<string, number>>;
  windowMs: number;
}

/** Adds up the figures of every worker that is not stale. */
export function mergeUploadFigures(all: readonly WorkerUploadFigures[], nowMs: number): FleetUploads {
  const live = all.filter((figures) => nowMs - figures.heartbeatMs <= figures.staleAfterMs);
  const bySource = new Map<
    string,
    { buckets: number[]; sumMs: number; chunks: number; recentBytes: number; throughputWindowMs: number; lastStoredMs: number | undefined }
  >();
  const totalBuckets = emptyLatencyBuckets();
  let totalSum = 0;
  let totalRecentBytes = 0;
  const throughputWindowMs = Math.max(1, ...live.map((figures) => figures.throughputWindowMs));
  for (const figures of all) {
    for (const [source, f] of Object.entries(figures.sources)) {
      const entry = bySource.get(source) ?? {
        buckets: emptyLatencyBuckets(),
        sumMs: 0,
        chunks: 0,
        recentBytes: 0,
        throughputWindowMs,
        lastStoredMs: undefined,
      };
      // A stale worker's last upload still happened; its window's counts are no longer current.
      if (f.lastStoredMs !== undefined && (entry.lastStoredMs === undefined || f.lastStoredMs > entry.lastStoredMs)) entry.lastStoredMs = f.lastStoredMs;
      if (live.includes(figures)) {
        f.latencyBuckets.forEach((n, i) => {
          entry.buckets[i] = (entry.buckets[i] ?? 0) + n;
          totalBuckets[i] = (totalBuckets[i] ?? 0) + n;
        });
        entry.sumMs += f.latencySumMs;
        entry.chunks += f.chunks;
        entry.recentBytes += f.recentBytes;
        totalSum += f.latencySumMs;
        totalRecentBytes += f.recentBytes;
      }
      bySource.set(source, entry);
    }
  }
  const summary = (buckets: number[], sumMs: number) => {
    const chunks = buckets.reduce((a, b) => a + b, 0);
    return { chunks, avgMs: chunks === 0 ? 0 : Math.round(sumMs / chunks), p95Ms: Math.round(quantileOfBuckets(buckets, 0.95)) };
  };
  const newest = live.reduce<WorkerUploadFigures | undefined>(
    (best, figures) => (best === undefined || figures.heartbeatMs > best.heartbeatMs ? figures : best),
    undefined,
  );
  const series = new Array<number>(SERIES_SECONDS).fill(0);
  for (const figures of live) {
    // Each series ends at its own heartbeat's second: shift it onto the newest one's.
    const shift = Math.floor((newest?.heartbeatMs ?? 0) / 1000) - Math.floor(figures.heartbeatMs / 1000);
    figures.series.forEach((n, i) => {
      const at = i - shift;
      if (at >= 0 && at < SERIES_SECONDS) series[at] = (series[at] ?? 0) + n;
    });
  }
  const queues: FleetUploads['queues'] = {};
  for (const figures of [...live].sort((a, b) => a.heartbeatMs - b.heartbeatMs)) queues[figures.queueName] = figures.queue;
  return {
    workers: all
      .map((figures) => ({
        workerId: figures.workerId,
        queueName: figures.queueName,
        bucket: figures.bucket,
        stale: !live.includes(figures),
        heartbeatMs: figures.heartbeatMs,
        concurrency: figures.concurrency,
        storedInWindow: Object.values(figures.sources).reduce((sum, f) => sum + f.chunks, 0),
        storedSinceStart: figures.storedSinceStart,
      }))
      .sort((a, b) => (a.workerId < b.workerId ? -1 : 1)),
    total: { ...summary(totalBuckets, totalSum), bytesPerSecond: Math.round(totalRecentBytes / (throughputWindowMs / 1000)) },
    sources: Object.fromEntries(
      [...bySource.entries()].map(([source, entry]) => [
        source,
        {
          ...summary(entry.buckets, entry.sumMs),
          bytesPerSecond: Math.round(entry.recentBytes / (entry.throughputWindowMs / 1000)),
          lastStoredMs: entry.lastStoredMs,
        },
      ]),
    ),
    series,
    queues,
    windowMs: Math.max(0, ...live.map((figures) => figures.windowMs)),
  };
}
