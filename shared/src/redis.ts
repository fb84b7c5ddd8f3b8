import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { displayUrl } from './redact.js';

/**
 * A connection for BullMQ. `maxRetriesPerRequest: null` makes commands wait through a Redis
 * outage instead of failing, which BullMQ workers require and which lets the recorder keep its
 * place while Redis restarts.
 */
export function createRedisConnection(url: string, connectionName: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName,
    // Reconnect forever, but no faster than every 2 s once it has failed a few times.
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
}

/**
 * A connection for status and figures that must never wait for Redis: while Redis is away, or too
 * slow to answer within `commandTimeoutMs`, a command fails at once instead of queueing. Whoever
 * writes through it every few seconds then costs nothing during an outage, and its data simply
 * goes stale.
 */
export function createFleetRedisConnection(url: string, connectionName: string, commandTimeoutMs = 1000): Redis {
  return new Redis(url, {
    connectionName,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
}

/** BullMQ loses jobs if Redis may evict keys: say so loudly at start-up. */
export async function warnUnlessNoEviction(redis: Redis, url: string, logger: Logger): Promise<void> {
  try {
    const reply = await redis.config('GET', 'maxmemory-policy');
    const policy = reply[1];
    if (policy !== undefined && policy !== 'noeviction') {
      logger.warn(
        { redis: displayUrl(url), maxmemoryPolicy: policy },
        `Redis maxmemory-policy is "${policy}": queued chunks can be evicted. Set maxmemory-policy noeviction.`,
      );
    }
  } catch (error) {
    // Managed Redis often forbids CONFIG; that is not a reason to stop.
    logger.debug({ err: error }, 'could not read Redis maxmemory-policy');
  }
}
