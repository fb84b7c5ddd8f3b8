import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_CHAIN_STATE, nextRecord, toEvidenceMetadata, type ChainState, type ChunkJobData } from '@crispy-streamer/shared';
import { segmentFileName } from '../src/recorder-args.js';
import { SourceSpool, writeAtomically } from '../src/source-spool.js';

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
  return {
    spoolPath: spool.chunkPath(segmentFileName('cam0', sequence)),
    metadata: {
      sourceId: 'cam0',
      sequence,
      startTime: new Date(Date.UTC(2026, 10, 23, 9, 0, sequence * 3)).toISOString(),
      durationMs: 3000,
      frameCount: 90,
      frameRate: 30,
      bytes: 5,
      crc32c: 'AAAAAA==',
      container: 'mp4',
      codec: 'h264',
      width: 320,
      height: 240,
      mode: 'copy',
      clock: 'host',
      clockSync: 'unknown',
      recordedBy: 'edge-1',
    },
  };
}

/** A chunk file, with its job data when `listed`. */
async function addChunk(sequence: number, listed: boolean): Promise<string> {
  const path = spool.chunkPath(segmentFileName('cam0', sequence));
  await writeFile(path, 'bytes');
  if (listed) await spool.writeJobData(job(sequence));
  return path;
}

describe('SourceSpool', () => {
  it('keeps each source in its own folder, with a quarantine folder inside', () => {
    expect(spool.dir).toBe(join(root, 'cam0'));
    expect(spool.quarantineDir).toBe(join(root, 'cam0', 'quarantine'));
    expect(spool.chunkPath('cam0-0000000001.mp4')).toBe(join(root, 'cam0', 'cam0-0000000001.mp4'));
    expect(SourceSpool.sidecarPath('/s/cam0-0000000001.mp4')).toBe('/s/cam0-0000000001.mp4.json');
  });

  describe('scan', () => {
    it('finds nothing in an empty folder, and the first sequence is 0', async () => {
      const scan = await spool.scan();
      expect(scan).toEqual({ pending: [], unlisted: [], highestSequence: -1 });
      expect(await spool.nextSequence(scan)).toBe(0);
    });

    it('returns job data of listed chunks in sequence order and the paths of unlisted chunk files', async () => {
      await addChunk(3, true);
      await addChunk(1, true);
      const unlisted = await addChunk(7, false);
      await addChunk(12, true);
      const scan = await spool.scan();
      expect(scan.pending).toEqual([job(1), job(3), job(12)]);
      expect(scan.unlisted).toEqual([unlisted]);
      expect(scan.highestSequence).toBe(12);
    });

    it("ignores files that are not this source's chunks, and job data whose chunk is gone", async () => {
      await writeFile(join(spool.dir, 'cam1-0000000099.mp4'), 'another source');
      await writeFile(join(spool.dir, 'notes.txt'), 'x');
      await writeFile(join(spool.dir, 'cam0-0000000005.mp4.json.1234.tmp'), '{');
      await writeFile(join(spool.dir, `${segmentFileName('cam0', 40)}.json`), JSON.stringify(job(40)));
      await mkdir(spool.quarantineDir);
      await writeFile(join(spool.quarantineDir, `1700000000000-${segmentFileName('cam0', 50)}`), 'old');
      await spool.saveState(2, GENESIS_CHAIN_STATE);
      expect(await spool.scan()).toEqual({ pending: [], unlisted: [], highestSequence: -1 });
    });
  });

  describe('nextSequence', () => {
    it('continues after the highest chunk file when state.json is behind', async () => {
      await addChunk(7, false);
      await spool.saveState(5, GENESIS_CHAIN_STATE);
      expect(await spool.nextSequence(await spool.scan())).toBe(8);
    });

    it('follows state.json when it is ahead of the files (chunks already uploaded and removed)', async () => {
      await addChunk(7, true);
      await spool.saveState(20, GENESIS_CHAIN_STATE);
      expect(await spool.nextSequence(await spool.scan())).toBe(20);
    });

    it('survives an unreadable state.json by trusting the files', async () => {
      await addChunk(2, true);
      await writeFile(join(spool.dir, 'state.json'), '{"nextSeq');
      expect(await spool.nextSequence(await spool.scan())).toBe(3);
    });
  });

  describe('chainState', () => {
    /** Job data for a chunk whose evidence record follows `state`, and the state after it. */
    function chained(sequence: number, state: ChainState): { job: ChunkJobData; state: ChainState } {
      const base = job(sequence);
      const next = nextRecord(state, { ...base.metadata, sha256: 'ab'.repeat(32) });
      return { job: { ...base, evidence: toEvidenceMetadata(next.record, undefined) }, state: next.state };
    }

    it('starts from the genesis state for a new source', async () => {
      expect(await spool.chainState(await spool.scan())).toEqual(GENESIS_CHAIN_STATE);
    });

    it('takes the saved chain when no newer record waits in the spool', async () => {
      const three = chained(3, chained(2, GENESIS_CHAIN_STATE).state);
      await spool.saveState(4, three.state);
      expect(await spool.chainState(await spool.scan())).toEqual(three.state);
    });

    it('takes the newest record waiting in the spool when the state was not saved after it (crash in between)', async () => {
      const three = chained(3, GENESIS_CHAIN_STATE);
      const four = chained(4, three.state);
      await spool.saveState(4, three.state);
      for (const { job: data } of [three, four]) {
        await writeFile(data.spoolPath, 'bytes');
        await spool.writeJobData(data);
      }
      await addChunk(5, true); // no evidence record: not a link
      expect(await spool.chainState(await spool.scan())).toEqual(four.state);
    });
  });

  describe('saveState and writeJobData', () => {
    it('write their JSON atomically and leave no temporary file', async () => {
      await spool.saveState(12, GENESIS_CHAIN_STATE);
      await spool.writeJobData(job(11));
      expect(JSON.parse(await readFile(join(spool.dir, 'state.json'), 'utf8'))).toEqual({ nextSequence: 12, chain: GENESIS_CHAIN_STATE });
      expect(JSON.parse(await readFile(`${job(11).spoolPath}.json`, 'utf8'))).toEqual(job(11));
      expect((await readdir(spool.dir)).sort()).toEqual(['cam0-0000000011.mp4.json', 'state.json']);
    });
  });

  describe('quarantine', () => {
    it('moves the file into quarantine/ under a time-stamped name, bytes intact', async () => {
      const path = await addChunk(4, false);
      const before = Date.now();
      const target = await spool.quarantine(path);
      expect(target.startsWith(`${spool.quarantineDir}/`)).toBe(true);
      const name = target.slice(spool.quarantineDir.length + 1);
      expect(name).toMatch(/^\d+-cam0-0000000004\.mp4$/);
      expect(Number(name.split('-')[0])).toBeGreaterThanOrEqual(before);
      expect(await readFile(target, 'utf8')).toBe('bytes');
      expect(await readdir(spool.dir)).toEqual(['quarantine']);
    });
  });
});

describe('writeAtomically', () => {
  it('creates or replaces a file and leaves no .tmp file behind', async () => {
    const path = join(root, 'file.json');
    await writeAtomically(path, 'first');
    await writeAtomically(path, 'second');
    expect(await readFile(path, 'utf8')).toBe('second');
    expect((await readdir(root)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
