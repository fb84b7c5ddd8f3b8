import { describe, expect, it } from 'vitest';
import { SESSION_MAX_AGE_MS, formatSessionRecord, memoryUploadSessions, parseSessionRecord, sessionRedisKey } from '../src/storage/upload-sessions.js';

const KEY = { bucket: 'evidence', object: 'site/cam0/2026-01-02/cam0_x_0000000001.mp4', size: 46_700_000, crc32c: 'AAAAAA==' };
const URI = 'https://storage.example/upload/storage/v1/b/evidence/o?uploadType=resumable&upload_id=abc';

describe('upload session records', () => {
  it('owns one key per object', () => {
    expect(sessionRedisKey(KEY)).toBe('crispy:upload-session:evidence/site/cam0/2026-01-02/cam0_x_0000000001.mp4');
  });

  it('round-trips a session for the same bytes', () => {
    const now = new Date('2026-01-02T03:04:05.000Z');
    const text = formatSessionRecord(KEY, URI, now);
    expect(JSON.parse(text)).toEqual({ v: 1, uri: URI, size: KEY.size, crc32c: KEY.crc32c, createdAt: '2026-01-02T03:04:05.000Z' });
    expect(parseSessionRecord(text, KEY, now.getTime())).toBe(URI);
  });

  it('refuses a session for other bytes, too old, of another version, or not a session at all', () => {
    const now = Date.parse('2026-01-02T03:04:05.000Z');
    const text = formatSessionRecord(KEY, URI, new Date(now));
    expect(parseSessionRecord(text, { ...KEY, size: KEY.size + 1 }, now)).toBeUndefined();
    expect(parseSessionRecord(text, { ...KEY, crc32c: 'BBBBBB==' }, now)).toBeUndefined();
    expect(parseSessionRecord(text, KEY, now + SESSION_MAX_AGE_MS + 1)).toBeUndefined();
    expect(parseSessionRecord(text.replace('"v":1', '"v":2'), KEY, now)).toBeUndefined();
    expect(parseSessionRecord(text.replace(URI, 'file:///etc/passwd'), KEY, now)).toBeUndefined();
    for (const junk of [null, undefined, '', 'not json', 'null', '[]', '{"v":1}']) expect(parseSessionRecord(junk, KEY, now)).toBeUndefined();
  });

  it('keeps sessions in memory for tests and a worker without Redis', async () => {
    const sessions = memoryUploadSessions();
    expect(await sessions.load(KEY)).toBeUndefined();
    await sessions.save(KEY, URI);
    expect(await sessions.load(KEY)).toBe(URI);
    expect(await sessions.load({ ...KEY, crc32c: 'other' })).toBeUndefined();
    await sessions.clear(KEY);
    expect(await sessions.load(KEY)).toBeUndefined();
  });
});
