import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SOURCE_ID_PATTERN, checkInteger, displayUrl, type ConfigProblem } from '@crispy-streamer/shared';

export type SourceKind = 'rtsp' | 'file' | 'http';
export type ChunkMode = 'copy' | 'encode';

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
  /** Keep the first audio track, re-encoded to AAC (MP4 cannot hold most camera audio codecs). */
  audio: boolean;
}

export const CHUNK_SECONDS_RANGE = { min: 1, max: 600 };
export const CRF_RANGE = { min: 0, max: 51 };
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'] as const;

export const SOURCE_DEFAULTS = {
  chunkSeconds: 3,
  mode: 'copy' as ChunkMode,
  encode: { codec: 'libx264', crf: 26, preset: 'veryfast' } as EncodeSettings,
  realtime: false,
  audio: false,
};

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
    report('id', `${JSON.stringify(raw.id ?? null)} is not a valid source id: use 1-64 letters, digits, '-' or '_' (it becomes part of file paths and object names)`);
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
  if (mode !== 'copy' && mode !== 'encode') report('mode', `${JSON.stringify(mode)} is not a mode: use "copy" (cut at keyframes) or "encode" (exact chunk lengths)`);

  const rawEncode = (raw.encode ?? {}) as Record<string, unknown>;
  const codec = rawEncode.codec ?? SOURCE_DEFAULTS.encode.codec;
  if (codec !== 'libx264' && codec !== 'libx265') report('encode.codec', `${JSON.stringify(codec)} is not supported: use libx264 or libx265`);
  const crf =
    rawEncode.crf === undefined ? SOURCE_DEFAULTS.encode.crf : checkInteger(rawEncode.crf, CRF_RANGE, (m) => report('encode.crf', m));
  const preset = rawEncode.preset ?? SOURCE_DEFAULTS.encode.preset;
  if (typeof preset !== 'string' || !(X264_PRESETS as readonly string[]).includes(preset)) {
    report('encode.preset', `${JSON.stringify(preset)} is not a preset: use one of ${X264_PRESETS.join(', ')}`);
  }

  for (const flag of ['realtime', 'audio'] as const) {
    if (raw[flag] !== undefined && typeof raw[flag] !== 'boolean') report(flag, `${JSON.stringify(raw[flag])} is not true or false`);
  }
  const known = new Set(['id', 'url', 'chunkSeconds', 'mode', 'encode', 'realtime', 'audio']);
  for (const key of Object.keys(raw)) if (!known.has(key)) report(key, 'is not a source setting (typo?)');

  if (problems.length > before || kind === undefined || chunkSeconds === undefined || crf === undefined) return undefined;
  return {
    id,
    url,
    displayUrl: displayUrl(url),
    kind,
    chunkSeconds,
    mode: mode as ChunkMode,
    encode: { codec: codec as EncodeSettings['codec'], crf, preset: preset as string },
    realtime: raw.realtime === true,
    audio: raw.audio === true,
  };
}
