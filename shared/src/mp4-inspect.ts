/**
 * Minimal, dependency-free MP4 (ISO BMFF, ISO/IEC 14496-12) inspector.
 *
 * Why this exists: the chunks we produce are MP4s written by ffmpeg's segment muxer: plain
 * (file sources) or fragmented with a producer reference time box before each fragment (live
 * cameras, so the camera's own clock travels with the footage; see docs/evidence.md). Spawning ffprobe costs ~100 ms per chunk, while everything we
 * need (duration, frame count, codec, size) sits in the `moov` box, which for a few
 * seconds of video is 1-5 KiB. So we walk the top-level box headers with small reads,
 * read only `moov`, and never touch `mdat` (beyond at most one read-ahead window).
 *
 * It also answers "is this file finished?": ffmpeg's mov muxer writes
 * `ftyp` + `free` + an `mdat` header with size 0 first, streams media into the mdat, and
 * only on a clean exit patches the mdat size and appends `moov`. A file that is still
 * being written (or whose writer was SIGKILLed) therefore has no moov, and a file that
 * was cut short has a last box that runs past the end of the file.
 *
 * Layout of the box header (14496-12 §4.2):
 *   uint32 size; uint32 type; [uint64 largesize if size == 1]; [16-byte usertype if 'uuid']
 *   size == 0 means "extends to the end of the enclosing container" (only valid for the last box).
 * A "full box" additionally starts its payload with uint8 version + uint24 flags.
 *
 * Fragmented files (moov holds mvex; ffmpeg's `empty_moov`): the sample tables in moov are empty
 * and each fragment is `prft`? `moof` `mdat`, the moof's track runs (trun) describing its samples.
 * ffmpeg writes the moov first, so a fragmented file still being written looks whole up to its
 * last complete fragment; it ends with an `mfra` box only when its writer finished it. A
 * fragmented file without mfra is therefore unfinished ('no-mfra').
 */
import { open } from 'node:fs/promises';

/** Reads `length` bytes at `offset`; may return fewer only at end of file. */
export type RangeReader = (offset: number, length: number) => Promise<Uint8Array>;

export interface Mp4Info {
  container: 'mp4';
  /** ftyp major brand, e.g. 'isom'. */
  brand: string;
  /** Media duration of the video track: sum of stts deltas / mdhd timescale, in ms (3 decimals max). */
  durationMs: number;
  /** Number of video samples (sum of stts sample counts). */
  frameCount: number;
  /** frameCount / duration in seconds, rounded to 3 decimals (0 for an empty track). */
  frameRate: number;
  /** 'h264' | 'hevc' | 'av1' | 'vp9' | 'mpeg4', else the sample entry fourcc. */
  codec: string;
  width: number;
  height: number;
  hasAudio: boolean;
  /** Video track mdhd timescale (ticks per second). */
  timescale: number;
  /** Sync samples, from stss; equals frameCount when stss is absent (every sample is sync). */
  keyframeCount?: number;
  /** True for a fragmented file (moov holds mvex; samples are described in moof boxes). */
  fragmented?: boolean;
  /** Fragmented: the video track's first sample's composition time (tfdt + cts, no edit list), in seconds of its timescale. */
  mediaStartSeconds?: number;
  /** Fragmented: every producer reference time box (prft), in file order, each with the fragment it precedes. */
  producerTimes?: Mp4ProducerTime[];
  /**
   * Presentation duration from mvhd, in ms (3 decimals max). This is what ffprobe reports as
   * the format duration. It includes edit-list shifts, so it can exceed durationMs: the first
   * chunk the segment muxer cuts from a stream with B-frames starts with an empty edit as long
   * as the B-frame delay (e.g. mvhd 4067 ms for 4000 ms of media at 30 fps with -bf 2).
   */
  movieDurationMs?: number;
}

/**
 * A producer reference time box (ISO/IEC 14496-12 §8.16.5): "the sample at media time
 * `mediaSeconds` of the reference track was produced at `wallclockMs`". ffmpeg's
 * `write_prft=wallclock` takes it from the RTSP camera's Sender Report mapping once one has
 * arrived, and from the host's clock when it writes the fragment before that.
 */
export interface Mp4ProducerTime {
  /** The NTP timestamp as Unix epoch milliseconds (microsecond precision). */
  wallclockMs: number;
  /** media_time in seconds of the reference track's timescale (tfdt units, no edit list). */
  mediaSeconds: number;
  /** The box's flags (ffmpeg writes 24: the time the sample was captured/written). */
  flags: number;
  /** Which fragment (0-based, in file order) the box precedes. */
  fragment: number;
}

/**
 * Machine-readable reasons for {@link Mp4IncompleteError}. The first group means "not
 * finished (yet)"; the second means the bytes are there but inconsistent (corrupt or hostile).
 */
export type Mp4IncompleteReason =
  | 'empty' // zero-length file
  | 'truncated' // a box (or box header) runs past the end of the file
  | 'short-read' // the reader returned fewer bytes than `size` promised
  | 'no-ftyp' // a valid top-level box, but not ftyp, comes first
  | 'no-moov' // nothing describes the samples: still being written, or the writer died
  | 'no-mfra' // fragmented, but without the closing mfra: still being written, or the writer died
  | 'no-mdat'
  | 'multiple-moov'
  | 'bad-box-size' // size field smaller than the header itself
  | 'box-overflows-parent' // nested box claims more bytes than its container has
  | 'moov-too-large' // above the configured cap; refuse to buffer it
  | 'missing-sample-table' // video trak without stts/stsd/stsz
  | 'sample-count-mismatch' // stts and stsz disagree on the number of samples
  | 'malformed'; // a field runs past its box, unknown version, zero timescale, ...

export class Mp4IncompleteError extends Error {
  override readonly name = 'Mp4IncompleteError';
  constructor(
    readonly reason: Mp4IncompleteReason,
    message: string,
  ) {
    super(`incomplete MP4 (${reason}): ${message}`);
  }
}

export class NotMp4Error extends Error {
  override readonly name = 'NotMp4Error';
}

export interface InspectMp4Options {
  /** Refuse (Mp4IncompleteError 'moov-too-large') to buffer a moov larger than this. Default 64 MiB. */
  maxMoovBytes?: number;
  /**
   * Minimum size of each read. A small chunk's moov is a few KiB, so one read at the moov
   * header usually brings the whole moov too: typically 2 reads per file, which matters when
   * each read is an HTTP range request. May pull up to this many bytes of a neighbouring box
   * (e.g. the start of mdat); 0 reads box headers only. Default 16 KiB.
   */
  readAheadBytes?: number;
  /** readMp4Layout: also locate every sync sample and its presentation time. */
  allSyncSamples?: boolean;
}

const DEFAULT_MAX_MOOV_BYTES = 64 * 1024 * 1024;
const DEFAULT_READ_AHEAD_BYTES = 16 * 1024;
/** An ftyp lists a few brands; anything near this is not one. */
const MAX_FTYP_BYTES = 4096;
/** Largest size field a box header can need: 8 bytes + 64-bit largesize. */
const MAX_HEADER_BYTES = 16;

/**
 * Box types that may legitimately open an ISO BMFF file. Anything else as the first box
 * (a text file, a PNG, a JPEG...) is not an MP4 at all rather than an unfinished one.
 */
const KNOWN_TOP_LEVEL_TYPES = new Set([
  'ftyp',
  'styp',
  'moov',
  'mdat',
  'free',
  'skip',
  'wide',
  'uuid',
  'pdin',
  'moof',
  'mfra',
  'meta',
  'sidx',
  'ssix',
  'prft',
  'emsg',
  'pnot',
]);

const CODEC_BY_FOURCC: Readonly<Record<string, string>> = {
  avc1: 'h264',
  avc3: 'h264',
  hvc1: 'hevc',
  hev1: 'hevc',
  av01: 'av1',
  vp09: 'vp9',
  mp4v: 'mpeg4',
};

// ---------------------------------------------------------------------------------------
// Box headers
// ---------------------------------------------------------------------------------------

interface BoxHeader {
  type: string;
  /** Offset of the box's first byte, in the coordinates of the view it was parsed from. */
  start: number;
  /** Offset of the payload (after size/type/largesize). */
  payload: number;
  /** Offset one past the last byte. May exceed the container: callers decide what that means. */
  end: number;
}

function fourcc(view: DataView, at: number): string {
  return String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
}

/**
 * Parses the box header at `at`. `containerEnd` resolves size 0 ("to the end"). The caller
 * must guarantee 8 readable bytes, and 16 when the 32-bit size is 1 (see headerLength).
 */
function parseBoxHeader(view: DataView, at: number, containerEnd: number): BoxHeader {
  const size32 = view.getUint32(at);
  const type = fourcc(view, at + 4);
  if (size32 === 0) return { type, start: at, payload: at + 8, end: containerEnd };
  if (size32 === 1) {
    const large = view.getBigUint64(at + 8);
    // Beyond 2^53 no real file can contain it; report it as running past the end instead
    // of losing precision.
    const size = large > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(large);
    if (size < 16) throw new Mp4IncompleteError('bad-box-size', `'${type}' at ${at} has largesize ${large} < 16`);
    return { type, start: at, payload: at + 16, end: at + size };
  }
  if (size32 < 8) throw new Mp4IncompleteError('bad-box-size', `'${type}' at ${at} has size ${size32} < 8`);
  return { type, start: at, payload: at + 8, end: at + size32 };
}

/** How many bytes the header at `at` occupies, given its first 4 bytes. */
function headerLength(view: DataView, at: number): number {
  return view.getUint32(at) === 1 ? 16 : 8;
}

/**
 * Lists the children of an in-memory container, refusing any child that does not fit:
 * inside moov every byte is already present, so overflow means corruption, not truncation.
 */
function childBoxes(view: DataView, start: number, end: number): BoxHeader[] {
  const boxes: BoxHeader[] = [];
  let at = start;
  while (at < end) {
    // Fewer than 8 bytes left cannot hold a box. QuickTime writers may end a container with
    // a 32-bit zero terminator, so tolerate all-zero padding; anything else means a size is
    // wrong somewhere above.
    if (end - at < 8 && isZeroPadding(view, at, end)) break;
    if (end - at < 8 || end - at < headerLength(view, at)) {
      throw new Mp4IncompleteError('box-overflows-parent', `${end - at} stray bytes at ${at}, too few for a box header`);
    }
    const box = parseBoxHeader(view, at, end);
    if (box.end > end) {
      throw new Mp4IncompleteError('box-overflows-parent', `'${box.type}' at ${at} ends at ${box.end}, past its container end ${end}`);
    }
    boxes.push(box);
    at = box.end;
  }
  return boxes;
}

function isZeroPadding(view: DataView, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (view.getUint8(i) !== 0) return false;
  return true;
}

function findChild(boxes: readonly BoxHeader[], type: string): BoxHeader | undefined {
  return boxes.find((b) => b.type === type);
}

/** Asserts that `needed` bytes from `at` lie inside `box`, so DataView reads cannot leak into a sibling. */
function requireBytes(box: BoxHeader, at: number, needed: number, what: string): void {
  if (at + needed > box.end) {
    throw new Mp4IncompleteError('malformed', `'${box.type}' at ${box.start} is too short for ${what}`);
  }
}

/** Reads a full box's version byte (flags are never needed here). */
function fullBoxVersion(view: DataView, box: BoxHeader): number {
  requireBytes(box, box.payload, 4, 'version/flags');
  return view.getUint8(box.payload);
}

// ---------------------------------------------------------------------------------------
// Top level: walk headers through the reader
// ---------------------------------------------------------------------------------------

/**
 * Serves byte ranges out of the last read when it already covers them; otherwise issues one
 * read of at least `readAhead` bytes. Top-level headers of a typical chunk (ftyp, free, mdat)
 * all sit in the first window, and the moov body usually arrives with its own header.
 */
class WindowedReader {
  private windowStart = 0;
  private window: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly read: RangeReader,
    readonly size: number,
    private readonly readAhead: number,
  ) {}

  /** Returns exactly `length` bytes at `offset` (caller keeps offset + length <= size). */
  async bytes(offset: number, length: number): Promise<Uint8Array> {
    const rel = offset - this.windowStart;
    if (rel >= 0 && rel + length <= this.window.byteLength) return this.window.subarray(rel, rel + length);
    const want = Math.min(Math.max(length, this.readAhead), this.size - offset);
    const got = await this.read(offset, want);
    // The reader may only come up short at end of file, and we never ask past `size`;
    // so a short read means the file is shorter than the size we were told (it shrank, or
    // `size` was stale). Either way we cannot vouch for the box layout.
    if (got.byteLength < want) {
      throw new Mp4IncompleteError('short-read', `asked for ${want} bytes at ${offset}, got ${got.byteLength}; file shorter than ${this.size}`);
    }
    this.windowStart = offset;
    this.window = got;
    return got.subarray(0, length);
  }
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface TopLevelLayout {
  brand: string;
  ftyp: { start: number; end: number; bytes: Uint8Array };
  moov: { start: number; payload: number; end: number };
  /** Payload ranges of every mdat box: where samples may lie. */
  mdats: { payload: number; end: number }[];
  /** Every moof and prft box, in file order (a fragmented file). */
  moofs: BoxHeader[];
  prfts: { box: BoxHeader; fragment: number }[];
  hasMfra: boolean;
}

/**
 * Reads just the box header at `at` (8 or 16 bytes), as absolute offsets. A header that does
 * not fit before `size` is a truncated file.
 */
async function readTopLevelHeader(src: WindowedReader, at: number): Promise<BoxHeader> {
  const left = src.size - at;
  if (left < 8) throw new Mp4IncompleteError('truncated', `${left} bytes at ${at}, too few for a box header`);
  const bytes = await src.bytes(at, Math.min(MAX_HEADER_BYTES, left));
  const view = viewOf(bytes);
  if (headerLength(view, 0) > bytes.byteLength) {
    throw new Mp4IncompleteError('truncated', `64-bit box header at ${at} cut short`);
  }
  const header = parseBoxHeader(view, 0, left);
  return { type: header.type, start: at, payload: at + header.payload, end: at + header.end };
}

/**
 * Decides whether the first box makes this an ISO BMFF file. Checked before any size
 * validation: "hell" from "hello world" is a huge size, but the type tells us it is text.
 */
async function classifyFirstBox(src: WindowedReader): Promise<void> {
  if (src.size === 0) throw new Mp4IncompleteError('empty', 'file is empty');
  const head = await src.bytes(0, Math.min(8, src.size));
  if (head.byteLength < 8) {
    // Too short to hold a header. If what is there could start an ftyp box (a size below
    // 64 KiB, so two zero bytes, then "ftyp"), the writer has simply not flushed yet.
    const expected = [0, 0, undefined, undefined, ...[...'ftyp'].map((c) => c.charCodeAt(0))];
    const could = [...head].every((byte, i) => expected[i] === undefined || expected[i] === byte);
    if (could) throw new Mp4IncompleteError('truncated', `only ${head.byteLength} bytes`);
    throw new NotMp4Error(`not an MP4: ${head.byteLength}-byte file does not start with an ftyp box`);
  }
  const type = fourcc(viewOf(head), 4);
  if (!KNOWN_TOP_LEVEL_TYPES.has(type)) {
    throw new NotMp4Error(`not an MP4: first box type is ${JSON.stringify(type)}, expected 'ftyp'`);
  }
  if (type !== 'ftyp') throw new Mp4IncompleteError('no-ftyp', `first box is '${type}', expected 'ftyp'`);
}

/** Reads the ftyp major brand (payload bytes 0-3). */
async function readFtypBrand(src: WindowedReader, ftyp: BoxHeader): Promise<string> {
  // major_brand(4) + minor_version(4) is the least a valid ftyp carries.
  if (ftyp.end - ftyp.payload < 8) throw new Mp4IncompleteError('malformed', `ftyp is only ${ftyp.end - ftyp.start} bytes`);
  return fourcc(viewOf(await src.bytes(ftyp.payload, 4)), 0);
}

/**
 * Walks every top-level box header and checks that they tile the file exactly. Only headers
 * are read; mdat is skipped by its size.
 */
async function walkTopLevel(src: WindowedReader, maxMoovBytes: number): Promise<TopLevelLayout> {
  await classifyFirstBox(src);
  let brand = '';
  let moov: BoxHeader | undefined;
  let moovCount = 0;
  let ftyp: TopLevelLayout['ftyp'] | undefined;
  const mdats: { payload: number; end: number }[] = [];
  const moofs: BoxHeader[] = [];
  const prfts: { box: BoxHeader; fragment: number }[] = [];
  let hasMfra = false;
  for (let at = 0; at < src.size;) {
    const box = await readTopLevelHeader(src, at);
    if (box.end > src.size) {
      throw new Mp4IncompleteError('truncated', `'${box.type}' at ${at} needs ${box.end - at} bytes, file ends after ${src.size - at}`);
    }
    if (box.type === 'ftyp' && at === 0) {
      brand = await readFtypBrand(src, box);
      if (box.end - box.start > MAX_FTYP_BYTES) throw new Mp4IncompleteError('malformed', `ftyp is ${box.end - box.start} bytes`);
      // Copied now, while the first window holds it: no read later.
      ftyp = { start: box.start, end: box.end, bytes: new Uint8Array(await src.bytes(box.start, box.end - box.start)) };
    } else if (box.type === 'mdat') mdats.push({ payload: box.payload, end: box.end });
    else if (box.type === 'moof') moofs.push(box);
    else if (box.type === 'prft') prfts.push({ box, fragment: moofs.length });
    else if (box.type === 'mfra') hasMfra = true;
    else if (box.type === 'moov') {
      moovCount++;
      moov = box;
      if (box.end - box.start > maxMoovBytes) {
        throw new Mp4IncompleteError('moov-too-large', `moov is ${box.end - box.start} bytes, cap is ${maxMoovBytes}`);
      }
    }
    at = box.end;
  }
  // Order matters for the message: a file still being written has mdat but no moov.
  if (moovCount > 1) throw new Mp4IncompleteError('multiple-moov', `${moovCount} moov boxes`);
  if (moov === undefined) throw new Mp4IncompleteError('no-moov', 'no moov box: still being written, or the writer did not finish');
  if (mdats.length === 0) throw new Mp4IncompleteError('no-mdat', 'no mdat box');
  // classifyFirstBox has already refused a file whose first box is not ftyp.
  if (ftyp === undefined) throw new Mp4IncompleteError('no-ftyp', 'no ftyp box at offset 0');
  if (moofs.length > 0 && !hasMfra)
    throw new Mp4IncompleteError('no-mfra', `fragmented, ${moofs.length} fragments and no mfra: still being written, or the writer did not finish`);
  return { brand, ftyp, moov, mdats, moofs, prfts, hasMfra };
}

// ---------------------------------------------------------------------------------------
// Inside moov: one small parser per box kind. All offsets are relative to the moov buffer.
// ---------------------------------------------------------------------------------------

interface MediaHeader {
  timescale: number;
}

interface MovieHeader {
  timescale: number;
  /** In timescale units; undefined when unknown (all ones). */
  duration: number | undefined;
}

interface SampleEntry {
  fourcc: string;
  width: number;
  height: number;
  box: BoxHeader;
}

interface TimeToSample {
  sampleCount: number;
  /** Sum of all sample deltas, in media timescale units. */
  totalDelta: number;
}

interface TrackSummary {
  /** tkhd track_ID: what moof and prft boxes name a track by. */
  trackId: number;
  handler: string;
  stbl: BoxHeader | undefined;
  mdhd: MediaHeader;
  /** The edit list (trak > edts > elst), when there is one. */
  elst: BoxHeader | undefined;
}

/**
 * mvhd (§8.2.2). v0: creation(4) modification(4) timescale(4) duration(4);
 * v1: creation(8) modification(8) timescale(4) duration(8).
 */
function parseMvhd(view: DataView, box: BoxHeader): MovieHeader {
  const version = fullBoxVersion(view, box);
  const p = box.payload + 4;
  if (version === 0) {
    requireBytes(box, p, 16, 'mvhd v0 fields');
    const duration = view.getUint32(p + 12);
    return { timescale: view.getUint32(p + 8), duration: duration === 0xffffffff ? undefined : duration };
  }
  if (version === 1) {
    requireBytes(box, p, 28, 'mvhd v1 fields');
    const duration = view.getBigUint64(p + 20);
    return {
      timescale: view.getUint32(p + 16),
      duration: duration === 0xffffffffffffffffn ? undefined : Number(duration),
    };
  }
  throw new Mp4IncompleteError('malformed', `mvhd version ${version}`);
}

/** mdhd (§8.4.2): same leading layout as mvhd. Only the timescale is used: the duration comes from stts. */
function parseMdhd(view: DataView, box: BoxHeader): MediaHeader {
  const version = fullBoxVersion(view, box);
  const p = box.payload + 4;
  let timescale: number;
  if (version === 0) {
    requireBytes(box, p, 16, 'mdhd v0 fields');
    timescale = view.getUint32(p + 8);
  } else if (version === 1) {
    requireBytes(box, p, 28, 'mdhd v1 fields');
    timescale = view.getUint32(p + 16);
  } else {
    throw new Mp4IncompleteError('malformed', `mdhd version ${version}`);
  }
  // Every duration is divided by this; zero would turn them into Infinity/NaN.
  if (timescale === 0) throw new Mp4IncompleteError('malformed', 'mdhd timescale is 0');
  return { timescale };
}

/** hdlr (§8.4.3): pre_defined(4) handler_type(4). 'vide' = video, 'soun' = audio. */
function parseHdlr(view: DataView, box: BoxHeader): string {
  requireBytes(box, box.payload, 12, 'handler_type');
  return fourcc(view, box.payload + 8);
}

/**
 * stsd (§8.5.2) with its first VisualSampleEntry (§12.1.3): entry_count(4), then entries.
 * A visual entry is: box header(8) reserved(6) data_reference_index(2) pre_defined(2)
 * reserved(2) pre_defined(12) width(2) height(2) ...
 */
function parseStsd(view: DataView, box: BoxHeader): SampleEntry {
  requireBytes(box, box.payload, 8, 'entry_count');
  const entryCount = view.getUint32(box.payload + 4);
  if (entryCount === 0) throw new Mp4IncompleteError('malformed', 'stsd has no sample entries');
  const entries = childBoxes(view, box.payload + 8, box.end);
  const first = entries[0];
  if (first === undefined) throw new Mp4IncompleteError('malformed', 'stsd entry_count > 0 but no entry boxes');
  requireBytes(first, first.payload, 28, `'${first.type}' visual sample entry`);
  return {
    fourcc: first.type,
    width: view.getUint16(first.payload + 24),
    height: view.getUint16(first.payload + 26),
    box: first,
  };
}

/**
 * stts (§8.6.1.2): entry_count(4), then (sample_count(4), sample_delta(4)) per run.
 * Summing the deltas gives the exact media duration, independent of edit lists.
 */
function parseStts(view: DataView, box: BoxHeader): TimeToSample {
  requireBytes(box, box.payload, 8, 'entry_count');
  const entryCount = view.getUint32(box.payload + 4);
  // Check against the box before looping, so a hostile count cannot make us spin.
  requireBytes(box, box.payload + 8, entryCount * 8, `${entryCount} stts entries`);
  let sampleCount = 0;
  let totalDelta = 0;
  for (let i = 0, p = box.payload + 8; i < entryCount; i++, p += 8) {
    const count = view.getUint32(p);
    sampleCount += count;
    totalDelta += count * view.getUint32(p + 4);
  }
  // Products of two uint32s can exceed 2^53 only in a hostile file; refuse rather than round.
  if (!Number.isSafeInteger(totalDelta)) throw new Mp4IncompleteError('malformed', 'stts total duration overflows');
  return { sampleCount, totalDelta };
}

/** stss (§8.6.2): entry_count(4), then one uint32 sample number per sync sample. */
function parseStss(view: DataView, box: BoxHeader): number {
  requireBytes(box, box.payload, 8, 'entry_count');
  const entryCount = view.getUint32(box.payload + 4);
  requireBytes(box, box.payload + 8, entryCount * 4, `${entryCount} stss entries`);
  return entryCount;
}

/**
 * stsz (§8.7.3.2): sample_size(4) sample_count(4). stz2 (§8.7.3.3, compact sizes) keeps
 * sample_count at the same offset, after reserved(3) + field_size(1).
 */
function parseSampleSizeCount(view: DataView, box: BoxHeader): number {
  requireBytes(box, box.payload, 12, 'sample_count');
  return view.getUint32(box.payload + 8);
}

/** trak -> mdia -> (mdhd, hdlr, minf -> stbl). */
function parseTrak(view: DataView, trak: BoxHeader): TrackSummary {
  const mdia = findChild(childBoxes(view, trak.payload, trak.end), 'mdia');
  if (mdia === undefined) throw new Mp4IncompleteError('malformed', `trak at ${trak.start} has no mdia`);
  const mdiaChildren = childBoxes(view, mdia.payload, mdia.end);
  const mdhd = findChild(mdiaChildren, 'mdhd');
  const hdlr = findChild(mdiaChildren, 'hdlr');
  if (mdhd === undefined || hdlr === undefined) {
    throw new Mp4IncompleteError('malformed', `trak at ${trak.start} lacks mdhd or hdlr`);
  }
  const handler = parseHdlr(view, hdlr);
  const minf = findChild(mdiaChildren, 'minf');
  const stbl = minf === undefined ? undefined : findChild(childBoxes(view, minf.payload, minf.end), 'stbl');
  const trakChildren = childBoxes(view, trak.payload, trak.end);
  const edts = findChild(trakChildren, 'edts');
  const elst = edts === undefined ? undefined : findChild(childBoxes(view, edts.payload, edts.end), 'elst');
  const tkhd = findChild(trakChildren, 'tkhd');
  return { trackId: tkhd === undefined ? 0 : parseTkhdTrackId(view, tkhd), handler, stbl, mdhd: parseMdhd(view, mdhd), elst };
}

/** tkhd (§8.3.2): v0 creation(4) modification(4) track_ID(4); v1 creation(8) modification(8) track_ID(4). */
function parseTkhdTrackId(view: DataView, box: BoxHeader): number {
  const version = fullBoxVersion(view, box);
  const at = box.payload + 4 + (version === 1 ? 16 : 8);
  requireBytes(box, at, 4, 'track_ID');
  return view.getUint32(at);
}

interface VideoTrackInfo {
  timescale: number;
  sampleEntry: SampleEntry;
  timeToSample: TimeToSample;
  keyframeCount: number;
  stblChildren: BoxHeader[];
}

/** Reads the sample table of the video track; stts, stsd and stsz are required (§8.5.1). */
function parseVideoStbl(view: DataView, track: TrackSummary): VideoTrackInfo {
  const children = track.stbl === undefined ? [] : childBoxes(view, track.stbl.payload, track.stbl.end);
  const stts = findChild(children, 'stts');
  const stsd = findChild(children, 'stsd');
  const stsz = findChild(children, 'stsz') ?? findChild(children, 'stz2');
  if (stts === undefined || stsd === undefined || stsz === undefined) {
    const missing = [stts ? '' : 'stts', stsd ? '' : 'stsd', stsz ? '' : 'stsz'].filter(Boolean).join(', ');
    throw new Mp4IncompleteError('missing-sample-table', `video track lacks ${missing}`);
  }
  const timeToSample = parseStts(view, stts);
  const sizedSamples = parseSampleSizeCount(view, stsz);
  if (sizedSamples !== timeToSample.sampleCount) {
    throw new Mp4IncompleteError('sample-count-mismatch', `stts describes ${timeToSample.sampleCount} samples, ${stsz.type} ${sizedSamples}`);
  }
  const stss = findChild(children, 'stss');
  return {
    timescale: track.mdhd.timescale,
    sampleEntry: parseStsd(view, stsd),
    timeToSample,
    // No stss means every sample is a sync sample (§8.6.2.1).
    keyframeCount: stss === undefined ? timeToSample.sampleCount : parseStss(view, stss),
    stblChildren: children,
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * moov payload -> mvhd + trak*. Picks the first video track; notes whether any audio track
 * exists. Offsets inside are relative to the payload buffer.
 */
function parseMoov(moovPayload: Uint8Array, brand: string, fragments?: FragmentBytes): Mp4Info {
  return parseMoovParts(moovPayload, brand, fragments).info;
}

interface MoovParts {
  info: Mp4Info;
  view: DataView;
  video: VideoTrackInfo;
  track: TrackSummary;
  /** A fragmented file: the video track's samples, from its track runs. */
  fragmentSamples?: FragmentSample[];
}

function parseMoovParts(moovPayload: Uint8Array, brand: string, fragments?: FragmentBytes): MoovParts {
  const view = viewOf(moovPayload);
  const children = childBoxes(view, 0, moovPayload.byteLength);
  const mvhdBox = findChild(children, 'mvhd');
  if (mvhdBox === undefined) throw new Mp4IncompleteError('malformed', 'moov has no mvhd');
  const mvhd = parseMvhd(view, mvhdBox);
  // With mvex the sample tables in moov are empty and the samples live in moof boxes.
  const mvex = findChild(children, 'mvex');
  if (mvex !== undefined && (fragments === undefined || fragments.moofs.length === 0)) {
    throw new Mp4IncompleteError('no-mfra', 'fragmented MP4 (moov contains mvex) with no fragment: still being written, or the writer did not finish');
  }
  const tracks = children.filter((b) => b.type === 'trak').map((trak) => parseTrak(view, trak));
  const videoTrack = tracks.find((t) => t.handler === 'vide');
  if (videoTrack === undefined) {
    throw new Error(`MP4 has no video track (no trak with hdlr 'vide'; handlers: ${tracks.map((t) => t.handler).join(', ') || 'none'})`);
  }
  let video = parseVideoStbl(view, videoTrack);
  let fragmentSamples: FragmentSample[] | undefined;
  let producerTimes: Mp4ProducerTime[] | undefined;
  if (mvex !== undefined && fragments !== undefined) {
    const defaults = parseTrex(view, mvex, videoTrack.trackId);
    fragmentSamples = fragmentSamplesOf(fragments, videoTrack.trackId, defaults);
    const totalDelta = fragmentSamples.reduce((sum, sample) => sum + sample.duration, 0);
    if (!Number.isSafeInteger(totalDelta)) throw new Mp4IncompleteError('malformed', 'fragment durations overflow');
    const keyframeCount = fragmentSamples.filter((sample) => sample.sync).length;
    video = { ...video, timeToSample: { sampleCount: fragmentSamples.length, totalDelta }, keyframeCount };
    const timescales = new Map(tracks.map((t) => [t.trackId, t.mdhd.timescale]));
    producerTimes = fragments.prfts.map((prft) => parseProducerTime(prft, timescales));
  }
  const { sampleCount, totalDelta } = video.timeToSample;
  const info: Mp4Info = {
    container: 'mp4',
    brand,
    durationMs: round3((totalDelta * 1000) / video.timescale),
    frameCount: sampleCount,
    // From the exact tick sum rather than the rounded durationMs.
    frameRate: totalDelta === 0 ? 0 : round3((sampleCount * video.timescale) / totalDelta),
    codec: CODEC_BY_FOURCC[video.sampleEntry.fourcc] ?? video.sampleEntry.fourcc,
    width: video.sampleEntry.width,
    height: video.sampleEntry.height,
    hasAudio: tracks.some((t) => t.handler === 'soun'),
    timescale: video.timescale,
    keyframeCount: video.keyframeCount,
  };
  if (fragmentSamples !== undefined) {
    info.fragmented = true;
    const first = fragmentSamples[0];
    if (first !== undefined) info.mediaStartSeconds = (first.decodeTicks + first.compositionOffset) / video.timescale;
    info.producerTimes = producerTimes ?? [];
    // mvhd of an empty moov says 0: the movie lasts as long as its fragments.
    info.movieDurationMs = info.durationMs;
  } else if (mvhd.duration !== undefined && mvhd.timescale > 0) {
    info.movieDurationMs = round3((mvhd.duration * 1000) / mvhd.timescale);
  }
  return { info, view, video, track: videoTrack, ...(fragmentSamples === undefined ? {} : { fragmentSamples }) };
}

// ---------------------------------------------------------------------------------------
// Fragments: moof > traf > (tfhd, tfdt, trun*), with defaults from moov > mvex > trex
// ---------------------------------------------------------------------------------------

/** The moof and prft boxes of a fragmented file, read whole (each is a few hundred bytes). */
interface FragmentBytes {
  /** `bytes` holds the whole box; `box` is its header in file offsets. */
  moofs: { box: BoxHeader; bytes: Uint8Array }[];
  prfts: { box: BoxHeader; bytes: Uint8Array; fragment: number }[];
}

interface SampleDefaults {
  duration: number;
  size: number;
  flags: number;
}

/** One sample of a track run, placed in the file and on the track's decode timeline. */
interface FragmentSample {
  offset: number;
  size: number;
  duration: number;
  decodeTicks: number;
  compositionOffset: number;
  sync: boolean;
}

/** sample_flags (§8.8.3.1): bit 16 is sample_is_non_sync_sample. */
const NON_SYNC_SAMPLE = 0x10000;

/** trex (§8.8.3): track_ID(4) default_sample_description_index(4) duration(4) size(4) flags(4). */
function parseTrex(view: DataView, mvex: BoxHeader, trackId: number): SampleDefaults {
  for (const box of childBoxes(view, mvex.payload, mvex.end)) {
    if (box.type !== 'trex') continue;
    requireBytes(box, box.payload, 24, 'trex fields');
    if (view.getUint32(box.payload + 4) !== trackId) continue;
    return { duration: view.getUint32(box.payload + 12), size: view.getUint32(box.payload + 16), flags: view.getUint32(box.payload + 20) };
  }
  return { duration: 0, size: 0, flags: 0 };
}

/** Every sample of `trackId` in the fragments, in order; checks each lies after its moof and decode times only grow. */
function fragmentSamplesOf(fragments: FragmentBytes, trackId: number, trex: SampleDefaults): FragmentSample[] {
  const samples: FragmentSample[] = [];
  let nextDecode = 0;
  for (const { box: moof, bytes } of fragments.moofs) {
    const view = viewOf(bytes);
    const local = parseBoxHeader(view, 0, bytes.byteLength);
    for (const traf of childBoxes(view, local.payload, local.end).filter((b) => b.type === 'traf')) {
      const parts = childBoxes(view, traf.payload, traf.end);
      const tfhd = findChild(parts, 'tfhd');
      if (tfhd === undefined) throw new Mp4IncompleteError('malformed', `traf in moof at ${moof.start} has no tfhd`);
      requireBytes(tfhd, tfhd.payload, 8, 'tfhd fields');
      const tfhdFlags = view.getUint32(tfhd.payload) & 0xffffff;
      if (view.getUint32(tfhd.payload + 4) !== trackId) continue;
      let at = tfhd.payload + 8;
      const field = (flag: number, width: 4 | 8): number | undefined => {
        if ((tfhdFlags & flag) === 0) return undefined;
        requireBytes(tfhd, at, width, 'tfhd optional fields');
        const value = width === 8 ? Number(view.getBigUint64(at)) : view.getUint32(at);
        at += width;
        return value;
      };
      const baseDataOffset = field(0x1, 8);
      field(0x2, 4);
      const defaults: SampleDefaults = { duration: field(0x8, 4) ?? trex.duration, size: field(0x10, 4) ?? trex.size, flags: field(0x20, 4) ?? trex.flags };
      // With neither base-data-offset nor default-base-is-moof ffmpeg-style files still count from the moof.
      let dataAt = baseDataOffset ?? moof.start;
      const tfdt = findChild(parts, 'tfdt');
      let decode = nextDecode;
      if (tfdt !== undefined) {
        const version = fullBoxVersion(view, tfdt);
        requireBytes(tfdt, tfdt.payload + 4, version === 1 ? 8 : 4, 'baseMediaDecodeTime');
        decode = version === 1 ? Number(view.getBigUint64(tfdt.payload + 4)) : view.getUint32(tfdt.payload + 4);
      }
      if (decode < nextDecode)
        throw new Mp4IncompleteError(
          'malformed',
          `fragment at ${moof.start} starts at decode time ${decode}, before the end of the one before (${nextDecode})`,
        );
      for (const trun of parts.filter((b) => b.type === 'trun')) {
        requireBytes(trun, trun.payload, 8, 'trun fields');
        const version = view.getUint8(trun.payload);
        const flags = view.getUint32(trun.payload) & 0xffffff;
        const count = view.getUint32(trun.payload + 4);
        let p = trun.payload + 8;
        if ((flags & 0x1) !== 0) {
          requireBytes(trun, p, 4, 'data_offset');
          dataAt = (baseDataOffset ?? moof.start) + view.getInt32(p);
          p += 4;
        }
        let firstFlags: number | undefined;
        if ((flags & 0x4) !== 0) {
          requireBytes(trun, p, 4, 'first_sample_flags');
          firstFlags = view.getUint32(p);
          p += 4;
        }
        const perSample = [0x100, 0x200, 0x400, 0x800].filter((bit) => (flags & bit) !== 0).length * 4;
        requireBytes(trun, p, count * perSample, `${count} trun entries`);
        for (let i = 0; i < count; i++) {
          const duration = (flags & 0x100) !== 0 ? view.getUint32((p += 4) - 4) : defaults.duration;
          const size = (flags & 0x200) !== 0 ? view.getUint32((p += 4) - 4) : defaults.size;
          const sampleFlags = (flags & 0x400) !== 0 ? view.getUint32((p += 4) - 4) : i === 0 && firstFlags !== undefined ? firstFlags : defaults.flags;
          const cts = (flags & 0x800) !== 0 ? (version === 1 ? view.getInt32((p += 4) - 4) : view.getUint32((p += 4) - 4)) : 0;
          samples.push({ offset: dataAt, size, duration, decodeTicks: decode, compositionOffset: cts, sync: (sampleFlags & NON_SYNC_SAMPLE) === 0 });
          dataAt += size;
          decode += duration;
        }
      }
      nextDecode = decode;
    }
  }
  return samples;
}

const NTP_UNIX_EPOCH_SECONDS = 2_208_988_800;

/** prft (§8.16.5): version/flags(4) reference_track_ID(4) ntp_timestamp(8) media_time(4, or 8 in v1). */
function parseProducerTime(prft: FragmentBytes['prfts'][number], timescales: ReadonlyMap<number, number>): Mp4ProducerTime {
  const view = viewOf(prft.bytes);
  const box = parseBoxHeader(view, 0, prft.bytes.byteLength);
  const version = fullBoxVersion(view, box);
  requireBytes(box, box.payload + 4, version === 1 ? 20 : 16, 'prft fields');
  const trackId = view.getUint32(box.payload + 4);
  const seconds = view.getUint32(box.payload + 8);
  const fraction = view.getUint32(box.payload + 12);
  const media = version === 1 ? Number(view.getBigUint64(box.payload + 16)) : view.getUint32(box.payload + 16);
  const timescale = timescales.get(trackId);
  if (timescale === undefined) throw new Mp4IncompleteError('malformed', `prft at ${prft.box.start} names track ${trackId}, which the moov does not have`);
  // Microseconds are what ffmpeg's NTP times carry; rounding there undoes the 32-bit fraction's truncation.
  const micros = Math.round((fraction * 1_000_000) / 2 ** 32);
  return {
    wallclockMs: ((seconds - NTP_UNIX_EPOCH_SECONDS) * 1_000_000 + micros) / 1000,
    mediaSeconds: media / timescale,
    flags: view.getUint32(box.payload) & 0xffffff,
    fragment: prft.fragment,
  };
}

// ---------------------------------------------------------------------------------------
// Where the first keyframe lies: what a decoder needs to show the chunk's first picture
// ---------------------------------------------------------------------------------------

/** A byte range of the file. */
export interface Mp4ByteRange {
  offset: number;
  size: number;
}

/** The video track's first sync sample (keyframe), located through stss, stsc, stco/co64 and stsz. */
export interface Mp4SyncSample extends Mp4ByteRange {
  /** 1-based sample number, as stss counts. */
  sampleNumber: number;
}

/** A sample entry's codec configuration box (avcC, hvcC, av1C, vpcC), its payload as stored. */
export interface Mp4CodecConfig {
  type: string;
  bytes: Uint8Array;
}

/**
 * What {@link readMp4Layout} learns besides {@link Mp4Info}: enough to decode the first picture
 * without reading anything else. `ftyp` and `moov` hold the boxes' bytes, header included, as
 * read for the inspection (no second read).
 */
export interface Mp4Layout {
  info: Mp4Info;
  ftyp: Mp4ByteRange & { bytes: Uint8Array };
  moov: Mp4ByteRange & { bytes: Uint8Array };
  /** The video sample entry's fourcc ('avc1', 'hvc1', ...). */
  sampleEntry: string;
  /** Undefined when the sample entry carries none (e.g. 'mp4v'). */
  codecConfig: Mp4CodecConfig | undefined;
  firstSyncSample: Mp4SyncSample;
  /** Every sync sample, with its presentation time (with `allSyncSamples`). */
  syncSamples?: Mp4TimedSyncSample[];
}

const CODEC_CONFIG_TYPES = new Set(['avcC', 'hvcC', 'av1C', 'vpcC']);
/** VisualSampleEntry fields before its child boxes (§12.1.3): 6+2+16+2+2+4+4+4+2+32+2+2. */
const VISUAL_SAMPLE_ENTRY_FIELDS = 78;

function parseCodecConfig(view: DataView, entry: BoxHeader): Mp4CodecConfig | undefined {
  const childrenStart = entry.payload + VISUAL_SAMPLE_ENTRY_FIELDS;
  if (childrenStart > entry.end) throw new Mp4IncompleteError('malformed', `'${entry.type}' sample entry is too short`);
  const config = childBoxes(view, childrenStart, entry.end).find((box) => CODEC_CONFIG_TYPES.has(box.type));
  if (config === undefined) return undefined;
  const start = view.byteOffset + config.payload;
  // A copy: the caller may keep it longer than the moov buffer.
  return { type: config.type, bytes: new Uint8Array(view.buffer.slice(start, view.byteOffset + config.end)) };
}

/** stss's first entry, or 1 when there is no stss (every sample is sync). */
function firstSyncSampleNumber(view: DataView, stss: BoxHeader | undefined, sampleCount: number): number {
  if (stss === undefined) return 1;
  requireBytes(stss, stss.payload, 8, 'entry_count');
  if (view.getUint32(stss.payload + 4) === 0) throw new Mp4IncompleteError('malformed', 'stss lists no sync sample: the track has no keyframe');
  requireBytes(stss, stss.payload + 8, 4, 'the first stss entry');
  const sample = view.getUint32(stss.payload + 8);
  if (sample < 1 || sample > sampleCount) throw new Mp4IncompleteError('malformed', `stss names sample ${sample} of ${sampleCount}`);
  return sample;
}

/** stco (§8.7.5): entry_count, uint32 offsets; co64: uint64 offsets. Returns chunk `index` (1-based). */
function chunkOffset(view: DataView, box: BoxHeader, index: number): { offset: number; chunkCount: number } {
  requireBytes(box, box.payload, 8, 'entry_count');
  const chunkCount = view.getUint32(box.payload + 4);
  if (index < 1 || index > chunkCount) throw new Mp4IncompleteError('malformed', `${box.type} has ${chunkCount} chunks, sample is in chunk ${index}`);
  const width = box.type === 'co64' ? 8 : 4;
  const at = box.payload + 8 + (index - 1) * width;
  requireBytes(box, at, width, `${box.type} entry ${index}`);
  const offset = width === 8 ? Number(view.getBigUint64(at)) : view.getUint32(at);
  if (!Number.isSafeInteger(offset)) throw new Mp4IncompleteError('malformed', `${box.type} offset overflows`);
  return { offset, chunkCount };
}

/** stsc (§8.7.4): runs of (first_chunk, samples_per_chunk, description index). Finds the chunk holding `sample`. */
function chunkOfSample(view: DataView, stsc: BoxHeader, sample: number, chunkCount: number): { chunk: number; firstSampleInChunk: number } {
  requireBytes(stsc, stsc.payload, 8, 'entry_count');
  const entries = view.getUint32(stsc.payload + 4);
  requireBytes(stsc, stsc.payload + 8, entries * 12, `${entries} stsc entries`);
  let firstSampleOfRun = 1;
  for (let i = 0; i < entries; i++) {
    const p = stsc.payload + 8 + i * 12;
    const firstChunk = view.getUint32(p);
    const perChunk = view.getUint32(p + 4);
    const nextFirstChunk = i + 1 < entries ? view.getUint32(p + 12) : chunkCount + 1;
    if (firstChunk < 1 || nextFirstChunk <= firstChunk || perChunk === 0) {
      throw new Mp4IncompleteError('malformed', `stsc entry ${i + 1} (first chunk ${firstChunk}, ${perChunk} samples) is out of order`);
    }
    const runSamples = (nextFirstChunk - firstChunk) * perChunk;
    if (sample < firstSampleOfRun + runSamples) {
      const chunkInRun = Math.floor((sample - firstSampleOfRun) / perChunk);
      return { chunk: firstChunk + chunkInRun, firstSampleInChunk: firstSampleOfRun + chunkInRun * perChunk };
    }
    firstSampleOfRun += runSamples;
  }
  throw new Mp4IncompleteError('malformed', `stsc places only ${firstSampleOfRun - 1} samples, not sample ${sample}`);
}

/** Size of sample `n` (1-based) from stsz or stz2 (§8.7.3). */
function sampleSize(view: DataView, box: BoxHeader, n: number): number {
  requireBytes(box, box.payload, 12, 'sample_size/sample_count');
  if (box.type === 'stsz') {
    const constant = view.getUint32(box.payload + 4);
    if (constant !== 0) return constant;
    const at = box.payload + 12 + (n - 1) * 4;
    requireBytes(box, at, 4, `stsz entry ${n}`);
    return view.getUint32(at);
  }
  const fieldBits = view.getUint8(box.payload + 7);
  if (fieldBits !== 4 && fieldBits !== 8 && fieldBits !== 16) throw new Mp4IncompleteError('malformed', `stz2 field size ${fieldBits}`);
  const bitAt = (n - 1) * fieldBits;
  const at = box.payload + 12 + Math.floor(bitAt / 8);
  requireBytes(box, at, Math.max(1, fieldBits / 8), `stz2 entry ${n}`);
  if (fieldBits === 16) return view.getUint16(at);
  if (fieldBits === 8) return view.getUint8(at);
  const byte = view.getUint8(at);
  return bitAt % 8 === 0 ? byte >> 4 : byte & 0x0f;
}

function locateFirstSyncSample(view: DataView, video: VideoTrackInfo, layout: TopLevelLayout): Mp4SyncSample {
  const children = video.stblChildren;
  const stsc = findChild(children, 'stsc');
  const stco = findChild(children, 'stco') ?? findChild(children, 'co64');
  const stsz = findChild(children, 'stsz') ?? findChild(children, 'stz2');
  if (stsc === undefined || stco === undefined || stsz === undefined) {
    const missing = [stsc ? '' : 'stsc', stco ? '' : 'stco/co64', stsz ? '' : 'stsz'].filter(Boolean).join(', ');
    throw new Mp4IncompleteError('missing-sample-table', `video track lacks ${missing}`);
  }
  const sampleCount = video.timeToSample.sampleCount;
  const sampleNumber = firstSyncSampleNumber(view, findChild(children, 'stss'), sampleCount);
  const { chunkCount } = chunkOffset(view, stco, 1);
  const { chunk, firstSampleInChunk } = chunkOfSample(view, stsc, sampleNumber, chunkCount);
  let offset = chunkOffset(view, stco, chunk).offset;
  for (let n = firstSampleInChunk; n < sampleNumber; n++) offset += sampleSize(view, stsz, n);
  const size = sampleSize(view, stsz, sampleNumber);
  if (size === 0) throw new Mp4IncompleteError('malformed', `sample ${sampleNumber} is empty`);
  // A sample must lie inside media data: never hand a decoder the moov, or bytes past the file.
  if (!layout.mdats.some((mdat) => offset >= mdat.payload && offset + size <= mdat.end)) {
    throw new Mp4IncompleteError('malformed', `sample ${sampleNumber} (${size} bytes at ${offset}) lies outside every mdat box`);
  }
  return { sampleNumber, offset, size };
}

/** A sync sample of the video track with where it sits in the media's presentation. */
export interface Mp4TimedSyncSample extends Mp4SyncSample {
  /** Presentation time in seconds, as ffmpeg's mov demuxer reports it (edit list applied). */
  presentationSeconds: number;
}

/** Per-sample values stored as runs of (count, value), read as a lookup by sample number. */
function runLookup(view: DataView, box: BoxHeader | undefined, signed: boolean): (sample: number) => number {
  if (box === undefined) return () => 0;
  requireBytes(box, box.payload, 8, 'entry_count');
  const entries = view.getUint32(box.payload + 4);
  requireBytes(box, box.payload + 8, entries * 8, `${entries} ${box.type} entries`);
  const version = view.getUint8(box.payload);
  return (sample) => {
    let first = 1;
    for (let i = 0; i < entries; i++) {
      const p = box.payload + 8 + i * 8;
      const count = view.getUint32(p);
      if (sample < first + count) return signed && version === 1 ? view.getInt32(p + 4) : view.getUint32(p + 4);
      first += count;
    }
    return 0;
  };
}

/** Decode time (ticks) of sample `n` (1-based), from stts. */
function decodeTimeOf(view: DataView, stts: BoxHeader, n: number): number {
  const entries = view.getUint32(stts.payload + 4);
  let time = 0;
  let first = 1;
  for (let i = 0; i < entries; i++) {
    const p = stts.payload + 8 + i * 8;
    const count = view.getUint32(p);
    const delta = view.getUint32(p + 4);
    if (n < first + count) return time + (n - first) * delta;
    time += count * delta;
    first += count;
  }
  return time;
}

/** The media time the presentation starts at (the first non-empty edit's media_time), in ticks; 0 without an edit list. */
function editMediaStart(view: DataView, track: TrackSummary): number {
  const elst = track.elst;
  if (elst === undefined) return 0;
  const version = fullBoxVersion(view, elst);
  const entries = view.getUint32(elst.payload + 4);
  const width = version === 1 ? 20 : 12;
  requireBytes(elst, elst.payload + 8, entries * width, `${entries} elst entries`);
  for (let i = 0; i < entries; i++) {
    const p = elst.payload + 8 + i * width;
    const mediaTime = version === 1 ? Number(view.getBigInt64(p + 8)) : view.getInt32(p + 4);
    if (mediaTime >= 0) return mediaTime;
  }
  return 0;
}

function locateSyncSamples(view: DataView, video: VideoTrackInfo, track: TrackSummary, layout: TopLevelLayout): Mp4TimedSyncSample[] {
  const children = video.stblChildren;
  const stsc = findChild(children, 'stsc');
  const stco = findChild(children, 'stco') ?? findChild(children, 'co64');
  const stsz = findChild(children, 'stsz') ?? findChild(children, 'stz2');
  const stts = findChild(children, 'stts');
  if (stsc === undefined || stco === undefined || stsz === undefined || stts === undefined)
    throw new Mp4IncompleteError('missing-sample-table', 'video track lacks stsc, stco, stsz or stts');
  const sampleCount = video.timeToSample.sampleCount;
  const stss = findChild(children, 'stss');
  const numbers: number[] = [];
  if (stss === undefined) for (let n = 1; n <= sampleCount; n++) numbers.push(n);
  else {
    const entries = view.getUint32(stss.payload + 4);
    for (let i = 0; i < entries; i++) numbers.push(view.getUint32(stss.payload + 8 + i * 4));
  }
  const compositionOffset = runLookup(view, findChild(children, 'ctts'), true);
  const mediaStart = editMediaStart(view, track);
  const { chunkCount } = chunkOffset(view, stco, 1);
  return numbers.map((sampleNumber) => {
    if (sampleNumber < 1 || sampleNumber > sampleCount) throw new Mp4IncompleteError('malformed', `stss names sample ${sampleNumber} of ${sampleCount}`);
    const { chunk, firstSampleInChunk } = chunkOfSample(view, stsc, sampleNumber, chunkCount);
    let offset = chunkOffset(view, stco, chunk).offset;
    for (let n = firstSampleInChunk; n < sampleNumber; n++) offset += sampleSize(view, stsz, n);
    const size = sampleSize(view, stsz, sampleNumber);
    if (!layout.mdats.some((mdat) => offset >= mdat.payload && offset + size <= mdat.end)) {
      throw new Mp4IncompleteError('malformed', `sample ${sampleNumber} (${size} bytes at ${offset}) lies outside every mdat box`);
    }
    const ticks = decodeTimeOf(view, stts, sampleNumber) + compositionOffset(sampleNumber) - mediaStart;
    return { sampleNumber, offset, size, presentationSeconds: ticks / video.timescale };
  });
}

// ---------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------

/**
 * Inspects an MP4 of `size` bytes through `read`. Throws NotMp4Error when the bytes are not
 * ISO BMFF, Mp4IncompleteError when the file is unfinished or inconsistent, and a plain
 * Error when there is no video track. Fragmented files are read from their moof boxes.
 */
export async function inspectMp4(read: RangeReader, size: number, options: InspectMp4Options = {}): Promise<Mp4Info> {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid size ${size}`);
  const src = new WindowedReader(read, size, options.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES);
  const layout = await walkTopLevel(src, options.maxMoovBytes ?? DEFAULT_MAX_MOOV_BYTES);
  const { brand, moov } = layout;
  // Usually already inside the window fetched with the moov header, so no extra read.
  const moovPayload = new Uint8Array(await src.bytes(moov.payload, moov.end - moov.payload));
  return parseMoov(moovPayload, brand, await readFragments(src, layout, options.maxMoovBytes ?? DEFAULT_MAX_MOOV_BYTES));
}

/**
 * Like {@link inspectMp4}, with the same reads, and also the ftyp and moov bytes, the video
 * codec configuration and where the first keyframe lies (checked to sit inside an mdat).
 * Throws as inspectMp4 does, and Mp4IncompleteError when the sample tables cannot place it.
 */
export async function readMp4Layout(read: RangeReader, size: number, options: InspectMp4Options = {}): Promise<Mp4Layout> {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid size ${size}`);
  const src = new WindowedReader(read, size, options.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES);
  const layout = await walkTopLevel(src, options.maxMoovBytes ?? DEFAULT_MAX_MOOV_BYTES);
  const { ftyp, moov } = layout;
  const moovBytes = new Uint8Array(await src.bytes(moov.start, moov.end - moov.start));
  const fragments = await readFragments(src, layout, options.maxMoovBytes ?? DEFAULT_MAX_MOOV_BYTES);
  const parts = parseMoovParts(moovBytes.subarray(moov.payload - moov.start), layout.brand, fragments);
  const samples = parts.fragmentSamples;
  return {
    info: parts.info,
    ftyp: { offset: ftyp.start, size: ftyp.end - ftyp.start, bytes: ftyp.bytes },
    moov: { offset: moov.start, size: moov.end - moov.start, bytes: moovBytes },
    sampleEntry: parts.video.sampleEntry.fourcc,
    codecConfig: parseCodecConfig(parts.view, parts.video.sampleEntry.box),
    firstSyncSample: samples === undefined ? locateFirstSyncSample(parts.view, parts.video, layout) : firstFragmentSyncSample(samples, layout),
    ...(options.allSyncSamples === true
      ? { syncSamples: samples === undefined ? locateSyncSamples(parts.view, parts.video, parts.track, layout) : fragmentSyncSamples(parts, layout) }
      : {}),
  };
}

/** The moof and prft boxes of a fragmented file, each read whole; undefined for a plain one. */
async function readFragments(src: WindowedReader, layout: TopLevelLayout, maxBytes: number): Promise<FragmentBytes | undefined> {
  if (layout.moofs.length === 0) return undefined;
  let total = 0;
  const whole = async (box: BoxHeader): Promise<Uint8Array> => {
    total += box.end - box.start;
    if (total > maxBytes) throw new Mp4IncompleteError('moov-too-large', `moof boxes exceed ${maxBytes} bytes`);
    return new Uint8Array(await src.bytes(box.start, box.end - box.start));
  };
  const moofs: FragmentBytes['moofs'] = [];
  for (const box of layout.moofs) moofs.push({ box, bytes: await whole(box) });
  const prfts: FragmentBytes['prfts'] = [];
  for (const { box, fragment } of layout.prfts) prfts.push({ box, bytes: await whole(box), fragment });
  return { moofs, prfts };
}

function checkInMdat(sample: FragmentSample, n: number, layout: TopLevelLayout): void {
  if (sample.size === 0) throw new Mp4IncompleteError('malformed', `sample ${n} is empty`);
  if (!layout.mdats.some((mdat) => sample.offset >= mdat.payload && sample.offset + sample.size <= mdat.end)) {
    throw new Mp4IncompleteError('malformed', `sample ${n} (${sample.size} bytes at ${sample.offset}) lies outside every mdat box`);
  }
}

function firstFragmentSyncSample(samples: readonly FragmentSample[], layout: TopLevelLayout): Mp4SyncSample {
  const index = samples.findIndex((sample) => sample.sync);
  const sample = samples[index];
  if (sample === undefined) throw new Mp4IncompleteError('malformed', 'no fragment holds a sync sample: the track has no keyframe');
  checkInMdat(sample, index + 1, layout);
  return { sampleNumber: index + 1, offset: sample.offset, size: sample.size };
}

function fragmentSyncSamples(parts: MoovParts, layout: TopLevelLayout): Mp4TimedSyncSample[] {
  const samples = parts.fragmentSamples ?? [];
  const mediaStart = editMediaStart(parts.view, parts.track);
  const out: Mp4TimedSyncSample[] = [];
  samples.forEach((sample, i) => {
    if (!sample.sync) return;
    checkInMdat(sample, i + 1, layout);
    const ticks = sample.decodeTicks + sample.compositionOffset - mediaStart;
    out.push({ sampleNumber: i + 1, offset: sample.offset, size: sample.size, presentationSeconds: ticks / parts.video.timescale });
  });
  return out;
}

/** readMp4Layout over a whole file in memory. */
export function readMp4LayoutBuffer(bytes: Uint8Array, options: InspectMp4Options = {}): Promise<Mp4Layout> {
  const read: RangeReader = async (offset, length) => bytes.subarray(offset, offset + length);
  return readMp4Layout(read, bytes.byteLength, options);
}

/** Convenience over a whole file already in memory. */
export function inspectMp4Buffer(bytes: Uint8Array, options: InspectMp4Options = {}): Promise<Mp4Info> {
  const read: RangeReader = async (offset, length) => bytes.subarray(offset, offset + length);
  return inspectMp4(read, bytes.byteLength, options);
}

/** Inspects a file on disk with positioned FileHandle reads (typically two). */
export async function inspectMp4File(path: string, options: InspectMp4Options = {}): Promise<Mp4Info> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const read: RangeReader = async (offset, length) => {
      const buffer = new Uint8Array(length);
      let filled = 0;
      // read() may return fewer bytes than asked even mid-file; loop until full or EOF.
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return buffer.subarray(0, filled);
    };
    return await inspectMp4(read, size, options);
  } finally {
    await handle.close();
  }
}
