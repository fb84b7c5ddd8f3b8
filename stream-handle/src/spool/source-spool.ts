import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GENESIS_CHAIN_STATE,
  JobDataError,
  QUARANTINE_DIR,
  SOURCE_STATE_FILE,
  chunkFileName,
  chunkOfJobDataFile,
  fromEvidenceMetadata,
  jobDataPath,
  parseChunkFileName,
  parseJobDataText,
  recordHash,
  serializeJobData,
  sourceSpoolDir,
  writeFileAtomically,
  type ChainState,
  type ChunkContainer,
  type ChunkJobData,
  errorMessage,
} from '@crispy-streamer/shared';

import { readFileIngestState, type FileIngestState } from '../source/file-ingest.js';

// One source's folder in the spool (layout: shared/src/spool/spool-layout.ts). This adapter reads
// and writes it; the decisions about what to do with what it finds are the caller's. Its
// state.json is read by nobody else.

export interface SpoolState {
  nextSequence: number;
  /** The evidence chain's last link for this source. */
  chain: ChainState;
  /** A file source: how far its file has been ingested. */
  file?: FileIngestState;
}

/** A chunk file in the spool, named by its sequence. */
export interface SpoolChunkFile {
  path: string;
  sequence: number;
  container: ChunkContainer;
}

export interface SpoolScan {
  /** Chunks with valid job data: complete, maybe not yet queued or uploaded. */
  pending: ChunkJobData[];
  /** Chunk files without job data: never listed by ffmpeg, or listed but never finalised. */
  unlisted: SpoolChunkFile[];
  /** Job data files that cannot be read (a power cut mid-write, or another writer), with why. */
  invalidJobData: { path: string; chunk: SpoolChunkFile; reason: string }[];
  highestSequence: number;
}

export class SourceSpool {
  readonly dir: string;
  readonly quarantineDir: string;

  constructor(
    spoolRoot: string,
    readonly sourceId: string,
  ) {
    this.dir = sourceSpoolDir(spoolRoot, sourceId);
    this.quarantineDir = join(this.dir, QUARANTINE_DIR);
  }

  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  chunkPath(sequence: number, container: ChunkContainer): string {
    return join(this.dir, chunkFileName(this.sourceId, sequence, container));
  }

  /** The chunk a file name in this folder stands for, or undefined if it is not one of ours. */
  chunkFile(fileName: string): SpoolChunkFile | undefined {
    const chunk = parseChunkFileName(this.sourceId, fileName);
    return chunk === undefined ? undefined : { path: join(this.dir, fileName), ...chunk };
  }

  async scan(): Promise<SpoolScan> {
    const names = await readdir(this.dir);
    const nameSet = new Set(names);
    const scan: SpoolScan = { pending: [], unlisted: [], invalidJobData: [], highestSequence: -1 };
    for (const name of names) {
      const chunk = this.chunkFile(name);
      if (chunk === undefined) continue;
      scan.highestSequence = Math.max(scan.highestSequence, chunk.sequence);
      const sidecar = jobDataPath(chunk.path);
      if (!nameSet.has(`${name}.json`)) {
        scan.unlisted.push(chunk);
        continue;
      }
      try {
        const job = parseJobDataText(await readFile(sidecar, 'utf8'), sidecar);
        if (job.metadata.sourceId !== this.sourceId || job.metadata.sequence !== chunk.sequence) {
          throw new JobDataError([`it describes ${job.metadata.sourceId} #${job.metadata.sequence}`], sidecar);
        }
        scan.pending.push(job);
      } catch (error) {
        scan.invalidJobData.push({ path: sidecar, chunk, reason: errorMessage(error) });
      }
    }
    scan.pending.sort((a, b) => a.metadata.sequence - b.metadata.sequence);
    scan.unlisted.sort((a, b) => a.sequence - b.sequence);
    return scan;
  }

  /** The highest sequence any chunk file here holds right now (-1 for none): never to be reused. */
  async highestSequenceOnDisk(): Promise<number> {
    let highest = -1;
    for (const name of await readdir(this.dir)) {
      const chunk = parseChunkFileName(this.sourceId, name) ?? chunkOfJobDataFile(this.sourceId, name);
      if (chunk !== undefined) highest = Math.max(highest, chunk.sequence);
    }
    return highest;
  }

  private async readState(): Promise<SpoolState | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, SOURCE_STATE_FILE), 'utf8');
    } catch {
      return undefined; // No state yet: a new source.
    }
    try {
      const state = JSON.parse(text) as Partial<SpoolState>;
      if (!Number.isSafeInteger(state.nextSequence) || (state.nextSequence ?? -1) < 0) return undefined;
      const file = readFileIngestState(state.file);
      return { nextSequence: state.nextSequence ?? 0, chain: state.chain ?? { ...GENESIS_CHAIN_STATE }, ...(file === undefined ? {} : { file }) };
    } catch {
      // Unreadable: the chunk files and job data still say where numbering stands.
      return undefined;
    }
  }

  /**
   * Where numbering and the chain stand: after everything ever recorded here. Job data is written
   * before the state, so after a crash between the two the newest record waiting in the spool is
   * the chain's true last link.
   */
  async restoreState(scan: SpoolScan): Promise<SpoolState> {
    const saved = await this.readState();
    let chain = saved?.chain ?? { ...GENESIS_CHAIN_STATE };
    for (const job of scan.pending) {
      const evidence = job.evidence === undefined ? undefined : fromEvidenceMetadata(job.evidence);
      if (evidence !== undefined && evidence.record.sequence > chain.lastSequence) {
        chain = { lastRecordHash: recordHash(evidence.record), lastSequence: evidence.record.sequence };
      }
    }
    const nextSequence = Math.max(saved?.nextSequence ?? 0, scan.highestSequence + 1);
    return saved?.file === undefined ? { nextSequence, chain } : { nextSequence, chain, file: saved.file };
  }

  // Both durable: after a power cut the state must not fall behind sequences whose chunks were
  // uploaded and removed (a sequence would be reused), and the job data is the chunk's only record.
  async saveState(state: SpoolState): Promise<void> {
    await writeFileAtomically(join(this.dir, SOURCE_STATE_FILE), JSON.stringify(state), { durability: 'fsync' });
  }

  async writeJobData(job: ChunkJobData): Promise<void> {
    const path = jobDataPath(this.chunkPath(job.metadata.sequence, job.metadata.container));
    await writeFileAtomically(path, serializeJobData(job), { durability: 'fsync' });
  }

  /** Moves a file that cannot be trusted aside, with a note of why, so nothing mistakes it for a chunk. */
  async quarantine(path: string, reason: string): Promise<string> {
    await mkdir(this.quarantineDir, { recursive: true });
    const target = join(this.quarantineDir, `${Date.now()}-${path.slice(path.lastIndexOf('/') + 1)}`);
    await rename(path, target);
    await writeFileAtomically(`${target}.why.json`, JSON.stringify({ from: path, movedAt: new Date().toISOString(), reason }), { durability: 'rename-only' });
    return target;
  }
}
