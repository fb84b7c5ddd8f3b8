/**
 * An in-memory Google Cloud Storage JSON-API server for tests. The real @google-cloud/storage
 * client talks to it over HTTP when constructed with `apiEndpoint: server.url`.
 *
 * Signed URLs: `file.getSignedUrl({ version: 'v4', ... })` builds its URL from the Storage
 * client's `apiEndpoint`, so a client constructed with `apiEndpoint: server.url` and
 * `credentials: { client_email, private_key }` already gets `http://127.0.0.1:PORT/BUCKET/OBJECT?X-Goog-...`.
 * No `cname` or `host` option is needed; pass the matching public key as `signerPublicKeyPem`.
 * The client signs `host:<hostname>` without the port, so the server checks the signature
 * against the Host header both without and with its port.
 */
import { createHash, randomUUID, verify as verifyRsaSignature } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GcsTestServerOptions {
  /** public key (PEM) of the service account whose V4 signed URLs the server must accept */
  signerPublicKeyPem?: string;
  /** when set, every OBJECT_FINALIZE is published to this Pub/Sub topic through the Pub/Sub emulator's REST API: POST {emulatorUrl}/v1/projects/{project}/topics/{topic}:publish */
  notifications?: { pubsubEmulatorUrl: string; project: string; topic: string };
}

export interface StoredObject {
  bucket: string;
  name: string;
  generation: string;
  metageneration: string;
  bytes: Buffer;
  contentType: string;
  metadata: Record<string, string>;
  crc32c: string;
  md5Hash: string;
  timeCreated: string;
}

export interface GcsTestServer {
  /** http://127.0.0.1:PORT (give this to new Storage({ apiEndpoint: url, projectId, credentials })) */
  url: string;
  port: number;
  /** copies of the bucket's objects, sorted by name */
  objects(bucket: string): StoredObject[];
  /** every answered request in answer order; `path` is the request target (path and query); hung requests are logged with status 0 */
  requests: { method: string; path: string; status: number }[];
  /**
   * The next `count` requests matching `match` answer `status` (with a GCS-style JSON error), or are
   * never answered when status is 'hang'. The body is read first either way. Default match: every
   * request that touches objects (uploads, object JSON routes, downloads, signed URLs), i.e. all but
   * bucket create/get.
   */
  injectFault(fault: { status: number | 'hang'; count: number; match?: (method: string, path: string) => boolean }): void;
  clearFaults(): void;
  /** closes all sockets, including hung ones, and waits for pending notification publishes */
  stop(): Promise<void>;
}

/** GCS keeps the bytes of a non-final resumable chunk only in whole units of this size. */
const RESUMABLE_CHUNK_GRANULARITY = 256 * 1024;
const MAX_SIGNED_URL_LIFETIME_SECONDS = 7 * 24 * 60 * 60;
const CLOCK_SKEW_MS = 60_000;

interface ObjectRecord extends StoredObject {
  updated: string;
  contentEncoding?: string;
}

interface BucketRecord {
  name: string;
  timeCreated: string;
  objects: Map<string, ObjectRecord>;
}

/** The object fields a client may send as JSON (multipart part, resumable initiate, PATCH). */
interface ObjectMetadataInput {
  name?: string;
  contentType?: string;
  contentEncoding?: string;
  metadata?: Record<string, string | null>;
  crc32c?: string;
  md5Hash?: string;
}

interface UploadSession {
  bucket: string;
  name: string;
  input: ObjectMetadataInput;
  contentType: string | undefined;
  preconditions: URLSearchParams;
  persisted: Buffer[];
  persistedLength: number;
  finished?: ObjectRecord;
}

interface Fault {
  status: number | 'hang';
  remaining: number;
  match: (method: string, path: string) => boolean;
}

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  url: URL;
  body: Buffer;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Hashes, as GCS reports them: base64 of the big-endian CRC32C and base64 of the MD5 digest.
// CRC32C is computed here rather than with the client's class so the two sides stay independent.

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32cBase64(bytes: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

function md5Base64(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('base64');
}

/** Parses `X-Goog-Hash: crc32c=...,md5=...`. */
function parseGoogHash(header: string | string[] | undefined): { crc32c?: string; md5Hash?: string } {
  const hashes: { crc32c?: string; md5Hash?: string } = {};
  for (const pair of [header ?? []].flat().join(',').split(',')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    const kind = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (kind === 'crc32c') hashes.crc32c = value;
    if (kind === 'md5') hashes.md5Hash = value;
  }
  return hashes;
}

// ---------------------------------------------------------------------------------------------
// Small parsing helpers

function parseObjectMetadata(body: Buffer): ObjectMetadataInput {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'parseError', 'Parse Error: object metadata is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'invalid', 'object metadata must be a JSON object');
  }
  const fields = parsed as Record<string, unknown>;
  const text = (key: string): string | undefined => (typeof fields[key] === 'string' ? fields[key] : undefined);
  const input: ObjectMetadataInput = {};
  for (const key of ['name', 'contentType', 'contentEncoding', 'crc32c', 'md5Hash'] as const) {
    const value = text(key);
    if (value !== undefined) input[key] = value;
  }
  const custom = fields['metadata'];
  if (typeof custom === 'object' && custom !== null) {
    // GCS stores custom metadata as strings; null means "remove this key" in a PATCH.
    input.metadata = Object.fromEntries(
      Object.entries(custom).map(([key, value]) => [key, value === null ? null : String(value)]),
    );
  }
  return input;
}

/** Splits a multipart/related body into its JSON metadata part and its media part. */
function parseMultipartRelated(body: Buffer, contentTypeHeader: string | undefined): { input: ObjectMetadataInput; media: Buffer; mediaType?: string } {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentTypeHeader ?? '')?.[1];
  if (!boundary) throw new HttpError(400, 'invalid', 'multipart upload without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: string; content: Buffer }[] = [];
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const afterDelimiter = start + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break; // closing delimiter
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), afterDelimiter);
    if (next < 0) throw new HttpError(400, 'invalid', 'multipart body is not terminated');
    const part = body.subarray(afterDelimiter + 2, next); // skip the CRLF after the delimiter
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd < 0) throw new HttpError(400, 'invalid', 'multipart part without headers');
    parts.push({ headers: part.subarray(0, headerEnd).toString('utf8'), content: part.subarray(headerEnd + 4) });
    start = next + 2;
  }
  const [metadataPart, mediaPart] = parts;
  if (parts.length !== 2 || metadataPart === undefined || mediaPart === undefined) {
    throw new HttpError(400, 'invalid', `multipart upload needs exactly 2 parts, got ${parts.length}`);
  }
  const mediaType = /^content-type:\s*(.+)$/im.exec(mediaPart.headers)?.[1]?.trim();
  return { input: parseObjectMetadata(metadataPart.content), media: mediaPart.content, ...(mediaType ? { mediaType } : {}) };
}

type ContentRange = { kind: 'status'; total?: number } | { kind: 'data'; start: number; end?: number; total?: number };

// Parses what the client sends: 'bytes a-b/TOTAL', 'bytes a-b/*', 'bytes a-*/TOTAL|*' (the body is the
// rest of the object), and the status queries 'bytes */TOTAL' and 'bytes */*'.
function parseContentRange(header: string | undefined, bodyLength: number): ContentRange {
  if (header === undefined) return { kind: 'data', start: 0, total: bodyLength };
  const m = /^bytes (?:\*|(\d+)-(-1|\d+|\*))\/(\*|\d+)$/.exec(header.trim());
  if (!m) throw new HttpError(400, 'invalid', `Failed to parse Content-Range header: ${header}`);
  const [, start, end, total] = m;
  const totalBytes = total === '*' || total === undefined ? undefined : Number(total);
  if (start === undefined) return { kind: 'status', ...(totalBytes !== undefined ? { total: totalBytes } : {}) };
  return {
    kind: 'data',
    start: Number(start),
    ...(end !== '*' && end !== undefined ? { end: Number(end) } : {}),
    ...(totalBytes !== undefined ? { total: totalBytes } : {}),
  };
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; anything else (including multiple ranges) means the whole object. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 ? 'unsatisfiable' : { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size || end < start ? 'unsatisfiable' : { start, end };
}

/** Encodes like the client's signer: every byte except A-Z a-z 0-9 - . _ ~ */
function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'invalid', `bad percent-encoding in ${segment}`);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendJsonError(res: ServerResponse, status: number, reason: string, message: string): void {
  sendJson(res, status, { error: { code: status, message, errors: [{ message, domain: 'global', reason }] } });
}

/** The XML API (which serves signed URLs) answers errors in XML. */
function sendXmlError(res: ServerResponse, status: number, code: string, message: string, details = ''): void {
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const xml = `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${escape(message)}</Message>${details ? `<Details>${escape(details)}</Details>` : ''}</Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml; charset=UTF-8', 'Content-Length': Buffer.byteLength(xml) });
  res.end(xml);
}

// ---------------------------------------------------------------------------------------------
// V4 signed URL verification: rebuild the canonical request and string to sign, check the RSA signature.

type SignatureCheck = { ok: true } | { ok: false; code: string; message: string; details?: string };

function checkV4Signature(ctx: RequestContext, bucket: string, objectName: string, publicKeyPem: string | undefined): SignatureCheck {
  const query = ctx.url.searchParams;
  const signature = query.get('X-Goog-Signature');
  const credential = query.get('X-Goog-Credential');
  const date = query.get('X-Goog-Date');
  const expires = Number(query.get('X-Goog-Expires'));
  const signedHeaders = query.get('X-Goog-SignedHeaders');
  if (!signature || !credential || !date || !signedHeaders || query.get('X-Goog-Algorithm') !== 'GOOG4-RSA-SHA256') {
    return { ok: false, code: 'AccessDenied', message: 'Anonymous caller does not have storage.objects.get access (no valid V4 signature parameters).' };
  }
  if (!publicKeyPem) return { ok: false, code: 'AccessDenied', message: 'the test server was started without signerPublicKeyPem' };
  const dateParts = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (!dateParts || !Number.isInteger(expires) || expires < 1 || expires > MAX_SIGNED_URL_LIFETIME_SECONDS) {
    return { ok: false, code: 'AuthenticationRequired', message: 'Invalid X-Goog-Date or X-Goog-Expires.' };
  }
  const [, year, month, day, hour, minute, second] = dateParts.map(Number);
  const signedAtMs = Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute, second);
  const now = Date.now();
  if (now > signedAtMs + expires * 1000) {
    return { ok: false, code: 'ExpiredToken', message: 'Invalid argument.', details: `Request has expired: ${date} + ${expires}s` };
  }
  if (now + CLOCK_SKEW_MS < signedAtMs) return { ok: false, code: 'AccessDenied', message: `Request is not valid before ${date}` };
  const credentialScope = credential.slice(credential.indexOf('/') + 1);
  if (!credentialScope.startsWith(`${date.slice(0, 8)}/`) || !credentialScope.endsWith('/storage/goog4_request')) {
    return { ok: false, code: 'AuthenticationRequired', message: `Invalid credential scope: ${credentialScope}` };
  }

  const canonicalPath = `/${[bucket, ...objectName.split('/')].map(encodeRfc3986).join('/')}`;
  const canonicalQuery = [...query.entries()]
    .filter(([key]) => key !== 'X-Goog-Signature')
    .map(([key, value]) => [encodeRfc3986(key), encodeRfc3986(value)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const headerNames = signedHeaders.split(';');
  const hostHeader = ctx.req.headers.host ?? '';
  const hostCandidates = [...new Set([hostHeader.replace(/:\d+$/, ''), hostHeader])];
  // HEAD is accepted with a URL signed for GET: the client cannot sign for HEAD.
  const methods = ctx.method === 'HEAD' ? ['HEAD', 'GET'] : [ctx.method];
  const signatureBytes = Buffer.from(signature, 'hex');
  let lastCanonicalRequest = '';
  for (const method of methods) {
    for (const host of hostCandidates) {
      const canonicalHeaders = headerNames
        .map(name => {
          const raw = name === 'host' ? host : [ctx.req.headers[name] ?? ''].flat().join(',');
          return `${name}:${raw.trim().replace(/\s{2,}/g, ' ')}\n`;
        })
        .join('');
      const canonicalRequest = [method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, 'UNSIGNED-PAYLOAD'].join('\n');
      const stringToSign = ['GOOG4-RSA-SHA256', date, credentialScope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
      if (/^[0-9a-f]+$/i.test(signature) && verifyRsaSignature('RSA-SHA256', Buffer.from(stringToSign), publicKeyPem, signatureBytes)) {
        return { ok: true };
      }
      lastCanonicalRequest ||= canonicalRequest;
    }
  }
  return {
    ok: false,
    code: 'SignatureDoesNotMatch',
    message: 'Access denied.',
    details: `The request signature we calculated does not match the signature you provided. Canonical request: ${lastCanonicalRequest}`,
  };
}

// ---------------------------------------------------------------------------------------------

export async function startGcsTestServer(options: GcsTestServerOptions = {}): Promise<GcsTestServer> {
  const buckets = new Map<string, BucketRecord>();
  const uploads = new Map<string, UploadSession>();
  const requests: GcsTestServer['requests'] = [];
  let faults: Fault[] = [];
  const pendingPublishes = new Set<Promise<void>>();
  let lastGeneration = 0;
  let baseUrl = '';

  const nextGeneration = (): string => {
    lastGeneration = Math.max(lastGeneration + 1, Date.now() * 1000);
    return String(lastGeneration);
  };

  const ensureBucket = (name: string): BucketRecord => {
    let bucket = buckets.get(name);
    if (!bucket) {
      bucket = { name, timeCreated: new Date().toISOString(), objects: new Map() };
      buckets.set(name, bucket);
    }
    return bucket;
  };

  const existingBucket = (name: string): BucketRecord => {
    const bucket = buckets.get(name);
    if (!bucket) throw new HttpError(404, 'notFound', 'The specified bucket does not exist.');
    return bucket;
  };

  const existingObject = (bucketName: string, name: string): ObjectRecord => {
    const object = existingBucket(bucketName).objects.get(name);
    if (!object) throw new HttpError(404, 'notFound', `No such object: ${bucketName}/${name}`);
    return object;
  };

  const objectPath = (object: StoredObject) => `b/${encodeURIComponent(object.bucket)}/o/${encodeURIComponent(object.name)}`;

  const bucketResource = (bucket: BucketRecord) => ({
    kind: 'storage#bucket',
    id: bucket.name,
    selfLink: `${baseUrl}/storage/v1/b/${encodeURIComponent(bucket.name)}`,
    projectNumber: '0',
    name: bucket.name,
    timeCreated: bucket.timeCreated,
    updated: bucket.timeCreated,
    metageneration: '1',
    location: 'US',
    locationType: 'multi-region',
    storageClass: 'STANDARD',
    etag: 'CAE=',
  });

  const objectResource = (object: ObjectRecord) => ({
    kind: 'storage#object',
    id: `${object.bucket}/${object.name}/${object.generation}`,
    selfLink: `${baseUrl}/storage/v1/${objectPath(object)}`,
    mediaLink: `${baseUrl}/download/storage/v1/${objectPath(object)}?generation=${object.generation}&alt=media`,
    name: object.name,
    bucket: object.bucket,
    generation: object.generation,
    metageneration: object.metageneration,
    contentType: object.contentType,
    ...(object.contentEncoding ? { contentEncoding: object.contentEncoding } : {}),
    storageClass: 'STANDARD',
    size: String(object.bytes.length),
    md5Hash: object.md5Hash,
    crc32c: object.crc32c,
    etag: Buffer.from(`${object.generation}/${object.metageneration}`).toString('base64'),
    timeCreated: object.timeCreated,
    updated: object.updated,
    timeStorageClassUpdated: object.timeCreated,
    ...(Object.keys(object.metadata).length > 0 ? { metadata: { ...object.metadata } } : {}),
  });

  /** Applies if(Meta)generation(Not)Match. Reads answer 304 on a *NotMatch hit; writes answer 412. */
  const checkPreconditions = (query: URLSearchParams, current: ObjectRecord | undefined, access: 'read' | 'write'): void => {
    const failed = (what: string) => new HttpError(412, 'conditionNotMet', `At least one of the pre-conditions you specified did not hold (${what}).`);
    const notModified = (what: string) => (access === 'read' ? new HttpError(304, 'notModified', what) : failed(what));
    const generationMatch = query.get('ifGenerationMatch');
    if (generationMatch !== null) {
      if (generationMatch === '0' ? current !== undefined : current?.generation !== generationMatch) throw failed('ifGenerationMatch');
    }
    const generationNotMatch = query.get('ifGenerationNotMatch');
    if (generationNotMatch !== null && current?.generation === generationNotMatch) throw notModified('ifGenerationNotMatch');
    const metagenerationMatch = query.get('ifMetagenerationMatch');
    if (metagenerationMatch !== null && current?.metageneration !== metagenerationMatch) throw failed('ifMetagenerationMatch');
    const metagenerationNotMatch = query.get('ifMetagenerationNotMatch');
    if (metagenerationNotMatch !== null && current?.metageneration === metagenerationNotMatch) throw notModified('ifMetagenerationNotMatch');
  };

  /** Stores a complete upload after checking preconditions and every hash the client claimed. */
  const createObject = (upload: {
    bucket: string;
    name: string;
    bytes: Buffer;
    input: ObjectMetadataInput;
    contentType: string | undefined;
    preconditions: URLSearchParams;
    hashHeader: string | string[] | undefined;
  }): ObjectRecord => {
    const bucket = ensureBucket(upload.bucket);
    const previous = bucket.objects.get(upload.name);
    checkPreconditions(upload.preconditions, previous, 'write');
    const crc32c = crc32cBase64(upload.bytes);
    const md5Hash = md5Base64(upload.bytes);
    const headerHashes = parseGoogHash(upload.hashHeader);
    for (const [claimed, actual, label] of [
      [upload.input.crc32c, crc32c, 'CRC32C'],
      [headerHashes.crc32c, crc32c, 'CRC32C'],
      [upload.input.md5Hash, md5Hash, 'MD5'],
      [headerHashes.md5Hash, md5Hash, 'MD5'],
    ] as const) {
      if (claimed !== undefined && claimed !== actual) {
        throw new HttpError(400, 'invalid', `Provided ${label} "${claimed}" doesn't match calculated ${label} "${actual}".`);
      }
    }
    const now = new Date().toISOString();
    const customMetadata = Object.entries(upload.input.metadata ?? {}).filter((entry): entry is [string, string] => entry[1] !== null);
    const object: ObjectRecord = {
      bucket: upload.bucket,
      name: upload.name,
      generation: nextGeneration(),
      metageneration: '1',
      bytes: Buffer.from(upload.bytes),
      contentType: upload.input.contentType ?? upload.contentType ?? 'application/octet-stream',
      ...(upload.input.contentEncoding ? { contentEncoding: upload.input.contentEncoding } : {}),
      metadata: Object.fromEntries(customMetadata),
      crc32c,
      md5Hash,
      timeCreated: now,
      updated: now,
    };
    bucket.objects.set(object.name, object);
    publishFinalize(object, previous?.generation);
    return object;
  };

  /** Publishes OBJECT_FINALIZE like a bucket notification in JSON_API_V1 format; failures go to stderr. */
  const publishFinalize = (object: ObjectRecord, overwroteGeneration: string | undefined): void => {
    const target = options.notifications;
    if (!target) return;
    const attributes: Record<string, string> = {
      notificationConfig: `projects/_/buckets/${object.bucket}/notificationConfigs/1`,
      eventType: 'OBJECT_FINALIZE',
      payloadFormat: 'JSON_API_V1',
      bucketId: object.bucket,
      objectId: object.name,
      objectGeneration: object.generation,
      eventTime: object.updated,
      ...(overwroteGeneration ? { overwroteGeneration } : {}),
    };
    const data = Buffer.from(JSON.stringify(objectResource(object))).toString('base64');
    const endpoint = `${target.pubsubEmulatorUrl.replace(/\/+$/, '')}/v1/projects/${target.project}/topics/${target.topic}:publish`;
    const publish = fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: [{ data, attributes }] }),
      signal: AbortSignal.timeout(10_000),
    })
      .then(async response => {
        if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
      })
      .catch((error: unknown) => {
        console.error(`gcs-test-server: publishing OBJECT_FINALIZE for ${object.bucket}/${object.name} to ${endpoint} failed:`, error);
      })
      .finally(() => pendingPublishes.delete(publish));
    pendingPublishes.add(publish);
  };

  // --- routes ------------------------------------------------------------------------------

  const createBucket = (ctx: RequestContext): void => {
    const name = parseObjectMetadata(ctx.body).name;
    if (!name) throw new HttpError(400, 'required', 'Required: bucket name');
    if (buckets.has(name)) throw new HttpError(409, 'conflict', 'Your previous request to create the named bucket succeeded and you already own it.');
    sendJson(ctx.res, 200, bucketResource(ensureBucket(name)));
  };

  const listObjects = (ctx: RequestContext, bucketName: string): void => {
    const query = ctx.url.searchParams;
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const maxResults = Math.max(1, Number(query.get('maxResults') ?? 1000) || 1000);
    const pageToken = query.get('pageToken');
    const startAfter = pageToken === null ? undefined : Buffer.from(pageToken, 'base64url').toString('utf8');
    // Items and collapsed prefixes share one sorted sequence, so pages cut across both.
    const entries = new Map<string, ObjectRecord | 'prefix'>();
    for (const object of existingBucket(bucketName).objects.values()) {
      if (!object.name.startsWith(prefix)) continue;
      const cut = delimiter ? object.name.indexOf(delimiter, prefix.length) : -1;
      if (cut >= 0) entries.set(object.name.slice(0, cut + delimiter.length), 'prefix');
      else entries.set(object.name, object);
    }
    const sorted = [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).filter(([key]) => startAfter === undefined || key > startAfter);
    const page = sorted.slice(0, maxResults);
    const lastKey = page.at(-1)?.[0];
    const items = page.flatMap(([, entry]) => (entry === 'prefix' ? [] : [objectResource(entry)]));
    const prefixes = page.flatMap(([key, entry]) => (entry === 'prefix' ? [key] : []));
    sendJson(ctx.res, 200, {
      kind: 'storage#objects',
      ...(sorted.length > maxResults && lastKey !== undefined ? { nextPageToken: Buffer.from(lastKey).toString('base64url') } : {}),
      ...(prefixes.length > 0 ? { prefixes } : {}),
      ...(items.length > 0 ? { items } : {}),
    });
  };

  const sendMedia = (ctx: RequestContext, object: ObjectRecord): void => {
    const size = object.bytes.length;
    const query = ctx.url.searchParams;
    const headers: Record<string, string | number> = {
      'Content-Type': query.get('response-content-type') ?? object.contentType,
      'Accept-Ranges': 'bytes',
      ETag: `"${object.md5Hash}"`,
      'Last-Modified': new Date(object.updated).toUTCString(),
      'X-Goog-Generation': object.generation,
      'X-Goog-Metageneration': object.metageneration,
      'X-Goog-Hash': `crc32c=${object.crc32c},md5=${object.md5Hash}`,
      'X-Goog-Stored-Content-Length': size,
      'X-Goog-Stored-Content-Encoding': object.contentEncoding ?? 'identity',
      ...(object.contentEncoding ? { 'Content-Encoding': object.contentEncoding } : {}),
    };
    const disposition = query.get('response-content-disposition');
    if (disposition) headers['Content-Disposition'] = disposition;
    const range = parseRange(ctx.req.headers.range, size);
    if (range === 'unsatisfiable') {
      ctx.res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      ctx.res.end();
      return;
    }
    const bytes = range ? object.bytes.subarray(range.start, range.end + 1) : object.bytes;
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
    ctx.res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': bytes.length });
    ctx.res.end(bytes); // Node drops the body itself for HEAD
  };

  const readObject = (ctx: RequestContext, bucketName: string, name: string, asMedia: boolean): void => {
    const object = existingObject(bucketName, name);
    checkPreconditions(ctx.url.searchParams, object, 'read');
    if (asMedia) sendMedia(ctx, object);
    else sendJson(ctx.res, 200, objectResource(object));
  };

  const deleteObject = (ctx: RequestContext, bucketName: string, name: string): void => {
    const object = existingObject(bucketName, name);
    checkPreconditions(ctx.url.searchParams, object, 'write');
    existingBucket(bucketName).objects.delete(name);
    ctx.res.writeHead(204).end();
  };

  const patchObject = (ctx: RequestContext, bucketName: string, name: string): void => {
    const object = existingObject(bucketName, name);
    checkPreconditions(ctx.url.searchParams, object, 'write');
    const patch = parseObjectMetadata(ctx.body);
    if (patch.contentType !== undefined) object.contentType = patch.contentType;
    if (patch.contentEncoding !== undefined) object.contentEncoding = patch.contentEncoding;
    for (const [key, value] of Object.entries(patch.metadata ?? {})) {
      if (value === null) delete object.metadata[key];
      else object.metadata[key] = value;
    }
    object.metageneration = String(Number(object.metageneration) + 1);
    object.updated = new Date().toISOString();
    sendJson(ctx.res, 200, objectResource(object));
  };

  const upload = (ctx: RequestContext, bucketName: string): void => {
    const query = ctx.url.searchParams;
    const uploadType = query.get('uploadType');
    const common = { bucket: bucketName, preconditions: query, hashHeader: ctx.req.headers['x-goog-hash'] };
    if (uploadType === 'media') {
      const name = query.get('name');
      if (!name) throw new HttpError(400, 'required', 'Required: name');
      const object = createObject({ ...common, name, bytes: ctx.body, input: {}, contentType: ctx.req.headers['content-type'] });
      sendJson(ctx.res, 200, objectResource(object));
    } else if (uploadType === 'multipart') {
      const { input, media, mediaType } = parseMultipartRelated(ctx.body, ctx.req.headers['content-type']);
      const name = input.name ?? query.get('name');
      if (!name) throw new HttpError(400, 'required', 'Required: name');
      const object = createObject({ ...common, name, bytes: media, input, contentType: mediaType });
      sendJson(ctx.res, 200, objectResource(object));
    } else if (uploadType === 'resumable') {
      startResumableUpload(ctx, bucketName);
    } else {
      throw new HttpError(400, 'invalidParameter', `Invalid upload type: ${uploadType ?? '(none)'}`);
    }
  };

  const startResumableUpload = (ctx: RequestContext, bucketName: string): void => {
    const query = ctx.url.searchParams;
    const input = parseObjectMetadata(ctx.body);
    const name = input.name ?? query.get('name');
    if (!name) throw new HttpError(400, 'required', 'Required: name');
    // Fail fast like GCS; the preconditions are checked again when the upload completes.
    checkPreconditions(query, buckets.get(bucketName)?.objects.get(name), 'write');
    const uploadId = randomUUID();
    const contentTypeHeader = ctx.req.headers['x-upload-content-type'];
    uploads.set(uploadId, {
      bucket: bucketName,
      name,
      input,
      contentType: typeof contentTypeHeader === 'string' ? contentTypeHeader : undefined,
      preconditions: new URLSearchParams(query),
      persisted: [],
      persistedLength: 0,
    });
    const location = `${baseUrl}/upload/storage/v1/b/${encodeURIComponent(bucketName)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${uploadId}`;
    ctx.res.writeHead(200, { Location: location, 'Content-Length': 0 }).end();
  };

  const sessionOf = (ctx: RequestContext): [string, UploadSession] => {
    const uploadId = ctx.url.searchParams.get('upload_id') ?? '';
    const session = uploads.get(uploadId);
    if (!session) throw new HttpError(404, 'notFound', `No such upload session: ${uploadId}`);
    return [uploadId, session];
  };

  /** 308 tells the client how many bytes are persisted; without a Range header it means none. */
  const sendIncomplete = (res: ServerResponse, session: UploadSession): void => {
    const range = session.persistedLength > 0 ? { Range: `bytes=0-${session.persistedLength - 1}` } : {};
    res.writeHead(308, { ...range, 'Content-Length': 0 }).end();
  };

  const finishResumableUpload = (ctx: RequestContext, uploadId: string, session: UploadSession): void => {
    try {
      session.finished = createObject({
        ...session,
        bytes: Buffer.concat(session.persisted),
        hashHeader: ctx.req.headers['x-goog-hash'],
      });
    } catch (error) {
      uploads.delete(uploadId); // a failed finalize ends the session, as in GCS
      throw error;
    }
    session.persisted = [];
    sendJson(ctx.res, 200, objectResource(session.finished));
  };

  const continueResumableUpload = (ctx: RequestContext): void => {
    const [uploadId, session] = sessionOf(ctx);
    if (session.finished) {
      sendJson(ctx.res, 200, objectResource(session.finished));
      return;
    }
    const range = parseContentRange(ctx.req.headers['content-range'], ctx.body.length);
    if (range.kind === 'status') {
      if (range.total !== undefined && range.total === session.persistedLength) finishResumableUpload(ctx, uploadId, session);
      else sendIncomplete(ctx.res, session);
      return;
    }
    if (range.start > session.persistedLength) {
      throw new HttpError(400, 'invalid', `Invalid request. There were ${session.persistedLength} byte(s) persisted but the request starts at byte ${range.start}.`);
    }
    if (range.end !== undefined && range.end - range.start + 1 !== ctx.body.length) {
      throw new HttpError(400, 'invalid', `Content-Range ${ctx.req.headers['content-range']} does not match a body of ${ctx.body.length} bytes.`);
    }
    // Bytes the server already has (a resend after a lost response) are skipped.
    const fresh = ctx.body.subarray(Math.min(session.persistedLength - range.start, ctx.body.length));
    const newLength = session.persistedLength + fresh.length;
    if (range.total !== undefined && (newLength > range.total || (range.end === undefined && newLength !== range.total))) {
      throw new HttpError(400, 'invalid', `Upload of ${newLength} bytes does not match the declared total of ${range.total}.`);
    }
    const isFinal = range.end === undefined || newLength === range.total;
    if (isFinal) {
      session.persisted.push(Buffer.from(fresh));
      session.persistedLength = newLength;
      finishResumableUpload(ctx, uploadId, session);
      return;
    }
    if (ctx.body.length < RESUMABLE_CHUNK_GRANULARITY) {
      throw new HttpError(
        400,
        'invalid',
        `Invalid request. The number of bytes uploaded is required to be equal or greater than ${RESUMABLE_CHUNK_GRANULARITY}, except for the final request (it's recommended to be the exact multiple of ${RESUMABLE_CHUNK_GRANULARITY}). The received request contained ${ctx.body.length} bytes, which does not meet this requirement.`,
      );
    }
    const keptLength = Math.floor(newLength / RESUMABLE_CHUNK_GRANULARITY) * RESUMABLE_CHUNK_GRANULARITY;
    const kept = fresh.subarray(0, Math.max(keptLength - session.persistedLength, 0));
    session.persisted.push(Buffer.from(kept));
    session.persistedLength += kept.length;
    sendIncomplete(ctx.res, session);
  };

  const cancelResumableUpload = (ctx: RequestContext): void => {
    const [uploadId] = sessionOf(ctx);
    uploads.delete(uploadId);
    ctx.res.writeHead(499, { 'Content-Length': 0 }).end();
  };

  const readSignedUrl = (ctx: RequestContext, bucketName: string, name: string): void => {
    const check = checkV4Signature(ctx, bucketName, name, options.signerPublicKeyPem);
    if (!check.ok) {
      sendXmlError(ctx.res, 403, check.code, check.message, check.details);
      return;
    }
    const object = buckets.get(bucketName)?.objects.get(name);
    if (!object) {
      sendXmlError(ctx.res, 404, 'NoSuchKey', 'The specified key does not exist.', `No such object: ${bucketName}/${name}`);
      return;
    }
    sendMedia(ctx, object);
  };

  const route = (ctx: RequestContext): void => {
    const { method } = ctx;
    const path = ctx.url.pathname;
    const isRead = method === 'GET' || method === 'HEAD';
    let m: RegExpExecArray | null;
    if ((m = /^\/storage\/v1\/b\/?$/.exec(path)) && method === 'POST') return createBucket(ctx);
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/?$/.exec(path)) && isRead) {
      return sendJson(ctx.res, 200, bucketResource(existingBucket(decodePathSegment(m[1] ?? ''))));
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/?$/.exec(path)) && isRead) return listObjects(ctx, decodePathSegment(m[1] ?? ''));
    if ((m = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
      const [bucket, name] = [decodePathSegment(m[1] ?? ''), decodePathSegment(m[2] ?? '')];
      const isDownloadPath = path.startsWith('/download/');
      if (isRead) return readObject(ctx, bucket, name, isDownloadPath || ctx.url.searchParams.get('alt') === 'media');
      if (method === 'DELETE' && !isDownloadPath) return deleteObject(ctx, bucket, name);
      if ((method === 'PATCH' || method === 'PUT') && !isDownloadPath) return patchObject(ctx, bucket, name);
    }
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o\/?$/.exec(path))) {
      const bucket = decodePathSegment(m[1] ?? '');
      if (method === 'POST') return upload(ctx, bucket);
      if (method === 'PUT') return continueResumableUpload(ctx);
      if (method === 'DELETE') return cancelResumableUpload(ctx);
    }
    if ((m = /^\/([^/]+)\/(.+)$/.exec(path)) && isRead && !path.startsWith('/storage/') && !path.startsWith('/upload/')) {
      return readSignedUrl(ctx, decodePathSegment(m[1] ?? ''), (m[2] ?? '').split('/').map(decodePathSegment).join('/'));
    }
    throw new HttpError(404, 'notFound', `The test server has no route for ${method} ${path}`);
  };

  const isObjectRequest = (_method: string, path: string): boolean => !/^\/storage\/v1\/b(\/[^/?]+)?\/?(\?|$)/.test(path);

  const takeFault = (method: string, path: string): Fault | undefined => {
    const fault = faults.find(candidate => candidate.remaining > 0 && candidate.match(method, path));
    if (fault) fault.remaining -= 1;
    faults = faults.filter(candidate => candidate.remaining > 0);
    return fault;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const body = await readBody(req);
    const faultStatus = takeFault(method, target)?.status;
    if (faultStatus === 'hang') {
      requests.push({ method, path: target, status: 0 });
      return; // never answered; stop() destroys the socket
    }
    res.on('finish', () => requests.push({ method, path: target, status: res.statusCode }));
    if (faultStatus !== undefined) {
      sendJsonError(res, faultStatus, 'backendError', `Injected fault: HTTP ${faultStatus}`);
      return;
    }
    try {
      route({ req, res, method, url: new URL(target, 'http://127.0.0.1'), body });
    } catch (error) {
      if (error instanceof HttpError) {
        if (error.status === 304) res.writeHead(304).end();
        else sendJsonError(res, error.status, error.reason, error.message);
      } else {
        console.error('gcs-test-server: internal error', error);
        sendJsonError(res, 500, 'backendError', String(error));
      }
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('gcs-test-server: request failed', error);
      res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    port,
    requests,
    objects: bucketName =>
      [...(buckets.get(bucketName)?.objects.values() ?? [])]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map(({ updated: _updated, contentEncoding: _contentEncoding, ...object }) => ({
          ...object,
          bytes: Buffer.from(object.bytes),
          metadata: { ...object.metadata },
        })),
    injectFault: ({ status, count, match }) => {
      faults.push({ status, remaining: count, match: match ?? isObjectRequest });
    },
    clearFaults: () => {
      faults = [];
    },
    stop: async () => {
      const closed = new Promise<void>(resolve => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await Promise.all([...pendingPublishes]);
    },
  };
}
