import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { crc32cBase64 } from '@crispy-streamer/shared';
import { faultOutcome } from '@crispy-streamer/harness/fault-outcome';
import { REPO_ROOT, type LogLine } from '@crispy-streamer/harness/service-process';
import { enqueueChunk, writeSyntheticChunk } from '@crispy-streamer/harness/chunk-job';
import { startGcsTestServer, type GcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
import { impairedLinkUnavailable, startImpairedLink, type ImpairedLink, type ImpairedLinkOptions } from '../support/impaired-link.js';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startRtspCamera, type RtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { appendFaultOutcome, gcsTestServerStorage, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// The worker uploads to storage across a real IP link between this namespace and one the test
// makes (test/support/impaired-link.ts: TUN devices and a forwarder that delays, drops and rate
// limits packets; blackouts by `ip link set DEV down`; resets by the kernel's SOCK_DESTROY). Redis,
// the cameras, the recorder and the worker stay on loopback; only worker -> storage crosses the link.

const unavailable = impairedLinkUnavailable();
if (unavailable !== undefined) console.warn(`skipping the network impairment tests: the impaired link ${unavailable}`);

const BUCKET = 'impaired-bucket';
const MB = 1_000_000;
const FIGURES: Record<string, unknown> = {};

interface Setup {
  redis: RedisServer;
  gcs: GcsTestServer;
  link: ImpairedLink;
  pipeline: LocalPipeline;
}

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  // Everything a case started goes, whether it passed or not (the namespace above all).
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`clean-up: ${String(error)}`));
  cleanups = [];
}, 60_000);
afterAll(() => {
  mkdirSync(join(REPO_ROOT, 'test-output'), { recursive: true });
  writeFileSync(join(REPO_ROOT, 'test-output', 'network-impairment-figures.json'), `${JSON.stringify(FIGURES, null, 2)}\n`);
});

async function impairedStorage(linkOptions: ImpairedLinkOptions, workerEnv: Record<string, string>): Promise<Setup> {
  const redis = await startRedisServer();
  cleanups.push(() => redis.stop());
  const gcs = await startGcsTestServer();
  cleanups.push(() => gcs.stop());
  const link = await startImpairedLink(linkOptions);
  cleanups.push(() => link.stop());
  const storageUrl = await link.expose(gcs.port);
  const pipeline = await startLocalPipeline(redis.url, {
    storage: gcsTestServerStorage({
      serverUrl: gcs.url,
      bucket: BUCKET,
      prefix: 'impaired',
      project: 'impaired-test',
      workerEndpoint: storageUrl,
      workerEnv: { OUTAGE_MIN_PAUSE_MS: '500', OUTAGE_MAX_PAUSE_MS: '3000', ...workerEnv },
    }),
  });
  cleanups.push(() => pipeline.stop());
  return { redis, gcs, link, pipeline };
}

const RECORDED = new Set(['chunk recorded', 'requeued from spool', 'recovered chunk queued']);
const recordedOf = (lines: LogLine[]) =>
  lines.filter((l) => RECORDED.has(String(l.message))).map((l) => ({ key: `${String(l.source)}#${Number(l.sequence)}`, bytes: Number(l.bytes) }));
const storedKeys = (gcs: GcsTestServer) => gcs.objectSummaries(BUCKET).map((o) => `${o.metadata.source}#${o.metadata.sequence}`);

async function waitForStored(gcs: GcsTestServer, keys: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const stored = new Set(storedKeys(gcs));
    if (keys.every((k) => stored.has(k))) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Appends the case's line to the fault summary (chunk keys numbered), before any assertion. */
function recordOutcome(fault: string, recorded: string[], stored: string[]): ReturnType<typeof faultOutcome> {
  const numbers = new Map<string, number>();
  const number = (key: string) => numbers.get(key) ?? numbers.set(key, numbers.size).get(key) ?? 0;
  const outcome = faultOutcome(fault, { recorded: recorded.map(number), stored: stored.map(number) });
  appendFaultOutcome(outcome);
  return outcome;
}

/** Every recorded chunk is in the bucket once, with the recorder's size, and its bytes match the CRC32C the recorder computed. */
function expectEachStoredOnceAndWhole(gcs: GcsTestServer, recorded: { key: string; bytes: number }[]): void {
  const objects = gcs.objects(BUCKET);
  const bySize = new Map(recorded.map((r) => [r.key, r.bytes]));
  const keys = objects.map((o) => `${o.metadata.source}#${o.metadata.sequence}`);
  expect([...keys].sort()).toEqual([...new Set(recorded.map((r) => r.key))].sort());
  for (const object of objects) {
    const key = `${object.metadata.source}#${object.metadata.sequence}`;
    expect(object.bytes.length, key).toBe(bySize.get(key));
    // The worker declares the recorder's CRC32C and the server refuses a mismatch; this checks the bytes kept.
    expect(crc32cBase64(object.bytes), key).toBe(object.crc32c);
  }
}

const STORED = new Set(['chunk uploaded', 'chunk was already in the bucket']);
const behindLiveOf = (lines: LogLine[]) => lines.filter((l) => STORED.has(String(l.message))).map((l) => Number(l.sinceChunkEndMs));

describe.skipIf(unavailable !== undefined)('uploads across an impaired network link', () => {
  it('5 Mbit/s, 200 ms round trip, 1 % loss each way, three cameras at once: every chunk once and whole; the dashboard says how far behind live', async () => {
    const { gcs, link, pipeline } = await impairedStorage(
      { rateBitsPerSecond: 5_000_000, delayMs: 100, loss: 0.01 },
      { UPLOAD_CONCURRENCY: '3', UPLOAD_CONCURRENCY_MAX: '3', UPLOAD_PROGRESS_TIMEOUT_MS: '15000' },
    );
    const video = join(pipeline.dir, 'camera.mp4');
    await makeSampleVideo(video, { seconds: 20, width: 320, height: 180, fps: 25, gopSeconds: 1 });
    const cameras: RtspCamera[] = [];
    for (let i = 0; i < 3; i++) cameras.push(await startRtspCamera({ sourceFile: video }));
    cleanups.push(async () => {
      for (const camera of cameras) await camera.stop();
    });
    const sources = cameras.map((camera, i) => ({ id: `lossy-cam${i + 1}`, url: camera.url() }));
    const sourcesFile = join(pipeline.dir, 'cameras.json');
    writeFileSync(sourcesFile, JSON.stringify({ defaults: { chunkSeconds: 2 }, sources }));
    const recorder = pipeline.runStreamHandle({}, ['--sources', sourcesFile]);
    await new Promise((resolve) => setTimeout(resolve, 45_000));
    await recorder.stop(20_000);
    const recorded = recordedOf(recorder.logs);
    const keys = [...new Set(recorded.map((r) => r.key))];
    await waitForStored(gcs, keys, 180_000);
    const stats = await link.stats();
    const outcome = recordOutcome('storage across 5 Mbit/s, 200 ms RTT, 1 % loss (3 cameras)', keys, storedKeys(gcs));

    const behind = behindLiveOf(pipeline.worker.logs);
    const dashboard = (await (await fetch(`${pipeline.workerUrl}/dashboard/data`)).json()) as {
      stats: { total: { behindLiveMs: number; maxBehindLiveMs: number } };
    };
    FIGURES.lossyLink = {
      chunks: keys.length,
      behindLiveMaxS: Math.max(...behind) / 1000,
      behindLiveMedianS: ([...behind].sort((a, b) => a - b)[Math.floor(behind.length / 2)] ?? 0) / 1000,
      dashboardMaxBehindLiveS: dashboard.stats.total.maxBehindLiveMs / 1000,
      link: stats,
    };
    console.log('5 Mbit/s, 200 ms RTT, 1 % loss:', JSON.stringify(FIGURES.lossyLink));

    expect(keys.length).toBeGreaterThanOrEqual(3 * 15);
    expect(outcome).toMatchObject({ lost: 0, duplicated: 0 });
    expectEachStoredOnceAndWhole(gcs, recorded);
    // The link really lost packets both ways, and carried the uploads.
    expect(stats.outbound.lost).toBeGreaterThan(0);
    expect(stats.inbound.lost).toBeGreaterThan(0);
    expect(stats.outbound.bytes).toBeGreaterThan(recorded.reduce((sum, r) => sum + r.bytes, 0));
    // The dashboard's figure is the worker's own measure of its uploads (chunk end -> stored).
    expect(Math.abs(dashboard.stats.total.maxBehindLiveMs - Math.max(...behind))).toBeLessThan(100);
  }, 360_000);

  it('a 30 s blackout in the middle of a 40 MB upload: the connection dies, the next attempt resumes the session, well under twice the bytes cross the link', async () => {
    const { gcs, link, redis, pipeline } = await impairedStorage(
      { rateBitsPerSecond: 20_000_000, delayMs: 10, loss: 0 },
      { UPLOAD_CONCURRENCY: '1', UPLOAD_CONCURRENCY_MAX: '1', UPLOAD_PROGRESS_TIMEOUT_MS: '10000' },
    );
    const chunk = await writeSyntheticChunk(pipeline.spoolDir, 'blackout', 0, 40 * MB);
    const sha256 = createHash('sha256')
      .update(await readFile(chunk.spoolPath))
      .digest('hex');
    const before = (await link.stats()).outbound.bytes;
    await enqueueChunk(redis.url, chunk, { backoffMs: 500 });
    const midwayBy = Date.now() + 60_000;
    while ((await link.stats()).outbound.bytes - before < 16 * MB) {
      if (Date.now() > midwayBy) throw new Error('the 40 MB upload did not get 16 MB across the link within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const blackoutAt = Date.now();
    await link.blackout(30_000);
    const finished = (l: LogLine) => l.source === 'blackout' && (l.message === 'chunk uploaded' || String(l.message).startsWith('chunk upload gave up'));
    const outcomeLine = await pipeline.worker.waitForLog(finished, 180_000, 'the 40 MB upload');
    const sent = (await link.stats()).outbound.bytes - before;
    const outcome = recordOutcome('storage link blacked out 30 s mid-way through a 40 MB upload', ['blackout#0'], storedKeys(gcs));
    const ratio = Math.round((sent / (40 * MB)) * 100) / 100;
    FIGURES.blackout = { chunkBytes: 40 * MB, sentOverLinkBytes: sent, ratio, storedAfterBlackoutS: (Date.now() - blackoutAt) / 1000 };
    console.log('30 s blackout mid-upload:', JSON.stringify(FIGURES.blackout));

    expect(outcome).toMatchObject({ stored: 1, lost: 0, duplicated: 0 });
    expect(outcomeLine).toMatchObject({ message: 'chunk uploaded', bytes: 40 * MB, resumedSession: true });
    const object = gcs.objects(BUCKET).find((o) => o.metadata.source === 'blackout');
    expect(
      createHash('sha256')
        .update(object?.bytes ?? Buffer.alloc(0))
        .digest('hex'),
    ).toBe(sha256);
    expect(object?.crc32c).toBe(chunk.crc32c);
    // The connection died: the attempt was abandoned for lack of progress during the blackout.
    expect(pipeline.worker.logs.some((l) => JSON.stringify(l.err ?? '').includes('no progress'))).toBe(true);
    // It resumed: one session, and the bytes that crossed the link (headers and all) well under twice the chunk.
    expect(gcs.requests.filter((r) => r.method === 'POST' && r.path.includes('uploadType=resumable')).length).toBe(1);
    expect(sent).toBeGreaterThan(40 * MB);
    expect(sent).toBeLessThan(1.5 * 40 * MB);
  }, 300_000);

  it('a link that resets connections every 3 s: every chunk once and whole', async () => {
    // Fast enough that a chunk fits between two resets (each upload starts over: multipart), slow enough that resets hit uploads.
    const { gcs, link, pipeline } = await impairedStorage(
      { rateBitsPerSecond: 6_000_000, delayMs: 20, loss: 0 },
      { UPLOAD_CONCURRENCY: '2', UPLOAD_CONCURRENCY_MAX: '2', UPLOAD_PROGRESS_TIMEOUT_MS: '10000' },
    );
    const video = join(pipeline.dir, 'file.mp4');
    await makeSampleVideo(video, { seconds: 30, width: 640, height: 360, fps: 25, gopSeconds: 1 });
    let resets = 0;
    const resetter = setInterval(() => {
      link.resetConnections().then(
        (n) => (resets += n),
        () => undefined,
      );
    }, 3000);
    cleanups.push(async () => clearInterval(resetter));
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: video, SOURCE_ID: 'resets', CHUNK_SECONDS: '2' });
    expect(await recorder.exited).toBe(0);
    const recorded = recordedOf(recorder.logs);
    const keys = [...new Set(recorded.map((r) => r.key))];
    await waitForStored(gcs, keys, 180_000);
    clearInterval(resetter);
    const outcome = recordOutcome('storage link resets connections every 3 s', keys, storedKeys(gcs));
    const abortedUploads = pipeline.worker.logs.filter((l) => /ECONNABORTED|ECONNRESET|socket hang up/.test(JSON.stringify(l.err ?? ''))).length;
    const behindLiveMaxS = Math.max(...behindLiveOf(pipeline.worker.logs)) / 1000;
    FIGURES.resets = { chunks: keys.length, connectionsReset: resets, uploadAttemptsCut: abortedUploads, behindLiveMaxS };
    console.log('resets every 3 s:', JSON.stringify(FIGURES.resets));

    expect(keys.length).toBeGreaterThanOrEqual(14);
    expect(outcome).toMatchObject({ lost: 0, duplicated: 0 });
    expectEachStoredOnceAndWhole(gcs, recorded);
    // The resets happened and cut uploads in flight.
    expect(resets).toBeGreaterThan(0);
    expect(abortedUploads).toBeGreaterThan(0);
    // A reset is a network error: it pauses, it does not spend the chunk's attempts until it gives up.
    expect(pipeline.worker.logs.filter((l) => String(l.message).startsWith('chunk upload gave up'))).toHaveLength(0);
  }, 300_000);
});
