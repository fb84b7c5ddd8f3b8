import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Storage } from '@google-cloud/storage';
import { REPO_ROOT, nodeArgsForSource } from '@crispy-streamer/harness/service-process';
import { walk, type PipelineOptions } from '@crispy-streamer/harness/local-pipeline';
import { onCleanup } from './cleanup.js';

/** One object as the bucket recorded it. */
export interface StoredObjectInfo {
  name: string;
  size: number;
  /** The bucket's creation time of the object (ms since epoch, this host's clock). */
  createdAtMs: number;
  source: string | undefined;
  sequence: number | undefined;
  frameCount: number | undefined;
  durationMs: number | undefined;
}

export interface RawUploadResult {
  files: number;
  bytes: number;
  wallMs: number;
  /** CPU seconds of the benchmark process while uploading (the client's own cost). */
  clientCpuSeconds: number;
  concurrency: number;
  how: string;
}

/** Where the chunks go: the local bucket (file://) or the GCS JSON-API test server (gs://). */
export interface BenchStorage {
  kind: 'local' | 'gcs';
  label: string;
  /** The storage endpoint's own process, when it has one (the GCS test server). */
  pid: number | undefined;
  /** How the pipeline reaches this storage; with notifySinkUrl, notifications go there instead of to the function. */
  pipelineOptions(logLevel: string, notifySinkUrl?: string): PipelineOptions;
  /** Every object of the pipeline's bucket. */
  objects(bucketDir: string): Promise<StoredObjectInfo[]>;
  /** Uploads the files with no queue, `concurrency` at a time, to the same kind of endpoint. */
  rawUpload(files: string[], concurrency: number): Promise<RawUploadResult>;
  /** Storage "down" for the next `count` object requests (gs:// only). */
  injectFault?(status: number, count: number): Promise<void>;
  stop(): Promise<void>;
}

async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(runners);
}

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Reads each file and hands it to `store`, `concurrency` at a time, timing the whole and its CPU. */
async function timedUploads(files: string[], concurrency: number, how: string, store: (file: string, data: Buffer) => Promise<void>): Promise<RawUploadResult> {
  const cpu0 = cpuSeconds();
  const started = performance.now();
  let bytes = 0;
  await inParallel(files, concurrency, async (file) => {
    const data = await readFile(file);
    await store(file, data);
    bytes += data.byteLength;
  });
  return { files: files.length, bytes, wallMs: performance.now() - started, clientCpuSeconds: cpuSeconds() - cpu0, concurrency, how };
}

function toInfo(name: string, size: number, created: string, metadata: Record<string, string> | undefined): StoredObjectInfo {
  const number = (key: string) => (metadata?.[key] === undefined ? undefined : Number(metadata[key]));
  return {
    name,
    size,
    createdAtMs: Date.parse(created),
    source: metadata?.source,
    sequence: number('sequence'),
    frameCount: number('frameCount'),
    durationMs: number('durationMs'),
  };
}

/** The local bucket: a folder the worker writes with write+fsync, link, and a .meta.json. */
export function localStorage(): BenchStorage {
  return {
    kind: 'local',
    label: 'local bucket (file://, same disk)',
    pid: undefined,
    pipelineOptions: (logLevel, notifySinkUrl) => ({
      workerEnv: { LOG_LEVEL: logLevel, ...(notifySinkUrl === undefined ? {} : { NOTIFY_URL: notifySinkUrl }) },
    }),
    async objects(bucketDir) {
      const objects: StoredObjectInfo[] = [];
      for (const path of await walk(bucketDir)) {
        if (!path.endsWith('.meta.json')) continue;
        try {
          const resource = JSON.parse(await readFile(path, 'utf8')) as { name: string; size: string; timeCreated: string; metadata?: Record<string, string> };
          objects.push(toInfo(resource.name, Number(resource.size), resource.timeCreated, resource.metadata));
        } catch {
          // being written right now
        }
      }
      return objects;
    },
    async rawUpload(files, concurrency) {
      // The least a durable local store must do: read the chunk, write it to a new file, fsync.
      const dir = await mkdtemp(join(tmpdir(), 'crispy-bench-raw-'));
      try {
        return await timedUploads(files, concurrency, 'readFile + write + fsync into a folder on the same disk', async (file, data) => {
          const handle = await open(join(dir, basename(file)), 'wx');
          try {
            await handle.writeFile(data);
            await handle.sync();
          } finally {
            await handle.close();
          }
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    async stop() {},
  };
}

const BUCKET = 'crispy-bench';
const PROJECT = 'crispy-bench';

/** The GCS JSON-API test server in its own process, with a Pub/Sub push stand-in to the function. */
export async function gcsStorage(): Promise<BenchStorage> {
  const keyDir = await mkdtemp(join(tmpdir(), 'crispy-bench-key-'));
  const removeKeyDir = onCleanup('service-account key dir', () => rm(keyDir, { recursive: true, force: true }));
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(keyDir, 'service-account.json');
  const child = spawn(process.execPath, nodeArgsForSource(join(REPO_ROOT, 'bench/lib/gcs-server-main.ts')), {
    cwd: REPO_ROOT,
    env: { ...process.env, SIGNER_PUBLIC_KEY_PEM: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const killChild = onCleanup('GCS test server process', async () => {
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  });
  const waiting = new Map<number, (value: Record<string, unknown>) => void>();
  let ready: (value: { url: string }) => void = () => undefined;
  const readyPromise = new Promise<{ url: string }>((resolve) => (ready = resolve));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (message.ready === true) ready(message as { url: string });
    const resolve = waiting.get(Number(message.id));
    if (resolve !== undefined) {
      waiting.delete(Number(message.id));
      resolve(message);
    }
  });
  let nextId = 1;
  const call = (cmd: string, args: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, (message) => (message.ok === true ? resolve(message) : reject(new Error(String(message.error)))));
      child.stdin?.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  const { url } = await Promise.race([
    readyPromise,
    exited.then(() => {
      throw new Error('the GCS test server process exited before it was ready');
    }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the GCS test server did not start in 30 s')), 30_000).unref()),
  ]);
  await writeFile(
    keyFile,
    JSON.stringify({
      type: 'service_account',
      project_id: PROJECT,
      private_key_id: 'bench',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: `signer@${PROJECT}.iam.gserviceaccount.com`,
      client_id: '1',
      token_uri: `${url}/token`,
    }),
  );

  return {
    kind: 'gcs',
    label: 'GCS test server (gs://, JSON API over HTTP, in memory)',
    pid: child.pid,
    pipelineOptions: (logLevel, notifySinkUrl) => ({
      storage: () => ({
        functionEnv: {
          BUCKETS: BUCKET,
          GCS_API_ENDPOINT: url,
          GOOGLE_APPLICATION_CREDENTIALS: keyFile,
          METADATA_SERVER_DETECTION: 'none',
          LOG_LEVEL: logLevel,
        },
        workerEnv: { BUCKET_URL: `gs://${BUCKET}/chunks`, GCS_API_ENDPOINT: url, GOOGLE_CLOUD_PROJECT: PROJECT, METADATA_SERVER_DETECTION: 'none' },
      }),
      onFunctionListening: async (functionPort) => {
        await call('push', { endpoint: notifySinkUrl ?? `http://127.0.0.1:${functionPort}/projects/${PROJECT}/topics/chunk-finalized` });
      },
      workerEnv: { LOG_LEVEL: logLevel },
    }),
    async objects() {
      const reply = await call('objects', { bucket: BUCKET });
      return (reply.objects as { name: string; size: number; timeCreated: string; metadata: Record<string, string> }[]).map((o) =>
        toInfo(o.name, o.size, o.timeCreated, o.metadata),
      );
    },
    async rawUpload(files, concurrency) {
      // Plain @google-cloud/storage: one simple (multipart) upload per chunk, with the same
      // create-only precondition and CRC32C validation the worker asks for, and no queue.
      const storage = new Storage({ apiEndpoint: url, projectId: PROJECT, retryOptions: { autoRetry: false } });
      const bucket = storage.bucket(BUCKET);
      const run = `raw-${Date.now()}`;
      return timedUploads(
        files,
        concurrency,
        "@google-cloud/storage file.save, resumable: false, validation: 'crc32c', ifGenerationMatch: 0",
        async (file, data) => {
          await bucket.file(`${run}/${basename(file)}`).save(data, {
            resumable: false,
            validation: 'crc32c',
            contentType: 'video/mp4',
            preconditionOpts: { ifGenerationMatch: 0 },
          });
        },
      );
    },
    async injectFault(status, count) {
      await call('fault', { status, count });
    },
    async stop() {
      await killChild();
      await removeKeyDir();
    },
  };
}
