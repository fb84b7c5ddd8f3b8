import type { Logger } from '@crispy-streamer/shared';
import { initialConcurrency, nextConcurrency, type ConcurrencyLimits, type ConcurrencyState } from './adaptive-concurrency.js';

export interface ConcurrencyControlDeps {
  limits: ConcurrencyLimits;
  /** Jobs waiting for a slot now (BullMQ's waiting + prioritized). */
  waitingCount(): Promise<number>;
  /** Sets the worker's concurrency (BullMQ reads it before taking each job). */
  apply(concurrency: number): void;
  logger: Logger;
  periodMs?: number;
}

export interface ConcurrencyControl {
  /** Counts for the current period; called on each job's outcome. */
  stored(): void;
  failed(): void;
  readonly concurrency: number;
  stop(): void;
}

/** Observes the queue once a period and applies nextConcurrency's number; nothing when min = max. */
export function startConcurrencyControl(deps: ConcurrencyControlDeps): ConcurrencyControl {
  let state: ConcurrencyState = initialConcurrency(deps.limits);
  let stored = 0;
  let failed = 0;
  let last = Date.now();
  let observing = false;
  const periodMs = deps.periodMs ?? 1000;
  const timer =
    deps.limits.max > deps.limits.min
      ? setInterval(() => {
          if (observing) return;
          observing = true;
          void deps
            .waitingCount()
            .then((waiting) => {
              const now = Date.now();
              const decision = nextConcurrency(state, { waiting, stored, failed, periodMs: now - last }, deps.limits);
              stored = 0;
              failed = 0;
              last = now;
              if (decision.state.concurrency !== state.concurrency) {
                deps.apply(decision.state.concurrency);
                deps.logger.info(
                  { concurrency: decision.state.concurrency, from: state.concurrency, waiting },
                  `upload concurrency ${decision.state.concurrency}: ${decision.reason ?? ''}`,
                );
              }
              state = decision.state;
            })
            // Redis away: keep the number; the queue's own errors are logged where it is watched.
            .catch(() => undefined)
            .finally(() => {
              observing = false;
            });
        }, periodMs)
      : undefined;
  timer?.unref();
  return {
    stored: () => void stored++,
    failed: () => void failed++,
    get concurrency() {
      return state.concurrency;
    },
    stop: () => clearInterval(timer),
  };
}
