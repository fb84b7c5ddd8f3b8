import { describe, expect, it } from 'vitest';
import { planFileIngest, readFileIngestState, type FileIngestState } from '../../src/source/file-ingest.js';

const file = { path: '/media/clip.mp4', size: 1000, mtimeMs: 1_700_000_000_000 };
const partly: FileIngestState = { ...file, ingestedSeconds: 12.5, complete: false, firstSequence: 0, lastSequence: 4 };

describe('planFileIngest', () => {
  it.each<[string, FileIngestState | undefined, ReturnType<typeof planFileIngest>['action']]>([
    ['a file never ingested starts from the beginning', undefined, 'start'],
    ['a file ingested part-way resumes', partly, 'resume'],
    ['a file ingested whole is not ingested again', { ...partly, complete: true }, 'skip'],
    ['another file at the same path (other size) starts over', { ...partly, size: 999 }, 'start'],
    ['another file at the same path (other time) starts over', { ...partly, mtimeMs: 1 }, 'start'],
    ['another path starts over', { ...partly, path: '/media/other.mp4' }, 'start'],
    ['a file stopped before its first chunk starts over', { ...partly, ingestedSeconds: 0 }, 'start'],
  ])('%s', (_label, saved, action) => {
    expect(planFileIngest(saved, file).action).toBe(action);
  });

  it('resumes at the end of the last chunk, after its sequence', () => {
    expect(planFileIngest(partly, file)).toEqual({ action: 'resume', atSeconds: 12.5, after: partly });
  });
});

describe('readFileIngestState', () => {
  it('reads what was saved, and takes anything else as no record', () => {
    expect(readFileIngestState(JSON.parse(JSON.stringify(partly)))).toEqual(partly);
    expect(readFileIngestState(undefined)).toBeUndefined();
    expect(readFileIngestState({ ...partly, ingestedSeconds: 'x' })).toBeUndefined();
    expect(readFileIngestState({ ...partly, complete: 1 })).toBeUndefined();
  });
});
