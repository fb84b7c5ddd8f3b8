import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { freePort } from './free-port.js';
import { startFunctionService, startStreamHandle, startUploadWorker } from './local-stack.js';
import { REPO_ROOT, type LogLine, type ServiceProcess } from './service-process.js';
import { faultOutcome, type FaultOutcome } from './fault-outcome.js';

/** The function and the worker with a local bucket, in a temp dir, ready for stream-handle runs. */
export interface LocalPipeline {
  dir: string;
  spoolDir: string;
  bucketDir: string;
  fn: ServiceProcess;
  /** The current worker process (replaced by startWorker). */
  worker: ServiceProcess;
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  redisUrl: string;
  /** The worker's HTTP server: Bull Board at /board. */
  workerUrl: string;
  /** The function's Pub/Sub push endpoint. */
  functionPushUrl: string;
  /** The local bucket's HMAC key, shared by the worker and the function (undefined with other storage). */
  signingSecret: string | undefined;
  runStreamHandle(env: Record<string, string>, args?: string[]): ServiceProcess;
  /** Waits until the function has described each of these sequences of a source. */
  waitForDescriptions(sourceId: string, sequences: number[], timeoutMs?: number): Promise<LogLine[]>;
  bucketObjects(): Promise<BucketObject[]>;
  allLogs(): LogLine[];
  stop(): Promise<void>;
}

export interface BucketObject {
  name: string;
  bytes: Buffer;
  resource: { generation: string; crc32c: string; size: string; metadata: Record<string, string>; contentType: string };
}

export interface PipelineOptions {
  /** Storage settings; by default a local bucket in the temp dir that notifies the function. */
  storage?: (ports: { functionPort: number; workerPort: number; bucketDir: string }) => {
    functionEnv: Record<string, string>;
    workerEnv: Record<string, string>;
  };
  /** Called once the function listens, before the worker starts (to wire notifications to it). */
  onFunctionListening?: (functionPort: number) => Promise<void>;
  workerEnv?: Record<string, string>;
}

/**
 * Storage settings for a pipeline on the GCS test server: the worker writes `gs://BUCKET/PREFIX`
 * (through `workerEndpoint`, e.g. an impaired link in front of the server, or the server itself),
 * and the function reads BUCKET from the server.
 */
export function gcsTestServerStorage(options: {
  serverUrl: string;
  bucket: string;
  prefix: string;
  project: string;
  workerEndpoint?: string;
  workerEnv?: Record<string, string>;
}): NonNullable<PipelineOptions['storage']> {
  return () => ({
    functionEnv: { GCS_API_ENDPOINT: options.serverUrl, BUCKETS: options.bucket },
    workerEnv: {
      BUCKET_URL: `gs://${options.bucket}/${options.prefix}`,
      GCS_API_ENDPOINT: options.workerEndpoint ?? options.serverUrl,
      GOOGLE_CLOUD_PROJECT: options.project,
      METADATA_SERVER_DETECTION: 'none',
      ...options.workerEnv,
    },
  });
}

export async function startLocalPipeline(redisUrl: string, options: PipelineOptions = {}): Promise<LocalPipeline> {
  const dir = await mkdtemp(join(tmpdir(), 'crispy-e2e-'));
  const spoolDir = join(dir, 'spool');
  const bucketDir = join(dir, 'bucket');
  const functionPort = await freePort();
  const workerPort = await freePort();
  const secret = randomBytes(32).toString('hex');
  const localStorage = () => {
    return {
      // By host name: the function must read its chunks from any host, not only from an IP.
      functionEnv: { LOCAL_BUCKET_BASE_URL: `http://localhost:${workerPort}`, LOCAL_SIGNING_SECRET: secret },
      workerEnv: {
        BUCKET_URL: `file://${bucketDir}`,
        // By host name, as a deployment names the function.
        NOTIFY_URL: `http://localhost:${functionPort}/projects/local/topics/chunks`,
        LOCAL_SIGNING_SECRET: secret,
      },
    };
  };
  const storage = (options.storage ?? localStorage)({ functionPort, workerPort, bucketDir });
  // The local bucket is named after its folder; other storage names its buckets in functionEnv.
  const fn = startFunctionService({ port: functionPort, env: { LOG_LEVEL: 'debug', BUCKETS: basename(bucketDir), ...storage.functionEnv } });
  await fn.waitForLog((l) => l.message === 'function listening', 30_000, 'that it listens');
  await options.onFunctionListening?.(functionPort);
  const workerEnv = { REDIS_URL: redisUrl, SPOOL_DIR: spoolDir, HTTP_PORT: String(workerPort), ...storage.workerEnv, ...options.workerEnv };
  const launchWorker = async () => {
    const worker = startUploadWorker({ env: workerEnv });
    await worker.waitForLog((l) => l.message === 'upload-worker ready', 30_000, 'that it is ready');
    return worker;
  };
  const retiredWorkers: ServiceProcess[] = [];
  const recorders: ServiceProcess[] = [];

  const pipeline: LocalPipeline = {
    worker: await launchWorker(),
    async stopWorker() {
      await pipeline.worker.stop();
      retiredWorkers.push(pipeline.worker);
    },
    async startWorker() {
      pipeline.worker = await launchWorker();
    },
    dir,
    spoolDir,
    bucketDir,
    fn,
    redisUrl,
    workerUrl: `http://127.0.0.1:${workerPort}`,
    functionPushUrl: `http://127.0.0.1:${functionPort}/projects/local/topics/chunks`,
    signingSecret: options.storage === undefined ? secret : storage.functionEnv.LOCAL_SIGNING_SECRET,
    runStreamHandle(env, args) {
      // The recorder reaches Redis by host name (the worker by address): both must work.
      const recorder = startStreamHandle({
        env: { REDIS_URL: redisUrl.replace('//127.0.0.1:', '//localhost:'), SPOOL_DIR: spoolDir, STATUS_PORT: '0', ...env },
        args,
      });
      recorders.push(recorder);
      return recorder;
    },
    async waitForDescriptions(sourceId, sequences, timeoutMs = 60_000) {
      const lines: LogLine[] = [];
      for (const sequence of sequences) {
        lines.push(
          await fn.waitForLog(
            (l) => typeof l.message === 'string' && l.message.startsWith('chunk described') && l.source === sourceId && l.sequence === sequence,
            timeoutMs,
            `a description of ${sourceId} #${sequence}`,
          ),
        );
      }
      return lines;
    },
    async bucketObjects() {
      const objects: BucketObject[] = [];
      for (const path of await walk(bucketDir)) {
        if (!/\.(mp4|webm|mkv)$/.test(path)) continue;
        // An object exists once its resource is there too: bytes alone are an upload in progress.
        const resource = await readFile(`${path}.meta.json`, 'utf8').catch(() => undefined);
        if (resource === undefined) continue;
        objects.push({ name: relative(bucketDir, path), bytes: await readFile(path), resource: JSON.parse(resource) as BucketObject['resource'] });
      }
      return objects.sort((a, b) => a.name.localeCompare(b.name));
    },
    allLogs() {
      return [fn, ...retiredWorkers, pipeline.worker, ...recorders].flatMap((service) => service.logs);
    },
    async stop() {
      for (const service of [...recorders, pipeline.worker, fn]) await service.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return pipeline;
}

/** Every file below `dir`, skipping dot folders (the local bucket's .tmp and .notifications). */
export async function walk(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else files.push(path);
  }
  return files;
}

/** Exact duration of a file's video stream in ms, from ffprobe's frame count and rate. */
export function probeVideoDurationMs(path: string): number {
  const out = execFileSync('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-count_packets',
    '-show_entries',
    'stream=nb_read_packets,r_frame_rate',
    '-of',
    'json',
    path,
  ]).toString();
  const stream = (JSON.parse(out) as { streams: { nb_read_packets: string; r_frame_rate: string }[] }).streams[0];
  if (stream === undefined) throw new Error(`${path} has no video stream`);
  const [num, den] = stream.r_frame_rate.split('/').map(Number);
  return (Number(stream.nb_read_packets) * 1000 * (den ?? 1)) / (num ?? 1);
}

/**
 * One fault test's outcome, appended to test-output/fault-summary.jsonl for the README's figures.
 * Given sequence numbers: recorded by stream-handle, found in the bucket (one entry per object), and
 * reported (dropped by policy, or kept in quarantine). A chunk counts as stored once only if exactly
 * one object holds it, and as duplicated if more than one does; lost is whatever is neither stored
 * (once or more) nor reported. Call it before asserting, so a failing test still leaves its line.
 */
export function recordFaultOutcome(fault: string, sequences: { recorded: number[]; stored: number[]; reported?: number[] }): FaultOutcome {
  return appendFaultOutcome(faultOutcome(fault, sequences));
}

/** Appends an outcome counted elsewhere (the soak counts chunks of many sources). */
export function appendFaultOutcome(outcome: FaultOutcome): FaultOutcome {
  const line = { ...outcome, at: new Date().toISOString() };
  mkdirSync(join(REPO_ROOT, 'test-output'), { recursive: true });
  appendFileSync(join(REPO_ROOT, 'test-output', 'fault-summary.jsonl'), `${JSON.stringify(line)}\n`);
  return line;
}
