import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRC32C, Storage, type File } from '@google-cloud/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startGcsTestServer, type GcsTestServer } from '@crispy-streamer/harness/gcs-test-server';

// Nothing here needs Google credentials from the environment; stop the auth library probing for them.
process.env['METADATA_SERVER_DETECTION'] = 'none';

const PROJECT = 'test-project';
const CLIENT_EMAIL = 'test@test-project.iam.gserviceaccount.com';
const KiB = 1024;

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

function storageFor(server: GcsTestServer, key = privateKeyPem): Storage {
  return new Storage({
    apiEndpoint: server.url,
    projectId: PROJECT,
    credentials: { client_email: CLIENT_EMAIL, private_key: key },
    // Short waits so retry tests stay fast; the client's minimum back-off is still ~1 s.
    retryOptions: { retryDelayMultiplier: 1.1, maxRetryDelay: 2, totalTimeout: 30 },
  });
}

function clientCrc32c(bytes: Buffer): string {
  const crc = new CRC32C();
  crc.update(bytes);
  return crc.toString();
}

/** The HTTP status a client call failed with, whichever error shape the client used for it. */
async function failureStatus(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
  } catch (error) {
    const shaped = error as { code?: unknown; status?: unknown; response?: { status?: unknown } };
    for (const candidate of [shaped.code, shaped.status, shaped.response?.status]) {
      if (typeof candidate === 'number') return candidate;
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}

function writeStreamUpload(file: File, bytes: Buffer, options: Parameters<File['createWriteStream']>[0]): Promise<void> {
  return new Promise((resolve, reject) => {
    file.createWriteStream(options).on('error', reject).on('finish', resolve).end(bytes);
  });
}

/**
 * A PUT whose client writes `sendBytes` of the body, waits `waitMs`, then drops the connection like a
 * client losing its link. Resolves with whether an answer came before that.
 */
function interruptedPut(uri: string, contentRange: string, body: Buffer, sendBytes: number, waitMs = 300): Promise<'answered' | 'dropped'> {
  return new Promise((resolve) => {
    let answered = false;
    const request = httpRequest(uri, { method: 'PUT', headers: { 'Content-Range': contentRange, 'Content-Length': body.length } }, (response) => {
      answered = true;
      response.resume();
    });
    request.on('error', () => undefined); // the drop below
    request.write(body.subarray(0, sendBytes));
    setTimeout(() => {
      request.destroy();
      resolve(answered ? 'answered' : 'dropped');
    }, waitMs);
  });
}

describe('GCS test server, driven by the real @google-cloud/storage client', () => {
  let server: GcsTestServer;
  let storage: Storage;
  let workDir: string;

  beforeAll(async () => {
    server = await startGcsTestServer({ signerPublicKeyPem: publicKeyPem });
    storage = storageFor(server);
    workDir = await mkdtemp(join(tmpdir(), 'gcs-test-server-'));
  });

  afterAll(async () => {
    await server.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  afterEach(() => server.clearFaults());

  const requestsSince = (mark: number) => server.requests.slice(mark);

  describe('uploads', () => {
    it('file.save with resumable: false sends one multipart upload and keeps content type and custom metadata', async () => {
      const bytes = randomBytes(10 * KiB);
      const mark = server.requests.length;
      const file = storage.bucket('uploads').file('cams/cam-1/chunk 0001.mp4');
      await file.save(bytes, { resumable: false, contentType: 'video/mp4', metadata: { metadata: { camera: 'cam-1', sequence: 1 } } });

      expect(requestsSince(mark)).toEqual([{ method: 'POST', path: expect.stringContaining('uploadType=multipart'), status: 200, bytes: expect.any(Number) }]);
      // The whole multipart body arrived: the media plus its metadata part and boundaries.
      expect(requestsSince(mark)[0]?.bytes).toBeGreaterThan(bytes.length);
      const [stored] = server.objects('uploads').filter((o) => o.name === 'cams/cam-1/chunk 0001.mp4');
      expect(stored?.bytes.equals(bytes)).toBe(true);
      expect(stored?.contentType).toBe('video/mp4');
      expect(stored?.metadata).toEqual({ camera: 'cam-1', sequence: '1' });
      expect(file.metadata.size).toBe(String(bytes.length));
      expect(file.metadata.generation).toBe(stored?.generation);
    });

    it('accepts uploadType=media and serves the object resource back to the client', async () => {
      const bytes = Buffer.from('plain media upload');
      const response = await fetch(`${server.url}/upload/storage/v1/b/uploads/o?uploadType=media&name=${encodeURIComponent('media/a.txt')}`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        body: bytes,
      });
      expect(response.status).toBe(200);
      const resource = (await response.json()) as Record<string, unknown>;
      expect(resource).toMatchObject({ kind: 'storage#object', name: 'media/a.txt', bucket: 'uploads', size: String(bytes.length), contentType: 'text/plain' });

      const [metadata] = await storage.bucket('uploads').file('media/a.txt').getMetadata();
      expect(metadata).toMatchObject({ name: 'media/a.txt', generation: resource['generation'], crc32c: clientCrc32c(bytes) });
    });

    it('a resumable bucket.upload of a 700 KiB file goes up in 256 KiB chunk PUTs', async () => {
      const bytes = randomBytes(700 * KiB);
      const path = join(workDir, 'big.mp4');
      await writeFile(path, bytes);
      const mark = server.requests.length;
      const [file] = await storage.bucket('uploads').upload(path, { destination: 'resumable/big.mp4', resumable: true, chunkSize: 256 * KiB });

      const log = requestsSince(mark);
      expect(log[0]).toMatchObject({ method: 'POST', path: expect.stringContaining('uploadType=resumable'), status: 200 });
      expect(log.slice(1).map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 308', 'PUT 308', 'PUT 200']);
      const [stored] = server.objects('uploads').filter((o) => o.name === 'resumable/big.mp4');
      expect(stored?.bytes.equals(bytes)).toBe(true);
      expect(stored?.contentType).toBe('video/mp4'); // the client guesses it from the name
      expect(file.metadata.crc32c).toBe(clientCrc32c(bytes));
    });

    it('keeps only whole 256 KiB units of a non-final chunk, and the client resends the rest', async () => {
      const bytes = randomBytes(700 * KiB);
      const mark = server.requests.length;
      const file = storage.bucket('uploads').file('resumable/uneven.bin');
      await writeStreamUpload(file, bytes, { resumable: true, chunkSize: 300 * KiB });

      // 300 KiB sent, 256 KiB kept; then 44 resent + 256 new = 300, 512 kept; then the last 188 KiB.
      expect(requestsSince(mark).map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'PUT 308', 'PUT 308', 'PUT 200']);
      expect(
        server
          .objects('uploads')
          .find((o) => o.name === 'resumable/uneven.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
    });

    it('rejects a non-final chunk smaller than 256 KiB with 400, as GCS does', async () => {
      const file = storage.bucket('uploads').file('resumable/too-small-chunks.bin');
      await expect(writeStreamUpload(file, randomBytes(300 * KiB), { resumable: true, chunkSize: 100 * KiB })).rejects.toThrow(
        /required to be equal or greater than 262144/,
      );
      expect(server.objects('uploads').some((o) => o.name === 'resumable/too-small-chunks.bin')).toBe(false);
    });

    it('a single-request resumable upload (no chunkSize) works, including an empty object', async () => {
      const bytes = randomBytes(50 * KiB);
      await storage.bucket('uploads').file('resumable/one-shot.bin').save(bytes, { resumable: true });
      await storage.bucket('uploads').file('resumable/empty.bin').save(Buffer.alloc(0), { resumable: true });
      const stored = server.objects('uploads');
      expect(stored.find((o) => o.name === 'resumable/one-shot.bin')?.bytes.equals(bytes)).toBe(true);
      expect(stored.find((o) => o.name === 'resumable/empty.bin')?.bytes.length).toBe(0);
    });
  });

  describe('resumable sessions, as strict as the testbench and Cloud Storage', () => {
    const KiB256 = 256 * KiB;

    /** Starts a session by hand; `declaredLength` becomes X-Upload-Content-Length. */
    async function startSession(name: string, options: { declaredLength?: number; query?: string; base?: string } = {}): Promise<string> {
      const headers: Record<string, string> = { 'Content-Type': 'application/json', 'X-Upload-Content-Type': 'application/octet-stream' };
      if (options.declaredLength !== undefined) headers['X-Upload-Content-Length'] = String(options.declaredLength);
      const response = await fetch(
        `${options.base ?? server.url}/upload/storage/v1/b/sessions/o?uploadType=resumable&name=${encodeURIComponent(name)}${options.query ?? ''}`,
        {
          method: 'POST',
          headers,
          body: JSON.stringify({ name }),
        },
      );
      expect(response.status).toBe(200);
      return response.headers.get('location') ?? '';
    }

    const put = (uri: string, contentRange: string, body: Buffer = Buffer.alloc(0)) =>
      fetch(uri, { method: 'PUT', headers: { 'Content-Range': contentRange }, body: new Uint8Array(body) });
    const status = (uri: string, total = '*') => put(uri, `bytes */${total}`);

    it("answers 308 to 'bytes N-*/*' when the session never learnt its size: a resume without the total cannot finish", async () => {
      const bytes = randomBytes(KiB256 + 10);
      const uri = await startSession('star/unknown-size.bin');
      expect((await put(uri, `bytes 0-${KiB256 - 1}/*`, bytes.subarray(0, KiB256))).status).toBe(308);
      const rest = await put(uri, `bytes ${KiB256}-*/*`, bytes.subarray(KiB256));
      expect(rest.status).toBe(308);
      expect(rest.headers.get('range')).toBe(`bytes=0-${KiB256 - 1}`);
      expect(server.objects('sessions').some((o) => o.name === 'star/unknown-size.bin')).toBe(false);

      // The same request with the total stated, or onto a session that declared its size, finishes.
      expect((await put(uri, `bytes ${KiB256}-*/${bytes.length}`, bytes.subarray(KiB256))).status).toBe(200);
      const declared = await startSession('star/declared.bin', { declaredLength: bytes.length });
      expect((await put(declared, `bytes 0-${KiB256 - 1}/*`, bytes.subarray(0, KiB256))).status).toBe(308);
      expect((await put(declared, `bytes ${KiB256}-*/*`, bytes.subarray(KiB256))).status).toBe(200);
      const stored = server.objects('sessions');
      expect(stored.find((o) => o.name === 'star/unknown-size.bin')?.bytes.equals(bytes)).toBe(true);
      expect(stored.find((o) => o.name === 'star/declared.bin')?.bytes.equals(bytes)).toBe(true);
    });

    it("'bytes 0-*/*' is the whole object in one request, as the testbench takes it", async () => {
      const bytes = randomBytes(10 * KiB);
      const uri = await startSession('star/one-shot.bin');
      expect((await put(uri, 'bytes 0-*/*', bytes)).status).toBe(200);
      expect(
        server
          .objects('sessions')
          .find((o) => o.name === 'star/one-shot.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
    });

    it('keeps the bytes of a PUT whose connection broke, in whole 256 KiB units, and reports them on a status query', async () => {
      const bytes = randomBytes(3 * KiB256);
      const uri = await startSession('interrupted/client-vanished.bin');
      expect(await interruptedPut(uri, `bytes 0-${bytes.length - 1}/${bytes.length}`, bytes, 2 * KiB256 + 1000)).toBe('dropped');
      // The server learns of the drop when the connection closes.
      await vi.waitFor(async () => expect((await status(uri)).headers.get('range')).not.toBeNull());

      for (const total of ['*', String(bytes.length)]) {
        const answer = await status(uri, total);
        expect(answer.status).toBe(308);
        expect(answer.headers.get('range')).toBe(`bytes=0-${2 * KiB256 - 1}`);
      }
      // The resumed request sends only the rest, and the object is whole.
      expect((await put(uri, `bytes ${2 * KiB256}-${bytes.length - 1}/${bytes.length}`, bytes.subarray(2 * KiB256))).status).toBe(200);
      expect(
        server
          .objects('sessions')
          .find((o) => o.name === 'interrupted/client-vanished.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
    });

    it('skips bytes a resend carries that the session already holds', async () => {
      const bytes = randomBytes(2 * KiB256 + 5);
      const uri = await startSession('resend/overlap.bin');
      expect((await put(uri, `bytes 0-${KiB256 - 1}/*`, bytes.subarray(0, KiB256))).status).toBe(308);
      // A client that lost the 308 resends from byte 0.
      expect((await put(uri, `bytes 0-${bytes.length - 1}/${bytes.length}`, bytes)).status).toBe(200);
      expect(
        server
          .objects('sessions')
          .find((o) => o.name === 'resend/overlap.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
      // A request that starts beyond what is held is refused.
      const gap = await startSession('resend/gap.bin');
      expect((await put(gap, `bytes ${KiB256}-${2 * KiB256 - 1}/*`, bytes.subarray(KiB256, 2 * KiB256))).status).toBe(400);
    });

    it('a late copy of a request (abandoned by its client, still in the network) cannot misplace bytes the session took meanwhile', async () => {
      const bytes = randomBytes(3 * KiB256);
      const uri = await startSession('concurrent/late-copy.bin');
      const chunk = bytes.subarray(0, 2 * KiB256);
      // Two requests for the same first 512 KiB: the late one starts first and finishes last.
      const late = httpRequest(uri, { method: 'PUT', headers: { 'Content-Range': `bytes 0-${chunk.length - 1}/*`, 'Content-Length': chunk.length } });
      const lateAnswer = new Promise<number>((resolve) => late.on('response', (response) => (response.resume(), resolve(response.statusCode ?? 0))));
      late.write(chunk.subarray(0, KiB256));
      await vi.waitFor(() => expect(server.requests.filter((r) => r.path.includes('late-copy') && r.method === 'PUT').at(-1)?.bytes).toBe(KiB256));
      expect((await put(uri, `bytes 0-${chunk.length - 1}/*`, chunk)).status).toBe(308);
      late.end(chunk.subarray(KiB256));
      expect(await lateAnswer).toBe(308);
      const held = await status(uri);
      expect(held.headers.get('range')).toBe(`bytes=0-${2 * KiB256 - 1}`);
      expect((await put(uri, `bytes ${2 * KiB256}-${bytes.length - 1}/${bytes.length}`, bytes.subarray(2 * KiB256))).status).toBe(200);
      expect(
        server
          .objects('sessions')
          .find((o) => o.name === 'concurrent/late-copy.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
    });

    it("a status query 'bytes */TOTAL' finishes an upload whose bytes are all there; a finished session answers with its object", async () => {
      const bytes = randomBytes(KiB256);
      const uri = await startSession('status/finish.bin');
      const first = await status(uri);
      expect(first.status).toBe(308);
      expect(first.headers.get('range')).toBeNull(); // nothing held yet
      expect((await put(uri, `bytes 0-${KiB256 - 1}/*`, bytes)).status).toBe(308);
      const finished = await status(uri, String(KiB256));
      expect(finished.status).toBe(200);
      expect(await finished.json()).toMatchObject({ name: 'status/finish.bin', size: String(KiB256), crc32c: clientCrc32c(bytes) });
      const again = await status(uri);
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ name: 'status/finish.bin' });
    });

    it('a declared X-Upload-Content-Length that the upload does not reach is refused with 400', async () => {
      const uri = await startSession('declared/short.bin', { declaredLength: 100 });
      const answer = await put(uri, 'bytes 0-49/50', randomBytes(50));
      expect(answer.status).toBe(400);
      expect(server.objects('sessions').some((o) => o.name === 'declared/short.bin')).toBe(false);
    });

    it('checks a create-only precondition when the upload finishes: the session starts with 200, the last request gets 412 and ends it', async () => {
      const original = Buffer.from('the evidence as first stored');
      await storage.bucket('sessions').file('precondition/late.bin').save(original, { resumable: false });
      const uri = await startSession('precondition/late.bin', { query: '&ifGenerationMatch=0' });
      const refused = await put(uri, 'bytes 0-4/5', Buffer.from('other'));
      expect(refused.status).toBe(412);
      expect(await refused.json()).toMatchObject({ error: { code: 412, errors: [{ reason: 'conditionNotMet' }] } });
      expect(
        server
          .objects('sessions')
          .find((o) => o.name === 'precondition/late.bin')
          ?.bytes.equals(original),
      ).toBe(true);
      const gone = await status(uri);
      expect(gone.status).toBe(404);
      // An unknown session's answer carries no reason.
      expect(await gone.json()).toEqual({ error: { code: 404, message: expect.stringContaining('No such upload session') } });
    });

    it('session URIs name the host the client used, so a client addressing the server as localhost stays on localhost', async () => {
      const uri = await startSession('host/localhost.bin', { base: server.localhostUrl });
      expect(new URL(uri).host).toBe(`localhost:${server.port}`);
      const client = new Storage({
        apiEndpoint: server.localhostUrl,
        projectId: PROJECT,
        credentials: { client_email: CLIENT_EMAIL, private_key: privateKeyPem },
      });
      const bytes = randomBytes(600 * KiB);
      await writeStreamUpload(client.bucket('sessions').file('host/by-name.bin'), bytes, {
        resumable: true,
        chunkSize: KiB256,
        metadata: { contentLength: bytes.length },
      });
      expect(
        server
          .objects('sessions')
          .find((o) => o.name === 'host/by-name.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
    });
  });

  describe('preconditions', () => {
    for (const resumable of [false, true]) {
      it(`ifGenerationMatch: 0 refuses a second ${resumable ? 'resumable' : 'multipart'} upload with 412 and keeps the original bytes`, async () => {
        const name = `preconditions/once-${String(resumable)}.bin`;
        const file = storage.bucket('uploads').file(name);
        const original = Buffer.from('first writer wins');
        await file.save(original, { resumable, preconditionOpts: { ifGenerationMatch: 0 } });
        const [firstMetadata] = await file.getMetadata();

        const mark = server.requests.length;
        const status = await failureStatus(file.save(Buffer.from('second writer'), { resumable, preconditionOpts: { ifGenerationMatch: 0 } }));

        expect(status).toBe(412);
        // As the testbench does: a resumable session starts, and the precondition is checked when it finishes.
        const expected = resumable ? ['POST 200', 'PUT 412'] : ['POST 412'];
        expect(requestsSince(mark).map((r) => `${r.method} ${r.status}`)).toEqual(expected);
        const stored = server.objects('uploads').find((o) => o.name === name);
        expect(stored?.bytes.equals(original)).toBe(true);
        expect(stored?.generation).toBe(firstMetadata.generation);
      });
    }

    it('ifGenerationMatch with the current generation overwrites and bumps the generation; a stale one gets 412', async () => {
      const file = storage.bucket('uploads').file('preconditions/overwrite.bin');
      await file.save(Buffer.from('v1'), { resumable: false });
      const generation1 = String(file.metadata.generation);
      await file.save(Buffer.from('v2'), { resumable: false, preconditionOpts: { ifGenerationMatch: generation1 } });
      const generation2 = String(file.metadata.generation);
      expect(BigInt(generation2)).toBeGreaterThan(BigInt(generation1));

      expect(await failureStatus(file.save(Buffer.from('v3'), { resumable: false, preconditionOpts: { ifGenerationMatch: generation1 } }))).toBe(412);
      const response = await fetch(
        `${server.url}/upload/storage/v1/b/uploads/o?uploadType=media&name=preconditions%2Foverwrite.bin&ifGenerationMatch=${generation1}`,
        {
          method: 'POST',
          body: 'v3',
        },
      );
      expect(response.status).toBe(412);
      expect(await response.json()).toMatchObject({ error: { code: 412, errors: [{ reason: 'conditionNotMet' }] } });
      expect(
        server
          .objects('uploads')
          .find((o) => o.name === 'preconditions/overwrite.bin')
          ?.bytes.toString(),
      ).toBe('v2');
    });
  });

  describe('integrity', () => {
    it('server crc32c is the GCS encoding (base64 of the big-endian CRC32C) and matches the client', async () => {
      const file = storage.bucket('uploads').file('integrity/check-vector.txt');
      await file.save('123456789', { resumable: false });
      // CRC-32C("123456789") = 0xE3069283, the standard check value.
      expect(file.metadata.crc32c).toBe(Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString('base64'));
      expect(file.metadata.md5Hash).toBe('JfnnlDI7RTiF9RgfG2JNCw==');
    });

    for (const resumable of [false, true]) {
      it(`a client-supplied crc32c that does not match the bytes is rejected with Cloud Storage's 400 (${resumable ? 'resumable' : 'multipart'})`, async () => {
        const name = `integrity/wrong-crc-${String(resumable)}.bin`;
        const bytes = randomBytes(4 * KiB);
        const wrongCrc32c = clientCrc32c(Buffer.from('something else'));
        const error = await storage
          .bucket('uploads')
          .file(name)
          .save(bytes, { resumable, metadata: { crc32c: wrongCrc32c } })
          .then(
            () => expect.unreachable('the upload was accepted'),
            (e: unknown) => e as { code?: unknown; message?: string },
          );
        expect(error.code).toBe(400);
        expect(error.message).toBe(`Provided CRC32C "${wrongCrc32c}" doesn't match calculated CRC32C "${clientCrc32c(bytes)}".`);
        expect(server.objects('uploads').some((o) => o.name === name)).toBe(false);
      });
    }

    it("with checksumMismatch: 'testbench' a mismatch is a 412 'crc32c validation failed' without a reason, as the testbench answers", async () => {
      const bytes = randomBytes(4 * KiB);
      const wrongCrc32c = clientCrc32c(Buffer.from('something else'));
      const metadata = JSON.stringify({ name: 'integrity/testbench-style.bin', crc32c: wrongCrc32c });
      const boundary = 'b0undary';
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n${metadata}\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n`),
        bytes,
        Buffer.from(`\r\n--${boundary}--`),
      ]);
      server.configure({ checksumMismatch: 'testbench' });
      try {
        const response = await fetch(`${server.url}/upload/storage/v1/b/uploads/o?uploadType=multipart`, {
          method: 'POST',
          headers: { 'Content-Type': `multipart/related; boundary=${boundary}` },
          body,
        });
        expect(response.status).toBe(412);
        expect(await response.json()).toEqual({
          error: { code: 412, message: `crc32c validation failed. Expected = ${wrongCrc32c} vs Actual = ${clientCrc32c(bytes)}.` },
        });
      } finally {
        server.configure({ checksumMismatch: 'google' });
      }
      expect(server.objects('uploads').some((o) => o.name === 'integrity/testbench-style.bin')).toBe(false);
    });

    it('a client-supplied md5Hash that does not match is rejected, a matching one is accepted', async () => {
      const bytes = randomBytes(4 * KiB);
      const bucket = storage.bucket('uploads');
      expect(
        await failureStatus(bucket.file('integrity/wrong-md5.bin').save(bytes, { resumable: false, metadata: { md5Hash: 'AAAAAAAAAAAAAAAAAAAAAA==' } })),
      ).toBe(400);
      const md5Hash = createHash('md5').update(bytes).digest('base64');
      await bucket.file('integrity/right-md5.bin').save(bytes, { resumable: false, metadata: { md5Hash, crc32c: clientCrc32c(bytes) } });
      expect(server.objects('uploads').find((o) => o.name === 'integrity/right-md5.bin')?.md5Hash).toBe(md5Hash);
    });

    it("validation: 'crc32c' round trip: upload and download both check the server's crc32c", async () => {
      const bytes = randomBytes(300 * KiB);
      const file = storage.bucket('uploads').file('integrity/validated.bin');
      await writeStreamUpload(file, bytes, { resumable: true, chunkSize: 256 * KiB, validation: 'crc32c' });
      expect(file.metadata.crc32c).toBe(clientCrc32c(bytes));
      await file.save(bytes, { resumable: false, validation: 'crc32c' });

      const [downloaded] = await file.download({ validation: 'crc32c' });
      expect(downloaded.equals(bytes)).toBe(true);
      const head = await fetch(`${server.url}/download/storage/v1/b/uploads/o/${encodeURIComponent('integrity/validated.bin')}?alt=media`, { method: 'HEAD' });
      expect(head.headers.get('x-goog-hash')).toBe(`crc32c=${clientCrc32c(bytes)},md5=${(await file.getMetadata())[0].md5Hash}`);
      expect(head.headers.get('x-goog-stored-content-encoding')).toBe('identity');
    });
  });

  describe('reads, listing, deleting', () => {
    const bytes = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');

    beforeAll(async () => {
      const bucket = storage.bucket('reads');
      await Promise.all(
        ['cam-1/0001.mp4', 'cam-1/0002.mp4', 'cam-1/0003.mp4', 'cam-2/0001.mp4', 'other.txt'].map((name) =>
          bucket.file(name).save(bytes, { resumable: false }),
        ),
      );
    });

    it('downloads whole objects and byte ranges through the client', async () => {
      const file = storage.bucket('reads').file('cam-1/0001.mp4');
      expect((await file.download())[0].equals(bytes)).toBe(true);
      expect((await file.download({ start: 10, end: 19 }))[0].toString()).toBe('abcdefghij');
      expect((await file.download({ start: 30 }))[0].toString()).toBe('uvwxyz');
    });

    it('answers Range requests with 206 and Content-Range on both media paths, 416 when unsatisfiable', async () => {
      const object = encodeURIComponent('cam-1/0001.mp4');
      const jsonPath = await fetch(`${server.url}/storage/v1/b/reads/o/${object}?alt=media`, { headers: { Range: 'bytes=0-3' } });
      expect(jsonPath.status).toBe(206);
      expect(jsonPath.headers.get('content-range')).toBe(`bytes 0-3/${bytes.length}`);
      expect(await jsonPath.text()).toBe('0123');
      const tail = await fetch(`${server.url}/download/storage/v1/b/reads/o/${object}?alt=media`, { headers: { Range: 'bytes=-4' } });
      expect(tail.status).toBe(206);
      expect(await tail.text()).toBe('wxyz');
      const beyond = await fetch(`${server.url}/download/storage/v1/b/reads/o/${object}?alt=media`, { headers: { Range: 'bytes=100-' } });
      expect(beyond.status).toBe(416);
    });

    it('a missing object is a 404 with a GCS JSON error', async () => {
      const file = storage.bucket('reads').file('cam-9/none.mp4');
      expect(await failureStatus(file.download())).toBe(404);
      expect(await failureStatus(file.getMetadata())).toBe(404);
      expect((await file.exists())[0]).toBe(false);
      const response = await fetch(`${server.url}/storage/v1/b/reads/o/${encodeURIComponent('cam-9/none.mp4')}`);
      expect(await response.json()).toMatchObject({ error: { code: 404, errors: [{ reason: 'notFound' }] } });
    });

    it('lists by prefix, pages with maxResults, and collapses with a delimiter', async () => {
      const bucket = storage.bucket('reads');
      const [cam1] = await bucket.getFiles({ prefix: 'cam-1/' });
      expect(cam1.map((f) => f.name)).toEqual(['cam-1/0001.mp4', 'cam-1/0002.mp4', 'cam-1/0003.mp4']);
      expect(cam1[0]?.metadata.size).toBe(String(bytes.length));

      const [firstPage, nextQuery] = await bucket.getFiles({ prefix: 'cam-', maxResults: 2, autoPaginate: false });
      expect(firstPage.map((f) => f.name)).toEqual(['cam-1/0001.mp4', 'cam-1/0002.mp4']);
      const [secondPage] = await bucket.getFiles({ ...nextQuery, autoPaginate: false });
      expect(secondPage.map((f) => f.name)).toEqual(['cam-1/0003.mp4', 'cam-2/0001.mp4']);
      const [all] = await bucket.getFiles({ maxResults: 2 });
      expect(all).toHaveLength(2);
      const [everything] = await bucket.getFiles();
      expect(everything.map((f) => f.name)).toEqual(server.objects('reads').map((o) => o.name));

      const [topLevel, , response] = await bucket.getFiles({ delimiter: '/', autoPaginate: false });
      expect(topLevel.map((f) => f.name)).toEqual(['other.txt']);
      expect((response as { prefixes?: string[] }).prefixes).toEqual(['cam-1/', 'cam-2/']);
    });

    it('patches custom metadata and bumps the metageneration', async () => {
      const file = storage.bucket('reads').file('other.txt');
      const [before] = await file.getMetadata();
      const [after] = await file.setMetadata({ contentType: 'text/plain', metadata: { reviewed: 'yes' } });
      expect(after).toMatchObject({ contentType: 'text/plain', metadata: { reviewed: 'yes' }, generation: before.generation, metageneration: '2' });
      await file.setMetadata({ metadata: { reviewed: null } });
      expect(server.objects('reads').find((o) => o.name === 'other.txt')?.metadata).toEqual({});
    });

    it('deletes objects; deleting again is a 404', async () => {
      const bucket = storage.bucket('reads');
      await bucket.file('doomed.txt').save('bye', { resumable: false });
      await bucket.file('doomed.txt').delete();
      expect(server.objects('reads').some((o) => o.name === 'doomed.txt')).toBe(false);
      expect(await failureStatus(bucket.file('doomed.txt').delete())).toBe(404);
      await bucket.file('doomed.txt').delete({ ignoreNotFound: true });
    });

    it('creates and reads buckets; an unknown bucket does not exist', async () => {
      const [bucket] = await storage.createBucket('made-explicitly');
      expect(bucket.metadata).toMatchObject({ kind: 'storage#bucket', name: 'made-explicitly' });
      expect((await storage.bucket('made-explicitly').exists())[0]).toBe(true);
      expect((await storage.bucket('never-made').exists())[0]).toBe(false);
      expect(await failureStatus(storage.createBucket('made-explicitly'))).toBe(409);
      expect((await storage.bucket('reads').exists())[0]).toBe(true); // created by its first upload
    });
  });

  describe('V4 signed URLs', () => {
    const bytes = randomBytes(64 * KiB);
    const objectName = 'signed/clip (1).mp4';

    beforeAll(async () => {
      await storage.bucket('signed').file(objectName).save(bytes, { resumable: false, contentType: 'video/mp4' });
    });

    const signedReadUrl = async (expires: number, client = storage) => {
      const [url] = await client.bucket('signed').file(objectName).getSignedUrl({ version: 'v4', action: 'read', expires });
      return url;
    };

    it('point at the test server and return the bytes, honouring Range and HEAD', async () => {
      const url = await signedReadUrl(Date.now() + 15 * 60_000);
      expect(url.startsWith(`${server.url}/signed/signed/clip%20%281%29.mp4?`)).toBe(true);

      const whole = await fetch(url);
      expect(whole.status).toBe(200);
      expect(whole.headers.get('content-type')).toBe('video/mp4');
      expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);

      const part = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${bytes.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(1000, 2000))).toBe(true);

      const head = await fetch(url, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(bytes.length));
    });

    it('a tampered signature, query or path gets 403', async () => {
      const url = new URL(await signedReadUrl(Date.now() + 15 * 60_000));
      const signature = url.searchParams.get('X-Goog-Signature') ?? '';

      const flipped = new URL(url);
      flipped.searchParams.set('X-Goog-Signature', `${signature.startsWith('0') ? '1' : '0'}${signature.slice(1)}`);
      const tamperedSignature = await fetch(flipped);
      expect(tamperedSignature.status).toBe(403);
      expect(await tamperedSignature.text()).toContain('<Code>SignatureDoesNotMatch</Code>');

      const longer = new URL(url);
      longer.searchParams.set('X-Goog-Expires', '604800');
      expect((await fetch(longer)).status).toBe(403);

      const otherObject = new URL(url);
      otherObject.pathname = '/signed/signed/other.mp4';
      expect((await fetch(otherObject)).status).toBe(403);

      const unsigned = new URL(url);
      unsigned.search = '';
      expect((await fetch(unsigned)).status).toBe(403);
    });

    it('a URL signed by a key the server does not know gets 403', async () => {
      const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const url = await signedReadUrl(Date.now() + 15 * 60_000, storageFor(server, stranger));
      expect((await fetch(url)).status).toBe(403);
    });

    it('an expired URL gets 403', async () => {
      // Sign "two hours ago" for one hour: the client refuses to sign an expiry in the past.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 2 * 60 * 60_000 });
      let url: string;
      try {
        url = await signedReadUrl(Date.now() + 60 * 60_000);
      } finally {
        vi.useRealTimers();
      }
      const response = await fetch(url);
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('<Code>ExpiredToken</Code>');
    });
  });

  describe('fault injection', () => {
    // A fresh client per test: one file.save({ resumable: false }) without a generation precondition
    // sets storage.retryOptions.autoRetry = false on its Storage instance and never restores it.
    let freshStorage: Storage;
    beforeEach(() => {
      freshStorage = storageFor(server);
    });

    it('documents the client quirk: a non-idempotent simple save switches retries off for the whole Storage instance', async () => {
      expect(freshStorage.retryOptions.autoRetry).toBe(true);
      await freshStorage.bucket('faults').file('sticky.bin').save(Buffer.from('x'), { resumable: false });
      expect(freshStorage.retryOptions.autoRetry).toBe(false);
    });

    it('503 x2 on an upload with ifGenerationMatch: 0 is retried by the client until it succeeds', async () => {
      const mark = server.requests.length;
      server.injectFault({ status: 503, count: 2 });
      await freshStorage
        .bucket('faults')
        .file('retried.bin')
        .save(Buffer.from('eventually'), { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });

      expect(requestsSince(mark).map((r) => r.status)).toEqual([503, 503, 200]);
      expect(
        server
          .objects('faults')
          .find((o) => o.name === 'retried.bin')
          ?.bytes.toString(),
      ).toBe('eventually');
    });

    it('without a generation precondition the client does not retry an upload: the 503 surfaces', async () => {
      const mark = server.requests.length;
      server.injectFault({ status: 503, count: 1 });
      expect(await failureStatus(freshStorage.bucket('faults').file('not-retried.bin').save(Buffer.from('x'), { resumable: false }))).toBe(503);
      expect(requestsSince(mark).map((r) => r.status)).toEqual([503]);
    });

    it('a 503 on a resumable chunk PUT is recovered by a status query and a resend', async () => {
      const bytes = randomBytes(600 * KiB);
      const mark = server.requests.length;
      let chunkPuts = 0;
      // Fail the second chunk PUT (the first data PUT after one has been accepted).
      server.injectFault({ status: 503, count: 1, match: (method, path) => method === 'PUT' && path.includes('upload_id') && ++chunkPuts === 2 });
      const file = freshStorage.bucket('faults').file('resumable-retried.bin');
      await writeStreamUpload(file, bytes, { resumable: true, chunkSize: 256 * KiB, preconditionOpts: { ifGenerationMatch: 0 } });

      expect(requestsSince(mark).map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'PUT 308', 'PUT 503', 'PUT 308', 'PUT 308', 'PUT 200']);
      expect(
        server
          .objects('faults')
          .find((o) => o.name === 'resumable-retried.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
    });

    it('an injected fault answers like the testbench: {error:{code,message}}, no reason', async () => {
      server.injectFault({ status: 503, count: 1 });
      const response = await fetch(`${server.url}/storage/v1/b/faults/o/${encodeURIComponent('any.bin')}`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ error: { code: 503, message: 'Injected fault: HTTP 503' } });
    });

    it("503 after 256 KiB, like the testbench's return-503-after-256K: without the total size the client's resume gets 308 and fails", async () => {
      const bytes = randomBytes(1024 * KiB);
      server.injectFault({ kind: 'status-after-bytes', status: 503, bytes: 256 * KiB });
      const mark = server.requests.length;
      const error = await freshStorage
        .bucket('faults')
        .file('after-256k/no-length.bin')
        .save(bytes, { resumable: true, preconditionOpts: { ifGenerationMatch: 0 } })
        .then(
          () => expect.unreachable('the upload finished'),
          (e: unknown) => e as { code?: unknown; message?: string },
        );
      expect(error).toMatchObject({ code: 308, message: 'Upload failed' });
      // The fault happened: 503 after the first request; the status query found 256 KiB; the resume 'bytes 262144-*/*' got 308.
      expect(requestsSince(mark).map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'PUT 503', 'PUT 308', 'PUT 308']);
      expect(server.objects('faults').some((o) => o.name === 'after-256k/no-length.bin')).toBe(false);
    });

    it('503 after 256 KiB: with contentLength the client resumes from 256 KiB and finishes, sending the rest once', async () => {
      const bytes = randomBytes(1024 * KiB);
      server.injectFault({ kind: 'status-after-bytes', status: 503, bytes: 256 * KiB });
      const mark = server.requests.length;
      await freshStorage
        .bucket('faults')
        .file('after-256k/with-length.bin')
        .save(bytes, { resumable: true, metadata: { contentLength: bytes.length }, preconditionOpts: { ifGenerationMatch: 0 } });
      const log = requestsSince(mark);
      expect(log.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'PUT 503', 'PUT 308', 'PUT 200']);
      expect(log[3]?.bytes).toBe(bytes.length - 256 * KiB);
      expect(
        server
          .objects('faults')
          .find((o) => o.name === 'after-256k/with-length.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
    });

    it('a connection cut after 256 KiB of a chunked upload from a file stream: the client asks what is held and resends only the rest of that chunk', async () => {
      const bytes = randomBytes(2048 * KiB);
      const path = join(workDir, 'dropped.bin');
      await writeFile(path, bytes);
      server.injectFault({ kind: 'drop-after-bytes', bytes: 256 * KiB });
      const mark = server.requests.length;
      const file = freshStorage.bucket('faults').file('dropped/streamed.bin');
      await new Promise<void>((resolve, reject) => {
        createReadStream(path)
          .pipe(
            file.createWriteStream({
              resumable: true,
              chunkSize: 512 * KiB,
              metadata: { contentLength: bytes.length },
              preconditionOpts: { ifGenerationMatch: 0 },
            }),
          )
          .on('error', reject)
          .on('finish', resolve);
      });
      const log = requestsSince(mark);
      // The cut PUT is never answered (status 0); then the status query, then the chunks from 256 KiB on.
      expect(log.slice(0, 3).map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'PUT 0', 'PUT 308']);
      // What reached the server before the cut: at least 256 KiB, well short of the 512 KiB request.
      expect(log[1]?.bytes).toBeGreaterThanOrEqual(256 * KiB);
      expect(log[1]?.bytes).toBeLessThan(512 * KiB);
      const received = log.reduce((sum, r) => sum + r.bytes, 0);
      expect(received).toBeLessThan(bytes.length + 512 * KiB);
      expect(
        server
          .objects('faults')
          .find((o) => o.name === 'dropped/streamed.bin')
          ?.bytes.equals(bytes),
      ).toBe(true);
    });

    it('a stall after N bytes stops reading and never answers; what arrived is kept in 256 KiB units', async () => {
      const bytes = randomBytes(1024 * KiB);
      const started = await fetch(`${server.url}/upload/storage/v1/b/faults/o?uploadType=resumable&name=stalled.bin`, {
        method: 'POST',
        body: '{}',
        headers: { 'Content-Type': 'application/json' },
      });
      const uri = started.headers.get('location') ?? '';
      server.injectFault({ kind: 'stall-after-bytes', bytes: 600 * KiB });
      expect(await interruptedPut(uri, `bytes 0-${bytes.length - 1}/${bytes.length}`, bytes, bytes.length, 700)).toBe('dropped');
      const stalled = server.requests.filter((r) => r.method === 'PUT' && r.path.includes('stalled.bin'));
      expect(stalled.map((r) => r.status)).toEqual([0]);
      expect(stalled[0]?.bytes).toBeGreaterThanOrEqual(600 * KiB);
      expect(stalled[0]?.bytes).toBeLessThan(bytes.length);
      const answer = await fetch(uri, { method: 'PUT', headers: { 'Content-Range': 'bytes */*' } });
      expect(answer.status).toBe(308);
      expect(answer.headers.get('range')).toBe(`bytes=0-${512 * KiB - 1}`);
    });

    it("'corrupt-upload' damages the bytes on the way: refused when a CRC32C was declared, stored changed when none was", async () => {
      const bytes = randomBytes(64 * KiB);
      server.injectFault({ kind: 'corrupt-upload' });
      const refused = await failureStatus(
        freshStorage
          .bucket('faults')
          .file('corrupt/declared.bin')
          .save(bytes, { resumable: false, metadata: { crc32c: clientCrc32c(bytes) } }),
      );
      expect(refused).toBe(400);
      server.injectFault({ kind: 'corrupt-upload' });
      await freshStorage.bucket('faults').file('corrupt/undeclared.bin').save(bytes, { resumable: false, validation: false });
      const stored = server.objects('faults').find((o) => o.name === 'corrupt/undeclared.bin');
      expect(stored?.bytes.length).toBe(bytes.length);
      expect(stored?.bytes.equals(bytes)).toBe(false);
      expect(server.objects('faults').some((o) => o.name === 'corrupt/declared.bin')).toBe(false);
    });

    it("a 'hang' fault never answers, and stop() releases the hung request", async () => {
      const hangingServer = await startGcsTestServer();
      const client = storageFor(hangingServer);
      hangingServer.injectFault({ status: 'hang', count: 1 });
      const upload = client.bucket('faults').file('hung.bin').save(Buffer.from('never answered'), { resumable: false });
      const settled = upload.then(
        () => 'resolved',
        () => 'rejected',
      );
      await vi.waitFor(() =>
        expect(hangingServer.requests).toEqual([
          { method: 'POST', path: expect.stringContaining('uploadType=multipart'), status: 0, bytes: expect.any(Number) },
        ]),
      );
      expect(await Promise.race([settled, new Promise((resolve) => setTimeout(() => resolve('pending'), 500))])).toBe('pending');

      const stopStarted = Date.now();
      await hangingServer.stop();
      expect(Date.now() - stopStarted).toBeLessThan(2_000);
      expect(await settled).toBe('rejected');
    });
  });
});

describe('OBJECT_FINALIZE notifications', () => {
  interface RecordedPost {
    url: string;
    headers: IncomingHttpHeaders;
    body: { messages: { data: string; attributes: Record<string, string> }[] };
  }
  let recorder: Server;
  let recorderUrl: string;
  const posts: RecordedPost[] = [];

  beforeAll(async () => {
    // Stands in for the Pub/Sub emulator's REST publish endpoint and records what it is sent.
    recorder = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        posts.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedPost['body'] });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ messageIds: [String(posts.length)] }));
      });
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => recorder.close(resolve));
  });

  it('publishes each created object to the topic in JSON_API_V1 format', async () => {
    const server = await startGcsTestServer({ notifications: { pubsubEmulatorUrl: recorderUrl, project: PROJECT, topic: 'gcs-events' } });
    try {
      const file = storageFor(server).bucket('notified').file('cam-1/0001.mp4');
      const bytes = randomBytes(2 * KiB);
      await file.save(bytes, { resumable: false, contentType: 'video/mp4', metadata: { metadata: { camera: 'cam-1' } } });
      await vi.waitFor(() => expect(posts).toHaveLength(1));

      const [post] = posts;
      expect(post?.url).toBe(`/v1/projects/${PROJECT}/topics/gcs-events:publish`);
      expect(post?.headers['content-type']).toContain('application/json');
      expect(post?.body.messages).toHaveLength(1);
      const message = post?.body.messages[0];
      const generation = String(file.metadata.generation);
      expect(message?.attributes).toEqual({
        notificationConfig: 'projects/_/buckets/notified/notificationConfigs/1',
        eventType: 'OBJECT_FINALIZE',
        payloadFormat: 'JSON_API_V1',
        bucketId: 'notified',
        objectId: 'cam-1/0001.mp4',
        objectGeneration: generation,
        eventTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
      const payload = JSON.parse(Buffer.from(message?.data ?? '', 'base64').toString('utf8')) as Record<string, unknown>;
      expect(payload).toMatchObject({
        kind: 'storage#object',
        bucket: 'notified',
        name: 'cam-1/0001.mp4',
        generation,
        size: String(bytes.length),
        contentType: 'video/mp4',
        crc32c: clientCrc32c(bytes),
        metadata: { camera: 'cam-1' },
      });
      expect(payload).not.toHaveProperty('bytes');

      // Overwriting says which generation it replaced, as GCS does.
      await file.save(Buffer.from('again'), { resumable: true });
      await vi.waitFor(() => expect(posts).toHaveLength(2));
      expect(posts[1]?.body.messages[0]?.attributes['overwroteGeneration']).toBe(generation);
    } finally {
      await server.stop();
    }
  });

  it('a publish the stand-in refuses is tried again, as Cloud Storage does, and arrives once', async () => {
    let refused = 0;
    const delivered: string[] = [];
    const flaky = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (refused < 2) {
          refused++;
          res.writeHead(503).end('busy');
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedPost['body'];
        delivered.push(body.messages[0]?.attributes['objectId'] ?? '');
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ messageIds: ['1'] }));
      });
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const server = await startGcsTestServer({
      notifications: { pubsubEmulatorUrl: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`, project: PROJECT, topic: 'gcs-events' },
    });
    try {
      await storageFor(server).bucket('notified').file('retried.bin').save(Buffer.from('x'), { resumable: false });
      await vi.waitFor(() => expect(delivered).toEqual(['retried.bin']), { timeout: 5000 });
      expect(refused).toBe(2);
    } finally {
      await server.stop();
      await new Promise((resolve) => flaky.close(resolve));
    }
  });

  it('a failed publish is logged, not thrown at the uploader', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const server = await startGcsTestServer({ notifications: { pubsubEmulatorUrl: `http://127.0.0.1:${closedPort}`, project: PROJECT, topic: 'gcs-events' } });
    try {
      await storageFor(server).bucket('notified').file('lost-event.bin').save(Buffer.from('stored anyway'), { resumable: false });
      expect(server.objects('notified').map((o) => o.name)).toEqual(['lost-event.bin']);
      await server.stop(); // waits for the publish attempt
      expect(errors).toHaveBeenCalledWith(expect.stringContaining('publishing OBJECT_FINALIZE for notified/lost-event.bin'), expect.anything());
    } finally {
      await server.stop();
      errors.mockRestore();
    }
  });
});
