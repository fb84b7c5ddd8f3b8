import { createServer, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { DASHBOARD_HTML } from './dashboard/dashboard-page.js';
import { FLEET_HTML } from './fleet/fleet-page.js';
import type { UploadStats } from './dashboard/upload-stats.js';
import { checkLocalSignature } from '@crispy-streamer/shared';
import type { LocalBucket } from './storage/local-bucket.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  queue: Queue;
  board: { user: string; password: string } | undefined;
  /** The local bucket and its signing secret, when the worker serves its objects. */
  localBucket: { store: LocalBucket; secret: string } | undefined;
  health: () => Promise<{ ok: boolean; detail: Record<string, unknown> }>;
  registry: Registry;
  stats: UploadStats;
  /** The fleet page's data: every camera of every node, every worker's uploads. */
  fleet?: { view(): Promise<unknown> };
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Host names a browser on this machine uses for a server bound to loopback. */
const LOOPBACK_HOST_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The host name of a Host header, without its port; undefined when there is none. */
export function hostNameOf(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined || hostHeader === '') return undefined;
  const match = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(hostHeader.trim().toLowerCase());
  return match?.[1];
}

/**
 * Without credentials the board is on loopback only; a web page elsewhere can still reach it
 * through DNS rebinding (its own name, resolving to 127.0.0.1). Its requests carry its own name
 * in Host: only the loopback names are served.
 */
function loopbackHostsOnly(req: Request, res: Response, next: NextFunction): void {
  const host = hostNameOf(req.headers.host);
  if (host !== undefined && LOOPBACK_HOST_NAMES.has(host)) {
    next();
    return;
  }
  res
    .status(421)
    .type('text')
    .send(
      `this server answers to localhost only (Host: ${JSON.stringify(req.headers.host ?? '')}); to reach it under another name, set BOARD_USER and BOARD_PASSWORD`,
    );
}

/** Bull Board has no authentication of its own. */
function basicAuth(user: string, password: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const decoded = header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString() : '';
    const colon = decoded.indexOf(':');
    if (colon > 0 && sameText(decoded.slice(0, colon), user) && sameText(decoded.slice(colon + 1), password)) {
      next();
      return;
    }
    res.set('WWW-Authenticate', 'Basic realm="crispy-streamer"').status(401).send('credentials required');
  };
}

export async function startHttpServer(options: HttpServerOptions): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', async (_req, res) => {
    const health = await options.health();
    res.status(health.ok ? 200 : 503).json(health);
  });

  const boardAdapter = new ExpressAdapter();
  boardAdapter.setBasePath('/board');
  // Retrying, removing or adding jobs needs credentials: without them the board only shows. A job
  // added through it could otherwise name any chunk of the spool.
  const readOnly = options.board === undefined;
  createBullBoard({ queues: [new BullMQAdapter(options.queue, { readOnlyMode: readOnly })], serverAdapter: boardAdapter });
  // Everything that shows data sits behind the same credentials when they are configured, and on
  // loopback names only when they are not.
  const guard = options.board === undefined ? loopbackHostsOnly : basicAuth(options.board.user, options.board.password);
  for (const path of ['/board', '/dashboard', '/fleet', '/metrics']) app.use(path, guard);
  if (readOnly) {
    app.use('/board/api', (req, res, next) => {
      if (req.method === 'GET' || req.method === 'HEAD') {
        next();
        return;
      }
      res.status(403).type('text').send('the board is read-only: set BOARD_USER and BOARD_PASSWORD to retry, remove or add jobs');
    });
  }
  app.use('/board', boardAdapter.getRouter() as express.Router);

  app.get('/metrics', async (_req, res) => {
    res.type(options.registry.contentType).send(await options.registry.metrics());
  });
  app.get('/dashboard', (_req, res) => {
    res.type('html').send(DASHBOARD_HTML);
  });
  app.get('/dashboard/data', async (_req, res) => {
    const queue = await options.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children');
    res.json({ stats: options.stats.snapshot(Date.now()), queue });
  });

  const fleet = options.fleet;
  if (fleet !== undefined) {
    app.get('/fleet', (_req, res) => {
      res.type('html').set('cache-control', 'no-store').send(FLEET_HTML);
    });
    app.get('/fleet/data', async (_req, res) => {
      res.set('cache-control', 'no-store').json(await fleet.view());
    });
  }

  if (options.localBucket !== undefined) {
    const { store, secret } = options.localBucket;
    // Signed URLs of the local bucket: /buckets/BUCKET/objects/NAME?expires=..&signature=..
    app.get(/^\/buckets\/([^/]+)\/objects\/(.+)$/, async (req, res) => {
      // Express has decoded the path once; decoding again would turn an object named `a%25b` into `a%b`.
      const params = req.params as unknown as Record<string, string>;
      const bucket = params[0] ?? '';
      const objectName = params[1] ?? '';
      const check = checkLocalSignature({
        secret,
        bucket,
        objectName,
        expires: typeof req.query.expires === 'string' ? req.query.expires : undefined,
        signature: typeof req.query.signature === 'string' ? req.query.signature : undefined,
      });
      if (check !== 'valid' || bucket !== store.bucket) {
        res.status(403).send(check === 'expired' ? 'this signed URL has expired' : 'signature does not match');
        return;
      }
      const found = await store.read(objectName);
      if (found === undefined) {
        res.status(404).send('no such object');
        return;
      }
      res.sendFile(found.path, { acceptRanges: true, dotfiles: 'allow', headers: { 'content-type': found.resource.contentType } });
    });
  }

  // A request Express cannot parse (a malformed %-escape, say) gets a plain answer: no stack
  // trace, no install paths.
  app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : 500;
    res
      .status(status)
      .type('text')
      .send(status === 400 ? 'bad request: the path or query is not well formed' : 'internal error');
  });

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
