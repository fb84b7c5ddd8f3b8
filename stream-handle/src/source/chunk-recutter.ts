import { existsSync } from 'node:fs';
import { readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { chunkFileName, type Logger } from '@crispy-streamer/shared';
import type { ChunkPlacement } from '../clock/recording-clock.js';
import { reheadChunk, splitChunk } from '../recorder/chunk-recut.js';
import type { RunningRecorder } from '../recorder/recorder.js';
import type { SourceSpool, SpoolChunkFile } from '../spool/source-spool.js';
import { readCompleteChunk, type ChunkFinaliser } from './chunk-finaliser.js';
import { findParameterChange } from './parameter-change.js';
import type { SourceConfig } from './source-config.js';

/**
 * One ffmpeg run, as its chunks are finalised: what was found in them that the run must answer
 * (a stream whose parameters changed).
 */
export interface RunContext {
  recorder: RunningRecorder;
  /** Chunk files of this run that took the next number after a chunk was cut in two (ffmpeg's name -> ours). */
  renames: Map<string, string>;
  /** A file cut again after a change: what ffmpeg listed after this sequence is not ours any more. */
  skipAfter?: number;
  /** A file cut again after a change: recorded again from here, in media seconds. */
  resumeAtSeconds?: number;
  /** The recording was stopped because its stream changed: the next one is made at once. */
  restartForChange: boolean;
}

export interface ChunkRecutterDeps {
  source: SourceConfig;
  spool: SourceSpool;
  ffmpegPath: string;
  finaliser: ChunkFinaliser;
  log: Logger;
  stopGraceMs: number;
}

/** Cuts a source's chunks again when their frames are not what their header says (see docs/ffmpeg.md, "Streams that change mid-way"). */
export class ChunkRecutter {
  constructor(private readonly deps: ChunkRecutterDeps) {}

  /**
   * Makes the chunk true to its frames when they are not what its header says (a new SPS: the
   * camera or file changed resolution or codec parameters while ffmpeg copied). A chunk whose
   * frames all have other parameters gets a header of its own frames. One that changes part-way is
   * cut at the keyframe that changes: it keeps the frames before; those after, with a header of
   * their own, are the next sequence. The recording is then made again: a camera's at once (its
   * later chunk files move up one number); a file's from where the two parts end. Nothing is
   * re-encoded. Returns the part after the change, to finalise after this one.
   */
  async recutIfParametersChanged(
    chunk: SpoolChunkFile,
    place: (mediaDurationMs: number) => ChunkPlacement,
    context: RunContext,
  ): Promise<{ chunk: SpoolChunkFile; placement: ChunkPlacement } | undefined> {
    const { spool, ffmpegPath, source } = this.deps;
    const extension = chunk.path.slice(chunk.path.lastIndexOf('.'));
    const scratch = join(spool.dir, `.recut-${chunk.sequence}`);
    let { bytes, info } = await readCompleteChunk(chunk.path, chunk.container);
    let change = await findParameterChange(bytes, chunk.container);
    if (change === undefined) return undefined;
    if (change.atSeconds === 0) {
      await reheadChunk(ffmpegPath, [chunk.path], chunk.container, info.codec, `${scratch}-reheaded${extension}`);
      await rename(`${scratch}-reheaded${extension}`, chunk.path);
      const headerSaid = info;
      ({ bytes, info } = await readCompleteChunk(chunk.path, chunk.container));
      this.deps.log.warn(
        { sequence: chunk.sequence, header: `${headerSaid.width}x${headerSaid.height}`, frames: `${info.width}x${info.height}` },
        `stream parameters changed (a new SPS): chunk ${chunk.sequence}'s frames are ${info.width}x${info.height}, not ${headerSaid.width}x${headerSaid.height} as ffmpeg's header said; it was given a header of its own frames`,
      );
      // With its own header, it may still change part-way.
      change = await findParameterChange(bytes, chunk.container);
      if (change === undefined || change.atSeconds === 0) return undefined;
    }

    // Placed as the whole chunk ffmpeg listed (a camera's first chunk anchors its recording by its length).
    const placement = place(info.durationMs);
    const [before, afterPart] = await splitChunk(ffmpegPath, chunk.path, chunk.container, change.atSeconds, scratch);
    const afterPath = `${scratch}-after${extension}`;
    await reheadChunk(ffmpegPath, [afterPart], chunk.container, info.codec, afterPath);
    await unlink(afterPart).catch(() => undefined);
    const next = chunk.sequence + 1;
    if (source.kind === 'rtsp') {
      // The recording ends here (the next connection's header is right); what it still writes moves up one number.
      context.restartForChange = true;
      await context.recorder.stop(this.deps.stopGraceMs);
      await this.renumberFrom(next, context);
    } else {
      // ffmpeg runs ahead of us on a file: what it cut after this chunk is recorded again.
      await context.recorder.abort();
      context.skipAfter = chunk.sequence;
      for (const name of await readdir(spool.dir)) {
        const later = spool.chunkFile(name);
        if (later !== undefined && later.sequence > chunk.sequence && !existsSync(`${later.path}.json`)) await unlink(later.path).catch(() => undefined);
      }
    }
    // The part after first: until the part before replaces the chunk, the chunk holds every frame
    // (a crash in between leaves frames twice, never none). The scratch files are only ever copies.
    const afterChunk: SpoolChunkFile = { path: spool.chunkPath(next, chunk.container), sequence: next, container: chunk.container };
    await rename(afterPath, afterChunk.path);
    await rename(before, chunk.path);
    const beforeInfo = (await readCompleteChunk(chunk.path, chunk.container)).info;
    const afterInfo = (await readCompleteChunk(afterChunk.path, chunk.container)).info;
    this.deps.finaliser.reserve(next);
    const afterPlacement: ChunkPlacement = {
      startMs: Math.round(placement.startMs + beforeInfo.durationMs),
      clock: placement.clock,
      ...(placement.mediaStartSeconds === undefined ? {} : { mediaStartSeconds: placement.mediaStartSeconds + beforeInfo.durationMs / 1000 }),
    };
    if (source.kind !== 'rtsp' && afterPlacement.mediaStartSeconds !== undefined) {
      context.resumeAtSeconds = Math.round((afterPlacement.mediaStartSeconds + afterInfo.durationMs / 1000) * 1e6) / 1e6;
    }
    this.deps.log.warn(
      {
        sequence: chunk.sequence,
        atSeconds: change.atSeconds,
        before: `${beforeInfo.width}x${beforeInfo.height}`,
        after: `${afterInfo.width}x${afterInfo.height}`,
        next,
      },
      `stream parameters changed (a new SPS) ${change.atSeconds.toFixed(3)} s into chunk ${chunk.sequence}: cut there; chunk ${chunk.sequence} holds the ${beforeInfo.width}x${beforeInfo.height} frames before, chunk ${next} the ${afterInfo.width}x${afterInfo.height} frames after`,
    );
    return { chunk: afterChunk, placement: afterPlacement };
  }

  /** Once the recorder has exited: its chunk files from `sequence` on move up one number (highest first), so `sequence` is free. */
  private async renumberFrom(sequence: number, context: RunContext): Promise<void> {
    const { spool, source } = this.deps;
    const files = (await readdir(spool.dir))
      .map((name) => spool.chunkFile(name))
      .filter((file): file is SpoolChunkFile => file !== undefined && file.sequence >= sequence);
    files.sort((a, b) => b.sequence - a.sequence);
    for (const file of files) {
      const moved = chunkFileName(source.id, file.sequence + 1, file.container);
      await rename(file.path, join(spool.dir, moved));
      context.renames.set(chunkFileName(source.id, file.sequence, file.container), moved);
      this.deps.finaliser.reserve(file.sequence + 1);
    }
  }
}
