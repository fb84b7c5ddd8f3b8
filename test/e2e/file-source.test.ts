import { createReadStream } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cBase64 } from '@crispy-streamer/shared';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { probeVideoDurationMs, startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

const FRAME_MS = 1000 / 30;

describe('a video file goes through all three services into the local bucket', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let samplePath: string;
  let shortSamplePath: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    samplePath = join(pipeline.dir, 'sample-30s.mp4');
    shortSamplePath = join(pipeline.dir, 'sample-12s.mp4');
    await makeSampleVideo(samplePath, { seconds: 30, bFrames: true });
    await makeSampleVideo(shortSamplePath, { seconds: 12, bFrames: true });
  });

  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  it('copy mode: durations add up to the file, sequences are contiguous, every chunk is stored once and described', async () => {
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: samplePath, SOURCE_ID: 'file-copy', CHUNK_SECONDS: '3' });
    expect(await recorder.exited).toBe(0);
    const recorded = recorder.logs.filter((l) => l.message === 'chunk recorded');
    const sequences = recorded.map((l) => Number(l.sequence));
    expect(sequences).toEqual(sequences.map((_, i) => i));
    // A 2 s GOP cut at 3 s gives keyframe-aligned chunks of 4 and 2 s.
    expect(recorded.map((l) => l.durationMs)).toEqual([4000, 2000, 4000, 2000, 4000, 2000, 4000, 2000, 4000, 2000]);

    const described = await pipeline.waitForDescriptions('file-copy', sequences);
    const totalMs = described.reduce((sum, l) => sum + Number(l.durationMs), 0);
    expect(Math.abs(totalMs - probeVideoDurationMs(samplePath))).toBeLessThanOrEqual(FRAME_MS);

    for (const line of described) {
      expect(line).toMatchObject({ width: 1280, height: 720, channels: 3, durationCheck: 'match', severity: 'INFO' });
      expect(typeof line.elapsedMs).toBe('number');
    }

    const objects = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === 'file-copy');
    expect(objects).toHaveLength(recorded.length);
    for (const object of objects) {
      const { metadata } = object.resource;
      expect(object.resource.contentType).toBe('video/mp4');
      expect(Number(metadata.bytes)).toBe(object.bytes.byteLength);
      expect(metadata.crc32c).toBe(crc32cBase64(object.bytes));
      expect(object.resource.crc32c).toBe(metadata.crc32c);
      for (const field of ['sequence', 'startTime', 'durationMs', 'frameCount', 'codec', 'width', 'height', 'frameRate', 'recordedBy']) {
        expect(metadata[field], field).toBeTruthy();
      }
      expect(object.name).toMatch(
        new RegExp(`^file-copy/\\d{4}-\\d{2}-\\d{2}/file-copy_\\d{8}T\\d{6}\\.\\d{3}Z_${metadata.sequence?.padStart(10, '0')}\\.mp4$`),
      );
    }

    // The signed URL the function logged returns exactly the object's bytes.
    const first = described[0];
    const object = objects.find((o) => o.name === first?.object);
    const response = await fetch(String(first?.signedUrl));
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(object?.bytes ?? Buffer.alloc(0))).toBe(true);
    // ...and nothing without a valid signature.
    expect((await fetch(String(first?.signedUrl).replace(/signature=[0-9a-f]{4}/, 'signature=0000'))).status).toBe(403);

    // Uploaded chunks leave the spool; only the sequence state remains.
    expect(await readdir(join(pipeline.spoolDir, 'file-copy'))).toEqual(['state.json']);
  });

  it('encode mode: every chunk is exactly the requested length', async () => {
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: shortSamplePath, SOURCE_ID: 'file-encode', CHUNK_SECONDS: '3', CHUNK_MODE: 'encode' });
    expect(await recorder.exited).toBe(0);
    const recorded = recorder.logs.filter((l) => l.message === 'chunk recorded');
    expect(recorded.map((l) => l.durationMs)).toEqual([3000, 3000, 3000, 3000]);
    const described = await pipeline.waitForDescriptions('file-encode', [0, 1, 2, 3]);
    expect(described.every((l) => l.width === 1280 && l.height === 720 && l.channels === 3 && l.durationCheck === 'match')).toBe(true);
  });

  it('a bad source fails with a clear error while the good one on the same node completes', async () => {
    const notVideo = join(pipeline.dir, 'notes.mp4');
    await writeFile(notVideo, 'this is a text file, not a video\n'.repeat(100));
    const sourcesFile = join(pipeline.dir, 'sources.yaml');
    await writeFile(
      sourcesFile,
      ['defaults:', '  chunkSeconds: 3', 'sources:', `  - id: good`, `    url: ${shortSamplePath}`, `  - id: broken`, `    url: ${notVideo}`, ''].join('\n'),
    );
    const recorder = pipeline.runStreamHandle({}, ['--sources', sourcesFile]);
    expect(await recorder.exited).toBe(1);
    const failure = recorder.logs.find((l) => l.source === 'broken' && l.severity === 'ERROR');
    expect(failure?.message).toMatch(/source failed: ffmpeg cannot read this as video/);
    const good = recorder.logs.filter((l) => l.source === 'good' && l.message === 'chunk recorded');
    expect(good.length).toBe(4);
    await pipeline.waitForDescriptions(
      'good',
      good.map((l) => Number(l.sequence)),
    );
  });

  it('reads a video over http(s) like a file', async () => {
    // Like any static file server: ffmpeg seeks to the moov at the end with a Range request.
    const size = (await stat(shortSamplePath)).size;
    const server = createServer((req, res) => {
      const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
      if (range === null) {
        createReadStream(shortSamplePath).pipe(res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': size, 'accept-ranges': 'bytes' }));
        return;
      }
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : size - 1;
      res.writeHead(206, { 'content-type': 'video/mp4', 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` });
      createReadStream(shortSamplePath, { start, end }).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const recorder = pipeline.runStreamHandle({ SOURCE_URL: `http://127.0.0.1:${port}/clips/sample.mp4`, SOURCE_ID: 'http-file' });
      expect(await recorder.exited).toBe(0);
      const described = await pipeline.waitForDescriptions('http-file', [0, 1, 2, 3]);
      expect(described.reduce((sum, l) => sum + Number(l.durationMs), 0)).toBe(12_000);
    } finally {
      server.close();
    }
  });

  it('Bull Board shows the queue and its completed uploads', async () => {
    expect((await fetch(`${pipeline.workerUrl}/board`)).status).toBe(200);
    const api = (await (await fetch(`${pipeline.workerUrl}/board/api/queues`)).json()) as { queues: { name: string; counts: Record<string, number> }[] };
    const queue = api.queues.find((q) => q.name === 'chunks');
    expect(queue?.counts.completed).toBeGreaterThanOrEqual(10);
    expect(queue?.counts.failed).toBe(0);
  });

  it('refuses a bad configuration at start with every problem named', async () => {
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: 'ftp://cam/1', SOURCE_ID: '../escape', CHUNK_SECONDS: '0' });
    expect(await recorder.exited).toBe(2);
    const output = recorder.otherOutput.join('\n');
    expect(output).toContain('SOURCE_URL.id');
    expect(output).toContain('SOURCE_URL.url: ftp://cam/1 has a scheme we cannot record');
    expect(output).toContain('SOURCE_URL.chunkSeconds');
  });
});
