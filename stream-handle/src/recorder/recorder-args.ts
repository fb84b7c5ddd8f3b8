import { join } from 'node:path';
import { chunkFilePattern } from '@crispy-streamer/shared';
import type { SourceConfig } from '../source/source-config.js';

/** Which option sets the RTSP socket timeout depends on the ffmpeg build (see docs/ffmpeg.md). */
export type RtspTimeoutOption = '-timeout' | '-stimeout';

export interface RecorderArgsInput {
  source: SourceConfig;
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

function inputOptionsFor(input: RecorderArgsInput): string[] {
  const { source } = input;
  if (source.kind === 'rtsp') {
    return [
      '-rtsp_transport', 'tcp',
      input.rtspTimeoutOption, String(input.rtspTimeoutSeconds * 1_000_000),
      // Cameras send broken packets after glitches; drop them rather than stop.
      '-fflags', '+genpts+discardcorrupt',
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

function codecOptionsFor(source: SourceConfig): string[] {
  const audio = source.audio ? ['-map', '0:a:0?', '-c:a', 'aac', '-b:a', '64k'] : ['-an'];
  if (source.mode === 'copy') return ['-map', '0:v:0', ...audio.slice(0, 2), '-c:v', 'copy', ...audio.slice(2)];
  const n = source.chunkSeconds;
  const codec = source.encode.codec;
  return [
    '-map', '0:v:0', ...audio.slice(0, 2),
    '-c:v', codec,
    '-preset', source.encode.preset,
    '-crf', String(source.encode.crf),
    '-pix_fmt', 'yuv420p',
    // A keyframe exactly every N seconds, and none from scene cuts, so every chunk is N seconds.
    '-force_key_frames', `expr:gte(t,n_forced*${n})`,
    ...(codec === 'libx264' ? ['-sc_threshold', '0'] : ['-x265-params', 'scenecut=0:log-level=error', '-tag:v', 'hvc1']),
    ...audio.slice(2),
    // Forced keyframe times are rounded to the time base; without a little slack the muxer
    // would skip a boundary keyframe and make a chunk twice as long.
    '-segment_time_delta', '0.05',
  ];
}

/** The ffmpeg command that records one source into sequence-numbered MP4 chunks. */
export function buildRecorderArgs(input: RecorderArgsInput): RecorderArgs {
  const { source } = input;
  return {
    input: source.url,
    inputOptions: inputOptionsFor(input),
    outputPattern: join(input.segmentDir, chunkFilePattern(source.id, 'mp4')),
    outputOptions: [
      '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info',
      ...codecOptionsFor(source),
      '-f', 'segment',
      '-segment_time', String(source.chunkSeconds),
      '-segment_format', 'mp4',
      '-reset_timestamps', '1',
      '-segment_start_number', String(input.firstSequence),
      // ffmpeg prints "name,start,end" here after it has written a chunk's trailer: our signal
      // that the chunk is complete.
      '-segment_list', 'pipe:1',
      '-segment_list_type', 'csv',
      '-segment_list_flags', 'live',
    ],
  };
}
