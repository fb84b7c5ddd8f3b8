import { describe, expect, it } from 'vitest';
import { backoffDelayMs, type BackoffPolicy } from '../src/backoff.js';

const exact: BackoffPolicy = { minDelayMs: 1000, maxDelayMs: 30_000, jitter: 0 };

describe('backoffDelayMs', () => {
  it('starts at the minimum and doubles with each failure in a row', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, exact))).toEqual([1000, 2000, 4000, 8000, 16_000]);
  });

  it('is capped at the maximum', () => {
    expect(backoffDelayMs(6, exact)).toBe(30_000);
    expect(backoffDelayMs(1000, exact)).toBe(30_000);
  });

  it('treats zero or negative failure counts like the first failure', () => {
    expect(backoffDelayMs(0, exact)).toBe(1000);
    expect(backoffDelayMs(-3, exact)).toBe(1000);
  });

  it('spreads the delay by +/- jitter: random 0 gives the low end, 0.5 the middle, ~1 the high end', () => {
    const policy = { ...exact, jitter: 0.2 };
    expect(backoffDelayMs(2, policy, () => 0)).toBe(1600);
    expect(backoffDelayMs(2, policy, () => 0.5)).toBe(2000);
    expect(backoffDelayMs(2, policy, () => 0.999999)).toBe(2400);
  });

  it('applies jitter around the capped delay, so it may exceed the cap by the jitter share', () => {
    expect(backoffDelayMs(20, { ...exact, jitter: 0.2 }, () => 0)).toBe(24_000);
    expect(backoffDelayMs(20, { ...exact, jitter: 0.2 }, () => 0.999999)).toBe(36_000);
  });

  it('stays within the bounds for any random value', () => {
    const policy = { minDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 };
    for (let n = 1; n <= 8; n++) {
      const base = Math.min(1000, 100 * 2 ** (n - 1));
      for (const r of [0, 0.1, 0.37, 0.5, 0.81, 0.999]) {
        const delay = backoffDelayMs(n, policy, () => r);
        expect(delay).toBeGreaterThanOrEqual(base * 0.5);
        expect(delay).toBeLessThanOrEqual(base * 1.5);
      }
    }
  });

  it('never returns a negative delay, even with jitter above 1', () => {
    expect(backoffDelayMs(1, { ...exact, jitter: 2 }, () => 0)).toBe(0);
  });
});
