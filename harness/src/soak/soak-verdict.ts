// The soak's verdict: every chunk stream-handle recorded, compared with the objects in the bucket
// and the chunks the spool policy dropped (and reported). Stored once, duplicated, dropped, lost;
// and the bytes of each stored chunk compared with what was recorded.

export interface RecordedChunk {
  source: string;
  sequence: number;
  bytes: number;
  /** chunk end (startTime + duration), epoch ms, as the recorder stated it */
  endMs: number;
}

export interface BucketChunk {
  name: string;
  source: string;
  sequence: number;
  size: number;
  /** when the bucket created the object, epoch ms */
  createdMs: number;
}

export interface ChunkRef {
  source: string;
  sequence: number;
}

export interface SoakVerdict {
  recorded: number;
  storedOnce: number;
  duplicated: number;
  droppedByPolicy: number;
  lost: number;
  /** stored chunks whose object size differs from the recorded size */
  sizeMismatches: number;
  /** objects of chunks no recorder said it recorded (a recorder killed between closing a chunk and logging it) */
  unannounced: number;
  /** the first few of each problem, named source#sequence */
  examples: { lost: string[]; duplicated: string[]; sizeMismatches: string[]; unannounced: string[] };
  /** From a live chunk's end to its object's creation: how far behind live the uploads ran, in ms. */
  behindLiveMs: { p50: number; p95: number; max: number };
}

const key = (c: ChunkRef): string => `${c.source}#${c.sequence}`;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/** `liveSources`: the cameras, whose chunks' times are wall-clock times (a file's are the file's own); all when not given. */
export function soakVerdict(
  recordedLines: readonly RecordedChunk[],
  objects: readonly BucketChunk[],
  dropped: readonly ChunkRef[],
  liveSources?: ReadonlySet<string>,
): SoakVerdict {
  // A chunk may be announced twice (queued, then requeued after a restart): it is one chunk.
  const recorded = new Map<string, RecordedChunk>();
  for (const chunk of recordedLines) if (!recorded.has(key(chunk))) recorded.set(key(chunk), chunk);
  const objectsByChunk = new Map<string, BucketChunk[]>();
  for (const object of objects) objectsByChunk.set(key(object), [...(objectsByChunk.get(key(object)) ?? []), object]);
  const droppedSet = new Set(dropped.map(key));
  const examples: SoakVerdict['examples'] = { lost: [], duplicated: [], sizeMismatches: [], unannounced: [] };
  const note = (list: string[], item: string) => list.length < 10 && list.push(item);
  let storedOnce = 0;
  let duplicated = 0;
  let droppedByPolicy = 0;
  let sizeMismatches = 0;
  const lags: number[] = [];
  for (const [id, chunk] of recorded) {
    const copies = objectsByChunk.get(id) ?? [];
    if (copies.length === 1) storedOnce++;
    else if (copies.length > 1) {
      duplicated++;
      note(examples.duplicated, `${id} (${copies.map((c) => c.name).join(', ')})`);
    } else if (droppedSet.has(id)) droppedByPolicy++;
    else note(examples.lost, id);
    const first = copies[0];
    if (first !== undefined) {
      if (liveSources === undefined || liveSources.has(chunk.source)) lags.push(Math.max(0, first.createdMs - chunk.endMs));
      if (copies.some((c) => c.size !== chunk.bytes)) {
        sizeMismatches++;
        note(examples.sizeMismatches, `${id}: recorded ${chunk.bytes} bytes, stored ${copies.map((c) => c.size).join('/')}`);
      }
    }
  }
  let unannounced = 0;
  for (const id of objectsByChunk.keys()) {
    if (recorded.has(id)) continue;
    unannounced++;
    note(examples.unannounced, id);
  }
  lags.sort((a, b) => a - b);
  return {
    recorded: recorded.size,
    storedOnce,
    duplicated,
    droppedByPolicy,
    lost: recorded.size - storedOnce - duplicated - droppedByPolicy,
    sizeMismatches,
    unannounced,
    examples,
    behindLiveMs: { p50: percentile(lags, 50), p95: percentile(lags, 95), max: lags[lags.length - 1] ?? 0 },
  };
}
