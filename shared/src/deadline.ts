/**
 * Waits for `work` at most `ms`: true if it settled (either way) in time, false if not. The work
 * itself goes on; for shutdown paths and health checks that must not hang on a server that is gone.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The value of `check` if it resolves within `ms`, else false (and false if it rejects). */
export async function checkWithin(check: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([check.catch(() => false), expired]);
  } finally {
    clearTimeout(timer);
  }
}
