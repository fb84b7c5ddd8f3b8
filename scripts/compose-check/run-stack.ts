// The compose check's middle: runs the built stack the way the README tells a user to
// (`docker compose --profile demo up`), twice, and judges what it did (stack-verdict.ts).
//   run 1: up; every service healthy; chunks flow; each health check passes, and fails when its
//          service does not answer; Bull Board refuses without credentials; `docker compose
//          stop` as a user types it; the bucket and the spool now.
//   run 2: down (volumes kept) and up again, as a user would, now with a second worker
//          (--profile more-workers --scale upload-worker-extra=1) taking jobs from the same
//          queue; Bull Board on the same port, the extra worker on none; the function has
//          described every stored chunk (the outbox delivers what run 1 left); every signed URL
//          fetched from inside the compose network; stream-handle stopped first, while the demo
//          camera still serves, so the stop itself must close the chunk; the bucket and spool now.
// scripts/compose-check.sh starts the daemon, builds the images, exports the settings read
// below and removes everything afterwards; this file only drives compose and reads results.
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32cBase64 } from '@crispy-streamer/shared';
import { Docker, runCommand, type ContainerState } from './docker-cli.js';
import {
  boardFinding,
  descriptionOf,
  formatFindings,
  functionFindings,
  parseJsonLines,
  stopFindings,
  storageFindings,
  type Finding,
  type StackRun,
  type StopMode,
  type StoredObject,
  type UrlFetch,
} from './stack-verdict.js';

const SERVICES = ['redis', 'stream-handle', 'upload-worker', 'cloud-function', 'demo-camera'];
/** The README's way to run more workers; run 2 does. */
const MORE_WORKERS = ['--profile', 'more-workers'];
const SCALE_EXTRA = ['--scale', 'upload-worker-extra=1'];
/** Each service's health check, and the variable that points it at its server. */
const HEALTH_TARGETS: Record<string, string> = { 'stream-handle': 'STATUS_PORT', 'upload-worker': 'HTTP_PORT', 'cloud-function': 'PORT' };
const EXPECTED_FRAME = { width: 1280, height: 720, channels: 3 };
const CHUNKS_BEFORE_STOP = 3;

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set: run this through scripts/compose-check.sh`);
  return value;
}

const docker = new Docker({
  docker: required('CRISPY_DOCKER'),
  compose: JSON.parse(required('CRISPY_COMPOSE')) as string[],
  name: required('CRISPY_PROJECT'),
  profiles: ['demo'],
  env: process.env,
});
const boardPort = Number(required('BOARD_PORT'));
const boardUser = process.env.BOARD_USER ?? 'admin';
const boardPassword = required('BOARD_PASSWORD');
const timingsFile = process.env.CRISPY_TIMINGS;

const findings: Finding[] = [];
const note = (finding: Finding): void => {
  findings.push(finding);
  console.log(formatFindings([finding]));
};
const say = (text: string): void => console.log(`compose-check: ${text}`);

function recordTiming(phase: string, startedAt: number): void {
  const seconds = (Date.now() - startedAt) / 1000;
  if (timingsFile !== undefined) appendFileSync(timingsFile, `${phase}\t${seconds.toFixed(1)}\n`);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      say(`gave up waiting ${Math.round(timeoutMs / 1000)} s for ${what}`);
      return undefined;
    }
    await sleep(500);
  }
}

async function serviceContainer(service: string): Promise<ContainerState | undefined> {
  const [id] = await docker.containers(service);
  return id === undefined ? undefined : docker.inspect(id);
}

// ---- the bucket volume, read from the host: NAME is the object, NAME.meta.json its resource

interface BucketListing {
  objects: string[];
  /** Bytes with no resource beside them: an upload that never finished. */
  withoutResource: string[];
}

function listBucket(root: string): BucketListing {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (dir === root && (entry.name === '.tmp' || entry.name === '.notifications')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(relative(root, path));
    }
  };
  walk(root);
  const names = new Set(files);
  const objects = files.filter((name) => !name.endsWith('.meta.json') && names.has(`${name}.meta.json`)).sort();
  const withoutResource = files.filter((name) => !name.endsWith('.meta.json') && !names.has(`${name}.meta.json`));
  return { objects, withoutResource };
}

async function readObject(root: string, name: string): Promise<StoredObject> {
  const path = join(root, name);
  const bytes = readFileSync(path);
  const probe = await runCommand('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], { timeoutMs: 20_000 });
  const seconds = Number(probe.stdout.trim());
  return {
    name,
    resource: JSON.parse(readFileSync(`${path}.meta.json`, 'utf8')) as StoredObject['resource'],
    bytes: statSync(path).size,
    md5Base64: createHash('md5').update(bytes).digest('base64'),
    crc32cBase64: crc32cBase64(bytes),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    probedSeconds: probe.code === 0 && Number.isFinite(seconds) ? seconds : undefined,
  };
}

// ---- the stack

async function healthOfAll(timeoutMs: number, label: string, services: string[]): Promise<void> {
  const states = await waitFor('every service to be healthy', timeoutMs, async () => {
    const all = await Promise.all(services.map(serviceContainer));
    return all.every((state) => state?.health === 'healthy') ? all : undefined;
  });
  const last = states ?? (await Promise.all(services.map(serviceContainer)));
  note({
    check: `${label}: every service healthy`,
    ok: states !== undefined,
    detail: services
      .map((service, index) => `${service} ${last[index]?.health ?? (last[index]?.running === true ? 'no health check' : 'not running')}`)
      .join(', '),
  });
}

/** The configured health check passes as it is, and fails once pointed at a port nobody serves. */
async function healthChecksCanFail(): Promise<void> {
  for (const [service, portVariable] of Object.entries(HEALTH_TARGETS)) {
    const state = await serviceContainer(service);
    const test = state?.healthTest;
    if (state === undefined || test === undefined || test[0] !== 'CMD') {
      note({ check: `${service}: exec-form health check`, ok: false, detail: `health check is ${JSON.stringify(test)}` });
      continue;
    }
    const healthy = await docker.exec(state.id, test.slice(1), { timeoutMs: 15_000 });
    const broken = await docker.exec(state.id, test.slice(1), { env: { [portVariable]: '1' }, timeoutMs: 15_000 });
    note({
      check: `${service}: its health check passes, and fails when nothing answers`,
      ok: healthy.code === 0 && broken.code !== 0,
      detail: `as configured: exit ${healthy.code}; with ${portVariable}=1: exit ${broken.code}`,
    });
  }
}

async function boardPublishedHere(label: string): Promise<void> {
  const worker = await serviceContainer('upload-worker');
  const published = worker === undefined ? [] : await docker.publishedPort(worker.id, '3000/tcp');
  note({
    check: `${label}: Bull Board published on 127.0.0.1:${boardPort} only`,
    ok: published.length === 1 && published[0] === `127.0.0.1:${boardPort}`,
    detail: published.join(', ') || 'not published',
  });
}

async function extraWorkerUnpublished(label: string): Promise<void> {
  const extra = await serviceContainer('upload-worker-extra');
  const published = extra === undefined ? [] : await docker.publishedPort(extra.id, '3000/tcp');
  note({
    check: `${label}: the extra worker runs and publishes no port`,
    ok: extra?.running === true && published.length === 0,
    detail: extra === undefined ? 'no container' : `running ${String(extra.running)}, published: ${published.join(', ') || 'none'}`,
  });
}

async function boardAnswers(): Promise<void> {
  const url = `http://127.0.0.1:${boardPort}/board/`;
  const statusOf = (headers: Record<string, string>): Promise<number> =>
    fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) }).then(
      (response) => response.status,
      () => 0,
    );
  const without = await statusOf({});
  const withCredentials = await statusOf({ authorization: `Basic ${Buffer.from(`${boardUser}:${boardPassword}`).toString('base64')}` });
  note(boardFinding(boardPort, without, withCredentials));
}

/** Chunk files left in the spool volume (stream-handle writes SOURCE/SOURCE-N.mp4 and its .json). */
function listSpool(root: string): string[] {
  const left: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.mp4')) left.push(relative(root, path));
    }
  };
  walk(root);
  return left.sort();
}

/** Where each run's container logs are written (test-output/compose-check/, beside the build logs). */
const LOG_DIR = join(process.cwd(), 'test-output', 'compose-check');

async function collectRun(label: string, stopMode: StopMode, roots: { bucket: string; spool: string }): Promise<StackRun> {
  const logsOf = async (service: string) => {
    const texts = await Promise.all((await docker.containers(service)).map((id) => docker.logs(id)));
    // Kept whole for whoever reads a failure (the summary prints only the last lines).
    mkdirSync(LOG_DIR, { recursive: true });
    writeFileSync(join(LOG_DIR, `${label.replace(/\W+/g, '-')}-${service}.log`), texts.join('\n'));
    return parseJsonLines(texts.join('\n'));
  };
  return {
    label,
    stopMode,
    recorder: await logsOf('stream-handle'),
    workers: [...(await logsOf('upload-worker')), ...(await logsOf('upload-worker-extra'))],
    function: await logsOf('cloud-function'),
    storedAfterStop: listBucket(roots.bucket).objects,
    spoolAfterStop: listSpool(roots.spool),
  };
}

/** Services that must finish on SIGTERM: stream-handle closes its chunk, the worker its uploads. */
const MUST_STOP_CLEANLY = ['stream-handle', 'upload-worker'];

async function stop(label: string, mode: StopMode, profiles: string[] = []): Promise<void> {
  const started = Date.now();
  if (mode === 'recorder-first') await docker.compose([...profiles, 'stop', 'stream-handle'], { timeoutMs: 120_000 });
  await docker.compose([...profiles, 'stop'], { timeoutMs: 120_000 });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const states = await Promise.all(SERVICES.map(serviceContainer));
  const exits = SERVICES.map((service, index) => `${service} ${states[index]?.exitCode ?? '?'}`);
  const killed = SERVICES.filter((service, index) => MUST_STOP_CLEANLY.includes(service) && states[index]?.exitCode === 137);
  note({
    check: `${label}: stream-handle and upload-worker stopped on SIGTERM, none killed`,
    ok: killed.length === 0,
    detail: `stop took ${seconds} s; exit codes: ${exits.join(', ')}`,
  });
}

/** Fetches every URL with the function container's own Node, so names resolve as the function's do. */
async function fetchInsideNetwork(urls: string[]): Promise<UrlFetch[]> {
  const fn = await serviceContainer('cloud-function');
  if (fn === undefined || urls.length === 0) return [];
  const script = `
    import { createHash } from 'node:crypto';
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    for (const url of input.split('\\n').filter(Boolean)) {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(15000) });
        const bytes = Buffer.from(await response.arrayBuffer());
        console.log(JSON.stringify({ url, status: response.status, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }));
      } catch (error) {
        console.log(JSON.stringify({ url, status: 0, bytes: 0, sha256: '', error: String(error) }));
      }
    }`;
  const result = await docker.exec(fn.id, ['node', '--input-type=module', '-e', script], { input: urls.join('\n'), timeoutMs: 120_000 });
  if (result.code !== 0) say(`fetching signed URLs inside the network failed: ${result.stderr.trim()}`);
  return parseJsonLines(result.stdout) as unknown as UrlFetch[];
}

async function main(): Promise<number> {
  const firstChunkStarted = Date.now();
  say(`run 1: docker compose --profile demo up -d (project ${docker.projectName})`);
  await docker.compose(['up', '-d'], { timeoutMs: 300_000 });
  const bucketRoot = await docker.volumeMountpoint('bucket');
  const roots = { bucket: bucketRoot, spool: await docker.volumeMountpoint('spool') };
  const firstObject = await waitFor('the first chunk in the bucket', 180_000, async () => listBucket(bucketRoot).objects[0]);
  recordTiming('up-to-first-chunk', firstChunkStarted);
  note({
    check: 'run 1: a chunk reached the bucket',
    ok: firstObject !== undefined,
    detail: firstObject === undefined ? 'none within 180 s' : `${firstObject}, ${((Date.now() - firstChunkStarted) / 1000).toFixed(1)} s after up`,
  });

  const assertionsStarted = Date.now();
  try {
    await healthOfAll(90_000, 'run 1', SERVICES);
    await healthChecksCanFail();
    await boardPublishedHere('run 1');
    await boardAnswers();
    await waitFor(`${CHUNKS_BEFORE_STOP} chunks in the bucket`, 60_000, async () =>
      listBucket(bucketRoot).objects.length >= CHUNKS_BEFORE_STOP ? true : undefined,
    );
    await stop('run 1', 'stack');
    const run1 = await collectRun('run 1', 'stack', roots);

    say('run 2: docker compose down (volumes kept), then up -d again with a second worker');
    await docker.compose(['down'], { timeoutMs: 120_000 });
    await docker.compose([...MORE_WORKERS, 'up', '-d', ...SCALE_EXTRA], { timeoutMs: 300_000 });
    await healthOfAll(90_000, 'run 2', [...SERVICES, 'upload-worker-extra']);
    await boardPublishedHere('run 2 (after down/up)');
    await extraWorkerUnpublished('run 2');
    // The outbox delivers what run 1 left (the chunk its stop closed among them); a working
    // function describes each chunk within seconds of its upload. Waits for a moment when every
    // object stored so far is described: those are the ones judged (the chunk run 2's own stop
    // closes may reach the function only at the next start, and that is the outbox's job).
    const functionLogs = async () => parseJsonLines((await Promise.all((await docker.containers('cloud-function')).map((id) => docker.logs(id)))).join('\n'));
    const describedSnapshot = await waitFor('the function to describe every stored chunk', 60_000, async () => {
      const stored = listBucket(bucketRoot).objects;
      const runs = [run1, { ...run1, label: 'run 2', function: await functionLogs() }];
      return stored.length > 0 && run1.storedAfterStop.every((name) => stored.includes(name)) && stored.every((name) => descriptionOf(runs, name) !== undefined)
        ? stored
        : undefined;
    });
    const beforeStop = describedSnapshot ?? listBucket(bucketRoot).objects;
    const partial = await collectRun('run 2', 'recorder-first', roots);
    const urls = [
      ...new Set([run1, partial].flatMap((run) => run.function).flatMap((record) => (typeof record.signedUrl === 'string' ? [record.signedUrl] : []))),
    ];
    const fetches = await fetchInsideNetwork(urls);
    await stop('run 2', 'recorder-first', MORE_WORKERS);
    const run2 = await collectRun('run 2', 'recorder-first', roots);

    const listing = listBucket(bucketRoot);
    const bucket = await Promise.all(listing.objects.map((name) => readObject(bucketRoot, name)));
    for (const finding of storageFindings([run1, run2], bucket)) note(finding);
    note({
      check: 'no half-written object (bytes without their resource)',
      ok: listing.withoutResource.length === 0,
      detail: listing.withoutResource.join(', ') || 'none',
    });
    for (const finding of stopFindings([run1, run2], bucket)) note(finding);
    // Described: what was stored before run 2's stop (the chunk that stop closes may still be on
    // its way to the function when the function stops: the outbox keeps it for the next start).
    const describable = bucket.filter((object) => beforeStop.includes(object.name));
    for (const finding of functionFindings([run1, run2], describable, EXPECTED_FRAME, fetches)) note(finding);
  } finally {
    recordTiming('assertions', assertionsStarted);
  }

  const failed = findings.filter((finding) => !finding.ok);
  console.log(`\ncompose-check: ${findings.length - failed.length} passed, ${failed.length} failed`);
  if (failed.length > 0) console.log(formatFindings(failed));
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`compose-check: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
