import { describe, expect, it } from 'vitest';
import { FaultBag, nextFaultDelayMs, seededRandom } from '@crispy-streamer/harness/soak/fault-schedule';
import { parseSoakArgs, SOAK_DEFAULTS } from '@crispy-streamer/harness/soak/soak-options';
import { soakVerdict, type BucketChunk, type RecordedChunk } from '@crispy-streamer/harness/soak/soak-verdict';

// The soak's decisions, without the stack: its arguments, which fault comes next, and the verdict.
describe('soak arguments', () => {
  it('reads --minutes and --cameras (both spellings), keeping defaults for the rest', () => {
    expect(parseSoakArgs(['--minutes', '60', '--cameras=16'])).toEqual({ ...SOAK_DEFAULTS, minutes: 60, cameras: 16 });
    expect(parseSoakArgs(['--minutes', '0.5', '--fault-every', '12', '--seed', '7'])).toMatchObject({ minutes: 0.5, faultEverySeconds: 12, seed: 7 });
  });

  it.each([
    [['--cameras', '2.5'], '--cameras needs a whole number from 1 to 64, not "2.5"'],
    [['--minutes'], '--minutes needs a number from 0.5 to 1440, not null'],
    [['--minutes', 'ten'], '--minutes needs a number from 0.5 to 1440, not "ten"'],
    [['--camera', '3'], 'unknown argument "--camera"'],
  ])('refuses %j, naming the argument', (argv, message) => {
    expect(() => parseSoakArgs(argv)).toThrow(message);
  });
});

describe('fault schedule', () => {
  it('draws every kind once before any kind again, in an order the seed decides', () => {
    const kinds = ['a', 'b', 'c', 'd'] as const;
    const bag = new FaultBag(kinds, seededRandom(3));
    const first = [bag.next(), bag.next(), bag.next(), bag.next()];
    const second = [bag.next(), bag.next(), bag.next(), bag.next()];
    expect([...first].sort()).toEqual([...kinds]);
    expect([...second].sort()).toEqual([...kinds]);
    const again = new FaultBag(kinds, seededRandom(3));
    expect([again.next(), again.next(), again.next(), again.next()]).toEqual(first);
  });

  it('waits the mean +-25 %', () => {
    const random = seededRandom(9);
    const delays = Array.from({ length: 200 }, () => nextFaultDelayMs(30, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(22_500);
    expect(Math.max(...delays)).toBeLessThanOrEqual(37_500);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });
});

describe('soak verdict', () => {
  const rec = (source: string, sequence: number, bytes = 100, endMs = 1000): RecordedChunk => ({ source, sequence, bytes, endMs });
  const obj = (source: string, sequence: number, size = 100, createdMs = 3000, name = `${source}/${sequence}.mp4`): BucketChunk => ({
    name,
    source,
    sequence,
    size,
    createdMs,
  });

  it('counts stored once, duplicated, dropped by policy and lost; a chunk announced twice is one chunk', () => {
    const verdict = soakVerdict(
      [rec('a', 0), rec('a', 1), rec('a', 1), rec('a', 2), rec('a', 3), rec('b', 0)],
      [obj('a', 0), obj('a', 1), obj('a', 1, 100, 3000, 'a/1-again.mp4'), obj('b', 0)],
      [{ source: 'a', sequence: 2 }],
    );
    expect(verdict).toMatchObject({ recorded: 5, storedOnce: 2, duplicated: 1, droppedByPolicy: 1, lost: 1, sizeMismatches: 0, unannounced: 0 });
    expect(verdict.examples.lost).toEqual(['a#3']);
    expect(verdict.examples.duplicated).toEqual(['a#1 (a/1.mp4, a/1-again.mp4)']);
  });

  it('compares sizes and names objects no recorder announced', () => {
    const verdict = soakVerdict([rec('a', 0, 100)], [obj('a', 0, 99), obj('c', 5)], []);
    expect(verdict).toMatchObject({ storedOnce: 1, sizeMismatches: 1, unannounced: 1, lost: 0 });
    expect(verdict.examples.sizeMismatches).toEqual(['a#0: recorded 100 bytes, stored 99']);
  });

  it('measures how far behind live each chunk was stored', () => {
    const recorded = [0, 1, 2, 3].map((s) => rec('a', s, 100, s * 1000));
    const objects = [0, 1, 2, 3].map((s) => obj('a', s, 100, s * 1000 + (s + 1) * 500));
    expect(soakVerdict(recorded, objects, []).behindLiveMs).toEqual({ p50: 1000, p95: 2000, max: 2000 });
  });
});
