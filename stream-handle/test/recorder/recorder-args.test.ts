import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planChunkFormat, type FormatPlan } from '../../src/recorder/format-plan.js';
import type { ProbedStream } from '../../src/recorder/input-report.js';
import { buildRecorderArgs, type RecorderArgsInput } from '../../src/recorder/recorder-args.js';
import type { SourceConfig } from '../../src/source/source-config.js';
import { sourceConfig } from '../support.js';

const H264: ProbedStream = { index: 0, kind: 'video', codec: 'h264', pixelFormat: 'yuv420p', width: 1280, height: 720 };
const AAC: ProbedStream = { index: 1, kind: 'audio', codec: 'aac', sampleRate: 48000, channels: 'stereo' };

function planFor(source: SourceConfig, streams: ProbedStream[]): FormatPlan {
  const planned = planChunkFormat(streams, { mode: source.mode, encodeCodec: source.encode.codec, audio: source.audio });
  if (!planned.ok) throw new Error(planned.reason);
  return planned.plan;
}

function build(overrides: Partial<SourceConfig>, input: Partial<Omit<RecorderArgsInput, 'source'>> = {}, streams: ProbedStream[] = [H264]) {
  const source = sourceConfig(overrides);
  return buildRecorderArgs({
    source,
    plan: planFor(source, streams),
    segmentDir: '/spool/cam0',
    firstSequence: 17,
    rtspTimeoutSeconds: 10,
    rtspTimeoutOption: '-timeout',
    ...input,
  });
}

/** The value after `option`, or undefined when the option is absent. */
function valueOf(args: string[], option: string): string | undefined {
  const index = args.indexOf(option);
  return index < 0 ? undefined : args[index + 1];
}

/** Whether `option value` appears as a consecutive pair. */
function hasPair(args: string[], option: string, value: string): boolean {
  return args.some((arg, i) => arg === option && args[i + 1] === value);
}

describe('buildRecorderArgs', () => {
  describe('copy mode', () => {
    const args = build({ mode: 'copy', chunkSeconds: 4 });

    it('copies the video stream without re-encoding or forcing keyframes', () => {
      expect(hasPair(args.outputOptions, '-c:v', 'copy')).toBe(true);
      expect(hasPair(args.outputOptions, '-map', '0:0')).toBe(true);
      expect(args.outputOptions).not.toContain('-force_key_frames');
      expect(args.outputOptions).not.toContain('-crf');
      // A keyframe a hair before the mark (timestamps rounded) still cuts there.
      expect(valueOf(args.outputOptions, '-segment_time_delta')).toBe('0.05');
    });

    it('cuts WebM or Matroska chunks, named .webm / .mkv, when the plan says so', () => {
      const alpha = build({}, {}, [{ ...H264, codec: 'vp9', alpha: true }]);
      expect(valueOf(alpha.outputOptions, '-segment_format')).toBe('webm');
      expect(alpha.outputPattern).toBe(join('/spool/cam0', 'cam0-%010d.webm'));
      const ffv1 = build({}, {}, [{ ...H264, codec: 'ffv1', pixelFormat: 'gray' }]);
      expect(valueOf(ffv1.outputOptions, '-segment_format')).toBe('matroska');
      expect(ffv1.outputPattern).toBe(join('/spool/cam0', 'cam0-%010d.mkv'));
    });

    it('tags copied H.265 hvc1', () => {
      expect(valueOf(build({}, {}, [{ ...H264, codec: 'hevc' }]).outputOptions, '-tag:v')).toBe('hvc1');
    });

    it('drops audio unless asked for it', () => {
      expect(args.outputOptions).toContain('-an');
      expect(args.outputOptions).not.toContain('-c:a');
    });

    it('cuts N-second MP4 segments numbered from the first sequence, listed on stdout', () => {
      const out = args.outputOptions;
      expect(valueOf(out, '-f')).toBe('segment');
      expect(valueOf(out, '-segment_time')).toBe('4');
      expect(valueOf(out, '-segment_format')).toBe('mp4');
      expect(valueOf(out, '-reset_timestamps')).toBe('1');
      expect(valueOf(out, '-segment_start_number')).toBe('17');
      expect(valueOf(out, '-segment_list')).toBe('pipe:1');
      expect(valueOf(out, '-segment_list_type')).toBe('csv');
      expect(valueOf(out, '-segment_list_flags')).toBe('live');
      expect(out.slice(0, 5)).toEqual(['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info']);
    });

    it('records a camera as fragmented MP4 with producer reference times, a file as plain MP4', () => {
      const camera = build({ kind: 'rtsp', url: 'rtsp://10.0.0.5/stream1' });
      expect(valueOf(camera.outputOptions, '-segment_format_options')).toBe('movflags=+frag_keyframe+empty_moov+default_base_moof:write_prft=wallclock');
      expect(args.outputOptions).not.toContain('-segment_format_options');
    });

    it('writes SOURCE-%010d.mp4 into the segment directory', () => {
      expect(args.outputPattern).toBe(join('/spool/cam0', 'cam0-%010d.mp4'));
      expect(args.input).toBe('/media/clip.mp4');
    });
  });

  describe('encode mode', () => {
    it('forces a keyframe every N seconds with x264 and turns scene cuts off', () => {
      const args = build({ mode: 'encode', chunkSeconds: 3, encode: { codec: 'libx264', crf: 23, preset: 'veryfast' } });
      const out = args.outputOptions;
      expect(valueOf(out, '-c:v')).toBe('libx264');
      expect(valueOf(out, '-force_key_frames')).toBe('expr:gte(t,n_forced*3)');
      expect(valueOf(out, '-crf')).toBe('23');
      expect(valueOf(out, '-preset')).toBe('veryfast');
      expect(valueOf(out, '-pix_fmt')).toBe('yuv420p');
      expect(valueOf(out, '-sc_threshold')).toBe('0');
      // Grey stays grey: the encoder is given the source's pixel format where it takes it.
      expect(valueOf(build({ mode: 'encode' }, {}, [{ ...H264, codec: 'ffv1', pixelFormat: 'gray' }]).outputOptions, '-pix_fmt')).toBe('gray');
      expect(valueOf(out, '-segment_time_delta')).toBe('0.05');
      expect(out).not.toContain('-tag:v');
      expect(out).not.toContain('copy');
    });

    it('tags x265 output hvc1 (playable in browsers and QuickTime) and turns scene cuts off', () => {
      const args = build({ mode: 'encode', chunkSeconds: 5, encode: { codec: 'libx265', crf: 28, preset: 'fast' } });
      const out = args.outputOptions;
      expect(valueOf(out, '-c:v')).toBe('libx265');
      expect(valueOf(out, '-tag:v')).toBe('hvc1');
      expect(valueOf(out, '-x265-params')).toBe('scenecut=0:log-level=error');
      expect(valueOf(out, '-force_key_frames')).toBe('expr:gte(t,n_forced*5)');
      expect(out).not.toContain('-sc_threshold');
    });
  });

  describe('audio', () => {
    it('copies an audio track MP4 holds, in copy and encode mode', () => {
      for (const mode of ['copy', 'encode'] as const) {
        const out = build({ audio: 'keep', mode }, {}, [H264, AAC]).outputOptions;
        expect(hasPair(out, '-map', '0:1')).toBe(true);
        expect(valueOf(out, '-c:a:0')).toBe('copy');
        expect(out).not.toContain('-an');
      }
    });

    it('re-encodes G.711 to AAC with audio: aac, and keeps it in Matroska with audio: keep', () => {
      const mulaw: ProbedStream = { index: 1, kind: 'audio', codec: 'pcm_mulaw', sampleRate: 8000, channels: 'mono' };
      const aac = build({ audio: 'aac' }, {}, [H264, mulaw]);
      expect(valueOf(aac.outputOptions, '-c:a:0')).toBe('aac');
      expect(valueOf(aac.outputOptions, '-b:a:0')).toBe('64k');
      expect(valueOf(aac.outputOptions, '-segment_format')).toBe('mp4');
      const keep = build({ audio: 'keep' }, {}, [H264, mulaw]);
      expect(valueOf(keep.outputOptions, '-c:a:0')).toBe('copy');
      expect(valueOf(keep.outputOptions, '-segment_format')).toBe('matroska');
    });

    it('drops audio when off', () => {
      const out = build({ audio: 'off' }, {}, [H264, AAC]).outputOptions;
      expect(out).toContain('-an');
      expect(out).not.toContain('0:1');
    });
  });

  describe('input options', () => {
    it('reads RTSP over the transport of the attempt', () => {
      for (const transport of ['udp', 'udp_multicast', 'http'] as const) {
        expect(valueOf(build({ url: 'rtsp://10.0.0.5/stream1' }, { transport }).inputOptions, '-rtsp_transport')).toBe(transport);
      }
    });

    it('reads RTSP over TCP with the socket timeout in microseconds, dropping corrupt packets', () => {
      const args = build({ url: 'rtsp://admin:secret@10.0.0.5/stream1' }, { rtspTimeoutSeconds: 7 });
      expect(args.inputOptions).toEqual(['-rtsp_transport', 'tcp', '-timeout', '7000000', '-fflags', '+genpts+discardcorrupt']);
      expect(args.input).toBe('rtsp://admin:secret@10.0.0.5/stream1');
    });

    it('uses -stimeout where the ffmpeg build needs it', () => {
      const args = build({ url: 'rtsp://10.0.0.5/stream1' }, { rtspTimeoutOption: '-stimeout', rtspTimeoutSeconds: 10 });
      expect(hasPair(args.inputOptions, '-stimeout', '10000000')).toBe(true);
      expect(args.inputOptions).not.toContain('-timeout');
    });

    it('reads a file as fast as possible unless realtime', () => {
      expect(build({ realtime: false }).inputOptions).toEqual([]);
      expect(build({ realtime: true }).inputOptions).toEqual(['-re']);
    });

    it('resumes a file a millisecond past the keyframe copying, and a millisecond before the frame encoding', () => {
      expect(build({}, { resumeAtSeconds: 12.5 }).inputOptions).toEqual(['-ss', '12.501000']);
      expect(build({ mode: 'encode' }, { resumeAtSeconds: 12.5 }).inputOptions).toEqual(['-ss', '12.499000']);
      expect(build({}, { resumeAtSeconds: 0 }).inputOptions).toEqual([]);
    });

    it('gives HTTP inputs a read timeout', () => {
      expect(build({ url: 'https://cdn.example/v.mp4' }).inputOptions).toEqual(['-rw_timeout', '30000000']);
      expect(build({ url: 'https://cdn.example/v.mp4', realtime: true }).inputOptions).toEqual(['-rw_timeout', '30000000', '-re']);
    });
  });
});
