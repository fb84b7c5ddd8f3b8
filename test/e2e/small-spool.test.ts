import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// Found by an adversarial run: a 64 MB spool with the default 256 MiB free-space floor recorded 0
// chunks ("resumes when uploads make room"), for ever. The spool here is a real 64 MB file system.
function mountSmallSpool(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir], { stdio: 'pipe' });
    return true;
  } catch (error) {
    console.warn(`small-spool tests skipped: mounting a 64 MB tmpfs needs root (${String(error).split('\n')[0]})`);
    return false;
  }
}

describe('a spool on a small disk', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let spoolDir = '';
  let sample = '';
  let mounted = false;

  beforeAll(async () => {
    spoolDir = await mkdtemp(join(tmpdir(), 'crispy-small-spool-'));
    mounted = mountSmallSpool(spoolDir);
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    sample = join(pipeline.dir, 'sample.mp4');
    await makeSampleVideo(sample, { seconds: 9, width: 640, height: 360 });
  });
  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
    if (mounted) execFileSync('umount', [spoolDir]);
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('records with the default free-space floor, which fits the disk', async (context) => {
    if (!mounted) context.skip();
    const recorder = pipeline.runStreamHandle({ SPOOL_DIR: spoolDir, SOURCE_URL: sample, SOURCE_ID: 'small', CHUNK_SECONDS: '3' });
    expect(await recorder.exited).toBe(0);
    const starting = recorder.logs.find((l) => l.message === 'stream-handle starting');
    // The fault is real: the disk is smaller than the old default floor.
    expect(Number(starting?.spoolMinFreeBytes)).toBeLessThan(64 * 1024 * 1024);
    expect(recorder.logs.filter((l) => l.message === 'chunk recorded').length).toBeGreaterThanOrEqual(3);
    expect(recorder.logs.some((l) => String(l.message).startsWith('recording paused'))).toBe(false);
  });

  it('refuses at start a floor the disk cannot hold, with the numbers', async (context) => {
    if (!mounted) context.skip();
    await mkdir(join(spoolDir, 'unused'), { recursive: true });
    const recorder = pipeline.runStreamHandle({ SPOOL_DIR: spoolDir, SOURCE_URL: sample, SOURCE_ID: 'floor', SPOOL_MIN_FREE_BYTES: String(256 * 1024 * 1024) });
    expect(await recorder.exited).toBe(2);
    expect(recorder.otherOutput.join('\n')).toMatch(
      /SPOOL_MIN_FREE_BYTES: 268435456 bytes must stay free, but the spool's file system holds 67108864 bytes in all/,
    );
  });
});
