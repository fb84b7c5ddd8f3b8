import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkMetadataOf } from '@crispy-streamer/harness/chunk-fixtures';
import { chunkObjectName, crc32cBase64, toObjectMetadata, type ChunkMetadata } from '../../src/chunk.js';
import {
  GENESIS_CHAIN_STATE,
  checkObjectEvidence,
  keyIdOf,
  nextRecord,
  sha256Hex,
  signRecord,
  toEvidenceMetadata,
  type StoredObjectFacts,
} from '../../src/evidence/index.js';

const bytes = Buffer.from('the bytes of a chunk');
const metadata: ChunkMetadata = chunkMetadataOf(bytes, { sequence: 4, startTime: '2026-11-23T09:00:12.000Z', durationMs: 3000.4 });
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const keyId = keyIdOf(publicKey);
const other = generateKeyPairSync('ed25519');
const keys = new Map([[keyId, publicKey]]);

function stored(options: { signed: boolean; prefix?: string }): StoredObjectFacts {
  const { record } = nextRecord(GENESIS_CHAIN_STATE, { ...metadata, sha256: sha256Hex(bytes), ...(options.signed ? { keyId } : {}) });
  const evidence = toEvidenceMetadata(record, options.signed ? signRecord(record, privateKey, keyId) : undefined);
  return {
    name: chunkObjectName(options.prefix ?? 'site-a', metadata),
    metadata: { ...toObjectMetadata(metadata), ...evidence },
    content: { bytes: bytes.byteLength, crc32c: crc32cBase64(bytes), sha256: sha256Hex(bytes) },
  };
}

describe('checkObjectEvidence', () => {
  it('verifies a signed chunk whose bytes, name and metadata match its record', () => {
    const check = checkObjectEvidence(stored({ signed: true }), { publicKeys: keys, prefix: 'site-a' });
    expect(check).toMatchObject({ integrity: 'verified', reasons: [], signature: 'valid', keyId, noRecord: false });
  });

  it('checks without a prefix too (the function does not know it): only the part after it must match', () => {
    expect(checkObjectEvidence(stored({ signed: true }), { publicKeys: keys }).integrity).toBe('verified');
  });

  it.each<[string, (o: StoredObjectFacts) => StoredObjectFacts, RegExp]>([
    [
      'a flipped byte (sha256 read)',
      (o) => ({ ...o, content: { ...(o.content ?? { bytes: 0, crc32c: '' }), sha256: sha256Hex('other') } }),
      /^sha256 of the bytes is/,
    ],
    [
      'another size (as the bucket reports it)',
      (o) => ({ ...o, content: { bytes: 1, crc32c: o.content?.crc32c ?? '' } }),
      /^the object is 1 bytes, the record says 20$/,
    ],
    ['another crc32c', (o) => ({ ...o, content: { bytes: bytes.byteLength, crc32c: 'AAAAAA==' } }), /^crc32c of the bytes is AAAAAA==/],
    ['no bytes at all', (o) => ({ ...o, content: undefined }), /^the object has no bytes$/],
    ['a renamed object', (o) => ({ ...o, name: o.name.replace('0000000004', '0000000005') }), /^the name does not match the record/],
    [
      'metadata edited beside the record',
      (o) => ({ ...o, metadata: { ...o.metadata, startTime: '2026-11-23T10:00:12.000Z' } }),
      /^object metadata says startTime=2026-11-23T10:00:12.000Z/,
    ],
    [
      'the signature removed',
      (o) => ({ ...o, metadata: { ...o.metadata, evidenceSignature: undefined } }),
      /^the record names key .* but the object carries no signature$/,
    ],
    ['no evidence at all', (o) => ({ ...o, metadata: toObjectMetadata(metadata) }), /^the object carries no evidence record$/],
    ['an unreadable record', (o) => ({ ...o, metadata: { ...o.metadata, evidenceRecord: '{"v":1' } }), /^evidence metadata is invalid/],
  ])('is INVALID for %s, saying why', (_label, tamper, reason) => {
    const check = checkObjectEvidence(tamper(stored({ signed: true })), { publicKeys: keys, prefix: 'site-a' });
    expect(check.integrity).toBe('INVALID');
    expect(
      check.reasons.some((r) => reason.test(r)),
      check.reasons.join(' | '),
    ).toBe(true);
  });

  it('calls a matching unsigned record unsigned, and a signature by a key not given unverifiable', () => {
    expect(checkObjectEvidence(stored({ signed: false }), { publicKeys: keys }).integrity).toBe('unsigned');
    const elsewhere = checkObjectEvidence(stored({ signed: true }), { publicKeys: new Map([[keyIdOf(other.publicKey), other.publicKey]]) });
    expect(elsewhere).toMatchObject({ integrity: 'unverifiable', signature: 'unknown-key', reasons: [] });
    expect(checkObjectEvidence(stored({ signed: true }), { publicKeys: new Map() })).toMatchObject({ integrity: 'unverifiable', signature: 'not-checked' });
  });

  it('keeps what is wrong with the object apart from what is wrong with the signature', () => {
    const o = stored({ signed: true });
    const check = checkObjectEvidence({ ...o, content: undefined, metadata: { ...o.metadata, evidenceSignature: undefined } }, { publicKeys: keys });
    expect(check.mismatches).toEqual(['the object has no bytes']);
    expect(check.signature).toBe('missing');
    expect(check.reasons).toHaveLength(2);
  });

  it('refuses a record of another source than the one asked about', () => {
    expect(checkObjectEvidence(stored({ signed: true }), { publicKeys: keys, source: 'cam1' }).reasons).toContain('the record is for source cam0, not cam1');
  });
});

describe('checkObjectEvidence, for a chunk in another container', () => {
  it('expects the name its metadata says: a WebM chunk is named .webm', () => {
    const webm: ChunkMetadata = { ...metadata, container: 'webm' };
    const { record } = nextRecord(GENESIS_CHAIN_STATE, { ...webm, sha256: sha256Hex(bytes) });
    const object: StoredObjectFacts = {
      name: chunkObjectName('site-a', webm),
      metadata: { ...toObjectMetadata(webm), ...toEvidenceMetadata(record, undefined) },
      content: { bytes: bytes.byteLength, crc32c: crc32cBase64(bytes) },
    };
    expect(object.name.endsWith('.webm')).toBe(true);
    expect(checkObjectEvidence(object, { publicKeys: keys, prefix: 'site-a' })).toMatchObject({ integrity: 'unsigned', reasons: [] });
    expect(checkObjectEvidence({ ...object, name: object.name.replace('.webm', '.mp4') }, { publicKeys: keys, prefix: 'site-a' }).integrity).toBe('INVALID');
  });
});
