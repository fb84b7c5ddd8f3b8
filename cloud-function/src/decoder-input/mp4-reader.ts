import { Mp4IncompleteError, NotMp4Error, readMp4Layout, type Mp4IncompleteReason, type Mp4Layout, type RangeReader } from '@crispy-streamer/shared';
import { MalformedBitstreamError, h264ChromaFormatIdc, parseAvcC, parseHvcC, toAnnexB, type ParameterSets } from './annex-b.js';
import { UnreadableChunkError, type ContainerReader, type DecoderInput } from './decoder-input.js';
import { matroskaWithOneKeyframe } from './matroska-keyframe.js';

/** ISO BMFF box types that may open a file (the inspector's own list is stricter about order). */
const OPENING_BOXES = new Set(['ftyp', 'styp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pdin']);

/** Reasons that mean the file was cut short or never finished, rather than inconsistent. */
const UNFINISHED: ReadonlySet<Mp4IncompleteReason> = new Set(['empty', 'truncated', 'short-read', 'no-moov', 'no-mfra']);

/** A keyframe larger than this is not a chunk of ours (a 4K intra frame is a few MB). */
export const MAX_KEYFRAME_BYTES = 32 * 1024 * 1024;

const PARAMETER_SETS: Record<string, { format: 'h264' | 'hevc'; parse: (config: Uint8Array) => ParameterSets } | undefined> = {
  avcC: { format: 'h264', parse: parseAvcC },
  hvcC: { format: 'hevc', parse: parseHvcC },
};

/** Sample entries whose keyframe becomes a one-frame Matroska file: VP9 frames as they are, AV1 with its av1C as CodecPrivate. */
const MATROSKA_CODEC_IDS: Record<string, { codecId: string; privateFrom?: string } | undefined> = {
  vp09: { codecId: 'V_VP9' },
  av01: { codecId: 'V_AV1', privateFrom: 'av1C' },
};

/** Refuses, before anything more is read, a video track this reader cannot hand the decoder. */
function assertDecodable(layout: Mp4Layout): void {
  const config = layout.codecConfig;
  if (config !== undefined && PARAMETER_SETS[config.type] !== undefined) return;
  const wrapped = MATROSKA_CODEC_IDS[layout.sampleEntry];
  if (wrapped !== undefined && (wrapped.privateFrom === undefined || config?.type === wrapped.privateFrom)) return;
  throw new UnreadableChunkError(
    'unsupported',
    `the video track is ${layout.info.codec} ('${layout.sampleEntry}' sample entry${config ? ` with ${config.type}` : ''}): H.264, H.265, VP9 and AV1 are decoded from MP4`,
  );
}

/** The keyframe as the decoder's input: Annex B for H.264/H.265, a one-frame Matroska file for VP9 and AV1. */
function decoderInput(layout: Mp4Layout, sample: Uint8Array): DecoderInput {
  assertDecodable(layout);
  const config = layout.codecConfig;
  const annexB = config === undefined ? undefined : PARAMETER_SETS[config.type];
  if (config !== undefined && annexB !== undefined) {
    const parameterSets = annexB.parse(config.bytes);
    const input: DecoderInput = { format: annexB.format, bytes: toAnnexB(parameterSets, sample) };
    // ffmpeg's H.264 decoder shows a 4:0:0 stream as 4:2:0 with flat chroma; its SPS says grey.
    const sps = parameterSets.nalUnits.find((unit) => ((unit[0] ?? 0) & 0x1f) === 7);
    if (annexB.format === 'h264' && sps !== undefined && h264ChromaFormatIdc(sps) === 0) input.monochrome = true;
    return input;
  }
  const wrapped = MATROSKA_CODEC_IDS[layout.sampleEntry];
  const track = {
    codecId: wrapped?.codecId ?? '',
    width: layout.info.width,
    height: layout.info.height,
    ...(wrapped?.privateFrom === undefined || config === undefined ? {} : { codecPrivate: config.bytes }),
  };
  return { format: 'matroska', bytes: matroskaWithOneKeyframe(track, sample) };
}

/**
 * Our chunks: MP4 as ffmpeg's segment muxer writes them (ftyp, free, mdat, then moov). The moov is
 * read once, for the duration check and the sample tables together; then the first keyframe's
 * own byte range, and nothing else.
 */
export const mp4Reader: ContainerReader = {
  container: 'mp4',
  recognises(head) {
    if (head.byteLength < 8) return false;
    return OPENING_BOXES.has(String.fromCharCode(...head.subarray(4, 8)));
  },
  async read(read: RangeReader, size: number) {
    let layout: Mp4Layout;
    try {
      layout = await readMp4Layout(read, size);
    } catch (error) {
      if (error instanceof NotMp4Error) throw new UnreadableChunkError('not-a-video-container', error.message);
      if (error instanceof Mp4IncompleteError) throw new UnreadableChunkError(UNFINISHED.has(error.reason) ? 'incomplete' : 'malformed', error.message);
      // No video track, or fragmented: the inspector says so in plain words.
      if (error instanceof Error && /no video track|fragmented MP4/.test(error.message)) throw new UnreadableChunkError('unsupported', error.message);
      throw error;
    }
    const keyframe = layout.firstSyncSample;
    if (keyframe.size > MAX_KEYFRAME_BYTES) {
      throw new UnreadableChunkError('unsupported', `the first keyframe is ${keyframe.size} bytes, more than ${MAX_KEYFRAME_BYTES}`);
    }
    try {
      assertDecodable(layout);
      const sample = await read(keyframe.offset, keyframe.size);
      if (sample.byteLength !== keyframe.size) {
        throw new UnreadableChunkError('incomplete', `read ${sample.byteLength} of the keyframe's ${keyframe.size} bytes at ${keyframe.offset}`);
      }
      return { container: 'mp4', info: layout.info, input: decoderInput(layout, sample) };
    } catch (error) {
      if (error instanceof MalformedBitstreamError) throw new UnreadableChunkError('malformed', error.message);
      throw error;
    }
  },
};
