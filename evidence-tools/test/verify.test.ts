import { execFile } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHUNK_CONTENT_TYPE, chunkObjectName, crc32cBase64, toObjectMetadata, type ChunkMetadata, type StorageObjectResource } from '@crispy-streamer/shared';
import { startGcsTestServer, type GcsTestServer } from '@crispy-streamer/harness/gcs-test-server';
// The worker's own stores write the chunks, as they reach a bucket in production.
import { createGcsStore } from '../../upload-worker/src/storage/gcs-store.js';
import { createLocalBucket } from '../../upload-worker/src/storage/local-bucket.js';
import type { ObjectStore } from '../../upload-worker/src/storage/object-store.js';
import { createGcsReader, createLocalReader, readSourceChunks } from '../src/verify/bucket-reader.js';
import { checkChunks, digestBytes, type ChunkCheckReport, type StoredChunk } from '../src/verify/check-chain.js';
import { runVerifyCommand } from '../src/verify/cli.js';
import type { VerifyReport } from '../src/verify/report.js';
import {
  canonicalRecord,
  GENESIS_CHAIN_STATE,
  keyIdOf,
  loadPrivateKey,
  nextRecord,
  recordHash,
  sha256Hex,
  signRecord,
  toEvidenceMetadata,
  type ChainState,
  type EvidenceRecord,
} from '@crispy-streamer/shared';
import { chunkMetadataOf } from '@crispy-streamer/harness/chunk-fixtures';

const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = 'cam-1';
const T0 = Date.parse('2026-11-23T09:00:00.000Z');
/** 60 frames at 29.97 fps, as mp4-inspect reports it: not a whole number of milliseconds. */
const DURATION_MS = 2002.002;

// Nothing here needs Google credentials; stop the auth library probing for them.
process.env['METADATA_SERVER_DETECTION'] = 'none';

interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
}

function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

/** A small MP4-looking file: verify cares about bytes, not video. */
function chunkBytes(sequence: number): Buffer {
  const ftyp = Buffer.from('0000001866747970697336000000000069736f6d69736f36', 'hex');
  return Buffer.concat([ftyp, Buffer.from(`chunk ${sequence} `), randomBytes(300 + sequence)]);
}

function chunkMetadata(sequence: number, bytes: Buffer, prefixStartMs = T0): ChunkMetadata {
  return chunkMetadataOf(bytes, {
    sourceId: SOURCE,
    sequence,
    startTime: new Date(prefixStartMs + Math.round(sequence * DURATION_MS)).toISOString(),
    durationMs: DURATION_MS,
    frameCount: 60,
    frameRate: 29.97,
    width: 320,
    height: 240,
  });
}

interface WrittenChunk {
  name: string;
  sequence: number;
  bytes: Buffer;
  metadata: ChunkMetadata;
  record: EvidenceRecord;
  objectMetadata: Record<string, string>;
}

/** Makes chunk, record and signature the way recorder and worker will: chained, then signed. */
function makeChunks(count: number, key: SigningKey, options: { unsigned?: number[]; prefix?: string } = {}): WrittenChunk[] {
  let state: ChainState = GENESIS_CHAIN_STATE;
  const chunks: WrittenChunk[] = [];
  for (let sequence = 0; sequence < count; sequence += 1) {
    const bytes = chunkBytes(sequence);
    const metadata = chunkMetadata(sequence, bytes);
    const signed = !(options.unsigned ?? []).includes(sequence);
    const next = nextRecord(state, { ...metadata, sha256: sha256Hex(bytes), ...(signed ? { keyId: key.keyId } : {}) });
    state = next.state;
    const signature = signed ? signRecord(next.record, key.privateKey, key.keyId) : undefined;
    chunks.push({
      name: chunkObjectName(options.prefix ?? '', metadata),
      sequence,
      bytes,
      metadata,
      record: next.record,
      objectMetadata: { ...toObjectMetadata(metadata), ...toEvidenceMetadata(next.record, signature) },
    });
  }
  return chunks;
}

/** Stores bytes through a store as the worker does: from a file, by path, with its size and CRC32C. */
async function putBytes(store: ObjectStore, request: { name: string; bytes: Buffer; metadata: Record<string, string>; crc32c: string }): Promise<void> {
  const path = join(tmpdir(), `verify-chunk-${randomUUID()}.mp4`);
  await writeFile(path, request.bytes);
  try {
    await store.put({
      name: request.name,
      source: { path, size: request.bytes.byteLength, crc32c: request.crc32c },
      contentType: CHUNK_CONTENT_TYPE,
      metadata: request.metadata,
    });
  } finally {
    await rm(path, { force: true });
  }
}

async function writeLocalBucket(dir: string, chunks: WrittenChunk[]): Promise<void> {
  const bucket = createLocalBucket(dir, 'bucket');
  for (const chunk of chunks) {
    await putBytes(bucket, { name: chunk.name, bytes: chunk.bytes, metadata: chunk.objectMetadata, crc32c: chunk.metadata.crc32c });
  }
}

const objectPath = (dir: string, name: string): string => join(dir, ...name.split('/'));
const metaPath = (dir: string, name: string): string => `${objectPath(dir, name)}.meta.json`;

async function readResource(dir: string, name: string): Promise<StorageObjectResource> {
  return JSON.parse(await readFile(metaPath(dir, name), 'utf8')) as StorageObjectResource;
}

async function editMetadata(dir: string, name: string, edit: (metadata: Record<string, string>) => Record<string, string>): Promise<void> {
  const resource = await readResource(dir, name);
  resource.metadata = edit({ ...(resource.metadata ?? {}) });
  await writeFile(metaPath(dir, name), JSON.stringify(resource, null, 2));
}

/** Runs the command in-process with --json; the report and the exit status it gave. */
async function verifyCommand(args: string[]): Promise<{ code: number; report: VerifyReport; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runVerifyCommand([...args, '--json'], {}, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, report: (stdout === '' ? undefined : JSON.parse(stdout)) as VerifyReport, stderr };
}

function findingCounts(report: ChunkCheckReport): Record<string, number> {
  return {
    unsigned: report.unsigned.length,
    noRecord: report.noRecord.length,
    gaps: report.gaps.length,
    brokenLinks: report.brokenLinks.length,
    badSignatures: report.badSignatures.length,
    tampered: report.tampered.length,
    replays: report.replays.length,
  };
}

const NO_FINDINGS = { unsigned: 0, noRecord: 0, gaps: 0, brokenLinks: 0, badSignatures: 0, tampered: 0, replays: 0 };

describe('verify on a local bucket', () => {
  const key = newKey();
  const wrongKey = newKey();
  let root = '';
  let publicKeyPath = '';
  let dir = '';
  let chunks: WrittenChunk[] = [];
  let caseNumber = 0;
  const args = (...extra: string[]): string[] => ['--bucket', `file://${dir}`, '--source', SOURCE, '--public-key', publicKeyPath, ...extra];
  const name = (sequence: number): string => chunks[sequence]?.name ?? `missing chunk ${sequence}`;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'verify-test-'));
    publicKeyPath = join(root, 'evidence-public.pem');
    await writeFile(publicKeyPath, key.publicKey.export({ type: 'spki', format: 'pem' }));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    caseNumber += 1;
    dir = join(root, `bucket-${caseNumber}`);
    chunks = makeChunks(5, key);
    await writeLocalBucket(dir, chunks);
  });

  it('passes the untouched bucket', async () => {
    const { code, report } = await verifyCommand(args());
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, problems: 0, checked: 5, verified: 5, signatureNotChecked: 0, keyIds: [key.keyId], source: SOURCE });
    expect(findingCounts(report)).toEqual(NO_FINDINGS);
    // The worker's files are what was read: the objects carry the record beside the chunk metadata.
    expect((await readResource(dir, name(2))).metadata?.['evidenceRecord']).toBe(canonicalRecord(chunks[2]?.record ?? ({} as EvidenceRecord)));

    let text = '';
    expect(await runVerifyCommand(args(), {}, { stdout: (t) => (text += t), stderr: (t) => (text += t) })).toBe(0);
    expect(text).toMatch(/chunks checked\s+5/);
    expect(text).toMatch(/verified\s+5/);
    expect(text).toContain('RESULT: OK');

    // What the local reader hands the checks: the bytes' digests and the custom metadata, by name.
    const read = await readSourceChunks(createLocalReader(dir), '', SOURCE, {});
    expect(read).toEqual(chunks.map((chunk) => ({ name: chunk.name, content: digestBytes(chunk.bytes), metadata: chunk.objectMetadata, inRange: true })));
  });

  it('names the object whose bytes had one bit flipped', async () => {
    const path = objectPath(dir, name(2));
    const bytes = await readFile(path);
    bytes[100] = (bytes[100] ?? 0) ^ 0x01;
    await writeFile(path, bytes);

    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(findingCounts(report)).toEqual({ ...NO_FINDINGS, tampered: 1 });
    expect(report.tampered[0]?.object).toBe(name(2));
    expect(report.tampered[0]?.reasons).toEqual([
      expect.stringMatching(/^sha256 of the bytes is [0-9a-f]{64}, the record says [0-9a-f]{64}$/),
      expect.stringMatching(/^crc32c of the bytes is .*, the record says /),
    ]);
    expect(report.verified).toBe(4);
  });

  it('reports a deleted chunk as a gap with its time range, and the broken link around it', async () => {
    await unlink(objectPath(dir, name(2)));
    await unlink(metaPath(dir, name(2)));

    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(findingCounts(report)).toEqual({ ...NO_FINDINGS, gaps: 1, brokenLinks: 1 });
    const before = chunks[1]?.metadata;
    expect(report.gaps[0]).toEqual({
      firstMissingSequence: 2,
      lastMissingSequence: 2,
      missingCount: 1,
      after: name(1),
      before: name(3),
      // From the end of chunk 1 (its duration in whole ms) to the start of chunk 3.
      from: new Date(Date.parse(before?.startTime ?? '') + 2002).toISOString(),
      to: chunks[3]?.metadata.startTime,
      chainIntact: false,
      presentWithoutRecord: [],
    });
    expect(report.brokenLinks[0]).toMatchObject({ object: name(3), sequence: 3, previous: name(1), previousSequence: 1 });
    expect(report.checked).toBe(4);
  });

  it('catches the bytes of two objects swapped', async () => {
    const first = await readFile(objectPath(dir, name(1)));
    const second = await readFile(objectPath(dir, name(3)));
    await writeFile(objectPath(dir, name(1)), second);
    await writeFile(objectPath(dir, name(3)), first);

    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(findingCounts(report)).toEqual({ ...NO_FINDINGS, tampered: 2 });
    expect(report.tampered.map((finding) => finding.object)).toEqual([name(1), name(3)]);
    for (const finding of report.tampered) {
      expect(finding.reasons).toEqual(
        expect.arrayContaining([expect.stringMatching(/^sha256 of the bytes/), expect.stringMatching(/^the object is \d+ bytes, the record says \d+$/)]),
      );
    }
  });

  it('catches a record re-signed with a wrong key', async () => {
    // Same record, same key id, but the signature made with another key.
    const record = chunks[2]?.record as EvidenceRecord;
    const forged = sign(null, Buffer.from(canonicalRecord(record)), wrongKey.privateKey).toString('base64');
    await editMetadata(dir, name(2), (metadata) => ({ ...metadata, evidenceSignature: forged }));

    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(findingCounts(report)).toEqual({ ...NO_FINDINGS, badSignatures: 1 });
    expect(report.badSignatures[0]).toMatchObject({ object: name(2), keyId: key.keyId, problem: 'invalid' });
  });

  it('catches a record relabelled and signed with a key nobody vouched for', async () => {
    const record: EvidenceRecord = { ...(chunks[2]?.record as EvidenceRecord), keyId: wrongKey.keyId };
    const signature = signRecord(record, wrongKey.privateKey, wrongKey.keyId);
    await editMetadata(dir, name(2), (metadata) => ({ ...metadata, ...toEvidenceMetadata(record, signature) }));

    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(report.badSignatures).toEqual([expect.objectContaining({ object: name(2), keyId: wrongKey.keyId, problem: 'unknown-key' })]);
    // The record changed, so the next record no longer links to it.
    expect(report.brokenLinks).toEqual([expect.objectContaining({ object: name(3), previous: name(2) })]);
  });

  it('catches bytes replaced together with a record edited to match them', async () => {
    const path = objectPath(dir, name(2));
    const bytes = await readFile(path);
    bytes[50] = (bytes[50] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    const record: EvidenceRecord = { ...(chunks[2]?.record as EvidenceRecord), sha256: sha256Hex(bytes), crc32c: crc32cBase64(bytes) };
    await editMetadata(dir, name(2), (metadata) => ({ ...metadata, evidenceRecord: canonicalRecord(record), crc32c: record.crc32c }));

    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(report.tampered).toEqual([]);
    expect(report.badSignatures).toEqual([expect.objectContaining({ object: name(2), problem: 'invalid' })]);
    expect(report.brokenLinks).toEqual([expect.objectContaining({ object: name(3), previous: name(2) })]);
  });

  it('catches an old chunk replayed under a new name and sequence', async () => {
    // The bytes and metadata of chunk 1, stored again as if they were chunk 5.
    const replayName = chunkObjectName('', { sourceId: SOURCE, sequence: 5, startTime: new Date(T0 + 5 * 2002).toISOString() });
    await mkdir(dirname(objectPath(dir, replayName)), { recursive: true });
    await copyFile(objectPath(dir, name(1)), objectPath(dir, replayName));
    await copyFile(metaPath(dir, name(1)), metaPath(dir, replayName));

    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(report.replays).toEqual([
      { kind: 'same-sequence', sequence: 1, objects: [name(1), replayName] },
      { kind: 'same-content', sha256: chunks[1]?.record.sha256, objects: [name(1), replayName] },
    ]);
    expect(report.tampered).toEqual([{ object: replayName, reasons: [`the name does not match the record, which belongs under ${name(1)}`] }]);
    expect(report.gaps).toEqual([]);
    expect(report.brokenLinks).toEqual([]);
  });

  it('catches an old chunk replayed with a freshly chained record its maker could not sign', async () => {
    const last = chunks[4] as WrittenChunk;
    const old = chunks[1] as WrittenChunk;
    const metadata = chunkMetadata(5, old.bytes);
    const { record } = nextRecord({ lastRecordHash: recordHash(last.record), lastSequence: 4 }, { ...metadata, sha256: sha256Hex(old.bytes) });
    await putBytes(createLocalBucket(dir, 'bucket'), {
      name: chunkObjectName('', metadata),
      bytes: old.bytes,
      metadata: { ...toObjectMetadata(metadata), ...toEvidenceMetadata(record, undefined) },
      crc32c: metadata.crc32c,
    });

    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(report.replays).toEqual([{ kind: 'same-content', sha256: old.record.sha256, objects: [old.name, chunkObjectName('', metadata)] }]);
    expect(report.unsigned).toEqual([chunkObjectName('', metadata)]);
    expect(report).toMatchObject({ checked: 6, verified: 5, problems: 1 });
  });

  it('counts unsigned chunks, and fails on them only with --require-signed', async () => {
    dir = join(root, `bucket-${caseNumber}-unsigned`);
    chunks = makeChunks(5, key, { unsigned: [3] });
    await writeLocalBucket(dir, chunks);

    const lenient = await verifyCommand(args());
    expect(lenient.code).toBe(0);
    expect(lenient.report).toMatchObject({ ok: true, checked: 5, verified: 4, unsigned: [name(3)] });

    const strict = await verifyCommand(args('--require-signed'));
    expect(strict.code).toBe(1);
    expect(strict.report).toMatchObject({ ok: false, problems: 1, unsigned: [name(3)], requireSigned: true });
    expect(findingCounts(strict.report)).toEqual({ ...NO_FINDINGS, unsigned: 1 });
  });

  it('reports a stripped signature, which cannot pass as an unsigned record', async () => {
    await editMetadata(dir, name(2), ({ evidenceSignature: _s, evidenceKeyId: _k, ...rest }) => rest);
    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(report.unsigned).toEqual([]);
    expect(report.badSignatures).toEqual([expect.objectContaining({ object: name(2), keyId: key.keyId, problem: 'missing' })]);
  });

  it('catches chunk metadata edited beside an untouched record', async () => {
    await editMetadata(dir, name(2), (metadata) => ({ ...metadata, startTime: '2026-11-23T08:00:00.000Z' }));
    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    expect(report.tampered).toEqual([
      { object: name(2), reasons: [`object metadata says startTime=2026-11-23T08:00:00.000Z, the record says ${chunks[2]?.metadata.startTime}`] },
    ]);
  });

  it('reports an object without a record, and a stray file under the source', async () => {
    await editMetadata(dir, name(4), ({ evidenceRecord: _r, evidenceSignature: _s, evidenceKeyId: _k, ...rest }) => rest);
    await writeFile(join(dir, SOURCE, 'notes.txt'), 'not a chunk');
    const { code, report } = await verifyCommand(args());
    expect(code).toBe(1);
    // Listed in name order: the day folder sorts before notes.txt.
    expect(report.noRecord).toEqual([name(4), `${SOURCE}/notes.txt`]);
    expect(report.checked).toBe(6);
  });

  it('checks signatures only when given a public key, and says so', async () => {
    const { code, report } = await verifyCommand(['--bucket', `file://${dir}`, '--source', SOURCE]);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, checked: 5, verified: 0, signatureNotChecked: 5, keyIds: [] });
    const refused = await verifyCommand(['--bucket', `file://${dir}`, '--source', SOURCE, '--require-signed']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--require-signed needs at least one --public-key');
  });

  it('checks a time range, and still sees a chunk deleted at its start through the neighbour before it', async () => {
    const range = ['--from', chunks[2]?.metadata.startTime ?? '', '--to', chunks[3]?.metadata.startTime ?? ''];
    const intact = await verifyCommand(args(...range));
    expect(intact.code).toBe(0);
    expect(intact.report).toMatchObject({ checked: 2, verified: 2, from: chunks[2]?.metadata.startTime, to: chunks[3]?.metadata.startTime });

    await unlink(objectPath(dir, name(2)));
    await unlink(metaPath(dir, name(2)));
    const cut = await verifyCommand(args(...range));
    expect(cut.code).toBe(1);
    expect(cut.report.checked).toBe(1);
    expect(cut.report.gaps).toEqual([expect.objectContaining({ firstMissingSequence: 2, after: name(1), before: name(3) })]);
    expect(cut.report.brokenLinks).toEqual([expect.objectContaining({ object: name(3), previous: name(1) })]);

    // A range with nothing in it proves nothing: that is a problem too.
    const empty = await verifyCommand(args('--from', '2030-01-01T00:00:00Z'));
    expect(empty.code).toBe(1);
    expect(empty.report).toMatchObject({ checked: 0, ok: false, problems: 1 });
  });

  it('refuses unclear arguments with exit status 2', async () => {
    for (const bad of [
      ['--source', SOURCE],
      ['--bucket', `file://${dir}`],
      [...args(), '--from', 'yesterday'],
      [...args(), '--from', '2026-11-23T10:00:00Z', '--to', '2026-11-23T09:00:00Z'],
      ['--bucket', 's3://nope', '--source', SOURCE],
      ['--bucket', `file://${dir}`, '--source', SOURCE, '--public-key', join(root, 'missing.pem')],
      [...args(), '--unknown'],
    ]) {
      const { code, stderr } = await verifyCommand(bad);
      expect(code, bad.join(' ')).toBe(2);
      expect(stderr, bad.join(' ')).toContain('usage: verify');
    }
  });
});

describe('the chain checks on their own, without storage', () => {
  const key = newKey();
  const options = { source: SOURCE, prefix: '', publicKeys: new Map([[key.keyId, key.publicKey]]), requireSigned: false };
  const stored = (chunk: WrittenChunk, inRange = true): StoredChunk => ({
    name: chunk.name,
    content: digestBytes(chunk.bytes),
    metadata: chunk.objectMetadata,
    inRange,
  });

  /** Chained, signed chunks with exactly these sequences, as a recorder that skipped the others would make. */
  function chainOf(sequences: number[]): WrittenChunk[] {
    let state: ChainState = GENESIS_CHAIN_STATE;
    return sequences.map((sequence) => {
      const bytes = chunkBytes(sequence);
      const metadata = chunkMetadata(sequence, bytes);
      const next = nextRecord(state, { ...metadata, sha256: sha256Hex(bytes), keyId: key.keyId });
      state = next.state;
      const signature = signRecord(next.record, key.privateKey, key.keyId);
      return {
        name: chunkObjectName('', metadata),
        sequence,
        bytes,
        metadata,
        record: next.record,
        objectMetadata: { ...toObjectMetadata(metadata), ...toEvidenceMetadata(next.record, signature) },
      };
    });
  }

  it('accepts a chain that starts at a later sequence, and names a gap the recorder left itself', () => {
    // Evidence switched on while sequence numbers were already at 100.
    const late = checkChunks(
      chainOf([100, 101, 102]).map((chunk) => stored(chunk)),
      options,
    );
    expect(late).toMatchObject({ ok: true, checked: 3, verified: 3 });
    expect(findingCounts(late)).toEqual(NO_FINDINGS);

    // The recorder skipped sequence 2 (a chunk it could not finalise): 3 links straight to 1.
    const skipped = chainOf([0, 1, 3]);
    const report = checkChunks(
      skipped.map((chunk) => stored(chunk)),
      options,
    );
    expect(report.brokenLinks).toEqual([]);
    expect(report.gaps).toEqual([
      expect.objectContaining({ firstMissingSequence: 2, lastMissingSequence: 2, after: skipped[1]?.name, before: skipped[2]?.name, chainIntact: true }),
    ]);
    expect(report.ok).toBe(false);
  });

  it('reports a chain whose first chunks are gone, and one that restarts', () => {
    const chunks = makeChunks(4, key);
    const headless = checkChunks(
      chunks.slice(2).map((chunk) => stored(chunk)),
      options,
    );
    expect(headless.brokenLinks).toEqual([
      expect.objectContaining({ object: chunks[2]?.name, previous: undefined, reason: expect.stringContaining('the chunks before sequence 2 are missing') }),
    ]);

    // A neighbour before a time range is read for the link only: its own prev is not judged.
    const ranged = checkChunks([stored(chunks[1] as WrittenChunk, false), ...chunks.slice(2).map((chunk) => stored(chunk))], options);
    expect(ranged).toMatchObject({ ok: true, checked: 2, verified: 2 });

    const restartBytes = chunkBytes(9);
    const restartMeta = chunkMetadata(4, restartBytes);
    const restart = nextRecord(GENESIS_CHAIN_STATE, { ...restartMeta, sha256: sha256Hex(restartBytes), keyId: key.keyId });
    const restarted: WrittenChunk = {
      name: chunkObjectName('', restartMeta),
      sequence: 4,
      bytes: restartBytes,
      metadata: restartMeta,
      record: restart.record,
      objectMetadata: { ...toObjectMetadata(restartMeta), ...toEvidenceMetadata(restart.record, signRecord(restart.record, key.privateKey, key.keyId)) },
    };
    const report = checkChunks(
      [...chunks, restarted].map((chunk) => stored(chunk)),
      options,
    );
    expect(report.brokenLinks).toEqual([expect.objectContaining({ object: restarted.name, reason: expect.stringContaining('starts a new chain') })]);
  });

  it('reports an object whose bytes are gone and one whose metadata is malformed', () => {
    const chunks = makeChunks(4, key);
    const report = checkChunks(
      [
        stored(chunks[0] as WrittenChunk),
        { ...stored(chunks[1] as WrittenChunk), content: undefined },
        { ...stored(chunks[2] as WrittenChunk), metadata: { ...chunks[2]?.objectMetadata, evidenceRecord: '{"v":1}' } },
        stored(chunks[3] as WrittenChunk),
      ],
      options,
    );
    expect(report.tampered).toEqual([
      { object: chunks[1]?.name, reasons: ['the object has no bytes'] },
      { object: chunks[2]?.name, reasons: [expect.stringContaining('evidence metadata is invalid: source is missing')] },
    ]);
    // Chunk 2 is there but unreadable as evidence: the gap says so rather than calling it missing.
    expect(report.gaps).toEqual([expect.objectContaining({ firstMissingSequence: 2, chainIntact: false, presentWithoutRecord: [chunks[2]?.name] })]);
    expect(report.brokenLinks).toEqual([expect.objectContaining({ object: chunks[3]?.name, previous: chunks[1]?.name })]);
  });
});

describe('verify on Cloud Storage (the in-process GCS test server)', () => {
  const key = newKey();
  let server: GcsTestServer;
  let root = '';
  let publicKeyPath = '';
  const BUCKET = 'evidence-bucket';
  const PREFIX = 'site-a/recordings';

  beforeAll(async () => {
    server = await startGcsTestServer();
    root = await mkdtemp(join(tmpdir(), 'verify-gcs-'));
    publicKeyPath = join(root, 'evidence-public.pem');
    await writeFile(publicKeyPath, key.publicKey.export({ type: 'spki', format: 'pem' }));
    await new Storage({ apiEndpoint: server.url, projectId: 'test-project' }).createBucket(BUCKET);
  });
  afterAll(async () => {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('reads the chunks the worker stored, and catches metadata edited in place and a replay', async () => {
    const chunks = makeChunks(4, key, { prefix: PREFIX });
    const store = createGcsStore({ bucket: BUCKET, projectId: 'test-project', apiEndpoint: server.url });
    for (const chunk of chunks) {
      await putBytes(store, { name: chunk.name, bytes: chunk.bytes, metadata: chunk.objectMetadata, crc32c: chunk.metadata.crc32c });
    }
    // Another source whose id starts the same: not listed with cam-1.
    const other = makeChunks(1, key, { prefix: PREFIX })[0] as WrittenChunk;
    await putBytes(store, {
      name: other.name.replace(`${SOURCE}/`, `${SOURCE}0/`).replace(`${SOURCE}_`, `${SOURCE}0_`),
      bytes: other.bytes,
      metadata: {},
      crc32c: other.metadata.crc32c,
    });

    const env = { GCS_API_ENDPOINT: server.url, GOOGLE_CLOUD_PROJECT: 'test-project' };
    const verify = async (): Promise<{ code: number; report: VerifyReport }> => {
      let stdout = '';
      const code = await runVerifyCommand(['--bucket', `gs://${BUCKET}/${PREFIX}`, '--source', SOURCE, '--public-key', publicKeyPath, '--json'], env, {
        stdout: (text) => (stdout += text),
        stderr: (text) => (stdout += text),
      });
      return { code, report: JSON.parse(stdout) as VerifyReport };
    };

    const intact = await verify();
    expect(intact.code).toBe(0);
    expect(intact.report).toMatchObject({ ok: true, bucket: `gs://${BUCKET}`, prefix: PREFIX, checked: 4, verified: 4 });

    // Custom metadata can be patched on a live object without touching its bytes.
    const storage = new Storage({ apiEndpoint: server.url, projectId: 'test-project' });
    await storage
      .bucket(BUCKET)
      .file(chunks[1]?.name ?? '')
      .setMetadata({ metadata: { durationMs: '9000' } });
    const replayName = chunkObjectName(PREFIX, { sourceId: SOURCE, sequence: 4, startTime: new Date(T0 + 4 * 2002).toISOString() });
    await storage
      .bucket(BUCKET)
      .file(replayName)
      .save(chunks[0]?.bytes ?? Buffer.alloc(0), { metadata: { metadata: chunks[0]?.objectMetadata } });

    const tampered = await verify();
    expect(tampered.code).toBe(1);
    expect(tampered.report.tampered.map((finding) => finding.object)).toEqual([chunks[1]?.name, replayName]);
    expect(tampered.report.tampered[0]?.reasons).toEqual(['object metadata says durationMs=9000, the record says 2002']);
    expect(tampered.report.replays.map((replay) => replay.kind)).toEqual(['same-sequence', 'same-content']);

    // The reader on its own: what readSourceChunks hands the checks.
    const read = await readSourceChunks(createGcsReader({ bucket: BUCKET, apiEndpoint: server.url, projectId: 'test-project' }), PREFIX, SOURCE, {});
    expect(read.map((chunk) => chunk.name).sort()).toEqual([...chunks.map((chunk) => chunk.name), replayName].sort());
    expect(read.find((chunk) => chunk.name === chunks[2]?.name)?.content).toEqual(digestBytes(chunks[2]?.bytes ?? Buffer.alloc(0)));
  });
});

describe('the commands as processes', () => {
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'verify-cli-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function node(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], {
        cwd: REPO,
        env: { ...process.env, METADATA_SERVER_DETECTION: 'none' },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: unknown; stdout?: string; stderr?: string };
      if (typeof failed.code !== 'number') throw error;
      return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  }

  it('keygen makes a key pair that verify accepts, and verify exits 0 then 1', async () => {
    const keys = join(root, 'keys');
    const made = await node('evidence-tools/src/keygen.ts', ['--out', keys]);
    expect(made.code, made.stderr).toBe(0);
    const keyId = /key id: ([0-9a-f]{16})/.exec(made.stdout)?.[1];
    expect(keyId).toBeDefined();
    expect((await stat(join(keys, 'evidence-private.pem'))).mode & 0o777).toBe(0o600);
    const privateKey = loadPrivateKey(join(keys, 'evidence-private.pem'));
    expect(keyIdOf(privateKey)).toBe(keyId);
    // Never over an existing key, and never without being told where.
    const [again, nowhere] = await Promise.all([node('evidence-tools/src/keygen.ts', ['--out', keys]), node('evidence-tools/src/keygen.ts', [])]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('refusing to replace a key');
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('--out DIR is required');

    const dir = join(root, 'bucket');
    const chunks = makeChunks(3, { privateKey, publicKey: createPublicKey(privateKey), keyId: keyId ?? '' });
    await writeLocalBucket(dir, chunks);
    const verifyArgs = ['--bucket', `file://${dir}`, '--source', SOURCE, '--public-key', join(keys, 'evidence-public.pem')];

    const ok = await node('evidence-tools/src/verify/main.ts', verifyArgs);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('RESULT: OK');

    await unlink(objectPath(dir, chunks[1]?.name ?? ''));
    const failed = await node('evidence-tools/src/verify/main.ts', [...verifyArgs, '--json']);
    expect(failed.code).toBe(1);
    const report = JSON.parse(failed.stdout) as VerifyReport;
    expect(report.tampered).toEqual([{ object: chunks[1]?.name, reasons: ['the object has no bytes'] }]);
    // Five node processes, each loading TypeScript through tsx.
  }, 60_000);
});
