import { backoffDelayMs, type BackoffPolicy } from '@crispy-streamer/shared';
import type { SourceFailure } from '../recorder/ffmpeg-log.js';

// When to try a camera again after its ffmpeg exited. A camera that went away is watched with a
// cheap connection attempt (a TCP connect to its RTSP port) at a short fixed interval, so that
// recording starts again within a fraction of a second of its return; after the first minute of
// an outage the attempts back off. A camera that answers but refuses (a password, a path, a
// transport) is retried with backoff: asking again at once would only be refused again.

export interface ReconnectPolicy {
  /** Between connection attempts while the camera does not answer, during the first `fastWindowMs`. */
  probeIntervalMs: number;
  fastWindowMs: number;
  /** Between attempts after the fast window, and before retrying a camera that refused. */
  backoff: BackoffPolicy;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = {
  probeIntervalMs: 250,
  fastWindowMs: 60_000,
  backoff: { minDelayMs: 1000, maxDelayMs: 30_000, jitter: 0.2 },
};

/** Failures that mean "the camera is not there", as opposed to "the camera said no". */
const GONE: ReadonlySet<SourceFailure['kind']> = new Set(['unreachable', 'timeout']);

export interface RunSummary {
  failure: SourceFailure;
  /** The run recorded at least one chunk, or lasted long enough to count as having worked. */
  worked: boolean;
  /** Runs in a row that neither recorded nor lasted, this one included (1 after a run that worked). */
  failuresInARow: number;
  /** How long since the camera was last recorded (or first tried). */
  outageMs: number;
}

/**
 * How long to wait before watching for the camera again. A stream that worked and ended is
 * watched for at once. A camera that did not answer is too, but a second attempt in a row that
 * finds it gone (it answered the watch, then not ffmpeg) waits the probe interval, then backoff
 * after the fast window, so the two never spin. A refusal waits its backoff.
 */
export function delayBeforeReconnectMs(run: RunSummary, policy: ReconnectPolicy, random?: () => number): number {
  if (run.worked || (run.failuresInARow <= 1 && GONE.has(run.failure.kind))) return 0;
  if (GONE.has(run.failure.kind) && run.outageMs < policy.fastWindowMs) return policy.probeIntervalMs;
  return backoffDelayMs(run.failuresInARow, policy.backoff, random);
}

/**
 * The pause before the next connection attempt while the camera does not answer, `outageMs` into
 * the outage, after `failedAttempts` attempts that failed since the fast window ended.
 */
export function probeDelayMs(outageMs: number, failedAttemptsAfterWindow: number, policy: ReconnectPolicy, random?: () => number): number {
  if (outageMs < policy.fastWindowMs) return policy.probeIntervalMs;
  return backoffDelayMs(Math.max(1, failedAttemptsAfterWindow), policy.backoff, random);
}
