import type { RangeReader } from '@crispy-streamer/shared';
import { errorMessage } from '@crispy-streamer/shared';

/**
 * Reading the stored object failed: `httpStatus` 404/410 mean it is gone; undefined means the
 * request never got an answer (network, timeout).
 */
export class ObjectReadError extends Error {
  override readonly name = 'ObjectReadError';
  constructor(
    message: string,
    readonly httpStatus: number | undefined,
  ) {
    super(message);
  }
}

/** Where a URL points, without its query (a signed URL's query is its credential). */
export function urlForLog(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

/**
 * Byte ranges of one object through its signed URL, with Node's fetch: any host name, TLS (with
 * the system's and NODE_EXTRA_CA_CERTS' roots) and redirects. Only the ranges asked for are read.
 */
export function httpRangeReader(url: string, timeoutMs: number): RangeReader {
  return async (offset, length) => {
    if (length <= 0) return new Uint8Array(0);
    const range = `bytes=${offset}-${offset + length - 1}`;
    let response: Response;
    try {
      response = await fetch(url, { headers: { range }, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ObjectReadError(`reading ${range} of ${urlForLog(url)} failed: ${cause?.code ?? cause?.message ?? errorMessage(error)}`, undefined);
    }
    if (response.status !== 206 && response.status !== 200) {
      await response.body?.cancel();
      throw new ObjectReadError(`reading ${range} of ${urlForLog(url)} answered HTTP ${response.status}`, response.status);
    }
    if (response.status === 206) {
      const stated = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
      if (stated === null || Number(stated[1]) !== offset) {
        await response.body?.cancel();
        throw new ObjectReadError(`reading ${range} of ${urlForLog(url)} answered Content-Range ${response.headers.get('content-range') ?? 'none'}`, 206);
      }
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    // A server that ignores Range sends the whole object: take the part we asked for.
    return response.status === 200 ? bytes.subarray(offset, offset + length) : bytes.subarray(0, length);
  };
}

/**
 * Remembers what was read, so a later range inside an earlier answer costs no request. The first
 * read (ftyp, free, the mdat header and the start of the media) takes 256 KiB, which holds the
 * first keyframe of our chunks (35-80 KiB at 720p-1080p, camera keyframes up to ~200 KiB): a
 * chunk then costs two requests (that, and the moov at the end), not three. Each miss reads at
 * least `readAheadBytes`, never past the end.
 */
export function cachingRangeReader(inner: RangeReader, size: number, readAheadBytes = 256 * 1024): RangeReader & { requests: () => number } {
  const windows: { offset: number; bytes: Uint8Array }[] = [];
  let requests = 0;
  const reader = async (offset: number, length: number): Promise<Uint8Array> => {
    for (const window of windows) {
      const at = offset - window.offset;
      if (at >= 0 && at + length <= window.bytes.byteLength) return window.bytes.subarray(at, at + length);
    }
    const want = Math.min(Math.max(length, readAheadBytes), size - offset);
    requests++;
    const bytes = await inner(offset, want);
    windows.push({ offset, bytes });
    return bytes.subarray(0, length);
  };
  return Object.assign(reader, { requests: () => requests });
}
