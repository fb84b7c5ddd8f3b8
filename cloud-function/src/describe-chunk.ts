import { fromObjectMetadata, type Logger, type Mp4Info, type StorageObjectResource } from '@crispy-streamer/shared';
import { FrameReadError, type FrameFacts } from './frame-probe.js';
import type { UrlSigner } from './url-signer.js';

export interface DescribeDeps {
  signUrl: UrlSigner;
  probeFrame: (url: string) => Promise<FrameFacts>;
  /** Reads the stored object's MP4 header (moov) through the URL. */
  probeMp4: (url: string, size: number) => Promise<Mp4Info>;
  signedUrlSeconds: number;
  durationToleranceMs: number;
  logger: Logger;
  now?: () => number;
}

/** The structured line logged for every chunk. */
export interface ChunkDescription {
  bucket: string;
  object: string;
  generation: string;
  source: string | undefined;
  sequence: number | undefined;
  startTime: string | undefined;
  width: number;
  height: number;
  channels: number;
  /** From the uploader's metadata. */
  durationMs: number | undefined;
  /** Measured on the stored object: its video track's frames and frame durations. */
  probedDurationMs: number;
  probedFrameCount: number;
  /** What ffmpeg reports for the container (includes edit delays; 10 ms resolution). */
  containerDurationMs: number | undefined;
  codec: string;
  durationCheck: 'match' | 'mismatch' | 'unchecked';
  bytes: number;
  signedUrl: string;
  signedUrlExpires: string;
  /** From the object's creation to this line. */
  sinceFinalizeMs: number | undefined;
  elapsedMs: number;
}

export type DescribeOutcome = { status: 'described'; description: ChunkDescription } | { status: 'gone'; reason: string };

/**
 * Describes one stored chunk: measures its first frame, cross-checks its duration and signs a
 * URL to it. Returns `gone` when the object no longer exists (deleted since the notification).
 */
export async function describeChunk(object: StorageObjectResource, deps: DescribeDeps): Promise<DescribeOutcome> {
  const now = deps.now ?? Date.now;
  const started = now();
  let chunk: ReturnType<typeof fromObjectMetadata> | undefined;
  try {
    chunk = fromObjectMetadata(object.metadata ?? {});
  } catch (error) {
    deps.logger.warn({ bucket: object.bucket, object: object.name, reason: (error as Error).message }, 'object has no chunk metadata: describing what the video itself says');
  }

  const signedUrl = await deps.signUrl(object.bucket, object.name, deps.signedUrlSeconds);
  let frame: FrameFacts;
  let mp4: Mp4Info;
  try {
    [frame, mp4] = await Promise.all([deps.probeFrame(signedUrl), deps.probeMp4(signedUrl, Number(object.size))]);
  } catch (error) {
    if (error instanceof FrameReadError && (error.httpStatus === 404 || error.httpStatus === 410)) {
      return { status: 'gone', reason: `object ${object.name} generation ${object.generation} no longer exists` };
    }
    throw error;
  }

  const durationMs = chunk?.durationMs;
  let durationCheck: ChunkDescription['durationCheck'] = 'unchecked';
  if (durationMs !== undefined) {
    durationCheck = Math.abs(durationMs - mp4.durationMs) <= deps.durationToleranceMs ? 'match' : 'mismatch';
  }
  const created = Date.parse(object.timeCreated);
  const finished = now();
  return {
    status: 'described',
    description: {
      bucket: object.bucket,
      object: object.name,
      generation: object.generation,
      source: chunk?.sourceId,
      sequence: chunk?.sequence,
      startTime: chunk?.startTime,
      width: frame.width,
      height: frame.height,
      channels: frame.channels,
      durationMs,
      probedDurationMs: mp4.durationMs,
      probedFrameCount: mp4.frameCount,
      containerDurationMs: frame.probedDurationMs,
      codec: mp4.codec,
      durationCheck,
      bytes: Number(object.size),
      signedUrl,
      signedUrlExpires: new Date(started + deps.signedUrlSeconds * 1000).toISOString(),
      sinceFinalizeMs: Number.isNaN(created) ? undefined : finished - created,
      elapsedMs: finished - started,
    },
  };
}
