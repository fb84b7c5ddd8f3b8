// Everything the benchmark starts (processes, temp dirs) registers how to undo it here, so that a
// failure, Ctrl-C or SIGTERM still leaves nothing behind.

type Cleanup = { what: string; run: () => unknown };
const cleanups: Cleanup[] = [];

/** Registers an undo step; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(what: string, run: () => unknown): () => Promise<void> {
  const entry: Cleanup = { what, run };
  cleanups.push(entry);
  return async () => {
    const index = cleanups.indexOf(entry);
    if (index < 0) return;
    cleanups.splice(index, 1);
    await entry.run();
  };
}

/** Runs every registered step, newest first; errors are reported and do not stop the others. */
export async function runAllCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const entry = cleanups.pop() as Cleanup;
    try {
      await Promise.race([entry.run(), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
    } catch (error) {
      process.stderr.write(`cleanup of ${entry.what} failed: ${(error as Error).message}\n`);
    }
  }
}
