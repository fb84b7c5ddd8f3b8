import { describe, expect, it } from 'vitest';
import { chunkObjectName } from '../../src/chunk.js';
import { parseChunkObjectName } from '../../src/bucket/chunk-object-names.js';

describe('parseChunkObjectName', () => {
  const chunk = { sourceId: 'cam0', sequence: 42, startTime: '2026-11-23T09:32:49.123Z' };

  it.each(['mp4', 'webm', 'mkv'] as const)('reads back the name of a %s chunk, with its container', (container) => {
    const name = chunkObjectName('site-a', { ...chunk, container });
    expect(name.endsWith(`.${container}`)).toBe(true);
    expect(parseChunkObjectName('site-a', 'cam0', name)).toEqual({ source: 'cam0', startTime: chunk.startTime, sequence: 42, container });
  });

  it.each([
    ['another extension', 'site-a/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.avi'],
    ['the wrong day folder', 'site-a/cam0/2026-11-24/cam0_20261123T093249.123Z_0000000042.mp4'],
    ['another source', 'site-a/cam1/2026-11-23/cam1_20261123T093249.123Z_0000000042.mp4'],
    ['no prefix', 'cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4'],
  ])('refuses %s', (_label, name) => {
    expect(parseChunkObjectName('site-a', 'cam0', name)).toBeUndefined();
  });
});
