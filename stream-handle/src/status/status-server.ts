import { access, constants } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { Gauge, type Registry } from 'prom-client';
import { measureSpool } from '../spool/spool-usage.js';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

/** Liveness, readiness and Prometheus metrics on one small HTTP server. */
export async function startStatusServer(options: {
  host: string;
  port: number;
  registry: Registry;
  spoolDir: string;
  readiness: ReadinessCheck[];
}): Promise<{ url: string; close(): Promise<void> }> {
  const { registry, spoolDir } = options;
  // Measured when scraped, so an idle node costs nothing.
  new Gauge({
    name: 'crispy_spool_bytes',
    help: 'Bytes of chunks waiting in the spool',
    registers: [registry],
    async collect() {
      this.set((await measureSpool(spoolDir)).bytes);
    },
  });
  new Gauge({
    name: 'crispy_spool_free_bytes',
    help: 'Free bytes on the spool file system',
    registers: [registry],
    async collect() {
      this.set((await measureSpool(spoolDir)).freeBytes);
    },
  });
  const readinessChecks: ReadinessCheck[] = [
    ...options.readiness,
    {
      name: 'spool writable',
      check: () =>
        access(spoolDir, constants.W_OK).then(
          () => true,
          () => false,
        ),
    },
  ];

  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      } else if (req.url === '/readyz') {
        const results = await Promise.all(readinessChecks.map(async (c) => [c.name, await c.check().catch(() => false)] as const));
        const ok = results.every(([, passed]) => passed);
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok, checks: Object.fromEntries(results) }));
      } else if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
      } else {
        res.writeHead(404).end();
      }
    })().catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    url: `http://${options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
