import { describe, expect, it } from 'vitest';
import { faultOutcome, faultRunFailed, faultSummaryTable, parseFaultOutcome } from '@crispy-streamer/harness/fault-outcome';

// The fault table's arithmetic: a chunk stored twice is a duplicate, not a loss, and fails the run alike.
describe('fault outcome', () => {
  it('counts stored once, duplicated, reported and lost from sequence numbers', () => {
    const outcome = faultOutcome('f', { recorded: [0, 1, 2, 3, 4, 4], stored: [0, 1, 1, 3, 9], reported: [2] });
    expect(outcome).toEqual({ fault: 'f', recorded: 5, stored: 2, duplicated: 1, reported: 1, lost: 1 });
  });

  it('a reported chunk that is stored anyway counts as stored', () => {
    expect(faultOutcome('f', { recorded: [0], stored: [0], reported: [0] })).toMatchObject({ stored: 1, reported: 0, lost: 0 });
  });

  it('a duplicate fails the run like a loss; a clean run does not fail', () => {
    const clean = faultOutcome('a', { recorded: [0, 1], stored: [0, 1] });
    expect(faultRunFailed([clean])).toBe(false);
    expect(faultRunFailed([clean, faultOutcome('b', { recorded: [0], stored: [0, 0] })])).toBe(true);
    expect(faultRunFailed([clean, faultOutcome('c', { recorded: [0], stored: [] })])).toBe(true);
  });

  it('reads lines written before the duplicated column as 0 duplicated', () => {
    expect(parseFaultOutcome('{"fault":"old","recorded":3,"stored":3,"reported":0,"lost":0,"at":"x"}')).toEqual({
      fault: 'old',
      recorded: 3,
      stored: 3,
      duplicated: 0,
      reported: 0,
      lost: 0,
    });
  });

  it('prints a duplicated column and totals', () => {
    const table = faultSummaryTable([faultOutcome('a', { recorded: [0, 1], stored: [0, 1, 1] })]);
    expect(table.split('\n')[0]).toBe('| fault | chunks recorded | stored once | duplicated | dropped by policy, reported | lost |');
    expect(table.split('\n')[2]).toBe('| a | 2 | 1 | 1 | 0 | 0 |');
    expect(table.split('\n')[3]).toBe('| all 1 faults | 2 | 1 | 1 | 0 | 0 |');
  });
});
