import type { ChunkClock, EvidenceRecord } from '@crispy-streamer/shared';

// What the signed records of a range say of time: which clock each chunk's start is on, the
// camera's offset from the node over the range, and every clock step a chunk was marked with.
// Only what a record signs counts (version 2); version 1 records say nothing of clocks.

/** One change of the offset: from this chunk on, the camera was this far off the node. */
export interface OffsetChange {
  object: string;
  sequence: number;
  startTime: string;
  clock: ChunkClock;
  /** cameraTime minus hostTime (ms); undefined: the chunk has no camera time. */
  offsetMs: number | undefined;
}

export interface ClockStep {
  object: string;
  sequence: number;
  startTime: string;
  /** `camera`: its clock stepped; `host`: the node's wall clock stepped against its monotonic clock. */
  clock: 'camera' | 'host';
  stepMs: number;
}

export interface ClockHistory {
  /** Records read, by version. */
  versions: Record<'1' | '2', number>;
  /** Chunks by the clock their start is on (version 2 records). */
  clocks: Record<ChunkClock, number>;
  /** Smallest and largest offset in the range, or null when no record has one. */
  offsetRangeMs: { min: number; max: number } | null;
  /** The offset at the first chunk, and wherever it moved by more than `OFFSET_CHANGE_MS` or a chunk lost or gained its camera time. */
  changes: OffsetChange[];
  steps: ClockStep[];
}

/** An offset that moves less than this is the same (network jitter; one frame at 30 fps is 33 ms). */
export const OFFSET_CHANGE_MS = 20;

export function clockHistory(records: readonly { object: string; record: EvidenceRecord }[]): ClockHistory {
  const sorted = [...records].sort((a, b) => a.record.sequence - b.record.sequence);
  const history: ClockHistory = { versions: { '1': 0, '2': 0 }, clocks: { host: 0, camera: 0, file: 0 }, offsetRangeMs: null, changes: [], steps: [] };
  let last: OffsetChange | undefined;
  for (const { object, record } of sorted) {
    history.versions[record.v === 2 ? '2' : '1'] += 1;
    if (record.v !== 2 || record.clock === undefined) continue;
    history.clocks[record.clock] += 1;
    const offsetMs = record.clockOffsetMs;
    if (offsetMs !== undefined) {
      const range = history.offsetRangeMs ?? { min: offsetMs, max: offsetMs };
      history.offsetRangeMs = { min: Math.min(range.min, offsetMs), max: Math.max(range.max, offsetMs) };
    }
    const moved =
      last === undefined ||
      last.clock !== record.clock ||
      (last.offsetMs === undefined) !== (offsetMs === undefined) ||
      (last.offsetMs !== undefined && offsetMs !== undefined && Math.abs(offsetMs - last.offsetMs) > OFFSET_CHANGE_MS);
    if (moved) {
      last = { object, sequence: record.sequence, startTime: record.startTime, clock: record.clock, offsetMs };
      history.changes.push(last);
    }
    if (record.cameraClockStepMs !== undefined)
      history.steps.push({ object, sequence: record.sequence, startTime: record.startTime, clock: 'camera', stepMs: record.cameraClockStepMs });
    if (record.hostClockStepMs !== undefined)
      history.steps.push({ object, sequence: record.sequence, startTime: record.startTime, clock: 'host', stepMs: record.hostClockStepMs });
  }
  return history;
}

/** The history for people: one line per change and per step. */
export function formatClockHistory(history: ClockHistory): string[] {
  const lines = [
    `records: ${history.versions['2']} of version 2 (both clocks signed), ${history.versions['1']} of version 1 (no clock)`,
    `chunk starts on: camera ${history.clocks.camera}, host ${history.clocks.host}, file ${history.clocks.file}`,
    history.offsetRangeMs === null
      ? 'camera offset: none recorded'
      : `camera offset: ${history.offsetRangeMs.min} to ${history.offsetRangeMs.max} ms (camera minus node)`,
  ];
  for (const change of history.changes) {
    lines.push(
      `from sequence ${change.sequence} (${change.startTime}): ${change.clock} clock, ${change.offsetMs === undefined ? 'no camera time' : `offset ${change.offsetMs} ms`}`,
    );
  }
  for (const step of history.steps) lines.push(`${step.clock} clock stepped ${step.stepMs} ms at sequence ${step.sequence} (${step.object})`);
  return lines;
}
