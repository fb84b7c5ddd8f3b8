import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { chunkFileName, jobDataPath, makeJobData, serializeJobData, type ChunkMetadata } from '@crispy-streamer/shared';
import type { CameraStatus } from '@crispy-streamer/shared/fleet';
import { CameraTracker } from '../../src/fleet/camera-tracker.js';
import type { FleetStatusStore } from '../../src/fleet/fleet-status-store.js';
import { SpoolBacklog } from '../../src/fleet/spool-backlog.js';
import { StatusPublisher, staleAfterMs } from '../../src/fleet/status-publisher.js';
import { captureLogger } from '../support.js';

const T = Date.parse('2026-11-23T09:00:00.000Z');
let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-backlog-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function metadata(sequence: number, startMs: number, durationMs = 3000): ChunkMetadata {
  return {
    sourceId: 'cam7',
    sequence,
    startTime: new Date(startMs).toISOString(),
    durationMs,
    frameCount: 90,
    frameRate: 30,
    bytes: 1000 + sequence,
    crc32c: 'AAAAAA==',
    container: 'mp4',
    codec: 'h264',
    width: 1280,
    height: 720,
    mode: 'copy',
    clock: 'host',
    clockSync: 'synchronised',
    recordedBy: 'edge-a',
  };
}

/** A chunk waiting in the spool as stream-handle leaves it: the file and its job data. */
async function waiting(sequence: number, startMs: number, durationMs = 3000): Promise<string> {
  const dir = join(root, 'cam7');
  await mkdir(dir, { recursive: true });
  const chunk = join(dir, chunkFileName('cam7', sequence, 'mp4'));
  await writeFile(chunk, 'x');
  await writeFile(jobDataPath(chunk), serializeJobData(makeJobData(metadata(sequence, startMs, durationMs), undefined)));
  return chunk;
}

describe("a source's spool backlog", () => {
  it('is what waits in the folder: counted, joined into spans, forgotten once uploaded', async () => {
    const backlog = new SpoolBacklog(root, 'cam7');
    await backlog.refresh();
    expect(backlog.summary()).toEqual({ waitingChunks: 0, waitingBytes: 0, oldestWaitingEndMs: undefined, waitingSpans: [], waitingSpansTruncated: false });
    const first = await waiting(4, T);
    await waiting(5, T + 3010); // a frame of jitter: one span
    await waiting(9, T + 20_000);
    await writeFile(join(root, 'cam7', 'state.json'), '{}');
    await writeFile(join(root, 'cam7', chunkFileName('cam7', 10, 'mp4')), 'being recorded, no job data yet');
    await backlog.refresh();
    expect(backlog.summary()).toEqual({
      waitingChunks: 3,
      waitingBytes: 1004 + 1005 + 1009,
      oldestWaitingEndMs: T + 3000,
      waitingSpans: [
        { fromMs: T, toMs: T + 6010 },
        { fromMs: T + 20_000, toMs: T + 23_000 },
      ],
      waitingSpansTruncated: false,
    });
    // The worker uploaded the oldest: it left the spool.
    await unlink(jobDataPath(first));
    await unlink(first);
    await backlog.refresh();
    expect(backlog.summary()).toMatchObject({ waitingChunks: 2, oldestWaitingEndMs: T + 6010 });
  });

  it('counts job data it cannot read, and says the spans are not the whole backlog', async () => {
    await waiting(1, T);
    await writeFile(join(root, 'cam7', `${chunkFileName('cam7', 2, 'mp4')}.json`), '{"v":1,"metad');
    const backlog = new SpoolBacklog(root, 'cam7');
    await backlog.refresh();
    expect(backlog.summary()).toMatchObject({ waitingChunks: 2, waitingSpans: [{ fromMs: T, toMs: T + 3000 }], waitingSpansTruncated: true });
  });
});

class RecordingStore implements FleetStatusStore {
  writes: CameraStatus[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  failNext = 0;
  constructor(private readonly delayMs = 0) {}
  async write(statuses: readonly CameraStatus[]): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      if (this.failNext > 0) {
        this.failNext--;
        throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      }
      this.writes.push([...statuses]);
    } finally {
      this.inFlight--;
    }
  }
}

function publisher(store: FleetStatusStore, intervalMs = 60_000) {
  const tracker = new CameraTracker({ id: 'cam7', live: true, chunkSeconds: 3 });
  const { logger, lines } = captureLogger();
  const pub = new StatusPublisher({
    nodeId: 'edge-a',
    sources: [{ tracker, backlog: new SpoolBacklog(root, 'cam7') }],
    store,
    intervalMs,
    clockSync: () => 'unsynchronised',
    spool: () => ({ freeBytes: 5_000_000, usageRatio: 0.42 }),
    logger,
    settleMs: 20,
  });
  return { pub, tracker, lines };
}

describe('the status publisher', () => {
  it('writes every camera with the node, the spool and the clock, and again soon after a state change', async () => {
    const store = new RecordingStore();
    await waiting(3, Date.now() - 10_000);
    const { pub, tracker } = publisher(store);
    pub.start();
    await vi.waitFor(() => expect(store.writes).toHaveLength(1));
    expect(store.writes[0]?.[0]).toMatchObject({
      version: 1,
      nodeId: 'edge-a',
      sourceId: 'cam7',
      state: 'starting',
      staleAfterMs: staleAfterMs(60_000),
      clockSync: 'unsynchronised',
      spool: { waitingChunks: 1, freeBytes: 5_000_000, usageRatio: 0.42 },
    });
    tracker.streamEnded({ reason: 'cannot reach the camera' });
    // Not an interval later: within the settle time.
    await vi.waitFor(() => expect(store.writes).toHaveLength(2), { timeout: 1000 });
    expect(store.writes[1]?.[0]).toMatchObject({ state: 'reconnecting', reason: 'cannot reach the camera' });
    await pub.stop(500);
  });

  it('never writes twice at once: changes during a slow write are written once, right after', async () => {
    const store = new RecordingStore(200);
    const { pub, tracker } = publisher(store);
    pub.start();
    for (let i = 0; i < 20; i++) {
      tracker.streamEnded({ reason: `attempt ${i}` });
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    await vi.waitFor(() => expect(store.writes.at(-1)?.[0]?.reason).toBe('attempt 19'), { timeout: 3000 });
    expect(store.maxInFlight).toBe(1);
    expect(store.writes.length).toBeLessThan(6);
    await pub.stop(500);
  });

  it('a failing Redis is said once, and once more when it is back', async () => {
    const store = new RecordingStore();
    store.failNext = 3;
    const { pub, tracker, lines } = publisher(store);
    pub.start();
    for (let i = 0; i < 4; i++) {
      tracker.streamEnded({ reason: `attempt ${i}` });
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    await vi.waitFor(() => expect(store.writes.length).toBeGreaterThan(0));
    expect(lines.filter((l) => l.message.startsWith('could not write the fleet status')).length).toBe(1);
    expect(lines.filter((l) => l.message === 'fleet status written again').length).toBe(1);
    await pub.stop(500);
  });
});
