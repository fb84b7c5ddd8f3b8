import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnreadableChunkError } from '../src/decoder-input/decoder-input.js';
import { readChunk } from '../src/decoder-input/read-chunk.js';
import { probeFirstFrame } from '../src/frame-probe.js';
import { ObjectReadError, cachingRangeReader, httpRangeReader } from '../src/object-reader.js';
import { STATIC_FFMPEG, makeChunk } from './chunks.js';

// The function's read-and-decode path against a real HTTP server on loopback, addressed by host name.

let dir = '';
let server: Server;
let port = 0;
let chunk: Buffer;
const objects = new Map<string, Buffer>();
const seen: { path: string; range: string | undefined }[] = [];
let ignoreRange = false;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  seen.push({ path: url.pathname, range: req.headers.range });
  if (url.pathname.startsWith('/redirect/')) {
    res.writeHead(307, { location: `http://localhost:${port}/${url.pathname.slice('/redirect/'.length)}${url.search}` }).end();
    return;
  }
  const body = objects.get(url.pathname);
  if (body === undefined) {
    res.writeHead(404).end('no such object');
    return;
  }
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (range === null || ignoreRange) {
    res.writeHead(200, { 'content-length': body.byteLength }).end(body);
    return;
  }
  const start = Number(range[1]);
  const end = Math.min(Number(range[2]), body.byteLength - 1);
  if (start >= body.byteLength) {
    res.writeHead(416, { 'content-range': `bytes */${body.byteLength}` }).end();
    return;
  }
  res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.byteLength}`, 'content-length': end - start + 1 }).end(body.subarray(start, end + 1));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'object-reader-'));
  chunk = await readFile(await makeChunk(dir, 'cam'));
  objects.set('/b/cam.mp4', chunk);
  server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}, 60_000);
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

function functionReader(url: string, size: number) {
  return cachingRangeReader(httpRangeReader(url, 10_000), size);
}

describe("the function's read path over HTTP", () => {
  it('decodes a chunk served at http://localhost with the static 2018 ffmpeg (which crashes resolving host names)', async () => {
    seen.length = 0;
    const reader = functionReader(`http://localhost:${port}/b/cam.mp4?signature=abc`, chunk.byteLength);
    const readout = await readChunk(reader, chunk.byteLength);
    const frame = await probeFirstFrame(STATIC_FFMPEG, readout.input, 20_000);
    expect(frame).toEqual({ width: 1280, height: 720, channels: 3, pixelFormat: 'yuv420p' });
    expect(readout.info).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
    // Two requests: the first 256 KiB (ftyp, free, the mdat header and the whole first keyframe), then the moov at the end.
    expect(reader.requests()).toBe(2);
    expect(seen.map((r) => r.range)).toEqual([`bytes=0-${256 * 1024 - 1}`, expect.stringMatching(new RegExp(`^bytes=\\d+-${chunk.byteLength - 1}$`))]);
    expect(seen.every((r) => r.range !== undefined)).toBe(true);
    const bytes = seen.reduce((sum, r) => {
      const [, start, end] = /bytes=(\d+)-(\d+)/.exec(r.range ?? '') ?? [];
      return sum + Number(end) - Number(start) + 1;
    }, 0);
    expect(bytes).toBeLessThan(chunk.byteLength / 2);
  });

  it('follows a redirect from 127.0.0.1 to localhost, keeping the range', async () => {
    seen.length = 0;
    const reader = functionReader(`http://127.0.0.1:${port}/redirect/b/cam.mp4?signature=abc`, chunk.byteLength);
    const readout = await readChunk(reader, chunk.byteLength);
    expect((await probeFirstFrame(STATIC_FFMPEG, readout.input, 20_000)).width).toBe(1280);
    expect(seen.filter((r) => r.path === '/b/cam.mp4').every((r) => r.range !== undefined)).toBe(true);
  });

  it('takes the asked part when a server ignores Range', async () => {
    ignoreRange = true;
    try {
      const read = httpRangeReader(`http://localhost:${port}/b/cam.mp4`, 10_000);
      expect(Buffer.from(await read(100, 50)).equals(chunk.subarray(100, 150))).toBe(true);
    } finally {
      ignoreRange = false;
    }
  });

  it('reports HTTP statuses and network failures as ObjectReadError, the URL without its query', async () => {
    const missing = await httpRangeReader(`http://localhost:${port}/b/gone.mp4?signature=secret`, 10_000)(0, 16).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ObjectReadError);
    expect((missing as ObjectReadError).httpStatus).toBe(404);
    expect((missing as Error).message).toBe(`reading bytes=0-15 of http://localhost:${port}/b/gone.mp4 answered HTTP 404`);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await httpRangeReader(`http://localhost:${closedPort}/x`, 10_000)(0, 16).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ObjectReadError);
    expect((refused as ObjectReadError).httpStatus).toBeUndefined();
    expect((refused as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('refuses an HLS playlist stored as cam.mp4, and its URLs get no request', async () => {
    const playlist = Buffer.from(
      `#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nhttp://localhost:${port}/evil/seg.ts\nhttp://127.0.0.1:${port}/evil/seg2.ts\n#EXT-X-ENDLIST\n`,
    );
    objects.set('/b/playlist.mp4', playlist);
    seen.length = 0;
    const error = await readChunk(functionReader(`http://localhost:${port}/b/playlist.mp4`, playlist.byteLength), playlist.byteLength).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreadableChunkError);
    expect((error as Error).message).toBe('not a video container: the object holds an HLS playlist (#EXTM3U)');
    expect(seen.map((r) => r.path)).toEqual(['/b/playlist.mp4']);
  });
});
