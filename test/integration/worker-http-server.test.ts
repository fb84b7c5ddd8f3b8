import { request as httpRequest } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cBase64, signLocalObjectUrl } from '@crispy-streamer/shared';
import { createRedisConnection } from '@crispy-streamer/shared/redis';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { UploadStats } from '../../upload-worker/src/dashboard/upload-stats.js';
import { hostNameOf, startHttpServer } from '../../upload-worker/src/http-server.js';
import { createLocalBucket, type LocalBucket } from '../../upload-worker/src/storage/local-bucket.js';

// The worker's HTTP server against a real Redis and a real local bucket. Found by an adversarial
// run: Bull Board's API on loopback added a job naming any file (the worker uploaded it, then
// deleted it), a malformed %-escape answered a stack trace with install paths, and object names
// were decoded twice.

/** A raw request, so that the Host header and the path are exactly what a hostile page sends. */
function send(url: string, options: { method?: string; host?: string; path: string; auth?: string; body?: string }): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        hostname,
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: {
          ...(options.host === undefined ? {} : { host: options.host }),
          ...(options.auth === undefined ? {} : { authorization: `Basic ${Buffer.from(options.auth).toString('base64')}` }),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('the worker HTTP server', () => {
  let redis: RedisServer;
  let queue: Queue;
  let dir = '';
  let bucket: LocalBucket;
  const secret = 'x'.repeat(32);
  const servers: { url: string; close(): Promise<void> }[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    queue = new Queue('chunks', { connection: createRedisConnection(redis.url, 'http-server-test') });
    dir = await mkdtemp(join(tmpdir(), 'http-server-'));
    bucket = createLocalBucket(join(dir, 'bucket'), 'bucket');
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    await queue?.close();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(board: { user: string; password: string } | undefined) {
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      queue,
      board,
      localBucket: { store: bucket, secret },
      registry: new Registry(),
      stats: new UploadStats(),
      fleet: { view: async () => ({ rows: [], secret: 'fleet-data' }) },
      health: async () => ({ ok: true, detail: {} }),
    });
    servers.push(server);
    return server.url;
  }

  const addJob = JSON.stringify({ name: 'upload-chunk', data: { spoolPath: '/etc/passwd', metadata: {} }, options: {} });

  describe('without credentials', () => {
    it('shows the board under loopback names only: a page reaching it by DNS rebinding is refused', async () => {
      const url = await start(undefined);
      for (const host of ['127.0.0.1:3000', 'localhost:3000', '[::1]:3000'])
        expect((await send(url, { path: '/board/api/queues', host })).status, host).toBe(200);
      for (const host of ['evil.example', 'evil.example:3000', '127.0.0.1.evil.example']) {
        const refused = await send(url, { path: '/board/api/queues', host });
        expect(refused.status, host).toBe(421);
      }
      expect((await send(url, { path: '/dashboard/data', host: 'evil.example' })).status).toBe(421);
      // The fleet page and its data are guarded like the board.
      for (const path of ['/fleet', '/fleet/data']) {
        expect((await send(url, { path, host: 'evil.example' })).status, path).toBe(421);
        expect((await send(url, { path, host: 'localhost:3000' })).status, path).toBe(200);
      }
      expect(JSON.parse((await send(url, { path: '/fleet/data', host: 'localhost' })).text)).toEqual({ rows: [], secret: 'fleet-data' });
    });

    it('is read-only: adding, retrying or removing a job is refused, and nothing reaches the queue', async () => {
      const url = await start(undefined);
      const before = await queue.count();
      const add = await send(url, { method: 'POST', path: '/board/api/queues/chunks/add', host: '127.0.0.1', body: addJob });
      expect(add.status).toBe(403);
      expect(add.text).toMatch(/read-only: set BOARD_USER and BOARD_PASSWORD/);
      expect((await send(url, { method: 'PUT', path: '/board/api/queues/chunks/retry/failed', host: '127.0.0.1' })).status).toBe(403);
      expect(await queue.count()).toBe(before);
      expect(JSON.parse((await send(url, { path: '/board/api/queues', host: '127.0.0.1' })).text)).toMatchObject({ queues: [{ readOnlyMode: true }] });
    });
  });

  describe('with credentials', () => {
    it('asks every request for them, whatever its Host, and lets the board act with them', async () => {
      const url = await start({ user: 'admin', password: 'Board-Secret-42' });
      expect((await send(url, { path: '/board/api/queues', host: 'edge-1.example:3000' })).status).toBe(401);
      expect((await send(url, { method: 'POST', path: '/board/api/queues/chunks/add', body: addJob })).status).toBe(401);
      expect((await send(url, { path: '/board/api/queues', auth: 'admin:wrong' })).status).toBe(401);
      expect((await send(url, { path: '/fleet/data', host: 'edge-1.example:3000' })).status).toBe(401);
      expect((await send(url, { path: '/fleet', auth: 'admin:wrong' })).status).toBe(401);
      expect((await send(url, { path: '/fleet/data', auth: 'admin:Board-Secret-42' })).status).toBe(200);
      const shown = await send(url, { path: '/board/api/queues', host: 'edge-1.example:3000', auth: 'admin:Board-Secret-42' });
      expect(shown.status).toBe(200);
      expect(JSON.parse(shown.text)).toMatchObject({ queues: [{ readOnlyMode: false }] });
    });
  });

  describe("the local bucket's signed URLs", () => {
    it('serve an object whose name holds a % exactly once decoded', async () => {
      const url = await start(undefined);
      const bytes = Buffer.from('fifty per cent');
      const name = 'cam0/2026-11-23/a%25b 50%.mp4';
      const path = join(dir, 'chunk.mp4');
      await writeFile(path, bytes);
      await bucket.put({ name, source: { path, size: bytes.byteLength, crc32c: crc32cBase64(bytes) }, contentType: 'video/mp4', metadata: {} });
      const signed = signLocalObjectUrl({ baseUrl: url, secret, bucket: 'bucket', objectName: name, expiresInSeconds: 60 });
      const response = await fetch(signed);
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
    });

    it('answer a malformed %-escape with a plain 400: no stack trace, no install path', async () => {
      const url = await start(undefined);
      const answer = await send(url, { path: '/buckets/bucket/objects/cam0/%E0%A4%A.mp4?expires=1&signature=00' });
      expect(answer.status).toBe(400);
      expect(answer.text).toBe('bad request: the path or query is not well formed');
      expect(answer.text).not.toMatch(/node_modules|\/work|\bat /);
    });
  });

  it('reads the host name of a Host header', () => {
    expect(['localhost:3000', '127.0.0.1', '[::1]:80', 'EVIL.example', '', undefined].map(hostNameOf)).toEqual([
      'localhost',
      '127.0.0.1',
      '[::1]',
      'evil.example',
      undefined,
      undefined,
    ]);
  });
});
