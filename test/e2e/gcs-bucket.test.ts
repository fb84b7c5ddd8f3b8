import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cBase64 } from '@crispy-streamer/shared';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startGcsTestServer, type GcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
import { pubsubEmulatorAvailable, PUBSUB_EMULATOR_BIN, startPubsubEmulator, type PubsubEmulator } from '@crispy-streamer/harness/pubsub-emulator';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

const PROJECT = 'crispy-test';
const BUCKET = 'crispy-chunks';
const TOPIC = 'chunk-finalized';
const emulatorInstalled = pubsubEmulatorAvailable();
if (!emulatorInstalled) {
  console.warn(
    `skipping the gs:// end-to-end test: the Pub/Sub emulator is not installed at ${PUBSUB_EMULATOR_BIN} (install google-cloud-cli with its pubsub emulator)`,
  );
}

// The production notification path: the bucket (our GCS JSON-API test server) publishes
// OBJECT_FINALIZE to a topic of the official Pub/Sub emulator, whose push subscription delivers
// it to the function; the function signs a V4 URL with a service-account key made for this test.
describe.skipIf(!emulatorInstalled)('chunks into a gs:// bucket, notified through Pub/Sub', () => {
  let redis: RedisServer;
  let emulator: PubsubEmulator;
  let gcs: GcsTestServer;
  let pipeline: LocalPipeline;
  let samplePath: string;
  let keyDir: string | undefined;
  let storageByName = '';

  beforeAll(async () => {
    redis = await startRedisServer();
    emulator = await startPubsubEmulator({ projectId: PROJECT });
    await emulator.createTopic(TOPIC);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    gcs = await startGcsTestServer({
      signerPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      notifications: { pubsubEmulatorUrl: emulator.url, project: PROJECT, topic: TOPIC },
    });
    // The key exists only in this test's temp dir, for as long as the test runs.
    keyDir = await mkdtemp(join(tmpdir(), 'crispy-key-'));
    const keyFile = join(keyDir, 'service-account.json');
    await writeFile(
      keyFile,
      JSON.stringify({
        type: 'service_account',
        project_id: PROJECT,
        private_key_id: 'test',
        private_key: privatePem,
        client_email: `signer@${PROJECT}.iam.gserviceaccount.com`,
        client_id: '1',
        token_uri: `${gcs.url}/token`,
      }),
    );
    // Every endpoint by host name, as in production (storage.googleapis.com): the worker uploads to,
    // and the function signs URLs for and reads from, http://localhost:PORT; the emulator pushes to
    // http://localhost:FN_PORT. The test server checks each V4 signature against the Host header.
    storageByName = `http://localhost:${gcs.port}`;
    pipeline = await startLocalPipeline(redis.url, {
      storage: () => ({
        functionEnv: { BUCKETS: BUCKET, GCS_API_ENDPOINT: storageByName, GOOGLE_APPLICATION_CREDENTIALS: keyFile, METADATA_SERVER_DETECTION: 'none' },
        workerEnv: { BUCKET_URL: `gs://${BUCKET}/chunks`, GCS_API_ENDPOINT: storageByName, GOOGLE_CLOUD_PROJECT: PROJECT, METADATA_SERVER_DETECTION: 'none' },
      }),
      onFunctionListening: async (functionPort) => {
        await emulator.createPushSubscription('describe-chunks', TOPIC, `http://localhost:${functionPort}/projects/${PROJECT}/topics/${TOPIC}`);
      },
    });
    samplePath = join(pipeline.dir, 'sample.mp4');
    await makeSampleVideo(samplePath, { seconds: 12, bFrames: true });
  });

  afterAll(async () => {
    await pipeline?.stop();
    await gcs?.stop();
    await emulator?.stop();
    await redis?.stop();
    if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
  });

  it('stores every chunk once with its metadata, and the function describes it with a working V4 URL', async () => {
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: samplePath, SOURCE_ID: 'gcs-cam', CHUNK_SECONDS: '3' });
    expect(await recorder.exited).toBe(0);
    const sequences = recorder.logs.filter((l) => l.message === 'chunk recorded').map((l) => Number(l.sequence));
    expect(sequences).toEqual([0, 1, 2, 3]);
    const described = await pipeline.waitForDescriptions('gcs-cam', sequences, 90_000);

    const objects = gcs.objects(BUCKET);
    expect(objects.map((o) => o.metadata.sequence)).toEqual(['0', '1', '2', '3']);
    for (const object of objects) {
      expect(object.name.startsWith('chunks/gcs-cam/')).toBe(true);
      expect(object.contentType).toBe('video/mp4');
      expect(object.crc32c).toBe(crc32cBase64(object.bytes));
      expect(object.metadata).toMatchObject({ source: 'gcs-cam', bytes: String(object.bytes.byteLength), crc32c: object.crc32c, width: '1280', height: '720' });
    }
    for (const line of described) {
      expect(line).toMatchObject({ bucket: BUCKET, width: 1280, height: 720, channels: 3, pixelFormat: 'yuv420p', durationCheck: 'match' });
      expect(String(line.signedUrl)).toContain('X-Goog-Signature=');
      expect(String(line.signedUrl).startsWith(`${storageByName}/${BUCKET}/`)).toBe(true);
    }
    // The function read its chunks through those signed URLs, by range, and never whole.
    const signedReads = gcs.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`/${BUCKET}/`) && r.path.includes('X-Goog-Signature='));
    expect(signedReads.length).toBeGreaterThanOrEqual(described.length * 2);
    expect(signedReads.every((r) => r.status === 206)).toBe(true);
    const first = described[0];
    const response = await fetch(String(first?.signedUrl));
    expect(response.status).toBe(200);
    const stored = objects.find((o) => o.name === first?.object);
    expect(Buffer.from(await response.arrayBuffer()).equals(stored?.bytes ?? Buffer.alloc(0))).toBe(true);
    // Every upload was create-only: a retry can never write a second generation.
    const uploads = gcs.requests.filter((r) => r.method === 'POST' && r.path.includes('/upload/'));
    expect(uploads.every((r) => r.path.includes('ifGenerationMatch=0'))).toBe(true);
  });
});
