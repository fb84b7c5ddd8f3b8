import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, StorageObjectResource } from '@crispy-streamer/shared';
import type { FinalizeNotifier } from './finalize-notifier.js';

/**
 * The local bucket's Pub/Sub: notify() only records the notification durably (as Cloud Storage
 * hands it to Pub/Sub) and returns; delivery to the push endpoint runs beside the uploads, with
 * retries until it is accepted. So an upload is not held up by the function describing the chunk,
 * and a notification survives a worker restart: the next worker delivers what is left on disk.
 *
 *   DIR/<generation>-<uuid>.json   one notification waiting for delivery (deleted once accepted)
 */
export interface NotificationOutbox extends FinalizeNotifier {
  /** Delivers the notifications an earlier worker left behind. */
  start(): Promise<void>;
  /** Stops taking retries; waits up to `graceMs` for deliveries in flight. What is left stays on disk. */
  close(graceMs: number): Promise<{ pending: number }>;
  /** Notifications recorded and not yet accepted. */
  pending(): number;
}

export interface OutboxOptions {
  dir: string;
  /** One delivery attempt; throws when the endpoint does not accept it. */
  deliver: (object: StorageObjectResource) => Promise<void>;
  logger: Logger;
  /** Deliveries in flight at once (Pub/Sub push also delivers concurrently). */
  concurrency?: number;
  minRetryMs?: number;
  maxRetryMs?: number;
}

/** Exponential backoff for the n-th failed delivery (1-based), capped. */
export function redeliveryDelayMs(failures: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
}

export function createNotificationOutbox(options: OutboxOptions): NotificationOutbox {
  const { dir, deliver, logger } = options;
  const concurrency = options.concurrency ?? 4;
  const minRetryMs = options.minRetryMs ?? 250;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  const waiting: { file: string; object: StorageObjectResource; failures: number }[] = [];
  const known = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  const stopRetrying = new AbortController();

  const pump = (): void => {
    while (!closed && inFlight.size < concurrency && waiting.length > 0) {
      const entry = waiting.shift();
      if (entry === undefined) break;
      const delivery = attempt(entry).finally(() => {
        inFlight.delete(delivery);
        pump();
      });
      inFlight.add(delivery);
    }
  };

  async function attempt(entry: { file: string; object: StorageObjectResource; failures: number }): Promise<void> {
    try {
      await deliver(entry.object);
      known.delete(entry.file);
      await unlink(join(dir, entry.file)).catch(() => undefined); // another worker may have delivered it too
      return;
    } catch (error) {
      entry.failures += 1;
      // The first failure and then every tenth: an endpoint down for an hour must not flood the log.
      if (entry.failures === 1 || entry.failures % 10 === 0) {
        logger.warn(
          { object: entry.object.name, failures: entry.failures, err: error },
          'finalize notification not accepted yet: it stays on disk and is retried with backoff',
        );
      }
    }
    const delayMs = redeliveryDelayMs(entry.failures, minRetryMs, maxRetryMs);
    // Retrying does not hold a delivery slot; closing cancels the wait and leaves the file on disk.
    void sleep(delayMs, undefined, { signal: stopRetrying.signal }).then(
      () => {
        waiting.push(entry);
        pump();
      },
      () => undefined,
    );
  }

  const enqueue = (file: string, object: StorageObjectResource): void => {
    if (known.has(file)) return;
    known.add(file);
    waiting.push({ file, object, failures: 0 });
    pump();
  };

  return {
    async notify(object) {
      if (closed) throw new Error(`notification for ${object.name} arrived after the outbox closed`);
      await mkdir(dir, { recursive: true });
      const file = `${object.generation}-${randomUUID()}.json`;
      const temporary = join(dir, `.${file}.tmp`);
      const handle = await open(temporary, 'wx');
      try {
        await handle.writeFile(JSON.stringify(object));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, join(dir, file));
      enqueue(file, object);
    },

    async start() {
      let files: string[];
      try {
        files = (await readdir(dir)).filter((name) => name.endsWith('.json') && !name.startsWith('.')).sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      let resumed = 0;
      for (const file of files) {
        try {
          enqueue(file, JSON.parse(await readFile(join(dir, file), 'utf8')) as StorageObjectResource);
          resumed += 1;
        } catch (error) {
          logger.error({ file: join(dir, file), err: error }, 'unreadable notification left in the outbox: moved aside as .bad; re-run the chunk upload to notify again');
          await rename(join(dir, file), join(dir, `.${file}.bad`)).catch(() => undefined);
        }
      }
      if (resumed > 0) logger.info({ notifications: resumed }, 'delivering finalize notifications left by an earlier worker');
    },

    async close(graceMs) {
      closed = true;
      stopRetrying.abort();
      await Promise.race([Promise.allSettled([...inFlight]), sleep(graceMs, undefined, { ref: false })]);
      return { pending: known.size };
    },

    pending: () => known.size,
  };
}
