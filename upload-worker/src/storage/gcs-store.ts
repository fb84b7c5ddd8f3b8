import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Storage, type FileMetadata, type StorageOptions } from '@google-cloud/storage';
import type { Logger } from '@crispy-streamer/shared';
import { httpStatusOf, isStorageUnavailable } from '../upload-failure.js';
import { DigestStream, readVerified } from './file-digest.js';
import {
  CorruptedUploadError,
  ObjectConflictError,
  SourceMismatchError,
  type ObjectStore,
  type PutObjectRequest,
  type PutObjectResult,
  type PutOptions,
  type StoredObjectSummary,
} from './object-store.js';
import { refusalOf, settleRefusal } from './upload-refusal.js';
import { memoryUploadSessions, type UploadSessionKey, type UploadSessions } from './upload-sessions.js';

const MiB = 1024 * 1024;

/**
 * Chunks up to this size go up in one multipart request, read whole into memory and checked before
 * they are sent; larger ones stream from the spool through a resumable session.
 */
export const RESUMABLE_THRESHOLD_BYTES = 16 * MiB;

/**
 * One request of a resumable upload carries this much (a multiple of 256 KiB, as Cloud Storage
 * requires). The client holds one such piece in memory so it can send again what a dropped
 * connection lost: it bounds both the memory an upload takes and the bytes a fault costs.
 */
export const RESUMABLE_CHUNK_BYTES = 8 * MiB;

/**
 * Retries inside one attempt, by the storage client: after a dropped connection or a 5xx it asks the
 * session what it holds and continues from there. `totalTimeout` is counted from the start of the
 * upload, so it is long: the worker's progress timeout bounds a stalled attempt instead.
 */
export const GCS_RETRY_OPTIONS = {
  autoRetry: true,
  maxRetries: 3,
  retryDelayMultiplier: 2,
  maxRetryDelay: 2,
  totalTimeout: 24 * 3600,
  // One definition of "storage or the network failed" for the client's retries and the worker's pauses.
  retryableErrorFn: (error: unknown) => isStorageUnavailable(error),
} satisfies StorageOptions['retryOptions'];

export interface GcsStoreSettings {
  bucket: string;
  projectId?: string;
  /** A JSON API endpoint other than Google's: fake-gcs-server, or our test server. */
  apiEndpoint?: string;
  /** Where resumable sessions wait for the next attempt; in memory only when not given. */
  sessions?: UploadSessions;
  logger?: Logger;
}

type StreamOutcome = { ok: true; resource: FileMetadata } | { ok: false; error: unknown; uri: string | undefined; fileMismatch: string | undefined };

function isObjectResource(data: unknown): data is FileMetadata {
  return (
    typeof data === 'object' &&
    data !== null &&
    typeof (data as { name?: unknown }).name === 'string' &&
    (data as { generation?: unknown }).generation !== undefined
  );
}

export function createGcsStore(settings: GcsStoreSettings): ObjectStore {
  const options: StorageOptions = { retryOptions: { ...GCS_RETRY_OPTIONS } };
  if (settings.projectId !== undefined) options.projectId = settings.projectId;
  if (settings.apiEndpoint !== undefined) options.apiEndpoint = settings.apiEndpoint;
  const storage = new Storage(options);
  const bucket = storage.bucket(settings.bucket);
  const sessions = settings.sessions ?? memoryUploadSessions();
  const logger = settings.logger;

  const head = async (name: string): Promise<StoredObjectSummary | undefined> => {
    try {
      const [stored] = await bucket.file(name).getMetadata();
      return { generation: String(stored.generation), crc32c: String(stored.crc32c), size: Number(stored.size) };
    } catch (error) {
      if (httpStatusOf(error) === 404) return undefined;
      throw error;
    }
  };

  /** The bucket's answer to a finished upload, checked against what we meant to store. */
  const created = (resource: FileMetadata, request: PutObjectRequest, resumedSession: boolean): PutObjectResult => {
    const { size, crc32c } = request.source;
    if (resource.crc32c !== crc32c || Number(resource.size) !== size) {
      // Cannot happen with a bucket that checks the CRC32C we declared; say so loudly if it does.
      throw new Error(
        `the bucket stored ${request.name} with crc32c ${String(resource.crc32c)} and size ${String(resource.size)}, not the recorded ${crc32c} and ${size}: ` +
          'it did not check the declared CRC32C; the object is left for a person to look at',
      );
    }
    return { outcome: 'created', generation: String(resource.generation ?? ''), ...(resumedSession ? { resumedSession: true } : {}) };
  };

  /** A refused upload becomes already-present, a conflict, a corrupted upload or a bad file; anything else is rethrown. */
  const settle = async (error: unknown, request: PutObjectRequest, fileMismatch: string | undefined): Promise<PutObjectResult> => {
    const refusal = refusalOf(error);
    if (refusal === undefined) {
      if (fileMismatch !== undefined) throw new SourceMismatchError(request.source.path, fileMismatch);
      throw error;
    }
    const stored = refusal.status === 412 ? await head(request.name) : undefined;
    const outcome = settleRefusal(refusal, stored, request.source, fileMismatch);
    switch (outcome.kind) {
      case 'already-present':
        return { outcome: 'already-present', generation: outcome.generation };
      case 'conflict':
        throw new ObjectConflictError(request.name, outcome.detail);
      case 'source-mismatch':
        throw new SourceMismatchError(request.source.path, outcome.detail);
      case 'corrupted-upload':
        throw new CorruptedUploadError(request.name, refusal.status, outcome.detail);
    }
  };

  const putMultipart = async (request: PutObjectRequest): Promise<PutObjectResult> => {
    const bytes = await readVerified(request.source);
    const file = bucket.file(request.name);
    try {
      await file.save(bytes, {
        resumable: false,
        // The bucket checks the CRC32C we declare, and we check its answer below. (The client's own
        // check would delete an object it disagrees with, without a precondition.)
        validation: false,
        contentType: request.contentType,
        metadata: { contentType: request.contentType, crc32c: request.source.crc32c, metadata: request.metadata },
        // Create only: a retry after a lost response must not write a second generation.
        preconditionOpts: { ifGenerationMatch: 0 },
      });
    } catch (error) {
      return settle(error, request, undefined);
    }
    return created(file.metadata, request, false);
  };

  /**
   * One pass over the file into a resumable session (`uri`, or a new one). The file is read once,
   * from its start: the client skips the part the session already holds, and the digest sees every
   * byte, so the whole file is checked against its record in the same read that uploads it.
   */
  const streamOnce = async (request: PutObjectRequest, uri: string | undefined, key: UploadSessionKey, put: PutOptions): Promise<StreamOutcome> => {
    const file = bucket.file(request.name);
    const digest = new DigestStream({ onData: put.onProgress });
    let sessionUri = uri;
    let completed: FileMetadata | undefined;
    // A session that had already finished (its answer lost) answers the first request with the
    // object: stop reading then, the rest of the file is not needed.
    const finishedEarly = new AbortController();
    const writable = file.createWriteStream({
      resumable: true,
      chunkSize: RESUMABLE_CHUNK_BYTES,
      validation: false,
      ...(uri !== undefined ? { uri } : {}),
      // contentLength states the total size, so a request resumed mid-way can be the final one.
      metadata: { contentType: request.contentType, contentLength: request.source.size, crc32c: request.source.crc32c, metadata: request.metadata },
      preconditionOpts: { ifGenerationMatch: 0 },
    });
    writable.on('uri', (created: string) => {
      sessionUri = created;
      void sessions.save(key, created);
    });
    writable.on('progress', () => put.onProgress?.());
    writable.on('response', (response: { status?: number; data?: unknown }) => {
      put.onProgress?.();
      const status = response.status ?? 0;
      if (status >= 200 && status < 300 && isObjectResource(response.data)) {
        completed = response.data;
        if (digest.bytes < request.source.size) finishedEarly.abort();
      }
    });
    const signal = put.signal === undefined ? finishedEarly.signal : AbortSignal.any([put.signal, finishedEarly.signal]);
    try {
      await pipeline(createReadStream(request.source.path), digest, writable, { signal });
    } catch (error) {
      if (completed === undefined || put.signal?.aborted === true) {
        const readToEnd = digest.bytes >= request.source.size;
        return { ok: false, error, uri: sessionUri, fileMismatch: readToEnd ? digest.mismatch(request.source) : undefined };
      }
    }
    if (digest.bytes >= request.source.size) {
      const mismatch = digest.mismatch(request.source);
      // The bucket took bytes that differ from the record: it cannot have checked the CRC32C.
      if (mismatch !== undefined)
        return {
          ok: false,
          error: new SourceMismatchError(request.source.path, `${mismatch}; the bucket accepted them`),
          uri: sessionUri,
          fileMismatch: mismatch,
        };
    }
    return { ok: true, resource: completed ?? file.metadata };
  };

  const putResumable = async (request: PutObjectRequest, put: PutOptions): Promise<PutObjectResult> => {
    const key: UploadSessionKey = { bucket: settings.bucket, object: request.name, size: request.source.size, crc32c: request.source.crc32c };
    let uri = await sessions.load(key);
    const resumedSession = uri !== undefined;
    for (let pass = 1; ; pass++) {
      const outcome = await streamOnce(request, uri, key, put);
      if (outcome.ok) {
        await sessions.clear(key);
        return created(outcome.resource, request, resumedSession);
      }
      const { error, fileMismatch } = outcome;
      // Stalled: the session stays for the next attempt, which continues it.
      if (put.signal?.aborted === true) throw put.signal.reason;
      const status = httpStatusOf(error);
      if (pass === 1 && uri !== undefined && (status === 404 || status === 410)) {
        logger?.info(
          { object: request.name, status },
          'the upload session of an earlier attempt is gone (expired or unknown to the bucket): starting a new one',
        );
        await sessions.clear(key);
        uri = undefined;
        continue;
      }
      if (pass === 1 && error instanceof RangeError && outcome.uri !== undefined) {
        // The session holds other than what the client counted on (it finished, its answer lost):
        // one more pass from the top of the file lets the client ask it again.
        uri = outcome.uri;
        continue;
      }
      if (refusalOf(error) !== undefined) await sessions.clear(key); // a refused session cannot finish
      return settle(error, request, fileMismatch);
    }
  };

  return {
    description: `gs://${settings.bucket}`,
    bucket: settings.bucket,
    async put(request, put = {}) {
      return request.source.size <= RESUMABLE_THRESHOLD_BYTES ? putMultipart(request) : putResumable(request, put);
    },
    head,
  };
}
