import { ChunkCorruptError, SpoolFileMissingError } from './upload-chunk.js';
import { CorruptedUploadError, ObjectConflictError } from './storage/object-store.js';
import { UploadStalledError } from './progress-watchdog.js';
import { backoffDelayMs } from '@crispy-streamer/shared';

// What a failed upload attempt means, decided in one place for every error any layer throws
// (our own, the storage client's, gaxios', Node's sockets):
//
//   storage-unavailable  storage is unreachable, overloaded or failing, or the connection dropped
//                        or stalled: every upload would fail the same way. The worker pauses the
//                        whole queue and runs the job again later without spending one of its
//                        attempts; inside an attempt, the storage client resumes on these too.
//   corrupted-upload     the bucket refused bytes that reached it damaged; a new upload can work:
//                        retried with backoff, spending an attempt.
//   permanent            retrying cannot help (file missing or not what was recorded, another
//                        object under the name): the job fails at once, the file stays in the spool.
//   chunk-failure        anything else: retried with backoff, spending an attempt.

export type UploadFailureKind = 'storage-unavailable' | 'corrupted-upload' | 'permanent' | 'chunk-failure';

/** HTTP answers that say storage itself is in trouble, not this chunk. */
export const STORAGE_UNAVAILABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Error codes of connections that failed, dropped or stalled, whoever noticed: Node's sockets and
 * DNS, undici (fetch), node-fetch and gaxios. ECONNABORTED is a connection this machine aborted
 * (a timeout of ours or the client's), no more the chunk's fault than a reset.
 */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNABORTED',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'ENOTCONN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_HTTP2_STREAM_ERROR',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

// Messages that carry no code: node's "socket hang up", undici's "fetch failed" and "other side
// closed", node-fetch's "network timeout", the storage client's "unexpected connection closure", and
// the storage client's retry-exhausted errors, which keep the last status or code only in the text.
const NETWORK_MESSAGE =
  /socket hang up|fetch failed|other side closed|network timeout|unexpected connection closure|premature close|socket connection timeout/i;
const CODE_IN_MESSAGE = /\b(E[A-Z]{3,}|UND_ERR_[A-Z_]+|ERR_[A-Z_]+)\b/g;
const RETRY_EXHAUSTED = /^Retry (?:total time )?limit exceeded\b/;
const STATUS_IN_MESSAGE = /\bstatus: (\d{3})\b/;

interface ErrorFields {
  code?: unknown;
  status?: unknown;
  response?: { status?: unknown };
  cause?: unknown;
  message?: unknown;
  errors?: unknown;
  reason?: unknown;
}

function fieldsOf(error: unknown): ErrorFields {
  return typeof error === 'object' && error !== null ? error : {};
}

/** True when the error says the connection failed, dropped or stalled, anywhere in its chain. */
export function isNetworkError(error: unknown, depth = 0): boolean {
  if (depth > 4) return false;
  const { code, cause, message, errors, reason } = fieldsOf(error);
  for (const candidate of [code, reason]) {
    if (typeof candidate === 'string' && NETWORK_ERROR_CODES.has(candidate.toUpperCase())) return true;
  }
  if (typeof message === 'string') {
    if (NETWORK_MESSAGE.test(message)) return true;
    // "request to http://... failed, reason: connect ECONNREFUSED 127.0.0.1:1" and the like.
    for (const [found] of message.matchAll(CODE_IN_MESSAGE)) if (NETWORK_ERROR_CODES.has(found)) return true;
  }
  if (Array.isArray(errors) && errors.some((inner) => isNetworkError(inner, depth + 1))) return true;
  return cause !== undefined && isNetworkError(cause, depth + 1);
}

/** The HTTP status an error carries: `.code` (JSON API calls), `.status`, `.response.status` (gaxios). */
export function httpStatusOf(error: unknown, depth = 0): number | undefined {
  if (depth > 4) return undefined;
  const { code, status, response, cause, message } = fieldsOf(error);
  for (const candidate of [code, status, response?.status]) {
    if (typeof candidate === 'number' && candidate >= 100 && candidate <= 599) return candidate;
  }
  if (typeof message === 'string' && RETRY_EXHAUSTED.test(message)) {
    const found = STATUS_IN_MESSAGE.exec(message);
    if (found !== null) return Number(found[1]);
  }
  return cause !== undefined ? httpStatusOf(cause, depth + 1) : undefined;
}

/** True when storage is unreachable or failing: the condition the storage client retries on, and the worker pauses for. */
export function isStorageUnavailable(error: unknown): boolean {
  if (error instanceof UploadStalledError) return true;
  const status = httpStatusOf(error);
  if (status !== undefined && STORAGE_UNAVAILABLE_STATUSES.has(status)) return true;
  return isNetworkError(error);
}

export function classifyUploadFailure(error: unknown): UploadFailureKind {
  if (error instanceof SpoolFileMissingError || error instanceof ChunkCorruptError || error instanceof ObjectConflictError) return 'permanent';
  if (error instanceof CorruptedUploadError) return 'corrupted-upload';
  if (isStorageUnavailable(error)) return 'storage-unavailable';
  return 'chunk-failure';
}

/** Pause lengths for consecutive outage failures: 1 s doubling to 30 s, with jitter. */
export class OutageBackoff {
  private failures = 0;

  constructor(
    private readonly minMs = 1000,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next pause; true in `started` the first time of an outage. */
  next(): { delayMs: number; started: boolean } {
    this.failures++;
    return {
      delayMs: backoffDelayMs(this.failures, { minDelayMs: this.minMs, maxDelayMs: this.maxMs, jitter: 0.2 }, this.random),
      started: this.failures === 1,
    };
  }

  /** An upload succeeded: the outage is over. Returns how many failures it lasted. */
  recovered(): number {
    const failures = this.failures;
    this.failures = 0;
    return failures;
  }
}
