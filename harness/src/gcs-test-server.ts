// An in-memory Google Cloud Storage JSON-API server for tests. The real @google-cloud/storage
// client talks to it over HTTP when constructed with `apiEndpoint: server.url` (or
// `server.localhostUrl`: it listens on 127.0.0.1 and ::1, and builds upload session URIs from the
// Host header the client used, so host names work as they do against Google).
//
// It is meant to be as strict as Cloud Storage and as Google's own conformance server for its
// client libraries (googleapis/storage-testbench), never friendlier. Where the two differ, the
// choice is stated here:
//
// Resumable uploads
// - Content-Range `bytes A-B/TOTAL` is final when B+1 = TOTAL; `bytes A-B/*` never is; `bytes A-*/TOTAL`
//   (the rest of the object) is final and must end at TOTAL. `bytes A-*/*` is final only when it
//   completes the size the session declared (X-Upload-Content-Length), or when A is 0 (the whole
//   object in one request); otherwise it is answered 308, as the testbench answers it. A client
//   that resumes an upload without stating its total size therefore gets 308 and cannot finish.
// - A non-final request must carry at least 256 KiB; the session keeps what arrived only in whole
//   256 KiB units (counted from the object's start) and says so in `Range: bytes=0-N`. That holds
//   for a PUT whose connection broke mid-body too: what reached the server stays, in 256 KiB units,
//   as Cloud Storage keeps it. Bytes resent that the session already holds are skipped.
// - A status query (`bytes */TOTAL` or `bytes */*`, empty body) answers 308 with the Range held,
//   or finishes the upload when TOTAL equals what is held; on a finished session, 200 and the object.
// - Preconditions (ifGenerationMatch=0 and the rest) are checked when the upload finishes, as the
//   testbench does: a create-only session onto an existing name starts with 200 and is refused
//   with 412 only at the end. A refused or failed finish ends the session (then 404).
// - The declared X-Upload-Content-Length must match the object's final size (else 400).
//
// Checksums
// - A declared crc32c/md5Hash (object resource or X-Goog-Hash) that does not match the bytes is
//   refused. Cloud Storage answers 400 `Provided CRC32C "X" doesn't match calculated CRC32C "Y".`
//   (reason `invalid`); that is the default. The testbench answers 412 `crc32c validation failed`
//   without a reason: `configure({ checksumMismatch: 'testbench' })` answers like it, so a client
//   can be tested against both (a 412 here is not a create-only conflict).
//
// Error bodies
// - JSON-API errors look like Cloud Storage's: `{"error":{"code","message","errors":[{"message",
//   "domain","reason"}]}}`. Injected faults, unknown upload sessions and testbench-style checksum
//   answers carry only `{"error":{"code","message"}}`, with no `reason`, as the testbench sends
//   them: a client must not depend on `reason`.
//
// Faults (`injectFault`): an HTTP status or a hang for the next N matching requests; for resumable
// data requests also a connection cut after N body bytes (`drop-after-bytes`), a status answered
// after N body bytes with those bytes kept (`status-after-bytes`, like the testbench's
// `return-503-after-256K`), a stall that stops reading after N bytes and never answers
// (`stall-after-bytes`), and an upload whose bytes arrive damaged (`corrupt-upload`).
//
// Signed URLs: `file.getSignedUrl({ version: 'v4', ... })` builds its URL from the Storage
// client's `apiEndpoint`, so a client constructed with `apiEndpoint: server.url` and
// `credentials: { client_email, private_key }` already gets `http://127.0.0.1:PORT/BUCKET/OBJECT?X-Goog-...`.
// No `cname` or `host` option is needed; pass the matching public key as `signerPublicKeyPem`.
// The client signs `host:<hostname>` without the port, so the server checks the signature
// against the Host header both without and with its port.

import { createHash, randomUUID, verify as verifyRsaSignature } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GcsTestServerOptions {
  /** public key (PEM) of the service account whose V4 signed URLs the server must accept */
  signerPublicKeyPem?: string;
  /**
   * When set, every OBJECT_FINALIZE is published to this Pub/Sub topic through the Pub/Sub
   * emulator's REST API: POST {emulatorUrl}/v1/projects/{project}/topics/{topic}:publish
   */
  notifications?: { pubsubEmulatorUrl: string; project: string; topic: string };
  /** how a checksum mismatch is answered: 'google' (400, the default) or 'testbench' (412); see the header comment */
  checksumMismatch?: ChecksumMismatchStyle;
}

export type ChecksumMismatchStyle = 'google' | 'testbench';

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

export type ObjectSummary = Omit<StoredObject, 'bytes'> & { size: number };

/** Which requests a fault applies to: method and request target (path and query). */
export type FaultMatch = (method: string, path: string) => boolean;

export type FaultSpec =
  /** The next `count` matching requests answer `status` with a fault body, or are never answered ('hang'); the body is read first, nothing of it kept. */
  | { status: number | 'hang'; count: number; match?: FaultMatch }
  /** A resumable data request's connection is cut once `bytes` bytes of its body arrived; the session keeps them in 256 KiB units. */
  | { kind: 'drop-after-bytes'; bytes: number; count?: number; match?: FaultMatch }
  /** After `bytes` body bytes the session keeps them (in 256 KiB units), the rest is read and dropped, and `status` is answered. */
  | { kind: 'status-after-bytes'; status: number; bytes: number; count?: number; match?: FaultMatch }
  /**
   * After `bytes` body bytes the server keeps them (256 KiB units), stops reading and never answers:
   * the client's connection stalls. (Not reading, the server does not see the client give up; stop() closes it.)
   */
  | { kind: 'stall-after-bytes'; bytes: number; count?: number; match?: FaultMatch }
  /** The next upload to finish (multipart, media or resumable) arrives with one byte flipped, as on a damaged link. */
  | { kind: 'corrupt-upload'; count?: number; match?: FaultMatch };

export interface RequestRecord {
  method: string;
  /** the request target: path and query */
  path: string;
  /** 0 until answered, and for ever for a request hung, stalled or cut */
  status: number;
  /** body bytes that reached the server */
  bytes: number;
}

export interface GcsTestServer {
  /** http://127.0.0.1:PORT (give this to new Storage({ apiEndpoint: url, projectId, credentials })) */
  url: string;
  /** http://localhost:PORT, the same server by host name */
  localhostUrl: string;
  port: number;
  /** copies of the bucket's objects, sorted by name */
  objects(bucket: string): StoredObject[];
  /** the bucket's objects without their bytes (cheap to call often, as a long soak does), sorted by name */
  objectSummaries(bucket: string): ObjectSummary[];
  /** every request in the order it arrived; `status` stays 0 until it is answered */
  requests: RequestRecord[];
  /**
   * The next matching requests misbehave (see FaultSpec). Default match: for status and hang
   * faults every request that touches objects (uploads, object JSON routes, downloads, signed
   * URLs), i.e. all but bucket create/get; for the byte faults every resumable data request; for
   * corrupt-upload every upload.
   */
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  /** changes behaviour at run time (a worker keeps talking to the same endpoint) */
  configure(settings: { checksumMismatch?: ChecksumMismatchStyle }): void;
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
  /** the query of the request that started the session: its preconditions apply when it finishes */
  preconditions: URLSearchParams;
  /** X-Upload-Content-Length, when the client stated the size at the start */
  declaredLength: number | undefined;
  persisted: Buffer[];
  persistedLength: number;
  finished?: ObjectRecord;
}

interface Fault {
  spec: FaultSpec;
  remaining: number;
  match: FaultMatch;
}

type ByteFault = Extract<FaultSpec, { kind: 'drop-after-bytes' | 'status-after-bytes' | 'stall-after-bytes' }>;

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
    /** Cloud Storage's `errors[].reason`; undefined where the answer carries none */
    readonly reason: string | undefined,
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
    input.metadata = Object.fromEntries(Object.entries(custom).map(([key, value]) => [key, value === null ? null : String(value)]));
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

type ContentRange =
  | { kind: 'status'; total?: number }
  | { kind: 'data'; start: number; end?: number; total?: number }
  /** no Content-Range: the whole object in this one request */
  | { kind: 'whole' };

// Parses what the client sends: 'bytes a-b/TOTAL', 'bytes a-b/*', 'bytes a-*/TOTAL|*' (the body is the
// rest of the object), and the status queries 'bytes */TOTAL' and 'bytes */*'.
function parseContentRange(header: string | undefined): ContentRange {
  if (header === undefined) return { kind: 'whole' };
  const m = /^bytes (?:\*|(\d+)-(\d+|\*))\/(\*|\d+)$/.exec(header.trim());
  if (!m) throw new HttpError(400, 'invalid', `Failed to parse Content-Range header: ${header}`);
  const [, start, end, total] = m;
  const totalBytes = total === '*' || total === undefined ? undefined : Number(total);
  if (start === undefined) return { kind: 'status', ...(totalBytes !== undefined ? { total: totalBytes } : {}) };
  if (end !== '*' && end !== undefined && Number(end) < Number(start)) throw new HttpError(400, 'invalid', `Invalid Content-Range header: ${header}`);
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
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
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

/** Cloud Storage's JSON error shape; without a reason, only `{error:{code,message}}` (see the header comment). */
function sendJsonError(res: ServerResponse, status: number, reason: string | undefined, message: string): void {
  const errors = reason === undefined ? {} : { errors: [{ message, domain: 'global', reason }] };
  sendJson(res, status, { error: { code: status, message, ...errors } });
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
        .map((name) => {
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
  let stopping = false;
  let lastGeneration = 0;
  let baseUrl = '';
  let serverPort = 0;
  let checksumMismatch: ChecksumMismatchStyle = options.checksumMismatch ?? 'google';

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

  /** How a declared hash that does not match the bytes is refused (see the header comment). */
  const checksumRefusal = (label: 'CRC32C' | 'MD5', claimed: string, actual: string): HttpError =>
    checksumMismatch === 'testbench'
      ? new HttpError(412, undefined, `${label.toLowerCase()} validation failed. Expected = ${claimed} vs Actual = ${actual}.`)
      : new HttpError(400, 'invalid', `Provided ${label} "${claimed}" doesn't match calculated ${label} "${actual}".`);

  /** Stores a complete upload after checking preconditions and every hash the client claimed. */
  const createObject = (upload: {
    bucket: string;
    name: string;
    bytes: Buffer;
    input: ObjectMetadataInput;
    contentType: string | undefined;
    preconditions: URLSearchParams;
    hashHeader: string | string[] | undefined;
    /** the request that finishes the upload, for corrupt-upload faults */
    request: { method: string; path: string };
  }): ObjectRecord => {
    const bucket = ensureBucket(upload.bucket);
    const previous = bucket.objects.get(upload.name);
    checkPreconditions(upload.preconditions, previous, 'write');
    let bytes = upload.bytes;
    if (takeFault(upload.request.method, upload.request.path, 'corrupt') !== undefined && bytes.length > 0) {
      bytes = Buffer.from(bytes);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] ?? 0) ^ 0x20;
    }
    const crc32c = crc32cBase64(bytes);
    const md5Hash = md5Base64(bytes);
    const headerHashes = parseGoogHash(upload.hashHeader);
    for (const [claimed, actual, label] of [
      [upload.input.crc32c, crc32c, 'CRC32C'],
      [headerHashes.crc32c, crc32c, 'CRC32C'],
      [upload.input.md5Hash, md5Hash, 'MD5'],
      [headerHashes.md5Hash, md5Hash, 'MD5'],
    ] as const) {
      if (claimed !== undefined && claimed !== actual) throw checksumRefusal(label, claimed, actual);
    }
    const now = new Date().toISOString();
    const customMetadata = Object.entries(upload.input.metadata ?? {}).filter((entry): entry is [string, string] => entry[1] !== null);
    const object: ObjectRecord = {
      bucket: upload.bucket,
      name: upload.name,
      generation: nextGeneration(),
      metageneration: '1',
      bytes: Buffer.from(bytes),
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

  /** Tries per notification before it is given up (and said on stderr). */
  const PUBLISH_ATTEMPTS = 6;

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
    const body = JSON.stringify({ messages: [{ data, attributes }] });
    // Cloud Storage retries a notification it could not publish; so does this, a few times with
    // backoff, until it stops: a busy Pub/Sub stand-in must not lose notifications the real one keeps.
    const attempt = async (): Promise<void> => {
      for (let n = 1; ; n++) {
        try {
          const response = await fetch(endpoint, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          if (response.ok) return;
          throw new Error(`HTTP ${response.status}: ${await response.text()}`);
        } catch (error) {
          if (stopping || n >= PUBLISH_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.min(8_000, 250 * 2 ** (n - 1))));
        }
      }
    };
    const publish = attempt()
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
    const common = {
      bucket: bucketName,
      preconditions: query,
      hashHeader: ctx.req.headers['x-goog-hash'],
      request: { method: ctx.method, path: `${ctx.url.pathname}${ctx.url.search}` },
    };
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
    // No precondition check here: like the testbench, a session starts and the preconditions apply
    // when it finishes (Cloud Storage may refuse earlier; a client must handle both).
    const declared = ctx.req.headers['x-upload-content-length'];
    const declaredLength = typeof declared === 'string' && /^\d+$/.test(declared) ? Number(declared) : undefined;
    const uploadId = randomUUID();
    const contentTypeHeader = ctx.req.headers['x-upload-content-type'];
    uploads.set(uploadId, {
      bucket: bucketName,
      name,
      input,
      contentType: typeof contentTypeHeader === 'string' ? contentTypeHeader : undefined,
      preconditions: new URLSearchParams(query),
      declaredLength,
      persisted: [],
      persistedLength: 0,
    });
    // The session URI names the host the client used, as Cloud Storage's does.
    const host = ctx.req.headers.host ?? `127.0.0.1:${serverPort}`;
    const location = `http://${host}/upload/storage/v1/b/${encodeURIComponent(bucketName)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${uploadId}`;
    ctx.res.writeHead(200, { Location: location, 'Content-Length': 0 }).end();
  };

  /** 308 tells the client how many bytes are persisted; without a Range header it means none. */
  const sendIncomplete = (res: ServerResponse, session: UploadSession): void => {
    const range = session.persistedLength > 0 ? { Range: `bytes=0-${session.persistedLength - 1}` } : {};
    res.writeHead(308, { ...range, 'Content-Length': 0 }).end();
  };

  /** Makes the object of a session whose bytes are all there; a refused finish ends the session. */
  const finishResumableUpload = (uploadId: string, session: UploadSession, req: IncomingMessage, request: { method: string; path: string }): ObjectRecord => {
    try {
      if (session.declaredLength !== undefined && session.declaredLength !== session.persistedLength) {
        throw new HttpError(
          400,
          'invalid',
          `X-Upload-Content-Length validation failed. Expected = ${session.declaredLength} vs Actual = ${session.persistedLength}.`,
        );
      }
      session.finished = createObject({ ...session, bytes: Buffer.concat(session.persisted), hashHeader: req.headers['x-goog-hash'], request });
    } catch (error) {
      uploads.delete(uploadId);
      throw error;
    }
    session.persisted = [];
    return session.finished;
  };

  /**
   * Adds what one request brought to its session: `fresh` holds the object's bytes from `freshStart`
   * on. Another request may have moved the session on meanwhile (a late copy of an abandoned request
   * still in the network), so the session's own length decides where these bytes go; bytes it
   * already holds are skipped. `wholeUnits` keeps only whole 256 KiB units, as for a request that is
   * not the last. Returns false when the bytes start beyond what the session holds (a gap).
   */
  const addToSession = (session: UploadSession, fresh: Buffer[], freshStart: number, wholeUnits: boolean): boolean => {
    const arrived = Buffer.concat(fresh);
    const alreadyHeld = session.persistedLength - freshStart;
    if (alreadyHeld < 0) return false;
    const end = freshStart + arrived.length;
    const keepTo = wholeUnits ? Math.floor(end / RESUMABLE_CHUNK_GRANULARITY) * RESUMABLE_CHUNK_GRANULARITY : end;
    if (keepTo <= session.persistedLength) return true;
    session.persisted.push(arrived.subarray(alreadyHeld, keepTo - freshStart));
    session.persistedLength = keepTo;
    return true;
  };

  /**
   * A PUT (or POST) to a session URI: a status query or bytes. The body is taken as it arrives, so
   * bytes of a request whose connection breaks are kept (in 256 KiB units), and byte faults can act
   * mid-body. Answers go to `res`; `log` records what the request did.
   */
  const receiveResumable = (req: IncomingMessage, res: ServerResponse, url: URL, fault: ByteFault | undefined): void => {
    const request = { method: req.method ?? 'PUT', path: `${url.pathname}${url.search}` };
    const answerWith = (answer: () => void): void => {
      try {
        answer();
      } catch (error) {
        sendError(res, error);
      }
    };
    // Answers an error once the body has been read, as the server's front end would.
    const refuseAfterBody = (error: unknown): void => {
      req.resume();
      req.once('end', () => sendError(res, error));
    };
    const uploadId = url.searchParams.get('upload_id') ?? '';
    const session = uploads.get(uploadId);
    if (!session) return refuseAfterBody(new HttpError(404, undefined, `No such upload session: ${uploadId}`));
    if (session.finished) {
      const finished = session.finished;
      req.resume();
      req.once('end', () => sendJson(res, 200, objectResource(finished)));
      return;
    }
    let range: ContentRange;
    try {
      range = parseContentRange(req.headers['content-range']);
    } catch (error) {
      return refuseAfterBody(error);
    }
    if (range.kind === 'status') {
      const total = range.total;
      req.resume();
      req.once('end', () =>
        answerWith(() => {
          if (total !== undefined && total === session.persistedLength)
            sendJson(res, 200, objectResource(finishResumableUpload(uploadId, session, req, request)));
          else sendIncomplete(res, session);
        }),
      );
      return;
    }
    const start = range.kind === 'whole' ? 0 : range.start;
    if (start > session.persistedLength) {
      return refuseAfterBody(
        new HttpError(400, 'invalid', `Invalid request. There were ${session.persistedLength} byte(s) persisted but the request starts at byte ${start}.`),
      );
    }
    // Bytes resent that the session already holds (a resend after a lost answer) are skipped.
    const freshStart = session.persistedLength;
    let skip = freshStart - start;
    const fresh: Buffer[] = [];
    let received = 0;
    let state: 'receiving' | 'done' | 'draining' | 'stalled' = 'receiving';
    const take = (piece: Buffer): void => {
      const skipped = Math.min(skip, piece.length);
      skip -= skipped;
      if (skipped < piece.length) fresh.push(piece.subarray(skipped));
    };
    req.on('data', (chunk: Buffer) => {
      if (state !== 'receiving') return;
      let piece = chunk;
      const tripped = fault !== undefined && received + piece.length >= fault.bytes;
      if (tripped) piece = piece.subarray(0, fault.bytes - received);
      received += piece.length;
      take(piece);
      if (!tripped) return;
      addToSession(session, fresh, freshStart, true);
      if (fault.kind === 'drop-after-bytes') {
        state = 'done';
        req.socket.destroy();
      } else if (fault.kind === 'stall-after-bytes') {
        state = 'stalled';
        req.pause();
      } else {
        state = 'draining';
        const status = fault.status;
        req.once('end', () => sendJsonError(res, status, undefined, `Fault injected during a resumable upload: HTTP ${status}`));
      }
    });
    // A connection that breaks before the body ended: keep what arrived, as Cloud Storage does.
    req.once('close', () => {
      if (state !== 'receiving' && state !== 'stalled') return;
      if (req.complete && state === 'receiving') return;
      state = 'done';
      addToSession(session, fresh, freshStart, true);
    });
    req.once('end', () => {
      if (state !== 'receiving') return;
      state = 'done';
      answerWith(() => {
        // Another request finished the upload while this one was on its way.
        if (session.finished) return sendJson(res, 200, objectResource(session.finished));
        // Where this request's bytes end in the object, whatever else the session took meanwhile.
        const end = start + received;
        let total: number | undefined;
        let final: boolean;
        if (range.kind === 'whole') {
          total = end;
          final = true;
        } else if (range.end !== undefined) {
          if (range.end - range.start + 1 !== received) {
            throw new HttpError(400, 'invalid', `Content-Range ${req.headers['content-range']} does not match a body of ${received} bytes.`);
          }
          total = range.total;
          final = total !== undefined && range.end + 1 === total;
        } else if (range.total !== undefined) {
          total = range.total;
          final = true;
        } else {
          // 'bytes A-*/*': final only if it completes the declared size, or is the whole object from byte 0.
          final = session.declaredLength !== undefined ? end === session.declaredLength : range.start === 0;
          total = final ? end : undefined;
        }
        if (total !== undefined && (end > total || (final && end !== total))) {
          throw new HttpError(400, 'invalid', `Upload of ${end} bytes does not match the declared total of ${total}.`);
        }
        // A request that says it is not the last ('bytes A-B/*') must carry at least 256 KiB.
        if (!final && range.kind === 'data' && range.end !== undefined && received < RESUMABLE_CHUNK_GRANULARITY) {
          throw new HttpError(
            400,
            'invalid',
            `Invalid request. The number of bytes uploaded is required to be equal or greater than ${RESUMABLE_CHUNK_GRANULARITY}, except for the final request (it's recommended to be the exact multiple of ${RESUMABLE_CHUNK_GRANULARITY}). The received request contained ${received} bytes, which does not meet this requirement.`,
          );
        }
        if (!addToSession(session, fresh, freshStart, !final)) {
          throw new HttpError(
            400,
            'invalid',
            `Invalid request. There were ${session.persistedLength} byte(s) persisted but the request's new bytes start at byte ${freshStart}.`,
          );
        }
        if (final && session.persistedLength === total) {
          sendJson(res, 200, objectResource(finishResumableUpload(uploadId, session, req, request)));
          return;
        }
        sendIncomplete(res, session);
      });
    });
  };

  const cancelResumableUpload = (ctx: RequestContext): void => {
    const uploadId = ctx.url.searchParams.get('upload_id') ?? '';
    if (!uploads.delete(uploadId)) throw new HttpError(404, undefined, `No such upload session: ${uploadId}`);
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
    if (/^\/storage\/v1\/b\/?$/.test(path) && method === 'POST') return createBucket(ctx);
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
      if (method === 'DELETE') return cancelResumableUpload(ctx);
    }
    if ((m = /^\/([^/]+)\/(.+)$/.exec(path)) && isRead && !path.startsWith('/storage/') && !path.startsWith('/upload/')) {
      return readSignedUrl(ctx, decodePathSegment(m[1] ?? ''), (m[2] ?? '').split('/').map(decodePathSegment).join('/'));
    }
    throw new HttpError(404, 'notFound', `The test server has no route for ${method} ${path}`);
  };

  const isObjectRequest = (_method: string, path: string): boolean => !/^\/storage\/v1\/b(\/[^/?]+)?\/?(\?|$)/.test(path);
  const isUploadRequest = (_method: string, path: string): boolean => path.startsWith('/upload/');
  const anyRequest = (): boolean => true;

  /** The fault this request meets, if any: status/hang faults, byte faults (resumable data only) or corruption (at finish). */
  const takeFault = (method: string, path: string, category: 'request' | 'resumable-data' | 'corrupt'): Fault | undefined => {
    const fits = (spec: FaultSpec): boolean => {
      if (!('kind' in spec)) return category === 'request';
      if (spec.kind === 'corrupt-upload') return category === 'corrupt';
      return category === 'resumable-data';
    };
    const fault = faults.find((candidate) => candidate.remaining > 0 && fits(candidate.spec) && candidate.match(method, path));
    if (fault) fault.remaining -= 1;
    faults = faults.filter((candidate) => candidate.remaining > 0);
    return fault;
  };

  const sendError = (res: ServerResponse, error: unknown): void => {
    if (res.headersSent) return;
    if (error instanceof HttpError) {
      if (error.status === 304) res.writeHead(304).end();
      else sendJsonError(res, error.status, error.reason, error.message);
    } else {
      console.error('gcs-test-server: internal error', error);
      sendJsonError(res, 500, 'backendError', String(error));
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const url = new URL(target, 'http://127.0.0.1');
    // Listed as it arrives, so a request never answered (hung, stalled, cut) shows at once.
    const record: RequestRecord = { method, path: target, status: 0, bytes: 0 };
    requests.push(record);
    req.on('data', (chunk: Buffer) => {
      record.bytes += chunk.length;
    });
    req.on('error', () => undefined); // a client that vanishes mid-body
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    const isResumable =
      (method === 'PUT' || method === 'POST') && /^\/upload\/storage\/v1\/b\/[^/]+\/o\/?$/.test(url.pathname) && url.searchParams.has('upload_id');
    const isStatusQuery = /^bytes \*\//.test(String(req.headers['content-range'] ?? ''));
    const requestFault = takeFault(method, target, 'request')?.spec;
    if (requestFault !== undefined && !('kind' in requestFault)) {
      await readBody(req);
      if (requestFault.status === 'hang') return; // never answered; stop() destroys the socket
      sendJsonError(res, requestFault.status, undefined, `Injected fault: HTTP ${requestFault.status}`);
      return;
    }
    if (isResumable) {
      const byteFault = isStatusQuery ? undefined : takeFault(method, target, 'resumable-data')?.spec;
      receiveResumable(req, res, url, byteFault as ByteFault | undefined);
      return;
    }
    const body = await readBody(req);
    try {
      route({ req, res, method, url, body });
    } catch (error) {
      sendError(res, error);
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      console.error('gcs-test-server: request failed', error);
      res.destroy();
    });
  };
  const listen = (server: Server, port: number, host: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  // 127.0.0.1 on a free port, and ::1 on the same port when this machine has IPv6 loopback, so
  // `localhost` reaches this server whichever address it resolves to first.
  const servers: Server[] = [];
  for (let attempt = 1; servers.length === 0; attempt++) {
    const v4 = createServer(listener);
    await listen(v4, 0, '127.0.0.1');
    const candidatePort = (v4.address() as AddressInfo).port;
    const v6 = createServer(listener);
    try {
      await listen(v6, candidatePort, '::1');
      servers.push(v4, v6);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT' || attempt >= 5) {
        if (code === 'EADDRINUSE') throw new Error(`gcs-test-server: no port free on both 127.0.0.1 and ::1 after ${attempt} tries`, { cause: error });
        servers.push(v4); // no IPv6 loopback here: localhost resolves to 127.0.0.1
      } else {
        await new Promise<void>((resolve) => v4.close(() => resolve())); // ::1 port taken by someone else: try another
      }
    }
  }
  const port = (servers[0]?.address() as AddressInfo).port;
  serverPort = port;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    localhostUrl: `http://localhost:${port}`,
    port,
    requests,
    objects: (bucketName) =>
      [...(buckets.get(bucketName)?.objects.values() ?? [])]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map(({ updated: _updated, contentEncoding: _contentEncoding, ...object }) => ({
          ...object,
          bytes: Buffer.from(object.bytes),
          metadata: { ...object.metadata },
        })),
    objectSummaries: (bucketName) =>
      [...(buckets.get(bucketName)?.objects.values() ?? [])]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map(({ updated: _updated, contentEncoding: _contentEncoding, bytes, ...object }) => ({
          ...object,
          size: bytes.length,
          metadata: { ...object.metadata },
        })),
    injectFault: (spec) => {
      const defaultMatch = !('kind' in spec) ? isObjectRequest : spec.kind === 'corrupt-upload' ? isUploadRequest : anyRequest;
      const count = 'kind' in spec ? (spec.count ?? 1) : spec.count;
      faults.push({ spec, remaining: count, match: spec.match ?? defaultMatch });
    },
    clearFaults: () => {
      faults = [];
    },
    configure: (settings) => {
      if (settings.checksumMismatch !== undefined) checksumMismatch = settings.checksumMismatch;
    },
    stop: async () => {
      stopping = true;
      const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      for (const server of servers) server.closeAllConnections();
      await Promise.all(closed);
      await Promise.all([...pendingPublishes]);
    },
  };
}
