import type { Redis } from 'ioredis';

// Where a resumable upload's session lives between attempts, so the next attempt (in this worker
// or another) continues from what the bucket holds instead of sending the chunk again from byte 0.
// This module owns the contract:
//
//   Redis key  crispy:upload-session:<bucket>/<object>      (expires after SESSION_MAX_AGE_MS)
//   value      {"v":1,"uri":...,"size":N,"crc32c":"...","createdAt":"ISO"}
//
// In Redis rather than in the spool: the worker alone reads and writes it (the spool's files
// belong to stream-handle, which scans and drops them), it expires by itself when a chunk leaves
// the spool some other way, and it stays out of the job data that Bull Board shows. The session
// URI is a bearer credential for that one upload: it is never logged. Losing it costs bytes, never
// a chunk: the next attempt starts a new session.

/** Cloud Storage keeps a resumable session for a week; stop using one a day before that. */
export const SESSION_MAX_AGE_MS = 6 * 24 * 3600_000;
const KEY_PREFIX = 'crispy:upload-session:';

export interface UploadSessionKey {
  bucket: string;
  object: string;
  /** The session is only good for exactly these bytes. */
  size: number;
  crc32c: string;
}

export interface UploadSessions {
  /** The session an earlier attempt started for these bytes, or undefined. Never throws. */
  load(key: UploadSessionKey): Promise<string | undefined>;
  save(key: UploadSessionKey, uri: string): Promise<void>;
  /** The upload finished, or its session can no longer finish it. */
  clear(key: UploadSessionKey): Promise<void>;
}

interface SessionRecord {
  v: 1;
  uri: string;
  size: number;
  crc32c: string;
  createdAt: string;
}

export function sessionRedisKey(key: Pick<UploadSessionKey, 'bucket' | 'object'>): string {
  return `${KEY_PREFIX}${key.bucket}/${key.object}`;
}

/** The stored session, if it is well-formed, for these very bytes, and young enough; else undefined. */
export function parseSessionRecord(text: string | null | undefined, key: UploadSessionKey, nowMs = Date.now()): string | undefined {
  if (typeof text !== 'string') return undefined;
  let record: Partial<SessionRecord>;
  try {
    record = JSON.parse(text) as Partial<SessionRecord>;
  } catch {
    return undefined;
  }
  if (record === null || typeof record !== 'object' || record.v !== 1) return undefined;
  if (typeof record.uri !== 'string' || !/^https?:\/\//.test(record.uri)) return undefined;
  if (record.size !== key.size || record.crc32c !== key.crc32c) return undefined;
  const created = Date.parse(String(record.createdAt));
  if (!Number.isFinite(created) || nowMs - created > SESSION_MAX_AGE_MS) return undefined;
  return record.uri;
}

export function formatSessionRecord(key: UploadSessionKey, uri: string, now = new Date()): string {
  const record: SessionRecord = { v: 1, uri, size: key.size, crc32c: key.crc32c, createdAt: now.toISOString() };
  return JSON.stringify(record);
}

/** Sessions in Redis. A Redis that does not answer within `timeoutMs` only costs the resume. */
export function redisUploadSessions(redis: Redis, options: { timeoutMs?: number; onError?: (error: unknown, action: string) => void } = {}): UploadSessions {
  const timeoutMs = options.timeoutMs ?? 2000;
  const bounded = async <T>(action: string, work: Promise<T>): Promise<T | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      options.onError?.(error, action);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    async load(key) {
      return parseSessionRecord(await bounded('load', redis.get(sessionRedisKey(key))), key);
    },
    async save(key, uri) {
      await bounded('save', redis.set(sessionRedisKey(key), formatSessionRecord(key, uri), 'PX', SESSION_MAX_AGE_MS));
    },
    async clear(key) {
      await bounded('clear', redis.del(sessionRedisKey(key)));
    },
  };
}

/** Sessions kept in this process only (tests, and a worker without Redis for them). */
export function memoryUploadSessions(): UploadSessions & { readonly records: Map<string, string> } {
  const records = new Map<string, string>();
  return {
    records,
    async load(key) {
      return parseSessionRecord(records.get(sessionRedisKey(key)), key);
    },
    async save(key, uri) {
      records.set(sessionRedisKey(key), formatSessionRecord(key, uri));
    },
    async clear(key) {
      records.delete(sessionRedisKey(key));
    },
  };
}
