export * from './chunk.js';
export * from './config-errors.js';
export * from './ffmpeg-binary.js';
export * from './logger.js';
export * from './redact.js';
export * from './mp4-inspect.js';
export * from './matroska-inspect.js';
export * from './chunk-inspect.js';
export * from './video-parameters.js';
export * from './storage-notification.js';
export * from './local-signed-url.js';
// Types only: the metrics (prom-client) and Redis (ioredis) live behind their own subpaths, so that
// what imports the root (the function) does not load them.
export type { RecorderMetrics, UploaderMetrics } from './metrics.js';
export * from './evidence/index.js';
export * from './backoff.js';
export * from './fs/atomic-write.js';
export * from './spool/spool-layout.js';
export * from './spool/job-data.js';
export * from './bucket/bucket-name.js';
export * from './bucket/bucket-url.js';
export * from './bucket/local-bucket-layout.js';
export * from './deadline.js';
export * from './errors.js';
export * from './service-settings.js';
