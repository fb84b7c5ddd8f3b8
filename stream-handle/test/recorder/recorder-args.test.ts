import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRecorderArgs, type RecorderArgsInput } from '../../src/recorder/recorder-args.js';
import type { SourceConfig } from '../../src/source/source-config.js';
import { sourceConfig } from '../support.js';

function build(source: Partial<SourceConfig>, input: Partial<Omit<RecorderArgsInput, 'source'>> = {}) {
  return buildRecorderArgs({
    source: sourceConfig(source),
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
      expect(hasPair(args.outputOptions, '-map', '0:v:0')).toBe(true);
      expect(args.outputOptions).not.toContain('-force_key_frames');
      expect(args.outputOptions).not.toContain('-crf');
      expect(args.outputOptions).not.toContain('-segment_time_delta');
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
    it('maps the first audio track if there is one and encodes it to AAC, in copy mode', () => {
      const out = build({ audio: true }).outputOptions;
      expect(hasPair(out, '-map', '0:a:0?')).toBe(true);
      expect(valueOf(out, '-c:a')).toBe('aac');
      expect(valueOf(out, '-b:a')).toBe('64k');
      expect(out).not.toContain('-an');
    });

    it('does the same in encode mode', () => {
      const out = build({ audio: true, mode: 'encode' }).outputOptions;
      expect(hasPair(out, '-map', '0:a:0?')).toBe(true);
      expect(valueOf(out, '-c:a')).toBe('aac');
      expect(out).not.toContain('-an');
    });
  });

  describe('input options', () => {
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
