/** Where chunks go. Both backends create objects only if absent, so a retry never duplicates. */
export interface ObjectStore {
  /** For logs: gs://bucket or file:///dir. */
  readonly description: string;
  readonly bucket: string;
  put(request: PutObjectRequest): Promise<PutObjectResult>;
  /** What is stored under this name, or undefined if nothing is. */
  head(name: string): Promise<StoredObjectSummary | undefined>;
}

export interface StoredObjectSummary {
  generation: string;
  crc32c: string;
  size: number;
}

export interface PutObjectRequest {
  name: string;
  bytes: Buffer;
  contentType: string;
  /** Custom metadata, every value a string. */
  metadata: Record<string, string>;
  /** Base64 big-endian CRC32C of the bytes; the store checks it. */
  crc32c: string;
}

export interface PutObjectResult {
  /** `created`: this call stored it. `already-present`: an earlier attempt did, with the same bytes. */
  outcome: 'created' | 'already-present';
  generation: string;
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
