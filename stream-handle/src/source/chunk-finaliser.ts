import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GENESIS_CHAIN_STATE,
  crc32cBase64,
  inspectChunkBuffer,
  isIncompleteChunkError,
  makeJobData,
  nextRecord,
  sha256Hex,
  syncFile,
  toEvidenceMetadata,
  type ChainState,
  type ChunkJobData,
  type ClockSync,
  type ChunkContainer,
  type ChunkInspection,
  type Logger,
} from '@crispy-streamer/shared';
import type { CameraClockTracker } from '../clock/camera-clock-tracker.js';
import type { ChunkPlacement } from '../clock/recording-clock.js';
import type { SourceSpool, SpoolChunkFile, SpoolState } from '../spool/source-spool.js';
import { buildChunkMetadata, type ChunkRecordingFacts } from './chunk-metadata.js';
import type { EvidenceSigner } from './evidence-signer.js';
import type { FileIdentity, FileIngestPlan, FileIngestState } from './file-ingest.js';
import type { SourceConfig } from './source-config.js';

export interface ChunkFinaliserDeps {
  source: SourceConfig;
  spool: SourceSpool;
  nodeId: string;
  logger: Logger;
  /** Signs each chunk's evidence record; without a key, records are hashed and chained only. */
  signer?: EvidenceSigner;
  /** Whether the host clock is NTP-synchronised, as last probed. */
  clockSync?: () => ClockSync;
  /** A camera: places each chunk on the camera's clock or the node's, and follows the camera's offset. */
  cameraClock?: CameraClockTracker;
}

/** ffmpeg lists a chunk after writing its trailer but before closing it; give the close a moment. */
const INCOMPLETE_RETRIES = 20;
const INCOMPLETE_RETRY_MS = 25;

/**
 * Turns a chunk file into a chunk: proves it whole, measures it, makes its metadata and evidence
 * record, and writes its job data and the source's state durably. It owns the source's sequence
 * numbers and evidence chain: a number, once a file holds it, is never handed out again.
 */
export class ChunkFinaliser {
  private next = 0;
  private chain: ChainState = { ...GENESIS_CHAIN_STATE };
  /** A file source's ingest progress, saved with every chunk. */
  private file: FileIngestState | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: ChunkFinaliserDeps) {
    this.log = deps.logger.child({ source: deps.source.id });
  }

  restore(state: SpoolState): void {
    this.next = state.nextSequence;
    this.chain = state.chain;
    this.file = state.file;
  }

  /** What an earlier run recorded of this source's file, if anything. */
  get fileIngest(): FileIngestState | undefined {
    return this.file;
  }

  /** From now on, chunks are of this file, starting where the plan says. */
  beginFile(file: FileIdentity, plan: FileIngestPlan): void {
    if (plan.action === 'resume') this.file = { ...plan.after };
    else this.file = { ...file, ingestedSeconds: 0, complete: false, firstSequence: this.next, lastSequence: this.next - 1 };
  }

  /** Every chunk of the file was finalised and queued: a later run must not ingest it again. */
  async completeFile(): Promise<void> {
    if (this.file === undefined) return;
    this.file = { ...this.file, complete: true };
    await this.deps.spool.saveState(this.state(this.chain));
  }

  private state(chain: ChainState): SpoolState {
    return this.file === undefined ? { nextSequence: this.next, chain } : { nextSequence: this.next, chain, file: this.file };
  }

  /** The first sequence the next recording may use. */
  get nextSequence(): number {
    return this.next;
  }

  /** A file holds this sequence (ffmpeg listed it, or it lies in the spool): it is taken for good. */
  reserve(sequence: number): void {
    this.next = Math.max(this.next, sequence + 1);
  }

  /**
   * A chunk ffmpeg listed: it was closed just now. `place` says where it starts, given its media
   * length (which only its own boxes know).
   */
  async finaliseListed(chunk: SpoolChunkFile, place: (mediaDurationMs: number) => ChunkPlacement, facts: ChunkRecordingFacts = {}): Promise<ChunkJobData> {
    this.reserve(chunk.sequence);
    const { bytes, info } = await readCompleteChunk(chunk.path, chunk.container);
    return this.finalise(chunk, bytes, info, place(info.durationMs), facts);
  }

  /**
   * A whole chunk file nobody finalised (the recorder stopped abruptly, or its job data was lost):
   * described again from its own bytes. It was closed when its last frame was written, so it
   * started its media length before its modification time.
   */
  async recoverUnlisted(chunk: SpoolChunkFile): Promise<ChunkJobData> {
    this.reserve(chunk.sequence);
    const bytes = await readFile(chunk.path);
    const info = await inspectChunkBuffer(bytes, chunk.container);
    const { mtimeMs } = await stat(chunk.path);
    const job = await this.finalise(chunk, bytes, info, { startMs: Math.round(mtimeMs - info.durationMs), clock: 'host', writtenAtMs: mtimeMs }, {});
    // Its recording is over: the next chunk continues no mapping of it.
    this.deps.cameraClock?.newRecording();
    return job;
  }

  /** What the last chunk finalised holds, as its own bytes say (keyframes, for the GOP hint). */
  lastInspection: ChunkInspection | undefined;

  private async finalise(
    chunk: SpoolChunkFile,
    bytes: Buffer,
    info: ChunkInspection,
    hostPlacement: ChunkPlacement,
    recorded: ChunkRecordingFacts,
  ): Promise<ChunkJobData> {
    const { source, spool, signer } = this.deps;
    this.lastInspection = info;
    let placement = hostPlacement;
    let facts = recorded;
    if (source.kind === 'rtsp' && this.deps.cameraClock !== undefined) {
      const live = this.deps.cameraClock.place(info, hostPlacement);
      placement = live.placement;
      facts = { ...recorded, clock: live.facts };
    }
    const metadata = buildChunkMetadata({
      source,
      sequence: chunk.sequence,
      placement,
      container: chunk.container,
      info,
      recording: facts,
      bytes: bytes.byteLength,
      crc32c: crc32cBase64(bytes),
      nodeId: this.deps.nodeId,
      clockSync: this.deps.clockSync?.() ?? 'unknown',
    });
    // The chunk's evidence record links to the one before it; a chunk that cannot follow the
    // chain (its sequence is behind it) still goes up, without a record, and says so.
    let evidence: Record<string, string> | undefined;
    let chain = this.chain;
    try {
      const next = nextRecord(this.chain, { ...metadata, sha256: sha256Hex(bytes), keyId: signer?.keyId });
      evidence = toEvidenceMetadata(next.record, signer?.sign(next.record));
      chain = next.state;
    } catch (error) {
      this.log.error({ err: error, sequence: chunk.sequence }, 'chunk has no evidence record: it does not follow the chain');
    }
    const job = makeJobData(metadata, evidence);
    const file = this.fileAfter(chunk, placement, info.durationMs);
    // ffmpeg does not sync its output: the chunk's bytes reach the disk before anything says the
    // chunk exists. The job data goes to disk before the queue: the spool can always rebuild it.
    await syncFile(chunk.path);
    await spool.writeJobData(job);
    this.file = file;
    await spool.saveState(this.state(chain));
    this.chain = chain;
    return job;
  }

  /**
   * A file's progress after this chunk: its media end, when the clock placed it in the file, or,
   * for a chunk recovered from the spool, its length after the chunk before it (a recording's
   * chunks are contiguous).
   */
  private fileAfter(chunk: SpoolChunkFile, placement: ChunkPlacement, durationMs: number): FileIngestState | undefined {
    const file = this.file;
    if (file === undefined || file.complete) return file;
    let endSeconds: number | undefined;
    if (placement.mediaStartSeconds !== undefined) endSeconds = placement.mediaStartSeconds + durationMs / 1000;
    else if (chunk.sequence === file.lastSequence + 1) endSeconds = file.ingestedSeconds + durationMs / 1000;
    if (endSeconds === undefined) return file;
    return {
      ...file,
      ingestedSeconds: Math.max(file.ingestedSeconds, Math.round(endSeconds * 1e6) / 1e6),
      lastSequence: Math.max(file.lastSequence, chunk.sequence),
    };
  }
}

/** Whether a finalisation failed because of what the file holds (retrying cannot help) or of the disk. */
export { isChunkContentError } from '@crispy-streamer/shared';

/** Reads a listed chunk and proves it whole in its container before anything trusts it. */
export async function readCompleteChunk(path: string, container: ChunkContainer): Promise<{ bytes: Buffer; info: ChunkInspection }> {
  for (let attempt = 0; ; attempt++) {
    const bytes = await readFile(path);
    try {
      return { bytes, info: await inspectChunkBuffer(bytes, container) };
    } catch (error) {
      if (!isIncompleteChunkError(error) || attempt >= INCOMPLETE_RETRIES) throw error;
      await sleep(INCOMPLETE_RETRY_MS);
    }
  }
}
