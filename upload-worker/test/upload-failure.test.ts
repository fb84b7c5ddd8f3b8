import { describe, expect, it } from 'vitest';
import { UploadStalledError } from '../src/progress-watchdog.js';
import { GCS_RETRY_OPTIONS } from '../src/storage/gcs-store.js';
import { CorruptedUploadError, ObjectConflictError } from '../src/storage/object-store.js';
import { ChunkCorruptError, SpoolFileMissingError } from '../src/upload-chunk.js';
import { OutageBackoff, classifyUploadFailure, httpStatusOf, type UploadFailureKind } from '../src/upload-failure.js';

/** An error as Node's sockets make them: a message and a code. */
function systemError(code: string, message = `connect ${code} 127.0.0.1:9`): Error {
  return Object.assign(new Error(message), { code, errno: -1, syscall: 'connect' });
}

const cases: [string, unknown, UploadFailureKind][] = [
  // Our own errors.
  ['an attempt that made no progress', new UploadStalledError('no progress for 60000 ms'), 'storage-unavailable'],
  ['a corrupted upload', new CorruptedUploadError('a.mp4', 412, 'crc32c validation failed'), 'corrupted-upload'],
  ['a spool file the worker cannot see', new SpoolFileMissingError('/spool/a.mp4'), 'permanent'],
  ['a spool file unlike its record', new ChunkCorruptError('/spool/a.mp4', 'crc32c x, recorded y'), 'permanent'],
  ['other bytes under the name', new ObjectConflictError('a.mp4', 'stored crc32c x'), 'permanent'],

  // Every network error the same way: the connection, not the chunk.
  ['ECONNRESET (reset by the peer)', systemError('ECONNRESET', 'read ECONNRESET'), 'storage-unavailable'],
  ['ECONNABORTED (aborted by this machine)', systemError('ECONNABORTED', 'socket ECONNABORTED'), 'storage-unavailable'],
  ['EPIPE (written after the peer closed)', systemError('EPIPE', 'write EPIPE'), 'storage-unavailable'],
  ['ETIMEDOUT', systemError('ETIMEDOUT'), 'storage-unavailable'],
  ['ECONNREFUSED', systemError('ECONNREFUSED'), 'storage-unavailable'],
  ['ENOTFOUND (DNS)', systemError('ENOTFOUND', 'getaddrinfo ENOTFOUND storage.example'), 'storage-unavailable'],
  ['EAI_AGAIN (DNS, try again)', systemError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN storage.example'), 'storage-unavailable'],
  ['EHOSTUNREACH', systemError('EHOSTUNREACH'), 'storage-unavailable'],
  ['ENETUNREACH', systemError('ENETUNREACH'), 'storage-unavailable'],
  ['ENETDOWN', systemError('ENETDOWN'), 'storage-unavailable'],
  ['a premature close of a stream', systemError('ERR_STREAM_PREMATURE_CLOSE', 'Premature close'), 'storage-unavailable'],
  [
    'undici: the socket closed',
    Object.assign(new TypeError('fetch failed'), { cause: systemError('UND_ERR_SOCKET', 'other side closed') }),
    'storage-unavailable',
  ],
  [
    'undici: connect timeout, in the cause',
    new Error('request failed', { cause: systemError('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error') }),
    'storage-unavailable',
  ],
  ['node: socket hang up', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'storage-unavailable'],
  [
    'gaxios/node-fetch: a system error in the message',
    Object.assign(new Error('request to http://127.0.0.1:9/upload failed, reason: connect ECONNREFUSED 127.0.0.1:9'), { type: 'system' }),
    'storage-unavailable',
  ],
  ['the storage client: a reason in errors[]', { message: 'Service Unavailable', errors: [{ reason: 'ECONNRESET' }] }, 'storage-unavailable'],
  ['the storage client: unexpected connection closure', new Error('unexpected connection closure'), 'storage-unavailable'],
  ['a lower-case code', { code: 'econnreset', message: 'x' }, 'storage-unavailable'],

  // HTTP answers of a storage in trouble, in each place the status can hide.
  ['503 as .code (JSON API)', { code: 503, message: 'Service Unavailable' }, 'storage-unavailable'],
  ['429 as .code', { code: 429, message: 'rate limited' }, 'storage-unavailable'],
  ['500 as .status', { status: 500, message: 'backend error' }, 'storage-unavailable'],
  ['502 as .response.status (gaxios)', { message: 'Bad Gateway', response: { status: 502 } }, 'storage-unavailable'],
  ['408 request timeout', { code: 408, message: 'Request Timeout' }, 'storage-unavailable'],
  ['504 in a cause', new Error('upload failed', { cause: { code: 504 } }), 'storage-unavailable'],
  [
    'the storage client gave up retrying a 503',
    new Error('Retry limit exceeded - status: 503 - Fault injected during a resumable upload'),
    'storage-unavailable',
  ],
  [
    'the storage client gave up retrying a reset',
    new Error('Retry limit exceeded - request to http://x failed, reason: socket hang up - code: ECONNRESET'),
    'storage-unavailable',
  ],
  ['the storage client ran out of retry time on a 500', new Error('Retry total time limit exceeded - status: 500'), 'storage-unavailable'],
  [
    'the local bucket: the notification endpoint is down',
    new Error('notification for a.mp4 not accepted by http://127.0.0.1:1/: fetch failed'),
    'storage-unavailable',
  ],

  // Everything else spends an attempt.
  ['a resumable request answered 308 where it should have finished', Object.assign(new Error('Upload failed'), { code: 308 }), 'chunk-failure'],
  ['400 bad request (no checksum named: not a refusal)', { code: 400, message: 'Invalid upload type' }, 'chunk-failure'],
  ['403 forbidden', { code: 403, message: 'does not have storage.objects.create access' }, 'chunk-failure'],
  ['404 not found', { code: 404, message: 'No such object' }, 'chunk-failure'],
  ['412 that the store could not settle', { code: 412, message: 'At least one of the pre-conditions you specified did not hold.' }, 'chunk-failure'],
  ['the storage client: offset lower than bytes written', new RangeError('The offset is lower than the number of bytes written.'), 'chunk-failure'],
  ['a file system error, not the network', systemError('ENOENT', "ENOENT: no such file or directory, open '/spool/a.mp4'"), 'chunk-failure'],
  ['a retry-exhausted error with a client status', new Error('Retry limit exceeded - status: 404'), 'chunk-failure'],
  ['a plain error', new Error('something odd'), 'chunk-failure'],
  ['a thrown string', 'ECONNRESET', 'chunk-failure'],
  ['undefined', undefined, 'chunk-failure'],
];

describe('classifyUploadFailure', () => {
  it.each(cases)('%s -> %s', (_what, error, kind) => {
    expect(classifyUploadFailure(error)).toBe(kind);
  });

  it("is what the storage client retries on inside an attempt: the same 'storage unavailable' decision", () => {
    for (const [, error, kind] of cases) {
      if (kind === 'permanent' || kind === 'corrupted-upload' || error instanceof UploadStalledError) continue;
      expect(GCS_RETRY_OPTIONS.retryableErrorFn(error)).toBe(kind === 'storage-unavailable');
    }
  });
});

describe('httpStatusOf', () => {
  it('finds the status in .code, .status, .response.status, a cause, or a retry-exhausted message', () => {
    expect(httpStatusOf({ code: 412 })).toBe(412);
    expect(httpStatusOf({ code: 'ECONNRESET', response: { status: 503 } })).toBe(503);
    expect(httpStatusOf({ status: 410 })).toBe(410);
    expect(httpStatusOf(new Error('x', { cause: { code: 404 } }))).toBe(404);
    expect(httpStatusOf(new Error('Retry limit exceeded - status: 502'))).toBe(502);
    expect(httpStatusOf(new Error('the word status: 503 in any message'))).toBeUndefined();
    expect(httpStatusOf({ code: 7 })).toBeUndefined();
  });
});

describe('OutageBackoff', () => {
  it('doubles from min to max with jitter and resets on recovery', () => {
    const backoff = new OutageBackoff(1000, 8000, () => 0.5);
    expect([1, 2, 3, 4, 5].map(() => backoff.next())).toEqual([
      { delayMs: 1000, started: true },
      { delayMs: 2000, started: false },
      { delayMs: 4000, started: false },
      { delayMs: 8000, started: false },
      { delayMs: 8000, started: false },
    ]);
    expect(backoff.recovered()).toBe(5);
    expect(backoff.next()).toEqual({ delayMs: 1000, started: true });
  });
});
