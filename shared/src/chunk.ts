import { crc32c } from '@node-rs/crc32';

/** Everything known about one recorded chunk. Computed once, where the chunk is made. */
export interface ChunkMetadata {
  sourceId: string;
  /** Monotonic per source; continues across restarts. */
  sequence: number;
  /** UTC start of the chunk's first frame, ISO 8601 with milliseconds. */
  startTime: string;
  /** Exact media duration of the chunk's video track, in milliseconds. */
  durationMs: number;
  frameCount: number;
  frameRate: number;
  bytes: number;
  /** CRC32C of the bytes, base64 of the big-endian value: the form Cloud Storage uses. */
  crc32c: string;
  container: ChunkContainer;
  codec: string;
  width: number;
  height: number;
  /** How the chunk was cut: `copy` follows the camera's keyframes, `encode` is exact. */
  mode: 'copy' | 'encode';
  /**
   * Where the start time came from: `host` is this node's clock when ffmpeg received the first
   * frame; `camera` is the camera's own clock, from its RTCP Sender Report mapping (see
   * `cameraTime`); `file` is the creation time written in a video file or, without one, the
   * file's modification time less its duration.
   */
  clock: ChunkClock;
  /** Whether this node's clock was NTP-synchronised when the chunk was recorded. */
  clockSync: ClockSync;
  /** Which edge node recorded it. */
  recordedBy: string;
  /**
   * The video's pixel format as ffmpeg names it (`yuv420p`, `yuva420p` with alpha, `gray`,
   * `yuv420p10le`...): what the chunk holds. Absent in chunks recorded before it was kept.
   */
  pixelFormat?: string;
  /** What happened to each audio track of the source, in the source's order; empty: it had none. */
  audio?: AudioTrackOutcome[];
  /**
   * Planes, tracks or precision the source had and this chunk does not hold, each said in words
   * (`alpha plane: libx264 cannot encode it`, `subtitle stream #0:2`). Empty: nothing was dropped.
   */
  dropped?: string[];
  /** A camera: how its RTP packets came (`tcp`, `udp`, `udp_multicast`, `http`). */
  transport?: RtspTransport;
  /** A camera: RTP packets ffmpeg reported missing while it wrote this chunk (UDP can lose them). */
  packetsLost?: number;
  /** A camera: this node's clock's time of the first frame (what `startTime` is with `clock: host`). */
  hostTime?: string;
  /** A camera: the camera's own time of the first frame, when it has sent an RTCP Sender Report. */
  cameraTime?: string;
  /** A camera: how `cameraTime` was obtained, or why there is none. */
  cameraTimeSource?: CameraTimeSource;
  /** A camera with `cameraTime`: cameraTime minus hostTime, in whole milliseconds (signed). */
  clockOffsetMs?: number;
  /** The camera's clock stepped by this much (ms, signed) inside this chunk or since the chunk before. */
  cameraClockStepMs?: number;
  /** This node's wall clock stepped by this much (ms, signed, against its monotonic clock) since the chunk before. */
  hostClockStepMs?: number;
}

/**
 * How a chunk's camera time was obtained: `sender-report`: the producer reference time of its
 * first fragment, from the camera's RTCP Sender Report mapping; `sender-report-mapped-back`: its
 * first fragments came before the first Sender Report (they carry host time), so the time is a
 * later fragment's mapped back along the media timeline; `no-sender-report`: none of its
 * fragments carries the camera's time (no `cameraTime`); `not-recorded`: the chunk holds no
 * producer reference times (it was cut again, or recovered from a recording without them).
 */
export type CameraTimeSource = 'sender-report' | 'sender-report-mapped-back' | 'no-sender-report' | 'not-recorded';
export const CAMERA_TIME_SOURCES: readonly CameraTimeSource[] = ['sender-report', 'sender-report-mapped-back', 'no-sender-report', 'not-recorded'];

/** RTSP lower transports ffmpeg can read a camera over. */
export type RtspTransport = 'tcp' | 'udp' | 'udp_multicast' | 'http';
export const RTSP_TRANSPORTS: readonly RtspTransport[] = ['tcp', 'udp', 'udp_multicast', 'http'];

/** One audio track of the source and what the chunk made of it. */
export interface AudioTrackOutcome {
  /** The source's codec, as ffmpeg names it (`pcm_mulaw`, `aac`, `opus`). */
  codec: string;
  /** `kept`: copied as it was; `re-encoded`: to `to`, because the chunk's container cannot hold `codec`; `dropped`: not recorded. */
  outcome: 'kept' | 're-encoded' | 'dropped';
  /** The codec it was re-encoded to. */
  to?: string;
}

export type ChunkClock = 'host' | 'file' | 'camera';
export const CHUNK_CLOCKS: readonly ChunkClock[] = ['host', 'file', 'camera'];
export type ClockSync = 'synchronised' | 'unsynchronised' | 'unknown';
/**
 * The file format of a chunk: it decides the file extension, the object name and the content type.
 * MP4 where it holds the source's streams as they are; WebM (Matroska's web subset: VP8, VP9, AV1,
 * Opus, Vorbis) or Matroska for everything else (alpha, FFV1, PCM and G.711 audio).
 */
export type ChunkContainer = 'mp4' | 'webm' | 'mkv';
export const CHUNK_CONTAINERS: readonly ChunkContainer[] = ['mp4', 'webm', 'mkv'];

const CONTAINER_FORMATS: Readonly<Record<ChunkContainer, { extension: string; contentType: string }>> = {
  mp4: { extension: '.mp4', contentType: 'video/mp4' },
  webm: { extension: '.webm', contentType: 'video/webm' },
  mkv: { extension: '.mkv', contentType: 'video/x-matroska' },
};

export const CHUNK_JOB_NAME = 'upload-chunk';
/** The content type of an MP4 chunk; {@link chunkContentType} gives every container's. */
export const CHUNK_CONTENT_TYPE = CONTAINER_FORMATS.mp4.contentType;

/** The content type a chunk is stored with. */
export function chunkContentType(container: ChunkContainer): string {
  return CONTAINER_FORMATS[container].contentType;
}

/** The file extension of a chunk, dot included: it ends both its spool file name and its object name. */
export function chunkExtension(container: ChunkContainer): string {
  return CONTAINER_FORMATS[container].extension;
}

export function isChunkContainer(value: unknown): value is ChunkContainer {
  return typeof value === 'string' && (CHUNK_CONTAINERS as readonly string[]).includes(value);
}

/** Source ids end up in file paths, object names and job ids: keep them boring. */
export const SOURCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** BullMQ job ids may not contain ':'; the id makes enqueuing the same chunk twice harmless. */
export function chunkJobId(sourceId: string, sequence: number): string {
  return `${sourceId}.${sequence}`;
}

export function crc32cBase64(bytes: Uint8Array): string {
  return crc32cValueToBase64(crc32cUpdate(0, bytes));
}

/** CRC32C of `bytes` continued from `state` (0 to start): hashes a file piece by piece as it streams. */
export function crc32cUpdate(state: number, bytes: Uint8Array): number {
  return crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), state);
}

/** Base64 of the big-endian value, as Cloud Storage writes a CRC32C. */
export function crc32cValueToBase64(value: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0, 0);
  return out.toString('base64');
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** `20261123T093249.123Z`: sortable, and legal in every object store and file system. */
export function compactTimestamp(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new Error(`not a timestamp: ${iso}`);
  return (
    `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1, 2)}${pad(date.getUTCDate(), 2)}` +
    `T${pad(date.getUTCHours(), 2)}${pad(date.getUTCMinutes(), 2)}${pad(date.getUTCSeconds(), 2)}` +
    `.${pad(date.getUTCMilliseconds(), 3)}Z`
  );
}

/**
 * The object name of a chunk: `PREFIX/SOURCE/YYYY-MM-DD/SOURCE_START_SEQUENCE.mp4` (`.webm`,
 * `.mkv` for those containers; MP4 when none is given). Names sort by source, then day, then start
 * time; the sequence keeps them unique.
 */
export function chunkObjectName(prefix: string, metadata: Pick<ChunkMetadata, 'sourceId' | 'sequence' | 'startTime'> & { container?: ChunkContainer }): string {
  const stamp = compactTimestamp(metadata.startTime);
  const day = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}`;
  const cleanPrefix = prefix.replace(/^\/+|\/+$/g, '');
  const name = `${metadata.sourceId}/${day}/${metadata.sourceId}_${stamp}_${pad(metadata.sequence, 10)}${chunkExtension(metadata.container ?? 'mp4')}`;
  return cleanPrefix === '' ? name : `${cleanPrefix}/${name}`;
}

/** Custom metadata as stored on the object: every value a string, as Cloud Storage requires. */
export function toObjectMetadata(metadata: ChunkMetadata): Record<string, string> {
  return {
    source: metadata.sourceId,
    sequence: String(metadata.sequence),
    startTime: metadata.startTime,
    durationMs: String(metadata.durationMs),
    frameCount: String(metadata.frameCount),
    frameRate: String(metadata.frameRate),
    bytes: String(metadata.bytes),
    crc32c: metadata.crc32c,
    container: metadata.container,
    codec: metadata.codec,
    width: String(metadata.width),
    height: String(metadata.height),
    mode: metadata.mode,
    clock: metadata.clock,
    clockSync: metadata.clockSync,
    recordedBy: metadata.recordedBy,
    ...(metadata.pixelFormat === undefined ? {} : { pixelFormat: metadata.pixelFormat }),
    ...(metadata.audio === undefined ? {} : { audio: formatAudioOutcomes(metadata.audio) }),
    ...(metadata.dropped === undefined ? {} : { dropped: metadata.dropped.length === 0 ? 'nothing' : metadata.dropped.join('; ') }),
    ...(metadata.transport === undefined ? {} : { transport: metadata.transport }),
    ...(metadata.packetsLost === undefined ? {} : { packetsLost: String(metadata.packetsLost) }),
    ...(metadata.hostTime === undefined ? {} : { hostTime: metadata.hostTime }),
    ...(metadata.cameraTime === undefined ? {} : { cameraTime: metadata.cameraTime }),
    ...(metadata.cameraTimeSource === undefined ? {} : { cameraTimeSource: metadata.cameraTimeSource }),
    ...(metadata.clockOffsetMs === undefined ? {} : { clockOffsetMs: String(metadata.clockOffsetMs) }),
    ...(metadata.cameraClockStepMs === undefined ? {} : { cameraClockStepMs: String(metadata.cameraClockStepMs) }),
    ...(metadata.hostClockStepMs === undefined ? {} : { hostClockStepMs: String(metadata.hostClockStepMs) }),
  };
}

/** `pcm_mulaw:re-encoded:aac,aac:dropped` (`none`: the source had no audio), as object metadata holds it. */
export function formatAudioOutcomes(outcomes: readonly AudioTrackOutcome[]): string {
  if (outcomes.length === 0) return 'none';
  return outcomes.map((o) => [o.codec, o.outcome, ...(o.to === undefined ? [] : [o.to])].join(':')).join(',');
}

/** The reverse of {@link formatAudioOutcomes}; undefined when the text is not one. */
export function parseAudioOutcomes(text: string): AudioTrackOutcome[] | undefined {
  if (text === 'none') return [];
  const outcomes: AudioTrackOutcome[] = [];
  for (const part of text.split(',')) {
    const [codec, outcome, to, ...rest] = part.split(':');
    if (codec === undefined || codec === '' || rest.length > 0) return undefined;
    if (outcome !== 'kept' && outcome !== 're-encoded' && outcome !== 'dropped') return undefined;
    if ((outcome === 're-encoded') !== (to !== undefined && to !== '')) return undefined;
    outcomes.push(to === undefined ? { codec, outcome } : { codec, outcome, to });
  }
  return outcomes;
}

/** Reads chunk metadata back from an object's custom metadata; names what is missing or malformed. */
export function fromObjectMetadata(custom: Record<string, string | undefined>): ChunkMetadata {
  const missing: string[] = [];
  const text = (key: string): string => {
    const value = custom[key];
    if (value === undefined || value === '') missing.push(key);
    return value ?? '';
  };
  const num = (key: string): number => {
    const raw = text(key);
    const value = Number(raw);
    if (raw !== '' && !Number.isFinite(value)) missing.push(`${key} (not a number: ${raw})`);
    return value;
  };
  const mode = text('mode');
  const container = custom.container ?? 'mp4';
  if (!isChunkContainer(container)) missing.push(`container (not one we write: ${container})`);
  const metadata: ChunkMetadata = {
    sourceId: text('source'),
    sequence: num('sequence'),
    startTime: text('startTime'),
    durationMs: num('durationMs'),
    frameCount: num('frameCount'),
    frameRate: num('frameRate'),
    bytes: num('bytes'),
    crc32c: text('crc32c'),
    container: isChunkContainer(container) ? container : 'mp4',
    codec: text('codec'),
    width: num('width'),
    height: num('height'),
    mode: mode === 'encode' ? 'encode' : 'copy',
    clock: custom.clock === 'file' || custom.clock === 'camera' ? custom.clock : 'host',
    clockSync: custom.clockSync === 'synchronised' || custom.clockSync === 'unsynchronised' ? custom.clockSync : 'unknown',
    recordedBy: custom.recordedBy ?? '',
  };
  if (custom.pixelFormat !== undefined && custom.pixelFormat !== '') metadata.pixelFormat = custom.pixelFormat;
  if (custom.audio !== undefined) {
    const audio = parseAudioOutcomes(custom.audio);
    if (audio === undefined) missing.push(`audio (not CODEC:OUTCOME[:TO],...: ${custom.audio})`);
    else metadata.audio = audio;
  }
  if (custom.dropped !== undefined) metadata.dropped = custom.dropped === 'nothing' || custom.dropped === '' ? [] : custom.dropped.split('; ');
  if (custom.transport !== undefined) {
    if ((RTSP_TRANSPORTS as readonly string[]).includes(custom.transport)) metadata.transport = custom.transport as RtspTransport;
    else missing.push(`transport (not one of ${RTSP_TRANSPORTS.join(', ')}: ${custom.transport})`);
  }
  if (custom.packetsLost !== undefined) {
    const lost = Number(custom.packetsLost);
    if (Number.isSafeInteger(lost) && lost >= 0) metadata.packetsLost = lost;
    else missing.push(`packetsLost (not a count: ${custom.packetsLost})`);
  }
  for (const key of ['hostTime', 'cameraTime'] as const) {
    const value = custom[key];
    if (value === undefined) continue;
    if (isUtcMillis(value)) metadata[key] = value;
    else missing.push(`${key} (not a UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ: ${String(value)})`);
  }
  if (custom.cameraTimeSource !== undefined) {
    if ((CAMERA_TIME_SOURCES as readonly string[]).includes(custom.cameraTimeSource)) metadata.cameraTimeSource = custom.cameraTimeSource as CameraTimeSource;
    else missing.push(`cameraTimeSource (not one of ${CAMERA_TIME_SOURCES.join(', ')}: ${custom.cameraTimeSource})`);
  }
  for (const key of ['clockOffsetMs', 'cameraClockStepMs', 'hostClockStepMs'] as const) {
    const raw = custom[key];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (raw !== '' && Number.isSafeInteger(value)) metadata[key] = value;
    else missing.push(`${key} (not a whole number of milliseconds: ${raw})`);
  }
  if (missing.length > 0) throw new Error(`object metadata is missing or malformed: ${missing.join(', ')}`);
  return metadata;
}

/** UTC as Date#toISOString writes it. */
export const ISO_MILLIS_UTC_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A real UTC instant written as Date#toISOString writes it. */
export function isUtcMillis(value: unknown): value is string {
  return typeof value === 'string' && ISO_MILLIS_UTC_PATTERN.test(value) && new Date(value).toISOString() === value;
}
/** 4 bytes in canonical base64: the sixth character carries 2 bits, so its low 4 bits are zero. */
export const CRC32C_BASE64_PATTERN = /^[A-Za-z0-9+/]{5}[AQgw]==$/;

/**
 * Every way `value` falls short of chunk metadata as this version writes it; empty when it is
 * valid. For metadata read back from somewhere another process could write (a job, a spool file).
 */
export function chunkMetadataProblems(value: unknown): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return ['metadata is not an object'];
  const m = value as Record<string, unknown>;
  const problems: string[] = [];
  const check = (key: string, ok: (v: unknown) => boolean, what: string) => {
    if (!ok(m[key])) problems.push(`${key} must be ${what}, not ${JSON.stringify(m[key]) ?? 'missing'}`);
  };
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const finiteNonNegative = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  const text = (v: unknown) => typeof v === 'string';
  check('sourceId', (v) => typeof v === 'string' && SOURCE_ID_PATTERN.test(v), 'a source id');
  check('sequence', count, 'a whole number >= 0');
  check(
    'startTime',
    (v) => typeof v === 'string' && ISO_MILLIS_UTC_PATTERN.test(v) && new Date(v).toISOString() === v,
    'a UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ',
  );
  check('durationMs', finiteNonNegative, 'a number of milliseconds >= 0');
  check('frameCount', count, 'a whole number >= 0');
  check('frameRate', finiteNonNegative, 'a number >= 0');
  check('bytes', count, 'a whole number of bytes');
  check('crc32c', (v) => typeof v === 'string' && CRC32C_BASE64_PATTERN.test(v), 'base64 of 4 bytes');
  check('container', isChunkContainer, CHUNK_CONTAINERS.map((c) => `"${c}"`).join(', '));
  check('codec', text, 'a string');
  check('width', count, 'a whole number >= 0');
  check('height', count, 'a whole number >= 0');
  check('mode', (v) => v === 'copy' || v === 'encode', '"copy" or "encode"');
  check('clock', (v) => (CHUNK_CLOCKS as readonly unknown[]).includes(v), '"host", "camera" or "file"');
  check('clockSync', (v) => v === 'synchronised' || v === 'unsynchronised' || v === 'unknown', 'synchronised, unsynchronised or unknown');
  check('recordedBy', text, 'a string');
  // Absent in chunks recorded before these were kept; checked when present.
  const optional = (key: string, ok: (v: unknown) => boolean, what: string) => {
    if (m[key] !== undefined) check(key, ok, what);
  };
  optional('pixelFormat', (v) => typeof v === 'string' && /^[a-z0-9_]{1,32}$/.test(v), 'a pixel format name');
  optional('audio', (v) => Array.isArray(v) && v.every(isAudioTrackOutcome), 'a list of { codec, outcome, to? }');
  optional('dropped', (v) => Array.isArray(v) && v.every((item) => typeof item === 'string' && item !== '' && !item.includes('; ')), 'a list of descriptions');
  optional('transport', (v) => (RTSP_TRANSPORTS as readonly unknown[]).includes(v), RTSP_TRANSPORTS.join(', '));
  optional('packetsLost', count, 'a whole number >= 0');
  optional('hostTime', isUtcMillis, 'a UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ');
  optional('cameraTime', isUtcMillis, 'a UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ');
  optional('cameraTimeSource', (v) => (CAMERA_TIME_SOURCES as readonly unknown[]).includes(v), CAMERA_TIME_SOURCES.join(', '));
  const signedMs = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v);
  optional('clockOffsetMs', signedMs, 'a whole number of milliseconds');
  optional('cameraClockStepMs', signedMs, 'a whole number of milliseconds');
  optional('hostClockStepMs', signedMs, 'a whole number of milliseconds');
  if (m.clock === 'camera' && m.cameraTime === undefined) problems.push('clock is "camera" but cameraTime is missing');
  return problems;
}

function isAudioTrackOutcome(value: unknown): value is AudioTrackOutcome {
  if (value === null || typeof value !== 'object') return false;
  const o = value as Record<string, unknown>;
  const name = (v: unknown) => typeof v === 'string' && /^[a-z0-9_]{1,32}$/.test(v);
  if (!name(o.codec) || Object.keys(o).some((key) => key !== 'codec' && key !== 'outcome' && key !== 'to')) return false;
  if (o.outcome === 're-encoded') return name(o.to);
  return (o.outcome === 'kept' || o.outcome === 'dropped') && o.to === undefined;
}
