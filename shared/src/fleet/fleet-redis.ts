import type { Redis } from 'ioredis';
import { parseCameraStatus, serializeCameraStatus, type CameraStatus } from './camera-status.js';
import { FLEET_STATUS_TTL_MS, cameraIndexMember, fleetKeys, parseCameraIndexMember } from './status-keys.js';
import { parseUploadFigures, serializeUploadFigures, type WorkerUploadFigures } from './upload-figures.js';

// Reading and writing the fleet's records in Redis, for every reader and writer (stream-handle
// writes cameras, workers write their figures and read both, the coverage command reads cameras).
// Give these a connection that fails fast (createFleetRedisConnection in redis.ts).

export interface InvalidRecord {
  key: string;
  problems: string[];
}

/** More cameras than this in one fleet are not read. */
export const MAX_FLEET_CAMERAS = 5000;

/**
 * Every camera of this node in one pipeline: its hash (all fields, so none goes stale), its
 * expiry, its heartbeat in the index; and index members nobody has written for a day are pruned.
 */
export async function writeCameraStatuses(redis: Redis, fleetName: string, statuses: readonly CameraStatus[], nowMs: number): Promise<void> {
  const keys = fleetKeys(fleetName);
  const pipeline = redis.pipeline();
  for (const status of statuses) {
    const key = keys.camera(status.nodeId, status.sourceId);
    pipeline.hset(key, serializeCameraStatus(status));
    pipeline.pexpire(key, FLEET_STATUS_TTL_MS);
    pipeline.zadd(keys.cameraIndex, status.heartbeatMs, cameraIndexMember(status.nodeId, status.sourceId));
  }
  pipeline.zremrangebyscore(keys.cameraIndex, '-inf', nowMs - FLEET_STATUS_TTL_MS);
  pipeline.pexpire(keys.cameraIndex, FLEET_STATUS_TTL_MS);
  throwFirstError(await pipeline.exec());
}

/** Every camera status written in the last day; records this version cannot read are named, not dropped silently. */
export async function readCameraStatuses(redis: Redis, fleetName: string, nowMs: number): Promise<{ statuses: CameraStatus[]; invalid: InvalidRecord[] }> {
  const keys = fleetKeys(fleetName);
  const members = await redis.zrangebyscore(keys.cameraIndex, nowMs - FLEET_STATUS_TTL_MS, '+inf', 'LIMIT', 0, MAX_FLEET_CAMERAS);
  const named = members.flatMap((member) => {
    const parsed = parseCameraIndexMember(member);
    return parsed === undefined ? [] : [{ member, key: keys.camera(parsed.nodeId, parsed.sourceId) }];
  });
  const statuses: CameraStatus[] = [];
  const invalid: InvalidRecord[] = [];
  if (named.length === 0) return { statuses, invalid };
  const pipeline = redis.pipeline();
  for (const { key } of named) pipeline.hgetall(key);
  const replies = throwFirstError(await pipeline.exec());
  const expired: string[] = [];
  replies.forEach(([, hash], index) => {
    const entry = named[index];
    if (entry === undefined) return;
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
}

export async function writeUploadFigures(redis: Redis, fleetName: string, figures: WorkerUploadFigures): Promise<void> {
  const keys = fleetKeys(fleetName);
  const key = keys.uploader(figures.workerId);
  throwFirstError(
    await redis
      .pipeline()
      .hset(key, serializeUploadFigures(figures))
      .pexpire(key, FLEET_STATUS_TTL_MS)
      .zadd(keys.uploaderIndex, figures.heartbeatMs, figures.workerId)
      .zremrangebyscore(keys.uploaderIndex, '-inf', figures.heartbeatMs - FLEET_STATUS_TTL_MS)
      .pexpire(keys.uploaderIndex, FLEET_STATUS_TTL_MS)
      .exec(),
  );
}

export async function readUploadFigures(redis: Redis, fleetName: string, nowMs: number): Promise<{ figures: WorkerUploadFigures[]; invalid: InvalidRecord[] }> {
  const keys = fleetKeys(fleetName);
  const members = await redis.zrangebyscore(keys.uploaderIndex, nowMs - FLEET_STATUS_TTL_MS, '+inf', 'LIMIT', 0, 1000);
  const figures: WorkerUploadFigures[] = [];
  const invalid: InvalidRecord[] = [];
  if (members.length === 0) return { figures, invalid };
  const pipeline = redis.pipeline();
  for (const member of members) pipeline.hgetall(keys.uploader(member));
  throwFirstError(await pipeline.exec()).forEach(([, hash], index) => {
    const fields = hash as Record<string, string>;
    if (Object.keys(fields).length === 0) return;
    const parsed = parseUploadFigures(fields);
    if (parsed.ok) figures.push(parsed.figures);
    else invalid.push({ key: keys.uploader(members[index] ?? ''), problems: parsed.problems });
  });
  return { figures, invalid };
}

/** True for the first caller only, per event id, for a day: several workers, one alert. */
export async function claimFleetAlert(redis: Redis, fleetName: string, eventId: string): Promise<boolean> {
  return (await redis.set(fleetKeys(fleetName).alert(eventId), '1', 'PX', FLEET_STATUS_TTL_MS, 'NX')) === 'OK';
}

type PipelineReplies = [error: Error | null, result: unknown][] | null;

function throwFirstError(replies: PipelineReplies): [Error | null, unknown][] {
  const list = replies ?? [];
  const failed = list.find(([error]) => error !== null);
  if (failed?.[0] !== null && failed?.[0] !== undefined) throw failed[0];
  return list;
}
