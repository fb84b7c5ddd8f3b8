import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startGcsTestServer, type GcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
import { gcsTestServerStorage, recordFaultOutcome, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

const BUCKET = 'fault-bucket';
const isUpload = (method: string, path: string) => method === 'POST' && path.startsWith('/upload/');

// Storage misbehaves while chunks flow: every recorded chunk must end up in the bucket exactly
// once, whole, and nothing else.
describe('storage faults', () => {
  let redis: RedisServer;
  let gcs: GcsTestServer;
  let pipeline: LocalPipeline;
  let video: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    gcs = await startGcsTestServer();
    pipeline = await startLocalPipeline(redis.url, {
      storage: gcsTestServerStorage({
        serverUrl: gcs.url,
        bucket: BUCKET,
        prefix: 'faults',
        project: 'fault-test',
        workerEnv: {
          // One upload at a time, so the order in which the backlog drains is observable.
          UPLOAD_CONCURRENCY: '1',
          UPLOAD_CONCURRENCY_MAX: '1',
          UPLOAD_PROGRESS_TIMEOUT_MS: '3000',
          OUTAGE_MIN_PAUSE_MS: '200',
          OUTAGE_MAX_PAUSE_MS: '1000',
          LOCK_DURATION_MS: '3000',
          STALLED_INTERVAL_MS: '1000',
        },
      }),
    });
    video = join(pipeline.dir, 'sample.mp4');
    await makeSampleVideo(video, { seconds: 12, width: 640, height: 360, gopSeconds: 1 });
  });
  afterEach(() => gcs.clearFaults());
  afterAll(async () => {
    await pipeline?.stop();
    await gcs?.stop();
    await redis?.stop();
  });

  async function recordAll(sourceId: string): Promise<number[]> {
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: video, SOURCE_ID: sourceId, CHUNK_SECONDS: '2' });
    expect(await recorder.exited).toBe(0);
    return recorder.logs.filter((l) => l.message === 'chunk recorded').map((l) => Number(l.sequence));
  }

  async function storedSequences(sourceId: string, expected: number, timeoutMs = 60_000): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stored = gcs.objects(BUCKET).filter((o) => o.metadata.source === sourceId);
      if (stored.length >= expected || Date.now() > deadline) return stored.map((o) => Number(o.metadata.sequence));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('503s for a while: uploads pause, then the backlog drains oldest first, each chunk once', async () => {
    gcs.injectFault({ status: 503, count: 12, match: isUpload });
    const recorded = await recordAll('outage-503');
    const stored = await storedSequences('outage-503', recorded.length);
    recordFaultOutcome('storage answers 503 (outage, then recovery)', { recorded, stored });
    expect(recorded).toEqual([0, 1, 2, 3, 4, 5]);
    expect(stored).toEqual(recorded);
    await pipeline.worker.waitForLog((l) => l.message === 'storage is back: draining the backlog, oldest first', 10_000, 'the recovery');
    expect(pipeline.worker.logs.some((l) => l.message === 'storage unavailable: uploads paused, the backlog waits in the spool')).toBe(true);
    // Oldest first: objects were created in sequence order.
    const created = gcs.requests.filter((r) => isUpload(r.method, r.path) && r.status === 200 && r.path.includes('outage-503'));
    const order = created.map((r) => Number(/_(\d{10})\.mp4/.exec(decodeURIComponent(r.path))?.[1]));
    expect(order).toEqual(recorded);
    // The outage spent no job's attempts: no job failed.
    expect(pipeline.worker.logs.filter((l) => l.message?.startsWith('chunk upload gave up'))).toHaveLength(0);
  });

  it('storage hangs: the attempt makes no progress, is abandoned, and the chunk is stored once when storage answers', async () => {
    gcs.injectFault({ status: 'hang', count: 2, match: isUpload });
    const recorded = await recordAll('outage-hang');
    const stored = await storedSequences('outage-hang', recorded.length);
    recordFaultOutcome('storage hangs (attempts without progress)', { recorded, stored });
    expect(stored).toEqual(recorded);
    expect(pipeline.worker.logs.some((l) => String(l.err && (l.err as { message?: string }).message).includes('upload made no progress for 3000 ms'))).toBe(
      true,
    );
  });

  it('a worker killed mid-upload: the job comes back and the chunk is stored exactly once', async () => {
    // The first upload never gets an answer; the worker holding it is SIGKILLed.
    gcs.injectFault({ status: 'hang', count: 1, match: isUpload });
    await pipeline.stopWorker();
    const recorded = await recordAll('killed-worker');
    await pipeline.startWorker();
    const victim = pipeline.worker;
    const deadline = Date.now() + 20_000;
    const uploadHanging = () => gcs.requests.some((r) => r.status === 0 && r.path.includes('killed-worker'));
    while (!uploadHanging() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The fault happened: the worker is inside an upload (its request hangs) when it is killed.
    expect(uploadHanging()).toBe(true);
    victim.child.kill('SIGKILL');
    await victim.exited;
    await pipeline.startWorker();
    const stored = await storedSequences('killed-worker', recorded.length);
    recordFaultOutcome('worker SIGKILLed mid-upload', { recorded, stored });
    expect(stored).toEqual(recorded);
    // No duplicates: exactly one object per sequence.
    const names = gcs
      .objects(BUCKET)
      .filter((o) => o.metadata.source === 'killed-worker')
      .map((o) => o.name);
    expect(new Set(names).size).toBe(recorded.length);
  });
});
