export { loadStreamHandleConfig, type StreamHandleConfig } from './config.js';
export { buildRecorderArgs, segmentFileName, sequenceOfSegmentFile } from './recorder-args.js';
export { parseSegmentListLine } from './segment-list.js';
export { buildChunkMetadata } from './chunk-metadata.js';
