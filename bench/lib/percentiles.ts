/** Summary statistics of a list of samples (milliseconds, bytes, whatever). */
export interface Distribution {
  count: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending list (p in 0..100); NaN for an empty list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
  };
}

/** Points of the empirical CDF, thinned to at most maxPoints, for charts. */
export function cdfPoints(values: readonly number[], maxPoints = 200): { value: number; fraction: number }[] {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  const step = Math.max(1, Math.floor(sorted.length / maxPoints));
  const points: { value: number; fraction: number }[] = [];
  for (let i = 0; i < sorted.length; i += step) points.push({ value: sorted[i] ?? 0, fraction: (i + 1) / sorted.length });
  const last = sorted[sorted.length - 1] ?? 0;
  if (points[points.length - 1]?.value !== last || points[points.length - 1]?.fraction !== 1) points.push({ value: last, fraction: 1 });
  return points;
}
