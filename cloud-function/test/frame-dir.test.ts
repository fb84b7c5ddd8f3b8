import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeFrameDirsOfEndedProcesses } from '../src/frame-dir.js';

describe('removeFrameDirsOfEndedProcesses', () => {
  let parent: string | undefined;
  afterEach(async () => {
    if (parent !== undefined) await rm(parent, { recursive: true, force: true });
  });

  it("removes the frame folders of processes that ended, keeps running processes' folders and anything else", async () => {
    parent = await mkdtemp(join(tmpdir(), 'frame-dir-test-'));
    // A pid that surely ended: a child that ran and was reaped.
    const endedPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    expect(Number(endedPid)).toBeGreaterThan(0);
    const names = [
      `crispy-frames-${endedPid}-abc123`,
      `crispy-frames-${process.pid}-def456`,
      `crispy-frames-${process.ppid}-ghi789`,
      'crispy-frames-old',
      'other',
    ];
    for (const name of names) await mkdir(join(parent, name));

    expect(await removeFrameDirsOfEndedProcesses(parent)).toEqual([`crispy-frames-${endedPid}-abc123`]);
    expect(names.map((name) => existsSync(join(parent as string, name)))).toEqual([false, true, true, true, true]);
  });

  it('is quiet about a parent folder that is missing', async () => {
    expect(await removeFrameDirsOfEndedProcesses(join(tmpdir(), 'no-such-folder-for-frames'))).toEqual([]);
  });
});
