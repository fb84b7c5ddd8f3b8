import { describe, expect, it } from 'vitest';
import { coalescedSync } from '../src/storage/coalesced-sync.js';

/** A sync that records when each call starts and is finished by hand. */
function manualSync() {
  const calls: { dir: string; finish: (error?: Error) => void }[] = [];
  const sync = (dir: string) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ dir, finish: (error) => (error === undefined ? resolve() : reject(error)) });
    });
  return { calls, sync };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('coalescedSync', () => {
  it('starts at once when no sync of the folder runs', async () => {
    const { calls, sync } = manualSync();
    const syncDir = coalescedSync(sync);
    const done = syncDir('/a');
    expect(calls).toHaveLength(1);
    calls[0]?.finish();
    await done;
  });

  it('makes callers that arrive during a sync share one sync that starts after it', async () => {
    const { calls, sync } = manualSync();
    const syncDir = coalescedSync(sync);
    let firstDone = false;
    let laterDone = 0;
    void syncDir('/a').then(() => (firstDone = true));
    const later = [syncDir('/a'), syncDir('/a'), syncDir('/a')].map((p) => p.then(() => laterDone++));
    expect(calls).toHaveLength(1);
    calls[0]?.finish();
    await tick();
    expect(firstDone).toBe(true);
    // The later callers renamed after the first sync began: they are not done until a second one ends.
    expect(laterDone).toBe(0);
    expect(calls).toHaveLength(2);
    calls[1]?.finish();
    await Promise.all(later);
    expect(laterDone).toBe(3);
    expect(calls).toHaveLength(2);
  });

  it('keeps folders apart', () => {
    const { calls, sync } = manualSync();
    const syncDir = coalescedSync(sync);
    void syncDir('/a');
    void syncDir('/b');
    expect(calls.map((c) => c.dir)).toEqual(['/a', '/b']);
  });

  it('hands a failed sync to its callers, and the next callers get a fresh one', async () => {
    const { calls, sync } = manualSync();
    const syncDir = coalescedSync(sync);
    const first = syncDir('/a');
    const second = syncDir('/a');
    calls[0]?.finish(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await tick();
    calls[1]?.finish(new Error('EIO again'));
    await expect(second).rejects.toThrow('EIO again');
    const third = syncDir('/a');
    expect(calls).toHaveLength(3);
    calls[2]?.finish();
    await third;
  });
});
