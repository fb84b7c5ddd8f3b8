import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { RTSP_TRANSPORTS, SOURCE_ID_PATTERN, checkInteger, displayUrl, type ConfigProblem, type RtspTransport } from '@crispy-streamer/shared';
import type { AudioPolicy } from '../recorder/format-plan.js';

export type SourceKind = 'rtsp' | 'file' | 'http';
export type ChunkMode = 'copy' | 'encode';
/** How a camera is read: one RTSP lower transport, or `auto` (TCP first, then what the camera offers). */
export type RtspTransportSetting = RtspTransport | 'auto';
export const RTSP_TRANSPORT_SETTINGS: readonly RtspTransportSetting[] = [...RTSP_TRANSPORTS, 'auto'];

export interface EncodeSettings {
  codec: 'libx264' | 'libx265';
  crf: number;
  preset: string;
}

export interface SourceConfig {
  id: string;
  /** The URL as given, password included: only ever handed to ffmpeg. */
  url: string;
  /** The URL with its password redacted: for logs, errors and job data. */
  displayUrl: string;
  kind: SourceKind;
  chunkSeconds: number;
  mode: ChunkMode;
  encode: EncodeSettings;
  /** Read files at their own pace (as a camera would send them) instead of as fast as possible. */
  realtime: boolean;
  /**
   * The source's audio: `off` drops it; `keep` copies every track as it is (chunks become Matroska
   * when MP4 cannot hold the codec, e.g. G.711); `aac` re-encodes what MP4 cannot hold, so chunks
   * stay MP4. Written `false`, `true` (= keep), `keep` or `aac`.
   */
  audio: AudioPolicy;
  /** Cameras: how RTP reaches us. */
  transport: RtspTransportSetting;
}

export const CHUNK_SECONDS_RANGE = { min: 1, max: 600 };
export const CRF_RANGE = { min: 0, max: 51 };
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'] as const;

export const SOURCE_DEFAULTS = {
  chunkSeconds: 3,
  mode: 'copy' as ChunkMode,
  encode: { codec: 'libx264', crf: 26, preset: 'veryfast' } as EncodeSettings,
  realtime: false,
  audio: 'off' as AudioPolicy,
  transport: 'tcp' as RtspTransportSetting,
};

/** `false`/`off`, `true`/`keep`, `aac`; undefined for anything else. */
export function audioPolicyOf(value: unknown): AudioPolicy | undefined {
  if (value === false || value === 'off' || value === 'false') return 'off';
  if (value === true || value === 'keep' || value === 'true') return 'keep';
  if (value === 'aac') return 'aac';
  return undefined;
}

/** Classifies a source URL; undefined for anything ffmpeg should not be pointed at. */
export function sourceKindOf(url: string): SourceKind | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return url.startsWith('/') || url.startsWith('.') || !url.includes(':') ? 'file' : undefined;
  if (scheme === 'rtsp' || scheme === 'rtsps') return 'rtsp';
  if (scheme === 'http' || scheme === 'https') return 'http';
  if (scheme === 'file') return 'file';
  return undefined;
}

function filePathOf(url: string, baseDir: string): string {
  return url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : resolve(baseDir, url);
}

type RawSource = Record<string, unknown>;

/**
 * Validates one source as written in a config file or built from env.
 * `where` names it in messages (`sources[1]`), `baseDir` resolves relative file paths.
 */
export function parseSource(raw: RawSource, where: string, baseDir: string, problems: ConfigProblem[]): SourceConfig | undefined {
  const report = (field: string, message: string) => problems.push({ setting: `${where}.${field}`, message });
  const before = problems.length;

  const id = typeof raw.id === 'string' ? raw.id : '';
  if (!SOURCE_ID_PATTERN.test(id)) {
    report(
      'id',
      `${JSON.stringify(raw.id ?? null)} is not a valid source id: use 1-64 letters, digits, '-' or '_' (it becomes part of file paths and object names)`,
    );
  }

  const rawUrl = typeof raw.url === 'string' ? raw.url.trim() : '';
  let url = rawUrl;
  const kind = rawUrl === '' ? undefined : sourceKindOf(rawUrl);
  if (rawUrl === '') report('url', 'is required: an rtsp:// or rtsps:// camera URL, an http(s):// video URL, or a local file path');
  else if (kind === undefined) {
    report('url', `${displayUrl(rawUrl)} has a scheme we cannot record: use rtsp://, rtsps://, http(s):// or a local file path`);
  } else if (kind === 'file') {
    url = filePathOf(rawUrl, baseDir);
    if (!existsSync(url)) report('url', `file ${url} does not exist: check the path (relative paths are resolved from ${baseDir})`);
    else if (!statSync(url).isFile()) report('url', `${url} is not a regular file`);
  } else {
    try {
      new URL(rawUrl);
    } catch {
      report('url', `${displayUrl(rawUrl)} is not a valid URL`);
    }
  }

  const chunkSeconds =
    raw.chunkSeconds === undefined
      ? SOURCE_DEFAULTS.chunkSeconds
      : checkInteger(raw.chunkSeconds, CHUNK_SECONDS_RANGE, (m) => report('chunkSeconds', `${m} (seconds per chunk)`));

  const mode = raw.mode ?? SOURCE_DEFAULTS.mode;
  if (mode !== 'copy' && mode !== 'encode')
    report('mode', `${JSON.stringify(mode)} is not a mode: use "copy" (cut at keyframes) or "encode" (exact chunk lengths)`);

  const rawEncode = (raw.encode ?? {}) as Record<string, unknown>;
  const codec = rawEncode.codec ?? SOURCE_DEFAULTS.encode.codec;
  if (codec !== 'libx264' && codec !== 'libx265') report('encode.codec', `${JSON.stringify(codec)} is not supported: use libx264 or libx265`);
  const crf = rawEncode.crf === undefined ? SOURCE_DEFAULTS.encode.crf : checkInteger(rawEncode.crf, CRF_RANGE, (m) => report('encode.crf', m));
  const preset = rawEncode.preset ?? SOURCE_DEFAULTS.encode.preset;
  if (typeof preset !== 'string' || !(X264_PRESETS as readonly string[]).includes(preset)) {
    report('encode.preset', `${JSON.stringify(preset)} is not a preset: use one of ${X264_PRESETS.join(', ')}`);
  }

  if (raw.realtime !== undefined && typeof raw.realtime !== 'boolean') report('realtime', `${JSON.stringify(raw.realtime)} is not true or false`);
  const audio = raw.audio === undefined ? SOURCE_DEFAULTS.audio : audioPolicyOf(raw.audio);
  if (audio === undefined) {
    report(
      'audio',
      `${JSON.stringify(raw.audio)} is not an audio setting: use false (drop audio), true or "keep" (keep it as the source has it; chunks become Matroska where MP4 cannot hold it), or "aac" (re-encode what MP4 cannot hold, to keep MP4 chunks)`,
    );
  }
  const transport = raw.transport ?? SOURCE_DEFAULTS.transport;
  if (!(RTSP_TRANSPORT_SETTINGS as readonly unknown[]).includes(transport)) {
    report(
      'transport',
      `${JSON.stringify(transport)} is not an RTSP transport: use ${RTSP_TRANSPORT_SETTINGS.join(', ')} (auto: TCP first, then what the camera offers)`,
    );
  }
  const known = new Set(['id', 'url', 'chunkSeconds', 'mode', 'encode', 'realtime', 'audio', 'transport']);
  for (const key of Object.keys(raw)) if (!known.has(key)) report(key, 'is not a source setting (typo?)');

  if (problems.length > before || kind === undefined || chunkSeconds === undefined || crf === undefined || audio === undefined) return undefined;
  return {
    id,
    url,
    displayUrl: displayUrl(url),
    kind,
    chunkSeconds,
    mode: mode as ChunkMode,
    encode: { codec: codec as EncodeSettings['codec'], crf, preset: preset as string },
    realtime: raw.realtime === true,
    audio,
    transport: transport as RtspTransportSetting,
  };
}
