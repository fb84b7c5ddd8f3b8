import { describe, expect, it } from 'vitest';
import {
  LATENCY_BOUNDS_MS,
  SERIES_SECONDS,
  emptyLatencyBuckets,
  latencyBucketOf,
  mergeUploadFigures,
  parseUploadFigures,
  quantileOfBuckets,
  serializeUploadFigures,
  type WorkerUploadFigures,
} from '../../src/fleet/index.js';

const T = Date.parse('2026-11-23T09:00:00.000Z');

function worker(
  id: string,
  heartbeatMs: number,
  latencies: Record<string, number[]>,
  queue: Record<string, number> = { waiting: 0, failed: 0 },
): WorkerUploadFigures {
  const sources: WorkerUploadFigures['sources'] = {};
  for (const [source, values] of Object.entries(latencies)) {
    const buckets = emptyLatencyBuckets();
    for (const ms of values) buckets[latencyBucketOf(ms)] = (buckets[latencyBucketOf(ms)] ?? 0) + 1;
    sources[source] = {
      chunks: values.length,
      bytes: values.length * 1000,
      latencyBuckets: buckets,
      latencySumMs: values.reduce((a, b) => a + b, 0),
      recentBytes: values.length * 1000,
      lastStoredMs: heartbeatMs - 500,
    };
  }
  const series = new Array<number>(SERIES_SECONDS).fill(0);
  series[SERIES_SECONDS - 1] = 2;
  return {
    version: 1,
    workerId: id,
    queueName: 'chunks',
    bucket: 'file:///bucket',
    heartbeatMs,
    staleAfterMs: 8000,
    windowMs: 300_000,
    throughputWindowMs: 10_000,
    concurrency: 8,
    storedSinceStart: 100,
    queue,
    sources,
    series,
  };
}

describe('upload figures of several workers', () => {
  it('round-trip through Redis and refuse what they are not', () => {
    const figures = worker('w1', T, { cam1: [120, 80] });
    expect(parseUploadFigures(serializeUploadFigures(figures))).toEqual({ ok: true, figures });
    expect(parseUploadFigures({ version: '2', figures: '{}' }).ok).toBe(false);
    const bad = { ...figures, sources: { cam1: { ...figures.sources.cam1, latencyBuckets: [1] } } };
    expect(parseUploadFigures(serializeUploadFigures(bad as WorkerUploadFigures))).toEqual({
      ok: false,
      problems: ["sources.cam1 is not a source's upload figures"],
    });
  });

  it('add up: counts and buckets summed, the p95 read off the sum, a silent worker left out', () => {
    // Worker 1 is fast, worker 2 slow: the fleet's p95 is the slow one's, not an average of p95s.
    const fast = worker('w1', T, { cam1: Array.from({ length: 90 }, () => 40) });
    const slow = worker('w2', T - 1000, { cam1: Array.from({ length: 10 }, () => 4000), cam2: [250] });
    const silent = worker('w3', T - 60_000, { cam1: [999_999] });
    const merged = mergeUploadFigures([fast, slow, silent], T);
    expect(merged.total.chunks).toBe(101);
    expect(merged.sources.cam1?.chunks).toBe(100);
    expect(merged.sources.cam1?.avgMs).toBe(Math.round((90 * 40 + 10 * 4000) / 100));
    // 95th of 100: in the 2-5 s bucket (the slow worker's 10).
    expect(merged.sources.cam1?.p95Ms).toBeGreaterThan(2000);
    expect(merged.sources.cam1?.p95Ms).toBeLessThanOrEqual(5000);
    // The silent worker's last upload still counts as when cam1 was last stored.
    expect(merged.sources.cam1?.lastStoredMs).toBe(T - 500);
    expect(merged.workers.map((w) => [w.workerId, w.stale])).toEqual([
      ['w1', false],
      ['w2', false],
      ['w3', true],
    ]);
    // The slow worker's series ends a second earlier: shifted onto the newest.
    expect(merged.series.slice(-2)).toEqual([2, 2]);
    expect(merged.total.bytesPerSecond).toBe(Math.round((101 * 1000) / 10));
  });

  it('reads quantiles off buckets like histogram_quantile', () => {
    const buckets = emptyLatencyBuckets();
    buckets[latencyBucketOf(30)] = 100; // all in (25, 50]
    expect(quantileOfBuckets(buckets, 0.5)).toBe(37.5);
    expect(quantileOfBuckets(emptyLatencyBuckets(), 0.95)).toBe(0);
    const slowest = emptyLatencyBuckets();
    slowest[LATENCY_BOUNDS_MS.length] = 1; // beyond the last bound: its lower bound
    expect(quantileOfBuckets(slowest, 0.95)).toBe(300_000);
  });
});
