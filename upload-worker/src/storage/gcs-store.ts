import { Storage, type StorageOptions } from '@google-cloud/storage';
import { ObjectConflictError, type ObjectStore, type PutObjectRequest, type PutObjectResult } from './object-store.js';

/** Above this size an upload goes through a resumable session that survives dropped connections. */
const RESUMABLE_THRESHOLD_BYTES = 16 * 1024 * 1024;

export interface GcsStoreSettings {
  bucket: string;
  projectId?: string;
  /** A JSON API endpoint other than Google's: fake-gcs-server, or our test server. */
  apiEndpoint?: string;
}

/** The HTTP status of a client error: `.code` from JSON API calls, `.status` from resumable starts. */
function statusOf(error: unknown): number | undefined {
  const { code, status, response } = error as { code?: unknown; status?: unknown; response?: { status?: unknown } };
  for (const candidate of [code, status, response?.status]) if (typeof candidate === 'number') return candidate;
  return undefined;
}

export function createGcsStore(settings: GcsStoreSettings): ObjectStore {
  const options: StorageOptions = {
    // The client retries a few times quickly; BullMQ's backoff handles longer outages.
    retryOptions: { autoRetry: true, maxRetries: 2, retryDelayMultiplier: 2, totalTimeout: 60, maxRetryDelay: 4 },
  };
  if (settings.projectId !== undefined) options.projectId = settings.projectId;
  if (settings.apiEndpoint !== undefined) options.apiEndpoint = settings.apiEndpoint;
  const storage = new Storage(options);
  const bucket = storage.bucket(settings.bucket);

  return {
    description: `gs://${settings.bucket}`,
    bucket: settings.bucket,
    async put(request: PutObjectRequest): Promise<PutObjectResult> {
      const file = bucket.file(request.name);
      try {
        await file.save(request.bytes, {
          resumable: request.bytes.byteLength > RESUMABLE_THRESHOLD_BYTES,
          validation: 'crc32c',
          contentType: request.contentType,
          // With crc32c in the resource, Cloud Storage itself rejects bytes that do not match.
          metadata: { contentType: request.contentType, crc32c: request.crc32c, metadata: request.metadata },
          // Create only: a retry after a lost response must not write a second generation.
          preconditionOpts: { ifGenerationMatch: 0 },
        });
        // The upload's response already carried the new object's resource.
        return { outcome: 'created', generation: String(file.metadata.generation ?? '') };
      } catch (error) {
        if (statusOf(error) !== 412) throw error;
        const [existing] = await file.getMetadata();
        if (existing.crc32c !== request.crc32c || Number(existing.size) !== request.bytes.byteLength) {
          throw new ObjectConflictError(request.name, `stored crc32c ${existing.crc32c}, size ${existing.size}`);
        }
        return { outcome: 'already-present', generation: String(existing.generation) };
      }
    },

    async head(name) {
      try {
        const [stored] = await bucket.file(name).getMetadata();
        return { generation: String(stored.generation), crc32c: String(stored.crc32c), size: Number(stored.size) };
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    },
  };
}
