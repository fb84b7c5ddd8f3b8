import { fromObjectMetadata, type Logger, type StorageObjectResource, errorMessage } from '@crispy-streamer/shared';
import type { ChunkReadout, DecoderInput } from './decoder-input/decoder-input.js';
import { judgeFailure } from './failures.js';
import type { FrameFacts } from './frame-probe.js';
import type { UrlSigner } from './url-signer.js';

export interface DescribeDeps {
  signUrl: UrlSigner;
  /** Reads the stored chunk through its signed URL: its container's account (moov) and its first keyframe. */
  readChunk: (url: string, size: number) => Promise<ChunkReadout>;
  /** Decodes the keyframe and measures the picture. */
  probeFrame: (input: DecoderInput) => Promise<FrameFacts>;
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
  /** The decoded frame's pixel format as the decoder names it (yuv420p, gray, yuva420p...). */
  pixelFormat: string | undefined;
  /** From the uploader's metadata. */
  durationMs: number | undefined;
  /** Measured on the stored object: its video track's frames and frame durations. */
  probedDurationMs: number;
  probedFrameCount: number;
  /** The container's presentation duration (MP4: the moov's mvhd, with edit delays; Matroska: the Segment's Duration), as ffprobe reports it. */
  containerDurationMs: number | undefined;
  codec: string;
  /** The container the stored object is (its own bytes say): mp4, webm or mkv. */
  container: string;
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
    deps.logger.warn(
      { bucket: object.bucket, object: object.name, reason: errorMessage(error) },
      'object has no chunk metadata: describing what the video itself says',
    );
  }

  const signedUrl = await deps.signUrl(object.bucket, object.name, deps.signedUrlSeconds);
  let frame: FrameFacts;
  let readout: ChunkReadout;
  try {
    readout = await deps.readChunk(signedUrl, Number(object.size));
    frame = await deps.probeFrame(readout.input);
  } catch (error) {
    if (judgeFailure(error).action === 'gone') {
      return { status: 'gone', reason: `object ${object.name} generation ${object.generation} no longer exists` };
    }
    throw error;
  }
  const info = readout.info;

  const durationMs = chunk?.durationMs;
  let durationCheck: ChunkDescription['durationCheck'] = 'unchecked';
  if (durationMs !== undefined) {
    durationCheck = Math.abs(durationMs - info.durationMs) <= deps.durationToleranceMs ? 'match' : 'mismatch';
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
      pixelFormat: frame.pixelFormat,
      durationMs,
      probedDurationMs: info.durationMs,
      probedFrameCount: info.frameCount,
      containerDurationMs: info.movieDurationMs,
      codec: info.codec,
      container: readout.container,
      durationCheck,
      bytes: Number(object.size),
      signedUrl,
      signedUrlExpires: new Date(started + deps.signedUrlSeconds * 1000).toISOString(),
      sinceFinalizeMs: Number.isNaN(created) ? undefined : finished - created,
      elapsedMs: finished - started,
    },
  };
}
