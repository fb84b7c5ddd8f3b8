// The Redis keys of the fleet's status: the one place they are spelled. stream-handle writes a
// camera's hash, upload workers write their own figures; the fleet page and the coverage command
// read both. A fleet (FLEET_NAME, default `default`) is every node and worker sharing a Redis
// under that name, whatever queues they use (sites sharing one Redis each have their own queue).
//
//   crispy:fleet:FLEET:v1:cameras               ZSET  NODE/SOURCE -> last heartbeat (ms)
//   crispy:fleet:FLEET:v1:camera:NODE:SOURCE    HASH  one camera's status (camera-status.ts)
//   crispy:fleet:FLEET:v1:uploaders             ZSET  WORKER -> last heartbeat (ms)
//   crispy:fleet:FLEET:v1:uploader:WORKER       HASH  one worker's upload figures (upload-figures.ts)
//   crispy:fleet:FLEET:v1:alert:EVENT           STRING  a fleet alert already sent (SET NX: one sender)
//
// NODE and WORKER are URI-encoded (node ids come from host names or NODE_ID and may hold anything);
// SOURCE is a source id, which holds no '/' or ':'.

import { SOURCE_ID_PATTERN } from '../chunk.js';

/** Bumped when a record changes shape; keys carry it, so two versions never read each other's records. */
export const FLEET_KEYS_VERSION = 1;

/** How long a status survives without a heartbeat before Redis forgets it (a removed camera stays visible, stale, for a day). */
export const FLEET_STATUS_TTL_MS = 24 * 3600_000;

export interface FleetKeys {
  cameraIndex: string;
  camera(nodeId: string, sourceId: string): string;
  uploaderIndex: string;
  uploader(workerId: string): string;
  alert(eventId: string): string;
}

export const DEFAULT_FLEET_NAME = 'default';
export const FLEET_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function fleetKeys(fleetName: string): FleetKeys {
  if (!FLEET_NAME_PATTERN.test(fleetName)) throw new Error(`"${fleetName}" is not a fleet name: 1-64 letters, digits, '-' and '_'`);
  const base = `crispy:fleet:${fleetName}:v${FLEET_KEYS_VERSION}`;
  return {
    cameraIndex: `${base}:cameras`,
    camera: (nodeId, sourceId) => `${base}:camera:${encodeURIComponent(nodeId)}:${checkedSource(sourceId)}`,
    uploaderIndex: `${base}:uploaders`,
    uploader: (workerId) => `${base}:uploader:${encodeURIComponent(workerId)}`,
    alert: (eventId) => `${base}:alert:${encodeURIComponent(eventId)}`,
  };
}

/** A camera's member in the index: NODE/SOURCE. */
export function cameraIndexMember(nodeId: string, sourceId: string): string {
  return `${encodeURIComponent(nodeId)}/${checkedSource(sourceId)}`;
}

/** The node and source an index member names; undefined for anything this version did not write. */
export function parseCameraIndexMember(member: string): { nodeId: string; sourceId: string } | undefined {
  const slash = member.lastIndexOf('/');
  if (slash <= 0) return undefined;
  const sourceId = member.slice(slash + 1);
  if (!SOURCE_ID_PATTERN.test(sourceId)) return undefined;
  try {
    return { nodeId: decodeURIComponent(member.slice(0, slash)), sourceId };
  } catch {
    return undefined;
  }
}

function checkedSource(sourceId: string): string {
  if (!SOURCE_ID_PATTERN.test(sourceId)) throw new Error(`"${sourceId}" is not a source id`);
  return sourceId;
}
