import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type StorageObjectResource } from '@crispy-streamer/shared';
import { pushDelivery } from '../src/storage/finalize-notifier.js';
import { createNotificationOutbox, redeliveryDelayMs } from '../src/storage/notification-outbox.js';

let dir = '';
let logLines: Record<string, unknown>[];
const logger = () =>
  createLogger({
    service: 'test',
    pretty: false,
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  });

const object = (name: string, generation = '1700000000000001'): StorageObjectResource =>
  ({ kind: 'storage#object', name, bucket: 'b', generation, contentType: 'video/mp4', size: '3' }) as StorageObjectResource;

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}
const filesIn = async () => (await readdir(dir).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'outbox-')), 'outbox');
  logLines = [];
});
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

describe('the notification outbox', () => {
  it('returns from notify once the notification is on disk, before it is delivered', async () => {
    let release = () => undefined as void;
    const delivered: string[] = [];
    const outbox = createNotificationOutbox({
      dir,
      logger: logger(),
      deliver: async (o) => {
        await new Promise<void>((resolve) => (release = resolve));
        delivered.push(o.name);
      },
    });
    await outbox.notify(object('cam/a.mp4'));
    expect(delivered).toEqual([]);
    expect(await filesIn()).toHaveLength(1);
    expect(outbox.pending()).toBe(1);
    release();
    await until(async () => (await filesIn()).length === 0, 'the delivered notification to leave the disk');
    expect(delivered).toEqual(['cam/a.mp4']);
    expect(outbox.pending()).toBe(0);
  });

  it('retries a refused delivery with backoff until it is accepted, warning once', async () => {
    let calls = 0;
    const outbox = createNotificationOutbox({
      dir,
      logger: logger(),
      minRetryMs: 10,
      deliver: async () => {
        calls += 1;
        if (calls < 4) throw new Error('HTTP 503');
      },
    });
    await outbox.notify(object('cam/b.mp4'));
    await until(() => outbox.pending() === 0, 'delivery');
    expect(calls).toBe(4);
    const warnings = logLines.filter((l) => l.severity === 'WARNING');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.object).toBe('cam/b.mp4');
    expect(await filesIn()).toEqual([]);
  });

  it('keeps what it could not deliver on disk at close, and the next outbox delivers it', async () => {
    const first = createNotificationOutbox({ dir, logger: logger(), minRetryMs: 10, deliver: () => Promise.reject(new Error('connection refused')) });
    await first.notify(object('cam/c.mp4', '11'));
    await first.notify(object('cam/d.mp4', '12'));
    expect(await first.close(50)).toEqual({ pending: 2 });
    await expect(first.notify(object('cam/e.mp4'))).rejects.toThrow('after the outbox closed');
    expect(await filesIn()).toHaveLength(2);

    const delivered: string[] = [];
    const second = createNotificationOutbox({ dir, logger: logger(), deliver: async (o) => void delivered.push(o.name) });
    await second.start();
    await until(() => delivered.length === 2, 'both notifications');
    expect(delivered.sort()).toEqual(['cam/c.mp4', 'cam/d.mp4']);
    expect(logLines.some((l) => l.message === 'delivering finalize notifications left by an earlier worker' && l.notifications === 2)).toBe(true);
    await until(async () => (await filesIn()).length === 0, 'the outbox to empty');
  });

  it('moves an unreadable leftover aside with an error naming it, and delivers the rest', async () => {
    const delivered: string[] = [];
    await rm(dir, { recursive: true, force: true });
    const seed = createNotificationOutbox({ dir, logger: logger(), deliver: () => new Promise(() => undefined) });
    await seed.notify(object('cam/f.mp4'));
    await writeFile(join(dir, '1-garbage.json'), '{not json');
    const outbox = createNotificationOutbox({ dir, logger: logger(), deliver: async (o) => void delivered.push(o.name) });
    await outbox.start();
    await until(() => delivered.length === 1, 'the readable one');
    const error = logLines.find((l) => l.severity === 'ERROR');
    expect(String(error?.file)).toContain('1-garbage.json');
    expect((await readdir(dir)).some((name) => name === '.1-garbage.json.bad')).toBe(true);
  });

  it('treats a file holding JSON that is no notification as unreadable, and removes half-written files', async () => {
    await rm(dir, { recursive: true, force: true });
    const seed = createNotificationOutbox({ dir, logger: logger(), deliver: () => new Promise(() => undefined) });
    await seed.notify(object('cam/i.mp4'));
    await writeFile(join(dir, '2-null.json'), 'null');
    await writeFile(join(dir, '.3-x.json.tmp'), '{"na');
    const delivered: string[] = [];
    const outbox = createNotificationOutbox({ dir, logger: logger(), deliver: async (o) => void delivered.push(o.name) });
    await outbox.start();
    await until(() => delivered.length === 1, 'the good one');
    const names = await readdir(dir);
    expect(names).toContain('.2-null.json.bad');
    expect(names).not.toContain('.3-x.json.tmp');
  });

  it('waits at close for a delivery in flight, and then has nothing pending', async () => {
    const outbox = createNotificationOutbox({ dir, logger: logger(), deliver: () => delay(100) });
    await outbox.notify(object('cam/j.mp4'));
    expect(await outbox.close(5_000)).toEqual({ pending: 0 });
    expect(await filesIn()).toEqual([]);
  });

  it('moves a notification refused for longer than its maximum age aside, with an error naming it', async () => {
    const outbox = createNotificationOutbox({ dir, logger: logger(), minRetryMs: 5, maxAgeMs: 50, deliver: () => Promise.reject(new Error('HTTP 500')) });
    await outbox.notify(object('cam/k.mp4'));
    await until(() => outbox.pending() === 0, 'the notification to be given up');
    expect(await filesIn()).toEqual([]);
    expect(await readdir(join(dir, '.dead'))).toHaveLength(1);
    const error = logLines.find((l) => l.severity === 'ERROR');
    expect(error?.object).toBe('cam/k.mp4');
    expect(String(error?.message)).toContain('moved aside');
  });

  it('backs off exponentially up to a cap', () => {
    expect([1, 2, 3, 4, 10].map((n) => redeliveryDelayMs(n, 250, 30_000))).toEqual([250, 500, 1000, 2000, 30_000]);
  });
});

describe('push delivery to a real HTTP endpoint', () => {
  let server: Server;
  let status = 204;
  const bodies: { url: string | undefined; body: Record<string, unknown> }[] = [];
  beforeEach(async () => {
    bodies.length = 0;
    server = createServer((request: IncomingMessage, response) => {
      let body = '';
      request.on('data', (data: Buffer) => (body += data.toString()));
      request.on('end', () => {
        bodies.push({ url: request.url, body: JSON.parse(body) as Record<string, unknown> });
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  const endpoint = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/projects/local/topics/chunks`;

  it('posts a Pub/Sub push body and accepts 204', async () => {
    status = 204;
    await pushDelivery(endpoint(), 'projects/local/subscriptions/s')(object('cam/g.mp4'));
    expect(bodies[0]?.url).toBe('/projects/local/topics/chunks');
    const message = bodies[0]?.body.message as { attributes: Record<string, string>; data: string };
    expect(message.attributes.eventType).toBe('OBJECT_FINALIZE');
    expect(message.attributes.objectId).toBe('cam/g.mp4');
    expect(JSON.parse(Buffer.from(message.data, 'base64').toString()).name).toBe('cam/g.mp4');
    expect(bodies[0]?.body.subscription).toBe('projects/local/subscriptions/s');
  });

  it('throws naming the object, the endpoint and the status when not acknowledged', async () => {
    status = 500;
    await expect(pushDelivery(endpoint(), 's')(object('cam/h.mp4'))).rejects.toThrow(`notification for cam/h.mp4 not accepted by ${endpoint()}: HTTP 500`);
  });
});
