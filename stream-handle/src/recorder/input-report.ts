// What ffmpeg says of its input before it records anything: the `Input #0` report on stderr,
//
//   Input #0, matroska,webm, from 'clip.webm':
//     Stream #0:0: Video: vp9 (Profile 0), yuv420p(tv, progressive), 720x1280, SAR 1:1 DAR 9:16, 30 fps, 30 tbr, 1k tbn
//       Metadata:
//         ALPHA_MODE      : 1
//     Stream #0:1(eng): Audio: pcm_mulaw ([7][0][0][0] / 0x0007), 8000 Hz, mono, s16, 64 kb/s
//
// read line by line. It is ffmpeg's own account of the streams, so the container and codec options
// are decided from it (format-plan.ts), both before a recording (a probe) and during one (to notice
// a camera that came back with other streams).

export type StreamKind = 'video' | 'audio' | 'subtitle' | 'data' | 'attachment';

export interface ProbedStream {
  /** ffmpeg's stream index in the input (`#0:N`). */
  index: number;
  kind: StreamKind;
  /** ffmpeg's codec name (`h264`, `vp9`, `pcm_mulaw`, `none` for unknown data). */
  codec: string;
  /** Video: the pixel format as the demuxer reports it (`yuv420p`, `gray`, `yuva420p`). */
  pixelFormat?: string;
  width?: number;
  height?: number;
  /** Video: frames per second as reported (`30 fps`), when it is. */
  fps?: number;
  /** Video: a WebM/Matroska VP8/VP9 track whose alpha plane travels beside it (ALPHA_MODE 1). */
  alpha?: boolean;
  /** Video: a cover picture, not footage (`(attached pic)`). */
  attachedPicture?: boolean;
  /** Audio. */
  sampleRate?: number;
  channels?: string;
}

const STREAM_LINE = /^\s*Stream #(\d+):(\d+)(?:\[0x[0-9a-f]+\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data|Attachment): ([A-Za-z0-9_]+)(.*)$/;

/** Splits `a (b, c), d, e` on the commas outside parentheses and brackets. */
function topLevelParts(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(' || char === '[') depth++;
    else if (char === ')' || char === ']') depth = Math.max(0, depth - 1);
    if (char === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += char;
  }
  if (current.trim() !== '') parts.push(current.trim());
  return parts;
}

/** One `Stream #0:N: ...` line of an input report, or undefined for any other line. */
export function parseStreamLine(line: string): ProbedStream | undefined {
  const match = STREAM_LINE.exec(line);
  if (match === null) return undefined;
  const [, , index, kindWord, codec, rest] = match;
  const kind = (kindWord ?? '').toLowerCase() as StreamKind;
  const stream: ProbedStream = { index: Number(index), kind, codec: codec ?? 'none' };
  // After the codec: its profile and tag in parentheses, then ", " separated facts.
  const parts = topLevelParts((rest ?? '').replace(/^\s*(\([^)]*\)\s*)*/, '').replace(/^,\s*/, ''));
  if (kind === 'video') {
    const pixelFormat = /^([a-z0-9_]+)(\(|$)/.exec(parts[0] ?? '')?.[1];
    if (pixelFormat !== undefined && !/^\d/.test(pixelFormat)) stream.pixelFormat = pixelFormat;
    for (const part of parts) {
      const size = /^(\d+)x(\d+)/.exec(part);
      if (size !== null && stream.width === undefined) {
        stream.width = Number(size[1]);
        stream.height = Number(size[2]);
      }
      const fps = /^([\d.]+)(k?) fps$/.exec(part);
      if (fps !== null) stream.fps = Number(fps[1]) * (fps[2] === 'k' ? 1000 : 1);
    }
    if (/\(attached pic\)/.test(rest ?? '')) stream.attachedPicture = true;
  } else if (kind === 'audio') {
    for (const part of parts) {
      const rate = /^(\d+) Hz$/.exec(part);
      if (rate !== null) stream.sampleRate = Number(rate[1]);
      else if (stream.sampleRate !== undefined && stream.channels === undefined) stream.channels = part;
    }
  }
  return stream;
}

/**
 * Collects the streams of ffmpeg's first input report from its stderr, line by line. Complete once
 * the report has ended (the output report, the stream mapping, or ffmpeg's complaint that there is
 * no output, for a probe).
 */
export class InputReportReader {
  private readonly collected: ProbedStream[] = [];
  private state: 'before' | 'reading' | 'done' = 'before';
  private current: ProbedStream | undefined;
  private inMetadata = false;

  /** Feeds one stderr line; true when this line completed the report. */
  feed(line: string): boolean {
    if (this.state === 'done') return false;
    if (this.state === 'before') {
      if (/^Input #0\b/.test(line)) this.state = 'reading';
      return false;
    }
    if (/^(Output #0\b|Stream mapping:|At least one output file must be specified|Input #1\b)/.test(line)) {
      this.state = 'done';
      return true;
    }
    const stream = parseStreamLine(line);
    if (stream !== undefined) {
      this.collected.push(stream);
      this.current = stream;
      this.inMetadata = false;
      return false;
    }
    if (this.current !== undefined && /^\s+Metadata:\s*$/.test(line)) this.inMetadata = true;
    else if (this.current !== undefined && this.inMetadata) {
      const alpha = /^\s+alpha_mode\s*:\s*(\d+)/i.exec(line);
      if (alpha !== null && this.current.kind === 'video') this.current.alpha = alpha[1] === '1';
    }
    return false;
  }

  get complete(): boolean {
    return this.state === 'done';
  }

  get streams(): ProbedStream[] {
    return this.collected.map((stream) => ({ ...stream }));
  }
}

/** Parses a whole stderr text (a probe's) into its input streams. */
export function parseInputReport(stderr: string): { streams: ProbedStream[]; complete: boolean } {
  const reader = new InputReportReader();
  for (const line of stderr.split(/\r?\n/)) reader.feed(line);
  return { streams: reader.streams, complete: reader.complete };
}

/** `video h264 1280x720 yuv420p 30 fps; audio #1 pcm_mulaw 8000 Hz mono`, for a log line. */
export function describeStreams(streams: readonly ProbedStream[]): string {
  return streams
    .map((s) => {
      if (s.kind === 'video')
        return `video #${s.index} ${s.codec}${s.width === undefined ? '' : ` ${s.width}x${s.height}`}${s.pixelFormat === undefined ? '' : ` ${s.alpha === true ? 'with alpha ' : ''}${s.pixelFormat}`}`;
      if (s.kind === 'audio')
        return `audio #${s.index} ${s.codec}${s.sampleRate === undefined ? '' : ` ${s.sampleRate} Hz`}${s.channels === undefined ? '' : ` ${s.channels}`}`;
      return `${s.kind} #${s.index} ${s.codec}`;
    })
    .join('; ');
}
