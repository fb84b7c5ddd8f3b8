export { uploadChunk, SpoolFileMissingError, ChunkCorruptError, type UploadResult } from './upload-chunk.js';
export { parseBucketUrl, type BucketLocation } from './storage/bucket-url.js';
export { createLocalBucket, type LocalBucket } from './storage/local-bucket.js';
export { createGcsStore } from './storage/gcs-store.js';
export { ObjectConflictError, type ObjectStore } from './storage/object-store.js';
