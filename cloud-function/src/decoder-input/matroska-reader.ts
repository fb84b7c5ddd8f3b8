import {
  MatroskaIncompleteError,
  NotMatroskaError,
  looksLikeMatroska,
  readMatroskaLayout,
  type MatroskaIncompleteReason,
  type MatroskaLayout,
  type RangeReader,
} from '@crispy-streamer/shared';
import { MalformedBitstreamError, h264ChromaFormatIdc, parseAvcC, parseHvcC, toAnnexB } from './annex-b.js';
import { UnreadableChunkError, type ContainerReader, type DecoderInput } from './decoder-input.js';
import { MAX_KEYFRAME_BYTES } from './mp4-reader.js';
import { matroskaWithOneKeyframe } from './matroska-keyframe.js';

/**
 * Matroska and WebM chunks are read whole, in one request: their frames are indexed nowhere but in
 * the Clusters themselves, and the exact duration (every frame's time) needs them all. Chunks
 * larger than this are not ours (3 s of 1080p FFV1 is ~110 MB).
 */
export const MAX_MATROSKA_CHUNK_BYTES = 256 * 1024 * 1024;

const UNFINISHED: ReadonlySet<MatroskaIncompleteReason> = new Set(['empty', 'truncated', 'unknown-size']);

/** Decoders that read the alpha plane (BlockAdditional 1); ffmpeg's own VP8/VP9 decoders ignore it. */
const ALPHA_DECODERS: Record<string, string | undefined> = { V_VP9: 'libvpx-vp9', V_VP8: 'libvpx' };

function firstKeyframe(layout: MatroskaLayout): MatroskaLayout['frames'][number] {
  const frame = layout.frames.find((f) => f.keyframe);
  if (frame === undefined) throw new UnreadableChunkError('malformed', 'the video track has no keyframe');
  if (frame.size > MAX_KEYFRAME_BYTES)
    throw new UnreadableChunkError('unsupported', `the first keyframe is ${frame.size} bytes, more than ${MAX_KEYFRAME_BYTES}`);
  return frame;
}

function decoderInput(layout: MatroskaLayout, bytes: Uint8Array): DecoderInput {
  const { video } = layout;
  if (video.encoded) throw new UnreadableChunkError('unsupported', 'the video track uses Matroska content encoding (compression or encryption)');
  const frame = firstKeyframe(layout);
  const data = bytes.subarray(frame.offset, frame.offset + frame.size);
  // H.264 and H.265 as raw streams, like MP4's: the decoder path every codec of ours was measured on.
  if ((video.codecId === 'V_MPEG4/ISO/AVC' || video.codecId === 'V_MPEGH/ISO/HEVC') && video.codecPrivate !== undefined) {
    const h264 = video.codecId === 'V_MPEG4/ISO/AVC';
    const parameterSets = (h264 ? parseAvcC : parseHvcC)(video.codecPrivate);
    const input: DecoderInput = { format: h264 ? 'h264' : 'hevc', bytes: toAnnexB(parameterSets, data) };
    const sps = parameterSets.nalUnits.find((unit) => ((unit[0] ?? 0) & 0x1f) === 7);
    if (h264 && sps !== undefined && h264ChromaFormatIdc(sps) === 0) input.monochrome = true;
    return input;
  }
  const alpha = video.alphaMode === 1 ? frame.additions.find((addition) => addition.id === 1) : undefined;
  const track = {
    codecId: video.codecId,
    width: video.width,
    height: video.height,
    ...(video.codecPrivate === undefined ? {} : { codecPrivate: video.codecPrivate }),
    ...(alpha === undefined ? {} : { alphaMode: 1 }),
  };
  const additions = alpha === undefined ? [] : [{ id: 1, bytes: bytes.subarray(alpha.offset, alpha.offset + alpha.size) }];
  const decoder = alpha === undefined ? undefined : ALPHA_DECODERS[video.codecId];
  return { format: 'matroska', bytes: matroskaWithOneKeyframe(track, data, additions), ...(decoder === undefined ? {} : { decoder }) };
}

/** Matroska (`.mkv`) and WebM (`.webm`) chunks: FFV1, VP9 with alpha, PCM/G.711 audio beside any video. */
export const matroskaReader: ContainerReader = {
  container: 'mkv',
  recognises: looksLikeMatroska,
  async read(read: RangeReader, size: number) {
    if (size > MAX_MATROSKA_CHUNK_BYTES)
      throw new UnreadableChunkError('unsupported', `a Matroska chunk of ${size} bytes is larger than ${MAX_MATROSKA_CHUNK_BYTES}, which is read whole`);
    const bytes = await read(0, size);
    if (bytes.byteLength !== size) throw new UnreadableChunkError('incomplete', `read ${bytes.byteLength} of the object's ${size} bytes`);
    let layout: MatroskaLayout;
    try {
      layout = readMatroskaLayout(bytes);
    } catch (error) {
      if (error instanceof NotMatroskaError) throw new UnreadableChunkError('not-a-video-container', error.message);
      if (error instanceof MatroskaIncompleteError)
        throw new UnreadableChunkError(
          UNFINISHED.has(error.reason) ? 'incomplete' : error.reason === 'no-video-track' ? 'unsupported' : 'malformed',
          error.message,
        );
      throw error;
    }
    try {
      return { container: layout.info.container, info: layout.info, input: decoderInput(layout, bytes) };
    } catch (error) {
      if (error instanceof MalformedBitstreamError) throw new UnreadableChunkError('malformed', error.message);
      throw error;
    }
  },
};
