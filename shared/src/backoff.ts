/** Exponential backoff with jitter: the one formula every retry loop of the project uses. */
export interface BackoffPolicy {
  minDelayMs: number;
  maxDelayMs: number;
  /** Fraction of the delay that is randomised (0-1), so many retriers do not move in step. */
  jitter: number;
}

/** The delay before retry number `failuresInARow` (1-based): min, 2*min, 4*min... capped at max, +/- jitter. */
export function backoffDelayMs(failuresInARow: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, failuresInARow - 1);
  const base = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.min(exponent, 30));
  const spread = base * policy.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}
