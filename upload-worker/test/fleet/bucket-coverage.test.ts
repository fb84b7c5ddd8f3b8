import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHUNK_CONTENT_TYPE, chunkObjectName, crc32cBase64, toObjectMetadata, type ChunkMetadata } from '@crispy-streamer/shared';
import { BucketCoverage, localChunkLister } from '../../src/fleet/bucket-coverage.js';
import { createLocalBucket } from '../../src/storage/local-bucket.js';

const T = Date.parse('2026-11-24T00:01:00.000Z'); // just after midnight: yesterday's folder counts too

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'bucket-coverage-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

async function store(sequence: number, startMs: number, durationMs = 2000.5): Promise<string> {
  const bytes = randomBytes(64);
  const metadata: ChunkMetadata = {
    sourceId: 'cam6',
    sequence,
    startTime: new Date(startMs).toISOString(),
    durationMs,
    frameCount: 50,
    frameRate: 25,
    bytes: bytes.byteLength,
    crc32c: crc32cBase64(bytes),
    container: 'mp4',
    codec: 'h264',
    width: 640,
    height: 360,
    mode: 'copy',
    clock: 'host',
    clockSync: 'unknown',
    recordedBy: 'edge-b',
  };
  const path = join(tmpdir(), `bucket-coverage-${randomUUID()}`);
  await writeFile(path, bytes);
  const name = chunkObjectName('site', metadata);
  await createLocalBucket(join(root, 'bucket'), 'bucket').put({
    name,
    source: { path, size: bytes.byteLength, crc32c: metadata.crc32c },
    contentType: CHUNK_CONTENT_TYPE,
    metadata: toObjectMetadata(metadata),
  });
  await rm(path, { force: true });
  return name;
}

describe("the fleet page's view of the bucket", () => {
  it('lists what is there, then what arrives, also late and out of order, across midnight', async () => {
    let now = T;
    const coverage = new BucketCoverage({
      lister: localChunkLister(join(root, 'bucket')),
      prefix: 'site',
      now: () => now,
      relistMarginMs: 60_000,
      fullRelistMs: 600_000,
    });
    for (let i = 0; i < 40; i++) await store(i, T - 80_000 + i * 2000);
    await coverage.refresh('cam6');
    expect(coverage.coverageOf('cam6').chunks.map((c) => c.sequence)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(coverage.coverageOf('cam6').chunks[0]).toMatchObject({ startMs: T - 80_000, durationMs: 2000.5 });

    // More arrive; one older chunk arrives late (a retried upload), after a newer one.
    now += 30_000;
    for (let i = 41; i < 50; i++) await store(i, T - 80_000 + i * 2000);
    await coverage.refresh('cam6');
    await store(40, T - 80_000 + 40 * 2000);
    now += 5000;
    await coverage.refresh('cam6');
    expect(coverage.coverageOf('cam6').chunks.map((c) => c.sequence)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(coverage.coverageOf('cam6').listedAtMs).toBe(now);
  });

  it('forgets what a full listing no longer finds, and what left the window', async () => {
    let now = T;
    const coverage = new BucketCoverage({
      lister: localChunkLister(join(root, 'bucket')),
      prefix: 'site',
      now: () => now,
      fullRelistMs: 60_000,
      windowMs: 3600_000,
    });
    const first = await store(0, T - 10_000);
    await store(1, T - 8000);
    await coverage.refresh('cam6');
    await unlink(join(root, 'bucket', ...first.split('/')));
    await unlink(join(root, 'bucket', ...`${first}.meta.json`.split('/')));
    now += 61_000;
    await coverage.refresh('cam6');
    expect(coverage.coverageOf('cam6').chunks.map((c) => c.sequence)).toEqual([1]);
    now += 2 * 3600_000;
    await coverage.refresh('cam6');
    expect(coverage.coverageOf('cam6').chunks).toEqual([]);
  });

  it('says when the bucket cannot be listed, keeping what it knew', async () => {
    const coverage = new BucketCoverage({ lister: { list: async () => Promise.reject(new Error('403 storage.objects.list denied')) }, prefix: '' });
    await coverage.refresh('cam6');
    expect(coverage.coverageOf('cam6')).toEqual({ chunks: [], listedAtMs: undefined, error: '403 storage.objects.list denied' });
  });
});
