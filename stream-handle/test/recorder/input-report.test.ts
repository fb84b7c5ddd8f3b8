import { describe, expect, it } from 'vitest';
import { InputReportReader, describeStreams, parseInputReport, parseStreamLine } from '../../src/recorder/input-report.js';

// Reports as Debian's ffmpeg 5.1 prints them for the inputs the issue names.
const VP9_ALPHA_WEBM = `Input #0, matroska,webm, from 'alpha.webm':
  Metadata:
    ENCODER         : Lavf59.27.100
  Duration: 00:00:04.00, start: 0.000000, bitrate: 976 kb/s
  Stream #0:0: Video: vp9 (Profile 0), yuv420p(tv, progressive), 720x1280, SAR 1:1 DAR 9:16, 30 fps, 30 tbr, 1k tbn
    Metadata:
      ALPHA_MODE      : 1
      ENCODER         : Lavc59.37.100 libvpx-vp9
At least one output file must be specified`;

const H264_MULAW_MKV = `Input #0, matroska,webm, from 'mulaw.mkv':
  Duration: 00:00:04.00, start: 0.000000, bitrate: 875 kb/s
  Stream #0:0: Video: h264 (Constrained Baseline), yuv420p(progressive), 320x240 [SAR 1:1 DAR 4:3], 30 fps, 30 tbr, 1k tbn
  Stream #0:1: Audio: pcm_mulaw ([7][0][0][0] / 0x0007), 8000 Hz, mono, s16, 64 kb/s
At least one output file must be specified`;

describe('parseStreamLine', () => {
  it('reads a video line with a track id, language, profile and tag', () => {
    expect(
      parseStreamLine(
        '  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 1280x720 [SAR 1:1 DAR 16:9], 287 kb/s, 29.97 fps, 30 tbr, 12800 tbn (default)',
      ),
    ).toEqual({
      index: 0,
      kind: 'video',
      codec: 'h264',
      pixelFormat: 'yuv420p',
      width: 1280,
      height: 720,
      fps: 29.97,
    });
  });

  it('reads an RTSP camera, a TS stream with a PID, audio with a language and a cover picture', () => {
    expect(
      parseStreamLine(
        '  Stream #0:0: Video: h264 (Constrained Baseline), yuv420p(tv, smpte170m, progressive), 640x360 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 90k tbn',
      ),
    ).toMatchObject({ codec: 'h264', pixelFormat: 'yuv420p', width: 640, height: 360 });
    expect(parseStreamLine('  Stream #0:0[0x100]: Video: hevc (Main) ([36][0][0][0] / 0x0024), yuv420p(tv), 1920x1080, 25 fps, 25 tbr, 90k tbn')).toMatchObject(
      { codec: 'hevc', width: 1920 },
    );
    expect(parseStreamLine('  Stream #0:1[0x2](eng): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 70 kb/s (default)')).toEqual({
      index: 1,
      kind: 'audio',
      codec: 'aac',
      sampleRate: 44100,
      channels: 'mono',
    });
    expect(
      parseStreamLine(
        '  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 600x600 [SAR 1:1 DAR 1:1], 90k tbr, 90k tbn (attached pic)',
      ),
    ).toMatchObject({ codec: 'mjpeg', attachedPicture: true });
    expect(parseStreamLine('  Stream #0:2: Data: none')).toEqual({ index: 2, kind: 'data', codec: 'none' });
    expect(parseStreamLine('  Stream mapping:')).toBeUndefined();
  });
});

describe('InputReportReader', () => {
  it('notes VP9 alpha from the track metadata, and ends at the end of the report', () => {
    const report = parseInputReport(VP9_ALPHA_WEBM);
    expect(report.complete).toBe(true);
    expect(report.streams).toEqual([{ index: 0, kind: 'video', codec: 'vp9', pixelFormat: 'yuv420p', width: 720, height: 1280, fps: 30, alpha: true }]);
  });

  it('collects every stream, and says when the report is complete during a recording', () => {
    const reader = new InputReportReader();
    const lines = H264_MULAW_MKV.replace('At least one output file must be specified', "Output #0, segment, to '/spool/cam0/cam0-%010d.mkv':").split('\n');
    const completedAt = lines.findIndex((line) => reader.feed(line));
    expect(completedAt).toBe(lines.length - 1);
    expect(reader.streams.map((s) => `${s.kind}:${s.codec}`)).toEqual(['video:h264', 'audio:pcm_mulaw']);
    expect(describeStreams(reader.streams)).toBe('video #0 h264 320x240 yuv420p; audio #1 pcm_mulaw 8000 Hz mono');
  });

  it('is incomplete when ffmpeg could not open the input', () => {
    expect(parseInputReport('[rtsp @ 0x55] method DESCRIBE failed: 401 Unauthorized\nrtsp://cam: Server returned 401 Unauthorized').complete).toBe(false);
  });
});
