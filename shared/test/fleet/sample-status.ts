import { CAMERA_STATUS_VERSION, type CameraStatus } from '../../src/fleet/index.js';

// A camera status as a healthy recording camera's node writes it, at T; tests override fields.

export const T = Date.parse('2026-11-23T09:00:00.000Z');

export function sampleStatus(overrides: Partial<CameraStatus> = {}): CameraStatus {
  return {
    version: CAMERA_STATUS_VERSION,
    nodeId: 'edge-a',
    sourceId: 'cam7',
    live: true,
    state: 'recording',
    stateSinceMs: T - 60_000,
    reason: undefined,
    heartbeatMs: T,
    staleAfterMs: 10_000,
    chunkSeconds: 3,
    video: { width: 1280, height: 720, codec: 'h264', bitrateBps: 2_700_000 },
    lastChunk: { sequence: 41, startMs: T - 4000, endMs: T - 1000, recordedAtMs: T - 900 },
    lastHour: { reconnects: 1, gaps: 1, gapSeconds: 12.5 },
    lastDay: { reconnects: 3, gaps: 2, gapSeconds: 40 },
    recentGaps: [{ fromMs: T - 30_000, toMs: T - 17_500, ongoing: false }],
    spool: {
      waitingChunks: 2,
      waitingBytes: 2_000_000,
      oldestWaitingEndMs: T - 4000,
      waitingSpans: [{ fromMs: T - 7000, toMs: T - 1000 }],
      waitingSpansTruncated: false,
      freeBytes: 10_000_000_000,
      usageRatio: 0.12,
    },
    clockSync: 'synchronised',
    ...overrides,
  };
}
