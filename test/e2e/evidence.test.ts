import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, nodeArgsForSource } from '@crispy-streamer/harness/service-process';
import { runCommand } from '@crispy-streamer/harness/child-process';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

const SOURCE = 'court-cam';

async function nodeTool(entry: string, args: string[]) {
  return runCommand(process.execPath, nodeArgsForSource(join(REPO_ROOT, entry), args), { timeoutMs: 60_000, cwd: REPO_ROOT });
}

// Real chunks from the pipeline, signed at the edge, checked by the function on arrival and by
// `verify` afterwards; then tampered with, and `verify` must name each change.
describe('evidence: signed, hash-chained chunks', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let keyDir: string;
  let publicKey: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    keyDir = await mkdtemp(join(tmpdir(), 'crispy-keys-'));
    const keygen = await nodeTool('evidence-tools/src/keygen.ts', ['--out', join(keyDir, 'node-1')]);
    expect(keygen.code, keygen.stderr).toBe(0);
    publicKey = join(keyDir, 'node-1', 'evidence-public.pem');
    pipeline = await startLocalPipeline(redis.url, {
      storage: ({ functionPort, workerPort, bucketDir }) => {
        const secret = 'evidence-test-secret-0123456789';
        return {
          functionEnv: { LOCAL_BUCKET_BASE_URL: `http://127.0.0.1:${workerPort}`, LOCAL_SIGNING_SECRET: secret, EVIDENCE_PUBLIC_KEYS: publicKey },
          workerEnv: {
            BUCKET_URL: `file://${bucketDir}`,
            NOTIFY_URL: `http://127.0.0.1:${functionPort}/projects/local/topics/chunks`,
            LOCAL_SIGNING_SECRET: secret,
          },
        };
      },
    });
  });
  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
    if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
  });

  const verify = (...extra: string[]) =>
    nodeTool('evidence-tools/src/verify/main.ts', [
      '--bucket',
      `file://${pipeline.bucketDir}`,
      '--source',
      SOURCE,
      '--public-key',
      publicKey,
      '--require-signed',
      ...extra,
    ]);

  it('signs every chunk, chains them across a restart, and the function verifies each on arrival', async () => {
    // Two recordings of the same source, one after the other: the chain continues across the restart.
    for (const [run, size] of [
      [0, { width: 640, height: 360 }],
      [1, { width: 480, height: 270 }],
    ] as const) {
      const video = join(pipeline.dir, `clip-${run}.mp4`);
      await makeSampleVideo(video, { seconds: 8, gopSeconds: 2, ...size });
      const recorder = pipeline.runStreamHandle({
        SOURCE_URL: video,
        SOURCE_ID: SOURCE,
        CHUNK_SECONDS: '2',
        EVIDENCE_PRIVATE_KEY: join(keyDir, 'node-1', 'evidence-private.pem'),
      });
      expect(await recorder.exited).toBe(0);
    }
    const described = await pipeline.waitForDescriptions(SOURCE, [0, 1, 2, 3, 4, 5, 6, 7]);
    for (const line of described) expect(line).toMatchObject({ integrity: 'verified' });
    expect(new Set(described.map((l) => l.keyId)).size).toBe(1);

    const report = await verify();
    expect(report.code, report.stdout).toBe(0);
    expect(report.stdout).toMatch(/chunks checked\s+8/);
    expect(report.stdout).toMatch(/verified\s+8/);
  });

  it('verify names a flipped byte and a deleted chunk', async () => {
    const objects = (await pipeline.bucketObjects()).filter((o) => o.resource.metadata.source === SOURCE);
    const bySequence = (sequence: number) => objects.find((o) => Number(o.resource.metadata.sequence) === sequence);
    const flipped = bySequence(2);
    const deleted = bySequence(5);
    if (flipped === undefined || deleted === undefined) throw new Error('expected 8 objects');
    const handle = await open(join(pipeline.bucketDir, flipped.name), 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 1000);
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    await handle.write(byte, 0, 1, 1000);
    await handle.close();
    await rm(join(pipeline.bucketDir, deleted.name));
    await rm(join(pipeline.bucketDir, `${deleted.name}.meta.json`));

    const report = await verify();
    expect(report.code).toBe(1);
    expect(report.stdout).toMatch(/tampered objects\s+1/);
    expect(report.stdout).toContain(flipped.name);
    expect(report.stdout).toMatch(/gaps\s+1/);
    expect(report.stdout).toContain('sequence 5');
    const json = await verify('--json');
    const parsed = JSON.parse(json.stdout) as { tampered: { object: string }[]; gaps: { firstMissingSequence: number }[] };
    expect(parsed.tampered.map((t) => t.object)).toEqual([flipped.name]);
    expect(parsed.gaps.map((g) => g.firstMissingSequence)).toEqual([5]);
    expect((await readdir(join(keyDir, 'node-1'))).sort()).toEqual(['evidence-private.pem', 'evidence-public.pem']);
  });
});
