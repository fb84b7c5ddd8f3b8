import { describe, expect, it } from 'vitest';
import {
  classifyFfmpegFailure,
  isClockRestart,
  isNoteworthyLine,
  isOutputOpenedLine,
  parseCreationTime,
  parseLostPackets,
  parseTimestampStep,
  videoTicksPerSecond,
} from '../../src/recorder/ffmpeg-log.js';

// Tails as ffmpeg 5.1 prints them (passwords already redacted by the recorder).
const UNAUTHORIZED = [
  '[rtsp @ 0x55f0d6a3c8c0] method DESCRIBE failed: 401 Unauthorized',
  'rtsp://admin:***@127.0.0.1:8554/cam: Server returned 401 Unauthorized (authorization failed)',
];
const REFUSED = [
  '[tcp @ 0x5626b7e0a240] Connection to tcp://127.0.0.1:1?timeout=10000000 failed: Connection refused',
  'rtsp://127.0.0.1:1/stream: Connection refused',
];
const NOT_FOUND = ['[rtsp @ 0x5581a8e4f7c0] method DESCRIBE failed: 404 Not Found', 'rtsp://127.0.0.1:8554/nope: Server returned 404 Not Found'];
const TIMED_OUT = [
  '[tcp @ 0x55d1c2b0] Connection to tcp://192.0.2.10:554?timeout=10000000 failed: Connection timed out',
  'rtsp://192.0.2.10:554/s: Connection timed out',
];
const NOT_VIDEO = ['/media/notes.mp4: Invalid data found when processing input'];
const DISK_FULL = [
  "[segment @ 0x5581a8e4f7c0] Failure occurred when ending segment '/spool/cam0/cam0-0000000004.mp4'",
  'av_interleaved_write_frame(): No space left on device',
  'Error writing trailer of /spool/cam0/cam0-%010d.mp4: No space left on device',
  'Conversion failed!',
];
const NO_VIDEO_STREAM = ["Stream map '0:v:0' matches no streams.", "To ignore this, add a trailing '?' to the map."];
const MISSING_FILE = ['/media/missing.mp4: No such file or directory'];

describe('classifyFfmpegFailure', () => {
  it.each([
    [
      'a 401 from the camera',
      UNAUTHORIZED,
      'unauthorized',
      true,
      'the camera refused the credentials (401/403, Basic or Digest): check the user and password in the URL',
    ],
    ['a refused connection', REFUSED, 'unreachable', true, 'cannot reach the camera: check the host, port and network'],
    ['a 404 from the camera', NOT_FOUND, 'not-found', true, 'the camera has no stream at this path: check the path in the URL'],
    ['a connect timeout', TIMED_OUT, 'timeout', true, 'the camera stopped answering: check that it is powered and on the network'],
    ['a file that is not video', NOT_VIDEO, 'not-video', false, 'ffmpeg cannot read this as video: check that the source is a video file or stream'],
    ['a full disk', DISK_FULL, 'disk-full', true, 'the spool disk is full: free space or lower the upload backlog'],
    ['a source without video', NO_VIDEO_STREAM, 'no-video-stream', false, 'the source has no video stream: point the source at a video'],
    ['a missing file', MISSING_FILE, 'not-found', false, 'the file does not exist: check the path'],
  ])('recognises %s', (_label, lines, kind, retryable, advice) => {
    expect(classifyFfmpegFailure(lines)).toMatchObject({ kind, retryable, advice });
  });

  it.each([
    [
      'FFV1 into MP4',
      [
        '[mp4 @ 0x5601] Could not find tag for codec ffv1 in stream #0, codec not currently supported in container',
        'Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument',
        'Error initializing output stream 0:0 -- ',
      ],
      'unsupported-codec',
      0,
    ],
    [
      'G.711 into MP4',
      ['[mp4 @ 0x55e9] Could not find tag for codec pcm_mulaw in stream #1, codec not currently supported in container', 'Conversion failed!'],
      'unsupported-codec',
      0,
    ],
    [
      'a UDP-only camera asked for TCP',
      ['[rtsp @ 0x55a0] method SETUP failed: 461 Unsupported transport', 'rtsp://127.0.0.1:8554/cam0: Protocol not supported'],
      'unsupported-transport',
      0,
    ],
    [
      'a Digest camera refusing the password',
      [
        '[rtsp @ 0x5590] method DESCRIBE failed: 401 Unauthorized',
        'rtsp://viewer:***@127.0.0.1:8554/cam0: Server returned 401 Unauthorized (authorization failed)',
      ],
      'unauthorized',
      1,
    ],
  ])('names %s with the line that proved it', (_label, lines, kind, provingLine) => {
    const failure = classifyFfmpegFailure(lines);
    expect(failure.kind).toBe(kind);
    expect(failure.line).toBe(lines[provingLine]);
    expect(failure.advice.length).toBeGreaterThan(20);
  });

  it('lets the last recognisable line decide', () => {
    expect(classifyFfmpegFailure([...REFUSED, ...UNAUTHORIZED, 'Exiting normally, received signal 2.']).kind).toBe('unauthorized');
    expect(classifyFfmpegFailure([...UNAUTHORIZED, ...REFUSED]).kind).toBe('unreachable');
  });

  it('is unknown and retryable when no line is recognised, or there are none', () => {
    const unknown = { kind: 'unknown', retryable: true, advice: "see ffmpeg's last lines in this log" } as const;
    expect(classifyFfmpegFailure(['Exiting normally, received signal 15.'])).toEqual(unknown);
    expect(classifyFfmpegFailure([])).toEqual(unknown);
  });
});

describe('parseCreationTime', () => {
  it('reads the creation time from an input metadata line as epoch ms', () => {
    expect(parseCreationTime('    creation_time   : 2024-05-01T10:00:00.000000Z')).toBe(Date.UTC(2024, 4, 1, 10, 0, 0));
    expect(parseCreationTime('creation_time:2026-11-23T09:32:49.123000Z')).toBe(Date.parse('2026-11-23T09:32:49.123Z'));
  });

  it('is undefined for other lines and for unparseable times', () => {
    expect(parseCreationTime('    encoder         : Lavf59.27.100')).toBeUndefined();
    expect(parseCreationTime('    creation_time   : yesterday')).toBeUndefined();
    expect(parseCreationTime("Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mp4':")).toBeUndefined();
  });
});

describe('isOutputOpenedLine', () => {
  it('is true for the line ffmpeg prints when it opens the segment output', () => {
    expect(isOutputOpenedLine("Output #0, segment, to '/spool/cam0/cam0-%010d.mp4':")).toBe(true);
  });

  it('is false for input and other lines', () => {
    expect(isOutputOpenedLine("Input #0, rtsp, from 'rtsp://admin:***@10.0.0.5/s':")).toBe(false);
    expect(isOutputOpenedLine('  Stream #0:0 -> #0:0 (copy)')).toBe(false);
    expect(isOutputOpenedLine(' Output #0, segment')).toBe(false);
  });
});

describe('isNoteworthyLine', () => {
  it('flags problem lines and lets progress lines through as debug', () => {
    expect(isNoteworthyLine('[h264 @ 0x5626] error while decoding MB 12 34')).toBe(true);
    expect(isNoteworthyLine(REFUSED[0] ?? '')).toBe(true);
    expect(isNoteworthyLine('[rtsp @ 0x55] RTP: missed 3 packets')).toBe(false);
    expect(isNoteworthyLine("[segment @ 0x55] Opening '/spool/cam0/cam0-0000000001.mp4' for writing")).toBe(false);
  });
});

describe('parseLostPackets', () => {
  it('counts what ffmpeg says RTP lost, and nothing else', () => {
    expect(parseLostPackets('[rtsp @ 0x5581] RTP: missed 17 packets')).toBe(17);
    expect(parseLostPackets('[rtsp @ 0x5581] RTP: dropping old packet received too late')).toBe(1);
    expect(parseLostPackets('[rtsp @ 0x5581] max delay reached. need to consume packet')).toBe(0);
  });
});

describe('timestamps out of order', () => {
  const equalAtStart =
    '[segment @ 0x5584f7cbbcc0] Non-monotonous DTS in output stream 0:0; previous: 0, current: 0; changing to 1. This may result in incorrect timestamps in the output file.';
  const restarted = '[mp4 @ 0x55] Non-monotonous DTS in output stream 0:0; previous: 2700000, current: 3000; changing to 2700001.';
  const muxerForm = '[mp4 @ 0x55] Application provided invalid, non monotonically increasing dts to muxer in stream 0: 5400000 >= 900';

  it('reads both forms of the line, and nothing from other lines', () => {
    expect(parseTimestampStep(equalAtStart)).toEqual({ previous: 0, current: 0 });
    expect(parseTimestampStep(restarted)).toEqual({ previous: 2_700_000, current: 3000 });
    expect(parseTimestampStep(muxerForm)).toEqual({ previous: 5_400_000, current: 900 });
    expect(parseTimestampStep('frame=  100 fps= 30 q=-1.0 size=N/A time=00:00:03.33')).toBeUndefined();
  });

  it('a camera restarting its clock goes back a second or more; two packets with one timestamp at the start do not', () => {
    // What the compose stack's demo camera sends at the start of every recording: recording
    // again for it cut every chunk to under a second, with a gap after each.
    expect(isClockRestart({ previous: 0, current: 0 }, videoTicksPerSecond('mp4'))).toBe(false);
    expect(isClockRestart({ previous: 90_000, current: 3_000 }, videoTicksPerSecond('mp4'))).toBe(false);
    expect(isClockRestart({ previous: 2_700_000, current: 3_000 }, videoTicksPerSecond('mp4'))).toBe(true);
    expect(isClockRestart({ previous: 900, current: 3 }, videoTicksPerSecond('mkv'))).toBe(false);
    expect(isClockRestart({ previous: 30_000, current: 3 }, videoTicksPerSecond('webm'))).toBe(true);
  });
});
