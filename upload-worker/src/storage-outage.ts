// A storage outage is not a problem with one chunk: every upload would fail the same way. Rather
// than spend each job's retries (and scramble their order with per-job backoff), the worker pauses
// the whole queue and tries again later; the backlog waits in the spool, oldest first.

const OUTAGE_HTTP_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const OUTAGE_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** Marks the upload timeout, which says nothing about the chunk either. */
export class UploadTimeoutError extends Error {
  override name = 'UploadTimeoutError';
}

function fieldsOf(error: unknown): { code?: unknown; status?: unknown; response?: { status?: unknown }; cause?: unknown; message?: unknown } {
  return typeof error === 'object' && error !== null ? (error as Record<string, never>) : {};
}

/** True when the error says storage is unreachable, overloaded or failing, not that the chunk is bad. */
export function isStorageUnavailable(error: unknown, depth = 0): boolean {
  if (error instanceof UploadTimeoutError) return true;
  const { code, status, response, cause, message } = fieldsOf(error);
  for (const candidate of [code, status, response?.status]) {
    if (typeof candidate === 'number' && OUTAGE_HTTP_STATUSES.has(candidate)) return true;
    if (typeof candidate === 'string' && OUTAGE_ERROR_CODES.has(candidate)) return true;
  }
  if (typeof message === 'string' && /socket hang up|fetch failed|network timeout|ECONNREFUSED|ECONNRESET/i.test(message)) return true;
  return depth < 3 && cause !== undefined && isStorageUnavailable(cause, depth + 1);
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
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.failures - 1, 20));
    return { delayMs: Math.round(base * (0.8 + 0.4 * this.random())), started: this.failures === 1 };
  }

  /** An upload succeeded: the outage is over. Returns how many failures it lasted. */
  recovered(): number {
    const failures = this.failures;
    this.failures = 0;
    return failures;
  }
}
