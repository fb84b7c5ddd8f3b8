import { describe, expect, it } from 'vitest';
import type { Mp4Info, Mp4ProducerTime } from '@crispy-streamer/shared';
import { CameraClockTracker } from '../../src/clock/camera-clock-tracker.js';
import { captureLogger } from '../support.js';

// Three-second chunks of a camera 3 s behind the node, one fragment a second: each chunk's media
// time starts at 0 (ffmpeg's -reset_timestamps), its prfts are the camera's time of each fragment.
const T0 = Date.parse('2026-12-02T00:00:00.000Z');

function chunk(index: number, cameraOffsetMs: number, stepAtFragment?: { fragment: number; stepMs: number }): Mp4Info {
  const producerTimes: Mp4ProducerTime[] = [0, 1, 2].map((fragment) => ({
    fragment,
    mediaSeconds: fragment,
    flags: 24,
    wallclockMs:
      T0 + index * 3000 + fragment * 1000 + cameraOffsetMs + (stepAtFragment !== undefined && fragment >= stepAtFragment.fragment ? stepAtFragment.stepMs : 0),
  }));
  return {
    container: 'mp4',
    brand: 'iso5',
    durationMs: 3000,
    frameCount: 90,
    frameRate: 30,
    codec: 'h264',
    width: 640,
    height: 360,
    hasAudio: false,
    timescale: 15360,
    fragmented: true,
    mediaStartSeconds: 0,
    producerTimes,
  };
}

function tracker(maxOffsetMs = 10_000) {
  const { logger, lines } = captureLogger();
  return { lines, clock: new CameraClockTracker({ sourceId: 'cam', logger, maxOffsetMs, hostSynchronised: () => true }) };
}

const host = (index: number) => ({ startMs: T0 + index * 3000, clock: 'host' as const, writtenAtMs: T0 + index * 3000 + 3000 });

describe('CameraClockTracker', () => {
  it('places chunks on the camera clock with both times and the offset, and marks no step while the clock runs on', () => {
    const { clock, lines } = tracker();
    const placed = [0, 1, 2].map((i) => clock.place(chunk(i, -3000), host(i)));
    for (const [i, p] of placed.entries()) {
      expect(p.placement).toMatchObject({ clock: 'camera', startMs: T0 + i * 3000 - 3000 });
      expect(p.facts).toMatchObject({
        hostTime: new Date(T0 + i * 3000).toISOString(),
        cameraTime: new Date(T0 + i * 3000 - 3000).toISOString(),
        clockOffsetMs: -3000,
        cameraTimeSource: 'sender-report',
      });
      expect(p.facts.cameraClockStepMs).toBeUndefined();
    }
    expect(lines.filter((l) => String(l.message).includes('stepped'))).toEqual([]);
  });

  it('a step between two chunks marks the second, and one inside a chunk marks that chunk', () => {
    const { clock, lines } = tracker();
    clock.place(chunk(0, -3000), host(0));
    const between = clock.place(chunk(1, 2000), host(1));
    expect(between.facts.cameraClockStepMs).toBe(5000);
    expect(between.facts.clockOffsetMs).toBe(2000);
    const inside = clock.place(chunk(2, 2000, { fragment: 2, stepMs: -1000 }), host(2));
    expect(inside.facts.cameraClockStepMs).toBe(-1000);
    expect(clock.place(chunk(3, 1000), host(3)).facts.cameraClockStepMs).toBeUndefined();
    expect(lines.filter((l) => String(l.message).startsWith("the camera's clock stepped")).map((l) => l.stepMs)).toEqual([5000, -1000]);
  });

  it('beyond the bound: on the node clock, warned once, and said when it is back', () => {
    const { clock, lines } = tracker(10_000);
    expect(clock.place(chunk(0, 3_600_000), host(0)).placement.clock).toBe('host');
    expect(clock.place(chunk(1, 3_600_000), host(1)).facts.clockOffsetMs).toBe(3_600_000);
    clock.newRecording();
    expect(clock.place(chunk(2, 0), host(2)).placement.clock).toBe('camera');
    expect(lines.filter((l) => String(l.message).includes('beyond CAMERA_CLOCK_MAX_OFFSET_SECONDS'))).toHaveLength(1);
    expect(lines.filter((l) => String(l.message).includes('back within bound'))).toHaveLength(1);
  });

  it('a plain MP4 chunk (cut again) says its camera time was not recorded', () => {
    const { clock } = tracker();
    const { producerTimes: _, fragmented: __, ...plain } = chunk(0, 0);
    expect(clock.place({ ...plain }, host(0))).toEqual({
      placement: host(0),
      facts: { hostTime: new Date(T0).toISOString(), cameraTimeSource: 'not-recorded' },
    });
  });
});
