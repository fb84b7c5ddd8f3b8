import type { Redis } from 'ioredis';
import {
  FLEET_STATUS_TTL_MS,
  fleetKeys,
  parseCameraIndexMember,
  parseCameraStatus,
  parseUploadFigures,
  serializeUploadFigures,
  type CameraStatus,
  type WorkerUploadFigures,
} from '@crispy-streamer/shared/fleet';

// The fleet's part of Redis as the worker sees it: it reads every camera's status and every
// worker's upload figures, writes its own figures, and claims an alert so one worker sends it.
// Give it a connection that fails fast (createFleetRedisConnection).

export interface InvalidRecord {
  key: string;
  problems: string[];
}

export interface FleetStore {
  readCameras(nowMs: number): Promise<{ statuses: CameraStatus[]; invalid: InvalidRecord[] }>;
  readUploaders(nowMs: number): Promise<{ figures: WorkerUploadFigures[]; invalid: InvalidRecord[] }>;
  writeUploader(figures: WorkerUploadFigures): Promise<void>;
  /** True for the first caller only (per event id, for a day). */
  claimAlert(eventId: string): Promise<boolean>;
}

/** More cameras than this in one fleet are not read (the page says so). */
export const MAX_CAMERAS = 5000;

export function redisFleetStore(redis: Redis, fleetName: string): FleetStore {
  const keys = fleetKeys(fleetName);
  return {
    async readCameras(nowMs) {
      const members = await redis.zrangebyscore(keys.cameraIndex, nowMs - FLEET_STATUS_TTL_MS, '+inf', 'LIMIT', 0, MAX_CAMERAS);
      const named = members.flatMap((member) => {
        const parsed = parseCameraIndexMember(member);
        return parsed === undefined ? [] : [{ member, key: keys.camera(parsed.nodeId, parsed.sourceId) }];
      });
      const pipeline = redis.pipeline();
      for (const { key } of named) pipeline.hgetall(key);
      const replies = named.length === 0 ? [] : ((await pipeline.exec()) ?? []);
      const statuses: CameraStatus[] = [];
      const invalid: InvalidRecord[] = [];
      const expired: string[] = [];
      replies.forEach(([error, hash], index) => {
        const entry = named[index];
        if (entry === undefined) return;
        if (error !== null) throw error;
        const fields = hash as Record<string, string>;
        // Expired since it was indexed: the writer prunes the index, but a reader need not wait.
        if (Object.keys(fields).length === 0) {
          expired.push(entry.member);
          return;
        }
        const parsed = parseCameraStatus(fields);
        if (parsed.ok) statuses.push(parsed.status);
        else invalid.push({ key: entry.key, problems: parsed.problems });
      });
      if (expired.length > 0) await redis.zrem(keys.cameraIndex, ...expired).catch(() => undefined);
      return { statuses, invalid };
    },
    async readUploaders(nowMs) {
      const members = await redis.zrangebyscore(keys.uploaderIndex, nowMs - FLEET_STATUS_TTL_MS, '+inf', 'LIMIT', 0, 1000);
      const pipeline = redis.pipeline();
      for (const member of members) pipeline.hgetall(keys.uploader(member));
      const replies = members.length === 0 ? [] : ((await pipeline.exec()) ?? []);
      const figures: WorkerUploadFigures[] = [];
      const invalid: InvalidRecord[] = [];
      replies.forEach(([error, hash], index) => {
        if (error !== null) throw error;
        const fields = hash as Record<string, string>;
        if (Object.keys(fields).length === 0) return;
        const parsed = parseUploadFigures(fields);
        if (parsed.ok) figures.push(parsed.figures);
        else invalid.push({ key: keys.uploader(members[index] ?? ''), problems: parsed.problems });
      });
      return { figures, invalid };
    },
    async writeUploader(figures) {
      const key = keys.uploader(figures.workerId);
      const results = (await redis
        .pipeline()
        .hset(key, serializeUploadFigures(figures))
        .pexpire(key, FLEET_STATUS_TTL_MS)
        .zadd(keys.uploaderIndex, figures.heartbeatMs, figures.workerId)
        .zremrangebyscore(keys.uploaderIndex, '-inf', figures.heartbeatMs - FLEET_STATUS_TTL_MS)
        .pexpire(keys.uploaderIndex, FLEET_STATUS_TTL_MS)
        .exec()) ?? [];
      const failed = results.find(([error]) => error !== null);
      if (failed?.[0] != null) throw failed[0];
    },
    async claimAlert(eventId) {
      return (await redis.set(keys.alert(eventId), '1', 'PX', FLEET_STATUS_TTL_MS, 'NX')) === 'OK';
    },
  };
}
