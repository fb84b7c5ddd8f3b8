import { Mp4IncompleteError, NotMp4Error, readMp4Layout, type Mp4IncompleteReason, type Mp4Layout, type RangeReader } from '@crispy-streamer/shared';
import { MalformedBitstreamError, parseAvcC, parseHvcC, toAnnexB, type ParameterSets } from './annex-b.js';
import { UnreadableChunkError, type ContainerReader, type ElementaryStreamFormat } from './decoder-input.js';

/** ISO BMFF box types that may open a file (the inspector's own list is stricter about order). */
const OPENING_BOXES = new Set(['ftyp', 'styp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pdin']);

/** Reasons that mean the file was cut short or never finished, rather than inconsistent. */
const UNFINISHED: ReadonlySet<Mp4IncompleteReason> = new Set(['empty', 'truncated', 'short-read', 'no-moov']);

/** A keyframe larger than this is not a chunk of ours (a 4K intra frame is a few MB). */
export const MAX_KEYFRAME_BYTES = 32 * 1024 * 1024;

const PARAMETER_SETS: Record<string, { format: ElementaryStreamFormat; parse: (config: Uint8Array) => ParameterSets } | undefined> = {
  avcC: { format: 'h264', parse: parseAvcC },
  hvcC: { format: 'hevc', parse: parseHvcC },
};

function elementaryStream(layout: Mp4Layout): { format: ElementaryStreamFormat; parameterSets: ParameterSets } {
  const config = layout.codecConfig;
  const codec = config === undefined ? undefined : PARAMETER_SETS[config.type];
  if (config === undefined || codec === undefined) {
    throw new UnreadableChunkError('unsupported', `the video track is ${layout.info.codec} ('${layout.sampleEntry}' sample entry${config ? ` with ${config.type}` : ''}): only H.264 and H.265 are decoded`);
  }
  return { format: codec.format, parameterSets: codec.parse(config.bytes) };
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
      const { format, parameterSets } = elementaryStream(layout);
      const sample = await read(keyframe.offset, keyframe.size);
      if (sample.byteLength !== keyframe.size) {
        throw new UnreadableChunkError('incomplete', `read ${sample.byteLength} of the keyframe's ${keyframe.size} bytes at ${keyframe.offset}`);
      }
      return { container: 'mp4', info: layout.info, input: { format, bytes: toAnnexB(parameterSets, sample) } };
    } catch (error) {
      if (error instanceof MalformedBitstreamError) throw new UnreadableChunkError('malformed', error.message);
      throw error;
    }
  },
};
