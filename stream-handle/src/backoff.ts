export interface BackoffPolicy {
  minDelayMs: number;
  maxDelayMs: number;
  /** Fraction of the delay that is randomised, so cameras on one node do not retry in step. */
  jitter: number;
}

/** Exponential backoff: min, 2*min, 4*min... capped at max, with +/- jitter. */
export function reconnectDelayMs(failuresInARow: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, failuresInARow - 1);
  const base = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.min(exponent, 30));
  const spread = base * policy.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}
