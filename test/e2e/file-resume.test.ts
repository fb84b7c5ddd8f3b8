import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkFilePattern } from '@crispy-streamer/shared';
import { findStaleRecorders } from '../../stream-handle/src/recorder/stale-recorders.js';
import type { LogLine } from '@crispy-streamer/harness/service-process';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { probeVideoDurationMs, recordFaultOutcome, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

const FPS = 30;
const FRAME_MS = 1000 / FPS;

const recordedSequences = (logs: LogLine[], source: string) =>
  logs.filter((l) => l.source === source && (l.message === 'chunk recorded' || l.message === 'recovered chunk queued')).map((l) => Number(l.sequence));

// A file source stopped part-way (killed, a power cut) used to be ingested again from the start
// on the next run, under new sequence numbers: the same footage twice in the bucket.
describe('a file source stopped part-way', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let samplePath: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    samplePath = join(pipeline.dir, 'sample-14s.mp4');
    await makeSampleVideo(samplePath, { seconds: 14, bFrames: true });
  });

  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  /** Runs the file at its own pace, kills what `kill` names after two chunks, then runs it again. */
  async function killAndRerun(source: string, kill: 'recorder and ffmpeg' | 'recorder only' | 'SIGTERM to the recorder') {
    const env = { SOURCE_URL: samplePath, SOURCE_ID: source, CHUNK_SECONDS: '3', REALTIME: 'true' };
    const first = pipeline.runStreamHandle(env);
    await first.waitForLog((l) => l.message === 'chunk recorded' && Number(l.sequence) >= 1, 30_000, 'two chunks');
    const ffmpegPids = await findStaleRecorders(join(pipeline.spoolDir, source, chunkFilePattern(source, 'mp4')), first.child.pid);
    // The fault happened: the recorder's ffmpeg was running mid-file when it was killed.
    expect(ffmpegPids).toHaveLength(1);
    if (kill === 'SIGTERM to the recorder') {
      expect(await first.stop()).toBe(0);
    } else {
      first.child.kill('SIGKILL');
      if (kill === 'recorder and ffmpeg') for (const pid of ffmpegPids) process.kill(pid, 'SIGKILL');
      await first.exited;
    }

    const second = pipeline.runStreamHandle(env);
    expect(await second.exited).toBe(0);
    const recorded = [...recordedSequences(first.logs, source), ...recordedSequences(second.logs, source)];
    const quarantined = (await readdir(join(pipeline.spoolDir, source, 'quarantine')).catch(() => [] as string[]))
      .map((name) => /(\d{10})\.mp4$/.exec(name)?.[1])
      .filter((digits): digits is string => digits !== undefined)
      .map(Number);
    const unique = [...new Set(recorded)].sort((a, b) => a - b);
    await pipeline.waitForDescriptions(source, unique);
    const objects = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === source);
    recordFaultOutcome(
      kill === 'SIGTERM to the recorder' ? 'file source: stopped (SIGTERM) mid-file, run again' : `file source: ${kill} SIGKILLed mid-file, run again`,
      { recorded: unique, stored: objects.map((o) => Number(o.resource.metadata.sequence)), reported: quarantined },
    );
    return { first, second, objects, quarantined };
  }

  /** The stored chunks hold every frame of the file once: they tile it, with no overlap and no hole. */
  function expectFileCoveredOnce(objects: Awaited<ReturnType<typeof killAndRerun>>['objects']): void {
    const chunks = objects
      .map((o) => ({
        start: Date.parse(o.resource.metadata.startTime ?? ''),
        durationMs: Number(o.resource.metadata.durationMs),
        frames: Number(o.resource.metadata.frameCount),
      }))
      .sort((a, b) => a.start - b.start);
    const fileFrames = Math.round((probeVideoDurationMs(samplePath) * FPS) / 1000);
    expect(chunks.reduce((sum, c) => sum + c.frames, 0)).toBe(fileFrames);
    for (let i = 1; i < chunks.length; i++) {
      const previous = chunks[i - 1];
      const current = chunks[i];
      if (previous === undefined || current === undefined) continue;
      expect(Math.abs(current.start - (previous.start + previous.durationMs)), `chunk ${i} follows chunk ${i - 1}`).toBeLessThanOrEqual(FRAME_MS);
    }
  }

  it('recorder and ffmpeg killed: the half-written chunk is quarantined, and the next run resumes after the last whole chunk', async () => {
    const { second, objects, quarantined } = await killAndRerun('killed-both', 'recorder and ffmpeg');
    expect(
      second.logs.some((l) => typeof l.message === 'string' && l.message.startsWith('an earlier run stopped part-way through this file: resuming at')),
    ).toBe(true);
    expect(quarantined.length).toBeLessThanOrEqual(1);
    expectFileCoveredOnce(objects);
  });

  it('recorder killed, its ffmpeg left running: the orphan is stopped, its chunks recovered, and the next run resumes after them', async () => {
    const { second, objects } = await killAndRerun('killed-recorder', 'recorder only');
    expect(second.logs.some((l) => String(l.message).startsWith('an ffmpeg from a previous run is still recording'))).toBe(true);
    expectFileCoveredOnce(objects);
  });

  it('stopped with SIGTERM: it stops at its last whole chunk, and the next run resumes there', async () => {
    const { first, second, objects } = await killAndRerun('stopped', 'SIGTERM to the recorder');
    expect(first.logs.some((l) => l.message === 'source finished: every chunk queued')).toBe(false);
    expect(second.logs.some((l) => String(l.message).startsWith('an earlier run stopped part-way through this file: resuming at'))).toBe(true);
    expectFileCoveredOnce(objects);
  });

  it('a file ingested whole is not ingested again by the next run', async () => {
    const env = { SOURCE_URL: samplePath, SOURCE_ID: 'twice', CHUNK_SECONDS: '3' };
    const first = pipeline.runStreamHandle(env);
    expect(await first.exited).toBe(0);
    const firstCount = recordedSequences(first.logs, 'twice').length;
    const again = pipeline.runStreamHandle(env);
    expect(await again.exited).toBe(0);
    expect(recordedSequences(again.logs, 'twice')).toEqual([]);
    expect(again.logs.some((l) => String(l.message).startsWith('file already ingested whole'))).toBe(true);
    await pipeline.waitForDescriptions('twice', [...Array(firstCount).keys()]);
    expect((await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'twice')).toHaveLength(firstCount);
  });
});
