import { describe, expect, it } from 'vitest';
import type { ChunkMetadata } from '@crispy-streamer/shared';
import { CameraTracker } from '../../src/fleet/camera-tracker.js';
import { NO_ALERT, decideCameraAlert, isRecording, type AlertMemory } from '../../src/fleet/camera-alerts.js';

const T = Date.parse('2026-11-23T09:00:00.000Z');

function clock(start = T) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms), set: (ms: number) => (now = ms) };
}

function chunk(sequence: number, startMs: number, durationMs = 3000, bytes = 1_000_000): ChunkMetadata {
  return {
    sourceId: 'cam7',
    sequence,
    startTime: new Date(startMs).toISOString(),
    durationMs,
    frameCount: 90,
    frameRate: 30,
    bytes,
    crc32c: 'AAAAAA==',
    container: 'mp4',
    codec: 'h264',
    width: 1280,
    height: 720,
    mode: 'copy',
    clock: 'host',
    clockSync: 'synchronised',
    recordedBy: 'edge-a',
  };
}

describe('a camera tracker', () => {
  it('follows a camera from starting through recording, a drop and the gap, to recording again', () => {
    const time = clock();
    const tracker = new CameraTracker({ id: 'cam7', live: true, chunkSeconds: 3 }, time.now);
    const changes: string[] = [];
    tracker.onChange((change) => changes.push(change));
    tracker.recorderStarted();
    expect(tracker.snapshot()).toMatchObject({ state: 'starting', stateSinceMs: T, lastChunk: undefined, video: undefined });

    time.advance(3100);
    tracker.chunkRecorded(chunk(0, T + 100));
    time.advance(3000);
    tracker.chunkRecorded(chunk(1, T + 3100));
    expect(tracker.snapshot()).toMatchObject({
      state: 'recording',
      stateSinceMs: T + 3100,
      lastChunk: { sequence: 1, startMs: T + 3100, endMs: T + 6100, recordedAtMs: T + 6100 },
      video: { width: 1280, height: 720, codec: 'h264', bitrateBps: 2_666_667 },
    });

    // The camera dies: ffmpeg exits, reconnect attempts fail with a clearer reason.
    time.advance(200);
    tracker.streamEnded({ reason: 'the stream ended' });
    time.advance(1000);
    tracker.recorderStarted();
    tracker.streamEnded({ reason: 'cannot reach the camera' });
    const down = tracker.snapshot(T + 16_300);
    expect(down).toMatchObject({ state: 'reconnecting', stateSinceMs: T + 6300, reason: 'cannot reach the camera' });
    // The outage is going on: from the last footage to now, counted in both windows.
    expect(down.recentGaps).toEqual([{ fromMs: T + 6100, toMs: T + 16_300, ongoing: true }]);
    expect(down.lastHour).toEqual({ reconnects: 1, gaps: 1, gapSeconds: 10.2 });

    // Back: the runner reports the gap, then the chunk after it.
    time.set(T + 20_000);
    tracker.gap({ fromMs: T + 6100, toMs: T + 17_000 });
    tracker.chunkRecorded(chunk(2, T + 17_000));
    const back = tracker.snapshot();
    expect(back).toMatchObject({ state: 'recording', stateSinceMs: T + 20_000, reason: undefined });
    expect(back.recentGaps).toEqual([{ fromMs: T + 6100, toMs: T + 17_000, ongoing: false }]);
    expect(back.lastDay).toEqual({ reconnects: 1, gaps: 1, gapSeconds: 10.9 });
    expect(changes).toEqual(['state', 'chunk', 'chunk', 'state', 'state', 'gap', 'state', 'chunk']);
  });

  it('counts only what falls in each window, and forgets what is older than a day', () => {
    const time = clock();
    const tracker = new CameraTracker({ id: 'cam7', live: true, chunkSeconds: 3 }, time.now);
    tracker.chunkRecorded(chunk(0, T));
    tracker.streamEnded({ reason: 'x' });
    tracker.gap({ fromMs: T, toMs: T + 60_000 });
    tracker.chunkRecorded(chunk(1, T + 60_000));
    time.set(T + 2 * 3600_000);
    // Two hours on: the gap is in the day, not in the hour.
    expect(tracker.snapshot()).toMatchObject({ lastHour: { reconnects: 0, gaps: 0, gapSeconds: 0 }, lastDay: { reconnects: 1, gaps: 1, gapSeconds: 60 } });
    time.set(T + 25 * 3600_000);
    tracker.chunkRecorded(chunk(2, T + 25 * 3600_000));
    expect(tracker.snapshot()).toMatchObject({ lastDay: { reconnects: 0, gaps: 0, gapSeconds: 0 }, recentGaps: [] });
  });

  it('a pause is an outage too, and a file is never "down"', () => {
    const time = clock();
    const camera = new CameraTracker({ id: 'cam7', live: true, chunkSeconds: 3 }, time.now);
    camera.chunkRecorded(chunk(0, T - 3000));
    camera.paused('spool holds 10 bytes');
    time.advance(5000);
    expect(camera.snapshot()).toMatchObject({ state: 'paused', reason: 'spool holds 10 bytes', recentGaps: [{ fromMs: T, toMs: T + 5000, ongoing: true }] });
    camera.resumed();
    expect(camera.snapshot().state).toBe('starting');

    const file = new CameraTracker({ id: 'clip', live: false, chunkSeconds: 3 }, time.now);
    file.chunkRecorded(chunk(0, T));
    file.finished({ status: 'completed' });
    expect(file.snapshot()).toMatchObject({ state: 'finished', recentGaps: [] });
    // Nothing revives a finished source.
    file.chunkRecorded(chunk(1, T));
    expect(file.snapshot().state).toBe('finished');
    const failed = new CameraTracker({ id: 'bad', live: false, chunkSeconds: 3 }, time.now);
    failed.finished({ status: 'failed', reason: 'ffmpeg cannot read this as video' });
    expect(failed.snapshot()).toMatchObject({ state: 'failed', reason: 'ffmpeg cannot read this as video' });
  });

  it('stopping on purpose is not a drop', () => {
    const tracker = new CameraTracker({ id: 'cam7', live: true, chunkSeconds: 3 });
    tracker.chunkRecorded(chunk(0, Date.now() - 3000));
    tracker.stopping();
    tracker.streamEnded({ reason: 'the stream ended' });
    expect(tracker.snapshot()).toMatchObject({ state: 'stopped', lastHour: { reconnects: 0 } });
  });
});

describe('camera alerts', () => {
  const view = (overrides: Partial<Parameters<typeof decideCameraAlert>[0]> = {}) => ({
    live: true,
    state: 'recording' as const,
    stateSinceMs: T - 60_000,
    reason: undefined,
    lastChunk: { sequence: 3, startMs: T - 4000, endMs: T - 1000, recordedAtMs: T - 900 },
    chunkSeconds: 3,
    ...overrides,
  });

  it('camera-down only once it has not recorded for the delay, once; camera-back when it records again', () => {
    let memory: AlertMemory = NO_ALERT;
    const step = (v: ReturnType<typeof view>, at: number) => {
      const result = decideCameraAlert(v, memory, at, 10_000);
      memory = result.memory;
      return result.decision;
    };
    expect(step(view(), T)).toEqual({ send: undefined });
    const dropped = view({ state: 'reconnecting', stateSinceMs: T + 1000, reason: 'cannot reach the camera' });
    expect(step(dropped, T + 5000)).toEqual({ send: undefined });
    expect(step(dropped, T + 11_000)).toEqual({ send: 'camera-down', sinceMs: T + 1000, reason: 'cannot reach the camera' });
    expect(step(dropped, T + 12_000)).toEqual({ send: undefined });
    const back = view({ stateSinceMs: T + 30_000, lastChunk: { sequence: 4, startMs: T + 27_000, endMs: T + 30_000, recordedAtMs: T + 30_000 } });
    expect(step(back, T + 30_100)).toEqual({ send: 'camera-back', sinceMs: T + 1000 });
    expect(step(back, T + 31_000)).toEqual({ send: undefined });
  });

  it('a short drop raises nothing; a stalled ffmpeg and a full spool are down too', () => {
    const short = decideCameraAlert(view({ state: 'reconnecting', stateSinceMs: T }), NO_ALERT, T + 3000, 10_000);
    expect(decideCameraAlert(view(), short.memory, T + 3500, 10_000)).toEqual({ decision: { send: undefined }, memory: NO_ALERT });
    const stalled = view({ lastChunk: { sequence: 3, startMs: T - 4000, endMs: T - 1000, recordedAtMs: T - 1000 } });
    expect(isRecording(stalled, T + 20_000)).toBe(false);
    expect(decideCameraAlert(stalled, NO_ALERT, T + 20_000, 10_000).decision).toEqual({
      send: 'camera-down',
      sinceMs: T - 1000,
      reason: 'no chunk for 21 s although ffmpeg runs',
    });
    expect(decideCameraAlert(view({ state: 'paused', stateSinceMs: T, reason: 'quota' }), NO_ALERT, T + 10_000, 10_000).decision).toEqual({
      send: 'camera-down',
      sinceMs: T,
      reason: 'recording paused: the spool is full (quota)',
    });
  });

  it('a camera just started has the time of a first chunk before it counts as down', () => {
    const starting = view({ state: 'starting', stateSinceMs: T, lastChunk: undefined });
    expect(decideCameraAlert(starting, NO_ALERT, T + 14_000, 3000).decision).toEqual({ send: undefined });
    expect(decideCameraAlert(starting, NO_ALERT, T + 16_000, 3000).decision).toEqual({
      send: 'camera-down',
      sinceMs: T,
      reason: 'no chunk since it was started',
    });
  });

  it('files and sources stopped on purpose raise no camera alerts; a delay of 0 alerts at once', () => {
    expect(decideCameraAlert(view({ live: false, state: 'failed', stateSinceMs: T }), NO_ALERT, T + 60_000, 0).decision).toEqual({ send: undefined });
    expect(decideCameraAlert(view({ state: 'stopped', stateSinceMs: T }), NO_ALERT, T + 60_000, 0).decision).toEqual({ send: undefined });
    expect(decideCameraAlert(view({ state: 'reconnecting', stateSinceMs: T }), NO_ALERT, T, 0).decision).toMatchObject({ send: 'camera-down' });
  });
});
