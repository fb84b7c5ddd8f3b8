import { describe, expect, it } from 'vitest';
import {
  chunkFileName,
  chunkFilePath,
  chunkFilePattern,
  chunkOfJobDataFile,
  isSpoolChunkOrJobData,
  jobDataPath,
  parseChunkFileName,
  sourceSpoolDir,
} from '../../src/spool/spool-layout.js';

describe('chunk file names', () => {
  it('zero-pads the sequence to 10 digits, matching the ffmpeg pattern', () => {
    expect(chunkFilePattern('cam0', 'mp4')).toBe('cam0-%010d.mp4');
    expect(chunkFileName('cam0', 42, 'mp4')).toBe('cam0-0000000042.mp4');
    expect(chunkFileName('cam0', 12345678901, 'mp4')).toBe('cam0-12345678901.mp4');
  });

  it('round-trips a sequence through its file name', () => {
    for (const sequence of [0, 1, 42, 9999999999, 12345678901]) {
      expect(parseChunkFileName('cam0', chunkFileName('cam0', sequence, 'mp4'))).toEqual({ sequence, container: 'mp4' });
    }
  });

  it.each([
    ['another source', 'cam1-0000000001.mp4'],
    ['a source whose id starts with ours', 'cam0-b-0000000001.mp4'],
    ['fewer than 10 digits', 'cam0-1.mp4'],
    ['more digits than a safe integer holds', 'cam0-12345678901234567.mp4'],
    ['a job data file', 'cam0-0000000001.mp4.json'],
    ['a temporary file', 'cam0-0000000001.mp4.123.tmp'],
    ['state', 'state.json'],
    ['letters in the number', 'cam0-00000000x1.mp4'],
    ['another extension', 'cam0-0000000001.avi'],
  ])('rejects %s', (_label, name) => {
    expect(parseChunkFileName('cam0', name)).toBeUndefined();
  });
});

describe('paths in the spool', () => {
  it('puts each source in its own folder and derives a chunk path from what the chunk is', () => {
    expect(sourceSpoolDir('/spool', 'cam0')).toBe('/spool/cam0');
    expect(chunkFilePath('/spool', { sourceId: 'cam0', sequence: 7, container: 'mp4' })).toBe('/spool/cam0/cam0-0000000007.mp4');
  });

  it.each(['../etc', 'a/b', '', '.', 'x'.repeat(65)])('refuses %j as a source folder: it is not a source id', (id) => {
    expect(() => sourceSpoolDir('/spool', id)).toThrow(/not a source id/);
  });

  it('names job data beside its chunk, and finds the chunk of a job data file', () => {
    expect(jobDataPath('/spool/cam0/cam0-0000000007.mp4')).toBe('/spool/cam0/cam0-0000000007.mp4.json');
    expect(chunkOfJobDataFile('cam0', 'cam0-0000000007.mp4.json')).toEqual({ chunkFileName: 'cam0-0000000007.mp4', sequence: 7, container: 'mp4' });
    expect(chunkOfJobDataFile('cam0', 'state.json')).toBeUndefined();
    expect(chunkOfJobDataFile('cam0', 'cam1-0000000007.mp4.json')).toBeUndefined();
  });

  it('counts chunks and their job data towards usage, and nothing else', () => {
    expect(
      ['cam0-0000000001.mp4', 'cam0-0000000001.mp4.json', 'state.json', 'cam0-0000000002.mp4.1.abcd1234.tmp', 'notes.txt'].filter((name) =>
        isSpoolChunkOrJobData('cam0', name),
      ),
    ).toEqual(['cam0-0000000001.mp4', 'cam0-0000000001.mp4.json']);
  });
});

describe('chunk files of every container', () => {
  it('names, parses and patterns .webm and .mkv chunks like .mp4 ones', async () => {
    const { chunkFileName, chunkFilePattern, parseChunkFileName, chunkOfJobDataFile } = await import('../../src/spool/spool-layout.js');
    expect(chunkFileName('cam0', 7, 'webm')).toBe('cam0-0000000007.webm');
    expect(chunkFilePattern('cam0', 'mkv')).toBe('cam0-%010d.mkv');
    expect(parseChunkFileName('cam0', 'cam0-0000000007.mkv')).toEqual({ sequence: 7, container: 'mkv' });
    expect(parseChunkFileName('cam0', 'cam0-0000000007.webm')).toEqual({ sequence: 7, container: 'webm' });
    expect(parseChunkFileName('cam0', 'cam0-0000000007.avi')).toBeUndefined();
    expect(chunkOfJobDataFile('cam0', 'cam0-0000000007.webm.json')).toEqual({ chunkFileName: 'cam0-0000000007.webm', sequence: 7, container: 'webm' });
  });
});
