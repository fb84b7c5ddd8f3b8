import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RtspTimeoutOption } from './recorder-args.js';

const run = promisify(execFile);

/**
 * ffmpeg 5+ sets the RTSP socket timeout with -timeout; older builds (such as the 2018 static
 * build bundled through npm) use -stimeout, where -timeout would make ffmpeg LISTEN instead.
 */
export function rtspTimeoutOptionFromHelp(rtspDemuxerHelp: string): RtspTimeoutOption {
  return /^\s*-stimeout\b/m.test(rtspDemuxerHelp) ? '-stimeout' : '-timeout';
}

export async function detectRtspTimeoutOption(ffmpegPath: string): Promise<RtspTimeoutOption> {
  const { stdout } = await run(ffmpegPath, ['-hide_banner', '-h', 'demuxer=rtsp'], { timeout: 15_000 });
  return rtspTimeoutOptionFromHelp(stdout);
}
