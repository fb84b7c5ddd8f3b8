// @crispy-streamer/shared/evidence: records, keys, signatures, the chain, the object metadata that
// carries them, and the one check of an object against its record.
export * from './record.js';
export * from './keys.js';
export * from './signature.js';
export * from './chain.js';
export * from './object-metadata.js';
export * from './check-object.js';
