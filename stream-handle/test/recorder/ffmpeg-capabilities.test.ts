import { describe, expect, it } from 'vitest';
import { rtspTimeoutOptionFromHelp } from '../../src/recorder/ffmpeg-capabilities.js';

// Excerpts of `ffmpeg -hide_banner -h demuxer=rtsp`.
const FFMPEG_5_1_HELP = `Demuxer rtsp [RTSP input]:
RTSP demuxer AVOptions:
  -rtsp_transport    <flags>      ED......... set RTSP transport protocols (default 0)
  -listen_timeout    <int>        .D......... set maximum timeout (in seconds) to wait for incoming connections (-1 is infinite, imply flag listen) (from INT_MIN to INT_MAX) (default -1)
  -timeout           <int64>      .D......... set timeout (in microseconds) of socket I/O operations (from INT_MIN to I64_MAX) (default 0)
  -reorder_queue_size <int>        .D......... set number of packets to buffer for handling of reordered packets (from -1 to INT_MAX) (default -1)
`;

// The 2018 static build bundled through npm: -timeout is the listen timeout there.
const FFMPEG_2018_HELP = `Demuxer rtsp [RTSP input]:
RTSP demuxer AVOptions:
  -listen_timeout    <int>        .D....... set maximum timeout (in seconds) to wait for incoming connections (-1 is infinite, imply flag listen) (from INT_MIN to INT_MAX) (default -1)
  -timeout           <int>        .D....... set maximum timeout (in seconds) to wait for incoming connections (-1 is infinite, imply flag listen) (deprecated, use listen_timeout) (from INT_MIN to INT_MAX) (default -1)
  -stimeout          <int>        .D....... set timeout (in microseconds) of socket TCP I/O operations (from INT_MIN to INT_MAX) (default 0)
`;

describe('rtspTimeoutOptionFromHelp', () => {
  it('chooses -stimeout when the build has that option', () => {
    expect(rtspTimeoutOptionFromHelp(FFMPEG_2018_HELP)).toBe('-stimeout');
  });

  it('chooses -timeout for ffmpeg 5 and later, which have no -stimeout', () => {
    expect(rtspTimeoutOptionFromHelp(FFMPEG_5_1_HELP)).toBe('-timeout');
  });

  it('is not fooled by -stimeout mentioned inside a description', () => {
    expect(rtspTimeoutOptionFromHelp(`${FFMPEG_5_1_HELP}  -foo   <int>  .D...... replaces -stimeout (deprecated)\n`)).toBe('-timeout');
  });

  it('defaults to -timeout for empty help', () => {
    expect(rtspTimeoutOptionFromHelp('')).toBe('-timeout');
  });
});
