import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAtomicWriteLeftover, writeFileAtomically } from '../../src/fs/atomic-write.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atomic-write-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomically', () => {
  it.each(['fsync', 'rename-only'] as const)('creates or replaces a file and leaves no temporary file behind (%s)', async (durability) => {
    const path = join(dir, 'state.json');
    await writeFileAtomically(path, '{"a":1}', { durability });
    await writeFileAtomically(path, '{"a":2}', { durability });
    expect(await readFile(path, 'utf8')).toBe('{"a":2}');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('leaves the old file as it was when the write fails', async () => {
    const path = join(dir, 'state.json');
    await writeFile(path, 'old');
    // A directory where the file should be: the rename fails after the temporary file was written.
    const blocked = join(dir, 'blocked');
    await mkdir(blocked);
    await writeFile(join(blocked, 'x'), 'x');
    await expect(writeFileAtomically(blocked, 'new', { durability: 'fsync' })).rejects.toThrow();
    expect(await readFile(path, 'utf8')).toBe('old');
    expect((await readdir(dir)).sort()).toEqual(['blocked', 'state.json']);
  });

  it('picks a temporary name no other writer can hold, so a stray file there does not stop it', async () => {
    const path = join(dir, 'job.json');
    await mkdir(`${path}.${process.pid}.tmp`);
    await writeFileAtomically(path, 'x', { durability: 'fsync' });
    expect(await readFile(path, 'utf8')).toBe('x');
  });

  it('recognises its own leftovers by name', () => {
    expect(isAtomicWriteLeftover('cam0-0000000001.mp4.json.4242.0a1b2c3d.tmp')).toBe(true);
    expect(isAtomicWriteLeftover('cam0-0000000001.mp4.json')).toBe(false);
  });
});
