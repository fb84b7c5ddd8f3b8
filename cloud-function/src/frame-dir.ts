import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The folder each function process writes its decoded frames to: one per process, for its life,
// named after its pid. It is removed when the process exits; a process killed by a signal cannot
// remove its own, so each new one removes those of processes that are gone (empty folders: every
// PNG is removed as soon as it is read).

const PREFIX = 'crispy-frames-';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the frame folders in `parent` whose process no longer runs; returns their names. */
export async function removeFrameDirsOfEndedProcesses(parent: string): Promise<string[]> {
  const names = await readdir(parent).catch(() => [] as string[]);
  const ended = names.filter((name) => {
    const pid = /^crispy-frames-(\d+)-/.exec(name)?.[1];
    return pid !== undefined && Number(pid) !== process.pid && !isRunning(Number(pid));
  });
  await Promise.all(ended.map((name) => rm(join(parent, name), { recursive: true, force: true })));
  return ended;
}

let frameDir: Promise<string> | undefined;

/** This process's frame folder, made on first use. */
export function processFrameDir(): Promise<string> {
  frameDir ??= (async () => {
    await removeFrameDirsOfEndedProcesses(tmpdir());
    const dir = await mkdtemp(join(tmpdir(), `${PREFIX}${process.pid}-`));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  })();
  return frameDir;
}
