import type { ChunkInspection, ChunkMetadata, Logger, RecorderMetrics } from '@crispy-streamer/shared';
import { CAMERA_STEP_TOLERANCE_MS, chooseChunkClock, readCameraClock, type CameraClockReading } from './camera-clock.js';
import type { ChunkPlacement } from './recording-clock.js';

/** A camera's offset that changes by more than this between two recordings (each placed on the host with its own error) stepped. */
export const CROSS_RECORDING_STEP_MS = 1000;

export type LiveClockFacts = Pick<ChunkMetadata, 'hostTime' | 'cameraTime' | 'cameraTimeSource' | 'clockOffsetMs' | 'cameraClockStepMs'>;

export interface CameraClockTrackerDeps {
  sourceId: string;
  logger: Logger;
  metrics?: RecorderMetrics;
  /** CAMERA_CLOCK_MAX_OFFSET_SECONDS, in ms. */
  maxOffsetMs: number;
  hostSynchronised: () => boolean;
}

/**
 * One camera's clock over time: which clock each of its chunks is placed on, its offset from
 * this node, and the steps its clock takes (logged, counted, and marked on the chunk). It
 * remembers, within one ffmpeg run, that a Sender Report arrived, and the last time-to-media
 * mapping, so a step between two chunks is seen too.
 */
export class CameraClockTracker {
  private senderReportSeen = false;
  /** Where the next chunk of this run should start on the camera's clock, by the last chunk's mapping (each chunk's media time starts at 0). */
  private expectedStartMs: number | undefined;
  private lastOffsetMs: number | undefined;
  private outOfBound = false;
  private warnedNoReport = false;
  private readonly log: Logger;

  constructor(private readonly deps: CameraClockTrackerDeps) {
    this.log = deps.logger.child({ source: deps.sourceId });
  }

  /** A new ffmpeg run: its media timeline starts again, and its first fragments come before any Sender Report. */
  newRecording(): void {
    this.senderReportSeen = false;
    this.expectedStartMs = undefined;
  }

  /** Where a live chunk starts and what its metadata says of both clocks. */
  place(info: ChunkInspection, host: ChunkPlacement): { placement: ChunkPlacement; facts: LiveClockFacts } {
    const hostTime = new Date(host.startMs).toISOString();
    if (info.container !== 'mp4' || info.fragmented !== true || info.producerTimes === undefined || info.producerTimes.length === 0) {
      return { placement: host, facts: { hostTime, cameraTimeSource: 'not-recorded' } };
    }
    const reading = readCameraClock({
      producerTimes: info.producerTimes,
      mediaStartSeconds: info.mediaStartSeconds ?? 0,
      durationMs: info.durationMs,
      // A placement without the listing time (none today) is taken to end its media length after its start.
      writtenAtMs: host.writtenAtMs ?? host.startMs + info.durationMs,
      senderReportSeen: this.senderReportSeen,
    });
    const choice = chooseChunkClock(reading, host.startMs, this.deps.maxOffsetMs, this.deps.hostSynchronised());
    if (reading === undefined) {
      if (!this.warnedNoReport) this.log.warn({ hostTime }, choice.warning ?? "no camera time: placed on this node's clock");
      this.warnedNoReport = true;
      return { placement: host, facts: { hostTime, cameraTimeSource: 'no-sender-report' } };
    }
    this.warnedNoReport = false;
    this.senderReportSeen = true;
    const offsetMs = reading.cameraStartMs - host.startMs;
    const stepMs = this.stepOf(reading, offsetMs);
    this.noteOffset(offsetMs, choice.clock, choice.warning);
    this.expectedStartMs = reading.cameraEndMs;
    this.lastOffsetMs = offsetMs + (reading.step?.stepMs ?? 0);
    const cameraTime = new Date(reading.cameraStartMs).toISOString();
    if (stepMs !== undefined) {
      this.deps.metrics?.clockSteps.inc({ source: this.deps.sourceId, clock: 'camera' });
      this.log.warn(
        { stepMs, cameraTime, hostTime, offsetMs },
        `the camera's clock stepped by ${(stepMs / 1000).toFixed(3)} s: the chunk is marked (cameraClockStepMs)`,
      );
    }
    return {
      placement: { ...host, startMs: choice.startMs, clock: choice.clock },
      facts: {
        hostTime,
        cameraTime,
        cameraTimeSource: reading.source,
        clockOffsetMs: Math.round(offsetMs),
        ...(stepMs === undefined ? {} : { cameraClockStepMs: stepMs }),
      },
    };
  }

  /** A step inside the chunk, or between the chunk before and this one. */
  private stepOf(reading: CameraClockReading, offsetMs: number): number | undefined {
    if (reading.step !== undefined) return reading.step.stepMs;
    if (this.expectedStartMs !== undefined) {
      const moved = reading.cameraStartMs - this.expectedStartMs;
      return Math.abs(moved) > CAMERA_STEP_TOLERANCE_MS ? Math.round(moved) : undefined;
    }
    if (this.lastOffsetMs !== undefined) {
      const moved = offsetMs - this.lastOffsetMs;
      return Math.abs(moved) > CROSS_RECORDING_STEP_MS ? Math.round(moved) : undefined;
    }
    return undefined;
  }

  private noteOffset(offsetMs: number, clock: ChunkPlacement['clock'], warning: string | undefined): void {
    this.deps.metrics?.cameraClockOffset.set({ source: this.deps.sourceId }, offsetMs / 1000);
    const beyond = clock === 'host';
    if (beyond) this.deps.metrics?.cameraClockOutOfBound.inc({ source: this.deps.sourceId });
    // Said when it starts and when it ends, not on every chunk.
    if (beyond && !this.outOfBound)
      this.log.warn({ offsetMs: Math.round(offsetMs), maxOffsetMs: this.deps.maxOffsetMs }, warning ?? "the camera's clock is out of bound");
    if (!beyond && this.outOfBound)
      this.log.info({ offsetMs: Math.round(offsetMs) }, "the camera's clock is back within bound: chunks are placed on the camera's clock again");
    if (!beyond && warning !== undefined && this.lastOffsetMs === undefined) this.log.warn({ offsetMs: Math.round(offsetMs) }, warning);
    this.outOfBound = beyond;
  }
}
