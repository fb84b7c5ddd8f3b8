import { describe, expect, it } from 'vitest';
import { describeAudioPlan, planChunkFormat, samePlan, sourcePixelFormat, type FormatPlan, type PlanSettings } from '../../src/recorder/format-plan.js';
import type { ProbedStream } from '../../src/recorder/input-report.js';

const video = (codec: string, pixelFormat = 'yuv420p', extra: Partial<ProbedStream> = {}): ProbedStream => ({
  index: 0,
  kind: 'video',
  codec,
  pixelFormat,
  width: 1280,
  height: 720,
  ...extra,
});
const audio = (codec: string, index = 1, sampleRate = 8000): ProbedStream => ({ index, kind: 'audio', codec, sampleRate, channels: 'mono' });
const COPY: PlanSettings = { mode: 'copy', encodeCodec: 'libx264', audio: 'off' };

function plan(streams: ProbedStream[], settings: Partial<PlanSettings> = {}): FormatPlan {
  const result = planChunkFormat(streams, { ...COPY, ...settings });
  if (!result.ok) throw new Error(result.reason);
  return result.plan;
}

describe('planChunkFormat: the container follows the streams', () => {
  it.each([
    ['H.264', [video('h264')], 'mp4'],
    ['H.265 (tagged hvc1)', [video('hevc')], 'mp4'],
    ['AV1', [video('av1')], 'mp4'],
    ['VP9 without alpha', [video('vp9')], 'mp4'],
    ['VP9 with alpha', [video('vp9', 'yuv420p', { alpha: true })], 'webm'],
    ['FFV1 grey', [video('ffv1', 'gray')], 'mkv'],
    ['MJPEG', [video('mjpeg', 'yuvj420p')], 'mkv'],
    ['H.264 with AAC kept', [video('h264'), audio('aac', 1, 48000)], 'mp4'],
    ['H.264 with G.711 kept', [video('h264'), audio('pcm_mulaw')], 'mkv'],
    ['VP9 alpha with Opus kept', [video('vp9', 'yuv420p', { alpha: true }), audio('opus', 1, 48000)], 'webm'],
    ['VP9 alpha with AAC kept', [video('vp9', 'yuv420p', { alpha: true }), audio('aac', 1, 48000)], 'mkv'],
  ] as const)('%s -> %s', (_label, streams, container) => {
    expect(plan([...streams], { audio: 'keep' }).container).toBe(container);
  });

  it('tags H.265 hvc1 in MP4 only', () => {
    expect(plan([video('hevc')]).streamOptions).toEqual(['-map', '0:0', '-an', '-c:v', 'copy', '-tag:v', 'hvc1']);
    expect(plan([video('hevc'), audio('pcm_alaw')], { audio: 'keep' }).streamOptions).not.toContain('-tag:v');
  });

  it('says why, in words', () => {
    expect(plan([video('vp9', 'yuv420p', { alpha: true })]).containerReason).toBe('MP4 would drop the alpha plane of vp9 yuva420p: WebM holds it as it is');
    expect(plan([video('ffv1', 'gray')]).containerReason).toBe('MP4 cannot hold ffv1: Matroska holds it as it is');
    expect(plan([video('h264'), audio('pcm_mulaw')], { audio: 'keep' }).containerReason).toBe('MP4 cannot hold pcm_mulaw audio: Matroska holds it as it is');
  });

  it('refuses a source with no video, naming what it has', () => {
    expect(planChunkFormat([audio('aac')], COPY)).toEqual({
      ok: false,
      reason: 'ffmpeg found no video stream in the source (audio stream #0:1 (aac)): point the source at a video',
    });
  });
});

describe('planChunkFormat: audio, track by track', () => {
  const camera = [video('h264'), audio('pcm_mulaw')];

  it('audio off: every track dropped, by configuration', () => {
    const p = plan(camera, { audio: 'off' });
    expect(p.audio).toEqual([{ codec: 'pcm_mulaw', outcome: 'dropped' }]);
    expect(describeAudioPlan(p, camera)).toBe('audio #0:1 pcm_mulaw 8000 Hz: dropped by configuration (audio: false)');
    expect(p.streamOptions).toContain('-an');
  });

  it('audio aac: G.711 re-encoded to AAC because MP4 cannot hold it; AAC copied', () => {
    const p = plan([...camera, audio('aac', 2, 48000)], { audio: 'aac' });
    expect(p.container).toBe('mp4');
    expect(p.audio).toEqual([
      { codec: 'pcm_mulaw', outcome: 're-encoded', to: 'aac' },
      { codec: 'aac', outcome: 'kept' },
    ]);
    expect(p.streamOptions).toEqual(['-map', '0:0', '-map', '0:1', '-map', '0:2', '-c:v', 'copy', '-c:a:0', 'aac', '-b:a:0', '64k', '-c:a:1', 'copy']);
    expect(describeAudioPlan(p, [...camera, audio('aac', 2, 48000)])).toBe(
      'audio #0:1 pcm_mulaw 8000 Hz: re-encoded to AAC because MP4 cannot hold pcm_mulaw (audio: aac); audio #0:2 aac 48000 Hz: kept as it is',
    );
  });

  it('audio aac beside a video that needs Matroska anyway: nothing is re-encoded', () => {
    const p = plan([video('ffv1', 'gray'), audio('pcm_s16le')], { audio: 'aac' });
    expect(p.container).toBe('mkv');
    expect(p.audio).toEqual([{ codec: 'pcm_s16le', outcome: 'kept' }]);
  });

  it('MP3 at 8 kHz is not MP4 material; at 44.1 kHz it is', () => {
    expect(plan([video('h264'), audio('mp3', 1, 8000)], { audio: 'keep' }).container).toBe('mkv');
    expect(plan([video('h264'), audio('mp3', 1, 44100)], { audio: 'keep' }).container).toBe('mp4');
  });
});

describe('planChunkFormat: what is not recorded is said', () => {
  it('names other video streams, subtitles, data and cover pictures', () => {
    const p = plan([
      video('h264'),
      { ...video('h264'), index: 1 },
      { index: 2, kind: 'subtitle', codec: 'mov_text' },
      { index: 3, kind: 'data', codec: 'none' },
      { ...video('mjpeg'), index: 4, attachedPicture: true },
    ]);
    expect(p.dropped).toEqual([
      'video stream #0:1 (h264): only the first video stream is recorded',
      'subtitle stream #0:2 (mov_text)',
      'data stream #0:3 (none)',
      'attached picture #0:4 (mjpeg)',
    ]);
  });

  it('encode mode keeps grey and 10-bit where the encoder can, and says what it cannot keep', () => {
    expect(plan([video('ffv1', 'gray')], { mode: 'encode' })).toMatchObject({ container: 'mp4', pixelFormat: 'gray', encodePixelFormat: 'gray', dropped: [] });
    expect(plan([video('hevc', 'yuv420p10le')], { mode: 'encode' })).toMatchObject({ pixelFormat: 'yuv420p10le', dropped: [] });
    expect(plan([video('vp9', 'yuv420p', { alpha: true })], { mode: 'encode' })).toMatchObject({
      container: 'mp4',
      pixelFormat: 'yuv420p',
      dropped: ['alpha plane: libx264 cannot encode it (the chunk is yuv420p)'],
    });
    expect(plan([video('prores', 'yuv422p12le')], { mode: 'encode', encodeCodec: 'libx264' }).dropped).toEqual(['precision: yuv422p12le encoded as yuv420p']);
    expect(plan([video('prores', 'yuv422p12le')], { mode: 'encode', encodeCodec: 'libx265' }).dropped).toEqual([]);
  });
});

describe('samePlan and sourcePixelFormat', () => {
  it('a camera back with the same streams needs no new plan; with another codec it does', () => {
    expect(samePlan(plan([video('h264')]), plan([video('h264')]))).toBe(true);
    expect(samePlan(plan([video('h264')]), plan([video('hevc')]))).toBe(false);
  });

  it('VP9 reported yuv420p with ALPHA_MODE 1 is yuva420p', () => {
    expect(sourcePixelFormat(video('vp9', 'yuv420p', { alpha: true }))).toBe('yuva420p');
    expect(sourcePixelFormat(video('vp9', 'yuv420p'))).toBe('yuv420p');
  });
});
