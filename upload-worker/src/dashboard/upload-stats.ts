/** One finished upload, as the dashboard counts it. */
export interface UploadSample {
  source: string;
  finishedAtMs: number;
  /** From the chunk being queued (just after ffmpeg closed it) to the bucket confirming it. */
  closedToStoredMs: number;
  bytes: number;
}

export interface SourceSummary {
  source: string;
  chunks: number;
  avgMs: number;
  p95Ms: number;
  bytesPerSecond: number;
}

export interface StatsSnapshot {
  atMs: number;
  sources: SourceSummary[];
  total: SourceSummary;
  /** Recent throughput, one point per second: chunks and bytes finished in that second. */
  series: { atMs: number; chunks: number; bytes: number }[];
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

  constructor(
    private readonly windowMs = 5 * 60_000,
    private readonly throughputWindowMs = 10_000,
  ) {}

  record(sample: UploadSample): void {
    this.samples.push(sample);
    this.counts.set(sample.source, (this.counts.get(sample.source) ?? 0) + 1);
  }

  snapshot(nowMs: number): StatsSnapshot {
    this.samples = this.samples.filter((s) => nowMs - s.finishedAtMs <= this.windowMs);
    const bySource = new Map<string, UploadSample[]>();
    for (const sample of this.samples) bySource.set(sample.source, [...(bySource.get(sample.source) ?? []), sample]);
    const summarise = (source: string, samples: UploadSample[], count: number): SourceSummary => {
      const latencies = samples.map((s) => s.closedToStoredMs).sort((a, b) => a - b);
      const recentBytes = samples.filter((s) => nowMs - s.finishedAtMs <= this.throughputWindowMs).reduce((sum, s) => sum + s.bytes, 0);
      return {
        source,
        chunks: count,
        avgMs: latencies.length === 0 ? 0 : Math.round(latencies.reduce((a, b) => a + b, 0) / latencies.length),
        p95Ms: Math.round(percentile(latencies, 95)),
        bytesPerSecond: Math.round(recentBytes / (this.throughputWindowMs / 1000)),
      };
    };
    const sources = [...this.counts.keys()].sort().map((source) => summarise(source, bySource.get(source) ?? [], this.counts.get(source) ?? 0));
    const total = summarise('all', this.samples, [...this.counts.values()].reduce((a, b) => a + b, 0));
    const series: StatsSnapshot['series'] = [];
    const lastSecond = Math.floor(nowMs / 1000) * 1000;
    for (let at = lastSecond - 59_000; at <= lastSecond; at += 1000) {
      const inSecond = this.samples.filter((s) => s.finishedAtMs >= at && s.finishedAtMs < at + 1000);
      series.push({ atMs: at, chunks: inSecond.length, bytes: inSecond.reduce((sum, s) => sum + s.bytes, 0) });
    }
    return { atMs: nowMs, sources, total, series };
  }
}
