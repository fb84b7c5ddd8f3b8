import { createServer, type IncomingMessage, type Server } from 'node:http';

// An alert webhook receiver on 127.0.0.1 for tests: it refuses the first deliveries the way real
// receivers fail (an error status, or a connection dropped without an answer), then takes them,
// keeping every request it saw.

export type ReceiverFault = { kind: 'status'; status: number } | { kind: 'drop' };

export interface ReceivedRequest {
  atMs: number;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** What the receiver did with it: `accepted`, or the fault it played. */
  answer: 'accepted' | 'status' | 'drop';
}

export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Requests it answered 2xx. */
  accepted(): ReceivedRequest[];
  waitFor(predicate: (request: ReceivedRequest) => boolean, timeoutMs: number, what: string): Promise<ReceivedRequest>;
  close(): Promise<void>;
}

/** `faults` are played in order, one per request; after them every request is accepted. */
export async function startWebhookReceiver(options: { faults?: ReceiverFault[]; path?: string } = {}): Promise<WebhookReceiver> {
  const faults = [...(options.faults ?? [])];
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const pieces: Buffer[] = [];
    req.on('data', (piece: Buffer) => pieces.push(piece));
    req.on('end', () => {
      const text = Buffer.concat(pieces).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Kept as text: the test will say what it got.
      }
      const fault = faults.shift();
      const request: ReceivedRequest = { atMs: Date.now(), headers: req.headers, body, answer: fault === undefined ? 'accepted' : fault.kind };
      requests.push(request);
      for (const wake of waiters) wake();
      if (fault?.kind === 'drop') req.socket.destroy();
      else if (fault?.kind === 'status') res.writeHead(fault.status).end('not now');
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}${options.path ?? '/hooks/crispy'}`,
    requests,
    accepted: () => requests.filter((request) => request.answer === 'accepted'),
    waitFor(predicate, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = requests.find(predicate);
          if (found === undefined) return;
          done();
          resolve(found);
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `the webhook did not receive ${what} within ${timeoutMs} ms (got ${requests.length} requests: ${JSON.stringify(requests.map((r) => r.body)).slice(0, 800)})`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
