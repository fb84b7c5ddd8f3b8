import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * ffmpeg processes still writing into a source's spool folder: left running when a previous
 * stream-handle was killed outright (SIGKILL, OOM). Linux: read from /proc.
 */
export async function findStaleRecorders(segmentPatterns: string | readonly string[], ownPid = process.pid): Promise<number[]> {
  const patterns = typeof segmentPatterns === 'string' ? [segmentPatterns] : segmentPatterns;
  const pids: number[] = [];
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === ownPid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (args.some((arg) => /(^|\/)ffmpeg$/.test(arg)) && patterns.some((pattern) => args.includes(pattern))) pids.push(Number(entry));
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM (ffmpeg closes its chunk), then SIGKILL after the grace period. */
export async function stopProcesses(pids: number[], graceMs: number): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}

/** SIGKILL at once, and wait until they are gone: for a file's recorder, whose footage can be read again. */
export async function killProcesses(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(20);
}
