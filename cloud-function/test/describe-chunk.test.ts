import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, toObjectMetadata, type ChunkMetadata, type Mp4Info, type StorageObjectResource } from '@crispy-streamer/shared';
import { describeChunk, type DescribeDeps } from '../src/describe-chunk.js';
import type { ChunkReadout, DecoderInput } from '../src/decoder-input/decoder-input.js';
import type { FrameFacts } from '../src/frame-probe.js';
import { DecoderExitedError, DecoderTimedOutError } from '../src/frame-decoder.js';
import { ObjectReadError } from '../src/object-reader.js';
import { chunkMetadata } from '@crispy-streamer/harness/chunk-fixtures';

const chunk: ChunkMetadata = chunkMetadata();

const object: StorageObjectResource = {
  kind: 'storage#object',
  id: 'evidence/cam0/x.mp4/1700000000000001',
  name: 'cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4',
  bucket: 'evidence',
  generation: '1700000000000001',
  metageneration: '1',
  contentType: 'video/mp4',
  size: '123456',
  crc32c: '4waSgw==',
  metadata: toObjectMetadata(chunk),
  timeCreated: '2026-11-23T09:32:53.000Z',
  updated: '2026-11-23T09:32:53.000Z',
};

const frame: FrameFacts = { width: 1280, height: 720, channels: 3, pixelFormat: 'yuv420p' };
const mp4: Mp4Info = {
  container: 'mp4',
  brand: 'isom',
  durationMs: 3000,
  frameCount: 90,
  frameRate: 30,
  codec: 'h264',
  width: 1280,
  height: 720,
  hasAudio: false,
  timescale: 15360,
  movieDurationMs: 3070,
};
const input: DecoderInput = { format: 'h264', bytes: Uint8Array.of(0, 0, 0, 1, 0x67) };
const readout: ChunkReadout = { container: 'mp4', info: mp4, input };

const CREATED_MS = Date.parse(object.timeCreated);
const SIGNED_URL = 'https://storage.googleapis.com/evidence/cam0/x.mp4?X-Goog-Signature=abc';

function deps(overrides: Partial<DescribeDeps> = {}) {
  const lines: { severity: string; message: string; [key: string]: unknown }[] = [];
  const destination = new Writable({
    write(data: Buffer, _encoding, callback) {
      for (const text of String(data).split('\n')) if (text !== '') lines.push(JSON.parse(text) as (typeof lines)[number]);
      callback();
    },
  });
  const signed: { bucket: string; name: string; seconds: number }[] = [];
  const probed: string[] = [];
  const clock = [CREATED_MS + 2000, CREATED_MS + 2250];
  const all: DescribeDeps = {
    signUrl: async (bucket, name, seconds) => {
      signed.push({ bucket, name, seconds });
      return SIGNED_URL;
    },
    readChunk: async (url, size) => {
      probed.push(`read ${url} ${size}`);
      return readout;
    },
    probeFrame: async (given) => {
      probed.push(`decode ${given === input ? 'the readout input' : 'something else'}`);
      return frame;
    },
    signedUrlSeconds: 3600,
    durationToleranceMs: 1,
    logger: createLogger({ service: 'test', destination }),
    now: () => clock.shift() ?? CREATED_MS + 9999,
    ...overrides,
  };
  return { deps: all, lines, signed, probed };
}

describe('describeChunk', () => {
  it('describes a chunk from its metadata, its first frame and its MP4 header, with a signed URL', async () => {
    const { deps: d, signed, probed } = deps();
    expect(await describeChunk(object, d)).toEqual({
      status: 'described',
      description: {
        bucket: 'evidence',
        object: object.name,
        generation: '1700000000000001',
        source: 'cam0',
        sequence: 42,
        startTime: '2026-11-23T09:32:49.123Z',
        width: 1280,
        height: 720,
        channels: 3,
        pixelFormat: 'yuv420p',
        durationMs: 3000,
        probedDurationMs: 3000,
        probedFrameCount: 90,
        containerDurationMs: 3070,
        codec: 'h264',
        container: 'mp4',
        durationCheck: 'match',
        bytes: 123456,
        signedUrl: SIGNED_URL,
        signedUrlExpires: new Date(CREATED_MS + 2000 + 3600 * 1000).toISOString(),
        sinceFinalizeMs: 2250,
        elapsedMs: 250,
      },
    });
    expect(signed).toEqual([{ bucket: 'evidence', name: object.name, seconds: 3600 }]);
    expect(probed).toEqual([`read ${SIGNED_URL} 123456`, 'decode the readout input']);
  });

  it('calls the durations a match within the tolerance and a mismatch beyond it', async () => {
    const within = deps({ readChunk: async () => ({ ...readout, info: { ...mp4, durationMs: 3001 } }) });
    expect(await describeChunk(object, within.deps)).toMatchObject({ description: { durationCheck: 'match' } });
    const beyond = deps({ readChunk: async () => ({ ...readout, info: { ...mp4, durationMs: 3002 } }) });
    expect(await describeChunk(object, beyond.deps)).toMatchObject({ description: { durationCheck: 'mismatch', durationMs: 3000, probedDurationMs: 3002 } });
    const strict = deps({ durationToleranceMs: 0, readChunk: async () => ({ ...readout, info: { ...mp4, durationMs: 2999 } }) });
    expect(await describeChunk(object, strict.deps)).toMatchObject({ description: { durationCheck: 'mismatch' } });
  });

  it('describes an object without chunk metadata from the video alone, logging a warning', async () => {
    const { deps: d, lines } = deps();
    const { metadata: _none, ...bare } = object;
    const outcome = await describeChunk(bare, d);
    expect(outcome).toMatchObject({
      status: 'described',
      description: {
        source: undefined,
        sequence: undefined,
        startTime: undefined,
        durationMs: undefined,
        durationCheck: 'unchecked',
        width: 1280,
        probedDurationMs: 3000,
      },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      severity: 'WARNING',
      message: 'object has no chunk metadata: describing what the video itself says',
      bucket: 'evidence',
      object: object.name,
    });
    expect(String(lines[0]?.reason)).toMatch(/^object metadata is missing or malformed: mode, source, sequence/);
  });

  it('leaves sinceFinalizeMs undefined when the creation time is not a time', async () => {
    const { deps: d } = deps();
    expect(await describeChunk({ ...object, timeCreated: 'n/a' }, d)).toMatchObject({ description: { sinceFinalizeMs: undefined } });
  });

  it.each([404, 410])('reports the object gone when reading it answers HTTP %i', async (status) => {
    const { deps: d } = deps({
      readChunk: async () => {
        throw new ObjectReadError(`reading bytes=0-16383 of https://storage.googleapis.com/evidence/x answered HTTP ${status}`, status);
      },
    });
    expect(await describeChunk(object, d)).toEqual({ status: 'gone', reason: `object ${object.name} generation 1700000000000001 no longer exists` });
  });

  it('rethrows other failures for index.ts to judge (refuse or retry)', async () => {
    const forbidden = new ObjectReadError('reading bytes=0-16383 answered HTTP 403', 403);
    await expect(describeChunk(object, deps({ readChunk: async () => Promise.reject(forbidden) }).deps)).rejects.toBe(forbidden);
    const timeout = new DecoderTimedOutError(30_000, '');
    await expect(describeChunk(object, deps({ probeFrame: async () => Promise.reject(timeout) }).deps)).rejects.toBe(timeout);
    const refused = new DecoderExitedError(1, 'Invalid data found when processing input');
    await expect(describeChunk(object, deps({ probeFrame: async () => Promise.reject(refused) }).deps)).rejects.toBe(refused);
  });

  it('rethrows a signing failure', async () => {
    const denied = new Error('Permission iam.serviceAccounts.signBlob denied');
    await expect(describeChunk(object, deps({ signUrl: async () => Promise.reject(denied) }).deps)).rejects.toBe(denied);
  });
});
