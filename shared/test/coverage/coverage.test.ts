import { describe, expect, it } from 'vitest';
import { chunkObjectName } from '../../src/chunk.js';
import { buildCoverage, dayFolderPrefixes, findChunkGaps, mergeSpans, parseChunkObjectName, storedChunkOf, type TimedChunk } from '../../src/coverage/index.js';

const T = Date.parse('2026-11-23T09:00:00.000Z');
/** 3 s chunks from T, sequences as given, each starting where the sequence says. */
function chunks(...sequences: number[]): TimedChunk[] {
  return sequences.map((sequence) => ({ sequence, startMs: T + sequence * 3000, durationMs: 3000 }));
}

describe('gaps between chunks', () => {
  it('missing sequences make a gap from the end of one to the start of the next', () => {
    expect(findChunkGaps(chunks(0, 1, 4, 5), { minUncoveredMs: Infinity })).toEqual([
      expect.objectContaining({ fromMs: T + 6000, toMs: T + 12_000, missingCount: 2, firstMissingSequence: 2, lastMissingSequence: 3 }),
    ]);
  });

  it('continuous numbering with time missing is a gap only past the tolerance', () => {
    // The camera was down for 20 s: the recorder numbers on, so only time shows the gap.
    const list: TimedChunk[] = [
      { sequence: 0, startMs: T, durationMs: 3000 },
      { sequence: 1, startMs: T + 3000, durationMs: 3000 },
      { sequence: 2, startMs: T + 26_000, durationMs: 3000 },
      { sequence: 3, startMs: T + 29_400, durationMs: 3000 }, // 400 ms of jitter: no gap
    ];
    expect(findChunkGaps(list, { minUncoveredMs: Infinity })).toEqual([]);
    expect(findChunkGaps(list, { minUncoveredMs: 500 })).toEqual([expect.objectContaining({ fromMs: T + 6000, toMs: T + 26_000, missingCount: 0 })]);
  });

  it('two objects of one sequence: the gap runs from the later end to the earlier start', () => {
    const list = [...chunks(0), { sequence: 0, startMs: T + 500, durationMs: 3000 }, ...chunks(3)];
    const [gap] = findChunkGaps(list, { minUncoveredMs: Infinity });
    expect(gap?.after).toHaveLength(2);
    expect([gap?.fromMs, gap?.toMs]).toEqual([T + 3500, T + 9000]);
  });
});

describe('a coverage of a time range', () => {
  const range = { fromMs: T, toMs: T + 60_000 };
  const now = T + 3600_000;

  it('all stored: one stored segment, nothing missing', () => {
    const coverage = buildCoverage({ range, nowMs: now, stored: chunks(...Array.from({ length: 20 }, (_, i) => i)), pending: [] });
    expect(coverage.segments).toEqual([{ kind: 'stored', fromMs: T, toMs: T + 60_000 }]);
    expect([coverage.gapMs, coverage.storedMs, coverage.storedChunks, coverage.gaps]).toEqual([0, 60_000, 20, []]);
  });

  it('an outage, a lost chunk, the spool backlog and the range edges', () => {
    const stored: TimedChunk[] = [
      { sequence: 0, startMs: T - 2000, durationMs: 3000 }, // the neighbour before the range: covers its start
      { sequence: 1, startMs: T + 1000, durationMs: 3000 },
      // outage: the camera was dark 4 s .. 16 s; the numbering continues
      { sequence: 2, startMs: T + 16_000, durationMs: 3000 },
      // sequence 3 (19-22 s) missing from the bucket and from every spool
      { sequence: 4, startMs: T + 22_000, durationMs: 3000 },
      { sequence: 5, startMs: T + 25_000, durationMs: 3000 },
    ];
    // 28 s .. 40 s recorded and still in the spool; nothing after it.
    const coverage = buildCoverage({ range, nowMs: now, stored, pending: [{ fromMs: T + 28_000, toMs: T + 40_000 }] });
    expect(coverage.segments).toEqual([
      { kind: 'stored', fromMs: T, toMs: T + 4000 },
      { kind: 'gap', fromMs: T + 4000, toMs: T + 16_000 },
      { kind: 'stored', fromMs: T + 16_000, toMs: T + 19_000 },
      { kind: 'gap', fromMs: T + 19_000, toMs: T + 22_000 },
      { kind: 'stored', fromMs: T + 22_000, toMs: T + 28_000 },
      { kind: 'pending', fromMs: T + 28_000, toMs: T + 40_000 },
      { kind: 'gap', fromMs: T + 40_000, toMs: T + 60_000 },
    ]);
    expect(coverage.gaps).toEqual([
      { fromMs: T + 4000, toMs: T + 16_000, durationMs: 12_000, missingSequences: undefined, edge: undefined },
      { fromMs: T + 19_000, toMs: T + 22_000, durationMs: 3000, missingSequences: { first: 3, last: 3, count: 1 }, edge: undefined },
      { fromMs: T + 40_000, toMs: T + 60_000, durationMs: 20_000, missingSequences: undefined, edge: 'end' },
    ]);
    expect([coverage.storedMs, coverage.pendingMs, coverage.gapMs, coverage.longestGapMs, coverage.storedChunks]).toEqual([13_000, 12_000, 35_000, 20_000, 5]);
  });

  it('nothing at all is one gap over the whole range, and the future is not a gap', () => {
    const coverage = buildCoverage({ range: { fromMs: T, toMs: T + 3600_000 }, nowMs: T + 10_000, stored: [], pending: [] });
    expect(coverage.segments).toEqual([{ kind: 'gap', fromMs: T, toMs: T + 10_000 }]);
    expect(coverage.gaps[0]?.edge).toBe('start');
  });

  it('the time since the last chunk of a recording camera is in progress, not a gap; a dark camera’s is a gap', () => {
    const stored = chunks(0, 1, 2); // up to T + 9 s
    const live = buildCoverage({ range, nowMs: T + 11_000, stored, pending: [], live: { recording: true, allowanceMs: 6000 } });
    expect(live.segments.at(-1)).toEqual({ kind: 'in-progress', fromMs: T + 9000, toMs: T + 11_000 });
    expect(live.gaps).toEqual([]);
    const dark = buildCoverage({ range, nowMs: T + 11_000, stored, pending: [], live: { recording: false, allowanceMs: 6000 } });
    expect(dark.gaps).toEqual([expect.objectContaining({ fromMs: T + 9000, toMs: T + 11_000, edge: 'end' })]);
    const tooLong = buildCoverage({ range, nowMs: T + 30_000, stored, pending: [], live: { recording: true, allowanceMs: 6000 } });
    expect(tooLong.gaps).toHaveLength(1);
  });

  it('spans merge when they touch or overlap', () => {
    expect(
      mergeSpans([
        { fromMs: 5, toMs: 9 },
        { fromMs: 0, toMs: 3 },
        { fromMs: 3, toMs: 4 },
        { fromMs: 8, toMs: 12 },
      ]),
    ).toEqual([
      { fromMs: 0, toMs: 4 },
      { fromMs: 5, toMs: 12 },
    ]);
  });
});

describe('chunks placed from a listing', () => {
  const name = chunkObjectName('evidence', { sourceId: 'cam7', sequence: 12, startTime: '2026-11-23T23:59:58.500Z' });

  it('takes sequence and start from the name, the duration from the metadata', () => {
    expect(storedChunkOf('evidence', 'cam7', name, { durationMs: '4000' })).toEqual({
      name,
      sequence: 12,
      startMs: Date.parse('2026-11-23T23:59:58.500Z'),
      durationMs: 4000,
    });
    expect(storedChunkOf('evidence', 'cam7', name, {})).toBeUndefined();
    expect(storedChunkOf('evidence', 'cam7', name, { durationMs: 'abc' })).toBeUndefined();
    expect(storedChunkOf('evidence', 'cam1', name, { durationMs: '4000' })).toBeUndefined();
    expect(parseChunkObjectName('evidence', 'cam7', name.replace('2026-11-23/', '2026-11-24/'))).toBeUndefined();
  });

  it('lists the day folders a range touches', () => {
    expect(dayFolderPrefixes('p', 'cam7', Date.parse('2026-11-23T22:00:00Z'), Date.parse('2026-11-24T02:00:00Z'))).toEqual([
      'p/cam7/2026-11-23/',
      'p/cam7/2026-11-24/',
    ]);
    expect(dayFolderPrefixes('', 'cam7', T, T)).toEqual(['cam7/2026-11-23/']);
  });
});
