import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Storage } from '@google-cloud/storage';
import sharp from 'sharp';
import { CHUNK_CONTENT_TYPE, chunkObjectName, crc32cBase64, toObjectMetadata, type ChunkMetadata } from '@crispy-streamer/shared';
import { startGcsTestServer, type GcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
import { createGcsStore } from '../../upload-worker/src/storage/gcs-store.js';
import { createLocalBucket } from '../../upload-worker/src/storage/local-bucket.js';
import type { ObjectStore } from '../../upload-worker/src/storage/object-store.js';
import { runCoverageCommand, type CoverageReport } from '../src/coverage/cli.js';
import { spoolViewOf } from '../src/coverage/source-coverage.js';
import { sampleStatus } from '../../shared/test/fleet/sample-status.js';

process.env['METADATA_SERVER_DETECTION'] = 'none';

const SOURCE = 'cam-7';
const T0 = Date.parse('2026-11-23T23:58:00.000Z'); // the range crosses midnight: two day folders

function metadata(sequence: number, startMs: number, bytes: Buffer, durationMs = 3000): ChunkMetadata {
  return {
    sourceId: SOURCE,
    sequence,
    startTime: new Date(startMs).toISOString(),
    durationMs,
    frameCount: 90,
    frameRate: 30,
    bytes: bytes.byteLength,
    crc32c: crc32cBase64(bytes),
    container: 'mp4',
    codec: 'h264',
    width: 640,
    height: 360,
    mode: 'copy',
    clock: 'host',
    clockSync: 'synchronised',
    recordedBy: 'edge-a',
  };
}

/**
 * Four minutes of 3 s chunks from T0, through the worker's own store, except: sequences 10-11
 * never reach the bucket (lost), and the camera is dark from T0+90 s to T0+130 s (the numbering
 * goes on). A stray object sits in the folder too.
 */
async function fill(store: ObjectStore, prefix: string): Promise<void> {
  let at = T0;
  for (let sequence = 0; at < T0 + 240_000; sequence++) {
    if (at >= T0 + 90_000 && at < T0 + 130_000) at = T0 + 130_000;
    const bytes = randomBytes(200);
    const m = metadata(sequence, at, bytes);
    at += 3000;
    if (sequence === 10 || sequence === 11) continue;
    const path = join(tmpdir(), `coverage-${randomUUID()}`);
    await writeFile(path, bytes);
    await store.put({
      name: chunkObjectName(prefix, m),
      source: { path, size: bytes.byteLength, crc32c: m.crc32c },
      contentType: CHUNK_CONTENT_TYPE,
      metadata: toObjectMetadata(m),
    });
    await rm(path, { force: true });
  }
  const stray = join(tmpdir(), `coverage-${randomUUID()}`);
  await writeFile(stray, 'not a chunk');
  await store.put({
    name: `${prefix === '' ? '' : `${prefix}/`}${SOURCE}/2026-11-23/notes.txt`,
    source: { path: stray, size: 11, crc32c: crc32cBase64(Buffer.from('not a chunk')) },
    contentType: 'text/plain',
    metadata: {},
  });
  await rm(stray, { force: true });
}

async function coverage(args: string[], nowMs = T0 + 3600_000, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCoverageCommand(args, env, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, nowMs);
  return { code, stdout, stderr };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('npm run coverage on a local bucket', () => {
  let root = '';
  let bucketUrl = '';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'coverage-test-'));
    await fill(createLocalBucket(join(root, 'bucket'), 'bucket'), '');
    bucketUrl = `file://${join(root, 'bucket')}`;
  }, 30_000);
  afterAll(() => rm(root, { recursive: true, force: true }));
  const range = ['--from', iso(T0 - 60_000), '--to', iso(T0 + 240_000)];

  it('lists the recorded intervals and the gaps with their exact times and causes, as JSON', async () => {
    const { code, stdout } = await coverage(['--bucket', bucketUrl, '--source', SOURCE, ...range, '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as CoverageReport;
    expect(report.gaps).toEqual([
      { from: iso(T0 - 60_000), to: iso(T0), durationMs: 60_000, missingSequences: null, edge: 'start' },
      { from: iso(T0 + 30_000), to: iso(T0 + 36_000), durationMs: 6000, missingSequences: { first: 10, last: 11, count: 2 }, edge: null },
      { from: iso(T0 + 90_000), to: iso(T0 + 130_000), durationMs: 40_000, missingSequences: null, edge: null },
    ]);
    expect(report.intervals.map((i) => [i.kind, i.from, i.to])).toEqual([
      ['gap', iso(T0 - 60_000), iso(T0)],
      ['stored', iso(T0), iso(T0 + 30_000)],
      ['gap', iso(T0 + 30_000), iso(T0 + 36_000)],
      ['stored', iso(T0 + 36_000), iso(T0 + 90_000)],
      ['gap', iso(T0 + 90_000), iso(T0 + 130_000)],
      ['stored', iso(T0 + 130_000), iso(T0 + 240_000)],
    ]);
    expect(report.unplaceable).toEqual([`${SOURCE}/2026-11-23/notes.txt`]);
    expect(report.spools).toMatchObject({ consulted: false });
    expect(report.longestGapMs).toBe(60_000);
  });

  it('exits 1 when a gap is longer than --max-gap, 0 when none is, and prints a table', async () => {
    const inside = ['--from', iso(T0), '--to', iso(T0 + 240_000)];
    const beyond = await coverage(['--bucket', bucketUrl, '--source', SOURCE, ...inside, '--max-gap', '30']);
    expect(beyond.code).toBe(1);
    expect(beyond.stdout).toContain('RESULT: a gap is longer than --max-gap 30 s');
    expect(beyond.stdout).toMatch(new RegExp(`GAP {11}${iso(T0 + 90_000)} +${iso(T0 + 130_000)} +40\\.0 s +not recorded \\(camera down\\)`));
    expect(beyond.stdout).toMatch(new RegExp(`GAP {11}${iso(T0 + 30_000)} .* chunks 10-11 recorded but in no bucket or spool`));
    const within = await coverage(['--bucket', bucketUrl, '--source', SOURCE, ...inside, '--max-gap', '40']);
    expect(within.code).toBe(0);
    expect(within.stdout).toContain('RESULT: OK, no gap longer than 40 s');
  });

  it('footage still in a spool is "not uploaded", not a gap; the spool is the nodes\' status', async () => {
    // The 40 s the bucket lacks, say, were recorded after all and wait on a node.
    const status = sampleStatus({
      sourceId: SOURCE,
      heartbeatMs: T0 + 3600_000,
      spool: { ...sampleStatus().spool, waitingSpans: [{ fromMs: T0 + 90_000, toMs: T0 + 130_000 }] },
    });
    const spools = spoolViewOf([status], SOURCE, T0 + 3600_000);
    expect(spools).toMatchObject({ consulted: true, pending: [{ fromMs: T0 + 90_000, toMs: T0 + 130_000 }], nodes: [{ node: 'edge-a', stale: false }] });
  });

  it('draws the timeline as SVG and PNG', async () => {
    const svg = join(root, 'cov.svg');
    const png = join(root, 'cov.png');
    expect((await coverage(['--bucket', bucketUrl, '--source', SOURCE, ...range, '--svg', svg, '--png', png])).code).toBe(0);
    const text = await readFile(svg, 'utf8');
    expect(text).toContain(`gap ${iso(T0 + 90_000)} to ${iso(T0 + 130_000)} (40.0 s, not recorded)`);
    expect(text.match(/fill="#d9342b"/g)?.length).toBeGreaterThanOrEqual(3);
    const image = sharp(await readFile(png));
    const meta = await image.metadata();
    expect([meta.format, meta.width]).toEqual(['png', 1200]);
    // The bar's red: a pixel in the middle of the 40 s outage.
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    const x = Math.round(20 + ((90_000 + 20_000 + 60_000) / 300_000) * 1160);
    const offset = (80 * info.width + x) * info.channels;
    expect([data[offset], data[offset + 1], data[offset + 2]]).toEqual([0xd9, 0x34, 0x2b]);
  });

  it('refuses unclear arguments, naming them', async () => {
    expect((await coverage(['--bucket', bucketUrl, '--source', SOURCE, '--from', 'yesterday'])).stderr).toContain('--from yesterday is not an ISO 8601 time');
    expect((await coverage(['--bucket', bucketUrl, '--source', SOURCE, '--max-gap', '10s'])).stderr).toContain('--max-gap 10s is not a number of seconds');
    expect((await coverage(['--bucket', bucketUrl, '--source', '../etc'])).code).toBe(2);
    expect((await coverage(['--bucket', bucketUrl, '--source', SOURCE, '--redis', 'http://x'])).stderr).toContain('is not a redis://');
    expect((await coverage(['--bucket', bucketUrl, '--source', SOURCE, '--from', iso(T0 + 7200_000), '--to', iso(T0 + 9000_000)], T0)).stderr).toContain(
      'is in the future',
    );
  });

  it('says so when Redis does not answer, and still reports the bucket', async () => {
    const { code, stdout } = await coverage(['--bucket', bucketUrl, '--source', SOURCE, ...range, '--redis', 'redis://127.0.0.1:9', '--json']);
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as CoverageReport).spools).toMatchObject({ consulted: false, note: expect.stringContaining('did not answer') });
  });
});

describe('npm run coverage on a gs:// bucket', () => {
  let server: GcsTestServer;
  beforeAll(async () => {
    server = await startGcsTestServer();
    await new Storage({ apiEndpoint: server.url, projectId: 'test' }).createBucket('evidence');
    const store = createGcsStore({ bucket: 'evidence', apiEndpoint: server.url, projectId: 'test' });
    await fill(store, 'site-1');
  }, 60_000);
  afterAll(() => server?.stop());

  it('finds the same gaps from the listing alone (no object read)', async () => {
    const before = server.requests.length;
    const { code, stdout } = await coverage(
      ['--bucket', 'gs://evidence/site-1', '--source', SOURCE, '--from', iso(T0), '--to', iso(T0 + 240_000), '--json'],
      T0 + 3600_000,
      { GCS_API_ENDPOINT: server.url, GOOGLE_CLOUD_PROJECT: 'test' },
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as CoverageReport;
    expect(report.gaps.map((g) => [g.from, g.to, g.missingSequences?.count ?? 0])).toEqual([
      [iso(T0 + 30_000), iso(T0 + 36_000), 2],
      [iso(T0 + 90_000), iso(T0 + 130_000), 0],
    ]);
    expect(report.storedChunks).toBe(65);
    // Listings only: no object's bytes or metadata were fetched one by one.
    const made = server.requests.slice(before);
    expect(made.length).toBeGreaterThan(0);
    expect(made.filter((r) => !(r.method === 'GET' && /^\/storage\/v1\/b\/evidence\/o(\?|$)/.test(r.path)))).toEqual([]);
  });
});
