import { Writable } from 'node:stream';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createLogger, type ChunkJobData } from '@crispy-streamer/shared';
import { createChunkProcessor } from '../src/chunk-processor.js';
import { CorruptedUploadError, ObjectConflictError, type ObjectStore } from '../src/storage/object-store.js';
import { OutageBackoff } from '../src/upload-failure.js';
import type { SpoolFiles, UploadResult } from '../src/upload-chunk.js';
import { chunkMetadataOf } from '@crispy-streamer/harness/chunk-fixtures';

const BYTES = Buffer.from('a chunk');
const JOB_DATA: ChunkJobData = {
  v: 1,
  metadata: chunkMetadataOf(BYTES, { sequence: 1, startTime: '2026-01-02T03:04:05.000Z' }),
};
const job = { data: JOB_DATA, attemptsMade: 2 } as unknown as Job<ChunkJobData, UploadResult>;
const spool: SpoolFiles = { size: async () => BYTES.byteLength, remove: async () => undefined };

function harness(put: ObjectStore['put'], progressTimeoutMs = 5000) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const pauses: number[] = [];
  const store: ObjectStore = { description: 'memory://', bucket: 'b', put, head: async () => undefined };
  const processor = createChunkProcessor({
    store,
    prefix: '',
    spoolDir: '/spool',
    files: spool,
    outage: new OutageBackoff(100, 1000, () => 0.5),
    pauseQueue: async (ms) => {
      pauses.push(ms);
    },
    progressTimeoutMs,
    logger: createLogger({ service: 'test', pretty: false, destination }),
  });
  return { processor, lines, pauses };
}

describe('createChunkProcessor', () => {
  it('uploads and returns the result', async () => {
    const { processor, pauses } = harness(async () => ({ outcome: 'created', generation: '9' }));
    expect(await processor(job)).toMatchObject({ outcome: 'created', generation: '9', bytes: BYTES.byteLength });
    expect(pauses).toEqual([]);
  });

  it('a reset connection pauses the queue and puts the job back without spending an attempt', async () => {
    const { processor, pauses, lines } = harness(async () => {
      throw Object.assign(new Error('socket ECONNABORTED'), { code: 'ECONNABORTED' });
    });
    const error = await processor(job).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(Worker.RateLimitError().message);
    expect(pauses).toEqual([100]);
    expect(lines.map((l) => l['message'])).toEqual(['storage unavailable: uploads paused, the backlog waits in the spool']);
  });

  it('an attempt without progress is abandoned as an outage, its signal aborted', async () => {
    let signal: AbortSignal | undefined;
    const { processor, pauses, lines } = harness(
      (_request, options) =>
        new Promise(() => {
          signal = options?.signal;
        }),
      200,
    );
    const started = Date.now();
    await expect(processor(job)).rejects.toThrow(Worker.RateLimitError().message);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(signal?.aborted).toBe(true);
    expect(pauses).toHaveLength(1);
    expect(String((lines[0]?.['err'] as { message?: string }).message)).toContain('upload made no progress for 200 ms');
  });

  it('a corrupted upload is logged as such and retried with backoff (the error goes back to BullMQ)', async () => {
    const corrupted = new CorruptedUploadError('cam0/x.mp4', 412, 'HTTP 412: crc32c validation failed');
    const { processor, pauses, lines } = harness(async () => {
      throw corrupted;
    });
    expect(await processor(job).catch((e: unknown) => e)).toBe(corrupted);
    expect(pauses).toEqual([]);
    expect(lines).toEqual([
      expect.objectContaining({
        severity: 'ERROR',
        message: 'corrupted upload: the bucket refused bytes that reached it damaged; nothing was stored, the upload is retried',
        source: 'cam0',
        sequence: 1,
        attempt: 3,
        err: expect.objectContaining({ type: 'CorruptedUploadError', message: expect.stringContaining('corrupted upload of cam0/x.mp4') }),
      }),
    ]);
  });

  it('a problem retrying cannot fix fails the job at once', async () => {
    const { processor } = harness(async () => {
      throw new ObjectConflictError('x', 'stored crc32c y');
    });
    await expect(processor(job)).rejects.toBeInstanceOf(UnrecoverableError);
  });

  // Found by an adversarial run: a job added through Bull Board's API or straight into Redis named
  // any file (`spoolPath: '/any/file'`); the worker uploaded it, then deleted it.
  it('refuses job data that is not a chunk of the spool, reading and storing nothing', async () => {
    const puts: unknown[] = [];
    const { processor } = harness(async (request) => {
      puts.push(request);
      return { outcome: 'created', generation: '1' };
    });
    const hostile = [
      { spoolPath: '/home/node/evidence-private.pem', metadata: { ...JOB_DATA.metadata, sourceId: '../..' } },
      { v: 1, metadata: { ...JOB_DATA.metadata, bytes: 'all' } },
      { v: 1, metadata: JOB_DATA.metadata, spoolPath: '/etc/shadow' },
      'not an object',
    ];
    for (const data of hostile) {
      const error = await processor({ data, attemptsMade: 0, id: 'evil' } as unknown as Job<ChunkJobData, UploadResult>).catch((e: unknown) => e);
      expect(error, JSON.stringify(data)).toBeInstanceOf(UnrecoverableError);
      expect((error as Error).message).toMatch(/^job evil is not valid chunk job data: /);
    }
    expect(puts).toEqual([]);
  });

  it("reads a valid job's chunk from the spool layout's path, whatever an old job named", async () => {
    let path: string | undefined;
    const { processor } = harness(async (request) => {
      path = request.source.path;
      return { outcome: 'created', generation: '1' };
    });
    await processor({ data: { metadata: JOB_DATA.metadata, spoolPath: '/elsewhere/x.mp4' }, attemptsMade: 0 } as unknown as Job<ChunkJobData, UploadResult>);
    expect(path).toBe('/spool/cam0/cam0-0000000001.mp4');
  });
});
