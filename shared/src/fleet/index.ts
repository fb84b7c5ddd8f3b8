export * from './status-keys.js';
export * from './camera-status.js';
export * from './camera-health.js';
export * from './upload-figures.js';
export * from './fleet-redis.js';
