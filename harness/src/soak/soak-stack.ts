// The whole pipeline for the soak, each part a real process or server on loopback, each service
// restartable after a fault: Redis (append-only, so a crash keeps the queue), one RTSP camera
// process per camera, the GCS test server behind a TCP proxy that can reset connections, the
// Pub/Sub emulator and the function when the emulator is installed, one upload worker and two
// recorders (edge-a with the file source, edge-b under libfaketime so its clock can be stepped).

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { freePort } from '../free-port.js';
import { startFunctionService, startStreamHandle, startUploadWorker } from '../local-stack.js';
import { startRedisServer, type RedisServer } from '../redis-server.js';
import type { ServiceProcess } from '../service-process.js';
import { startGcsTestServer, type GcsTestServer } from '../gcs-test-server.js';
import { pubsubEmulatorAvailable, startPubsubEmulator, type PubsubEmulator } from '../pubsub-emulator.js';
import { startRtspCamera, type RtspCamera } from '../rtsp-camera.js';
import { runCommandOrThrow } from '../child-process.js';
import { FFMPEG_BIN } from '../sample-video.js';
import { startShapedProxy, type ShapedProxy } from '../shaped-proxy.js';

export const SOAK_BUCKET = 'soak-bucket';
const PROJECT = 'soak';
const TOPIC = 'chunks';
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** The spool's own file system (a tmpfs, when root may mount one), so "disk full" fills only it. */
export const SPOOL_FS_BYTES = 256 * 1024 * 1024;
export const SPOOL_MIN_FREE_BYTES = 32 * 1024 * 1024;

/** A service that faults kill and the soak starts again; every process it ran keeps its logs. */
export interface RestartableService {
  readonly name: string;
  current: ServiceProcess;
  readonly all: ServiceProcess[];
  start(): Promise<ServiceProcess>;
}

export interface RecorderNode {
  node: string;
  service: RestartableService;
  sources: string[];
  /** libfaketime's offset file ("+0", "+120"): written to step this recorder's clock; undefined without libfaketime. */
  clockFile: string | undefined;
}

export interface SoakStack {
  dir: string;
  logDir: string;
  spoolDir: string;
  /** true when the spool is a tmpfs of SPOOL_FS_BYTES of its own (root only): "disk full" needs it */
  spoolIsOwnFs: boolean;
  redis: RedisServer;
  gcs: GcsTestServer;
  /** between the worker and storage: resets connections */
  storageLink: ShapedProxy;
  pubsub: PubsubEmulator | undefined;
  cameras: Map<string, RtspCamera>;
  fileSourceId: string;
  recorders: RecorderNode[];
  worker: RestartableService;
  fn: RestartableService | undefined;
  workerUrl: string;
  stop(): Promise<void>;
}

/** 320x180 25 fps H.264, a keyframe every second, ~120 kbit/s. */
async function makeLowBitrateVideo(path: string, seconds: number): Promise<void> {
  await runCommandOrThrow(
    FFMPEG_BIN,
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=320x180:rate=25:duration=${seconds}`,
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-b:v',
      '120k',
      '-maxrate',
      '150k',
      '-bufsize',
      '300k',
      '-g',
      '25',
      '-keyint_min',
      '25',
      '-sc_threshold',
      '0',
      '-pix_fmt',
      'yuv420p',
      path,
    ],
    { timeoutMs: 60_000 + seconds * 1000 },
  );
}

function restartable(name: string, launch: () => Promise<ServiceProcess>): Promise<RestartableService> {
  const service: RestartableService = {
    name,
    current: undefined as unknown as ServiceProcess,
    all: [],
    async start() {
      const process = await launch();
      service.current = process;
      service.all.push(process);
      return process;
    },
  };
  return service.start().then(() => service);
}

export async function startSoakStack(options: { cameras: number; chunkSeconds: number; fileSeconds: number; logDir: string }): Promise<SoakStack> {
  const dir = await mkdtemp(join(tmpdir(), 'crispy-soak-'));
  const spoolDir = join(dir, 'spool');
  mkdirSync(spoolDir, { recursive: true });
  mkdirSync(options.logDir, { recursive: true });
  let spoolIsOwnFs = false;
  if (process.getuid?.() === 0) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SPOOL_FS_BYTES}`, 'crispy-soak-spool', spoolDir]);
    spoolIsOwnFs = true;
  }
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch((error: unknown) => console.error(`soak clean-up: ${String(error)}`));
    if (spoolIsOwnFs) execFileSync('umount', ['-l', spoolDir]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const redis = await startRedisServer({ appendOnly: true });
    stops.push(() => redis.stop());

    // Small pictures at ~120 kbit/s: a long run's objects all stay in the test server's memory
    // (16 cameras for an hour in 4 s chunks: ~14,000 objects of ~60 KB).
    const loop = join(dir, 'loop.mp4');
    await makeLowBitrateVideo(loop, 20);
    const fileSource = join(dir, 'file-source.mp4');
    await makeLowBitrateVideo(fileSource, options.fileSeconds);

    const cameras = new Map<string, RtspCamera>();
    stops.push(async () => {
      for (const camera of cameras.values()) await camera.stop();
    });
    for (let i = 1; i <= options.cameras; i++) cameras.set(`cam${String(i).padStart(2, '0')}`, await startRtspCamera({ sourceFile: loop }));

    const pubsub = pubsubEmulatorAvailable() ? await startPubsubEmulator({ projectId: PROJECT }) : undefined;
    if (pubsub !== undefined) stops.push(() => pubsub.stop());
    await pubsub?.createTopic(TOPIC);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const gcs = await startGcsTestServer({
      signerPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      ...(pubsub === undefined ? {} : { notifications: { pubsubEmulatorUrl: pubsub.url, project: PROJECT, topic: TOPIC } }),
    });
    stops.push(() => gcs.stop());
    const storageLink = await startShapedProxy({ host: '127.0.0.1', port: gcs.port }, 10_000_000_000);
    stops.push(() => storageLink.stop());

    let fn: RestartableService | undefined;
    if (pubsub !== undefined) {
      const keyFile = join(dir, 'service-account.json');
      const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      writeFileSync(
        keyFile,
        JSON.stringify({
          type: 'service_account',
          project_id: PROJECT,
          private_key_id: 'soak',
          private_key: privatePem,
          client_email: `signer@${PROJECT}.iam.gserviceaccount.com`,
          client_id: '1',
          token_uri: `${gcs.url}/token`,
        }),
      );
      const functionPort = await freePort();
      fn = await restartable('cloud-function', async () => {
        const service = startFunctionService({
          port: functionPort,
          env: { BUCKETS: SOAK_BUCKET, GCS_API_ENDPOINT: gcs.localhostUrl, GOOGLE_APPLICATION_CREDENTIALS: keyFile, METADATA_SERVER_DETECTION: 'none' },
          logFile: join(options.logDir, 'cloud-function.log'),
        });
        await service.waitForLog((l) => l.message === 'function listening', 30_000, 'that the function listens');
        return service;
      });
      const fnService = fn;
      stops.push(() => fnService.current.stop().then(() => undefined));
      await pubsub.createPushSubscription('describe-chunks', TOPIC, `http://localhost:${functionPort}/projects/${PROJECT}/topics/${TOPIC}`);
    }

    const workerPort = await freePort();
    const worker = await restartable('upload-worker', async () => {
      const service = startUploadWorker({
        env: {
          REDIS_URL: redis.url,
          SPOOL_DIR: spoolDir,
          HTTP_PORT: String(workerPort),
          WORKER_ID: 'soak-worker',
          BUCKET_URL: `gs://${SOAK_BUCKET}/soak`,
          GCS_API_ENDPOINT: storageLink.url,
          GOOGLE_CLOUD_PROJECT: PROJECT,
          METADATA_SERVER_DETECTION: 'none',
          UPLOAD_CONCURRENCY: '4',
          UPLOAD_PROGRESS_TIMEOUT_MS: '5000',
          OUTAGE_MIN_PAUSE_MS: '500',
          OUTAGE_MAX_PAUSE_MS: '4000',
        },
        logFile: join(options.logDir, 'upload-worker.log'),
      });
      await service.waitForLog((l) => l.message === 'upload-worker ready', 30_000, 'that the worker is ready');
      return service;
    });
    stops.push(() => worker.current.stop().then(() => undefined));

    const ids = [...cameras.keys()];
    const fileSourceId = 'file01';
    const nodes = [
      { node: 'edge-a', sources: ids.filter((_, i) => i % 2 === 0), file: true },
      { node: 'edge-b', sources: ids.filter((_, i) => i % 2 === 1), file: false },
    ].filter((n) => n.sources.length > 0 || n.file);
    const recorders: RecorderNode[] = [];
    stops.push(async () => {
      for (const recorder of recorders) await recorder.service.current.stop();
    });
    for (const { node, sources, file } of nodes) {
      const sourcesFile = join(dir, `${node}.yaml`);
      const list = sources.map((id) => ({ id, url: cameras.get(id)?.url() }));
      if (file) list.push({ id: fileSourceId, url: fileSource, realtime: true } as { id: string; url: string });
      writeFileSync(sourcesFile, toYaml({ defaults: { chunkSeconds: options.chunkSeconds }, sources: list }));
      const clockFile = node === 'edge-b' && existsSync(LIBFAKETIME) ? join(dir, `${node}.faketime`) : undefined;
      if (clockFile !== undefined) writeFileSync(clockFile, '+0\n');
      const clockEnv: Record<string, string> =
        clockFile === undefined ? {} : { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' };
      const service = await restartable(`stream-handle ${node}`, async () => {
        return startStreamHandle({
          env: {
            REDIS_URL: redis.url.replace('//127.0.0.1:', '//localhost:'),
            SPOOL_DIR: spoolDir,
            NODE_ID: node,
            STATUS_PORT: '0',
            RECONNECT_MIN_DELAY_MS: '250',
            RECONNECT_MAX_DELAY_MS: '2000',
            SPOOL_FULL_POLICY: 'drop-oldest',
            SPOOL_CHECK_MS: '500',
            SPOOL_RECONCILE_MS: '15000',
            ...(spoolIsOwnFs ? { SPOOL_MIN_FREE_BYTES: String(SPOOL_MIN_FREE_BYTES) } : {}),
            ...clockEnv,
          },
          args: ['--sources', sourcesFile],
          logFile: join(options.logDir, `stream-handle-${node}.log`),
        });
      });
      recorders.push({ node, service, sources: file ? [...sources, fileSourceId] : sources, clockFile });
    }
    return {
      dir,
      logDir: options.logDir,
      spoolDir,
      spoolIsOwnFs,
      redis,
      gcs,
      storageLink,
      pubsub,
      cameras,
      fileSourceId,
      recorders,
      worker,
      fn,
      workerUrl: `http://127.0.0.1:${workerPort}`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
