/**
 * Minimal, dependency-free Matroska / WebM (EBML) reader: what shared/src/mp4-inspect.ts is for MP4.
 *
 * Chunks that MP4 cannot hold as the source had them (VP9 with alpha, FFV1, PCM or G.711 audio)
 * are written by ffmpeg's segment muxer as Matroska (`.mkv`) or WebM (`.webm`, Matroska's web
 * subset). This reads one whole chunk from memory and says what it holds, exactly: frame count,
 * duration, codec, size, alpha, and where each video frame (and its BlockAdditional, which carries
 * VP9's alpha plane) lies.
 *
 * It also answers "is this file finished?": ffmpeg writes the Segment with an unknown size and only
 * patches it (with the Cues, the SeekHead and the Duration) when the chunk's trailer is written. A
 * Segment of unknown size is a chunk still being written, or whose writer was killed.
 *
 * EBML (RFC 8794): every element is ID (a variable-length integer whose marker bit is part of the
 * ID, 1-4 bytes) + size (a variable-length integer, 1-8 bytes, marker removed; all ones = unknown)
 * + payload. Matroska (RFC 9559) gives the element IDs used below.
 */

export interface MatroskaInfo {
  /** `webm` when the DocType says so, else `mkv`. */
  container: 'webm' | 'mkv';
  docType: string;
  /** Media duration of the video track in ms (3 decimals max): its frames times their durations. */
  durationMs: number;
  /** Video frames (blocks of the video track, laces counted). */
  frameCount: number;
  /** frameCount / duration in seconds, rounded to 3 decimals (0 for an empty track). */
  frameRate: number;
  /** 'h264' | 'hevc' | 'vp8' | 'vp9' | 'av1' | 'ffv1' | 'mjpeg' ..., else the CodecID. */
  codec: string;
  /** The Matroska CodecID as stored (`V_VP9`, `V_MS/VFW/FOURCC`...). */
  codecId: string;
  width: number;
  height: number;
  hasAudio: boolean;
  /** The video track says it has an alpha channel (AlphaMode 1: VP9's BlockAdditional). */
  hasAlpha: boolean;
  keyframeCount: number;
  /** The Segment's Duration (Info), in ms: what ffprobe reports as the format duration. */
  movieDurationMs?: number;
}

/** A byte range of the file. */
export interface MatroskaByteRange {
  offset: number;
  size: number;
}

export interface MatroskaFrame extends MatroskaByteRange {
  /** Presentation time in ns (block timestamps are presentation times). */
  timeNs: number;
  keyframe: boolean;
  /** BlockAdditional payloads (BlockAddID 1 is VP9's alpha plane). */
  additions: (MatroskaByteRange & { id: number })[];
}

export interface MatroskaVideoTrack {
  trackNumber: number;
  codecId: string;
  /** CodecPrivate as stored (avcC, hvcC, av1C, FFV1's configuration, a BITMAPINFOHEADER...). */
  codecPrivate: Uint8Array | undefined;
  width: number;
  height: number;
  alphaMode: number;
  defaultDurationNs: number | undefined;
  /** Content encodings (compression, encryption) would make frames unreadable as they lie. */
  encoded: boolean;
}

export interface MatroskaLayout {
  info: MatroskaInfo;
  video: MatroskaVideoTrack;
  /** The video track's frames in file (decode) order. Laced blocks count their frames but are listed once. */
  frames: MatroskaFrame[];
  /** The EBML header and the Tracks element, header included, as stored. */
  ebmlHeader: MatroskaByteRange;
  tracks: MatroskaByteRange;
  timecodeScaleNs: number;
}

export type MatroskaIncompleteReason =
  | 'empty'
  | 'truncated' // an element runs past the end of the file
  | 'unknown-size' // the Segment or a Cluster has no size yet: still being written, or the writer died
  | 'no-tracks'
  | 'no-video-track'
  | 'no-frames'
  | 'malformed';

export class MatroskaIncompleteError extends Error {
  override readonly name = 'MatroskaIncompleteError';
  constructor(
    readonly reason: MatroskaIncompleteReason,
    message: string,
  ) {
    super(`incomplete Matroska (${reason}): ${message}`);
  }
}

export class NotMatroskaError extends Error {
  override readonly name = 'NotMatroskaError';
}

const ID = {
  EBML: 0x1a45dfa3,
  DocType: 0x4282,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimecodeScale: 0x2ad7b1,
  Duration: 0x4489,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  DefaultDuration: 0x23e383,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  AlphaMode: 0x53c0,
  ContentEncodings: 0x6d80,
  Cluster: 0x1f43b675,
  Timecode: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  BlockDuration: 0x9b,
  ReferenceBlock: 0xfb,
  BlockAdditions: 0x75a1,
  BlockMore: 0xa6,
  BlockAddID: 0xee,
  BlockAdditional: 0xa5,
} as const;

/** Four bytes every EBML file starts with (the EBML header's ID). */
export const EBML_MAGIC = Uint8Array.of(0x1a, 0x45, 0xdf, 0xa3);

/** Whether these first bytes open an EBML (Matroska / WebM) file. */
export function looksLikeMatroska(head: Uint8Array): boolean {
  return head.byteLength >= 4 && EBML_MAGIC.every((byte, i) => head[i] === byte);
}

const CODEC_BY_ID: Readonly<Record<string, string>> = {
  'V_MPEG4/ISO/AVC': 'h264',
  'V_MPEGH/ISO/HEVC': 'hevc',
  V_VP8: 'vp8',
  V_VP9: 'vp9',
  V_AV1: 'av1',
  V_FFV1: 'ffv1',
  V_MJPEG: 'mjpeg',
  V_PRORES: 'prores',
  V_UNCOMPRESSED: 'rawvideo',
  'V_MPEG4/ISO/ASP': 'mpeg4',
  V_MPEG2: 'mpeg2video',
};

interface Element {
  id: number;
  /** Offset of the element's first byte (its ID). */
  start: number;
  /** Offset of the payload. */
  payload: number;
  /** One past the payload's last byte; for an unknown size, the end of the parent. */
  end: number;
  unknownSize: boolean;
}

/** Reads a variable-length integer at `at`: its value (marker kept for IDs) and length. */
function readVint(bytes: Uint8Array, at: number, end: number, keepMarker: boolean): { value: number; length: number; allOnes: boolean } {
  if (at >= end) throw new MatroskaIncompleteError('truncated', `an element header at ${at} runs past ${end}`);
  const first = bytes[at] ?? 0;
  if (first === 0) throw new MatroskaIncompleteError('malformed', `invalid variable-length integer at ${at}`);
  let length = 1;
  while ((first & (0x80 >> (length - 1))) === 0) length++;
  if (at + length > end) throw new MatroskaIncompleteError('truncated', `a ${length}-byte integer at ${at} runs past ${end}`);
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const byte = bytes[at + i] ?? 0;
    value = value * 256 + byte;
    if (byte !== 0xff) allOnes = false;
  }
  return { value, length, allOnes };
}

function readElement(bytes: Uint8Array, at: number, parentEnd: number): Element {
  const id = readVint(bytes, at, parentEnd, true);
  if (id.length > 4) throw new MatroskaIncompleteError('malformed', `an element ID of ${id.length} bytes at ${at}`);
  const size = readVint(bytes, at + id.length, parentEnd, false);
  const payload = at + id.length + size.length;
  if (size.allOnes) return { id: id.value, start: at, payload, end: parentEnd, unknownSize: true };
  if (!Number.isSafeInteger(size.value)) throw new MatroskaIncompleteError('malformed', `element at ${at} has an impossible size`);
  return { id: id.value, start: at, payload, end: payload + size.value, unknownSize: false };
}

/** The children of a master element; each must end inside it. */
function children(bytes: Uint8Array, start: number, end: number, what: string): Element[] {
  const out: Element[] = [];
  for (let at = start; at < end;) {
    const element = readElement(bytes, at, end);
    if (element.unknownSize) throw new MatroskaIncompleteError('unknown-size', `an element of unknown size inside ${what}`);
    if (element.end > end) throw new MatroskaIncompleteError('malformed', `element 0x${element.id.toString(16)} at ${at} runs past the end of ${what}`);
    out.push(element);
    at = element.end;
  }
  return out;
}

function uint(bytes: Uint8Array, element: Element): number {
  const length = element.end - element.payload;
  if (length > 7) throw new MatroskaIncompleteError('malformed', `an unsigned integer of ${length} bytes at ${element.payload}`);
  let value = 0;
  for (let i = element.payload; i < element.end; i++) value = value * 256 + (bytes[i] ?? 0);
  return value;
}

function float(bytes: Uint8Array, element: Element): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + element.payload, element.end - element.payload);
  if (view.byteLength === 4) return view.getFloat32(0);
  if (view.byteLength === 8) return view.getFloat64(0);
  if (view.byteLength === 0) return 0;
  throw new MatroskaIncompleteError('malformed', `a float of ${view.byteLength} bytes at ${element.payload}`);
}

function text(bytes: Uint8Array, element: Element): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(element.payload, element.end)).replace(/\0+$/, '');
}

function find(elements: readonly Element[], id: number): Element | undefined {
  return elements.find((e) => e.id === id);
}

interface TrackEntry {
  number: number;
  type: number;
  codecId: string;
  codecPrivate: Uint8Array | undefined;
  defaultDurationNs: number | undefined;
  width: number;
  height: number;
  alphaMode: number;
  encoded: boolean;
}

function parseTrackEntry(bytes: Uint8Array, entry: Element): TrackEntry {
  const fields = children(bytes, entry.payload, entry.end, 'TrackEntry');
  const get = (id: number) => find(fields, id);
  const numberElement = get(ID.TrackNumber);
  const typeElement = get(ID.TrackType);
  if (numberElement === undefined || typeElement === undefined) throw new MatroskaIncompleteError('malformed', 'a TrackEntry without TrackNumber or TrackType');
  const codecElement = get(ID.CodecID);
  const privateElement = get(ID.CodecPrivate);
  const durationElement = get(ID.DefaultDuration);
  const videoElement = get(ID.Video);
  const video = videoElement === undefined ? [] : children(bytes, videoElement.payload, videoElement.end, 'Video');
  const videoField = (id: number) => {
    const element = find(video, id);
    return element === undefined ? 0 : uint(bytes, element);
  };
  return {
    number: uint(bytes, numberElement),
    type: uint(bytes, typeElement),
    codecId: codecElement === undefined ? '' : text(bytes, codecElement),
    codecPrivate: privateElement === undefined ? undefined : bytes.slice(privateElement.payload, privateElement.end),
    defaultDurationNs: durationElement === undefined ? undefined : uint(bytes, durationElement),
    width: videoField(ID.PixelWidth),
    height: videoField(ID.PixelHeight),
    alphaMode: videoField(ID.AlphaMode),
    encoded: get(ID.ContentEncodings) !== undefined,
  };
}

/** A VfW-wrapped video track's codec, from its BITMAPINFOHEADER's biCompression fourcc. */
function vfwCodec(codecPrivate: Uint8Array | undefined): string {
  if (codecPrivate === undefined || codecPrivate.byteLength < 20) return 'V_MS/VFW/FOURCC';
  const fourcc = String.fromCharCode(...codecPrivate.subarray(16, 20));
  return /^[ -~]{4}$/.test(fourcc) ? fourcc.trim().toLowerCase() : 'V_MS/VFW/FOURCC';
}

interface BlockHeader {
  track: number;
  relativeTime: number;
  flags: number;
  /** Where the frame data starts. */
  data: number;
  frames: number;
}

function parseBlockHeader(bytes: Uint8Array, block: Element): BlockHeader {
  const track = readVint(bytes, block.payload, block.end, false);
  const at = block.payload + track.length;
  if (at + 3 > block.end) throw new MatroskaIncompleteError('malformed', `a block at ${block.payload} is too short for its header`);
  const relativeTime = (((bytes[at] ?? 0) << 24) >> 16) | (bytes[at + 1] ?? 0);
  const flags = bytes[at + 2] ?? 0;
  const lacing = (flags >> 1) & 0x03;
  let frames = 1;
  if (lacing !== 0) {
    if (at + 4 > block.end) throw new MatroskaIncompleteError('malformed', `a laced block at ${block.payload} has no lace count`);
    frames = (bytes[at + 3] ?? 0) + 1;
  }
  return { track: track.value, relativeTime, flags, data: at + 3, frames };
}

function parseAdditions(bytes: Uint8Array, additions: Element): MatroskaFrame['additions'] {
  const out: MatroskaFrame['additions'] = [];
  for (const more of children(bytes, additions.payload, additions.end, 'BlockAdditions')) {
    if (more.id !== ID.BlockMore) continue;
    const fields = children(bytes, more.payload, more.end, 'BlockMore');
    const idElement = find(fields, ID.BlockAddID);
    const data = find(fields, ID.BlockAdditional);
    if (data !== undefined) out.push({ id: idElement === undefined ? 1 : uint(bytes, idElement), offset: data.payload, size: data.end - data.payload });
  }
  return out;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * The video track's media duration in ns. With a DefaultDuration that the frames' (millisecond)
 * timestamps agree with, it is the frame count times it: exact for constant frame rates, whatever
 * the timestamps' rounding. Otherwise, the span of the timestamps plus the last frame's duration
 * (its BlockDuration, else the DefaultDuration, else the Segment's end, else the median interval).
 */
export function matroskaVideoDurationNs(
  times: readonly number[],
  defaultDurationNs: number | undefined,
  lastBlockDurationNs: number | undefined,
  segmentEndNs: number | undefined,
  timecodeScaleNs: number,
): number {
  if (times.length === 0) return 0;
  const sorted = [...times].sort((a, b) => a - b);
  const first = sorted[0] ?? 0;
  const last = sorted[sorted.length - 1] ?? 0;
  const span = last - first;
  if (defaultDurationNs !== undefined && defaultDurationNs > 0 && Math.abs(span - (sorted.length - 1) * defaultDurationNs) <= timecodeScaleNs) {
    return sorted.length * defaultDurationNs;
  }
  let lastDuration = lastBlockDurationNs ?? defaultDurationNs;
  if (lastDuration === undefined && segmentEndNs !== undefined && segmentEndNs > last) lastDuration = segmentEndNs - last;
  if (lastDuration === undefined) {
    const intervals = sorted
      .slice(1)
      .map((t, i) => t - (sorted[i] ?? 0))
      .sort((a, b) => a - b);
    lastDuration = intervals[Math.floor(intervals.length / 2)] ?? 0;
  }
  return span + lastDuration;
}

/**
 * Reads a whole Matroska / WebM file from memory. Throws NotMatroskaError when the bytes are not
 * EBML, MatroskaIncompleteError when the file is unfinished (a Segment or Cluster of unknown size,
 * an element running past the end) or inconsistent, and names what is missing.
 */
export function readMatroskaLayout(bytes: Uint8Array): MatroskaLayout {
  if (bytes.byteLength === 0) throw new MatroskaIncompleteError('empty', 'file is empty');
  if (!looksLikeMatroska(bytes.subarray(0, 4))) {
    if (bytes.byteLength < 4 && EBML_MAGIC.subarray(0, bytes.byteLength).every((byte, i) => bytes[i] === byte)) {
      throw new MatroskaIncompleteError('truncated', `only ${bytes.byteLength} bytes`);
    }
    throw new NotMatroskaError(`not Matroska: the file does not start with an EBML header (${Buffer.from(bytes.subarray(0, 4)).toString('hex')})`);
  }
  const size = bytes.byteLength;
  const header = readElement(bytes, 0, size);
  if (header.unknownSize || header.end > size) throw new MatroskaIncompleteError('truncated', 'the EBML header runs past the end of the file');
  const docTypeElement = find(children(bytes, header.payload, header.end, 'the EBML header'), ID.DocType);
  const docType = docTypeElement === undefined ? 'matroska' : text(bytes, docTypeElement);
  if (docType !== 'matroska' && docType !== 'webm') throw new NotMatroskaError(`not Matroska: DocType ${JSON.stringify(docType)}`);

  if (header.end >= size) throw new MatroskaIncompleteError('truncated', 'no Segment after the EBML header');
  const segment = readElement(bytes, header.end, size);
  if (segment.id !== ID.Segment)
    throw new MatroskaIncompleteError('malformed', `the element after the EBML header is 0x${segment.id.toString(16)}, not a Segment`);
  if (segment.unknownSize) throw new MatroskaIncompleteError('unknown-size', 'the Segment has no size: still being written, or the writer did not finish');
  if (segment.end > size) throw new MatroskaIncompleteError('truncated', `the Segment needs ${segment.end} bytes, the file has ${size}`);
  if (segment.end < size) throw new MatroskaIncompleteError('malformed', `${size - segment.end} bytes follow the Segment`);

  let timecodeScaleNs = 1_000_000;
  let segmentDuration: number | undefined;
  let tracksElement: Element | undefined;
  const clusters: Element[] = [];
  for (let at = segment.payload; at < segment.end;) {
    const element = readElement(bytes, at, segment.end);
    if (element.unknownSize)
      throw new MatroskaIncompleteError('unknown-size', `a level-1 element (0x${element.id.toString(16)}) at ${at} has no size: still being written`);
    if (element.end > segment.end) throw new MatroskaIncompleteError('truncated', `element 0x${element.id.toString(16)} at ${at} runs past the Segment's end`);
    if (element.id === ID.Info) {
      const fields = children(bytes, element.payload, element.end, 'Info');
      const scale = find(fields, ID.TimecodeScale);
      if (scale !== undefined) timecodeScaleNs = uint(bytes, scale);
      const duration = find(fields, ID.Duration);
      if (duration !== undefined) segmentDuration = float(bytes, duration);
    } else if (element.id === ID.Tracks) {
      if (tracksElement !== undefined) throw new MatroskaIncompleteError('malformed', 'two Tracks elements');
      tracksElement = element;
    } else if (element.id === ID.Cluster) clusters.push(element);
    at = element.end;
  }
  if (timecodeScaleNs <= 0) throw new MatroskaIncompleteError('malformed', 'TimecodeScale is 0');
  if (tracksElement === undefined) throw new MatroskaIncompleteError('no-tracks', 'no Tracks element');
  const entries = children(bytes, tracksElement.payload, tracksElement.end, 'Tracks')
    .filter((e) => e.id === ID.TrackEntry)
    .map((e) => parseTrackEntry(bytes, e));
  const videoEntry = entries.find((t) => t.type === 1);
  if (videoEntry === undefined) {
    throw new MatroskaIncompleteError('no-video-track', `no video track (track types: ${entries.map((t) => t.type).join(', ') || 'none'})`);
  }

  const frames: MatroskaFrame[] = [];
  const times: number[] = [];
  let frameCount = 0;
  let keyframeCount = 0;
  let lastBlockDurationNs: number | undefined;
  let latestTime = -Infinity;
  for (const cluster of clusters) {
    const parts = children(bytes, cluster.payload, cluster.end, 'a Cluster');
    const timecode = find(parts, ID.Timecode);
    if (timecode === undefined) throw new MatroskaIncompleteError('malformed', `the Cluster at ${cluster.payload} has no Timecode`);
    const clusterTime = uint(bytes, timecode);
    for (const part of parts) {
      let block: Element | undefined;
      let keyframe = false;
      let durationTicks: number | undefined;
      let additions: MatroskaFrame['additions'] = [];
      if (part.id === ID.SimpleBlock) {
        block = part;
      } else if (part.id === ID.BlockGroup) {
        const fields = children(bytes, part.payload, part.end, 'a BlockGroup');
        block = find(fields, ID.Block);
        // A Block without references is a keyframe (RFC 9559 §10.2).
        keyframe = find(fields, ID.ReferenceBlock) === undefined;
        const duration = find(fields, ID.BlockDuration);
        if (duration !== undefined) durationTicks = uint(bytes, duration);
        const more = find(fields, ID.BlockAdditions);
        if (more !== undefined) additions = parseAdditions(bytes, more);
      }
      if (block === undefined) continue;
      const blockHeader = parseBlockHeader(bytes, block);
      if (blockHeader.track !== videoEntry.number) continue;
      if (part.id === ID.SimpleBlock) keyframe = (blockHeader.flags & 0x80) !== 0;
      const timeNs = (clusterTime + blockHeader.relativeTime) * timecodeScaleNs;
      frames.push({ offset: blockHeader.data, size: block.end - blockHeader.data, timeNs, keyframe, additions });
      for (let i = 0; i < blockHeader.frames; i++) times.push(timeNs);
      frameCount += blockHeader.frames;
      if (keyframe) keyframeCount++;
      if (timeNs >= latestTime) {
        latestTime = timeNs;
        lastBlockDurationNs = durationTicks === undefined ? undefined : durationTicks * timecodeScaleNs;
      }
    }
  }
  if (frameCount === 0) throw new MatroskaIncompleteError('no-frames', 'the video track has no frames');

  const segmentEndNs = segmentDuration === undefined ? undefined : segmentDuration * timecodeScaleNs;
  const durationNs = matroskaVideoDurationNs(times, videoEntry.defaultDurationNs, lastBlockDurationNs, segmentEndNs, timecodeScaleNs);
  const codecId = videoEntry.codecId;
  const info: MatroskaInfo = {
    container: docType === 'webm' ? 'webm' : 'mkv',
    docType,
    durationMs: round3(durationNs / 1e6),
    frameCount,
    frameRate: durationNs === 0 ? 0 : round3((frameCount * 1e9) / durationNs),
    codec: CODEC_BY_ID[codecId] ?? (codecId === 'V_MS/VFW/FOURCC' ? vfwCodec(videoEntry.codecPrivate) : codecId),
    codecId,
    width: videoEntry.width,
    height: videoEntry.height,
    hasAudio: entries.some((t) => t.type === 2),
    hasAlpha: videoEntry.alphaMode === 1,
    keyframeCount,
  };
  if (segmentEndNs !== undefined) info.movieDurationMs = round3(segmentEndNs / 1e6);
  return {
    info,
    video: {
      trackNumber: videoEntry.number,
      codecId,
      codecPrivate: videoEntry.codecPrivate,
      width: videoEntry.width,
      height: videoEntry.height,
      alphaMode: videoEntry.alphaMode,
      defaultDurationNs: videoEntry.defaultDurationNs,
      encoded: videoEntry.encoded,
    },
    frames,
    ebmlHeader: { offset: 0, size: header.end },
    tracks: { offset: tracksElement.start, size: tracksElement.end - tracksElement.start },
    timecodeScaleNs,
  };
}

/** What a whole Matroska / WebM chunk holds. */
export function inspectMatroskaBuffer(bytes: Uint8Array): MatroskaInfo {
  return readMatroskaLayout(bytes).info;
}
