import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GENESIS_CHAIN_STATE, fromEvidenceMetadata, recordHash, type ChainState, type ChunkJobData } from '@crispy-streamer/shared';
import { sequenceOfSegmentFile } from './recorder-args.js';

// One folder per source in the spool:
//   SOURCE-0000000042.mp4       a chunk (complete once it has a sidecar)
//   SOURCE-0000000042.mp4.json  its job data, written before it is queued
//   state.json                  the next sequence number, so numbering survives restarts
//   quarantine/                 files that were never completed (ffmpeg killed mid-chunk)

interface SpoolState {
  nextSequence: number;
  /** The evidence chain's last link for this source. */
  chain?: ChainState;
}

export interface SpoolScan {
  /** Chunks with job data: complete, maybe not yet queued or uploaded. */
  pending: ChunkJobData[];
  /** Chunk files ffmpeg never listed: half-written. */
  unlisted: string[];
  highestSequence: number;
}

export class SourceSpool {
  readonly dir: string;
  readonly quarantineDir: string;

  constructor(spoolRoot: string, readonly sourceId: string) {
    this.dir = join(spoolRoot, sourceId);
    this.quarantineDir = join(this.dir, 'quarantine');
  }

  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  chunkPath(fileName: string): string {
    return join(this.dir, fileName);
  }

  static sidecarPath(chunkPath: string): string {
    return `${chunkPath}.json`;
  }

  async scan(): Promise<SpoolScan> {
    const names = await readdir(this.dir);
    const nameSet = new Set(names);
    const pending: ChunkJobData[] = [];
    const unlisted: string[] = [];
    let highestSequence = -1;
    for (const name of names) {
      const sequence = sequenceOfSegmentFile(this.sourceId, name);
      if (sequence === undefined) continue;
      highestSequence = Math.max(highestSequence, sequence);
      const path = join(this.dir, name);
      if (!nameSet.has(`${name}.json`)) {
        unlisted.push(path);
        continue;
      }
      pending.push(JSON.parse(await readFile(SourceSpool.sidecarPath(path), 'utf8')) as ChunkJobData);
    }
    pending.sort((a, b) => a.metadata.sequence - b.metadata.sequence);
    return { pending, unlisted, highestSequence };
  }

  private async readState(): Promise<SpoolState> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'state.json'), 'utf8')) as SpoolState;
    } catch {
      return { nextSequence: 0 }; // No state yet: a new source.
    }
  }

  /** The first sequence for the next recording: after everything ever recorded here. */
  async nextSequence(scan: SpoolScan): Promise<number> {
    return Math.max((await this.readState()).nextSequence, scan.highestSequence + 1);
  }

  /**
   * The chain's last link. Job data is written before the state, so after a crash between the two
   * the newest record waiting in the spool is the true last link.
   */
  async chainState(scan: SpoolScan): Promise<ChainState> {
    let chain = (await this.readState()).chain ?? { ...GENESIS_CHAIN_STATE };
    for (const job of scan.pending) {
      const evidence = job.evidence === undefined ? undefined : fromEvidenceMetadata(job.evidence);
      if (evidence !== undefined && evidence.record.sequence > chain.lastSequence) {
        chain = { lastRecordHash: recordHash(evidence.record), lastSequence: evidence.record.sequence };
      }
    }
    return chain;
  }

  async saveState(nextSequence: number, chain: ChainState): Promise<void> {
    await writeAtomically(join(this.dir, 'state.json'), JSON.stringify({ nextSequence, chain } satisfies SpoolState));
  }

  async writeJobData(job: ChunkJobData): Promise<void> {
    await writeAtomically(SourceSpool.sidecarPath(job.spoolPath), JSON.stringify(job));
  }

  /** Moves a half-written chunk aside so the next recording cannot be confused with it. */
  async quarantine(path: string): Promise<string> {
    await mkdir(this.quarantineDir, { recursive: true });
    const target = join(this.quarantineDir, `${Date.now()}-${path.slice(path.lastIndexOf('/') + 1)}`);
    await rename(path, target);
    return target;
  }
}

/** Write then rename: a reader sees the old file or the new one, never half of one. */
export async function writeAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, path);
}
