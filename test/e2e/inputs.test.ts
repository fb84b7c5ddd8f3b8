import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine } from '@crispy-streamer/harness/service-process';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import {
  makeFfv1GrayMkv,
  makeG711Video,
  makeSampleVideo,
  makeVp9AlphaWebm,
  probeAudioCodecs,
  probeVideo,
  probeVideoTag,
} from '@crispy-streamer/harness/sample-video';
import { startLocalPipeline, type BucketObject, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// Inputs that are not the 720p H.264 test pattern, each through all three services: the chunk's
// container follows the source's streams, the function measures what it decodes, and what is not
// kept is said. One stream-handle run records them all, side by side.

interface SourceRun {
  recorded: LogLine[];
  described: LogLine[];
  objects: BucketObject[];
}

describe('inputs MP4 cannot hold as they are, and H.265, through all three services', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let logs: LogLine[] = [];
  const runs = new Map<string, SourceRun>();
  const files: Record<string, string> = {};

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    files.alpha = join(pipeline.dir, 'alpha.webm');
    files.gray = join(pipeline.dir, 'gray.mkv');
    files.g711 = join(pipeline.dir, 'g711.mkv');
    files.hevc = join(pipeline.dir, 'hevc-hev1.mp4');
    files.grayH264 = join(pipeline.dir, 'gray-h264.mp4');
    await Promise.all([
      makeVp9AlphaWebm(files.alpha, { width: 720, height: 1280, seconds: 4, fps: 25, gopSeconds: 1 }),
      makeFfv1GrayMkv(files.gray, { width: 640, height: 480, seconds: 4 }),
      makeG711Video(files.g711, { seconds: 4 }),
      // 9.7 s of H.265 with B-frames and a 1 s GOP, tagged hev1 as ffmpeg writes it unless told.
      makeSampleVideo(files.hevc, { seconds: 9.7, width: 640, height: 360, codec: 'libx265', gopSeconds: 1, bFrames: true, hevcTag: 'hev1' }),
      makeSampleVideo(files.grayH264, { seconds: 4, width: 320, height: 240, pixelFormat: 'gray' }),
    ]);
    const sources = [
      { id: 'vp9-alpha', url: files.alpha, chunkSeconds: 2 },
      { id: 'ffv1-gray', url: files.gray, chunkSeconds: 2 },
      { id: 'ffv1-gray-encode', url: files.gray, chunkSeconds: 2, mode: 'encode', encode: { preset: 'ultrafast' } },
      { id: 'g711-off', url: files.g711, chunkSeconds: 2, audio: false },
      { id: 'g711-keep', url: files.g711, chunkSeconds: 2, audio: true },
      { id: 'g711-aac', url: files.g711, chunkSeconds: 2, audio: 'aac' },
      { id: 'hevc', url: files.hevc, chunkSeconds: 3 },
      { id: 'h264-gray', url: files.grayH264, chunkSeconds: 2 },
    ];
    const sourcesFile = join(pipeline.dir, 'inputs.json');
    await writeFile(sourcesFile, JSON.stringify({ sources }));
    const recorder = pipeline.runStreamHandle({}, ['--sources', sourcesFile]);
    expect(await recorder.exited).toBe(0);
    logs = recorder.logs;
    const objects = await pipeline.bucketObjects();
    for (const { id } of sources) {
      const recorded = logs.filter((l) => l.source === id && l.message === 'chunk recorded');
      const described = await pipeline.waitForDescriptions(
        id,
        recorded.map((l) => Number(l.sequence)),
      );
      runs.set(id, { recorded, described, objects: objects.filter((o) => o.resource.metadata.source === id) });
    }
  }, 240_000);

  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  const run = (id: string): SourceRun => {
    const found = runs.get(id);
    if (found === undefined || found.recorded.length === 0) throw new Error(`${id} recorded nothing`);
    return found;
  };
  const planLine = (id: string): LogLine | undefined => logs.find((l) => l.source === id && String(l.message).startsWith('recording as'));

  it('VP9 with alpha, 720x1280: WebM chunks (video/webm, .webm) that keep the alpha plane: described 720x1280x4', () => {
    const { described, objects, recorded } = run('vp9-alpha');
    expect(recorded.map((l) => l.durationMs)).toEqual([2000, 2000]);
    for (const line of described)
      expect(line).toMatchObject({ width: 720, height: 1280, channels: 4, pixelFormat: 'yuva420p', container: 'webm', codec: 'vp9', durationCheck: 'match' });
    for (const object of objects) {
      expect(object.name).toMatch(/\.webm$/);
      expect(object.resource.contentType).toBe('video/webm');
      expect(object.resource.metadata).toMatchObject({
        container: 'webm',
        pixelFormat: 'yuva420p',
        codec: 'vp9',
        width: '720',
        height: '1280',
        dropped: 'nothing',
        audio: 'none',
      });
    }
    expect(planLine('vp9-alpha')?.message).toBe(
      'recording as webm: MP4 would drop the alpha plane of vp9 yuva420p: WebM holds it as it is; the source has no audio',
    );
  });

  it('FFV1 grey in Matroska: Matroska chunks, described with one channel, gray; encode mode keeps it grey too', () => {
    const copy = run('ffv1-gray');
    for (const line of copy.described)
      expect(line).toMatchObject({ width: 640, height: 480, channels: 1, pixelFormat: 'gray', container: 'mkv', codec: 'ffv1', durationCheck: 'match' });
    for (const object of copy.objects) {
      expect(object.name).toMatch(/\.mkv$/);
      expect(object.resource.contentType).toBe('video/x-matroska');
    }
    expect(copy.recorded.reduce((sum, l) => sum + Number(l.durationMs), 0)).toBe(4000);
    const encoded = run('ffv1-gray-encode');
    for (const line of encoded.described)
      expect(line).toMatchObject({ width: 640, height: 480, channels: 1, pixelFormat: 'gray', container: 'mp4', codec: 'h264' });
    for (const object of encoded.objects) expect(object.resource.metadata).toMatchObject({ container: 'mp4', pixelFormat: 'gray', dropped: 'nothing' });
  });

  it('grey H.264 (4:0:0) copied into MP4: one channel, gray, though ffmpeg reports it 4:2:0', () => {
    const { described, objects } = run('h264-gray');
    for (const line of described) expect(line).toMatchObject({ width: 320, height: 240, channels: 1, pixelFormat: 'gray', container: 'mp4', codec: 'h264' });
    for (const object of objects) expect(object.resource.metadata.pixelFormat).toBe('gray');
  });

  it('G.711 audio: dropped, kept (Matroska) or re-encoded to AAC (MP4), each said in one line and in the metadata', async () => {
    const lines = Object.fromEntries(
      ['g711-off', 'g711-keep', 'g711-aac'].map((id) => [id, logs.filter((l) => l.source === id && String(l.message).startsWith('recording as'))]),
    );
    for (const found of Object.values(lines)) expect(found).toHaveLength(1);
    expect(lines['g711-off']?.[0]?.message).toBe(
      'recording as mp4: MP4 holds h264 yuv420p as it is; audio #0:1 pcm_mulaw 8000 Hz: dropped by configuration (audio: false)',
    );
    expect(lines['g711-keep']?.[0]?.message).toBe(
      'recording as mkv: MP4 cannot hold pcm_mulaw audio: Matroska holds it as it is; audio #0:1 pcm_mulaw 8000 Hz: kept as it is',
    );
    expect(lines['g711-aac']?.[0]?.message).toBe(
      'recording as mp4: MP4 holds h264 yuv420p as it is; audio #0:1 pcm_mulaw 8000 Hz: re-encoded to AAC because MP4 cannot hold pcm_mulaw (audio: aac)',
    );

    const expectations = [
      ['g711-off', 'mp4', 'pcm_mulaw:dropped', []],
      ['g711-keep', 'mkv', 'pcm_mulaw:kept', ['pcm_mulaw']],
      ['g711-aac', 'mp4', 'pcm_mulaw:re-encoded:aac', ['aac']],
    ] as const;
    for (const [id, container, audio, stored] of expectations) {
      const { objects, described } = run(id);
      for (const line of described) expect(line).toMatchObject({ container, width: 320, height: 240, channels: 3, durationCheck: 'match' });
      for (const object of objects) {
        expect(object.resource.metadata).toMatchObject({ container, audio });
        expect(await probeAudioCodecs(join(pipeline.bucketDir, object.name))).toEqual(stored);
      }
    }
  });

  it('H.265 tagged hev1: chunks tagged hvc1, every frame kept, chunks as long as the keyframes allow', async () => {
    const { recorded, described, objects } = run('hevc');
    for (const object of objects) expect(await probeVideoTag(join(pipeline.bucketDir, object.name))).toBe('hvc1');
    for (const line of described) expect(line).toMatchObject({ codec: 'hevc', width: 640, height: 360, channels: 3, container: 'mp4', durationCheck: 'match' });
    const source = await probeVideo(files.hevc ?? '');
    expect(recorded.reduce((sum, l) => sum + Number(l.durationMs), 0)).toBeCloseTo(9700, 0);
    expect(described.reduce((sum, l) => sum + Number(l.probedFrameCount), 0)).toBe(source.frames);
    // A 1 s GOP divides the 3 s asked for. With B-frames a chunk holds its frames in decode order:
    // the first one is short by the B-frames that display before the next keyframe, which open the
    // next chunk instead; the others are exact, and the last holds what is left.
    const lengths = recorded.map((l) => Number(l.durationMs));
    expect(lengths.slice(1, -1)).toEqual(lengths.slice(1, -1).map(() => 3000));
    expect(lengths[0]).toBeGreaterThanOrEqual(2900);
    expect(lengths.at(-1)).toBeCloseTo(9700 - lengths.slice(0, -1).reduce((a, b) => a + b, 0), 3);
  });
});
