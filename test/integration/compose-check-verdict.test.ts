/**
 * The compose check's decisions (scripts/compose-check/), on made-up inputs: what counts as a
 * chunk stored exactly once, closed by `stop`, described by the function; and which of the
 * machine's apt sources the base image gets. The check itself runs the real stack in
 * scripts/compose-check.sh; these prove its rules can fail.
 */
import { describe, expect, it } from 'vitest';
import { debootstrapMirror, parseDeb822Sources, parseOneLineSources, renderImageSources } from '../../scripts/compose-check/apt-sources.js';
import {
  boardFinding,
  chunksClosedByStop,
  functionFindings,
  parseJsonLines,
  stopFindings,
  storageFindings,
  type LogRecord,
  type StackRun,
  type StoredObject,
  type UrlFetch,
} from '../../scripts/compose-check/stack-verdict.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

function recorded(sequence: number, seconds: number, bytes = 1000 + sequence): LogRecord {
  return { message: 'chunk recorded', time: at(seconds), source: 'cam0', sequence, bytes };
}

function object(sequence: number, overrides: Partial<StoredObject> = {}): StoredObject {
  const bytes = overrides.bytes ?? 1000 + sequence;
  return {
    name: `cam0/2026-01-01/cam0_${sequence}.mp4`,
    resource: { size: String(bytes), md5Hash: `md5-${sequence}`, crc32c: `crc-${sequence}`, metadata: { source: 'cam0', sequence: String(sequence) } },
    bytes,
    md5Base64: `md5-${sequence}`,
    crc32cBase64: `crc-${sequence}`,
    sha256: `sha-${sequence}`,
    probedSeconds: 3,
    ...overrides,
  };
}

function described(sequence: number, frame = { width: 1280, height: 720, channels: 3 }): LogRecord {
  return { message: 'chunk described', object: object(sequence).name, signedUrl: `http://upload-worker:3000/o/${sequence}?sig=x`, ...frame };
}

const fetched = (sequence: number, overrides: Partial<UrlFetch> = {}): UrlFetch => ({
  url: `http://upload-worker:3000/o/${sequence}?sig=x`,
  status: 200,
  bytes: 1000 + sequence,
  sha256: `sha-${sequence}`,
  ...overrides,
});

/** Three chunks, the stop at 10 s, the third closed by it and stored before the worker stopped. */
function healthyRun(): StackRun {
  return {
    label: 'run 1',
    stopMode: 'recorder-first',
    spoolAfterStop: [],
    recorder: [recorded(0, 3), recorded(1, 6), { message: 'stopping: closing the current chunk of every source', time: at(10) }, recorded(2, 10.2)],
    workers: [],
    function: [described(0), described(1), described(2)],
    storedAfterStop: [object(0).name, object(1).name, object(2).name],
  };
}

const failing = (findings: { ok: boolean; check: string; detail: string }[]) => findings.filter((finding) => !finding.ok);

describe('the compose check reads', () => {
  it('JSON log lines, skipping banners and stack traces', () => {
    const text = ['Serving function...', '{"message":"a","time":"x"}', '    at foo (bar.js:1)', '{broken', '[1,2]', '{"message":"b"}'].join('\n');
    expect(parseJsonLines(text)).toEqual([{ message: 'a', time: 'x' }, { message: 'b' }]);
  });
});

describe('chunks stored exactly once', () => {
  const bucket = [object(0), object(1), object(2)];

  it('passes when every recorded chunk is in the bucket once, whole', () => {
    expect(failing(storageFindings([healthyRun()], bucket))).toEqual([]);
  });

  it('fails on a chunk missing from the bucket', () => {
    expect(
      failing(storageFindings([healthyRun()], bucket.slice(0, 2)))
        .map((f) => f.detail)
        .join(),
    ).toMatch(/missing cam0 #2/);
  });

  it('fails on a chunk stored twice under two names', () => {
    const twice = [...bucket, object(1, { name: 'cam0/2026-01-01/cam0_1-again.mp4' })];
    expect(
      failing(storageFindings([healthyRun()], twice))
        .map((f) => f.detail)
        .join(),
    ).toMatch(/cam0#1 stored 2 times/);
  });

  it('fails on a stored size that differs from the recorded one', () => {
    const short = [object(0), object(1, { bytes: 10, resource: { ...object(1).resource, size: '10' } }), object(2)];
    expect(
      failing(storageFindings([healthyRun()], short))
        .map((f) => f.detail)
        .join(),
    ).toMatch(/cam0_1\.mp4: 10 bytes, recorded 1001/);
  });

  it('fails on an object nobody recorded', () => {
    expect(failing(storageFindings([healthyRun()], [...bucket, object(9)])).map((f) => f.check)).toEqual(['nothing in the bucket that was not recorded']);
  });

  it('fails on bytes that differ from their resource, or that ffprobe cannot read', () => {
    const damaged = [object(0, { md5Base64: 'other' }), object(1, { probedSeconds: undefined }), object(2, { crc32cBase64: 'other' })];
    const detail = failing(storageFindings([healthyRun()], damaged))
      .map((f) => f.detail)
      .join();
    expect(detail).toMatch(/cam0_0\.mp4: md5 differs/);
    expect(detail).toMatch(/cam0_1\.mp4: ffprobe cannot read it/);
    expect(detail).toMatch(/cam0_2\.mp4: crc32c differs/);
  });

  it('fails when nothing was recorded at all', () => {
    const empty: StackRun = { ...healthyRun(), recorder: [] };
    expect(failing(storageFindings([empty], [])).map((f) => f.check)).toContain('stream-handle recorded chunks');
  });
});

describe('docker compose stop closes the current chunk', () => {
  it('finds the chunk recorded after the stop signal, stored before the worker stopped', () => {
    expect(chunksClosedByStop(healthyRun())?.map((chunk) => chunk.sequence)).toEqual([2]);
    expect(failing(stopFindings([healthyRun()], [object(0), object(1), object(2)]))).toEqual([]);
  });

  it('fails when that chunk reached the bucket only after the next start', () => {
    const run = { ...healthyRun(), storedAfterStop: [object(0).name, object(1).name] };
    expect(failing(stopFindings([run], [object(0), object(1), object(2)]))[0]?.detail).toMatch(/stored only after the next start/);
  });

  it('fails when stream-handle, stopped while the camera served, closed no chunk, or never heard the stop', () => {
    const noChunk: StackRun = { ...healthyRun(), recorder: healthyRun().recorder.slice(0, 3) };
    expect(failing(stopFindings([noChunk], [object(0), object(1)]))[0]?.detail).toMatch(/no chunk was recorded after/);
    const noSignal: StackRun = { ...healthyRun(), recorder: [recorded(0, 3)] };
    expect(failing(stopFindings([noSignal], [object(0)]))[0]?.detail).toMatch(/no "stopping/);
  });

  it('accepts a whole-stack stop in which the camera went first, if the last chunk is stored', () => {
    const cameraFirst: StackRun = {
      ...healthyRun(),
      stopMode: 'stack',
      recorder: healthyRun().recorder.slice(0, 3),
      storedAfterStop: [object(0).name, object(1).name],
    };
    const [finding] = stopFindings([cameraFirst], [object(0), object(1)]);
    expect(finding).toMatchObject({ ok: true, detail: expect.stringMatching(/cam0 #1 .*the camera stopped first/) });
    expect(failing(stopFindings([{ ...cameraFirst, storedAfterStop: [object(0).name] }], [object(0), object(1)]))[0]?.detail).toMatch(
      /cam0_1\.mp4 was stored only after the next start/,
    );
  });

  it('fails on a chunk left in the spool, waiting or half-written', () => {
    const leftovers: StackRun = { ...healthyRun(), spoolAfterStop: ['cam0/quarantine/1767225600000-cam0-0000000003.mp4'] };
    expect(failing(stopFindings([leftovers], [object(0), object(1), object(2)]))[0]?.detail).toMatch(/left in the spool: cam0\/quarantine/);
  });
});

describe('the function described each stored chunk', () => {
  const bucket = [object(0), object(1), object(2)];
  const frame = { width: 1280, height: 720, channels: 3 };

  it('passes when each chunk is described with the frame and its URL serves the same bytes', () => {
    expect(failing(functionFindings([healthyRun()], bucket, frame, [fetched(0), fetched(1), fetched(2)]))).toEqual([]);
  });

  it("fails on an undescribed chunk, naming the function's own error", () => {
    const run: StackRun = {
      ...healthyRun(),
      function: [described(0), described(1), { message: 'chunk could not be described; Pub/Sub will retry', err: { message: 'ffmpeg exited 139' } }],
    };
    const [finding] = failing(functionFindings([run], bucket, frame, [fetched(0), fetched(1)]));
    expect(finding?.check).toBe('the function described each stored chunk');
    expect(finding?.detail).toMatch(
      /2 of 3 described; not described: cam0\/2026-01-01\/cam0_2\.mp4; 1 "could not be described" lines, the first: ffmpeg exited 139/,
    );
  });

  it('fails on another frame size', () => {
    const run: StackRun = { ...healthyRun(), function: [described(0), described(1, { width: 640, height: 360, channels: 3 }), described(2)] };
    expect(failing(functionFindings([run], bucket, frame, [fetched(0), fetched(1), fetched(2)]))[0]?.detail).toMatch(/cam0_1\.mp4: 640x360x3/);
  });

  it('fails on a signed URL that is refused, serves other bytes or was never fetched', () => {
    const detail = failing(functionFindings([healthyRun()], bucket, frame, [fetched(0, { status: 403 }), fetched(1, { sha256: 'other' })]))[0]?.detail;
    expect(detail).toMatch(/cam0_0\.mp4: signed URL answered 403/);
    expect(detail).toMatch(/cam0_1\.mp4: signed URL served 1001 other bytes/);
    expect(detail).toMatch(/cam0_2\.mp4: its signed URL was not fetched/);
  });

  it('fails all three when nothing was described', () => {
    const run: StackRun = { ...healthyRun(), function: [] };
    expect(failing(functionFindings([run], bucket, frame, []))).toHaveLength(3);
  });
});

describe('Bull Board', () => {
  it('must refuse without credentials and answer with them', () => {
    expect(boardFinding(3000, 401, 200).ok).toBe(true);
    expect(boardFinding(3000, 200, 200).ok).toBe(false);
    expect(boardFinding(3000, 401, 401).ok).toBe(false);
    expect(boardFinding(3000, 0, 0).ok).toBe(false);
  });
});

describe("the base image's apt sources come from the machine's", () => {
  const deb822 = [
    '# the archive',
    'Types: deb',
    'URIs: http://mirror.invalid/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    'Types: deb',
    'URIs: http://mirror.invalid/debian-security',
    'Suites: bookworm-security',
    'Components: main contrib',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    'Types: deb',
    'URIs: http://vendor.invalid/apt',
    'Suites: nodistro',
    'Components: main',
    'Signed-By: /etc/apt/keyrings/vendor.gpg',
    '',
    'Types: deb',
    'URIs: http://old.invalid/debian',
    'Suites: bookworm',
    'Components: main',
    'Enabled: no',
  ].join('\n');

  it("keeps Debian's entries for the suite, updates and security, and nothing else", () => {
    const sources = parseDeb822Sources(deb822);
    expect(sources).toHaveLength(4);
    expect(debootstrapMirror(sources, 'bookworm')).toBe('http://mirror.invalid/debian');
    expect(renderImageSources(sources, 'bookworm')).toBe(
      [
        'Types: deb',
        'URIs: http://mirror.invalid/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: http://mirror.invalid/debian-security',
        'Suites: bookworm-security',
        'Components: main contrib',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
      ].join('\n'),
    );
  });

  it('reads the one-line format, with or without options', () => {
    const sources = parseOneLineSources(
      [
        'deb http://mirror.invalid/debian bookworm main contrib # comment',
        'deb-src http://mirror.invalid/debian bookworm main',
        'deb [arch=amd64 signed-by=/etc/apt/keyrings/vendor.gpg] http://vendor.invalid/apt stable main',
        '# deb http://commented.invalid/debian bookworm main',
      ].join('\n'),
    );
    expect(sources.map((source) => [source.types[0], source.uris[0], source.suites[0], source.signedBy])).toEqual([
      ['deb', 'http://mirror.invalid/debian', 'bookworm', undefined],
      ['deb-src', 'http://mirror.invalid/debian', 'bookworm', undefined],
      ['deb', 'http://vendor.invalid/apt', 'stable', '/etc/apt/keyrings/vendor.gpg'],
    ]);
    expect(debootstrapMirror(sources, 'bookworm')).toBe('http://mirror.invalid/debian');
  });

  it('says what is missing when the machine has no Debian entry for the suite', () => {
    expect(() => debootstrapMirror(parseOneLineSources('deb http://mirror.invalid/debian trixie main'), 'bookworm')).toThrow(
      /no Debian "bookworm" entry with component main/,
    );
  });
});
