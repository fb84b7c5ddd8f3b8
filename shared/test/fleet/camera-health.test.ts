import { describe, expect, it } from 'vitest';
import { HEALTH_RANK, assessCamera, chunkOverdueAfterMs, formatDuration } from '../../src/fleet/index.js';
import { T, sampleStatus } from './sample-status.js';

describe('reading a camera status', () => {
  it('a camera whose chunks arrive is recording', () => {
    expect(assessCamera(sampleStatus(), T)).toEqual({ health: 'ok', summary: 'recording', problems: [] });
  });

  it.each([
    [
      'reconnecting',
      { state: 'reconnecting' as const, stateSinceMs: T - 3000, reason: 'cannot reach the camera' },
      'down',
      /^not recording since 2026-11-23T08:59:57.000Z \(3 s ago\), reconnecting: cannot reach the camera$/,
    ],
    ['failed', { state: 'failed' as const, reason: 'ffmpeg cannot read this' }, 'down', /^failed: ffmpeg cannot read this$/],
    ['paused by a full spool', { state: 'paused' as const, reason: 'spool holds 9 bytes' }, 'down', /^paused since .*: the spool is full/],
    ['starting, for too long', { state: 'starting' as const, stateSinceMs: T - 60_000 }, 'down', /^started 1 min ago and no chunk yet$/],
    ['starting, just now', { state: 'starting' as const, stateSinceMs: T - 2000 }, 'warn', /^starting/],
    [
      'recording but no chunk for a minute',
      { lastChunk: { sequence: 1, startMs: T - 63_000, endMs: T - 60_000, recordedAtMs: T - 60_000 } },
      'down',
      /^no chunk for 1 min although ffmpeg runs/,
    ],
    ['silent node', { heartbeatMs: T - 30_000 }, 'stale', /^node edge-a silent: last status 30 s ago/],
    [
      'old backlog',
      { spool: { ...sampleStatus().spool, waitingChunks: 200, oldestWaitingEndMs: T - 11 * 60_000 } },
      'warn',
      /^200 chunk\(s\) waiting for the bucket, the oldest for 11 min$/,
    ],
    ['spool nearly full', { spool: { ...sampleStatus().spool, usageRatio: 0.85 } }, 'warn', /^spool 85 % full$/],
    ['clock', { clockSync: 'unsynchronised' as const }, 'warn', /^host clock not NTP-synchronised/],
    ['a file done', { live: false, state: 'finished' as const }, 'idle', /^finished: every chunk recorded$/],
  ])('%s', (_name, overrides, health, summary) => {
    const assessment = assessCamera(sampleStatus(overrides), T);
    expect(assessment.health).toBe(health);
    expect(assessment.summary).toMatch(summary);
  });

  it('a silent node that was reconnecting says both, worst first', () => {
    const assessment = assessCamera(sampleStatus({ state: 'reconnecting', stateSinceMs: T - 60_000, heartbeatMs: T - 20_000 }), T);
    expect(assessment.health).toBe('down');
    expect(assessment.problems).toHaveLength(2);
  });

  it('ranks worst first and gives a chunk time to come', () => {
    expect(
      Object.entries(HEALTH_RANK)
        .sort((a, b) => a[1] - b[1])
        .map(([name]) => name),
    ).toEqual(['down', 'stale', 'warn', 'ok', 'idle']);
    expect(chunkOverdueAfterMs(3)).toBe(15_000);
    expect(chunkOverdueAfterMs(10)).toBe(35_000);
  });

  it('writes durations the way people say them', () => {
    expect([0, 4_400, 60_000, 200_000, 7_500_000, 86_400_000 * 3 + 4 * 3600_000].map(formatDuration)).toEqual([
      '0 s',
      '4 s',
      '1 min',
      '3 min 20 s',
      '2 h 5 min',
      '3 d 4 h',
    ]);
  });
});
