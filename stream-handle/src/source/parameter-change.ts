import {
  inBandSps,
  parseConfigurationRecord,
  readMatroskaLayout,
  readMp4LayoutBuffer,
  sameSequence,
  sequenceParameters,
  type ChunkContainer,
  type ParameterSetCodec,
} from '@crispy-streamer/shared';

// Whether a chunk's frames are what its header says. A camera that changes resolution (or any
// codec parameter) while ffmpeg stays connected sends a new SPS in front of a keyframe; ffmpeg,
// copying, writes the frames on under the header it opened with. The same happens in a file whose
// resolution changes. Found here, by comparing each keyframe's in-band SPS with the header's.

export interface ParameterChange {
  /** Where the first frame of the new parameters is, in seconds from the chunk's first frame (0: the whole chunk). */
  atSeconds: number;
  /** Which keyframe of the chunk (0-based) brings them. */
  keyframe: number;
}

interface Keyframe {
  bytes: Uint8Array;
  seconds: number;
}

interface HeaderAndKeyframes {
  codec: ParameterSetCodec;
  lengthSize: 1 | 2 | 4;
  headerSps: Uint8Array[];
  keyframes: Keyframe[];
}

async function readKeyframes(bytes: Uint8Array, container: ChunkContainer): Promise<HeaderAndKeyframes | undefined> {
  if (container === 'mp4') {
    const layout = await readMp4LayoutBuffer(bytes, { allSyncSamples: true });
    const config = layout.codecConfig;
    const codec = config?.type === 'avcC' ? 'h264' : config?.type === 'hvcC' ? 'hevc' : undefined;
    if (config === undefined || codec === undefined) return undefined;
    const record = parseConfigurationRecord(codec, config.bytes);
    const samples = layout.syncSamples ?? [];
    const first = samples[0]?.presentationSeconds ?? 0;
    return {
      codec,
      lengthSize: record.lengthSize,
      headerSps: record.sps,
      keyframes: samples.map((s) => ({ bytes: bytes.subarray(s.offset, s.offset + s.size), seconds: s.presentationSeconds - first })),
    };
  }
  const layout = readMatroskaLayout(bytes);
  const codec = layout.video.codecId === 'V_MPEG4/ISO/AVC' ? 'h264' : layout.video.codecId === 'V_MPEGH/ISO/HEVC' ? 'hevc' : undefined;
  if (codec === undefined || layout.video.codecPrivate === undefined) return undefined;
  const record = parseConfigurationRecord(codec, layout.video.codecPrivate);
  const keyframes = layout.frames.filter((f) => f.keyframe);
  const first = Math.min(...layout.frames.map((f) => f.timeNs));
  return {
    codec,
    lengthSize: record.lengthSize,
    headerSps: record.sps,
    keyframes: keyframes.map((f) => ({ bytes: bytes.subarray(f.offset, f.offset + f.size), seconds: (f.timeNs - first) / 1e9 })),
  };
}

/**
 * The first keyframe whose in-band SPS describes other pictures (size, profile, chroma format,
 * bit depth) than the one before it (the header's, for the first keyframe), or undefined when
 * every frame is what the header says. Only H.264 and H.265
 * carry their parameters this way; other codecs are taken as their header says.
 */
export async function findParameterChange(bytes: Uint8Array, container: ChunkContainer): Promise<ParameterChange | undefined> {
  const read = await readKeyframes(bytes, container);
  if (read === undefined || read.headerSps.length === 0) return undefined;
  let current = read.headerSps[0] as Uint8Array;
  for (const [index, keyframe] of read.keyframes.entries()) {
    const sps = inBandSps(read.codec, keyframe.bytes, read.lengthSize)[0];
    if (sps === undefined) continue;
    if (!sameSequence(read.codec, sps, current)) return { atSeconds: index === 0 ? 0 : keyframe.seconds, keyframe: index };
    current = sps;
  }
  return undefined;
}

/**
 * The pixel format the chunk's own header says, where ffmpeg's report says otherwise: its H.264
 * decoder reports a 4:0:0 (grey) stream as yuv420p. Other reports are kept as they are.
 */
export async function pixelFormatOfHeader(bytes: Uint8Array, container: ChunkContainer, reported: string): Promise<string> {
  if (!reported.startsWith('yuv')) return reported;
  const read = await readKeyframes(bytes, container).catch(() => undefined);
  const sps = read?.headerSps[0];
  if (read === undefined || sps === undefined) return reported;
  const parameters = sequenceParameters(read.codec, sps);
  if (parameters?.chromaFormat !== 0) return reported;
  return parameters.bitDepth > 8 ? `gray${parameters.bitDepth}le` : 'gray';
}
