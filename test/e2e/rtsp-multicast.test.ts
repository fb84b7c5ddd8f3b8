import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { rtspCameraAvailable, startRtspCamera, type RtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { FFMPEG_BIN } from '@crispy-streamer/harness/sample-video';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// RTP over UDP multicast. On one loopback the camera's own multicast sockets and ffmpeg's
// collide (ffmpeg: "bind failed: Address already in use"), so the camera runs in a network
// namespace of its own and ffmpeg in another, joined by a veth pair with a multicast route in
// each: the group's packets cross the pair as they would cross a LAN. stream-handle itself stays
// here (it reaches Redis on loopback); its ffmpeg runs in the recorder's namespace through a
// FFMPEG_PATH wrapper. Making namespaces needs root (ip netns); without it the test says so.

const RUN = `${process.pid % 100000}`;
const CAMERA_NS = `crispy-mc-cam-${RUN}`;
const RECORDER_NS = `crispy-mc-rec-${RUN}`;
const CAMERA_ADDRESS = '10.77.0.1';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function canMakeNamespaces(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
}

const available = canMakeNamespaces() && rtspCameraAvailable();
if (!available) console.warn('rtsp-multicast: skipped: it needs root (ip netns) and the gst-rtsp-server camera');

describe.skipIf(!available)('a camera that offers only UDP multicast, across a veth pair between two network namespaces', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let camera: RtspCamera | undefined;
  let ffmpegWrapper = '';

  beforeAll(async () => {
    const cameraLink = `cmc${RUN}`.slice(0, 15);
    const recorderLink = `cmr${RUN}`.slice(0, 15);
    ip('netns', 'add', CAMERA_NS);
    ip('netns', 'add', RECORDER_NS);
    ip('link', 'add', cameraLink, 'type', 'veth', 'peer', 'name', recorderLink);
    ip('link', 'set', cameraLink, 'netns', CAMERA_NS);
    ip('link', 'set', recorderLink, 'netns', RECORDER_NS);
    for (const [ns, link, address] of [
      [CAMERA_NS, cameraLink, `${CAMERA_ADDRESS}/24`],
      [RECORDER_NS, recorderLink, '10.77.0.2/24'],
    ] as const) {
      ip('-n', ns, 'addr', 'add', address, 'dev', link);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', link, 'up');
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', link);
    }
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    ffmpegWrapper = join(pipeline.dir, 'ffmpeg-in-recorder-ns');
    const ffmpegPath = execFileSync('sh', ['-c', `command -v ${FFMPEG_BIN}`])
      .toString()
      .trim();
    await writeFile(ffmpegWrapper, `#!/bin/sh\nexec ip netns exec ${RECORDER_NS} ${ffmpegPath} "$@"\n`);
    await chmod(ffmpegWrapper, 0o755);
    camera = await startRtspCamera({
      netns: CAMERA_NS,
      address: CAMERA_ADDRESS,
      protocols: 'udp_multicast',
      width: 320,
      height: 240,
      fps: 25,
      gopFrames: 25,
      mounts: ['mcast', 'auto'],
    });
  }, 60_000);

  afterAll(async () => {
    await camera?.stop();
    await pipeline?.stop();
    await redis?.stop();
    for (const ns of [CAMERA_NS, RECORDER_NS]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });

  // One source at a time: recording both mounts at once, the second one's multicast SETUP was
  // answered 461 by gst-rtsp-server while the first played (a real camera with one stream never
  // meets this).
  for (const [source, transport, mount] of [
    ['mcast', 'udp_multicast', 'mcast'],
    ['mcast-auto', 'auto', 'auto'],
  ] as const) {
    it(`transport ${transport} records over multicast, and the chunks say so`, async () => {
      const sourcesFile = join(pipeline.dir, `${source}.json`);
      await writeFile(sourcesFile, JSON.stringify({ sources: [{ id: source, url: camera?.url(mount), transport, chunkSeconds: 2 }] }));
      const recorder = pipeline.runStreamHandle({ FFMPEG_PATH: ffmpegWrapper, RECONNECT_MIN_DELAY_MS: '300' }, ['--sources', sourcesFile]);
      await recorder.waitForLog((l) => l.source === source && l.message === 'chunk recorded' && Number(l.sequence) >= 2, 60_000, `three chunks of ${source}`);
      expect(await recorder.stop()).toBe(0);
      if (transport === 'auto') {
        const tried = recorder.logs
          .filter((l) => l.source === source && String(l.message).startsWith('camera refused RTSP over'))
          .map((l) => `${String(l.transport)}>${String(l.next)}`);
        expect(tried).toEqual(['tcp>udp', 'udp>udp_multicast']);
      }
      const sequences = recorder.logs.filter((l) => l.source === source && l.message === 'chunk recorded').map((l) => Number(l.sequence));
      const described = await pipeline.waitForDescriptions(source, sequences);
      for (const line of described) expect(line).toMatchObject({ width: 320, height: 240, channels: 3, durationCheck: 'match' });
      const stored = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === source);
      expect(stored.map((o) => Number(o.resource.metadata.sequence))).toEqual(sequences);
      for (const object of stored) expect(object.resource.metadata.transport).toBe('udp_multicast');
    }, 120_000);
  }
});
