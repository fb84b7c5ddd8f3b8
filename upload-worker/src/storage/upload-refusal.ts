import { httpStatusOf } from '../upload-failure.js';
import type { ObjectSource, StoredObjectSummary } from './object-store.js';

// When the bucket refuses an upload, what did it mean? Servers say it differently:
//   - a create-only precondition that failed: 412, at the start of a resumable session or (as
//     Google's testbench does) only when the upload finishes;
//   - bytes that do not match the CRC32C we declared: 400 "Provided CRC32C ... doesn't match
//     calculated CRC32C ..." from Cloud Storage, 412 "crc32c validation failed" from the testbench.
// Neither the status nor an error `reason` (often absent) settles it; what the bucket holds does. A
// 412 with no object under the name is a corrupted upload, never "already present".

export interface UploadRefusal {
  status: number;
  /** Every message the error carried, joined, for the log and the checksum test. */
  message: string;
}

export type RefusalOutcome =
  | { kind: 'already-present'; generation: string }
  | { kind: 'conflict'; detail: string }
  | { kind: 'corrupted-upload'; detail: string }
  | { kind: 'source-mismatch'; detail: string };

const CHECKSUM_WORDS = /crc32c|md5|checksum|hash/i;

function messagesOf(error: unknown, depth = 0): string[] {
  if (depth > 3 || typeof error !== 'object' || error === null) return typeof error === 'string' ? [error] : [];
  const { message, errors, response } = error as { message?: unknown; errors?: unknown; response?: { data?: unknown } };
  const found: string[] = typeof message === 'string' && message !== '' ? [message] : [];
  if (Array.isArray(errors)) for (const inner of errors) found.push(...messagesOf(inner, depth + 1));
  const data = response?.data as { error?: unknown } | string | undefined;
  if (typeof data === 'string') found.push(data);
  else if (data?.error !== undefined) found.push(...messagesOf(data.error, depth + 1));
  return [...new Set(found)];
}

/** The refusal this error is, if it is one: any 412, or a 400 that names a checksum. */
export function refusalOf(error: unknown): UploadRefusal | undefined {
  const status = httpStatusOf(error);
  if (status !== 412 && status !== 400) return undefined;
  const message = messagesOf(error).join('; ');
  if (status === 400 && !CHECKSUM_WORDS.test(message)) return undefined;
  return { status, message };
}

/**
 * Settles a refusal from what is stored under the name now (looked up after a 412; irrelevant
 * after a 400) and whether the file itself matched its record while it was read (`fileMismatch`,
 * undefined when it did or was not read to the end).
 */
export function settleRefusal(
  refusal: UploadRefusal,
  stored: StoredObjectSummary | undefined,
  expected: Pick<ObjectSource, 'size' | 'crc32c'>,
  fileMismatch: string | undefined,
): RefusalOutcome {
  if (refusal.status === 412 && stored !== undefined) {
    if (stored.crc32c === expected.crc32c && stored.size === expected.size) return { kind: 'already-present', generation: stored.generation };
    return { kind: 'conflict', detail: `stored crc32c ${stored.crc32c}, size ${stored.size}` };
  }
  if (fileMismatch !== undefined) return { kind: 'source-mismatch', detail: fileMismatch };
  const said = `HTTP ${refusal.status}: ${refusal.message || 'no message'}`;
  if (refusal.status === 412) return { kind: 'corrupted-upload', detail: `${said}; no object is stored under the name, so this is no create-only conflict` };
  return { kind: 'corrupted-upload', detail: said };
}
