import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_CHAIN_STATE, chunkFileName, makeJobData, nextRecord, toEvidenceMetadata, type ChainState, type ChunkJobData } from '@crispy-streamer/shared';
import { SourceSpool } from '../../src/spool/source-spool.js';
import { chunkMetadata } from '@crispy-streamer/harness/chunk-fixtures';

let root = '';
let spool: SourceSpool;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'source-spool-'));
  spool = new SourceSpool(root, 'cam0');
  await spool.prepare();
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function job(sequence: number): ChunkJobData {
  return makeJobData(
    chunkMetadata({
      sequence,
      startTime: new Date(Date.UTC(2026, 10, 23, 9, 0, sequence * 3)).toISOString(),
      bytes: 5,
      crc32c: 'AAAAAA==',
      width: 320,
      height: 240,
      clockSync: 'unknown',
    }),
    undefined,
  );
}

/** A chunk file, with its job data when `listed`. */
async function addChunk(sequence: number, listed: boolean): Promise<string> {
  const path = spool.chunkPath(sequence, 'mp4');
  await writeFile(path, 'bytes');
  if (listed) await spool.writeJobData(job(sequence));
  return path;
}

const state = (nextSequence: number, chain: ChainState = GENESIS_CHAIN_STATE) => ({ nextSequence, chain });

describe('SourceSpool', () => {
  it('keeps each source in its own folder, with a quarantine folder inside', () => {
    expect(spool.dir).toBe(join(root, 'cam0'));
    expect(spool.quarantineDir).toBe(join(root, 'cam0', 'quarantine'));
    expect(spool.chunkPath(1, 'mp4')).toBe(join(root, 'cam0', 'cam0-0000000001.mp4'));
    expect(spool.chunkFile('cam0-0000000001.mp4')).toEqual({ path: join(root, 'cam0', 'cam0-0000000001.mp4'), sequence: 1, container: 'mp4' });
    expect(spool.chunkFile('cam1-0000000001.mp4')).toBeUndefined();
  });

  describe('scan', () => {
    it('finds nothing in an empty folder, and the first sequence is 0', async () => {
      const scan = await spool.scan();
      expect(scan).toEqual({ pending: [], unlisted: [], invalidJobData: [], highestSequence: -1 });
      expect((await spool.restoreState(scan)).nextSequence).toBe(0);
    });

    it('returns job data of listed chunks in sequence order and the unlisted chunk files', async () => {
      await addChunk(3, true);
      await addChunk(1, true);
      const unlisted = await addChunk(7, false);
      await addChunk(12, true);
      const scan = await spool.scan();
      expect(scan.pending).toEqual([job(1), job(3), job(12)]);
      expect(scan.unlisted).toEqual([{ path: unlisted, sequence: 7, container: 'mp4' }]);
      expect(scan.highestSequence).toBe(12);
    });

    it("ignores files that are not this source's chunks, and job data whose chunk is gone", async () => {
      await writeFile(join(spool.dir, 'cam1-0000000099.mp4'), 'another source');
      await writeFile(join(spool.dir, 'notes.txt'), 'x');
      await writeFile(join(spool.dir, 'cam0-0000000005.mp4.json.1234.0a1b2c3d.tmp'), '{');
      await writeFile(join(spool.dir, `${chunkFileName('cam0', 40, 'mp4')}.json`), JSON.stringify(job(40)));
      await mkdir(spool.quarantineDir);
      await writeFile(join(spool.quarantineDir, `1700000000000-${chunkFileName('cam0', 50, 'mp4')}`), 'old');
      await spool.saveState(state(2));
      expect(await spool.scan()).toEqual({ pending: [], unlisted: [], invalidJobData: [], highestSequence: -1 });
    });

    it.each([
      ['empty (cut short by a power loss)', ''],
      ['not JSON', '{"metadata":'],
      ['not job data', '{"hello":"world"}'],
      ['the job data of another chunk', JSON.stringify(job(8))],
    ])('reports job data that is %s, with its chunk and why, and does not throw', async (_label, text) => {
      const chunk = await addChunk(2, false);
      await writeFile(`${chunk}.json`, text);
      const scan = await spool.scan();
      expect(scan.pending).toEqual([]);
      expect(scan.invalidJobData).toEqual([
        { path: `${chunk}.json`, chunk: { path: chunk, sequence: 2, container: 'mp4' }, reason: expect.stringContaining('is not valid chunk job data') },
      ]);
    });
  });

  describe('restoreState', () => {
    it('continues after the highest chunk file when state.json is behind', async () => {
      await addChunk(7, false);
      await spool.saveState(state(5));
      expect((await spool.restoreState(await spool.scan())).nextSequence).toBe(8);
    });

    it('follows state.json when it is ahead of the files (chunks already uploaded and removed)', async () => {
      await addChunk(7, true);
      await spool.saveState(state(20));
      expect((await spool.restoreState(await spool.scan())).nextSequence).toBe(20);
    });

    it('survives an unreadable state.json by trusting the files', async () => {
      await addChunk(2, true);
      await writeFile(join(spool.dir, 'state.json'), '{"nextSeq');
      expect((await spool.restoreState(await spool.scan())).nextSequence).toBe(3);
    });

    /** Job data for a chunk whose evidence record follows `chain`, and the chain after it. */
    function chained(sequence: number, chain: ChainState): { job: ChunkJobData; chain: ChainState } {
      const base = job(sequence);
      const next = nextRecord(chain, { ...base.metadata, sha256: 'ab'.repeat(32) });
      return { job: { ...base, evidence: toEvidenceMetadata(next.record, undefined) }, chain: next.state };
    }

    it('starts from the genesis chain for a new source', async () => {
      expect((await spool.restoreState(await spool.scan())).chain).toEqual(GENESIS_CHAIN_STATE);
    });

    it('takes the saved chain when no newer record waits in the spool', async () => {
      const three = chained(3, chained(2, GENESIS_CHAIN_STATE).chain);
      await spool.saveState(state(4, three.chain));
      expect((await spool.restoreState(await spool.scan())).chain).toEqual(three.chain);
    });

    it('takes the newest record waiting in the spool when the state was not saved after it (crash in between)', async () => {
      const three = chained(3, GENESIS_CHAIN_STATE);
      const four = chained(4, three.chain);
      await spool.saveState(state(4, three.chain));
      for (const { job: data } of [three, four]) {
        await writeFile(spool.chunkPath(data.metadata.sequence, 'mp4'), 'bytes');
        await spool.writeJobData(data);
      }
      await addChunk(5, true); // no evidence record: not a link
      expect((await spool.restoreState(await spool.scan())).chain).toEqual(four.chain);
    });
  });

  describe('highestSequenceOnDisk', () => {
    it('counts every chunk file and job data file, finalised or not, and nothing in quarantine', async () => {
      expect(await spool.highestSequenceOnDisk()).toBe(-1);
      await addChunk(3, true);
      await addChunk(9, false);
      await mkdir(spool.quarantineDir);
      await writeFile(join(spool.quarantineDir, `1-${chunkFileName('cam0', 50, 'mp4')}`), 'old');
      expect(await spool.highestSequenceOnDisk()).toBe(9);
      await writeFile(`${spool.chunkPath(11, 'mp4')}.json`, 'orphaned job data');
      expect(await spool.highestSequenceOnDisk()).toBe(11);
    });
  });

  describe('saveState and writeJobData', () => {
    it('write their JSON atomically and leave no temporary file', async () => {
      await spool.saveState(state(12));
      await spool.writeJobData(job(11));
      expect(JSON.parse(await readFile(join(spool.dir, 'state.json'), 'utf8'))).toEqual({ nextSequence: 12, chain: GENESIS_CHAIN_STATE });
      expect(JSON.parse(await readFile(`${spool.chunkPath(11, 'mp4')}.json`, 'utf8'))).toEqual(job(11));
      expect((await readdir(spool.dir)).sort()).toEqual(['cam0-0000000011.mp4.json', 'state.json']);
    });
  });

  describe('quarantine', () => {
    it('moves the file into quarantine/ under a time-stamped name, bytes intact, with a note of why', async () => {
      const path = await addChunk(4, false);
      const before = Date.now();
      const target = await spool.quarantine(path, 'no moov box');
      expect(target.startsWith(`${spool.quarantineDir}/`)).toBe(true);
      const name = target.slice(spool.quarantineDir.length + 1);
      expect(name).toMatch(/^\d+-cam0-0000000004\.mp4$/);
      expect(Number(name.split('-')[0])).toBeGreaterThanOrEqual(before);
      expect(await readFile(target, 'utf8')).toBe('bytes');
      expect(JSON.parse(await readFile(`${target}.why.json`, 'utf8'))).toMatchObject({ from: path, reason: 'no moov box' });
      expect(await readdir(spool.dir)).toEqual(['quarantine']);
    });
  });
});
