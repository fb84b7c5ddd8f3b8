import { describe, expect, it } from 'vitest';
import { FrameReadError, parseFfmpegDuration } from '../src/frame-probe.js';

describe('parseFfmpegDuration', () => {
  it('reads the Duration line of ffmpeg stderr in ms', () => {
    expect(parseFfmpegDuration('  Duration: 00:00:03.00, start: 0.000000, bitrate: 1102 kb/s')).toBe(3000);
    expect(parseFfmpegDuration('  Duration: 00:00:03.07, start: 0.066667, bitrate: 1102 kb/s')).toBe(3070);
  });

  it('reads hours, minutes and fractional seconds', () => {
    expect(parseFfmpegDuration('Duration: 01:02:03.45, start: 0.000000')).toBe(3_723_450);
  });

  it('finds the line inside the whole stderr text', () => {
    const stderr = [
      "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'http://127.0.0.1:3000/buckets/b/objects/x.mp4?expires=1&signature=***':",
      '  Metadata:',
      '    major_brand     : isom',
      '  Duration: 00:00:02.00, start: 0.000000, bitrate: 300 kb/s',
    ].join('\n');
    expect(parseFfmpegDuration(stderr)).toBe(2000);
  });

  it('is undefined when ffmpeg reports no duration', () => {
    expect(parseFfmpegDuration('  Duration: N/A, bitrate: N/A')).toBeUndefined();
    expect(parseFfmpegDuration('')).toBeUndefined();
  });
});

describe('FrameReadError', () => {
  it('carries the HTTP status ffmpeg reported', () => {
    const error = new FrameReadError('ffmpeg could not decode a frame (exit 1): Server returned 404 Not Found', 404);
    expect(error.name).toBe('FrameReadError');
    expect(error.httpStatus).toBe(404);
    expect(error).toBeInstanceOf(Error);
  });
});
