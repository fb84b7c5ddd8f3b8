import type { Redis } from 'ioredis';
import { writeCameraStatuses, type CameraStatus } from '@crispy-streamer/shared/fleet';

/** Where the fleet status goes: Redis in production, a list in tests. */
export interface FleetStatusStore {
  write(statuses: readonly CameraStatus[], nowMs: number): Promise<void>;
}

/**
 * Give it a connection that fails fast (createFleetRedisConnection): an outage must cost a
 * rejected write, never a queue of them.
 */
export function redisFleetStatusStore(redis: Redis, fleetName: string): FleetStatusStore {
  return { write: (statuses, nowMs) => writeCameraStatuses(redis, fleetName, statuses, nowMs) };
}
