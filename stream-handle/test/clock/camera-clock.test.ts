import { describe, expect, it } from 'vitest';
import type { Mp4ProducerTime } from '@crispy-streamer/shared';
import { chooseChunkClock, readCameraClock } from '../../src/clock/camera-clock.js';

// Times as ffmpeg 5.1 wrote them for a gst-rtsp-server camera 3 s behind the host, 1 s GOP, 3 s chunks:
// fragments before the first Sender Report carry the host's clock when each fragment was written
// (its end); after it, the camera's time of each fragment's start.
const HOST_START = Date.parse('2026-12-02T00:03:12.870Z');
const prft = (fragment: number, wallclock: string): Mp4ProducerTime => ({ fragment, mediaSeconds: fragment, flags: 24, wallclockMs: Date.parse(wallclock) });
// Listed right after its last fragment was written, 3 s after its start.
const input = (times: Mp4ProducerTime[], senderReportSeen = false) => ({
  producerTimes: times,
  mediaStartSeconds: 0,
  durationMs: 3000,
  writtenAtMs: HOST_START + 3000,
  senderReportSeen,
});

describe("readCameraClock: which fragments carry the camera's time", () => {
  it('host-written fragments (each at its own end on the host clock) give no camera time', () => {
    const hostWritten = [prft(0, '2026-12-02T00:03:13.867Z'), prft(1, '2026-12-02T00:03:14.866Z'), prft(2, '2026-12-02T00:03:15.867Z')];
    expect(readCameraClock(input(hostWritten))).toBeUndefined();
  });

  it('a camera 3 s behind: its time from the first fragment', () => {
    const camera = [prft(0, '2026-12-02T00:03:09.866Z'), prft(1, '2026-12-02T00:03:10.866Z'), prft(2, '2026-12-02T00:03:11.866Z')];
    const reading = readCameraClock(input(camera));
    expect(reading).toMatchObject({ cameraStartMs: Date.parse('2026-12-02T00:03:09.866Z'), source: 'sender-report', fromFragment: 0 });
    expect(reading?.step).toBeUndefined();
  });

  it('a Sender Report arriving mid-chunk: the camera time is mapped back from the first camera fragment', () => {
    const mixed = [prft(0, '2026-12-02T00:03:13.868Z'), prft(1, '2026-12-02T00:03:10.866Z'), prft(2, '2026-12-02T00:03:11.866Z')];
    expect(readCameraClock(input(mixed))).toMatchObject({
      cameraStartMs: Date.parse('2026-12-02T00:03:09.866Z'),
      source: 'sender-report-mapped-back',
      fromFragment: 1,
    });
  });

  it("fragments written in a burst at the start of a run (ffmpeg catching up after probing) are not taken for the camera's", () => {
    // Written 0.1 s apart, far from their ends: neither the host's pattern nor one steady mapping.
    const burst = [prft(0, '2026-12-02T00:03:12.970Z'), prft(1, '2026-12-02T00:03:13.070Z'), prft(2, '2026-12-02T00:03:11.866Z')];
    expect(readCameraClock({ ...input(burst), durationMs: 3000 })).toMatchObject({
      fromFragment: 2,
      source: 'sender-report-mapped-back',
      cameraStartMs: Date.parse('2026-12-02T00:03:09.866Z'),
    });
  });

  it('a recording whose start the node placed late or early still has its host-written fragments seen for what they are', () => {
    // The test is against when the chunk was listed, not where the node placed its start.
    const hostWritten = [prft(0, '2026-12-02T00:03:13.867Z'), prft(1, '2026-12-02T00:03:14.866Z'), prft(2, '2026-12-02T00:03:15.867Z')];
    expect(readCameraClock({ ...input(hostWritten), writtenAtMs: Date.parse('2026-12-02T00:03:15.871Z') })).toBeUndefined();
  });

  it("once a Sender Report arrived in the run, even a fragment that looks host-written is the camera's", () => {
    const lookalike = [prft(0, '2026-12-02T00:03:13.870Z'), prft(1, '2026-12-02T00:03:14.870Z')];
    expect(readCameraClock({ ...input(lookalike), durationMs: 2000, writtenAtMs: HOST_START + 2000 })).toBeUndefined();
    expect(readCameraClock({ ...input(lookalike, true), durationMs: 2000, writtenAtMs: HOST_START + 2000 })).toMatchObject({
      source: 'sender-report',
      fromFragment: 0,
    });
  });

  it('a mapping that moves inside the chunk is a step of the camera clock, with its size and place', () => {
    const stepped = [prft(0, '2026-12-02T00:03:09.866Z'), prft(1, '2026-12-02T00:03:10.866Z'), prft(2, '2026-12-02T00:03:16.866Z')];
    expect(readCameraClock(input(stepped))?.step).toEqual({ stepMs: 5000, atMediaSeconds: 2 });
    // Millisecond rounding is no step.
    const rounded = [prft(0, '2026-12-02T00:03:09.866Z'), prft(1, '2026-12-02T00:03:10.867Z')];
    expect(readCameraClock(input(rounded))?.step).toBeUndefined();
  });
});

describe('chooseChunkClock', () => {
  const reading = (offsetMs: number) => ({
    cameraStartMs: HOST_START + offsetMs,
    source: 'sender-report' as const,
    fromFragment: 0,
    firstMappingMs: 0,
    lastMappingMs: 0,
    cameraEndMs: 0,
  });
  it.each([
    ['no Sender Report', undefined, 10_000, true, 'host', /no RTCP Sender Report/],
    ['within the bound, synchronised host', reading(-3000), 10_000, true, 'camera', undefined],
    ['within the bound, unchecked host', reading(-3000), 10_000, false, 'camera', /not known to be NTP-synchronised/],
    ['beyond the bound', reading(3_600_000), 10_000, true, 'host', /3600\.000 s off .* beyond CAMERA_CLOCK_MAX_OFFSET_SECONDS \(10 s\)/],
    ['at the bound exactly', reading(-10_000), 10_000, true, 'camera', undefined],
    ['bound 0: only an exact clock', reading(1), 0, true, 'host', /beyond/],
  ])('%s', (_, r, bound, synchronised, clock, warning) => {
    const choice = chooseChunkClock(r, HOST_START, bound, synchronised);
    expect(choice.clock).toBe(clock);
    expect(choice.startMs).toBe(clock === 'camera' ? (r?.cameraStartMs ?? 0) : HOST_START);
    if (warning === undefined) expect(choice.warning).toBeUndefined();
    else expect(choice.warning).toMatch(warning);
  });
});
