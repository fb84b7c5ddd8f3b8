export { loadStreamHandleConfig, type StreamHandleConfig } from './config.js';
export { buildRecorderArgs } from './recorder/recorder-args.js';
export { parseSegmentListLine } from './recorder/segment-list.js';
export { buildChunkMetadata } from './source/chunk-metadata.js';
