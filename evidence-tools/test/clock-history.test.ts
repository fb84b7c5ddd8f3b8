import { describe, expect, it } from 'vitest';
import type { EvidenceRecord } from '@crispy-streamer/shared';
import { clockHistory, formatClockHistory } from '../src/verify/clock-history.js';

const base = { source: 'cam-1', durationMs: 3000, bytes: 3, sha256: 'a'.repeat(64), crc32c: 'Nks/tw==', prev: '0'.repeat(64) };
const v1 = (sequence: number): EvidenceRecord => ({ ...base, v: 1, sequence, startTime: `2026-12-02T00:00:0${sequence}.000Z` });
const v2 = (sequence: number, fields: Partial<EvidenceRecord>): EvidenceRecord => ({
  ...base,
  v: 2,
  sequence,
  startTime: `2026-12-02T00:00:0${sequence}.000Z`,
  clock: 'host',
  ...fields,
});

describe('clockHistory: the time of a range, from what its records sign', () => {
  it('counts versions and clocks, keeps the offset where it moves, and lists the steps', () => {
    const records = [
      v1(0),
      v2(1, { cameraTimeSource: 'no-sender-report', hostTime: '2026-12-02T00:00:01.000Z' }),
      v2(2, { clock: 'camera', cameraTime: '2026-12-02T00:00:02.000Z', clockOffsetMs: -3004 }),
      v2(3, { clock: 'camera', cameraTime: '2026-12-02T00:00:03.000Z', clockOffsetMs: -3001 }),
      v2(4, { clock: 'camera', cameraTime: '2026-12-02T00:00:04.000Z', clockOffsetMs: 1996, cameraClockStepMs: 5000 }),
      v2(5, { hostClockStepMs: -3_600_000 }),
    ].map((record, i) => ({ object: `o${i}`, record }));
    const history = clockHistory([...records].reverse());
    expect(history.versions).toEqual({ '1': 1, '2': 5 });
    expect(history.clocks).toEqual({ host: 2, camera: 3, file: 0 });
    expect(history.offsetRangeMs).toEqual({ min: -3004, max: 1996 });
    expect(history.changes.map((c) => [c.sequence, c.clock, c.offsetMs])).toEqual([
      [1, 'host', undefined],
      [2, 'camera', -3004],
      [4, 'camera', 1996],
      [5, 'host', undefined],
    ]);
    expect(history.steps).toEqual([
      { object: 'o4', sequence: 4, startTime: '2026-12-02T00:00:04.000Z', clock: 'camera', stepMs: 5000 },
      { object: 'o5', sequence: 5, startTime: '2026-12-02T00:00:05.000Z', clock: 'host', stepMs: -3_600_000 },
    ]);
    const text = formatClockHistory(history).join('\n');
    expect(text).toContain('camera offset: -3004 to 1996 ms');
    expect(text).toContain('camera clock stepped 5000 ms at sequence 4 (o4)');
    expect(text).toContain('host clock stepped -3600000 ms at sequence 5 (o5)');
  });

  it('a range of version 1 records says no clock', () => {
    const history = clockHistory([{ object: 'a', record: v1(0) }]);
    expect(history.offsetRangeMs).toBeNull();
    expect(formatClockHistory(history)).toContain('camera offset: none recorded');
  });
});
