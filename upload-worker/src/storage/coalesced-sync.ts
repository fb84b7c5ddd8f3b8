/**
 * Group commit for folder fsyncs. A caller that renamed something into a folder needs an fsync of
 * that folder which starts after its rename. Callers that arrive while one is running share the
 * next one; so with eight uploads finishing together the folder is synced twice, not eight times,
 * and each caller still returns only once its own rename is on disk.
 */
export function coalescedSync(sync: (dir: string) => Promise<void>): (dir: string) => Promise<void> {
  const running = new Map<string, Promise<void>>();
  const next = new Map<string, Promise<void>>();

  const start = (dir: string): Promise<void> => {
    const run = sync(dir).finally(() => {
      if (running.get(dir) === run) running.delete(dir);
    });
    running.set(dir, run);
    return run;
  };

  return (dir) => {
    const waiting = next.get(dir);
    if (waiting !== undefined) return waiting;
    const current = running.get(dir);
    if (current === undefined) return start(dir);
    // The running sync may have begun before this caller's rename: wait for it, then one more.
    const following = current
      .catch(() => undefined)
      .then(() => {
        next.delete(dir);
        return start(dir);
      });
    next.set(dir, following);
    return following;
  };
}
