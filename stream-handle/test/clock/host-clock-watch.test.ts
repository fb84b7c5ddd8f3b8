import { describe, expect, it } from 'vitest';
import { HostClockWatch, type ClockReading } from '../../src/clock/host-clock-watch.js';

function watchOver(readings: ClockReading[]): HostClockWatch {
  let i = 0;
  return new HostClockWatch(() => readings[Math.min(i++, readings.length - 1)] as ClockReading);
}

describe('HostClockWatch: steps of the wall clock against the monotonic one', () => {
  it('says nothing on the first check, or while both clocks move together (slewing under a second)', () => {
    const watch = watchOver([
      { wallMs: 1_000_000, monotonicMs: 10 },
      { wallMs: 1_003_000, monotonicMs: 3_010 },
      { wallMs: 1_006_400, monotonicMs: 6_010 },
    ]);
    expect(watch.check()).toBeUndefined();
    expect(watch.check()).toBeUndefined();
    expect(watch.check()).toBeUndefined();
  });

  it('reports an hour back and a few seconds forward, each once', () => {
    const watch = watchOver([
      { wallMs: 10_000_000, monotonicMs: 0 },
      { wallMs: 10_003_000 - 3_600_000, monotonicMs: 3_000 },
      { wallMs: 10_006_000 - 3_600_000, monotonicMs: 6_000 },
      { wallMs: 10_011_000 - 3_600_000, monotonicMs: 9_000 },
    ]);
    expect(watch.check()).toBeUndefined();
    expect(watch.check()).toBe(-3_600_000);
    expect(watch.check()).toBeUndefined();
    expect(watch.check()).toBe(2_000);
  });
});
