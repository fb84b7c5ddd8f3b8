import type { AudioTrackOutcome, ChunkContainer } from '@crispy-streamer/shared';
import type { ProbedStream } from './input-report.js';

// Which container a source's chunks are written in, and what happens to each of its streams:
// decided from ffmpeg's own report of the streams (input-report.ts), before ffmpeg cuts a chunk.
// The rule: keep what the source holds. MP4 where it holds the streams as they are; WebM or
// Matroska where MP4 would drop something (an alpha plane) or refuses the codec (FFV1, PCM,
// G.711). Anything left out is said, in words, for the log and for the chunk's metadata.

/** What a source's audio becomes: `off` drops it; `keep` copies it as it is; `aac` re-encodes what MP4 cannot hold, to keep chunks MP4. */
export type AudioPolicy = 'off' | 'keep' | 'aac';

export interface PlanSettings {
  mode: 'copy' | 'encode';
  encodeCodec: 'libx264' | 'libx265';
  audio: AudioPolicy;
}

export interface FormatPlan {
  container: ChunkContainer;
  /** ffmpeg's muxer name for `-segment_format`. */
  segmentFormat: 'mp4' | 'webm' | 'matroska';
  /** The source's video stream the chunks hold. */
  video: ProbedStream;
  /** `-map` and per-stream codec options (encode settings such as CRF and preset excepted). */
  streamOptions: string[];
  /** The pixel format the chunks hold. */
  pixelFormat: string;
  /** Encode mode: the pixel format given to the encoder. */
  encodePixelFormat?: string;
  /** Each audio track of the source, in order, and what the chunks make of it. */
  audio: AudioTrackOutcome[];
  /** Why each audio track fares as it does, in words, in the same order. */
  audioReasons: string[];
  /** What the source has that the chunks do not hold. */
  dropped: string[];
  /** Why this container, in words. */
  containerReason: string;
}

export type PlanResult = { ok: true; plan: FormatPlan } | { ok: false; reason: string };

/** Video codecs ffmpeg's mp4 muxer stores as they are (VP9's alpha plane excepted: it drops it). */
const MP4_VIDEO = new Set(['h264', 'hevc', 'av1', 'vp9']);
const WEBM_VIDEO = new Set(['vp8', 'vp9', 'av1']);
/** Audio codecs ffmpeg's mp4 muxer stores as they are (MP3 only at MPEG-1/2 rates; FLAC only as "experimental"). */
const MP4_AUDIO = new Set(['aac', 'opus', 'mp3', 'ac3', 'eac3', 'alac']);
const WEBM_AUDIO = new Set(['opus', 'vorbis']);
const MP3_MP4_RATES = new Set([16000, 22050, 24000, 32000, 44100, 48000]);

/** Pixel formats each encoder accepts (`ffmpeg -h encoder=...`, Debian's ffmpeg 5.1). */
const ENCODER_PIXEL_FORMATS: Readonly<Record<PlanSettings['encodeCodec'], ReadonlySet<string>>> = {
  libx264: new Set([
    'yuv420p',
    'yuvj420p',
    'yuv422p',
    'yuvj422p',
    'yuv444p',
    'yuvj444p',
    'nv12',
    'nv16',
    'nv21',
    'yuv420p10le',
    'yuv422p10le',
    'yuv444p10le',
    'nv20le',
    'gray',
    'gray10le',
  ]),
  libx265: new Set([
    'yuv420p',
    'yuvj420p',
    'yuv422p',
    'yuvj422p',
    'yuv444p',
    'yuvj444p',
    'gbrp',
    'yuv420p10le',
    'yuv422p10le',
    'yuv444p10le',
    'gbrp10le',
    'yuv420p12le',
    'yuv422p12le',
    'yuv444p12le',
    'gbrp12le',
    'gray',
    'gray10le',
    'gray12le',
  ]),
};

/** Pixel formats with an alpha plane, by ffmpeg's names. */
export function hasAlphaPlane(pixelFormat: string | undefined): boolean {
  return pixelFormat !== undefined && /^(yuva|rgba|bgra|argb|abgr|ya8|ya16|gbrap|rgba64|bgra64|pal8)/.test(pixelFormat);
}

/** The pixel format a stream really has: a VP9 track with alpha beside it is yuva420p, though its demuxer says yuv420p. */
export function sourcePixelFormat(video: ProbedStream): string {
  const reported = video.pixelFormat ?? 'unknown';
  if (video.alpha === true && reported.startsWith('yuv') && !reported.startsWith('yuva')) return `yuva${reported.slice(3)}`;
  return reported;
}

function mp4HoldsAudio(stream: ProbedStream): boolean {
  if (!MP4_AUDIO.has(stream.codec)) return false;
  return stream.codec !== 'mp3' || (stream.sampleRate !== undefined && MP3_MP4_RATES.has(stream.sampleRate));
}

function describe(stream: ProbedStream): string {
  return `${stream.kind === 'video' && stream.attachedPicture === true ? 'attached picture' : `${stream.kind} stream`} #0:${stream.index} (${stream.codec})`;
}

/** The pixel format to encode a source of `source` pixels into, and what that loses. */
function encodePixelFormat(source: string, codec: PlanSettings['encodeCodec']): { pixelFormat: string; lost?: string } {
  const accepted = ENCODER_PIXEL_FORMATS[codec];
  if (accepted.has(source)) return { pixelFormat: source };
  if (source.startsWith('yuva')) {
    const without = `yuv${source.slice(4)}`;
    const target = accepted.has(without) ? without : 'yuv420p';
    return { pixelFormat: target, lost: `alpha plane: ${codec} cannot encode it (the chunk is ${target})` };
  }
  if (hasAlphaPlane(source)) return { pixelFormat: 'yuv444p', lost: `alpha plane: ${codec} cannot encode it (the chunk is yuv444p)` };
  if (source.startsWith('gray') || source.startsWith('ya')) {
    const target = /1[0-6]/.test(source) && accepted.has('gray10le') ? 'gray10le' : 'gray';
    return { pixelFormat: target, lost: target === source ? undefined : `precision: ${source} encoded as ${target}` };
  }
  return { pixelFormat: 'yuv420p', lost: `precision: ${source} encoded as yuv420p` };
}

/**
 * Decides the container and the stream options for a source whose streams ffmpeg reported. Only
 * the first video stream that is footage is recorded; every audio track follows `settings.audio`.
 */
export function planChunkFormat(streams: readonly ProbedStream[], settings: PlanSettings): PlanResult {
  const footage = streams.filter((s) => s.kind === 'video' && s.attachedPicture !== true);
  const video = footage[0];
  if (video === undefined) {
    return {
      ok: false,
      reason: `ffmpeg found no video stream in the source (${streams.length === 0 ? 'no streams at all' : streams.map(describe).join(', ')}): point the source at a video`,
    };
  }
  const dropped: string[] = [];
  for (const stream of streams) {
    if (stream === video || stream.kind === 'audio') continue;
    dropped.push(
      stream.kind === 'video' && stream.attachedPicture !== true ? `${describe(stream)}: only the first video stream is recorded` : describe(stream),
    );
  }
  const audioStreams = streams.filter((s) => s.kind === 'audio');
  const sourcePixels = sourcePixelFormat(video);

  // The video's own needs first.
  let videoOptions: string[];
  let pixelFormat: string;
  let encodePixels: string | undefined;
  let videoCodecInChunk: string;
  let videoFitsMp4: boolean;
  let videoReason: string;
  if (settings.mode === 'copy') {
    videoOptions = ['-c:v', 'copy'];
    pixelFormat = sourcePixels;
    videoCodecInChunk = video.codec;
    const alpha = hasAlphaPlane(sourcePixels);
    videoFitsMp4 = MP4_VIDEO.has(video.codec) && !alpha;
    videoReason = videoFitsMp4
      ? `MP4 holds ${video.codec} ${sourcePixels} as it is`
      : alpha
        ? `MP4 would drop the alpha plane of ${video.codec} ${sourcePixels}`
        : `MP4 cannot hold ${video.codec}`;
  } else {
    const chosen = encodePixelFormat(sourcePixels, settings.encodeCodec);
    encodePixels = chosen.pixelFormat;
    pixelFormat = chosen.pixelFormat;
    if (chosen.lost !== undefined) dropped.push(chosen.lost);
    videoOptions = ['-c:v', settings.encodeCodec];
    videoCodecInChunk = settings.encodeCodec === 'libx264' ? 'h264' : 'hevc';
    videoFitsMp4 = true;
    videoReason = `MP4 holds what ${settings.encodeCodec} writes`;
  }

  // Then each audio track: what it would be if the chunk is MP4.
  const mp4Audio = audioStreams.map((stream): { outcome: AudioTrackOutcome; reason: string } => {
    if (settings.audio === 'off') return { outcome: { codec: stream.codec, outcome: 'dropped' }, reason: 'dropped by configuration (audio: false)' };
    if (mp4HoldsAudio(stream)) return { outcome: { codec: stream.codec, outcome: 'kept' }, reason: 'kept as it is' };
    if (settings.audio === 'aac')
      return {
        outcome: { codec: stream.codec, outcome: 're-encoded', to: 'aac' },
        reason: `re-encoded to AAC because MP4 cannot hold ${stream.codec} (audio: aac)`,
      };
    return { outcome: { codec: stream.codec, outcome: 'kept' }, reason: 'kept as it is' };
  });
  const keptAudio = audioStreams.filter((_, i) => mp4Audio[i]?.outcome.outcome === 'kept');
  const audioFitsMp4 = keptAudio.every(mp4HoldsAudio);

  let container: ChunkContainer;
  let containerReason: string;
  if (videoFitsMp4 && audioFitsMp4) {
    container = 'mp4';
    containerReason = videoReason;
  } else {
    const why = !videoFitsMp4
      ? videoReason
      : `MP4 cannot hold ${keptAudio
          .filter((s) => !mp4HoldsAudio(s))
          .map((s) => s.codec)
          .join(', ')} audio`;
    const webm = WEBM_VIDEO.has(videoCodecInChunk) && keptAudio.every((s) => WEBM_AUDIO.has(s.codec));
    container = webm ? 'webm' : 'mkv';
    containerReason = `${why}: ${webm ? 'WebM' : 'Matroska'} holds it as it is`;
  }
  // A Matroska chunk holds any audio: nothing needs re-encoding for it.
  const audio =
    container === 'mp4'
      ? mp4Audio
      : mp4Audio.map((a, i) =>
          a.outcome.outcome === 're-encoded'
            ? {
                outcome: { codec: audioStreams[i]?.codec ?? a.outcome.codec, outcome: 'kept' as const },
                reason: `kept as it is (the chunks are ${container === 'webm' ? 'WebM' : 'Matroska'} anyway)`,
              }
            : a,
        );

  const streamOptions = ['-map', `0:${video.index}`];
  let outputAudio = 0;
  const audioOptions: string[] = [];
  audioStreams.forEach((stream, i) => {
    const outcome = audio[i]?.outcome;
    if (outcome === undefined || outcome.outcome === 'dropped') return;
    streamOptions.push('-map', `0:${stream.index}`);
    audioOptions.push(`-c:a:${outputAudio}`, outcome.outcome === 'kept' ? 'copy' : 'aac');
    if (outcome.outcome === 're-encoded') audioOptions.push(`-b:a:${outputAudio}`, '64k');
    outputAudio++;
  });
  if (outputAudio === 0) streamOptions.push('-an');
  streamOptions.push(...videoOptions);
  // Apple players and most browsers play H.265 in MP4 only under the hvc1 sample entry.
  if (container === 'mp4' && videoCodecInChunk === 'hevc') streamOptions.push('-tag:v', 'hvc1');
  streamOptions.push(...audioOptions);

  return {
    ok: true,
    plan: {
      container,
      segmentFormat: container === 'mp4' ? 'mp4' : container === 'webm' ? 'webm' : 'matroska',
      video,
      streamOptions,
      pixelFormat,
      ...(encodePixels === undefined ? {} : { encodePixelFormat: encodePixels }),
      audio: audio.map((a) => a.outcome),
      audioReasons: audio.map((a) => a.reason),
      dropped,
      containerReason,
    },
  };
}

/** Whether two plans record the same way: a camera back with other streams needs a new recording. */
export function samePlan(a: FormatPlan, b: FormatPlan): boolean {
  return a.container === b.container && a.pixelFormat === b.pixelFormat && a.streamOptions.join(' ') === b.streamOptions.join(' ');
}

/** `audio #1 pcm_mulaw: re-encoded to AAC because MP4 cannot hold pcm_mulaw (audio: aac)` per track, or that there is none. */
export function describeAudioPlan(plan: FormatPlan, streams: readonly ProbedStream[]): string {
  const audioStreams = streams.filter((s) => s.kind === 'audio');
  if (audioStreams.length === 0) return 'the source has no audio';
  return audioStreams
    .map(
      (stream, i) =>
        `audio #0:${stream.index} ${stream.codec}${stream.sampleRate === undefined ? '' : ` ${stream.sampleRate} Hz`}: ${plan.audioReasons[i] ?? 'unknown'}`,
    )
    .join('; ');
}
