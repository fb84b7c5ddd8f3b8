// Where a source's chunks leave footage uncovered: the one gap rule that `verify`, the coverage
// command and the fleet page share. A gap lies between two consecutive sequences that are both
// present: sequences are missing between them, or the later one starts well after the earlier ends
// (the camera was down: the recorder continues the numbering across reconnects).

export interface TimedChunk {
  sequence: number;
  startMs: number;
  durationMs: number;
}

export interface ChunkGap<T extends TimedChunk> {
  /** Every chunk of the sequence before the gap (several when more than one object claims it). */
  after: readonly T[];
  /** Every chunk of the sequence after it. */
  before: readonly T[];
  /** Footage not covered: from the latest end of `after` to the earliest start of `before`. */
  fromMs: number;
  toMs: number;
  /** Sequences with no chunk between the two; 0 when the numbering is continuous. */
  missingCount: number;
  firstMissingSequence: number;
  lastMissingSequence: number;
}

/**
 * A few frames between two chunks are not a gap: ffmpeg's chunk times carry about a frame of
 * jitter. stream-handle warns of a "recording gap" past the same bound.
 */
export const GAP_TOLERANCE_MS = 500;

export interface GapOptions {
  /**
   * Uncovered time between consecutive sequences beyond this is a gap even with no sequence
   * missing. Infinity: only missing sequences make gaps (what `verify` reports).
   */
  minUncoveredMs: number;
}

/** Gaps between the chunks' sequences, in sequence order. */
export function findChunkGaps<T extends TimedChunk>(chunks: readonly T[], options: GapOptions): ChunkGap<T>[] {
  const bySequence = new Map<number, T[]>();
  for (const chunk of chunks) {
    const group = bySequence.get(chunk.sequence) ?? [];
    group.push(chunk);
    bySequence.set(chunk.sequence, group);
  }
  const sequences = [...bySequence.keys()].sort((a, b) => a - b);
  const gaps: ChunkGap<T>[] = [];
  for (let index = 1; index < sequences.length; index++) {
    const previousSequence = sequences[index - 1] ?? 0;
    const sequence = sequences[index] ?? 0;
    const after = bySequence.get(previousSequence) ?? [];
    const before = bySequence.get(sequence) ?? [];
    const fromMs = Math.max(...after.map((chunk) => chunk.startMs + chunk.durationMs));
    const toMs = Math.min(...before.map((chunk) => chunk.startMs));
    const missingCount = sequence - previousSequence - 1;
    if (missingCount === 0 && !(toMs - fromMs > options.minUncoveredMs)) continue;
    gaps.push({ after, before, fromMs, toMs, missingCount, firstMissingSequence: previousSequence + 1, lastMissingSequence: sequence - 1 });
  }
  return gaps;
}
