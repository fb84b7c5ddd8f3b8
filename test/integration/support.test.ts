import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, spawnChild, type Child } from '@crispy-streamer/harness/child-process';
import { freePort } from '@crispy-streamer/harness/free-port';
import { pubsubEmulatorAvailable, PUBSUB_EMULATOR_BIN, startPubsubEmulator, type PubsubEmulator } from '@crispy-streamer/harness/pubsub-emulator';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startRtspCamera, type RtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { FFMPEG_BIN, makeSampleVideo, probeDuration, probeVideo } from '@crispy-streamer/harness/sample-video';

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'crispy-support-test-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** Running or stopped, but not a zombie waiting for PID 1 to reap it. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** ffmpeg copying `seconds` of an RTSP stream into an mp4, as the recorder does. */
function recordRtsp(url: string, seconds: number, output: string): ReturnType<typeof runCommand> {
  return runCommand(
    FFMPEG_BIN,
    ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-rtsp_transport', 'tcp', '-i', url, '-t', String(seconds), '-c', 'copy', output],
    { timeoutMs: 30_000 },
  );
}

describe('child-process', () => {
  it('escalates to SIGKILL when SIGTERM is ignored, and takes the whole group down', async () => {
    // The shell ignores TERM and starts a grandchild that would otherwise be orphaned.
    const child = spawnChild('sh', ['-c', 'trap "" TERM; sleep 60 & echo "grandchild $!"; wait'], { name: 'stubborn-sh' });
    const line = await child.waitForLine((text) => text.startsWith('grandchild '), 5_000);
    const grandchildPid = Number(line.split(' ')[1]);
    expect(isAlive(grandchildPid)).toBe(true);

    const started = Date.now();
    const status = await child.stop(300);
    expect(status.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await waitUntil(() => !isAlive(grandchildPid), 2_000)).toBe(true);
  });

  it('rejects waitForLine with the output when the child exits first', async () => {
    const child = spawnChild('sh', ['-c', 'echo about to fail; exit 7'], { name: 'failing-sh' });
    await expect(child.waitForLine((text) => text === 'never', 5_000, 'the line that never comes')).rejects.toThrow(
      /failing-sh exited with code 7 before printing the line that never comes[\s\S]*about to fail/,
    );
  });

  it('kills the children of a test process that dies without cleaning up', async () => {
    // A separate Node process starts a child through spawnChild and is then SIGKILLed:
    // neither afterAll nor exit hooks run, so only the watchdog can clean up.
    const helperModule = fileURLToPath(new URL('../../harness/src/child-process.ts', import.meta.url));
    const script = `
      import { spawnChild } from ${JSON.stringify(helperModule)};
      const child = spawnChild('sleep', ['60']);
      console.log('CHILD ' + child.pid);
      setInterval(() => {}, 1000);
    `;
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    const parent = spawnChild(tsx, ['--eval', script], { name: 'doomed-parent' });
    const line = await parent.waitForLine((text) => text.startsWith('CHILD '), 20_000);
    const orphanPid = Number(line.split(' ')[1]);
    expect(isAlive(orphanPid)).toBe(true);

    await parent.kill();
    expect(await waitUntil(() => !isAlive(orphanPid), 3_000)).toBe(true);
  });
});

describe('redis-server', () => {
  let redis: RedisServer | undefined;
  let client: Redis | undefined;

  afterEach(async () => {
    client?.disconnect();
    client = undefined;
    await redis?.stop();
    redis = undefined;
  });

  it('answers PING/SET/GET on its own port and removes its directory on stop', async () => {
    redis = await startRedisServer();
    expect(redis.port).not.toBe(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    expect(await client.ping()).toBe('PONG');
    await client.set('greeting', 'hello');
    expect(await client.get('greeting')).toBe('hello');
    expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);

    const { dir } = redis;
    await redis.stop();
    redis = undefined;
    expect(existsSync(dir)).toBe(false);
  });

  it('keeps keys across restart and across a crash with appendOnly', async () => {
    redis = await startRedisServer({ appendOnly: true });
    const { port } = redis;
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
    await client.set('survives-restart', '1');
    client.disconnect();

    await redis.restart();
    expect(redis.port).toBe(port);
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
    expect(await client.get('survives-restart')).toBe('1');
    await client.set('survives-crash', '2');
    client.disconnect();

    await redis.kill();
    await redis.restart();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
    expect(await client.mget('survives-restart', 'survives-crash')).toEqual(['1', '2']);
  });
});

describe('sample-video', () => {
  it('makes an H.264 mp4 of the asked length with a fixed GOP', async () => {
    const path = join(workDir, 'sample-4s.mp4');
    await makeSampleVideo(path, { seconds: 4 });
    expect(await probeDuration(path)).toBeCloseTo(4, 1);
    const facts = await probeVideo(path);
    expect(facts).toMatchObject({ codec: 'h264', width: 1280, height: 720, frames: 120 });
    expect(facts.keyframeTimes).toEqual([0, 2]);
  });

  it('makes H.265 with B-frames when asked', async () => {
    const path = join(workDir, 'sample-hevc.mp4');
    await makeSampleVideo(path, { seconds: 2, width: 320, height: 240, fps: 25, gopSeconds: 1, bFrames: true, codec: 'libx265' });
    const facts = await probeVideo(path);
    expect(facts).toMatchObject({ codec: 'hevc', width: 320, height: 240, frames: 50 });
    expect(facts.keyframeTimes).toEqual([0, 1]);
  });
});

describe('rtsp-camera', () => {
  let camera: RtspCamera | undefined;
  let reader: Child | undefined;

  afterEach(async () => {
    await reader?.kill();
    reader = undefined;
    await camera?.stop();
    camera = undefined;
  });

  it('serves 1280x720 at 30 fps on two mounts that ffmpeg can record', async () => {
    const started = Date.now();
    camera = await startRtspCamera({ mounts: ['cam0', 'cam1'] });
    const readyMs = Date.now() - started;
    expect(camera.url()).toBe(`rtsp://127.0.0.1:${camera.port}/cam0`);

    const activeCamera = camera;
    const recordings = await Promise.all(
      ['cam0', 'cam1'].map(async (mount) => {
        const output = join(workDir, `${mount}.mp4`);
        return { output, result: await recordRtsp(activeCamera.url(mount), 3, output) };
      }),
    );
    for (const { output, result } of recordings) {
      expect(result.code, result.stderr).toBe(0);
      const facts = await probeVideo(output);
      expect(facts).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
      // The camera starts a GOP for each new client, so nearly all 90 frames are kept.
      expect(facts.frames).toBeGreaterThanOrEqual(84);
      expect(facts.frames).toBeLessThanOrEqual(92);
      expect(facts.keyframeTimes[0]).toBeLessThan(0.2);
    }
    console.info(`camera with two mounts ready in ${readyMs} ms`);
  });

  it('requires the right credentials when given some', async () => {
    camera = await startRtspCamera({ credentials: { user: 'viewer', password: 's3cret/:@' }, width: 640, height: 360 });
    const probe = (url: string): ReturnType<typeof runCommand> =>
      runCommand('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=width', '-of', 'csv=p=0', url], { timeoutMs: 15_000 });

    const right = await probe(camera.url());
    expect(right.code, right.stderr).toBe(0);
    expect(right.stdout.trim()).toBe('640');

    const wrong = await probe(`rtsp://viewer:nope@127.0.0.1:${camera.port}/cam0`);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('401');

    const anonymous = await probe(`rtsp://127.0.0.1:${camera.port}/cam0`);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain('401');
  });

  it('loops a pre-encoded file without re-encoding it', async () => {
    const source = join(workDir, 'camera-source.mp4');
    await makeSampleVideo(source, { seconds: 2, width: 640, height: 360, gopSeconds: 1 });
    camera = await startRtspCamera({ sourceFile: source });

    // Longer than the file, so the recording spans a loop.
    const output = join(workDir, 'from-file.mp4');
    const result = await recordRtsp(camera.url(), 4, output);
    expect(result.code, result.stderr).toBe(0);
    const facts = await probeVideo(output);
    expect(facts).toMatchObject({ codec: 'h264', width: 640, height: 360 });
    expect(facts.duration).toBeGreaterThan(3.5);
    // A client joins mid-GOP (no encoder to ask for a keyframe): up to 1 s is skipped.
    expect(facts.frames).toBeGreaterThanOrEqual(85);
  });

  it('ends a reading ffmpeg at once when killed, and comes back on the same port', async () => {
    camera = await startRtspCamera({ width: 640, height: 360 });
    const { port } = camera;
    reader = spawnChild(
      FFMPEG_BIN,
      ['-nostdin', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', camera.url(), '-c', 'copy', '-f', 'null', '-progress', 'pipe:1', '-'],
      { name: 'ffmpeg-reader' },
    );
    await reader.waitForLine((line) => /^frame=[1-9]/.test(line), 10_000, 'a progress line with frames');

    const killedAt = Date.now();
    await camera.kill();
    await reader.exited;
    expect(Date.now() - killedAt).toBeLessThan(2_000);

    await camera.restart();
    expect(camera.port).toBe(port);
    const again = await runCommand('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=width', '-of', 'csv=p=0', camera.url()], {
      timeoutMs: 15_000,
    });
    expect(again.stdout.trim()).toBe('640');
  });

  it('goes silent when frozen, so only a reader with a timeout notices', async () => {
    camera = await startRtspCamera({ width: 640, height: 360 });
    reader = spawnChild(
      FFMPEG_BIN,
      // -timeout: socket I/O timeout in microseconds.
      [
        '-nostdin',
        '-loglevel',
        'error',
        '-rtsp_transport',
        'tcp',
        '-timeout',
        '1000000',
        '-i',
        camera.url(),
        '-c',
        'copy',
        '-f',
        'null',
        '-progress',
        'pipe:1',
        '-',
      ],
      { name: 'ffmpeg-reader' },
    );
    await reader.waitForLine((line) => /^frame=[1-9]/.test(line), 10_000, 'a progress line with frames');

    const frozenAt = Date.now();
    camera.freeze();
    await reader.exited;
    expect(Date.now() - frozenAt).toBeGreaterThan(800);
    expect(Date.now() - frozenAt).toBeLessThan(5_000);
    camera.thaw();
    // stop() must also work on a camera frozen again (SIGTERM needs a SIGCONT).
    camera.freeze();
  });
});

describe('pubsub-emulator', () => {
  let emulator: PubsubEmulator | undefined;
  let pushServer: Server | undefined;

  afterAll(async () => {
    await emulator?.stop();
    await new Promise<void>((resolve) => (pushServer === undefined ? resolve() : pushServer.close(() => resolve())));
  });

  it.skipIf(!pubsubEmulatorAvailable())(`pushes published messages to an HTTP endpoint (needs ${PUBSUB_EMULATOR_BIN})`, async () => {
    const pushes: unknown[] = [];
    const pushed = new Promise<void>((resolve) => {
      pushServer = createServer((request: IncomingMessage, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          pushes.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
          response.writeHead(204).end(); // 2xx acks the message
          resolve();
        });
      });
    });
    const pushPort = await freePort();
    await new Promise<void>((resolve) => pushServer?.listen(pushPort, '127.0.0.1', resolve));

    const started = Date.now();
    emulator = await startPubsubEmulator({ projectId: 'support-test' });
    const readyMs = Date.now() - started;
    expect(emulator.host).toMatch(/^127\.0\.0\.1:\d+$/);

    await emulator.createTopic('chunks');
    await emulator.createTopic('chunks'); // creating twice is harmless
    await emulator.createPushSubscription('describe', 'chunks', `http://127.0.0.1:${pushPort}/push`);
    await emulator.createPullSubscription('audit', 'chunks');

    // Publish through the plain REST API, as the brief's services would see it.
    const publish = await fetch(`${emulator.url}/v1/projects/support-test/topics/chunks:publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ data: Buffer.from('{"chunk":"a.mp4"}').toString('base64'), attributes: { camera: 'cam0' } }] }),
    });
    expect(publish.status).toBe(200);

    await Promise.race([pushed, sleep(15_000).then(() => Promise.reject(new Error('no push within 15 s')))]);
    expect(pushes[0]).toMatchObject({
      subscription: 'projects/support-test/subscriptions/describe',
      message: { data: Buffer.from('{"chunk":"a.mp4"}').toString('base64'), attributes: { camera: 'cam0' } },
    });
    console.info(`Pub/Sub emulator ready in ${readyMs} ms`);
  });
});
