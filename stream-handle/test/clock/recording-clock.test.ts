import { describe, expect, it } from 'vitest';
import { RecordingClock, listOffsetFromFirstChunk } from '../../src/clock/recording-clock.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('RecordingClock: a file or stream placed on the host clock', () => {
  const opened = at('2026-11-23T09:00:00.000Z');

  it('starts at the output opening plus the segment start, rounded to the millisecond', () => {
    const clock = new RecordingClock('http', opened - 500, undefined);
    clock.noteOutputOpened(opened);
    expect(clock.placeChunk({ fileName: 'a', startSeconds: 0, endSeconds: 3 }, 3000, opened + 4000)).toEqual({
      startMs: opened,
      clock: 'host',
      mediaStartSeconds: 0,
    });
    expect(iso(clock.placeChunk({ fileName: 'b', startSeconds: 3.0333333, endSeconds: 6 }, 2967, opened + 7000).startMs)).toBe('2026-11-23T09:00:03.033Z');
  });

  it('falls back on the spawn time when ffmpeg never says it opened its output', () => {
    const clock = new RecordingClock('http', opened, undefined);
    expect(clock.placeChunk({ fileName: 'a', startSeconds: 6, endSeconds: 9 }, 3000, opened + 1).startMs).toBe(opened + 6000);
  });

  it('subtracts the list offset learnt from the first chunk (B-frames), and never starts before the recording', () => {
    const clock = new RecordingClock('http', opened, undefined);
    clock.noteOutputOpened(opened);
    // The first chunk's list says 4.067 s for 4 s of media: later list times run 67 ms ahead.
    expect(clock.placeChunk({ fileName: 'a', startSeconds: 0, endSeconds: 4.067 }, 4000, opened).startMs).toBe(opened);
    expect(iso(clock.placeChunk({ fileName: 'b', startSeconds: 4.067, endSeconds: 6.067 }, 2000, opened).startMs)).toBe('2026-11-23T09:00:04.000Z');
  });
});

describe('RecordingClock: a file placed on its own clock', () => {
  it('starts at its creation time when it has one', () => {
    const clock = new RecordingClock('file', at('2026-11-23T12:00:00.000Z'), at('2026-11-01T00:00:00.000Z'));
    clock.noteFileCreationTime(at('2024-05-01T10:00:00.000Z'));
    clock.noteFileDuration(30_000);
    expect(clock.placeChunk({ fileName: 'b', startSeconds: 4, endSeconds: 6 }, 2000, 0)).toEqual({
      startMs: at('2024-05-01T10:00:04.000Z'),
      clock: 'file',
      mediaStartSeconds: 4,
    });
  });

  it('without one, starts its duration before its modification time', () => {
    const clock = new RecordingClock('file', 0, at('2026-11-01T00:00:30.000Z'));
    clock.noteFileDuration(30_000);
    expect(clock.placeChunk({ fileName: 'a', startSeconds: 0, endSeconds: 4 }, 4000, 0)).toEqual({
      startMs: at('2026-11-01T00:00:00.000Z'),
      clock: 'file',
      mediaStartSeconds: 0,
    });
  });

  it('places a resumed file after the media it skipped', () => {
    const clock = new RecordingClock('file', 0, at('2026-11-01T00:00:30.000Z'), 12);
    clock.noteFileDuration(30_000);
    const placement = clock.placeChunk({ fileName: 'a', startSeconds: 0, endSeconds: 4 }, 4000, 0);
    expect(iso(placement.startMs)).toBe('2026-11-01T00:00:12.000Z');
    expect(placement.mediaStartSeconds).toBe(12);
  });

  it('ignores file times for a camera', () => {
    const clock = new RecordingClock('rtsp', 1000, undefined);
    clock.noteFileCreationTime(at('2024-05-01T10:00:00.000Z'));
    expect(clock.placeChunk({ fileName: 'a', startSeconds: 0, endSeconds: 1 }, 1000, 5000).clock).toBe('host');
  });
});

describe('RecordingClock: a live camera anchored on its first chunk', () => {
  const opened = at('2026-11-23T09:00:02.500Z');
  const listed = at('2026-11-23T09:00:05.600Z');

  it("puts time 0 at the first chunk's listing less its listed end, when that is earlier than the output opening", () => {
    // The first packet arrived at 09:00:01.600; ffmpeg probed until 09:00:02.500; the first chunk
    // (4 s of list time, all of it media) was listed at 09:00:05.600.
    const clock = new RecordingClock('rtsp', opened - 100, undefined);
    clock.noteOutputOpened(opened);
    expect(iso(clock.placeChunk({ fileName: 'c', startSeconds: 0, endSeconds: 4 }, 4000, listed).startMs)).toBe('2026-11-23T09:00:01.600Z');
  });

  it('starts the first chunk at its first keyframe, its media length before its end, so the next follows without a gap', () => {
    // The stream was joined mid-GOP: the list says 0-3.5 s, the chunk holds 2 s from the keyframe.
    const clock = new RecordingClock('rtsp', opened - 100, undefined);
    clock.noteOutputOpened(opened);
    const first = clock.placeChunk({ fileName: 'c', startSeconds: 0, endSeconds: 3.5 }, 2000, listed);
    expect(first.startMs + 2000).toBe(listed);
    const second = clock.placeChunk({ fileName: 'd', startSeconds: 3.5, endSeconds: 5.5 }, 2000, listed + 2000);
    expect(second.startMs).toBe(listed);
  });

  it('keeps the output opening when the first chunk was listed late (it ended while ffmpeg was still probing)', () => {
    const clock = new RecordingClock('rtsp', opened - 100, undefined);
    clock.noteOutputOpened(opened);
    expect(clock.placeChunk({ fileName: 'c', startSeconds: 0, endSeconds: 1 }, 1000, at('2026-11-23T09:00:07.000Z')).startMs).toBe(opened);
  });
});

describe('listOffsetFromFirstChunk', () => {
  it('is the listed length beyond the media length', () => {
    expect(listOffsetFromFirstChunk({ fileName: 'x', startSeconds: 0, endSeconds: 4.066667 }, 4000)).toBeCloseTo(0.066667, 6);
  });

  it('is 0 when the list is not longer than the media, or is a second or more longer', () => {
    expect(listOffsetFromFirstChunk({ fileName: 'x', startSeconds: 0, endSeconds: 4 }, 4000)).toBe(0);
    expect(listOffsetFromFirstChunk({ fileName: 'x', startSeconds: 0, endSeconds: 3.9 }, 4000)).toBe(0);
    expect(listOffsetFromFirstChunk({ fileName: 'x', startSeconds: 0, endSeconds: 5 }, 4000)).toBe(0);
  });
});
