import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MIN_FREE_BYTES,
  chooseChunksToDrop,
  decideSpoolAction,
  resolveSpoolLimits,
  spoolFullReason,
  type SpoolLimits,
} from '../../src/spool/spool-policy.js';

const MB = 1024 * 1024;
const stopRecording: SpoolLimits = { maxBytes: 100 * MB, minFreeBytes: 10 * MB, policy: 'stop-recording' };
const dropOldest: SpoolLimits = { ...stopRecording, policy: 'drop-oldest' };

describe('spoolFullReason', () => {
  it('names the quota setting when the spool holds too much', () => {
    expect(spoolFullReason({ bytes: 100 * MB, freeBytes: 1000 * MB }, stopRecording)).toBe(`spool holds ${100 * MB} bytes, quota SPOOL_MAX_BYTES=${100 * MB}`);
  });

  it('names the free-space setting when the disk is nearly full', () => {
    expect(spoolFullReason({ bytes: 0, freeBytes: 5 * MB }, stopRecording)).toBe(
      `${5 * MB} bytes free on the spool disk, below SPOOL_MIN_FREE_BYTES=${10 * MB}`,
    );
  });

  it('is undefined with room left, and ignores the quota when it is 0', () => {
    expect(spoolFullReason({ bytes: 99 * MB, freeBytes: 10 * MB }, stopRecording)).toBeUndefined();
    expect(spoolFullReason({ bytes: 10_000 * MB, freeBytes: 1000 * MB }, { ...stopRecording, maxBytes: 0 })).toBeUndefined();
  });
});

describe('decideSpoolAction', () => {
  describe('stop-recording', () => {
    it('pauses when full, with the reason', () => {
      expect(decideSpoolAction({ bytes: 100 * MB, freeBytes: 1000 * MB }, stopRecording, false)).toEqual({
        kind: 'pause',
        reason: `spool holds ${100 * MB} bytes, quota SPOOL_MAX_BYTES=${100 * MB}`,
      });
    });

    it('stays paused until usage is below 90% of the limits, then resumes', () => {
      expect(decideSpoolAction({ bytes: 95 * MB, freeBytes: 1000 * MB }, stopRecording, true)).toEqual({ kind: 'none' });
      expect(decideSpoolAction({ bytes: 89 * MB, freeBytes: 10.5 * MB }, stopRecording, true)).toEqual({ kind: 'none' });
      expect(decideSpoolAction({ bytes: 89 * MB, freeBytes: 12 * MB }, stopRecording, true)).toEqual({ kind: 'resume' });
    });

    it('does nothing while there is room', () => {
      expect(decideSpoolAction({ bytes: 50 * MB, freeBytes: 1000 * MB }, stopRecording, false)).toEqual({ kind: 'none' });
    });
  });

  describe('drop-oldest', () => {
    it('frees enough to get back under 90% of the quota', () => {
      expect(decideSpoolAction({ bytes: 100 * MB, freeBytes: 1000 * MB }, dropOldest, false)).toEqual({
        kind: 'drop',
        bytesToFree: Math.ceil(100 * MB - 90 * MB),
        reason: `spool holds ${100 * MB} bytes, quota SPOOL_MAX_BYTES=${100 * MB}`,
      });
    });

    it('frees enough to get the free space back above the minimum / 0.9', () => {
      const action = decideSpoolAction({ bytes: 0, freeBytes: 5 * MB }, dropOldest, false);
      expect(action).toMatchObject({ kind: 'drop', bytesToFree: Math.ceil((10 * MB) / 0.9 - 5 * MB) });
    });

    it('does nothing while there is room', () => {
      expect(decideSpoolAction({ bytes: 95 * MB, freeBytes: 1000 * MB }, dropOldest, false)).toEqual({ kind: 'none' });
    });
  });
});

describe('chooseChunksToDrop', () => {
  const chunk = (startTime: string, bytes: number) => ({ startTime, bytes });

  it('takes the oldest chunks until their sizes add up to the bytes to free', () => {
    const candidates = [
      chunk('2026-11-23T09:00:06Z', 30),
      chunk('2026-11-23T09:00:00Z', 10),
      chunk('2026-11-23T09:00:03Z', 20),
      chunk('2026-11-23T09:00:09Z', 40),
    ];
    expect(chooseChunksToDrop(candidates, 25)).toEqual([chunk('2026-11-23T09:00:00Z', 10), chunk('2026-11-23T09:00:03Z', 20)]);
    expect(chooseChunksToDrop(candidates, 30)).toEqual([chunk('2026-11-23T09:00:00Z', 10), chunk('2026-11-23T09:00:03Z', 20)]);
  });

  it('takes everything when even that is not enough, and nothing when nothing is to be freed', () => {
    const candidates = [chunk('2026-11-23T09:00:00Z', 10)];
    expect(chooseChunksToDrop(candidates, 1000)).toEqual(candidates);
    expect(chooseChunksToDrop(candidates, 0)).toEqual([]);
  });

  it('does not reorder its input', () => {
    const candidates = [chunk('2026-11-23T09:00:06Z', 1), chunk('2026-11-23T09:00:00Z', 1)];
    chooseChunksToDrop(candidates, 2);
    expect(candidates[0]?.startTime).toBe('2026-11-23T09:00:06Z');
  });
});

// Found by an adversarial run: a 64 MB spool with the default 256 MiB floor recorded 0 chunks,
// "resumes when uploads make room", for ever.
describe('resolveSpoolLimits', () => {
  const GB = 1024 * MB;
  it('keeps 256 MiB free on a large disk, and a tenth of a small one', () => {
    expect(resolveSpoolLimits({ maxBytes: 0, minFreeBytes: undefined, policy: 'stop-recording' }, 100 * GB).limits.minFreeBytes).toBe(DEFAULT_MIN_FREE_BYTES);
    expect(resolveSpoolLimits({ maxBytes: 0, minFreeBytes: undefined, policy: 'stop-recording' }, 64 * MB).limits.minFreeBytes).toBe(Math.floor(6.4 * MB));
  });

  it('keeps an explicit floor the disk can satisfy', () => {
    expect(resolveSpoolLimits({ maxBytes: 0, minFreeBytes: 10 * MB, policy: 'drop-oldest' }, 64 * MB)).toEqual({
      limits: { maxBytes: 0, minFreeBytes: 10 * MB, policy: 'drop-oldest' },
      problems: [],
    });
  });

  it('refuses a floor the disk cannot satisfy, with the numbers and what to do', () => {
    const { problems } = resolveSpoolLimits({ maxBytes: 0, minFreeBytes: 256 * MB, policy: 'stop-recording' }, 64 * MB);
    expect(problems).toEqual([
      {
        setting: 'SPOOL_MIN_FREE_BYTES',
        message: expect.stringContaining(`268435456 bytes must stay free, but the spool's file system holds 67108864 bytes in all`) as unknown,
      },
    ]);
  });

  it('refuses a quota larger than the disk leaves', () => {
    const { problems } = resolveSpoolLimits({ maxBytes: 100 * MB, minFreeBytes: undefined, policy: 'stop-recording' }, 64 * MB);
    expect(problems.map((p) => p.setting)).toEqual(['SPOOL_MAX_BYTES']);
  });
});
