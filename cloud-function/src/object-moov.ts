import { inspectMp4, type Mp4Info, type RangeReader } from '@crispy-streamer/shared';
import { FrameReadError } from './frame-probe.js';

/** Reads byte ranges of an object through its signed URL. */
export function httpRangeReader(url: string, timeoutMs: number): RangeReader {
  return async (offset, length) => {
    if (length <= 0) return new Uint8Array(0);
    const response = await fetch(url, {
      headers: { range: `bytes=${offset}-${offset + length - 1}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status !== 206 && response.status !== 200) {
      throw new FrameReadError(`reading bytes ${offset}-${offset + length - 1} answered HTTP ${response.status}`, response.status);
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    // A server that ignores Range sends the whole object: take the part we asked for.
    return response.status === 200 ? bytes.subarray(offset, offset + length) : bytes;
  };
}

/**
 * The stored object's own account of its video track, from its moov box alone: a couple of
 * small range reads, never the media data.
 */
export async function probeStoredMp4(url: string, size: number, timeoutMs: number): Promise<Mp4Info> {
  return inspectMp4(httpRangeReader(url, timeoutMs), size);
}
