import { describe, expect, it } from 'vitest';
import { UploadStats, behindLiveMs } from '../src/dashboard/upload-stats.js';

// The dashboard's "behind live": from the end of the last stored chunk's footage to when it was stored.
describe('upload stats: behind live', () => {
  const sample = (source: string, chunkEndMs: number, finishedAtMs: number) => ({ source, chunkEndMs, finishedAtMs, closedToStoredMs: 100, bytes: 1000 });

  it('is the lag of the chunk stored last, per source; all shows the source furthest behind', () => {
    const stats = new UploadStats();
    stats.record(sample('cam1', 10_000, 12_000));
    stats.record(sample('cam1', 12_000, 40_000)); // a backlog: stored 28 s after its footage ended
    stats.record(sample('cam1', 14_000, 41_000));
    stats.record(sample('cam2', 40_000, 41_500));
    const snapshot = stats.snapshot(42_000);
    const cam1 = snapshot.sources.find((s) => s.source === 'cam1');
    const cam2 = snapshot.sources.find((s) => s.source === 'cam2');
    expect(cam1).toMatchObject({ behindLiveMs: 27_000, maxBehindLiveMs: 28_000 });
    expect(cam2).toMatchObject({ behindLiveMs: 1_500, maxBehindLiveMs: 1_500 });
    expect(snapshot.total).toMatchObject({ behindLiveMs: 27_000, maxBehindLiveMs: 28_000 });
  });

  it('shrinks as the backlog drains, and is kept after the window slides past the last upload', () => {
    const stats = new UploadStats(60_000);
    stats.record(sample('cam1', 0, 30_000));
    stats.record(sample('cam1', 28_000, 32_000));
    expect(stats.snapshot(33_000).total.behindLiveMs).toBe(4_000);
    const later = stats.snapshot(500_000);
    expect(later.total).toMatchObject({ chunks: 2, behindLiveMs: 4_000, maxBehindLiveMs: 4_000 });
  });

  it('is 0 before any upload and never negative (a camera clock ahead of ours)', () => {
    expect(new UploadStats().snapshot(1000).total).toMatchObject({ behindLiveMs: 0, maxBehindLiveMs: 0 });
    expect(behindLiveMs({ chunkEndMs: 5000, finishedAtMs: 4000 })).toBe(0);
  });
});
