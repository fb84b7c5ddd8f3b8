import { SERIES_SECONDS, emptyLatencyBuckets, latencyBucketOf, type SourceUploadFigures } from '@crispy-streamer/shared/fleet';

/** One finished upload, as the dashboard counts it. */
export interface UploadSample {
  source: string;
  finishedAtMs: number;
  /** From the chunk being queued (just after ffmpeg closed it) to the bucket confirming it. */
  closedToStoredMs: number;
  bytes: number;
  /** When the chunk's footage ends (its start time plus its duration), epoch ms. */
  chunkEndMs: number;
}

export interface SourceSummary {
  source: string;
  chunks: number;
  avgMs: number;
  p95Ms: number;
  bytesPerSecond: number;
  /**
   * How far behind live uploads run: from the end of the footage of the chunk stored last to the
   * moment it was stored. A chunk length or so when uploads keep up; it grows with the backlog
   * (oldest first), and shrinks as the backlog drains. 0 before any upload. For 'all', the
   * source furthest behind.
   */
  behindLiveMs: number;
  /** The most behind live any upload in the window was. */
  maxBehindLiveMs: number;
}

export interface StatsSnapshot {
  atMs: number;
  sources: SourceSummary[];
  total: SourceSummary;
  /** Recent throughput, one point per second: chunks and bytes finished in that second. */
  series: { atMs: number; chunks: number; bytes: number }[];
}

/** Behind live of one stored chunk; never negative (a camera's clock may run ahead of ours). */
export function behindLiveMs(sample: Pick<UploadSample, 'finishedAtMs' | 'chunkEndMs'>): number {
  return Math.max(0, Math.round(sample.finishedAtMs - sample.chunkEndMs));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? 0;
}

/**
 * Keeps the last `windowMs` of uploads in memory and summarises them per source. Counts since
 * start are kept apart, so the totals do not shrink when the window slides.
 */
export class UploadStats {
  private samples: UploadSample[] = [];
  private readonly counts = new Map<string, number>();
  private readonly lastStored = new Map<string, number>();
  /** Per source, the chunk stored last: it says how far behind live the source's uploads are, even after the window slid past it. */
  private readonly latest = new Map<string, UploadSample>();

  constructor(
    private readonly keptForMs = 5 * 60_000,
    private readonly throughputOverMs = 10_000,
  ) {}

  record(sample: UploadSample): void {
    this.samples.push(sample);
    this.counts.set(sample.source, (this.counts.get(sample.source) ?? 0) + 1);
    this.lastStored.set(sample.source, Math.max(this.lastStored.get(sample.source) ?? 0, sample.finishedAtMs));
    const previous = this.latest.get(sample.source);
    if (previous === undefined || sample.finishedAtMs >= previous.finishedAtMs) this.latest.set(sample.source, sample);
  }

  get windowMs(): number {
    return this.keptForMs;
  }

  get throughputWindowMs(): number {
    return this.throughputOverMs;
  }

  /** Chunks stored since this process started. */
  get storedSinceStart(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }

  /**
   * The window as figures that add up across workers (upload-figures.ts): per source, counts per
   * latency bucket rather than percentiles; and chunks per second for the last minute.
   */
  figures(nowMs: number): { sources: Record<string, SourceUploadFigures>; series: number[] } {
    this.samples = this.samples.filter((s) => nowMs - s.finishedAtMs <= this.keptForMs);
    const sources: Record<string, SourceUploadFigures> = {};
    for (const [source, lastStoredMs] of this.lastStored) {
      sources[source] = { chunks: 0, bytes: 0, latencyBuckets: emptyLatencyBuckets(), latencySumMs: 0, recentBytes: 0, lastStoredMs };
    }
    for (const sample of this.samples) {
      const f = sources[sample.source];
      if (f === undefined) continue;
      f.chunks++;
      f.bytes += sample.bytes;
      const bucket = latencyBucketOf(sample.closedToStoredMs);
      f.latencyBuckets[bucket] = (f.latencyBuckets[bucket] ?? 0) + 1;
      f.latencySumMs += Math.round(sample.closedToStoredMs);
      if (nowMs - sample.finishedAtMs <= this.throughputOverMs) f.recentBytes += sample.bytes;
    }
    const series = new Array<number>(SERIES_SECONDS).fill(0);
    const lastSecond = Math.floor(nowMs / 1000);
    for (const sample of this.samples) {
      const index = SERIES_SECONDS - 1 - (lastSecond - Math.floor(sample.finishedAtMs / 1000));
      if (index >= 0 && index < SERIES_SECONDS) series[index] = (series[index] ?? 0) + 1;
    }
    return { sources, series };
  }

  snapshot(nowMs: number): StatsSnapshot {
    this.samples = this.samples.filter((s) => nowMs - s.finishedAtMs <= this.keptForMs);
    const bySource = new Map<string, UploadSample[]>();
    for (const sample of this.samples) bySource.set(sample.source, [...(bySource.get(sample.source) ?? []), sample]);
    const summarise = (source: string, samples: UploadSample[], count: number, latest: UploadSample[]): SourceSummary => {
      const latencies = samples.map((s) => s.closedToStoredMs).sort((a, b) => a - b);
      const recentBytes = samples.filter((s) => nowMs - s.finishedAtMs <= this.throughputOverMs).reduce((sum, s) => sum + s.bytes, 0);
      return {
        source,
        chunks: count,
        avgMs: latencies.length === 0 ? 0 : Math.round(latencies.reduce((a, b) => a + b, 0) / latencies.length),
        p95Ms: Math.round(percentile(latencies, 95)),
        bytesPerSecond: Math.round(recentBytes / (this.throughputOverMs / 1000)),
        behindLiveMs: Math.max(0, ...latest.map(behindLiveMs)),
        maxBehindLiveMs: Math.max(0, ...samples.map(behindLiveMs), ...latest.map(behindLiveMs)),
      };
    };
    const latestOf = (source: string) => {
      const sample = this.latest.get(source);
      return sample === undefined ? [] : [sample];
    };
    const sources = [...this.counts.keys()]
      .sort()
      .map((source) => summarise(source, bySource.get(source) ?? [], this.counts.get(source) ?? 0, latestOf(source)));
    const total = summarise(
      'all',
      this.samples,
      [...this.counts.values()].reduce((a, b) => a + b, 0),
      [...this.latest.values()],
    );
    const series: StatsSnapshot['series'] = [];
    const lastSecond = Math.floor(nowMs / 1000) * 1000;
    for (let at = lastSecond - 59_000; at <= lastSecond; at += 1000) {
      const inSecond = this.samples.filter((s) => s.finishedAtMs >= at && s.finishedAtMs < at + 1000);
      series.push({ atMs: at, chunks: inSecond.length, bytes: inSecond.reduce((sum, s) => sum + s.bytes, 0) });
    }
    return { atMs: nowMs, sources, total, series };
  }
}
