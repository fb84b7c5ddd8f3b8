/** Where chunks go. Both backends create objects only if absent, so a retry never duplicates. */
export interface ObjectStore {
  /** For logs: gs://bucket or file:///dir. */
  readonly description: string;
  readonly bucket: string;
  /**
   * Stores the file as the object, create-only. The file is read once, from disk, and checked
   * against `source.size` and `source.crc32c` as it is read: a file that does not match is not
   * stored (SourceMismatchError).
   */
  put(request: PutObjectRequest, options?: PutOptions): Promise<PutObjectResult>;
  /** What is stored under this name, or undefined if nothing is. */
  head(name: string): Promise<StoredObjectSummary | undefined>;
}

export interface StoredObjectSummary {
  generation: string;
  crc32c: string;
  size: number;
}

/** The file to store and what it must be: its recorded size and CRC32C. */
export interface ObjectSource {
  path: string;
  size: number;
  /** Base64 big-endian CRC32C, as recorded; the store checks the file against it, and so does the bucket. */
  crc32c: string;
}

export interface PutObjectRequest {
  name: string;
  source: ObjectSource;
  contentType: string;
  /** Custom metadata, every value a string. */
  metadata: Record<string, string>;
}

export interface PutOptions {
  /** Aborting stops the upload where it is; what the bucket already holds may be resumed later. */
  signal?: AbortSignal;
  /** Called whenever the upload moved forward (bytes taken by the connection, or acknowledged). */
  onProgress?: () => void;
}

export interface PutObjectResult {
  /** `created`: this call stored it. `already-present`: an earlier attempt did, with the same bytes. */
  outcome: 'created' | 'already-present';
  generation: string;
  /** True when this call continued an upload session an earlier attempt had started. */
  resumedSession?: boolean;
}

/** An object with this name exists with other bytes: never overwrite evidence. */
export class ObjectConflictError extends Error {
  constructor(
    readonly objectName: string,
    detail: string,
  ) {
    super(`object ${objectName} already exists with different content (${detail}); left untouched`);
    this.name = 'ObjectConflictError';
  }
}

/** The file on disk is not what the request says (size or CRC32C): it was not stored. */
export class SourceMismatchError extends Error {
  constructor(
    readonly path: string,
    /** e.g. `crc32c AAAAAA==, recorded BBBBBB==` */
    readonly detail: string,
  ) {
    super(`${path} does not match what it should hold (${detail}): not stored`);
    this.name = 'SourceMismatchError';
  }
}

/**
 * The bucket refused the upload because the bytes it received do not match the CRC32C we declared,
 * while the file on disk does match it: the bytes were corrupted on the way. Nothing was stored;
 * a new upload can succeed.
 */
export class CorruptedUploadError extends Error {
  constructor(
    readonly objectName: string,
    readonly status: number | undefined,
    detail: string,
  ) {
    super(
      `corrupted upload of ${objectName}: the bucket refused the bytes it received (${detail}); the file on disk matches its recorded CRC32C, nothing was stored, the upload is retried`,
    );
    this.name = 'CorruptedUploadError';
  }
}
