import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pubsubPushBody, type StorageObjectResource } from '@crispy-streamer/shared';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startFunctionService } from '@crispy-streamer/harness/local-stack';
import type { LogLine, ServiceProcess } from '@crispy-streamer/harness/service-process';

const run = promisify(execFile);

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}
function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (server === undefined) return resolve();
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

// Pub/Sub delivers at least once and carries whatever was published: the function must answer
// every message (a 2xx acknowledges it) with a clear log line, and never crash.
describe('the function under at-least-once delivery', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let stored: StorageObjectResource;

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    const video = join(pipeline.dir, 'clip.mp4');
    await makeSampleVideo(video, { seconds: 4, width: 640, height: 360 });
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: video, SOURCE_ID: 'delivery' });
    expect(await recorder.exited).toBe(0);
    await pipeline.waitForDescriptions('delivery', [0]);
    stored = (await pipeline.bucketObjects())[0]?.resource as unknown as StorageObjectResource;
  });
  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  async function push(body: unknown): Promise<number> {
    const response = await fetch(pipeline.functionPushUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return response.status;
  }
  const logsSince = (count: number) => pipeline.fn.logs.slice(count);
  // The push is answered before the function's stdout reaches this process: wait for the lines.
  async function linesSince(count: number, message: string, expected: number): Promise<LogLine[]> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const lines = logsSince(count).filter((l) => l.message === message);
      if (lines.length >= expected || Date.now() > deadline) return lines;
      await delay(20);
    }
  }

  it('a duplicate notification is acknowledged and not described twice', async () => {
    const before = pipeline.fn.logs.length;
    expect(await push(pubsubPushBody('OBJECT_FINALIZE', stored, 'projects/local/subscriptions/s'))).toBe(204);
    expect(await linesSince(before, 'duplicate notification: chunk already described', 1)).toHaveLength(1);
    expect(logsSince(before).filter((l) => l.message === 'chunk described')).toHaveLength(0);
  });

  it('a malformed message is acknowledged with an error line naming the problem', async () => {
    const before = pipeline.fn.logs.length;
    expect(
      await push({
        message: { data: Buffer.from('not json').toString('base64'), attributes: { eventType: 'OBJECT_FINALIZE' }, messageId: '1' },
        subscription: 's',
      }),
    ).toBe(204);
    expect(await push({ message: { data: Buffer.from('{}').toString('base64'), messageId: '2' }, subscription: 's' })).toBe(204);
    const reasons = (await linesSince(before, 'notification ignored: malformed', 2)).map((l) => String(l.reason));
    expect(reasons).toEqual([
      'malformed storage notification: the message data is not base64-encoded JSON',
      'malformed storage notification: the message has no eventType attribute: is the topic fed by a bucket notification?',
    ]);
  });

  it('a non-video object and a non-finalize event are skipped', async () => {
    const before = pipeline.fn.logs.length;
    const text = { ...stored, name: 'notes/readme.txt', contentType: 'text/plain', generation: '1' };
    expect(await push(pubsubPushBody('OBJECT_FINALIZE', text, 's'))).toBe(204);
    expect(await push(pubsubPushBody('OBJECT_DELETE', stored, 's'))).toBe(204);
    const skipped = (await linesSince(before, 'notification skipped', 2)).map((l) => String(l.reason));
    expect(skipped).toEqual(['text/plain is not a video', 'event OBJECT_DELETE is not a new object']);
  });

  it('a notification from a bucket outside BUCKETS is acknowledged with an error line, and nothing is read', async () => {
    const before = pipeline.fn.logs.length;
    const foreign = { ...stored, bucket: 'someone-elses', generation: '7' };
    expect(await push(pubsubPushBody('OBJECT_FINALIZE', foreign, 's'))).toBe(204);
    const [refused] = await linesSince(before, 'notification refused: bucket not configured', 1);
    expect(refused).toMatchObject({ severity: 'ERROR', bucket: 'someone-elses', object: stored.name });
    expect(String(refused?.reason)).toMatch(/^bucket someone-elses is not one this function describes \(BUCKETS=bucket\)/);
    expect(logsSince(before).filter((l) => String(l.message).startsWith('chunk described'))).toHaveLength(0);
  });

  describe('objects that are not chunks are refused for good, and make nothing fetch anything', () => {
    let decoy: Server;
    const decoyRequests: string[] = [];
    let decoyPort = 0;
    beforeAll(async () => {
      decoy = createHttpServer((req, res) => {
        decoyRequests.push(`${req.method} ${req.headers.host} ${req.url}`);
        res.end('#EXTM3U\n');
      });
      decoyPort = await listen(decoy);
    });
    afterAll(() => close(decoy));

    /** Plants an object in the local bucket beside the real chunk (someone with write access to the bucket). */
    async function plant(name: string, bytes: Buffer): Promise<StorageObjectResource> {
      const resource = { ...stored, name, size: String(bytes.byteLength), generation: String(Date.now()), id: `bucket/${name}` };
      const path = join(pipeline.bucketDir, name);
      await writeFile(path, bytes);
      await writeFile(`${path}.meta.json`, JSON.stringify(resource));
      return resource;
    }
    const storedDir = () => dirname(stored.name);

    it('an HLS playlist named like a chunk: refused naming it, and the loopback server it points at gets no request', async () => {
      const playlist = Buffer.from(
        `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nhttp://127.0.0.1:${decoyPort}/seg0.ts\n#EXTINF:4.0,\nhttp://localhost:${decoyPort}/seg1.ts\n#EXT-X-ENDLIST\n`,
      );
      const object = await plant(`${storedDir()}/delivery_playlist_0000000042.mp4`, playlist);
      const before = pipeline.fn.logs.length;
      expect(await push(pubsubPushBody('OBJECT_FINALIZE', object, 's'))).toBe(204);
      const [refused] = await linesSince(before, 'chunk refused: not a chunk that can be described', 1);
      expect(refused).toMatchObject({
        severity: 'ERROR',
        object: object.name,
        kind: 'not-a-video-container',
        reason: 'not a video container: the object holds an HLS playlist (#EXTM3U)',
      });
      // Acknowledged: a redelivery of the same message is a duplicate, not a retry.
      expect(logsSince(before).filter((l) => l.message === 'chunk could not be described; Pub/Sub will retry')).toHaveLength(0);
      await delay(500);
      expect(decoyRequests).toEqual([]);
    });

    it('random bytes and a truncated chunk: refused, each named', async () => {
      const chunkBytes = await readFile(join(pipeline.bucketDir, stored.name));
      const random = await plant(`${storedDir()}/delivery_random_0000000043.mp4`, Buffer.concat([Buffer.from([0xff]), randomBytes(64 * 1024 - 1)]));
      const truncated = await plant(`${storedDir()}/delivery_truncated_0000000044.mp4`, chunkBytes.subarray(0, Math.floor(chunkBytes.byteLength / 2)));
      const before = pipeline.fn.logs.length;
      expect(await push(pubsubPushBody('OBJECT_FINALIZE', random, 's'))).toBe(204);
      expect(await push(pubsubPushBody('OBJECT_FINALIZE', truncated, 's'))).toBe(204);
      const refused = await linesSince(before, 'chunk refused: not a chunk that can be described', 2);
      expect(refused.map((l) => [l.object, l.kind])).toEqual([
        [random.name, 'not-a-video-container'],
        [truncated.name, 'incomplete'],
      ]);
      expect(String(refused[0]?.reason)).toMatch(/^not a video container: the object holds bytes [0-9a-f]{16}$/);
      expect(String(refused[1]?.reason)).toMatch(/truncated/);
      expect(decoyRequests).toEqual([]);
    });
  });

  it('a notification for an object deleted since is acknowledged with a warning', async () => {
    const before = pipeline.fn.logs.length;
    const ghost = { ...stored, name: 'delivery/2026-01-01/delivery_20260101T000000.000Z_0000009999.mp4', generation: '42' };
    expect(await push(pubsubPushBody('OBJECT_FINALIZE', ghost, 's'))).toBe(204);
    const [warning] = await linesSince(before, 'chunk deleted before it could be described', 1);
    expect(warning?.object).toBe(ghost.name);
  });

  // The function reads its object over TLS (a certificate made for this test, trusted through
  // NODE_EXTRA_CA_CERTS) and through a redirect to another host name: https://127.0.0.1:R answers
  // 307 to https://localhost:P, which serves the worker's bytes. What Cloud Storage needs of it.
  describe('over TLS and through a redirect to another host name', () => {
    let redirector: Server | undefined;
    let origin: Server | undefined;
    let tlsFunction: ServiceProcess | undefined;
    const redirected: string[] = [];
    const served: (string | undefined)[] = [];

    beforeAll(async () => {
      const certFile = join(pipeline.dir, 'tls-cert.pem');
      const keyFile = join(pipeline.dir, 'tls-key.pem');
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ]);
      const tls = { cert: await readFile(certFile), key: await readFile(keyFile) };
      const workerPort = new URL(pipeline.workerUrl).port;
      origin = createHttpsServer(tls, (req, res) => {
        served.push(req.headers.range);
        const upstream = httpRequest(
          { host: '127.0.0.1', port: workerPort, path: req.url, headers: { range: req.headers.range ?? '' } },
          (answer: IncomingMessage) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end();
      });
      const originPort = await listen(origin);
      redirector = createHttpsServer(tls, (req, res) => {
        redirected.push(req.headers.range ?? '');
        res.writeHead(307, { location: `https://localhost:${originPort}${req.url}` }).end();
      });
      const redirectorPort = await listen(redirector);
      const port = await freePort();
      tlsFunction = startFunctionService({
        port,
        env: {
          LOG_LEVEL: 'debug',
          BUCKETS: 'bucket',
          LOCAL_BUCKET_BASE_URL: `https://127.0.0.1:${redirectorPort}`,
          LOCAL_SIGNING_SECRET: pipeline.signingSecret ?? '',
          NODE_EXTRA_CA_CERTS: certFile,
        },
      });
      await tlsFunction.waitForLog((l) => l.message === 'function listening', 30_000, 'that it listens');
      const response = await fetch(`http://127.0.0.1:${port}/projects/local/topics/chunks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(pubsubPushBody('OBJECT_FINALIZE', stored, 'projects/local/subscriptions/tls')),
      });
      expect(response.status).toBe(204);
    });
    afterAll(async () => {
      await tlsFunction?.stop();
      await close(redirector);
      await close(origin);
    });

    it('logs the chunk measured from bytes read over TLS after the redirect', async () => {
      const line = await tlsFunction?.waitForLog((l) => l.message === 'chunk described', 30_000, 'a description over TLS');
      expect(line).toMatchObject({ object: stored.name, width: 640, height: 360, channels: 3, pixelFormat: 'yuv420p', codec: 'h264', durationCheck: 'match' });
      const original = pipeline.fn.logs.find((l) => l.message === 'chunk described' && l.object === stored.name);
      expect(line?.probedDurationMs).toBe(original?.probedDurationMs);
      expect(line?.durationMs).toBe(original?.durationMs);
      expect(String(line?.signedUrl).startsWith('https://127.0.0.1:')).toBe(true);
      // Every read went to the redirector first and reached the origin by name, each a range.
      expect(redirected.length).toBeGreaterThanOrEqual(2);
      expect(served.length).toBe(redirected.length);
      expect(served.every((range) => /^bytes=\d+-\d+$/.test(range ?? ''))).toBe(true);
    });
  });
});
