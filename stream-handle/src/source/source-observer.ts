import type { ChunkMetadata } from '@crispy-streamer/shared';

/**
 * What a SourceRunner tells whoever watches it (the fleet status, alerts), at the few moments its
 * state changes. Calls are synchronous and must return at once: an observer queues its own work,
 * and an observer that throws is ignored (recording never depends on it).
 */
export interface SourceObserver {
  /** ffmpeg was started: the first time, after a reconnect delay, or after a pause. */
  recorderStarted?(): void;
  /** A chunk is finalised in the spool (its job data written). */
  chunkRecorded?(metadata: ChunkMetadata): void;
  /** A live source's ffmpeg exited; it is started again after `retryInMs`. */
  streamEnded?(event: { reason: string; failure: string; retryInMs: number }): void;
  /** Footage missing between two chunks, as the runner reports it ("recording gap"). */
  gap?(event: { fromMs: number; toMs: number }): void;
  /** Recording paused because the spool is full; `resumed` when it has room again. */
  paused?(reason: string): void;
  resumed?(): void;
}
