export * from './chunk-gaps.js';
export * from './coverage.js';
export * from './stored-chunks.js';
export * from '../bucket/chunk-object-names.js';
