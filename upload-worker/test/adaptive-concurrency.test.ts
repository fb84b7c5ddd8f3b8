import { describe, expect, it } from 'vitest';
import { initialConcurrency, nextConcurrency, type ConcurrencyObservation, type ConcurrencyState } from '../src/adaptive-concurrency.js';

const limits = { min: 8, max: 32 };
const seen = (o: Partial<ConcurrencyObservation>): ConcurrencyObservation => ({ waiting: 0, stored: 0, failed: 0, periodMs: 1000, ...o });

/** Runs periods in order, returning the concurrency after each. */
function run(observations: Partial<ConcurrencyObservation>[], start: ConcurrencyState = initialConcurrency(limits)): number[] {
  let state = start;
  return observations.map((o) => {
    state = nextConcurrency(state, seen(o), limits).state;
    return state.concurrency;
  });
}

describe('nextConcurrency', () => {
  it('starts at the configured floor and stays there while the queue keeps up', () => {
    expect(initialConcurrency(limits).concurrency).toBe(8);
    expect(
      run([
        { waiting: 0, stored: 20 },
        { waiting: 3, stored: 20 },
        { waiting: 7, stored: 20 },
      ]),
    ).toEqual([8, 8, 8]);
  });

  it('raises by half while chunks wait and each raise stores more per second, up to the ceiling', () => {
    expect(
      run([
        { waiting: 200, stored: 40 },
        { waiting: 180, stored: 60 },
        { waiting: 150, stored: 85 },
        { waiting: 120, stored: 110 },
        { waiting: 90, stored: 130 },
      ]),
    ).toEqual([12, 18, 27, 32, 32]);
  });

  it('undoes a raise that stored no more, and does not try again for a while', () => {
    const levels = run([
      { waiting: 200, stored: 40 },
      { waiting: 190, stored: 41 },
      ...Array<Partial<ConcurrencyObservation>>(14).fill({ waiting: 190, stored: 41 }),
      { waiting: 190, stored: 41 },
    ]);
    expect(levels[0]).toBe(12);
    expect(levels[1]).toBe(8);
    // Held at 8 for 15 periods after the fruitless raise, then tried again.
    expect(levels.slice(2, 16)).toEqual(Array<number>(14).fill(8));
    expect(levels[16]).toBe(12);
  });

  it('falls back towards the floor once nothing waits', () => {
    expect(run([{ waiting: 0, stored: 5 }, { waiting: 0 }, { waiting: 0 }, { waiting: 0 }], { concurrency: 32, holdPeriods: 0 })).toEqual(
      [24, 18, 13, 9].map((n) => Math.max(8, n)),
    );
    expect(run([{ waiting: 0 }], { concurrency: 9, holdPeriods: 0 })).toEqual([8]);
  });

  it('drops to the floor while uploads fail and none is stored (storage down), and does not raise then', () => {
    const decision = nextConcurrency({ concurrency: 27, holdPeriods: 0 }, seen({ waiting: 500, failed: 8 }), limits);
    expect(decision.state.concurrency).toBe(8);
    expect(decision.reason).toMatch(/failing/);
    expect(run([{ waiting: 500, failed: 3 }])).toEqual([8]);
  });

  it('does not raise while nothing is stored (the queue paused for an outage, or uploads hanging)', () => {
    expect(run([{ waiting: 500 }, { waiting: 500 }, { waiting: 500 }])).toEqual([8, 8, 8]);
  });

  it('says why it changed, and nothing when it did not', () => {
    const raised = nextConcurrency(initialConcurrency(limits), seen({ waiting: 100, stored: 30 }), limits);
    expect(raised.reason).toBe('100 chunks waiting for 8 upload slots (30.0 stored/s)');
    expect(nextConcurrency(initialConcurrency(limits), seen({ waiting: 2, stored: 30 }), limits).reason).toBeUndefined();
  });

  it('never moves when the floor is the ceiling (UPLOAD_CONCURRENCY_MAX = UPLOAD_CONCURRENCY)', () => {
    const fixed = { min: 8, max: 8 };
    const decision = nextConcurrency(initialConcurrency(fixed), seen({ waiting: 1000, stored: 10 }), fixed);
    expect(decision.state.concurrency).toBe(8);
  });
});
