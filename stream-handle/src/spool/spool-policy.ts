import type { SpoolUsage } from './spool-usage.js';

/** What the decision needs of a measurement. */
export type SpoolSpace = Pick<SpoolUsage, 'bytes' | 'freeBytes'>;

/**
 * What to do when the spool fills up (the uplink is down longer than the disk can hold):
 * - `stop-recording`: stop recording new chunks until uploads make room; nothing recorded is
 *   ever deleted, and the gap is logged with its length. The default: recorded evidence is kept.
 * - `drop-oldest`: keep recording and delete the oldest chunks not yet uploaded; each one is
 *   logged, counted and written to SPOOL/dropped.jsonl.
 */
export type SpoolFullPolicy = 'stop-recording' | 'drop-oldest';

export interface SpoolLimits {
  /** 0: no byte quota. */
  maxBytes: number;
  minFreeBytes: number;
  policy: SpoolFullPolicy;
}

/** The limits as configured: the free-space floor may be left to fit the file system. */
export type ConfiguredSpoolLimits = Omit<SpoolLimits, 'minFreeBytes'> & { minFreeBytes: number | undefined };

/** The default free-space floor: 256 MiB, or a tenth of a smaller spool file system. */
export const DEFAULT_MIN_FREE_BYTES = 256 * 1024 * 1024;
const DEFAULT_MIN_FREE_SHARE = 0.1;

/**
 * The limits for a spool file system of `totalBytes`. A floor the file system cannot satisfy even
 * empty would pause recording for ever: refused with the numbers, as is a quota it cannot hold.
 */
export function resolveSpoolLimits(
  configured: ConfiguredSpoolLimits,
  totalBytes: number,
): { limits: SpoolLimits; problems: { setting: string; message: string }[] } {
  const problems: { setting: string; message: string }[] = [];
  const minFreeBytes = configured.minFreeBytes ?? Math.min(DEFAULT_MIN_FREE_BYTES, Math.floor(totalBytes * DEFAULT_MIN_FREE_SHARE));
  if (configured.minFreeBytes !== undefined && configured.minFreeBytes >= totalBytes * 0.9) {
    problems.push({
      setting: 'SPOOL_MIN_FREE_BYTES',
      message: `${configured.minFreeBytes} bytes must stay free, but the spool's file system holds ${totalBytes} bytes in all: recording would never start. Set it well below that (unset, it is ${Math.min(DEFAULT_MIN_FREE_BYTES, Math.floor(totalBytes * DEFAULT_MIN_FREE_SHARE))}), or give the spool a larger disk`,
    });
  }
  if (configured.maxBytes > 0 && configured.maxBytes > totalBytes - minFreeBytes) {
    problems.push({
      setting: 'SPOOL_MAX_BYTES',
      message: `a quota of ${configured.maxBytes} bytes does not fit the spool's file system (${totalBytes} bytes, ${minFreeBytes} of them kept free): set at most ${Math.max(0, totalBytes - minFreeBytes)}, or 0 for no quota`,
    });
  }
  return { limits: { ...configured, minFreeBytes }, problems };
}

export type SpoolAction = { kind: 'none' } | { kind: 'pause'; reason: string } | { kind: 'resume' } | { kind: 'drop'; bytesToFree: number; reason: string };

/** Recording resumes, or dropping stops, only once usage is back under this share of the limits. */
const LOW_WATER = 0.9;

export function spoolFullReason(usage: SpoolSpace, limits: SpoolLimits): string | undefined {
  if (limits.maxBytes > 0 && usage.bytes >= limits.maxBytes) return `spool holds ${usage.bytes} bytes, quota SPOOL_MAX_BYTES=${limits.maxBytes}`;
  if (usage.freeBytes < limits.minFreeBytes) return `${usage.freeBytes} bytes free on the spool disk, below SPOOL_MIN_FREE_BYTES=${limits.minFreeBytes}`;
  return undefined;
}

/**
 * How close the spool is to full by its limits, 0 (empty) to 1 (full: the policy acts), for the
 * alert at 80 %: the quota's share used, or the share of the disk used of what it may use before
 * free space falls to the floor, whichever is nearer.
 */
export function spoolUsageRatio(usage: SpoolSpace & { totalBytes: number }, limits: SpoolLimits): number {
  const ofQuota = limits.maxBytes > 0 ? usage.bytes / limits.maxBytes : 0;
  const usable = usage.totalBytes - limits.minFreeBytes;
  const ofDisk = usable > 0 ? (usage.totalBytes - usage.freeBytes) / usable : 1;
  return Math.max(0, Math.round(Math.max(ofQuota, ofDisk) * 1000) / 1000);
}

function belowLowWater(usage: SpoolSpace, limits: SpoolLimits): boolean {
  const underQuota = limits.maxBytes === 0 || usage.bytes < limits.maxBytes * LOW_WATER;
  const enoughFree = usage.freeBytes >= limits.minFreeBytes / LOW_WATER;
  return underQuota && enoughFree;
}

export function decideSpoolAction(usage: SpoolSpace, limits: SpoolLimits, recordingPaused: boolean): SpoolAction {
  const reason = spoolFullReason(usage, limits);
  if (limits.policy === 'stop-recording') {
    if (recordingPaused) return belowLowWater(usage, limits) ? { kind: 'resume' } : { kind: 'none' };
    return reason === undefined ? { kind: 'none' } : { kind: 'pause', reason };
  }
  if (reason === undefined) return { kind: 'none' };
  const overQuota = limits.maxBytes === 0 ? 0 : usage.bytes - limits.maxBytes * LOW_WATER;
  const underFree = limits.minFreeBytes / LOW_WATER - usage.freeBytes;
  return { kind: 'drop', bytesToFree: Math.ceil(Math.max(overQuota, underFree, 1)), reason };
}

/** The oldest chunks whose sizes add up to at least `bytesToFree`. */
export function chooseChunksToDrop<T extends { startTime: string; bytes: number }>(candidates: T[], bytesToFree: number): T[] {
  const oldestFirst = [...candidates].sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime));
  const chosen: T[] = [];
  let freed = 0;
  for (const candidate of oldestFirst) {
    if (freed >= bytesToFree) break;
    chosen.push(candidate);
    freed += candidate.bytes;
  }
  return chosen;
}
