import { join } from 'node:path';
import { chunkFilePattern, type RtspTransport } from '@crispy-streamer/shared';
import type { SourceConfig } from '../source/source-config.js';
import type { FormatPlan } from './format-plan.js';

/** Which option sets the RTSP socket timeout depends on the ffmpeg build (see docs/ffmpeg.md). */
export type RtspTimeoutOption = '-timeout' | '-stimeout';

export interface RecorderArgsInput {
  source: SourceConfig;
  /** The container and stream options decided from the source's streams. */
  plan: FormatPlan;
  /** A camera: the RTSP lower transport of this attempt. */
  transport?: RtspTransport;
  segmentDir: string;
  firstSequence: number;
  /** A file resumed where an earlier run stopped: media seconds from its start. */
  resumeAtSeconds?: number;
  rtspTimeoutSeconds: number;
  rtspTimeoutOption: RtspTimeoutOption;
}

export interface RecorderArgs {
  input: string;
  inputOptions: string[];
  outputPattern: string;
  outputOptions: string[];
}

/** ffmpeg's input options for a source: the same for a probe of it as for its recording. */
export function recorderInputOptions(input: Omit<RecorderArgsInput, 'plan' | 'segmentDir' | 'firstSequence'>): string[] {
  const { source } = input;
  if (source.kind === 'rtsp') {
    return [
      '-rtsp_transport',
      input.transport ?? 'tcp',
      input.rtspTimeoutOption,
      String(input.rtspTimeoutSeconds * 1_000_000),
      // Cameras send broken packets after glitches; drop them rather than stop.
      '-fflags',
      '+genpts+discardcorrupt',
    ];
  }
  const options: string[] = [];
  if (source.kind === 'http') options.push('-rw_timeout', String(30_000_000));
  if (input.resumeAtSeconds !== undefined && input.resumeAtSeconds > 0) options.push('-ss', resumeSeekSeconds(source, input.resumeAtSeconds));
  if (source.realtime) options.push('-re');
  return options;
}

/**
 * Where to seek to resume at `atSeconds`, the end of the last chunk (so the start of a keyframe).
 * Copying, ffmpeg starts at the last keyframe at or before the seek point: a millisecond past it
 * lands on that keyframe despite rounding. Encoding, it drops every frame before the seek point:
 * a millisecond before it keeps the frame that starts there.
 */
export function resumeSeekSeconds(source: Pick<SourceConfig, 'mode'>, atSeconds: number): string {
  return Math.max(0, atSeconds + (source.mode === 'copy' ? 0.001 : -0.001)).toFixed(6);
}

function codecOptionsFor(source: SourceConfig, plan: FormatPlan): string[] {
  // Copy mode cuts at the first keyframe at or after each N-second mark; a keyframe a hair early
  // (timestamps rounded to the time base) still counts, so a GOP that divides N gives N-second chunks.
  if (source.mode === 'copy') return [...plan.streamOptions, '-segment_time_delta', '0.05'];
  const n = source.chunkSeconds;
  const codec = source.encode.codec;
  return [
    ...plan.streamOptions,
    '-preset',
    source.encode.preset,
    '-crf',
    String(source.encode.crf),
    '-pix_fmt',
    plan.encodePixelFormat ?? 'yuv420p',
    // A keyframe exactly every N seconds, and none from scene cuts, so every chunk is N seconds.
    '-force_key_frames',
    `expr:gte(t,n_forced*${n})`,
    ...(codec === 'libx264' ? ['-sc_threshold', '0'] : ['-x265-params', 'scenecut=0:log-level=error']),
    // Forced keyframe times are rounded to the time base; without a little slack the muxer
    // would skip a boundary keyframe and make a chunk twice as long.
    '-segment_time_delta',
    '0.05',
  ];
}

/**
 * A camera's MP4 chunks are fragmented, with a producer reference time box (prft) before each
 * fragment: once the camera's first RTCP Sender Report has arrived, ffmpeg writes there the
 * camera's own NTP time of the fragment's first frame (before it, its own clock when it writes the
 * fragment). That is how a chunk learns the camera's clock; see docs/evidence.md.
 */
export const LIVE_MP4_FORMAT_OPTIONS = 'movflags=+frag_keyframe+empty_moov+default_base_moof:write_prft=wallclock';

function liveMp4Options(source: SourceConfig, plan: FormatPlan): string[] {
  return source.kind === 'rtsp' && plan.container === 'mp4' ? ['-segment_format_options', LIVE_MP4_FORMAT_OPTIONS] : [];
}

/** The ffmpeg command that records one source into sequence-numbered chunks of the plan's container. */
export function buildRecorderArgs(input: RecorderArgsInput): RecorderArgs {
  const { source, plan } = input;
  return {
    input: source.url,
    inputOptions: recorderInputOptions(input),
    outputPattern: join(input.segmentDir, chunkFilePattern(source.id, plan.container)),
    outputOptions: [
      '-hide_banner',
      '-nostdin',
      '-nostats',
      '-loglevel',
      'info',
      ...codecOptionsFor(source, plan),
      '-f',
      'segment',
      '-segment_time',
      String(source.chunkSeconds),
      '-segment_format',
      plan.segmentFormat,
      ...liveMp4Options(source, plan),
      '-reset_timestamps',
      '1',
      '-segment_start_number',
      String(input.firstSequence),
      // ffmpeg prints "name,start,end" here after it has written a chunk's trailer: our signal
      // that the chunk is complete.
      '-segment_list',
      'pipe:1',
      '-segment_list_type',
      'csv',
      '-segment_list_flags',
      'live',
    ],
  };
}
