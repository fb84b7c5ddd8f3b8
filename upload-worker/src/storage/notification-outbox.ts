import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, syncDirectory, type Logger, type StorageObjectResource } from '@crispy-streamer/shared';
import { coalescedSync } from './coalesced-sync.js';
import type { FinalizeNotifier } from './finalize-notifier.js';

/**
 * The local bucket's Pub/Sub: notify() only records the notification durably (as Cloud Storage
 * hands it to Pub/Sub) and returns; delivery to the push endpoint runs beside the uploads, with
 * retries until it is accepted. So an upload is not held up by the function describing the chunk,
 * and a notification survives a worker restart: the next worker delivers what is left on disk.
 *
 *   DIR/<generation>-<uuid>.json   one notification waiting for delivery (deleted once accepted)
 *   DIR/.dead/                      notifications refused for longer than `maxAgeMs`, kept for a person
 *
 * Delivery is at least once, as with Pub/Sub: a worker that starts delivers every notification it
 * finds, also one that another worker sharing the bucket folder is delivering at that moment; the
 * function acknowledges such a duplicate without describing the chunk again.
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
  /** After this long refused, a notification is moved to DIR/.dead (Pub/Sub keeps messages 7 days). */
  maxAgeMs?: number;
}

type Entry = { file: string; object: StorageObjectResource; failures: number; createdAtMs: number };

/** What a notification file must hold to be delivered. */
function isStorageObject(value: unknown): value is StorageObjectResource {
  const object = value as Partial<StorageObjectResource> | null;
  return (
    typeof object === 'object' &&
    object !== null &&
    typeof object.name === 'string' &&
    typeof object.bucket === 'string' &&
    typeof object.generation === 'string'
  );
}

/** The wait before the n-th redelivery (1-based): min doubling to max, exactly (a person reads these times in the log). */
export function redeliveryDelayMs(failures: number, minMs: number, maxMs: number): number {
  return backoffDelayMs(failures, { minDelayMs: minMs, maxDelayMs: maxMs, jitter: 0 });
}

export function createNotificationOutbox(options: OutboxOptions): NotificationOutbox {
  const { dir, deliver, logger } = options;
  const concurrency = options.concurrency ?? 4;
  const minRetryMs = options.minRetryMs ?? 250;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  const maxAgeMs = options.maxAgeMs ?? 7 * 24 * 3600_000;
  const waiting: Entry[] = [];
  const known = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  const stopRetrying = new AbortController();
  // Uploads finishing together share one fsync of the folder (each still waits for one after its rename).
  const syncDir = coalescedSync(syncDirectory);
  let dirMade = false;

  const pump = (): void => {
    while (!closed && inFlight.size < concurrency && waiting.length > 0) {
      const entry = waiting.shift();
      if (entry === undefined) break;
      const delivery = attempt(entry)
        .catch((error: unknown) =>
          logger.error({ object: entry.object.name, err: error }, 'finalize notification delivery failed unexpectedly; it stays on disk for the next worker'),
        )
        .finally(() => {
          inFlight.delete(delivery);
          pump();
        });
      inFlight.add(delivery);
    }
  };

  async function attempt(entry: Entry): Promise<void> {
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
    if (Date.now() - entry.createdAtMs > maxAgeMs) {
      await mkdir(join(dir, '.dead'), { recursive: true });
      await rename(join(dir, entry.file), join(dir, '.dead', entry.file)).catch(() => undefined);
      // Pending until it is moved: pending() === 0 means nothing is left in the outbox folder.
      known.delete(entry.file);
      logger.error(
        { object: entry.object.name, failures: entry.failures, file: join(dir, '.dead', entry.file) },
        `finalize notification refused for over ${Math.round(maxAgeMs / 3_600_000)} h: moved aside; the object is stored, describe it by re-publishing this notification`,
      );
      return;
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

  const enqueue = (file: string, object: StorageObjectResource, createdAtMs: number): void => {
    if (known.has(file)) return;
    known.add(file);
    waiting.push({ file, object, failures: 0, createdAtMs });
    pump();
  };

  return {
    async notify(object) {
      if (closed) throw new Error(`notification for ${object.name} arrived after the outbox closed`);
      if (!dirMade) await mkdir(dir, { recursive: true });
      dirMade = true;
      const file = `${object.generation}-${randomUUID()}.json`;
      const temporary = join(dir, `.${file}.tmp`);
      try {
        const handle = await open(temporary, 'wx');
        try {
          await handle.writeFile(JSON.stringify(object));
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temporary, join(dir, file));
      } catch (error) {
        await unlink(temporary).catch(() => undefined);
        // The folder removed behind our back: made again on the next notification.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') dirMade = false;
        throw error;
      }
      // The upload job is acknowledged once this returns: the rename itself must be on disk.
      await syncDir(dir);
      enqueue(file, object, Date.now());
    },

    async start() {
      let names: string[];
      try {
        names = (await readdir(dir)).sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      // Half-written files of a worker that died in notify(): their upload job was not acknowledged.
      for (const name of names.filter((n) => n.startsWith('.') && n.endsWith('.json.tmp'))) await unlink(join(dir, name)).catch(() => undefined);
      let resumed = 0;
      for (const file of names.filter((name) => name.endsWith('.json') && !name.startsWith('.'))) {
        const path = join(dir, file);
        let text: string;
        let createdAtMs: number;
        try {
          text = await readFile(path, 'utf8');
          createdAtMs = (await stat(path)).mtimeMs;
        } catch (error) {
          // Gone: another worker sharing the folder delivered it meanwhile. Anything else: leave it.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
            logger.warn({ file: path, err: error }, 'could not read a notification left in the outbox; it stays there');
          continue;
        }
        let object: unknown;
        try {
          object = JSON.parse(text);
        } catch {
          object = undefined;
        }
        if (!isStorageObject(object)) {
          logger.error({ file: path }, 'unreadable notification left in the outbox: moved aside as .bad; re-run the chunk upload to notify again');
          await rename(path, join(dir, `.${file}.bad`)).catch(() => undefined);
          continue;
        }
        enqueue(file, object, createdAtMs);
        resumed += 1;
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
