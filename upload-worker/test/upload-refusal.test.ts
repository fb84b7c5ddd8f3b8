import { describe, expect, it } from 'vitest';
import { refusalOf, settleRefusal, type RefusalOutcome, type UploadRefusal } from '../src/storage/upload-refusal.js';
import type { StoredObjectSummary } from '../src/storage/object-store.js';

const EXPECTED = { size: 1000, crc32c: 'AAAAAA==' };
const SAME: StoredObjectSummary = { generation: '7', size: 1000, crc32c: 'AAAAAA==' };
const OTHER: StoredObjectSummary = { generation: '8', size: 1000, crc32c: 'BBBBBB==' };
const precondition: UploadRefusal = { status: 412, message: 'At least one of the pre-conditions you specified did not hold.' };
const testbenchChecksum: UploadRefusal = { status: 412, message: 'crc32c validation failed. Expected = AAAAAA== vs Actual = CCCCCC==.' };
const googleChecksum: UploadRefusal = { status: 400, message: 'Provided CRC32C "AAAAAA==" doesn\'t match calculated CRC32C "CCCCCC==".' };

describe('refusalOf', () => {
  it('takes any 412, and a 400 only when it names a checksum, wherever the client put the message', () => {
    expect(refusalOf({ code: 412, message: 'At least one of the pre-conditions you specified did not hold.' })).toEqual(precondition);
    // The storage client's resumable errors: 'Upload failed' with the server's body in errors[].
    expect(refusalOf(Object.assign(new Error('Upload failed'), { code: 412, errors: [{ message: 'crc32c validation failed' }] }))).toEqual({
      status: 412,
      message: 'Upload failed; crc32c validation failed',
    });
    // gaxios: the body under response.data.
    expect(refusalOf({ message: 'Request failed', response: { status: 400, data: { error: { message: googleChecksum.message } } } })).toEqual({
      status: 400,
      message: `Request failed; ${googleChecksum.message}`,
    });
    expect(refusalOf({ code: 400, message: googleChecksum.message })).toEqual(googleChecksum);
    expect(refusalOf({ code: 400, message: 'Invalid upload type' })).toBeUndefined();
    expect(refusalOf({ code: 503, message: 'crc32c' })).toBeUndefined();
    expect(refusalOf(new Error('socket hang up'))).toBeUndefined();
  });
});

describe('settleRefusal', () => {
  const table: [string, UploadRefusal, StoredObjectSummary | undefined, string | undefined, RefusalOutcome][] = [
    ['412, the same bytes stored', precondition, SAME, undefined, { kind: 'already-present', generation: '7' }],
    ['412, other bytes stored', precondition, OTHER, undefined, { kind: 'conflict', detail: 'stored crc32c BBBBBB==, size 1000' }],
    ['412, same CRC but other size stored', precondition, { ...SAME, size: 999 }, undefined, { kind: 'conflict', detail: 'stored crc32c AAAAAA==, size 999' }],
    [
      '412 and nothing stored: a checksum refusal, never "already present"',
      testbenchChecksum,
      undefined,
      undefined,
      { kind: 'corrupted-upload', detail: `HTTP 412: ${testbenchChecksum.message}; no object is stored under the name, so this is no create-only conflict` },
    ],
    [
      '412 and nothing stored, no message at all',
      { status: 412, message: '' },
      undefined,
      undefined,
      expect.objectContaining({ kind: 'corrupted-upload' }) as RefusalOutcome,
    ],
    [
      '412, the file itself unlike its record',
      testbenchChecksum,
      undefined,
      'crc32c CCCCCC==, recorded AAAAAA==',
      { kind: 'source-mismatch', detail: 'crc32c CCCCCC==, recorded AAAAAA==' },
    ],
    [
      '412, the same bytes stored, even if the spool copy went bad: the bucket has the chunk',
      precondition,
      SAME,
      'crc32c CCCCCC==, recorded AAAAAA==',
      { kind: 'already-present', generation: '7' },
    ],
    [
      "400 naming the checksum (Cloud Storage's answer)",
      googleChecksum,
      undefined,
      undefined,
      { kind: 'corrupted-upload', detail: `HTTP 400: ${googleChecksum.message}` },
    ],
    [
      '400 naming the checksum, the file unlike its record',
      googleChecksum,
      undefined,
      '999 bytes, recorded 1000',
      { kind: 'source-mismatch', detail: '999 bytes, recorded 1000' },
    ],
  ];
  it.each(table)('%s', (_what, refusal, stored, fileMismatch, outcome) => {
    expect(settleRefusal(refusal, stored, EXPECTED, fileMismatch)).toEqual(outcome);
  });
});
