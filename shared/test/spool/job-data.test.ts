import { describe, expect, it } from 'vitest';
import type { ChunkMetadata } from '../../src/chunk.js';
import { chunkMetadata } from '@crispy-streamer/harness/chunk-fixtures';
import { JOB_DATA_VERSION, JobDataError, makeJobData, parseJobData, parseJobDataText, serializeJobData } from '../../src/spool/job-data.js';

const metadata: ChunkMetadata = chunkMetadata({ bytes: 1234, crc32c: 'AAAAAA==' });

function problemsOf(value: unknown): string[] {
  try {
    parseJobData(value, 'job 1');
  } catch (error) {
    if (error instanceof JobDataError) return error.problems;
    throw error;
  }
  return [];
}

describe('job data', () => {
  it('round-trips through its JSON text, with its version', () => {
    const job = makeJobData(metadata, { evidenceRecord: '{}' });
    expect(job.v).toBe(JOB_DATA_VERSION);
    expect(parseJobDataText(serializeJobData(job), 'x')).toEqual(job);
  });

  it('reads job data written before versions, and ignores the path it named', () => {
    expect(parseJobData({ metadata, spoolPath: '/etc/shadow' }, 'x')).toEqual({ v: 1, metadata });
  });

  it('names every problem of a hostile job at once', () => {
    const problems = problemsOf({ v: 1, metadata: { ...metadata, sourceId: '../x', bytes: -1, crc32c: 'nope' }, spoolPath: '/any/file', evidence: { a: 1 } });
    expect(problems).toEqual([
      'unknown field "spoolPath"',
      'metadata.sourceId must be a source id, not "../x"',
      'metadata.bytes must be a whole number of bytes, not -1',
      'metadata.crc32c must be base64 of 4 bytes, not "nope"',
      'evidence must be an object of at most 16 string values',
    ]);
  });

  it.each([
    ['not an object', 'x', ['it is not a JSON object']],
    ['another version', { v: 2, metadata }, ['version 2 is not one this program reads (1)']],
    ['no metadata', { v: 1 }, ['metadata.metadata is not an object']],
    [
      'a date that does not exist',
      { v: 1, metadata: { ...metadata, startTime: '2026-02-30T00:00:00.000Z' } },
      ['metadata.startTime must be a UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ, not "2026-02-30T00:00:00.000Z"'],
    ],
    ['a fractional sequence', { v: 1, metadata: { ...metadata, sequence: 1.5 } }, ['metadata.sequence must be a whole number >= 0, not 1.5']],
  ])('refuses %s', (_label, value, problems) => {
    expect(problemsOf(value)).toEqual(problems);
  });

  it('says when the text is not JSON at all (a file cut short)', () => {
    expect(() => parseJobDataText('', '/spool/cam0/cam0-0000000001.mp4.json')).toThrow(/cam0-0000000001.mp4.json is not valid chunk job data: it is not JSON/);
  });
});
