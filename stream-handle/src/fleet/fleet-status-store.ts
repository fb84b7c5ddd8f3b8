import type { Redis } from 'ioredis';
import { FLEET_STATUS_TTL_MS, cameraIndexMember, fleetKeys, serializeCameraStatus, type CameraStatus } from '@crispy-streamer/shared/fleet';

/** Where the fleet status goes: Redis in production, a list in tests. */
export interface FleetStatusStore {
  write(statuses: readonly CameraStatus[], nowMs: number): Promise<void>;
}

/**
 * Writes every camera of this node in one pipeline: its hash (all fields, so none goes stale),
 * its expiry, its heartbeat in the index; and prunes index members nobody has written for a day.
 * Give it a connection that fails fast (createFleetRedisConnection): an outage must cost a
 * rejected write, never a queue of them.
 */
export function redisFleetStatusStore(redis: Redis, fleetName: string): FleetStatusStore {
  const keys = fleetKeys(fleetName);
  return {
    async write(statuses, nowMs) {
      const pipeline = redis.pipeline();
      for (const status of statuses) {
        const key = keys.camera(status.nodeId, status.sourceId);
        pipeline.hset(key, serializeCameraStatus(status));
        pipeline.pexpire(key, FLEET_STATUS_TTL_MS);
        pipeline.zadd(keys.cameraIndex, status.heartbeatMs, cameraIndexMember(status.nodeId, status.sourceId));
      }
      pipeline.zremrangebyscore(keys.cameraIndex, '-inf', nowMs - FLEET_STATUS_TTL_MS);
      pipeline.pexpire(keys.cameraIndex, FLEET_STATUS_TTL_MS);
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error !== null);
      if (failed?.[0] != null) throw failed[0];
    },
  };
}
