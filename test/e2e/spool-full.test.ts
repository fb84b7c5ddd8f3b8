import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { recordFaultOutcome, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// Storage unreachable for longer than the spool can hold: the worker is down while a source
// paced like a camera records into a small spool quota. Afterwards, every recorded chunk is in the
// bucket exactly once, or was dropped by the configured policy and reported; nothing else.
describe('when the spool fills up', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let video: string;
  let chunkBytes: number;

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    video = join(pipeline.dir, 'paced.mp4');
    await makeSampleVideo(video, { seconds: 10, width: 640, height: 360, gopSeconds: 1 });
    // One 1 s chunk of this video is about a tenth of it.
    chunkBytes = (await readFile(video)).byteLength / 10;
  });
  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  it('stop-recording: recording pauses, resumes once uploads make room, and nothing is deleted', async () => {
    await pipeline.stopWorker();
    const recorder = pipeline.runStreamHandle({
      SOURCE_URL: video,
      SOURCE_ID: 'full-stop',
      CHUNK_SECONDS: '1',
      REALTIME: 'true',
      SPOOL_MAX_BYTES: String(Math.round(chunkBytes * 3)),
      SPOOL_CHECK_MS: '200',
    });
    const paused = await recorder.waitForLog((l) => String(l.message).startsWith('recording paused'), 30_000, 'that recording paused');
    expect(String(paused.reason)).toContain('SPOOL_MAX_BYTES');
    await pipeline.startWorker();
    await recorder.waitForLog((l) => l.message === 'recording resumed: the spool has room again', 30_000, 'that recording resumed');
    expect(await recorder.exited).toBe(0);

    const sequences = recorder.logs.filter((l) => l.message === 'chunk recorded').map((l) => Number(l.sequence));
    const described = await pipeline.waitForDescriptions('full-stop', sequences).catch((error: unknown) => error);
    const stored = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'full-stop').map((o) => Number(o.resource.metadata.sequence));
    recordFaultOutcome('spool full, stop-recording', { recorded: sequences, stored });
    expect(sequences).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    if (described instanceof Error) throw described;
    expect(stored).toEqual(sequences);
  });

  it('drop-oldest: recording goes on, the oldest waiting chunks are dropped, and each drop is reported', async () => {
    await pipeline.stopWorker();
    const recorder = pipeline.runStreamHandle({
      SOURCE_URL: video,
      SOURCE_ID: 'full-drop',
      CHUNK_SECONDS: '1',
      REALTIME: 'true',
      SPOOL_MAX_BYTES: String(Math.round(chunkBytes * 3)),
      SPOOL_FULL_POLICY: 'drop-oldest',
      SPOOL_CHECK_MS: '200',
    });
    expect(await recorder.exited).toBe(0);
    await pipeline.startWorker();

    const recorded = recorder.logs.filter((l) => l.message === 'chunk recorded').map((l) => Number(l.sequence));
    expect(recorded).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const droppedLogged = recorder.logs.filter((l) => String(l.message).startsWith('chunk DROPPED')).map((l) => Number(l.sequence));
    const droppedFile = (await readFile(join(pipeline.spoolDir, 'dropped.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { sourceId: string; sequence: number })
      .filter((d) => d.sourceId === 'full-drop')
      .map((d) => d.sequence);
    expect(droppedLogged.length).toBeGreaterThan(0);
    expect(droppedFile).toEqual(droppedLogged);
    // Oldest first: the dropped ones are a prefix of what was waiting.
    expect(droppedLogged).toEqual([...droppedLogged].sort((a, b) => a - b));

    const kept = recorded.filter((sequence) => !droppedLogged.includes(sequence));
    const described = await pipeline.waitForDescriptions('full-drop', kept).catch((error: unknown) => error);
    const stored = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'full-drop').map((o) => Number(o.resource.metadata.sequence));
    recordFaultOutcome('spool full, drop-oldest', { recorded, stored, reported: droppedLogged });
    if (described instanceof Error) throw described;
    expect(stored).toEqual(kept);
  });
});
