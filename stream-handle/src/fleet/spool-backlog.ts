import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chunkOfJobDataFile, parseJobDataText, sourceSpoolDir } from '@crispy-streamer/shared';
import { MAX_WAITING_SPANS, type TimeSpan } from '@crispy-streamer/shared/fleet';
import { mergeSpans } from '@crispy-streamer/shared/coverage';

// What waits in a source's spool folder for the bucket: recorded chunks (their job data written)
// not yet uploaded. Whatever put them there (this run, an earlier one, a recovery), the folder is
// the truth; a chunk leaves it once the bucket confirmed it. Read on the status timer, never on
// the recording path: names each time (cheap), each job data file once.

export interface WaitingChunk extends TimeSpan {
  sequence: number;
  bytes: number;
}

export interface SourceBacklog {
  waitingChunks: number;
  waitingBytes: number;
  oldestWaitingEndMs: number | undefined;
  /** The waiting footage, oldest first, neighbouring chunks joined. */
  waitingSpans: TimeSpan[];
  waitingSpansTruncated: boolean;
}

/** Job data files read per source per refresh: a backlog of thousands is learnt over a few refreshes. */
const MAX_READS_PER_REFRESH = 256;
/** Neighbouring chunks a few frames apart belong to one span. */
const SPAN_JOIN_MS = 500;

export class SpoolBacklog {
  /** Job data file name -> what it describes; undefined while not yet read (or unreadable). */
  private readonly known = new Map<string, WaitingChunk | undefined>();
  private readonly dir: string;

  constructor(
    spoolRoot: string,
    private readonly sourceId: string,
  ) {
    this.dir = sourceSpoolDir(spoolRoot, sourceId);
  }

  async refresh(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return; // Not there yet: nothing waits.
    }
    const present = new Set<string>();
    let reads = 0;
    for (const name of names) {
      if (chunkOfJobDataFile(this.sourceId, name) === undefined) continue;
      present.add(name);
      if (this.known.get(name) !== undefined || reads >= MAX_READS_PER_REFRESH) {
        if (!this.known.has(name)) this.known.set(name, undefined);
        continue;
      }
      reads++;
      try {
        const { metadata } = parseJobDataText(await readFile(join(this.dir, name), 'utf8'), name);
        const fromMs = Date.parse(metadata.startTime);
        this.known.set(name, { sequence: metadata.sequence, fromMs, toMs: fromMs + metadata.durationMs, bytes: metadata.bytes });
      } catch {
        // Uploaded and removed meanwhile, or being written: counted, read again next time.
        this.known.set(name, undefined);
      }
    }
    for (const name of this.known.keys()) if (!present.has(name)) this.known.delete(name);
  }

  summary(): SourceBacklog {
    const chunks = [...this.known.values()].filter((chunk): chunk is WaitingChunk => chunk !== undefined).sort((a, b) => a.fromMs - b.fromMs);
    const spans = mergeSpans(chunks.map((chunk) => ({ fromMs: chunk.fromMs, toMs: chunk.toMs + SPAN_JOIN_MS }))).map((span) => ({
      fromMs: span.fromMs,
      toMs: span.toMs - SPAN_JOIN_MS,
    }));
    return {
      waitingChunks: this.known.size,
      waitingBytes: chunks.reduce((sum, chunk) => sum + chunk.bytes, 0),
      oldestWaitingEndMs: chunks.reduce<number | undefined>((oldest, chunk) => (oldest === undefined || chunk.toMs < oldest ? chunk.toMs : oldest), undefined),
      waitingSpans: spans.slice(0, MAX_WAITING_SPANS),
      // Also true while job data files are still to be read: the spans are not the whole backlog yet.
      waitingSpansTruncated: spans.length > MAX_WAITING_SPANS || chunks.length < this.known.size,
    };
  }
}
