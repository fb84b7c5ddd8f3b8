import type { Redis } from 'ioredis';
import {
  claimFleetAlert,
  readCameraStatuses,
  readUploadFigures,
  writeUploadFigures,
  type CameraStatus,
  type InvalidRecord,
  type WorkerUploadFigures,
} from '@crispy-streamer/shared/fleet';

export type { InvalidRecord } from '@crispy-streamer/shared/fleet';

/** The fleet's part of Redis as the worker uses it (records and keys: shared/src/fleet/). */
export interface FleetStore {
  readCameras(nowMs: number): Promise<{ statuses: CameraStatus[]; invalid: InvalidRecord[] }>;
  readUploaders(nowMs: number): Promise<{ figures: WorkerUploadFigures[]; invalid: InvalidRecord[] }>;
  writeUploader(figures: WorkerUploadFigures): Promise<void>;
  /** True for the first caller only (per event id, for a day). */
  claimAlert(eventId: string): Promise<boolean>;
}

/** Give it a connection that fails fast (createFleetRedisConnection). */
export function redisFleetStore(redis: Redis, fleetName: string): FleetStore {
  return {
    readCameras: (nowMs) => readCameraStatuses(redis, fleetName, nowMs),
    readUploaders: (nowMs) => readUploadFigures(redis, fleetName, nowMs),
    writeUploader: (figures) => writeUploadFigures(redis, fleetName, figures),
    claimAlert: (eventId) => claimFleetAlert(redis, fleetName, eventId),
  };
}
