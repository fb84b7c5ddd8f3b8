import { createHmac, timingSafeEqual } from 'node:crypto';

// The local bucket's answer to a V4 signed URL: an HTTP URL on the upload-worker that expires and
// carries an HMAC-SHA256 of what it grants, keyed by a secret the worker and the function share.

export const MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600;

function signature(secret: string, bucket: string, objectName: string, expiresEpochSeconds: number): string {
  return createHmac('sha256', secret).update(`GET\n${bucket}\n${objectName}\n${expiresEpochSeconds}`).digest('hex');
}

export function localObjectPath(bucket: string, objectName: string): string {
  return `/buckets/${encodeURIComponent(bucket)}/objects/${objectName.split('/').map(encodeURIComponent).join('/')}`;
}

export function signLocalObjectUrl(options: {
  baseUrl: string;
  secret: string;
  bucket: string;
  objectName: string;
  expiresInSeconds: number;
  nowMs?: number;
}): string {
  const expires = Math.floor((options.nowMs ?? Date.now()) / 1000) + options.expiresInSeconds;
  const sig = signature(options.secret, options.bucket, options.objectName, expires);
  return `${options.baseUrl.replace(/\/+$/, '')}${localObjectPath(options.bucket, options.objectName)}?expires=${expires}&signature=${sig}`;
}

export type LocalSignatureCheck = 'valid' | 'expired' | 'invalid';

export function checkLocalSignature(options: {
  secret: string;
  bucket: string;
  objectName: string;
  expires: string | undefined;
  signature: string | undefined;
  nowMs?: number;
}): LocalSignatureCheck {
  const expires = Number(options.expires);
  if (!Number.isInteger(expires) || options.signature === undefined || !/^[0-9a-f]{64}$/.test(options.signature)) return 'invalid';
  const expected = Buffer.from(signature(options.secret, options.bucket, options.objectName, expires), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(options.signature, 'hex'))) return 'invalid';
  return expires * 1000 < (options.nowMs ?? Date.now()) ? 'expired' : 'valid';
}
