// How many uploads one worker runs at once. A fixed number is wrong one way or the other: eight
// is plenty for a few cameras, but 128 cameras, or the backlog after an outage, wait in the queue
// while each upload spends most of its time waiting on an fsync or the network, not on our CPU.
// So the worker raises its concurrency while jobs wait, keeps a raise only if it stored more per
// second, and falls back to the configured floor once the queue is empty. Decisions only: the
// caller observes the queue and applies the number.

export interface ConcurrencyLimits {
  /** The configured UPLOAD_CONCURRENCY: never fewer uploads than this. */
  min: number;
  /** UPLOAD_CONCURRENCY_MAX: never more (memory and the link bound it). */
  max: number;
}

/** What one period showed. */
export interface ConcurrencyObservation {
  /** Jobs waiting for a slot at the end of the period (waiting + prioritized). */
  waiting: number;
  /** Chunks stored during the period. */
  stored: number;
  /** Upload attempts that failed during the period. */
  failed: number;
  periodMs: number;
}

export interface ConcurrencyState {
  concurrency: number;
  /** Stored per second at the level before the last raise, to judge whether the raise paid. */
  rateBeforeRaise?: number;
  /** The level before the last raise, to go back to when it did not pay. */
  levelBeforeRaise?: number;
  /** Periods left during which no raise is tried (after one that did not pay). */
  holdPeriods: number;
}

export interface ConcurrencyDecision {
  state: ConcurrencyState;
  /** Why the number changed, for the log; undefined when it did not. */
  reason?: string;
}

/** A raise must store this much more per second to be kept. */
const RAISE_MUST_GAIN = 1.1;
/** After a raise that did not pay, this many periods at the old level before trying again. */
const HOLD_AFTER_FRUITLESS_RAISE = 15;

export function initialConcurrency(limits: ConcurrencyLimits): ConcurrencyState {
  return { concurrency: limits.min, holdPeriods: 0 };
}

export function nextConcurrency(state: ConcurrencyState, seen: ConcurrencyObservation, limits: ConcurrencyLimits): ConcurrencyDecision {
  const rate = seen.periodMs > 0 ? (seen.stored * 1000) / seen.periodMs : 0;
  const holdPeriods = Math.max(0, state.holdPeriods - 1);
  const base: ConcurrencyState = { concurrency: state.concurrency, holdPeriods };

  // Storage refusing or unreachable: more attempts in flight only fail faster.
  if (seen.failed > 0 && seen.stored === 0) {
    if (state.concurrency === limits.min) return { state: base };
    return { state: { concurrency: limits.min, holdPeriods }, reason: `uploads are failing (${seen.failed} in ${seen.periodMs} ms, none stored)` };
  }

  // The last raise is judged once: kept if it paid, undone (and not tried again for a while) if not.
  if (state.rateBeforeRaise !== undefined && state.levelBeforeRaise !== undefined && seen.waiting > 0) {
    if (rate <= state.rateBeforeRaise * RAISE_MUST_GAIN) {
      return {
        state: { concurrency: state.levelBeforeRaise, holdPeriods: HOLD_AFTER_FRUITLESS_RAISE },
        reason: `${state.concurrency} uploads stored ${rate.toFixed(1)}/s against ${state.rateBeforeRaise.toFixed(1)}/s at ${state.levelBeforeRaise}: the raise did not pay`,
      };
    }
  }

  if (seen.waiting === 0) {
    if (state.concurrency === limits.min) return { state: base };
    const lower = Math.max(limits.min, Math.floor(state.concurrency * 0.75));
    return { state: { concurrency: lower, holdPeriods }, reason: 'no chunk is waiting' };
  }

  // Jobs wait for a slot: more slots, unless the last try showed they do not help, or nothing was
  // stored at all (the queue is paused for an outage, or uploads hang): slots are not the bound then.
  if (seen.waiting >= state.concurrency && seen.stored > 0 && state.concurrency < limits.max && holdPeriods === 0) {
    const higher = Math.min(limits.max, Math.ceil(state.concurrency * 1.5));
    return {
      state: { concurrency: higher, rateBeforeRaise: rate, levelBeforeRaise: state.concurrency, holdPeriods },
      reason: `${seen.waiting} chunks waiting for ${state.concurrency} upload slots (${rate.toFixed(1)} stored/s)`,
    };
  }
  return { state: base };
}
