import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { UploadStalledError, withProgressTimeout } from '../src/progress-watchdog.js';

describe('withProgressTimeout', () => {
  it('lets work that keeps making progress run far longer than the timeout', async () => {
    const started = Date.now();
    const result = await withProgressTimeout(
      async ({ progress }) => {
        for (let step = 0; step < 12; step++) {
          await sleep(25);
          progress();
        }
        return 'done';
      },
      100,
      () => 'stalled',
    );
    expect(result).toBe('done');
    expect(Date.now() - started).toBeGreaterThan(250);
  });

  it('aborts work that makes no progress, and rejects at once with UploadStalledError, whatever the work does after', async () => {
    let aborted: unknown;
    const stalled = withProgressTimeout(
      ({ signal }) =>
        new Promise<string>((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
            // The work fails its own way, later; nobody must see that as an unhandled rejection.
            setTimeout(() => reject(new Error('aborted by the watchdog')), 20);
          });
        }),
      50,
      () => 'no progress for 50 ms',
    );
    const error = await stalled.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadStalledError);
    expect((error as Error).message).toBe('no progress for 50 ms');
    expect(aborted).toBe(error);
    await sleep(40);
  });

  it('passes the work’s own failure through', async () => {
    await expect(
      withProgressTimeout(
        async () => Promise.reject(new Error('refused')),
        1000,
        () => 'stalled',
      ),
    ).rejects.toThrow('refused');
  });
});
