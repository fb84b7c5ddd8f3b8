// What ffmpeg's stderr tells us about a recording, read line by line.
import type { ChunkContainer } from '@crispy-streamer/shared';

/** A failure a person can act on, recognised from ffmpeg's own words. */
export interface SourceFailure {
  kind:
    | 'unauthorized'
    | 'not-found'
    | 'unreachable'
    | 'timeout'
    | 'unsupported-transport'
    | 'unsupported-codec'
    | 'not-video'
    | 'no-video-stream'
    | 'disk-full'
    | 'unknown';
  /** Whether trying again later can help. */
  retryable: boolean;
  advice: string;
  /** The ffmpeg line that proved it (redacted), when one did. */
  line?: string;
}

type FailureKind = SourceFailure['kind'];

const FAILURE_PATTERNS: { pattern: RegExp; kind: FailureKind; retryable: boolean; advice: string }[] = [
  // Basic and Digest alike: ffmpeg answers the challenge and says 401 when the camera still refuses.
  {
    pattern: /401 Unauthorized|authorization failed|403 Forbidden/i,
    kind: 'unauthorized',
    retryable: true,
    advice: 'the camera refused the credentials (401/403, Basic or Digest): check the user and password in the URL',
  },
  {
    pattern: /404 Not Found|Server returned 404|method DESCRIBE failed: 404/i,
    kind: 'not-found',
    retryable: true,
    advice: 'the camera has no stream at this path: check the path in the URL',
  },
  {
    pattern: /461 Unsupported transport|method SETUP failed: 461|Nonmatching transport in server reply|Unsupported transport/i,
    kind: 'unsupported-transport',
    retryable: true,
    advice:
      "the camera does not offer RTP over this transport: set the source's transport (or RTSP_TRANSPORT) to one it offers (tcp, udp, udp_multicast, http), or to auto",
  },
  {
    pattern: /Connection refused|No route to host|Network is unreachable|Name or service not known|Temporary failure in name resolution|Host is unreachable/i,
    kind: 'unreachable',
    retryable: true,
    advice: 'cannot reach the camera: check the host, port and network',
  },
  {
    pattern: /Connection timed out|timed out|Operation timed out/i,
    kind: 'timeout',
    retryable: true,
    advice: 'the camera stopped answering: check that it is powered and on the network',
  },
  { pattern: /No space left on device/i, kind: 'disk-full', retryable: true, advice: 'the spool disk is full: free space or lower the upload backlog' },
  {
    pattern:
      /Could not find tag for codec \S+ in stream|codec not currently supported in container|Only VP8 or VP9 or AV1 video and Vorbis or Opus audio|not supported in WebM/i,
    kind: 'unsupported-codec',
    retryable: true,
    advice:
      "the chunks' container cannot hold one of the source's streams as it is: the container is chosen from ffmpeg's report of the streams, so the source changed them; it is asked again before the next attempt (audio: aac or mode: encode avoid Matroska chunks)",
  },
  {
    pattern: /Output file #0 does not contain any stream|does not contain any stream|Stream map '0:v:0' matches no streams|found no video stream/i,
    kind: 'no-video-stream',
    retryable: false,
    advice: 'the source has no video stream: point the source at a video',
  },
  {
    pattern: /Invalid data found when processing input|could not find codec parameters|moov atom not found|EBML header parsing failed/i,
    kind: 'not-video',
    retryable: false,
    advice: 'ffmpeg cannot read this as video: check that the source is a video file or stream',
  },
  { pattern: /No such file or directory/i, kind: 'not-found', retryable: false, advice: 'the file does not exist: check the path' },
];

/** The failure one stderr line proves, if it proves one. */
export function classifyFfmpegLine(line: string): SourceFailure | undefined {
  for (const { pattern, kind, retryable, advice } of FAILURE_PATTERNS) if (pattern.test(line)) return { kind, retryable, advice, line };
  return undefined;
}

export const UNKNOWN_FAILURE: SourceFailure = { kind: 'unknown', retryable: true, advice: "see ffmpeg's last lines in this log" };

export function classifyFfmpegFailure(stderrLines: readonly string[]): SourceFailure {
  // The last matching line is the one closest to the cause of the exit.
  for (let i = stderrLines.length - 1; i >= 0; i--) {
    const failure = classifyFfmpegLine(stderrLines[i] ?? '');
    if (failure !== undefined) return failure;
  }
  return UNKNOWN_FAILURE;
}

/** `RTP: missed 3 packets` and packets dropped for arriving too late: RTP lost on the way (UDP). */
export function parseLostPackets(line: string): number {
  const missed = /RTP: missed (\d+) packets/.exec(line);
  if (missed !== null) return Number(missed[1]);
  return /RTP: dropping old packet received too late/.test(line) ? 1 : 0;
}

/** ffmpeg prints this once it has its first packet and has opened the output. */
export function isOutputOpenedLine(line: string): boolean {
  return line.startsWith('Output #0');
}

/** `creation_time   : 2024-05-01T10:00:00.000000Z` from the input's metadata, as epoch ms. */
export function parseCreationTime(line: string): number | undefined {
  const match = /^\s*creation_time\s*:\s*(\S+)/.exec(line);
  if (match?.[1] === undefined) return undefined;
  const ms = Date.parse(match[1]);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Lines worth a warning rather than debug noise. */
export function isNoteworthyLine(line: string): boolean {
  return /error|failed|invalid|refused|unauthori[sz]ed|timed out|corrupt|missing/i.test(line);
}

/** `  Duration: 00:00:12.00, start: ...` of the input, in ms (absent for live streams: N/A). */
export function parseInputDuration(line: string): number | undefined {
  const match = /^\s*Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(line);
  if (match === null) return undefined;
  return Math.round((Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3])) * 1000);
}

/** Two decode timestamps in the order ffmpeg's muxer received them, in the output stream's ticks. */
export interface TimestampStep {
  previous: number;
  current: number;
}

/**
 * ffmpeg's report of timestamps out of order: "Non-monotonous DTS in output stream 0:0; previous:
 * P, current: C; changing to ..." or "... non monotonically increasing dts to muxer in stream 0: P
 * >= C". Undefined for any other line.
 */
export function parseTimestampStep(line: string): TimestampStep | undefined {
  const match = /Non-monotonous DTS.*previous: (-?\d+), current: (-?\d+)/i.exec(line) ?? /non monotonically increasing dts.*?: (-?\d+) >= (-?\d+)/i.exec(line);
  if (match === null) return undefined;
  return { previous: Number(match[1]), current: Number(match[2]) };
}

/** Ticks per second of the video track each container's muxer writes a copied RTSP stream in. */
export function videoTicksPerSecond(container: ChunkContainer): number {
  // MP4 keeps the RTP video clock (90 kHz); Matroska and WebM count milliseconds.
  return container === 'mp4' ? 90_000 : 1000;
}

/**
 * A camera that restarted its clock: its timestamps went back by a second or more. Equal or
 * slightly reordered timestamps are not: many cameras send two packets with one timestamp when a
 * stream starts, and ffmpeg moves the second on by a tick; recording again for those would cut
 * every chunk short and leave a gap after each.
 */
export function isClockRestart(step: TimestampStep, ticksPerSecond: number): boolean {
  return step.previous - step.current >= ticksPerSecond;
}
