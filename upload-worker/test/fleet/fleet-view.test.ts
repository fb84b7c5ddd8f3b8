import { describe, expect, it } from 'vitest';
import { chunkObjectName } from '@crispy-streamer/shared';
import { mergeUploadFigures } from '@crispy-streamer/shared/fleet';
import type { StoredChunk } from '@crispy-streamer/shared/coverage';
import { HOUR_STRIP_CELLS, STRIP_CELLS, buildFleetView, runLength, type CameraBucketView } from '../../src/fleet/fleet-view.js';

/** A run-length strip back to its cells. */
const cells = (strip: string | undefined) => [...(strip ?? '').matchAll(/([a-z])(\d+)/g)].map((m) => (m[1] ?? '').repeat(Number(m[2]))).join('');
import { decideStaleAlerts, type StaleMemory } from '../../src/fleet/fleet-service.js';
import { T, sampleStatus } from '../../../shared/test/fleet/sample-status.js';

const DAY = 24 * 3600_000;

/** 3 s chunks of a source covering [fromMs, toMs). */
function stored(source: string, fromMs: number, toMs: number, firstSequence = 0): StoredChunk[] {
  const chunks: StoredChunk[] = [];
  for (let at = fromMs, sequence = firstSequence; at < toMs; at += 3000, sequence++) {
    chunks.push({ name: chunkObjectName('', { sourceId: source, sequence, startTime: new Date(at).toISOString() }), sequence, startMs: at, durationMs: 3000 });
  }
  return chunks;
}

describe('the fleet view', () => {
  it('every camera of every node, worst first, with its strip and its gaps in exact times', () => {
    const healthy = sampleStatus({ nodeId: 'edge-a', sourceId: 'cam1' });
    const dark = sampleStatus({
      nodeId: 'edge-b',
      sourceId: 'cam7',
      state: 'reconnecting',
      stateSinceMs: T - 20_000,
      reason: 'cannot reach the camera',
      lastChunk: { sequence: 99, startMs: T - 23_000, endMs: T - 20_000, recordedAtMs: T - 20_000 },
      spool: { ...sampleStatus().spool, waitingChunks: 0, waitingBytes: 0, oldestWaitingEndMs: undefined, waitingSpans: [] },
    });
    const silent = sampleStatus({ nodeId: 'edge-c', sourceId: 'cam9', heartbeatMs: T - 60_000 });
    const buckets: Record<string, CameraBucketView> = {
      // All day, less 10 min at 03:00 (numbering continuous: the camera was down).
      cam1: {
        chunks: [...stored('cam1', T - DAY - 3000, T - 12 * 3600_000), ...stored('cam1', T - 12 * 3600_000 + 600_000, T - 1000, 14_401)],
        listedAtMs: T - 2000,
        error: undefined,
      },
      cam7: { chunks: stored('cam7', T - 3_620_000, T - 20_000), listedAtMs: T - 2000, error: undefined },
    };
    const view = buildFleetView({
      nowMs: T,
      windowMs: DAY,
      statuses: [healthy, dark, silent],
      invalid: [],
      bucketOf: (source) => buckets[source] ?? { chunks: [], listedAtMs: undefined, error: undefined },
      uploads: mergeUploadFigures([], T),
      bucket: 'file:///bucket',
      redisError: undefined,
    });
    expect(view.rows.map((row) => [row.id, row.health])).toEqual([
      ['edge-b/cam7', 'down'],
      ['edge-c/cam9', 'stale'],
      ['edge-a/cam1', 'ok'],
    ]);
    expect(view.summary).toMatchObject({ cameras: 3, nodes: 3, down: 1, stale: 1, ok: 1 });

    const [cam7, cam9, cam1] = view.rows;
    expect(cam7?.summary).toMatch(/^not recording since .* reconnecting: cannot reach the camera$/);
    // The dark camera's gap runs from its last chunk to now; before its first chunk is "none".
    expect(cam7?.coverage.gaps.at(-1)).toEqual({
      from: new Date(T - 20_000).toISOString(),
      to: new Date(T).toISOString(),
      durationMs: 20_000,
      missingSequences: null,
      edge: 'end',
    });
    expect(cells(cam7?.coverage.strip)).toHaveLength(STRIP_CELLS);
    expect(cells(cam7?.coverage.strip).endsWith('g')).toBe(true);
    expect(cells(cam7?.coverage.strip).startsWith('n')).toBe(true);
    // The last hour at 5 s a cell: the 20 s outage is the last 4 cells, the hour before it stored.
    expect(cells(cam7?.coverage.hourStrip)).toBe(`${'s'.repeat(HOUR_STRIP_CELLS - 4)}gggg`);
    // The healthy camera: one gap of 10 min, exact, and the rest stored.
    expect(cam1?.coverage.gaps).toEqual([
      {
        from: new Date(T - 12 * 3600_000).toISOString(),
        to: new Date(T - 12 * 3600_000 + 600_000).toISOString(),
        durationMs: 600_000,
        missingSequences: null,
        edge: null,
      },
    ]);
    expect(cells(cam1?.coverage.strip).match(/g+/)?.[0]).toHaveLength(10);
    expect(runLength('sssgg')).toBe('s3g2');
    expect(cam1?.coverage.storedRatio).toBeCloseTo(1 - 600_000 / DAY, 3);
    // Not listed yet: unknown, not "all gap".
    expect(cam9?.coverage).toMatchObject({ known: false, gaps: [], strip: `u${STRIP_CELLS}` });
  });

  it('a camera dark since last night is red where its node says it missed footage, not "before its first chunk"', () => {
    const dark = sampleStatus({
      state: 'reconnecting',
      stateSinceMs: T - 20 * 3600_000,
      reason: 'cannot reach the camera',
      lastChunk: undefined,
      recentGaps: [{ fromMs: T - 20 * 3600_000, toMs: T, ongoing: true }],
      spool: { ...sampleStatus().spool, waitingChunks: 0, oldestWaitingEndMs: undefined, waitingSpans: [] },
    });
    const view = buildFleetView({
      nowMs: T,
      windowMs: DAY,
      statuses: [dark],
      invalid: [],
      bucketOf: () => ({ chunks: [], listedAtMs: T, error: undefined }),
      uploads: mergeUploadFigures([], T),
      bucket: 'b',
      redisError: undefined,
    });
    const [row] = view.rows;
    expect(cells(row?.coverage.strip)).toBe(`${'n'.repeat(240)}${'g'.repeat(1200)}`);
    expect(row?.coverage).toMatchObject({ firstChunk: new Date(T - 20 * 3600_000).toISOString(), storedRatio: 0, gapMs: 20 * 3600_000 });
  });

  it('marks a source id two nodes report', () => {
    const view = buildFleetView({
      nowMs: T,
      windowMs: DAY,
      statuses: [sampleStatus({ nodeId: 'a' }), sampleStatus({ nodeId: 'b' })],
      invalid: [],
      bucketOf: () => ({ chunks: [], listedAtMs: undefined, error: undefined }),
      uploads: mergeUploadFigures([], T),
      bucket: 'b',
      redisError: undefined,
    });
    expect(view.rows.map((row) => row.duplicateSource)).toEqual([true, true]);
  });
});

describe('alerts for silent nodes', () => {
  it('camera-down once when a node goes silent, camera-back when it is heard again, with ids every worker agrees on', () => {
    const memory = new Map<string, StaleMemory>();
    const fresh = sampleStatus({ heartbeatMs: T });
    expect(decideStaleAlerts([fresh], memory, T + 1000)).toEqual([]);
    const down = decideStaleAlerts([fresh], memory, T + 30_000);
    expect(down.map((d) => [d.kind, d.eventId])).toEqual([['camera-down', `silent:edge-a/cam7:${T}`]]);
    expect(decideStaleAlerts([fresh], memory, T + 40_000)).toEqual([]);
    // Another worker, starting now, reaches the same id: claimAlert lets one of them send it.
    expect(decideStaleAlerts([fresh], new Map(), T + 40_000)[0]?.eventId).toBe(`silent:edge-a/cam7:${T}`);
    const back = decideStaleAlerts([sampleStatus({ heartbeatMs: T + 50_000 })], memory, T + 51_000);
    expect(back.map((d) => [d.kind, d.eventId])).toEqual([['camera-back', `back:edge-a/cam7:${T}`]]);
  });

  it('a node stopped on purpose, and files, raise nothing', () => {
    const memory = new Map<string, StaleMemory>();
    expect(
      decideStaleAlerts(
        [sampleStatus({ state: 'stopped', heartbeatMs: T }), sampleStatus({ sourceId: 'clip', live: false, heartbeatMs: T })],
        memory,
        T + 60_000,
      ),
    ).toEqual([]);
  });
});
