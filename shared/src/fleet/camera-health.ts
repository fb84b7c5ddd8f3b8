import type { CameraStatus } from './camera-status.js';

// How an operator should read a camera's status right now: the fleet page colours rows by it and
// sorts worst first, the worker's stale-node alerts use it. One function, so they agree.

/**
 * - `down`: not recording (reconnecting, failed, paused by a full spool, or no chunk for too long).
 * - `stale`: its node has not written the status for longer than it promised: the node (or its
 *   link to Redis) is down, so nothing is known to be recorded.
 * - `warn`: recording, but something needs a look (backlog, spool nearly full, clock).
 * - `ok`: recording. `idle`: a file source done, or a service stopped on purpose.
 */
export type CameraHealth = 'down' | 'stale' | 'warn' | 'ok' | 'idle';

/** Worst first. */
export const HEALTH_RANK: Readonly<Record<CameraHealth, number>> = { down: 0, stale: 1, warn: 2, ok: 3, idle: 4 };

export interface CameraAssessment {
  health: CameraHealth;
  /** One line for the row: what is wrong, or "recording". */
  summary: string;
  /** Everything worth a look, worst first. */
  problems: string[];
}

/** A chunk waiting this long for the bucket is worth a warning (the alert rule says the same). */
export const OLDEST_WAITING_WARN_MS = 10 * 60_000;
export const SPOOL_USAGE_WARN_RATIO = 0.8;

/** A recording camera with no chunk for this long is not recording, whatever ffmpeg says. */
export function chunkOverdueAfterMs(chunkSeconds: number): number {
  // A copy-mode chunk can run to the next keyframe past its length; ffmpeg lists it a moment later.
  return Math.max(15_000, 3 * chunkSeconds * 1000 + 5000);
}

/** Its node has not written it for longer than it promised, and it did not end on purpose (a node stopped writes `stopped` last). */
export function isStale(status: CameraStatus, nowMs: number): boolean {
  return nowMs - status.heartbeatMs > status.staleAfterMs && status.state !== 'stopped' && status.state !== 'finished';
}

export function assessCamera(status: CameraStatus, nowMs: number): CameraAssessment {
  const problems: string[] = [];
  const since = (ms: number) => `${formatDuration(nowMs - ms)} ago`;
  let health = 'ok' as CameraHealth;
  const worsen = (to: CameraHealth) => {
    if (HEALTH_RANK[to] < HEALTH_RANK[health]) health = to;
  };

  if (isStale(status, nowMs)) {
    worsen('stale');
    problems.push(`node ${status.nodeId} silent: last status ${since(status.heartbeatMs)}, so recording is not known`);
  }
  const reason = status.reason === undefined ? '' : `: ${status.reason}`;
  switch (status.state) {
    case 'reconnecting':
      worsen('down');
      problems.push(`not recording since ${new Date(status.stateSinceMs).toISOString()} (${since(status.stateSinceMs)}), reconnecting${reason}`);
      break;
    case 'failed':
      worsen('down');
      problems.push(`failed${reason}`);
      break;
    case 'paused':
      worsen('down');
      problems.push(`paused since ${new Date(status.stateSinceMs).toISOString()}: the spool is full${reason}`);
      break;
    case 'starting':
      if (nowMs - status.stateSinceMs > chunkOverdueAfterMs(status.chunkSeconds)) {
        worsen('down');
        problems.push(`started ${since(status.stateSinceMs)} and no chunk yet`);
      } else {
        worsen('warn');
        problems.push('starting: waiting for its first chunk');
      }
      break;
    case 'recording': {
      const lastEndMs = status.lastChunk?.recordedAtMs ?? status.stateSinceMs;
      if (nowMs - lastEndMs > chunkOverdueAfterMs(status.chunkSeconds)) {
        worsen('down');
        problems.push(`no chunk for ${formatDuration(nowMs - lastEndMs)} although ffmpeg runs (a frozen camera?)`);
      }
      break;
    }
    case 'finished':
    case 'stopped':
      // Nothing to record: quieter than ok, unless something else is wrong.
      if (health === 'ok') health = 'idle';
      break;
  }
  const { spool } = status;
  if (spool.oldestWaitingEndMs !== undefined && nowMs - spool.oldestWaitingEndMs > OLDEST_WAITING_WARN_MS) {
    worsen('warn');
    problems.push(`${spool.waitingChunks} chunk(s) waiting for the bucket, the oldest for ${formatDuration(nowMs - spool.oldestWaitingEndMs)}`);
  }
  if (spool.usageRatio > SPOOL_USAGE_WARN_RATIO) {
    worsen('warn');
    problems.push(`spool ${Math.round(spool.usageRatio * 100)} % full`);
  }
  if (status.clockSync === 'unsynchronised') {
    worsen('warn');
    problems.push('host clock not NTP-synchronised: start times are only as good as this clock');
  }
  const quiet = health === 'idle' ? (status.state === 'finished' ? 'finished: every chunk recorded' : 'stopped') : 'recording';
  return { health, summary: problems[0] ?? quiet, problems };
}

/** 4 s, 3 min 20 s, 2 h 5 min, 3 d 4 h. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}
