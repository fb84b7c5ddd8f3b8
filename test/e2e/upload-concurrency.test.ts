import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startGcsTestServer, type GcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
import { gcsTestServerStorage, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

const BUCKET = 'concurrency-bucket';
const isUpload = (method: string, path: string) => method === 'POST' && path.startsWith('/upload/');

// A real worker with a backlog: it raises its concurrency while chunks wait (never while storage
// fails), stores each chunk once, and comes back to its floor when the queue is empty.
describe('upload concurrency adapts to the queue', () => {
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
        prefix: 'adaptive',
        project: 'concurrency-test',
        workerEnv: {
          UPLOAD_CONCURRENCY: '1',
          UPLOAD_CONCURRENCY_MAX: '6',
          OUTAGE_MIN_PAUSE_MS: '200',
          OUTAGE_MAX_PAUSE_MS: '500',
        },
      }),
    });
    video = join(pipeline.dir, 'sample.mp4');
    // Big enough chunks that one upload at a time takes seconds to drain them.
    await makeSampleVideo(video, { seconds: 120, width: 1280, height: 720, gopSeconds: 1 });
  });
  afterAll(async () => {
    await pipeline?.stop();
    await gcs?.stop();
    await redis?.stop();
  });

  it('an outage builds a backlog: held at the floor while uploads fail, raised while it drains, back to the floor after', async () => {
    gcs.injectFault({ status: 503, count: 100_000, match: isUpload });
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: video, SOURCE_ID: 'backlog', CHUNK_SECONDS: '1' });
    expect(await recorder.exited).toBe(0);
    const recorded = recorder.logs.filter((l) => l.message === 'chunk recorded').map((l) => Number(l.sequence));
    expect(recorded.length).toBe(120);
    // The outage happened: uploads were refused and none stored, and no raise came of it.
    await pipeline.worker.waitForLog((l) => l.message === 'storage unavailable: uploads paused, the backlog waits in the spool', 10_000, 'the outage');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(gcs.objects(BUCKET)).toHaveLength(0);
    const concurrencyLines = () => pipeline.worker.logs.filter((l) => typeof l.message === 'string' && l.message.startsWith('upload concurrency '));
    expect(concurrencyLines().filter((l) => Number(l.concurrency) > 1)).toEqual([]);

    gcs.clearFaults();
    const raised = await pipeline.worker.waitForLog(
      (l) => typeof l.message === 'string' && l.message.startsWith('upload concurrency ') && Number(l.concurrency) > 1,
      30_000,
      'a raise while the backlog drains',
    );
    expect(raised.message).toMatch(/^upload concurrency \d+: \d+ chunks waiting for 1 upload slots/);
    expect(Number(raised.waiting)).toBeGreaterThanOrEqual(1);

    const deadline = Date.now() + 60_000;
    while (gcs.objects(BUCKET).length < recorded.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    const stored = gcs.objects(BUCKET).map((o) => Number(o.metadata.sequence));
    expect(stored.sort((a, b) => a - b)).toEqual(recorded);

    // Nothing waits any more: back to the floor of 1.
    await pipeline.worker.waitForLog(
      (l) => typeof l.message === 'string' && l.message.startsWith('upload concurrency 1:'),
      15_000,
      'the return to UPLOAD_CONCURRENCY',
    );
  });
});
