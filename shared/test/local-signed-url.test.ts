import { describe, expect, it } from 'vitest';
import { MAX_SIGNED_URL_SECONDS, checkLocalSignature, localObjectPath, signLocalObjectUrl } from '../src/local-signed-url.js';

const SECRET = 'a-long-shared-secret-0123456789';
const NOW_MS = 1_700_000_000_000;
const OBJECT = 'cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4';

function sign(objectName = OBJECT, bucket = 'bucket', expiresInSeconds = 3600): URL {
  return new URL(signLocalObjectUrl({ baseUrl: 'http://127.0.0.1:3000/', secret: SECRET, bucket, objectName, expiresInSeconds, nowMs: NOW_MS }));
}

function check(overrides: Partial<Parameters<typeof checkLocalSignature>[0]> = {}, url = sign()) {
  return checkLocalSignature({
    secret: SECRET,
    bucket: 'bucket',
    objectName: OBJECT,
    expires: url.searchParams.get('expires') ?? undefined,
    signature: url.searchParams.get('signature') ?? undefined,
    nowMs: NOW_MS,
    ...overrides,
  });
}

describe('local signed URLs', () => {
  it('points at the object path under the base URL with expiry and a hex HMAC', () => {
    const url = sign();
    expect(url.origin).toBe('http://127.0.0.1:3000');
    expect(url.pathname).toBe(`/buckets/bucket/objects/${OBJECT}`);
    expect(url.searchParams.get('expires')).toBe(String(NOW_MS / 1000 + 3600));
    expect(url.searchParams.get('signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('encodes each part of the object name but keeps its slashes', () => {
    expect(localObjectPath('my bucket', 'a b/c?d#e.mp4')).toBe('/buckets/my%20bucket/objects/a%20b/c%3Fd%23e.mp4');
  });

  it('a freshly signed URL checks as valid, up to and including its expiry second', () => {
    expect(check()).toBe('valid');
    expect(check({ nowMs: (NOW_MS / 1000 + 3600) * 1000 })).toBe('valid');
  });

  it('is expired after its expiry time', () => {
    expect(check({ nowMs: (NOW_MS / 1000 + 3600) * 1000 + 1 })).toBe('expired');
  });

  it('is invalid for another object name, bucket, expiry or secret', () => {
    expect(check({ objectName: 'cam0/other.mp4' })).toBe('invalid');
    expect(check({ bucket: 'other-bucket' })).toBe('invalid');
    expect(check({ expires: String(NOW_MS / 1000 + 7200) })).toBe('invalid');
    expect(check({ secret: 'another-secret-of-some-length' })).toBe('invalid');
  });

  it('is invalid, not expired, when a tampered URL is also past its expiry', () => {
    expect(check({ objectName: 'cam0/other.mp4', nowMs: NOW_MS + 10 * 3600 * 1000 })).toBe('invalid');
  });

  it('is invalid for a signature that is not 64 lower-case hex digits, or missing', () => {
    const good = sign().searchParams.get('signature') ?? '';
    expect(check({ signature: 'zz'.repeat(32) })).toBe('invalid');
    expect(check({ signature: good.slice(0, 62) })).toBe('invalid');
    expect(check({ signature: good.toUpperCase() })).toBe('invalid');
    expect(check({ signature: undefined })).toBe('invalid');
  });

  it('is invalid for an expiry that is not a whole number', () => {
    expect(check({ expires: undefined })).toBe('invalid');
    expect(check({ expires: 'soon' })).toBe('invalid');
    expect(check({ expires: '1700003600.5' })).toBe('invalid');
  });

  it('allows at most 7 days, like Cloud Storage V4 signed URLs', () => {
    expect(MAX_SIGNED_URL_SECONDS).toBe(604800);
  });
});
