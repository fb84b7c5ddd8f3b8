// The main job on local defaults: a sample video (or the source you name) goes through
// stream-handle -> BullMQ -> upload-worker -> a bucket on disk -> notification -> the function,
// each a separate process, and the function's description of every chunk is printed.
//
//   npm run demo                              a generated 30 s 720p30 sample file
//   npm run demo -- rtsp://user:pass@cam/1    a camera, recorded for DEMO_SECONDS (default 20)
//   npm run demo -- /path/to/video.mp4        a file of yours

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { displayUrl, errorMessage } from '@crispy-streamer/shared';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startFunctionService, startStreamHandle, startUploadWorker } from '@crispy-streamer/harness/local-stack';
import { startRedisServer } from '@crispy-streamer/harness/redis-server';
import { REPO_ROOT, type LogLine, type ServiceProcess } from '@crispy-streamer/harness/service-process';

const outputDir = join(REPO_ROOT, 'demo-output');
const source = process.argv[2] ?? join(outputDir, 'sample.mp4');
const isLive = /^rtsps?:\/\//i.test(source);
const liveSeconds = Number(process.env.DEMO_SECONDS ?? 20);

function makeSample(path: string): void {
  if (existsSync(path)) return;
  console.log('generating a 30 s 1280x720 30 fps sample with a 2 s GOP ...');
  execFileSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30',
    '-t',
    '30',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-g',
    '60',
    '-keyint_min',
    '60',
    '-sc_threshold',
    '0',
    '-pix_fmt',
    'yuv420p',
    path,
  ]);
}

async function main(): Promise<void> {
  for (const dir of ['spool', 'bucket', 'logs']) rmSync(join(outputDir, dir), { recursive: true, force: true });
  mkdirSync(join(outputDir, 'logs'), { recursive: true });
  if (process.argv[2] === undefined) makeSample(source);

  const redis = await startRedisServer();
  const functionPort = await freePort();
  const workerPort = await freePort();
  const secret = randomBytes(32).toString('hex');
  const workerUrl = `http://127.0.0.1:${workerPort}`;
  const services: ServiceProcess[] = [];
  try {
    const fn = startFunctionService({
      port: functionPort,
      env: { LOCAL_BUCKET_BASE_URL: workerUrl, LOCAL_SIGNING_SECRET: secret, BUCKETS: 'bucket' },
      logFile: join(outputDir, 'logs/cloud-function.log'),
    });
    services.push(fn);
    await fn.waitForLog((l) => l.message === 'function listening', 30_000, 'that it listens');
    const worker = startUploadWorker({
      env: {
        REDIS_URL: redis.url,
        SPOOL_DIR: join(outputDir, 'spool'),
        BUCKET_URL: `file://${join(outputDir, 'bucket')}`,
        HTTP_PORT: String(workerPort),
        NOTIFY_URL: `http://127.0.0.1:${functionPort}/projects/local/topics/chunks`,
        LOCAL_SIGNING_SECRET: secret,
      },
      logFile: join(outputDir, 'logs/upload-worker.log'),
    });
    services.push(worker);
    await worker.waitForLog((l) => l.message === 'upload-worker ready', 30_000, 'that it is ready');

    console.log(`recording ${displayUrl(source)}${isLive ? ` for ${liveSeconds} s` : ''} ...`);
    const started = Date.now();
    const recorder = startStreamHandle({
      env: { REDIS_URL: redis.url, STATUS_PORT: '0', SPOOL_DIR: join(outputDir, 'spool'), SOURCE_URL: source, SOURCE_ID: isLive ? 'camera' : 'sample' },
      logFile: join(outputDir, 'logs/stream-handle.log'),
    });
    services.push(recorder);
    if (isLive) setTimeout(() => void recorder.stop(), liveSeconds * 1000);
    const code = await recorder.exited;
    const recorded = recorder.logs.filter((l) => l.message === 'chunk recorded');
    if (code !== 0 || recorded.length === 0) {
      throw new Error(`stream-handle exited ${code} after ${recorded.length} chunks; see demo-output/logs/stream-handle.log`);
    }
    const described: LogLine[] = [];
    for (const chunk of recorded) {
      described.push(
        await fn.waitForLog(
          (l) => l.message?.startsWith('chunk described') === true && l.sequence === chunk.sequence,
          60_000,
          `chunk ${String(chunk.sequence)}`,
        ),
      );
    }
    const wallSeconds = (Date.now() - started) / 1000;
    console.log('\nsequence  start (UTC)               duration   bytes      frame          URL');
    for (const line of described) {
      console.log(
        `${String(line.sequence).padStart(8)}  ${String(line.startTime)}  ${String(line.durationMs).padStart(6)} ms  ${String(line.bytes).padStart(9)}  ` +
          `${String(line.width)}x${String(line.height)}x${String(line.channels)}  ${String(line.signedUrl).slice(0, 60)}...`,
      );
    }
    const videoSeconds = described.reduce((sum, l) => sum + Number(l.durationMs), 0) / 1000;
    console.log(
      `\n${described.length} chunks, ${videoSeconds.toFixed(3)} s of video, in ${wallSeconds.toFixed(1)} s from start to the last function log line.`,
    );
    console.log(`bucket: ${join(outputDir, 'bucket')}   logs: ${join(outputDir, 'logs')}`);
  } finally {
    for (const service of services.reverse()) await service.stop();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`demo failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
