import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cBase64 } from '../../src/chunk.js';
import {
  canonicalRecord,
  EVIDENCE_METADATA_KEYS,
  EvidenceRecordError,
  fromEvidenceMetadata,
  GENESIS_CHAIN_STATE,
  GENESIS_PREV,
  keyIdOf,
  loadPrivateKey,
  loadPublicKeys,
  nextRecord,
  recordDurationMs,
  recordHash,
  sha256Hex,
  signRecord,
  toEvidenceMetadata,
  verifyRecordSignature,
  type EvidenceRecord,
} from '../../src/evidence/index.js';

// The test vector of docs/evidence.md: RFC 8032's first Ed25519 test key, and a record of the
// three bytes "abc". Anyone re-implementing the format should reproduce these strings exactly.
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const PKCS8_ED25519_PREFIX = '302e020100300506032b657004220420';
const vectorPrivateKey = createPrivateKey({ key: Buffer.from(PKCS8_ED25519_PREFIX + RFC8032_SEED, 'hex'), format: 'der', type: 'pkcs8' });
const vectorPublicKey = createPublicKey(vectorPrivateKey);
const VECTOR_KEY_ID = '06e3fd8fda29bb60';

const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const vectorRecord: EvidenceRecord = {
  v: 1,
  source: 'cam-1',
  sequence: 42,
  startTime: '2026-11-23T09:32:49.123Z',
  durationMs: 4000,
  bytes: 3,
  sha256: ABC_SHA256,
  crc32c: 'Nks/tw==',
  prev: GENESIS_PREV,
};
const VECTOR_CANONICAL =
  '{"v":1,"source":"cam-1","sequence":42,"startTime":"2026-11-23T09:32:49.123Z","durationMs":4000,"bytes":3,' +
  '"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","crc32c":"Nks/tw==",' +
  '"prev":"0000000000000000000000000000000000000000000000000000000000000000"}';
const VECTOR_HASH = '418654e8f32ebbff293b91f0a6cb417ea596b8621627d3403ceb8c988ec1c8c2';
const VECTOR_SIGNED_CANONICAL = `${VECTOR_CANONICAL.slice(0, -1)},"keyId":"06e3fd8fda29bb60"}`;
const VECTOR_SIGNED_HASH = 'd41b047a6e23ad84b893369b310c85a3965d1506d3a18de06c1cca19e4486936';
const VECTOR_SIGNATURE = 's5pVbiakKFur6XwJ/ZZqC5RkfUBMVMIOsbFUpVAURLZJL6QU8JNlDJVmv4Xc/2mWIor5CcXq/l+LS+mi3XynAg==';

const signedVector: EvidenceRecord = { ...vectorRecord, keyId: VECTOR_KEY_ID };

function freshKeys(): { privateKey: KeyObject; publicKey: KeyObject; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

describe('canonical encoding', () => {
  it('is pinned: a fixed record gives a fixed string and hash', () => {
    expect(canonicalRecord(vectorRecord)).toBe(VECTOR_CANONICAL);
    expect(recordHash(vectorRecord)).toBe(VECTOR_HASH);
    expect(canonicalRecord(signedVector)).toBe(VECTOR_SIGNED_CANONICAL);
    expect(recordHash(signedVector)).toBe(VECTOR_SIGNED_HASH);
    // The hash is plain SHA-256 of the UTF-8 string: nothing hidden in between.
    expect(createHash('sha256').update(VECTOR_SIGNED_CANONICAL, 'utf8').digest('hex')).toBe(VECTOR_SIGNED_HASH);
    // And the vector is honest about "abc".
    expect(sha256Hex(Buffer.from('abc'))).toBe(ABC_SHA256);
    expect(crc32cBase64(Buffer.from('abc'))).toBe('Nks/tw==');
  });

  it('does not depend on the key order of the input', () => {
    const reversed = Object.fromEntries(Object.entries(signedVector).reverse()) as unknown as EvidenceRecord;
    expect(Object.keys(reversed)[0]).toBe('keyId');
    expect(canonicalRecord(reversed)).toBe(VECTOR_SIGNED_CANONICAL);
    expect(recordHash(reversed)).toBe(VECTOR_SIGNED_HASH);
  });

  it('has no whitespace and the same bytes as JSON.stringify with the fixed key order', () => {
    const text = canonicalRecord(signedVector);
    expect(text).not.toMatch(/\s/);
    expect(JSON.parse(text)).toEqual(signedVector);
    expect(JSON.stringify(JSON.parse(text))).toBe(text);
  });

  it('refuses what it cannot encode unambiguously, naming every problem', () => {
    const bad = {
      ...vectorRecord,
      sequence: -1,
      durationMs: 2033.333,
      sha256: ABC_SHA256.toUpperCase(),
      startTime: '2026-02-30T00:00:00.000Z',
      source: 'cam"1',
      extra: 'x',
    } as unknown as EvidenceRecord;
    let error: unknown;
    try {
      canonicalRecord(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EvidenceRecordError);
    const { problems } = error as EvidenceRecordError;
    expect(problems).toEqual(
      expect.arrayContaining([
        'unknown field "extra"',
        expect.stringContaining('sequence must be a non-negative integer'),
        expect.stringContaining('durationMs must be a non-negative integer'),
        expect.stringContaining('sha256 must be 64 lower-case hex digits'),
        expect.stringContaining('source must be a source id'),
        'startTime 2026-02-30T00:00:00.000Z is not a real UTC time',
      ]),
    );
    expect(() => canonicalRecord({ ...vectorRecord, startTime: '2026-11-23T09:32:49Z' })).toThrow(/startTime must be UTC time/);
    expect(() => canonicalRecord({ ...vectorRecord, crc32c: 'Nks/tx==' })).toThrow(/crc32c must be base64 of 4 bytes/);
    expect(() => canonicalRecord({ ...vectorRecord, v: 3 as 1 })).toThrow(/v must be 1 or 2/);
    // A v1 record holds none of v2's fields, and a v2 record must say its clock.
    expect(() => canonicalRecord({ ...vectorRecord, clock: 'host' })).toThrow(/unknown field "clock" \(a version 2 field in a version 1 record\)/);
    expect(() => canonicalRecord({ ...vectorRecord, v: 2 })).toThrow(/clock is missing/);
    expect(() => canonicalRecord({ ...vectorRecord, bytes: 2 ** 53 })).toThrow(/bytes must be a non-negative integer/);
  });

  it('rounds chunk durations to whole milliseconds, half up', () => {
    expect(recordDurationMs(2033.333)).toBe(2033);
    expect(recordDurationMs(2033.5)).toBe(2034);
    expect(recordDurationMs(4000)).toBe(4000);
  });
});

describe('keys and signatures', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'evidence-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reproduces the pinned signature and key id (Ed25519 is deterministic)', () => {
    expect(keyIdOf(vectorPublicKey)).toBe(VECTOR_KEY_ID);
    expect(keyIdOf(vectorPrivateKey)).toBe(VECTOR_KEY_ID);
    // The key id is over the DER SubjectPublicKeyInfo: 12 fixed bytes, then the raw 32-byte key.
    const spki = vectorPublicKey.export({ type: 'spki', format: 'der' });
    expect(spki.toString('hex')).toBe('302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(signRecord(signedVector, vectorPrivateKey, VECTOR_KEY_ID)).toBe(VECTOR_SIGNATURE);
    expect(verifyRecordSignature(signedVector, VECTOR_SIGNATURE, vectorPublicKey)).toBe(true);
  });

  it('round-trips with a fresh key', () => {
    const { privateKey, publicKey, keyId } = freshKeys();
    const record: EvidenceRecord = { ...vectorRecord, keyId };
    const signature = signRecord(record, privateKey, keyId);
    expect(signature).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    expect(verifyRecordSignature(record, signature, publicKey)).toBe(true);
  });

  it('fails when any field of the record changes', () => {
    const signature = VECTOR_SIGNATURE;
    const changes: Partial<EvidenceRecord>[] = [
      { source: 'cam-2' },
      { sequence: 43 },
      { startTime: '2026-11-23T09:32:49.124Z' },
      { durationMs: 4001 },
      { bytes: 4 },
      { sha256: sha256Hex('abd') },
      { crc32c: crc32cBase64(Buffer.from('abd')) },
      { prev: VECTOR_HASH },
      { keyId: 'ffffffffffffffff' },
    ];
    for (const change of changes) {
      expect(verifyRecordSignature({ ...signedVector, ...change }, signature, vectorPublicKey), JSON.stringify(change)).toBe(false);
    }
    const { keyId: _dropped, ...withoutKeyId } = signedVector;
    expect(verifyRecordSignature(withoutKeyId, signature, vectorPublicKey)).toBe(false);
  });

  it('fails with the wrong key, a damaged signature, or a malformed one', () => {
    const other = freshKeys();
    expect(verifyRecordSignature(signedVector, VECTOR_SIGNATURE, other.publicKey)).toBe(false);
    const flipped = Buffer.from(VECTOR_SIGNATURE, 'base64');
    flipped[10] = (flipped[10] ?? 0) ^ 0x01;
    expect(verifyRecordSignature(signedVector, flipped.toString('base64'), vectorPublicKey)).toBe(false);
    expect(verifyRecordSignature(signedVector, 'not base64', vectorPublicKey)).toBe(false);
    expect(verifyRecordSignature(signedVector, '', vectorPublicKey)).toBe(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(verifyRecordSignature(signedVector, VECTOR_SIGNATURE, rsa)).toBe(false);
  });

  it('refuses to sign under a key id that is not the key, or that the record does not name', () => {
    const other = freshKeys();
    expect(() => signRecord(signedVector, other.privateKey, VECTOR_KEY_ID)).toThrow(/is not the signing key's/);
    expect(() => signRecord(vectorRecord, vectorPrivateKey, VECTOR_KEY_ID)).toThrow(/names key \(none\).*set keyId before signing/);
    expect(() => signRecord(signedVector, vectorPublicKey, VECTOR_KEY_ID)).toThrow(/needs a private key/);
  });

  it('loads keys from PEM files and text, keyed by key id', async () => {
    const { privateKey, publicKey, keyId } = freshKeys();
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const publicPath = join(dir, 'a-public.pem');
    const privatePath = join(dir, 'a-private.pem');
    await writeFile(publicPath, publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(privatePath, privatePem);
    const vectorPublicPath = join(dir, 'vector-public.pem');
    await writeFile(vectorPublicPath, vectorPublicKey.export({ type: 'spki', format: 'pem' }));

    expect(keyIdOf(loadPrivateKey(privatePath))).toBe(keyId);
    expect(keyIdOf(loadPrivateKey(privatePem))).toBe(keyId);
    const keys = loadPublicKeys([publicPath, vectorPublicPath]);
    expect([...keys.keys()].sort()).toEqual([keyId, VECTOR_KEY_ID].sort());

    expect(() => loadPublicKeys([privatePath])).toThrow(/holds a private key/);
    expect(() => loadPublicKeys([join(dir, 'missing.pem')])).toThrow(/cannot read public key/);
    expect(() => loadPrivateKey(publicPath)).toThrow(/no PKCS#8 private key/);
    const rsaPath = join(dir, 'rsa.pem');
    await writeFile(rsaPath, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    expect(() => loadPublicKeys([rsaPath])).toThrow(/rsa key; evidence records are signed with Ed25519/);
  });
});

describe('the chain', () => {
  const facts = (sequence: number, content: string) => ({
    sourceId: 'cam-1',
    sequence,
    startTime: new Date(Date.UTC(2026, 10, 23, 9, 0, sequence * 2)).toISOString(),
    durationMs: 2000.001,
    bytes: content.length,
    crc32c: crc32cBase64(Buffer.from(content)),
    sha256: sha256Hex(Buffer.from(content)),
    clock: 'host' as const,
    keyId: VECTOR_KEY_ID,
  });

  it('links three records, each to the hash of the one before', () => {
    const first = nextRecord(GENESIS_CHAIN_STATE, facts(0, 'zero'));
    const second = nextRecord(first.state, facts(1, 'one'));
    const third = nextRecord(second.state, facts(2, 'two'));
    expect(first.record.prev).toBe(GENESIS_PREV);
    expect(second.record.prev).toBe(recordHash(first.record));
    expect(third.record.prev).toBe(recordHash(second.record));
    expect(third.state).toEqual({ lastRecordHash: recordHash(third.record), lastSequence: 2 });
    expect(first.record).toMatchObject({ v: 2, clock: 'host', source: 'cam-1', sequence: 0, durationMs: 2000, bytes: 4, keyId: VECTOR_KEY_ID });
    // Pure: the inputs are left alone, and the same input gives the same output.
    expect(GENESIS_CHAIN_STATE).toEqual({ lastRecordHash: GENESIS_PREV, lastSequence: -1 });
    expect(nextRecord(first.state, facts(1, 'one'))).toEqual(second);
    // Changing an earlier record changes every later link.
    const altered = nextRecord(GENESIS_CHAIN_STATE, facts(0, 'zerO'));
    expect(nextRecord(altered.state, facts(1, 'one')).record.prev).not.toBe(second.record.prev);
  });

  it('refuses a sequence that does not increase, and allows one the recorder skipped', () => {
    const first = nextRecord(GENESIS_CHAIN_STATE, facts(5, 'five'));
    expect(() => nextRecord(first.state, facts(5, 'again'))).toThrow(/sequence 5 of cam-1 does not follow the last recorded sequence 5/);
    expect(() => nextRecord(first.state, facts(4, 'back'))).toThrow(/does not follow/);
    const skipped = nextRecord(first.state, facts(7, 'seven'));
    expect(skipped.record.prev).toBe(recordHash(first.record));
    expect(() => nextRecord({ lastRecordHash: 'nope', lastSequence: -1 }, facts(0, 'zero'))).toThrow(/chain state holds no record hash/);
  });

  it('leaves keyId out of unsigned records', () => {
    const { keyId: _unused, ...unsignedFacts } = facts(0, 'zero');
    const { record } = nextRecord(GENESIS_CHAIN_STATE, unsignedFacts);
    expect('keyId' in record).toBe(false);
    expect(canonicalRecord(record)).not.toContain('keyId');
  });
});

describe('object metadata', () => {
  it('round-trips a signed record', () => {
    const metadata = toEvidenceMetadata(signedVector, VECTOR_SIGNATURE);
    expect(metadata).toEqual({
      evidenceRecord: VECTOR_SIGNED_CANONICAL,
      evidenceSignature: VECTOR_SIGNATURE,
      evidenceKeyId: VECTOR_KEY_ID,
    });
    expect(Object.values(EVIDENCE_METADATA_KEYS).sort()).toEqual(Object.keys(metadata).sort());
    // Beside the chunk metadata, as the worker writes it.
    const parsed = fromEvidenceMetadata({ source: 'cam-1', sequence: '42', ...metadata });
    expect(parsed).toEqual({ record: signedVector, signature: VECTOR_SIGNATURE });
    expect(recordHash(parsed?.record ?? vectorRecord)).toBe(VECTOR_SIGNED_HASH);
  });

  it('round-trips an unsigned record', () => {
    const metadata = toEvidenceMetadata(vectorRecord, undefined);
    expect(metadata).toEqual({ evidenceRecord: VECTOR_CANONICAL });
    expect(fromEvidenceMetadata(metadata)).toEqual({ record: vectorRecord, signature: undefined });
  });

  it('says there is no evidence when none of its keys is present', () => {
    expect(fromEvidenceMetadata({ source: 'cam-1', sequence: '1' })).toBeUndefined();
  });

  it('reads a record whose signature was stripped, so the verifier can say so', () => {
    expect(fromEvidenceMetadata({ evidenceRecord: VECTOR_SIGNED_CANONICAL, evidenceKeyId: VECTOR_KEY_ID })).toEqual({
      record: signedVector,
      signature: undefined,
    });
    expect(fromEvidenceMetadata({ evidenceRecord: VECTOR_SIGNED_CANONICAL })).toEqual({ record: signedVector, signature: undefined });
  });

  it('refuses to write inconsistent metadata', () => {
    expect(() => toEvidenceMetadata(signedVector, undefined)).toThrow(/names key 06e3fd8fda29bb60 but no signature/);
    expect(() => toEvidenceMetadata(vectorRecord, VECTOR_SIGNATURE)).toThrow(/must name its key/);
    expect(() => toEvidenceMetadata(signedVector, 'short')).toThrow(/not 64 bytes of base64/);
  });

  it('names what is wrong with malformed metadata', () => {
    const good = toEvidenceMetadata(signedVector, VECTOR_SIGNATURE);
    const cases: [Record<string, string>, RegExp][] = [
      [{ evidenceSignature: VECTOR_SIGNATURE, evidenceKeyId: VECTOR_KEY_ID }, /evidenceRecord is missing/],
      [{ ...good, evidenceRecord: '{"v":1,' }, /evidenceRecord is not JSON/],
      [{ ...good, evidenceRecord: '[1,2]' }, /evidenceRecord is not a JSON object/],
      [{ ...good, evidenceRecord: 'null' }, /evidenceRecord is not a JSON object/],
      [{ ...good, evidenceRecord: JSON.stringify(JSON.parse(VECTOR_SIGNED_CANONICAL), null, 1) }, /not in canonical form/],
      [{ ...good, evidenceRecord: JSON.stringify(Object.fromEntries(Object.entries(signedVector).reverse())) }, /not in canonical form/],
      [{ ...good, evidenceRecord: VECTOR_SIGNED_CANONICAL.replace('"bytes":3', '"bytes":3.0') }, /not in canonical form/],
      [{ ...good, evidenceRecord: VECTOR_SIGNED_CANONICAL.replace('"bytes":3', '"bytes":"3"') }, /bytes must be a non-negative integer/],
      [{ ...good, evidenceRecord: VECTOR_SIGNED_CANONICAL.replace('"v":1,', '') }, /v is missing/],
      [{ ...good, evidenceKeyId: 'ffffffffffffffff' }, /evidenceKeyId is "ffffffffffffffff" but the record names key 06e3fd8fda29bb60/],
      [{ evidenceRecord: VECTOR_SIGNED_CANONICAL, evidenceSignature: VECTOR_SIGNATURE }, /evidenceKeyId is missing/],
      [{ evidenceRecord: VECTOR_CANONICAL, evidenceSignature: VECTOR_SIGNATURE }, /evidenceSignature is set but the record names no key/],
      [{ ...good, evidenceSignature: 'AAAA' }, /evidenceSignature is not 64 bytes of base64/],
    ];
    for (const [metadata, message] of cases) {
      expect(() => fromEvidenceMetadata(metadata), message.source).toThrow(EvidenceRecordError);
      expect(() => fromEvidenceMetadata(metadata), message.source).toThrow(message);
    }
  });
});

// The version 2 test vector of docs/evidence.md: the same key and bytes, on a camera's clock 3 s
// behind the node, as the recorder writes it now.
describe('version 2: both clocks', () => {
  const v2Record: EvidenceRecord = {
    ...vectorRecord,
    v: 2,
    startTime: '2026-11-23T09:32:46.121Z',
    clock: 'camera',
    cameraTimeSource: 'sender-report',
    hostTime: '2026-11-23T09:32:49.123Z',
    cameraTime: '2026-11-23T09:32:46.121Z',
    clockOffsetMs: -3002,
    keyId: VECTOR_KEY_ID,
  };
  const V2_CANONICAL =
    '{"v":2,"source":"cam-1","sequence":42,"startTime":"2026-11-23T09:32:46.121Z","durationMs":4000,"bytes":3,' +
    '"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","crc32c":"Nks/tw==",' +
    '"clock":"camera","cameraTimeSource":"sender-report","hostTime":"2026-11-23T09:32:49.123Z","cameraTime":"2026-11-23T09:32:46.121Z","clockOffsetMs":-3002,' +
    '"prev":"0000000000000000000000000000000000000000000000000000000000000000","keyId":"06e3fd8fda29bb60"}';
  const V2_HASH = '240925663ea7edc23b879e952aeef339c685404553d9cb2a3abe8683c2505de7';
  const V2_SIGNATURE = 'Vf4mZkp+nW9bwTPAzA8N6SEyNjgw/mD7oIGL468X+4zfUfzLXlHPnv7o4iOvR0wuv+kGdfJ+UH/vGN6SkVHSAA==';

  it('encodes, hashes and signs to the pinned strings', () => {
    expect(canonicalRecord(v2Record)).toBe(V2_CANONICAL);
    expect(recordHash(v2Record)).toBe(V2_HASH);
    expect(signRecord(v2Record, vectorPrivateKey, VECTOR_KEY_ID)).toBe(V2_SIGNATURE);
    expect(verifyRecordSignature(v2Record, V2_SIGNATURE, vectorPublicKey)).toBe(true);
  });

  it('refuses a camera clock without a camera time, -0, fractions and unknown clocks', () => {
    expect(() => canonicalRecord({ ...v2Record, cameraTime: undefined })).toThrow(/clock is camera but cameraTime is missing/);
    expect(() => canonicalRecord({ ...v2Record, clockOffsetMs: -0 })).toThrow(/clockOffsetMs must be an integer/);
    expect(() => canonicalRecord({ ...v2Record, clockOffsetMs: 1.5 })).toThrow(/clockOffsetMs must be an integer/);
    expect(() => canonicalRecord({ ...v2Record, clock: 'gps' as 'host' })).toThrow(/clock must be host, file, camera, not "gps"/);
  });

  it('the chain writes version 2 and still reads version 1 records', () => {
    const { record } = nextRecord(GENESIS_CHAIN_STATE, {
      sourceId: 'cam-1',
      sequence: 0,
      startTime: v2Record.startTime,
      durationMs: 4000,
      bytes: 3,
      crc32c: 'Nks/tw==',
      sha256: ABC_SHA256,
      clock: 'camera',
      cameraTime: v2Record.cameraTime,
      hostTime: v2Record.hostTime,
      clockOffsetMs: -3002,
      cameraTimeSource: 'sender-report',
    });
    expect(record).toMatchObject({ v: 2, clock: 'camera', clockOffsetMs: -3002 });
    expect(fromEvidenceMetadata(toEvidenceMetadata(signedVector, VECTOR_SIGNATURE))?.record).toEqual(signedVector);
  });
});
