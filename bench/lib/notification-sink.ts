import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onCleanup } from './cleanup.js';

// The cloud, off the edge: a tiny HTTP server that takes each "object finalized" notification, answers
// 204 at once and counts it. Edge runs send their notifications here instead of to the function, so the
// function's decode (it runs in Cloud Functions, not on the edge box) neither takes the edge's cores nor
// sets the edge's latency. It runs inside the benchmark driver, which no edge figure counts.

export interface NotificationSink {
  url: string;
  /** Notifications received so far (each POST is one). */
  count(): number;
  /** When each arrived (ms since epoch), in arrival order. */
  arrivals(): number[];
  /** Each notification as received (body and content type), for replaying to the function later. */
  received(): { body: string; contentType: string }[];
  stop(): Promise<void>;
}

export async function startNotificationSink(): Promise<NotificationSink> {
  const arrivals: number[] = [];
  const received: { body: string; contentType: string }[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      arrivals.push(Date.now());
      received.push({ body: Buffer.concat(parts).toString('utf8'), contentType: req.headers['content-type'] ?? 'application/json' });
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const stop = onCleanup('notification sink', () => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://localhost:${port}/projects/local/topics/chunks`,
    count: () => arrivals.length,
    arrivals: () => [...arrivals],
    received: () => [...received],
    stop,
  };
}
