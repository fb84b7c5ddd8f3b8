// This node's wall clock against its monotonic clock. Chunks are placed on the wall clock; when
// it steps (an NTP correction, someone setting the date, a VM resumed), chunks of a recording made
// after the step overlap or leave a false gap beside those before it, and their object names sort
// out of order. The monotonic clock never steps, so the difference between the two moving is the
// step. Each chunk says how far the wall clock stepped since the chunk before (hostClockStepMs).

/** Both clocks read at one moment, in ms. */
export interface ClockReading {
  wallMs: number;
  monotonicMs: number;
}

export const readClocks = (): ClockReading => ({ wallMs: Date.now(), monotonicMs: performance.now() });

/** Wall-clock moves against the monotonic clock smaller than this are slewing and scheduling, not steps. */
export const HOST_STEP_TOLERANCE_MS = 1000;

export class HostClockWatch {
  private last: ClockReading | undefined;

  constructor(private readonly now: () => ClockReading = readClocks) {}

  /** How far (ms, signed) the wall clock stepped since the last check, or undefined when it did not. */
  check(): number | undefined {
    const reading = this.now();
    const last = this.last;
    this.last = reading;
    if (last === undefined) return undefined;
    const stepMs = reading.wallMs - last.wallMs - (reading.monotonicMs - last.monotonicMs);
    return Math.abs(stepMs) > HOST_STEP_TOLERANCE_MS ? Math.round(stepMs) : undefined;
  }
}
