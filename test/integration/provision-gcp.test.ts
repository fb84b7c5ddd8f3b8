/**
 * scripts/provision-gcp.ts: its decisions as a pure function over made-up states, its flags, the
 * deploy command it prints, and the script itself run twice against the GCS JSON-API test server
 * and the Pub/Sub emulator: the first run creates the bucket, topic and notification, the second
 * creates nothing.
 *
 * The GCS test server has no notificationConfigs routes and does not keep a bucket's location or
 * IAM configuration, so the run goes through a small proxy that adds exactly those and forwards
 * everything else (see NotificationProxy).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deliversChunks,
  functionDeployCommands,
  parseOptions,
  planProvisioning,
  UsageError,
  type ObservedNotification,
  type ObservedState,
  type ProvisionOptions,
} from '../../scripts/provision-gcp.js';
import { startGcsTestServer, type GcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
import { pubsubEmulatorAvailable, startPubsubEmulator, type PubsubEmulator } from '@crispy-streamer/harness/pubsub-emulator';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(REPO_ROOT, 'scripts/provision-gcp.ts');
const run = promisify(execFile);

const OPTIONS: ProvisionOptions = {
  project: 'p1',
  bucket: 'chunks-bucket',
  topic: 'chunk-finalized',
  location: 'europe-west1',
  region: undefined,
  functionServiceAccount: undefined,
  dryRun: false,
};

const GOOD_NOTIFICATION: ObservedNotification = {
  id: '1',
  topic: '//pubsub.googleapis.com/projects/p1/topics/chunk-finalized',
  eventTypes: ['OBJECT_FINALIZE'],
  payloadFormat: 'JSON_API_V1',
  objectNamePrefix: '',
};

const NOTHING: ObservedState = { bucket: undefined, topicExists: false, notifications: [], publisher: 'not-checked', serviceAgent: undefined };
const EVERYTHING: ObservedState = {
  bucket: { location: 'EUROPE-WEST1', uniformAccess: true, publicAccessPrevention: 'enforced' },
  topicExists: true,
  notifications: [GOOD_NOTIFICATION],
  publisher: 'granted',
  serviceAgent: 'service-42@gs-project-accounts.iam.gserviceaccount.com',
};

const kinds = (state: ObservedState): string[] => planProvisioning(OPTIONS, state).steps.map((step) => step.kind);

describe('planProvisioning', () => {
  it('creates everything in order when nothing exists, noting that emulators have no IAM', () => {
    const plan = planProvisioning(OPTIONS, NOTHING);
    expect(plan.steps).toEqual([
      { kind: 'create-bucket', bucket: 'chunks-bucket', location: 'europe-west1' },
      { kind: 'create-topic', topic: 'chunk-finalized' },
      { kind: 'create-notification', bucket: 'chunks-bucket', topic: 'chunk-finalized' },
    ]);
    expect(plan.notes.join('\n')).toMatch(/IAM not checked/);
    expect(plan.warnings).toEqual([]);
  });

  it('creates nothing when everything exists as wanted (the location compared case-insensitively)', () => {
    const plan = planProvisioning(OPTIONS, EVERYTHING);
    expect(plan.steps).toEqual([]);
    expect(plan.warnings).toEqual([]);
    expect(plan.notes.join('\n')).toMatch(/notification 1 of gs:\/\/chunks-bucket delivers OBJECT_FINALIZE/);
  });

  it('grants the bucket service agent the publisher role, on a new topic too, before the notification', () => {
    expect(kinds({ ...EVERYTHING, publisher: 'missing' })).toEqual(['grant-publisher']);
    const plan = planProvisioning(OPTIONS, { ...NOTHING, publisher: 'missing', serviceAgent: 'service-42@gs-project-accounts.iam.gserviceaccount.com' });
    expect(plan.steps.map((step) => step.kind)).toEqual(['create-bucket', 'create-topic', 'grant-publisher', 'create-notification']);
    expect(plan.steps[2]).toEqual({
      kind: 'grant-publisher',
      topic: 'chunk-finalized',
      member: 'serviceAccount:service-42@gs-project-accounts.iam.gserviceaccount.com',
    });
    expect(() => planProvisioning(OPTIONS, { ...NOTHING, publisher: 'missing' })).toThrow(/service agent is unknown/);
  });

  it('recognises the topic written either way, and only finalize-or-all events, JSON payload, no prefix', () => {
    expect(deliversChunks({ ...GOOD_NOTIFICATION, topic: 'projects/p1/topics/chunk-finalized' }, 'p1', 'chunk-finalized')).toBe(true);
    expect(deliversChunks({ ...GOOD_NOTIFICATION, eventTypes: [] }, 'p1', 'chunk-finalized')).toBe(true);
    expect(deliversChunks({ ...GOOD_NOTIFICATION, eventTypes: ['OBJECT_DELETE'] }, 'p1', 'chunk-finalized')).toBe(false);
    expect(deliversChunks({ ...GOOD_NOTIFICATION, payloadFormat: 'NONE' }, 'p1', 'chunk-finalized')).toBe(false);
    expect(deliversChunks({ ...GOOD_NOTIFICATION, objectNamePrefix: 'cam1/' }, 'p1', 'chunk-finalized')).toBe(false);
    expect(deliversChunks(GOOD_NOTIFICATION, 'p2', 'chunk-finalized')).toBe(false);
    expect(deliversChunks(GOOD_NOTIFICATION, 'p1', 'chunk-finalized-2')).toBe(false);
  });

  it('adds its own notification beside one to the same topic the function cannot use, and says how to delete that one', () => {
    const plan = planProvisioning(OPTIONS, { ...EVERYTHING, notifications: [{ ...GOOD_NOTIFICATION, id: '7', payloadFormat: 'NONE' }] });
    expect(plan.steps.map((step) => step.kind)).toEqual(['create-notification']);
    expect(plan.warnings).toEqual([
      expect.stringMatching(/notification 7 also publishes .*payload NONE.*notifications delete projects\/_\/buckets\/chunks-bucket\/notificationConfigs\/7/),
    ]);
  });

  it('ignores notifications to other topics', () => {
    const plan = planProvisioning(OPTIONS, {
      ...EVERYTHING,
      notifications: [{ ...GOOD_NOTIFICATION, topic: '//pubsub.googleapis.com/projects/p1/topics/audit' }],
    });
    expect(plan.steps.map((step) => step.kind)).toEqual(['create-notification']);
    expect(plan.warnings).toEqual([]);
  });

  it('warns about duplicate and all-event notifications without creating another', () => {
    const duplicate = planProvisioning(OPTIONS, { ...EVERYTHING, notifications: [GOOD_NOTIFICATION, { ...GOOD_NOTIFICATION, id: '2' }] });
    expect(duplicate.steps).toEqual([]);
    expect(duplicate.warnings).toEqual([expect.stringMatching(/2 equivalent notifications.*announced 2 times/)]);
    const allEvents = planProvisioning(OPTIONS, { ...EVERYTHING, notifications: [{ ...GOOD_NOTIFICATION, eventTypes: [] }] });
    expect(allEvents.steps).toEqual([]);
    expect(allEvents.warnings).toEqual([expect.stringMatching(/sends every event type/)]);
  });

  it('reports an existing bucket that differs, and never plans to change it', () => {
    const plan = planProvisioning(OPTIONS, { ...EVERYTHING, bucket: { location: 'US', uniformAccess: false, publicAccessPrevention: 'inherited' } });
    expect(plan.steps).toEqual([]);
    expect(plan.warnings).toEqual([
      expect.stringMatching(/is in US, not europe-west1: a bucket cannot move/),
      expect.stringMatching(/fine-grained ACLs.*--uniform-bucket-level-access/),
      expect.stringMatching(/does not enforce public access prevention/),
    ]);
  });
});

describe('flags and the printed deploy command', () => {
  it('has defaults for the topic and location, and takes the project from GOOGLE_CLOUD_PROJECT', () => {
    expect(parseOptions(['--bucket', 'b-1'], { GOOGLE_CLOUD_PROJECT: 'from-env' })).toEqual({
      project: 'from-env',
      bucket: 'b-1',
      topic: 'chunk-finalized',
      location: 'europe-west1',
      region: undefined,
      functionServiceAccount: undefined,
      dryRun: false,
    });
    expect(parseOptions(['--project', 'p', '--bucket', 'b-1', '--topic', 't-1', '--location', 'EU', '--dry-run'], {})).toMatchObject({
      project: 'p',
      topic: 't-1',
      location: 'EU',
      dryRun: true,
    });
  });

  it('rejects what it cannot use, listing every problem', () => {
    expect(() => parseOptions(['--bucket', 'Bad_Bucket'], {})).toThrow(UsageError);
    expect(() => parseOptions(['--bucket', 'Bad_Bucket', '--topic', 'goog-x'], {})).toThrow(
      /--project is required[\s\S]*not a Cloud Storage bucket name[\s\S]*not a topic id/,
    );
    expect(() => parseOptions(['--project', 'p', '--bucket', 'b-1', '--bukcet', 'x'], {})).toThrow(/Unknown option '--bukcet'/);
  });

  it('prints the deploy command of docs/deploy.md for this topic, region and service account', () => {
    const regional = functionDeployCommands({ ...OPTIONS, functionServiceAccount: 'fn@p1.iam.gserviceaccount.com' }).join('\n');
    for (const part of [
      '--region=europe-west1',
      '--trigger-topic=chunk-finalized',
      '--service-account=fn@p1.iam.gserviceaccount.com',
      '--project=p1',
      '--retry',
    ])
      expect(regional).toContain(part);
    // The same entry point, runtime and source as docs/deploy.md, so the two cannot drift apart.
    const deployDoc = readFileSync(join(REPO_ROOT, 'docs/deploy.md'), 'utf8');
    for (const part of ['bash scripts/package-function.sh', '--entry-point=describeChunk', '--runtime=nodejs20', '--gen2', '--source=deploy/cloud-function']) {
      expect(regional, part).toContain(part);
      expect(deployDoc, part).toContain(part);
    }
    expect(functionDeployCommands({ ...OPTIONS, location: 'EU' }).join('\n')).toContain('--region=REGION');
    expect(functionDeployCommands({ ...OPTIONS, location: 'EU', region: 'europe-west4' }).join('\n')).toContain('--region=europe-west4');
  });
});

// ---------------------------------------------------------------------------------------------

interface NotificationProxy {
  url: string;
  /** POST and other changing requests seen, as "METHOD path" */
  changes: string[];
  notifications: Map<string, Record<string, unknown>[]>;
  bucketCreateBodies: Record<string, unknown>[];
  stop(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolveBody(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) }).end(text);
}

/**
 * What the GCS test server lacks, in front of it: GET/POST /storage/v1/b/B/notificationConfigs, and
 * a bucket's location and iamConfiguration as given at creation. Everything else is forwarded.
 */
async function startNotificationProxy(upstream: string): Promise<NotificationProxy> {
  const notifications = new Map<string, Record<string, unknown>[]>();
  const bucketCreateBodies: Record<string, unknown>[] = [];
  const bucketSettings = new Map<string, Record<string, unknown>>();
  const changes: string[] = [];
  let nextId = 1;

  const forward = async (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Headers; body: Buffer }> => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers))
      if (name !== 'host' && name !== 'content-length' && typeof value === 'string') headers.set(name, value);
    const method = req.method ?? 'GET';
    const response = await fetch(`${upstream}${req.url ?? '/'}`, {
      method,
      headers,
      ...(method === 'GET' || method === 'HEAD' ? {} : { body: new Uint8Array(body) }),
    });
    return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    if (method !== 'GET' && method !== 'HEAD') changes.push(`${method} ${url.pathname}`);

    const notificationRoute = /^\/storage\/v1\/b\/([^/]+)\/notificationConfigs\/?$/.exec(url.pathname);
    if (notificationRoute !== null) {
      const bucket = decodeURIComponent(notificationRoute[1] ?? '');
      const exists = await fetch(`${upstream}/storage/v1/b/${encodeURIComponent(bucket)}`);
      await exists.arrayBuffer();
      if (!exists.ok) return sendJson(res, 404, { error: { code: 404, message: 'The specified bucket does not exist.' } });
      const list = notifications.get(bucket) ?? [];
      notifications.set(bucket, list);
      if (method === 'GET') return sendJson(res, 200, { kind: 'storage#notifications', items: list });
      if (method === 'POST') {
        const input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        const created = { kind: 'storage#notification', id: String(nextId++), etag: '1', ...input };
        list.push(created);
        return sendJson(res, 200, created);
      }
    }
    const forwarded = await forward(req, body);
    const bucketRoute = /^\/storage\/v1\/b\/([^/]+)\/?$/.exec(url.pathname);
    if (method === 'POST' && url.pathname.replace(/\/$/, '') === '/storage/v1/b' && forwarded.status === 200) {
      const input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      bucketCreateBodies.push(input);
      bucketSettings.set(String(input['name']), { location: String(input['location']).toUpperCase(), iamConfiguration: input['iamConfiguration'] });
    }
    if (bucketRoute !== null && method === 'GET' && forwarded.status === 200) {
      const resource = JSON.parse(forwarded.body.toString('utf8')) as Record<string, unknown>;
      return sendJson(res, 200, { ...resource, ...bucketSettings.get(decodeURIComponent(bucketRoute[1] ?? '')) });
    }
    const contentType = forwarded.headers.get('content-type');
    res
      .writeHead(forwarded.status, { ...(contentType !== null ? { 'content-type': contentType } : {}), 'content-length': forwarded.body.length })
      .end(forwarded.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => sendJson(res, 500, { error: { code: 500, message: String(error) } }));
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    changes,
    notifications,
    bucketCreateBodies,
    stop: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}

const EMULATOR = pubsubEmulatorAvailable();
if (!EMULATOR) console.warn('provision-gcp: no Pub/Sub emulator installed, so the script is not run end to end (its decisions are still tested)');

describe.skipIf(!EMULATOR)('scripts/provision-gcp.ts against the GCS test server and the Pub/Sub emulator', () => {
  const PROJECT = 'crispy-provision';
  let gcs: GcsTestServer;
  let proxy: NotificationProxy;
  let emulator: PubsubEmulator;

  beforeAll(async () => {
    [gcs, emulator] = await Promise.all([startGcsTestServer(), startPubsubEmulator({ projectId: PROJECT })]);
    proxy = await startNotificationProxy(gcs.url);
  });

  afterAll(async () => {
    await Promise.all([proxy?.stop(), gcs?.stop(), emulator?.stop()]);
  });

  const provision = async (...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const args = [
      '--import',
      'tsx',
      SCRIPT,
      '--project',
      PROJECT,
      '--bucket',
      'edge-chunks',
      '--topic',
      'chunk-finalized',
      '--location',
      'europe-west1',
      ...extra,
    ];
    // No Google credentials are needed or wanted: keep the auth library from looking for any.
    const env = {
      ...process.env,
      GCS_API_ENDPOINT: proxy.url,
      PUBSUB_EMULATOR_HOST: emulator.host,
      METADATA_SERVER_DETECTION: 'none',
      GOOGLE_APPLICATION_CREDENTIALS: '',
    };
    try {
      const { stdout, stderr } = await run(process.execPath, args, { cwd: REPO_ROOT, env, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  };

  const topicExists = async (): Promise<boolean> => {
    const response = await fetch(`${emulator.url}/v1/projects/${PROJECT}/topics/chunk-finalized`);
    await response.arrayBuffer();
    return response.ok;
  };

  it('plans without changing anything on --dry-run', async () => {
    const result = await provision('--dry-run');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/would {3}create gs:\/\/edge-chunks in europe-west1/);
    expect(result.stdout).toMatch(/would {3}create topic projects\/crispy-provision\/topics\/chunk-finalized/);
    expect(result.stdout).toMatch(/would {3}create notification/);
    expect(result.stdout).toMatch(/dry run: nothing was changed/);
    expect(proxy.changes).toEqual([]);
    expect(await topicExists()).toBe(false);
  });

  it('creates the bucket, topic and notification, then prints the deploy command', async () => {
    const result = await provision();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.match(/^created /gm)).toHaveLength(3);
    expect(result.stdout).toContain('--trigger-topic=chunk-finalized');
    expect(result.stdout).toContain('--region=europe-west1');

    expect(proxy.bucketCreateBodies).toEqual([
      expect.objectContaining({
        name: 'edge-chunks',
        location: 'europe-west1',
        iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
      }),
    ]);
    const bucket = await fetch(`${gcs.url}/storage/v1/b/edge-chunks`);
    expect(bucket.status).toBe(200);
    await bucket.arrayBuffer();
    expect(await topicExists()).toBe(true);
    expect(proxy.notifications.get('edge-chunks')).toEqual([
      expect.objectContaining({
        topic: `//pubsub.googleapis.com/projects/${PROJECT}/topics/chunk-finalized`,
        event_types: ['OBJECT_FINALIZE'],
        payload_format: 'JSON_API_V1',
      }),
    ]);
  });

  it('creates nothing the second time', async () => {
    const changesBefore = proxy.changes.length;
    const result = await provision();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^nothing to create$/m);
    expect(result.stdout).not.toMatch(/^created /m);
    expect(result.stdout).not.toMatch(/WARNING/);
    expect(proxy.changes.slice(changesBefore)).toEqual([]);
    expect(proxy.notifications.get('edge-chunks')).toHaveLength(1);
    const topics = (await (await fetch(`${emulator.url}/v1/projects/${PROJECT}/topics`)).json()) as { topics?: { name: string }[] };
    expect(topics.topics?.map((topic) => topic.name)).toEqual([`projects/${PROJECT}/topics/chunk-finalized`]);
  });

  it('exits 2 with the usage on bad flags, touching nothing', async () => {
    const changesBefore = proxy.changes.length;
    const result = await provision('--bucket', 'NOT A BUCKET');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not a Cloud Storage bucket name[\s\S]*usage:/);
    expect(proxy.changes.slice(changesBefore)).toEqual([]);
  });
});
