/** An upload attempt made no progress for the progress timeout: the connection is dead or stalled. */
export class UploadStalledError extends Error {
  override name = 'UploadStalledError';
}

export interface ProgressSignal {
  /** Aborted when the attempt stalled; the work stops its streams and requests. */
  readonly signal: AbortSignal;
  /** The work moved forward: the stall clock starts again. */
  progress: () => void;
}

/**
 * Runs `work` until it settles or makes no progress for `idleMs`: an attempt is bounded by lack of
 * progress, not by total time, so an upload slower than any fixed limit still finishes while bytes
 * keep moving. On a stall the work is aborted through its signal and this rejects with
 * UploadStalledError at once; whatever the work throws after that is ignored.
 */
export async function withProgressTimeout<T>(work: (watch: ProgressSignal) => Promise<T>, idleMs: number, describe: () => string): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let rejectStalled: (error: Error) => void = () => undefined;
  const stalled = new Promise<never>((_, reject) => {
    rejectStalled = reject;
  });
  const arm = (): void => {
    if (controller.signal.aborted) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      const error = new UploadStalledError(describe());
      controller.abort(error);
      rejectStalled(error);
    }, idleMs);
  };
  arm();
  const running = work({ signal: controller.signal, progress: arm });
  running.catch(() => undefined); // after a stall nobody waits for it
  try {
    return await Promise.race([running, stalled]);
  } finally {
    clearTimeout(timer);
  }
}
