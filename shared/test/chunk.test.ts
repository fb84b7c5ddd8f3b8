import { describe, expect, it } from 'vitest';
import {
  CHUNK_CONTENT_TYPE,
  chunkContentType,
  chunkMetadataProblems,
  formatAudioOutcomes,
  parseAudioOutcomes,
  SOURCE_ID_PATTERN,
  chunkJobId,
  chunkObjectName,
  compactTimestamp,
  crc32cBase64,
  fromObjectMetadata,
  toObjectMetadata,
  type ChunkMetadata,
} from '../src/chunk.js';
import { chunkMetadata } from '@crispy-streamer/harness/chunk-fixtures';

function metadata(overrides: Partial<ChunkMetadata> = {}): ChunkMetadata {
  return chunkMetadata(overrides);
}

/** The CRC32C as Cloud Storage shows it: base64 of the big-endian 32-bit value. */
function base64OfUint32(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value, 0);
  return bytes.toString('base64');
}

describe('compactTimestamp', () => {
  it('formats an ISO time as a compact UTC stamp with milliseconds', () => {
    expect(compactTimestamp('2026-11-23T09:32:49.123Z')).toBe('20261123T093249.123Z');
    expect(compactTimestamp('2026-01-02T03:04:05Z')).toBe('20260102T030405.000Z');
  });

  it('converts a time with an offset to UTC', () => {
    expect(compactTimestamp('2026-11-23T00:30:00.000+01:00')).toBe('20261122T233000.000Z');
  });

  it('throws naming the input when it is not a time', () => {
    expect(() => compactTimestamp('yesterday')).toThrow('not a timestamp: yesterday');
  });
});

describe('chunkObjectName', () => {
  it('is SOURCE/DAY/SOURCE_STAMP_SEQUENCE.mp4 without a prefix', () => {
    expect(chunkObjectName('', metadata())).toBe('cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4');
  });

  it('puts the prefix first, without doubled or trailing slashes', () => {
    expect(chunkObjectName('recordings/site-a', metadata())).toBe('recordings/site-a/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4');
    expect(chunkObjectName('/recordings/site-a/', metadata())).toBe('recordings/site-a/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4');
    expect(chunkObjectName('///', metadata())).toBe('cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4');
  });

  it('zero-pads the sequence to 10 digits', () => {
    expect(chunkObjectName('', metadata({ sequence: 0 }))).toMatch(/_0000000000\.mp4$/);
    expect(chunkObjectName('', metadata({ sequence: 1234567890 }))).toMatch(/_1234567890\.mp4$/);
  });

  it('sorts by start time for one source, across seconds, days, years and sequence widths', () => {
    const startTimes = [
      '2026-12-31T23:59:59.999Z',
      '2026-11-23T09:32:49.123Z',
      '2027-01-01T00:00:00.000Z',
      '2026-11-23T09:32:52.123Z',
      '2026-11-24T00:00:01.000Z',
      '2026-11-23T10:00:00.000Z',
    ];
    const chunks = startTimes.map((startTime, i) => ({ startTime, name: chunkObjectName('p', metadata({ startTime, sequence: 8 + i })) }));
    const byName = [...chunks].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((c) => c.startTime);
    const byTime = [...chunks].sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime)).map((c) => c.startTime);
    expect(byName).toEqual(byTime);
  });

  it('keeps two chunks with the same start time apart by their sequence', () => {
    const a = chunkObjectName('', metadata({ sequence: 9 }));
    const b = chunkObjectName('', metadata({ sequence: 10 }));
    expect(a).not.toBe(b);
    expect(a < b).toBe(true);
  });
});

describe('chunkJobId', () => {
  it('is SOURCE.SEQUENCE, with no ":" (BullMQ refuses it in ids)', () => {
    expect(chunkJobId('cam0', 42)).toBe('cam0.42');
    expect(chunkJobId('bridge-north_2', 0)).not.toContain(':');
  });
});

describe('SOURCE_ID_PATTERN', () => {
  it('accepts boring ids and refuses path-like or long ones', () => {
    expect(SOURCE_ID_PATTERN.test('bridge-north_2')).toBe(true);
    expect(SOURCE_ID_PATTERN.test('a'.repeat(64))).toBe(true);
    for (const bad of ['', 'a'.repeat(65), '../x', 'a/b', '-cam', 'cam 1', 'cam.1']) expect(SOURCE_ID_PATTERN.test(bad)).toBe(false);
  });
});

describe('toObjectMetadata / fromObjectMetadata', () => {
  it('stores every field as a string', () => {
    expect(toObjectMetadata(metadata())).toEqual({
      source: 'cam0',
      sequence: '42',
      startTime: '2026-11-23T09:32:49.123Z',
      durationMs: '3000',
      frameCount: '90',
      frameRate: '30',
      bytes: '123456',
      crc32c: '4waSgw==',
      container: 'mp4',
      codec: 'h264',
      width: '1280',
      height: '720',
      mode: 'copy',
      clock: 'host',
      clockSync: 'synchronised',
      recordedBy: 'edge-1',
    });
  });

  it('round-trips, fractional frame rates and encode/file values included', () => {
    const original = metadata({ frameRate: 29.97, durationMs: 3003.333, mode: 'encode', clock: 'file', clockSync: 'unsynchronised' });
    expect(fromObjectMetadata(toObjectMetadata(original))).toEqual(original);
    expect(fromObjectMetadata(toObjectMetadata(metadata()))).toEqual(metadata());
  });

  it('round-trips both clocks of a camera chunk, and refuses malformed ones', () => {
    const camera = metadata({
      clock: 'camera',
      startTime: '2026-11-23T09:32:46.121Z',
      hostTime: '2026-11-23T09:32:49.123Z',
      cameraTime: '2026-11-23T09:32:46.121Z',
      cameraTimeSource: 'sender-report',
      clockOffsetMs: -3002,
      cameraClockStepMs: 5000,
      hostClockStepMs: -3_600_000,
    });
    expect(toObjectMetadata(camera)).toMatchObject({ clock: 'camera', clockOffsetMs: '-3002', cameraClockStepMs: '5000', hostClockStepMs: '-3600000' });
    expect(fromObjectMetadata(toObjectMetadata(camera))).toEqual(camera);
    expect(chunkMetadataProblems(camera)).toEqual([]);
    expect(() => fromObjectMetadata({ ...toObjectMetadata(camera), clockOffsetMs: '1.5' })).toThrow(
      /clockOffsetMs \(not a whole number of milliseconds: 1.5\)/,
    );
    expect(() => fromObjectMetadata({ ...toObjectMetadata(camera), cameraTime: 'yesterday' })).toThrow(/cameraTime \(not a UTC time/);
    expect(chunkMetadataProblems({ ...camera, cameraTime: undefined })).toContain('clock is "camera" but cameraTime is missing');
    expect(chunkMetadataProblems({ ...camera, cameraTimeSource: 'gps' as 'sender-report' })).toEqual([expect.stringMatching(/^cameraTimeSource must be/)]);
  });

  it('reads objects stored before clockSync existed as clockSync unknown', () => {
    const custom: Record<string, string | undefined> = toObjectMetadata(metadata());
    delete custom.clockSync;
    expect(fromObjectMetadata(custom).clockSync).toBe('unknown');
    expect(fromObjectMetadata({ ...custom, clockSync: 'maybe' }).clockSync).toBe('unknown');
  });

  it('names every missing field in one error', () => {
    const custom: Record<string, string | undefined> = toObjectMetadata(metadata());
    delete custom.codec;
    custom.startTime = '';
    expect(() => fromObjectMetadata(custom)).toThrow('object metadata is missing or malformed: startTime, codec');
  });

  it('names a field that is not a number, with its value', () => {
    const custom = { ...toObjectMetadata(metadata()), width: 'wide' };
    expect(() => fromObjectMetadata(custom)).toThrow('object metadata is missing or malformed: width (not a number: wide)');
  });

  it('lists all fields for an object with no chunk metadata at all', () => {
    expect(() => fromObjectMetadata({})).toThrow(
      'object metadata is missing or malformed: mode, source, sequence, startTime, durationMs, frameCount, frameRate, bytes, crc32c, codec, width, height',
    );
  });
});

describe('crc32cBase64', () => {
  it('matches the CRC32C check value of "123456789" (0xE3069283)', () => {
    expect(crc32cBase64(Buffer.from('123456789'))).toBe(base64OfUint32(0xe3069283));
    expect(crc32cBase64(Buffer.from('123456789'))).toBe('4waSgw==');
  });

  it('is 0 for empty input', () => {
    expect(crc32cBase64(new Uint8Array(0))).toBe('AAAAAA==');
  });

  it('matches the RFC 3720 vectors (32 zero bytes, 32 0xFF bytes)', () => {
    expect(crc32cBase64(new Uint8Array(32))).toBe(base64OfUint32(0x8a9136aa));
    expect(crc32cBase64(new Uint8Array(32).fill(0xff))).toBe(base64OfUint32(0x62a8ab43));
  });

  it('checksums only the view it is given, not the whole underlying buffer', () => {
    const view = Buffer.from('xx123456789yy').subarray(2, 11);
    expect(crc32cBase64(view)).toBe('4waSgw==');
    expect(crc32cBase64(new Uint8Array(view.buffer, view.byteOffset, view.byteLength))).toBe('4waSgw==');
  });

  it('the chunk content type is video/mp4', () => {
    expect(CHUNK_CONTENT_TYPE).toBe('video/mp4');
  });
});

describe('containers', () => {
  it('each container has its content type and its extension in the object name', () => {
    expect([chunkContentType('mp4'), chunkContentType('webm'), chunkContentType('mkv')]).toEqual(['video/mp4', 'video/webm', 'video/x-matroska']);
    expect(chunkObjectName('p', metadata({ container: 'webm' }))).toBe('p/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.webm');
    expect(chunkObjectName('p', metadata({ container: 'mkv' }))).toBe('p/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mkv');
  });

  it('a name without a container is an MP4 name (what chunks were before containers)', () => {
    const { container: _container, ...old } = metadata();
    expect(chunkObjectName('', old)).toMatch(/_0000000042\.mp4$/);
  });
});

describe('what a chunk kept of its source', () => {
  const kept = metadata({
    container: 'mkv',
    pixelFormat: 'yuva420p',
    audio: [
      { codec: 'pcm_mulaw', outcome: 're-encoded', to: 'aac' },
      { codec: 'aac', outcome: 'dropped' },
      { codec: 'opus', outcome: 'kept' },
    ],
    dropped: ['audio stream #0:2 (aac): only the first audio track is recorded', 'subtitle stream #0:3'],
    transport: 'udp',
    packetsLost: 7,
  });

  it('round-trips through object metadata', () => {
    const custom = toObjectMetadata(kept);
    expect(custom).toMatchObject({
      container: 'mkv',
      pixelFormat: 'yuva420p',
      audio: 'pcm_mulaw:re-encoded:aac,aac:dropped,opus:kept',
      transport: 'udp',
      packetsLost: '7',
    });
    expect(fromObjectMetadata(custom)).toEqual(kept);
    expect(chunkMetadataProblems(kept)).toEqual([]);
  });

  it('says "none" and "nothing" for a source without audio and a chunk that dropped nothing', () => {
    const plain = metadata({ audio: [], dropped: [] });
    expect(toObjectMetadata(plain)).toMatchObject({ audio: 'none', dropped: 'nothing' });
    expect(fromObjectMetadata(toObjectMetadata(plain))).toEqual(plain);
  });

  it('metadata written before these fields existed is still valid', () => {
    expect(chunkMetadataProblems(metadata())).toEqual([]);
    expect(fromObjectMetadata(toObjectMetadata(metadata()))).toEqual(metadata());
  });

  it('refuses malformed values, naming them', () => {
    expect(chunkMetadataProblems({ ...kept, container: 'avi' })[0]).toContain('container must be "mp4", "webm", "mkv"');
    expect(chunkMetadataProblems({ ...kept, audio: [{ codec: 'aac', outcome: 're-encoded' }] })[0]).toContain('audio must be');
    expect(chunkMetadataProblems({ ...kept, packetsLost: -1 })[0]).toContain('packetsLost');
    expect(chunkMetadataProblems({ ...kept, transport: 'carrier-pigeon' })[0]).toContain('transport');
    expect(() => fromObjectMetadata({ ...toObjectMetadata(kept), container: 'avi' })).toThrow('container (not one we write: avi)');
    expect(() => fromObjectMetadata({ ...toObjectMetadata(kept), audio: 'aac:louder' })).toThrow('audio (not CODEC:OUTCOME[:TO]');
  });

  it('the audio text form is exact', () => {
    expect(formatAudioOutcomes([{ codec: 'pcm_alaw', outcome: 'kept' }])).toBe('pcm_alaw:kept');
    expect(parseAudioOutcomes('pcm_alaw:kept')).toEqual([{ codec: 'pcm_alaw', outcome: 'kept' }]);
    expect(parseAudioOutcomes('aac:kept:mp3')).toBeUndefined();
    expect(parseAudioOutcomes('')).toBeUndefined();
  });
});
