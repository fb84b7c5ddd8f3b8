// The "Cloud Storage" of the gs:// benchmark runs, in a process of its own so that its CPU and
// memory are measured apart from the services and from the benchmark driver:
//   - harness/src/gcs-test-server.ts, the GCS JSON-API server the real @google-cloud/storage talks to;
//   - a minimal Pub/Sub stand-in: the server publishes each OBJECT_FINALIZE to it, it acknowledges at
//     once and pushes the message to the function's endpoint like a push subscription (at most
//     PUSH_CONCURRENCY in flight, retried with backoff on a non-2xx answer), as Pub/Sub would.
// Driven over stdin/stdout with one JSON object per line: {"id", "cmd", ...} -> {"id", "ok", ...}.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGcsTestServer } from '@crispy-streamer/harness/gcs-test-server';

interface PushMessage {
  data: string;
  attributes: Record<string, string>;
}

const pushConcurrency = Number(process.env.PUSH_CONCURRENCY ?? 8);
const NOTIFY_PREFIX = process.env.NOTIFY_PREFIX ?? 'chunks/';
let pushEndpoint: string | undefined;
const pending: PushMessage[] = [];
let inFlight = 0;
let pushed = 0;
let pushFailures = 0;

function pump(): void {
  while (pushEndpoint !== undefined && inFlight < pushConcurrency && pending.length > 0) {
    const message = pending.shift() as PushMessage;
    inFlight++;
    void deliver(pushEndpoint, message).finally(() => {
      inFlight--;
      pump();
    });
  }
}

async function deliver(endpoint: string, message: PushMessage): Promise<void> {
  const body = JSON.stringify({
    message: { ...message, messageId: randomUUID(), publishTime: new Date().toISOString() },
    subscription: 'projects/bench/subscriptions/describe-chunks',
  });
  for (let attempt = 1; attempt <= 8; attempt++) {
    try {
      const response = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(60_000) });
      await response.arrayBuffer();
      if ([102, 200, 201, 202, 204].includes(response.status)) {
        pushed++;
        return;
      }
    } catch {
      // retried below
    }
    pushFailures++;
    await sleep(Math.min(10_000, 100 * 2 ** attempt));
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

const relay = createServer((req, res) => {
  void readBody(req).then((text) => {
    const { messages = [] } = JSON.parse(text || '{}') as { messages?: PushMessage[] };
    // Like a bucket notification with an object-name prefix: the raw-upload runs are not chunks.
    pending.push(...messages.filter((m) => (m.attributes.objectId ?? '').startsWith(NOTIFY_PREFIX)));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ messageIds: messages.map(() => randomUUID()) }));
    pump();
  });
});
await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;

const gcs = await startGcsTestServer({
  signerPublicKeyPem: process.env.SIGNER_PUBLIC_KEY_PEM,
  notifications: { pubsubEmulatorUrl: relayUrl, project: 'bench', topic: 'chunk-finalized' },
});

const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
reply({ ready: true, url: gcs.url, relay: relayUrl });

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const request = JSON.parse(line) as { id: number; cmd: string; [key: string]: unknown };
  switch (request.cmd) {
    case 'push':
      pushEndpoint = String(request.endpoint);
      pump();
      reply({ id: request.id, ok: true });
      break;
    case 'fault':
      gcs.injectFault({ status: request.status as number, count: request.count as number });
      reply({ id: request.id, ok: true });
      break;
    case 'clearFaults':
      gcs.clearFaults();
      reply({ id: request.id, ok: true });
      break;
    case 'objects':
      reply({
        id: request.id,
        ok: true,
        objects: gcs.objects(String(request.bucket)).map((o) => ({ name: o.name, size: o.bytes.byteLength, timeCreated: o.timeCreated, metadata: o.metadata })),
      });
      break;
    case 'stats':
      reply({ id: request.id, ok: true, pushed, pushFailures, pendingPushes: pending.length, inFlight, requests: gcs.requests.length });
      break;
    default:
      reply({ id: request.id, ok: false, error: `unknown command ${request.cmd}` });
  }
});
lines.on('close', () => {
  void gcs.stop().finally(() => process.exit(0));
});
process.once('SIGTERM', () => {
  void gcs.stop().finally(() => process.exit(0));
});
