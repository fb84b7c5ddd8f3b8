import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CHUNK_CONTAINERS, chunkFilePattern, errorMessage, type ChunkJobData, type Logger, type RecorderMetrics } from '@crispy-streamer/shared';
import { findStaleRecorders, killProcesses, stopProcesses } from '../recorder/stale-recorders.js';
import type { SourceSpool } from '../spool/source-spool.js';
import type { ChunkFinaliser } from './chunk-finaliser.js';

export interface SpoolRecoveryDeps {
  sourceId: string;
  spool: SourceSpool;
  finaliser: ChunkFinaliser;
  logger: Logger;
  metrics?: RecorderMetrics;
  stopGraceMs: number;
  /**
   * How an orphaned ffmpeg is ended: a camera's is asked to close its chunk (that footage exists
   * nowhere else); a file's is killed, so its last chunk is never cut short mid-GOP: the run that
   * follows reads that part of the file again, from the last keyframe a whole chunk ended on.
   */
  orphans: 'close-chunk' | 'kill';
}

/**
 * What a source's spool folder holds when its recorder starts, put right before anything records:
 * an ffmpeg orphaned by a killed predecessor is stopped, numbering and the chain continue after
 * everything found, unreadable job data is moved aside (its chunk is described again from its own
 * bytes), whole chunks nobody finalised are finalised, and broken ones quarantined.
 * Returns the chunks that wait for the queue: those finalised before, and those recovered now.
 */
export async function recoverSourceSpool(deps: SpoolRecoveryDeps): Promise<{ pending: ChunkJobData[]; recovered: ChunkJobData[] }> {
  const { sourceId, spool, finaliser, metrics } = deps;
  const log = deps.logger.child({ source: sourceId });
  // An ffmpeg orphaned by a killed predecessor would keep writing chunks under our feet.
  const stale = await findStaleRecorders(CHUNK_CONTAINERS.map((container) => join(spool.dir, chunkFilePattern(sourceId, container))));
  if (stale.length > 0) {
    log.warn({ pids: stale }, 'an ffmpeg from a previous run is still recording this source: stopping it before starting again');
    if (deps.orphans === 'kill') await killProcesses(stale);
    else await stopProcesses(stale, deps.stopGraceMs);
  }
  // Scratch files of a chunk cut again after its stream changed: copies only (see SourceRunner).
  for (const name of await readdir(spool.dir)) if (name.startsWith('.recut-')) await rm(join(spool.dir, name), { force: true });
  const scan = await spool.scan();
  finaliser.restore(await spool.restoreState(scan));

  for (const invalid of scan.invalidJobData) {
    const movedTo = await spool.quarantine(invalid.path, invalid.reason);
    metrics?.chunksQuarantined.inc({ source: sourceId });
    log.error(
      { file: invalid.path, movedTo, reason: invalid.reason },
      'job data of a chunk is unreadable (cut short by a power loss?): moved to quarantine; the chunk is described again from its own bytes',
    );
    scan.unlisted.push(invalid.chunk);
  }
  scan.unlisted.sort((a, b) => a.sequence - b.sequence);

  const recovered: ChunkJobData[] = [];
  for (const chunk of scan.unlisted) {
    try {
      const job = await finaliser.recoverUnlisted(chunk);
      log.warn(
        { file: chunk.path, sequence: chunk.sequence, startTime: job.metadata.startTime },
        'recovered a complete chunk that was never queued (the recorder stopped abruptly); start time estimated from the file time',
      );
      recovered.push(job);
    } catch (error) {
      const reason = errorMessage(error);
      const movedTo = await spool.quarantine(chunk.path, reason);
      metrics?.chunksQuarantined.inc({ source: sourceId });
      log.error(
        { file: chunk.path, movedTo, reason },
        'chunk file was never completed by ffmpeg (killed mid-chunk?) and cannot be repaired: moved to quarantine',
      );
    }
  }
  return { pending: scan.pending, recovered };
}
