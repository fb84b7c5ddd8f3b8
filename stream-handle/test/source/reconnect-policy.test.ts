import { describe, expect, it } from 'vitest';
import { UNKNOWN_FAILURE, classifyFfmpegFailure } from '../../src/recorder/ffmpeg-log.js';
import { delayBeforeReconnectMs, probeDelayMs, type ReconnectPolicy } from '../../src/source/reconnect-policy.js';
import { refusesTransport, transportCandidates } from '../../src/source/transport-choice.js';

const POLICY: ReconnectPolicy = { probeIntervalMs: 250, fastWindowMs: 60_000, backoff: { minDelayMs: 1000, maxDelayMs: 30_000, jitter: 0 } };
const refused = classifyFfmpegFailure(['rtsp://127.0.0.1:1/s: Connection refused']);
const unauthorized = classifyFfmpegFailure(['method DESCRIBE failed: 401 Unauthorized']);
const transport461 = classifyFfmpegFailure(['method SETUP failed: 461 Unsupported transport']);
const timedOut = classifyFfmpegFailure(['rtsp://10.0.0.9/s: Connection timed out']);

describe('delayBeforeReconnectMs', () => {
  it.each([
    ['a stream that worked and ended', { failure: UNKNOWN_FAILURE, worked: true, failuresInARow: 1, outageMs: 0 }, 0],
    ['a camera gone, first attempt', { failure: refused, worked: false, failuresInARow: 1, outageMs: 100 }, 0],
    ['a camera gone again, in the first minute', { failure: refused, worked: false, failuresInARow: 3, outageMs: 5_000 }, 250],
    ['a camera gone again, after the first minute', { failure: refused, worked: false, failuresInARow: 3, outageMs: 90_000 }, 4000],
    ['a refusal, first', { failure: unauthorized, worked: false, failuresInARow: 1, outageMs: 0 }, 1000],
    ['a refusal, fourth', { failure: unauthorized, worked: false, failuresInARow: 4, outageMs: 0 }, 8000],
  ])('%s', (_label, run, expected) => {
    expect(delayBeforeReconnectMs(run, POLICY)).toBe(expected);
  });
});

describe('probeDelayMs', () => {
  it('is the fixed interval for the first minute of an outage, then backs off to the maximum', () => {
    expect(probeDelayMs(0, 0, POLICY)).toBe(250);
    expect(probeDelayMs(59_999, 0, POLICY)).toBe(250);
    expect([1, 2, 3, 6, 20].map((n) => probeDelayMs(60_000, n, POLICY))).toEqual([1000, 2000, 4000, 30_000, 30_000]);
  });
});

describe('transport auto', () => {
  it('tries TCP first, then UDP, multicast and HTTP; what worked comes first from then on', () => {
    expect(transportCandidates('auto', undefined)).toEqual(['tcp', 'udp', 'udp_multicast', 'http']);
    expect(transportCandidates('auto', 'http')).toEqual(['http', 'tcp', 'udp', 'udp_multicast']);
    expect(transportCandidates('udp', 'tcp')).toEqual(['udp']);
  });

  it('moves on after a 461, or UDP that never delivered; never after a run that recorded', () => {
    expect(refusesTransport(transport461, 'tcp', false)).toBe(true);
    expect(refusesTransport(timedOut, 'udp', false)).toBe(true);
    expect(refusesTransport(timedOut, 'tcp', false)).toBe(false);
    expect(refusesTransport(unauthorized, 'tcp', false)).toBe(false);
    expect(refusesTransport(transport461, 'tcp', true)).toBe(false);
  });
});
