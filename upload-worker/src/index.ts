export { uploadChunk, SpoolFileMissingError, ChunkCorruptError, type UploadResult } from './upload-chunk.js';
export { parseBucketUrl, type BucketLocation } from './storage/bucket-url.js';
export { createLocalBucket, type LocalBucket } from './storage/local-bucket.js';
export { createGcsStore, RESUMABLE_THRESHOLD_BYTES, RESUMABLE_CHUNK_BYTES } from './storage/gcs-store.js';
export { ObjectConflictError, CorruptedUploadError, SourceMismatchError, type ObjectStore } from './storage/object-store.js';
