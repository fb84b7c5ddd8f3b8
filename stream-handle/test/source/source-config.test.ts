import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigProblem } from '@crispy-streamer/shared';
import { X264_PRESETS, parseSource, sourceKindOf } from '../../src/source/source-config.js';

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'source-config-'));
  await writeFile(join(dir, 'clip.mp4'), 'not really a video: only its existence matters here');
  await writeFile(join(dir, 'with space.mp4'), '');
  await mkdir(join(dir, 'folder.mp4'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function parse(raw: Record<string, unknown>) {
  const problems: ConfigProblem[] = [];
  const source = parseSource(raw, 'sources[0]', dir, problems);
  return { source, problems };
}

/** The problems of a source that must not parse. */
function problemsOf(raw: Record<string, unknown>): ConfigProblem[] {
  const { source, problems } = parse(raw);
  expect(source).toBeUndefined();
  return problems;
}

const RTSP = 'rtsp://admin:s3cret@10.0.0.5:554/stream1';

describe('parseSource', () => {
  describe('valid sources', () => {
    it('fills in the defaults for an rtsp camera and keeps the password out of displayUrl only', () => {
      expect(parse({ id: 'cam0', url: RTSP })).toEqual({
        problems: [],
        source: {
          id: 'cam0',
          url: RTSP,
          displayUrl: 'rtsp://admin:***@10.0.0.5:554/stream1',
          kind: 'rtsp',
          chunkSeconds: 3,
          mode: 'copy',
          encode: { codec: 'libx264', crf: 26, preset: 'veryfast' },
          realtime: false,
          audio: 'off',
          transport: 'tcp',
        },
      });
    });

    it('takes every setting given', () => {
      const { source, problems } = parse({
        id: 'bridge_south-2',
        url: 'rtsps://cam.example/live',
        chunkSeconds: 600,
        mode: 'encode',
        encode: { codec: 'libx265', crf: 0, preset: 'slow' },
        realtime: true,
        audio: true,
      });
      expect(problems).toEqual([]);
      expect(source).toMatchObject({
        kind: 'rtsp',
        chunkSeconds: 600,
        mode: 'encode',
        encode: { codec: 'libx265', crf: 0, preset: 'slow' },
        realtime: true,
        audio: 'keep',
      });
    });

    it('accepts chunkSeconds given as a string of digits (as from env)', () => {
      expect(parse({ id: 'cam0', url: RTSP, chunkSeconds: '5' }).source?.chunkSeconds).toBe(5);
    });

    it('resolves a relative file path from the base directory', () => {
      const { source, problems } = parse({ id: 'drone', url: 'clip.mp4' });
      expect(problems).toEqual([]);
      expect(source).toMatchObject({ kind: 'file', url: join(dir, 'clip.mp4'), displayUrl: join(dir, 'clip.mp4') });
    });

    it('decodes a file:// URL to a path', () => {
      const url = `file://${join(dir, 'with%20space.mp4')}`;
      expect(parse({ id: 'drone', url }).source).toMatchObject({ kind: 'file', url: join(dir, 'with space.mp4') });
    });

    it('classifies http(s) URLs as http and trims the URL', () => {
      expect(parse({ id: 'web', url: '  https://cdn.example/video.mp4  ' }).source).toMatchObject({ kind: 'http', url: 'https://cdn.example/video.mp4' });
    });
  });

  describe('id', () => {
    it.each([
      ['a parent-directory path', '../etc'],
      ['a slash', 'a/b'],
      ['a newline', 'cam\n1'],
      ['a NUL', 'cam\u00000'],
      ['a space', 'cam 1'],
      ['a leading dash', '-cam'],
      ['65 characters', 'c'.repeat(65)],
      ['an empty string', ''],
    ])('refuses %s', (_label, id) => {
      expect(problemsOf({ id, url: RTSP })).toEqual([
        {
          setting: 'sources[0].id',
          message: `${JSON.stringify(id)} is not a valid source id: use 1-64 letters, digits, '-' or '_' (it becomes part of file paths and object names)`,
        },
      ]);
    });

    it('refuses a missing or non-string id', () => {
      expect(problemsOf({ url: RTSP })[0]?.message).toMatch(/^null is not a valid source id/);
      expect(problemsOf({ id: 7, url: RTSP })[0]?.message).toMatch(/^7 is not a valid source id/);
    });
  });

  describe('url', () => {
    it('is required', () => {
      expect(problemsOf({ id: 'cam0' })).toEqual([
        { setting: 'sources[0].url', message: 'is required: an rtsp:// or rtsps:// camera URL, an http(s):// video URL, or a local file path' },
      ]);
      expect(problemsOf({ id: 'cam0', url: '   ' })[0]?.setting).toBe('sources[0].url');
    });

    it('refuses a scheme ffmpeg should not be pointed at, with the password redacted', () => {
      expect(problemsOf({ id: 'cam0', url: 'ftp://admin:s3cret@files.example/clip.mp4' })).toEqual([
        {
          setting: 'sources[0].url',
          message: 'ftp://admin:***@files.example/clip.mp4 has a scheme we cannot record: use rtsp://, rtsps://, http(s):// or a local file path',
        },
      ]);
    });

    it('refuses a file that does not exist, saying where relative paths are resolved from', () => {
      expect(problemsOf({ id: 'cam0', url: 'missing.mp4' })).toEqual([
        { setting: 'sources[0].url', message: `file ${join(dir, 'missing.mp4')} does not exist: check the path (relative paths are resolved from ${dir})` },
      ]);
    });

    it('refuses a directory', () => {
      expect(problemsOf({ id: 'cam0', url: join(dir, 'folder.mp4') })).toEqual([
        { setting: 'sources[0].url', message: `${join(dir, 'folder.mp4')} is not a regular file` },
      ]);
    });

    it('refuses an rtsp URL that does not parse, without showing its password', () => {
      const problems = problemsOf({ id: 'cam0', url: 'rtsp://admin:s3cret@10.0.0.5:99999/stream1' });
      expect(problems).toEqual([{ setting: 'sources[0].url', message: 'rtsp://admin:***@10.0.0.5:99999/stream1 is not a valid URL' }]);
    });

    it('never shows the password of an rtsp URL, even when other settings are wrong too', () => {
      const problems = problemsOf({ id: '../x', url: 'rtsp://admin:s3cret@[::1/stream', chunkSeconds: 0, mode: 'fast', realtime: 'yes', typo: 1 });
      expect(problems.map((p) => p.setting)).toEqual([
        'sources[0].id',
        'sources[0].url',
        'sources[0].chunkSeconds',
        'sources[0].mode',
        'sources[0].realtime',
        'sources[0].typo',
      ]);
      expect(JSON.stringify(problems)).not.toContain('s3cret');
    });

    // Regression, fixed: a mistyped camera URL (`rtsp:/` with one slash, or the scheme left out) is echoed with its
    // password: displayUrl only redacts userinfo after `scheme://` (stream-handle/src/source-config.ts:76,
    // shared/src/redact.ts:4). Config errors go to stderr and into container logs.
    it('never shows the password of a mistyped camera URL', () => {
      const problems = [
        ...problemsOf({ id: 'cam0', url: 'rtsp:/admin:s3cret@10.0.0.5/stream1' }),
        ...problemsOf({ id: 'cam0', url: 'admin:s3cret@10.0.0.5/stream1' }),
      ];
      expect(problems).toHaveLength(2);
      expect(JSON.stringify(problems)).not.toContain('s3cret');
    });
  });

  describe('chunkSeconds', () => {
    it.each([
      [0, '0'],
      [601, '601'],
      ['abc', '"abc"'],
      [2.5, '2.5'],
      [-3, '-3'],
    ])('refuses %j', (chunkSeconds, shown) => {
      expect(problemsOf({ id: 'cam0', url: RTSP, chunkSeconds })).toEqual([
        { setting: 'sources[0].chunkSeconds', message: `${shown} is not a whole number from 1 to 600 (seconds per chunk)` },
      ]);
    });
  });

  describe('mode and encode settings', () => {
    it('refuses an unknown mode', () => {
      expect(problemsOf({ id: 'cam0', url: RTSP, mode: 'fast' })).toEqual([
        { setting: 'sources[0].mode', message: '"fast" is not a mode: use "copy" (cut at keyframes) or "encode" (exact chunk lengths)' },
      ]);
    });

    it('refuses a codec other than libx264 or libx265', () => {
      expect(problemsOf({ id: 'cam0', url: RTSP, mode: 'encode', encode: { codec: 'h264_nvenc' } })).toEqual([
        { setting: 'sources[0].encode.codec', message: '"h264_nvenc" is not supported: use libx264 or libx265' },
      ]);
    });

    it('refuses an unknown preset, listing the presets', () => {
      expect(problemsOf({ id: 'cam0', url: RTSP, encode: { preset: 'turbo' } })).toEqual([
        { setting: 'sources[0].encode.preset', message: `"turbo" is not a preset: use one of ${X264_PRESETS.join(', ')}` },
      ]);
    });

    it('refuses a crf outside 0-51', () => {
      expect(problemsOf({ id: 'cam0', url: RTSP, encode: { crf: 52 } })).toEqual([
        { setting: 'sources[0].encode.crf', message: '52 is not a whole number from 0 to 51' },
      ]);
    });
  });

  describe('flags and unknown keys', () => {
    it('refuses a realtime flag that is not a boolean, and an audio or transport setting it does not know', () => {
      const problems = problemsOf({ id: 'cam0', url: RTSP, realtime: 'yes', audio: 1, transport: 'carrier-pigeon' });
      expect(problems[0]).toEqual({ setting: 'sources[0].realtime', message: '"yes" is not true or false' });
      expect(problems[1]?.setting).toBe('sources[0].audio');
      expect(problems[1]?.message).toMatch(/^1 is not an audio setting: use false \(drop audio\), true or "keep"/);
      expect(problems[2]?.setting).toBe('sources[0].transport');
      expect(problems[2]?.message).toContain('use tcp, udp, udp_multicast, http, auto');
    });

    it('reads audio as false, true, "keep" or "aac", and every transport', () => {
      for (const [audio, policy] of [
        [false, 'off'],
        [true, 'keep'],
        ['keep', 'keep'],
        ['aac', 'aac'],
        ['off', 'off'],
      ] as const) {
        expect(parse({ id: 'cam0', url: RTSP, audio }).source?.audio).toBe(policy);
      }
      for (const transport of ['tcp', 'udp', 'udp_multicast', 'http', 'auto'] as const) {
        expect(parse({ id: 'cam0', url: RTSP, transport }).source?.transport).toBe(transport);
      }
    });

    it('names a misspelt setting', () => {
      expect(problemsOf({ id: 'cam0', url: RTSP, chunkSecond: 5 })).toEqual([
        { setting: 'sources[0].chunkSecond', message: 'is not a source setting (typo?)' },
      ]);
    });
  });

  it('reports every problem of one source together, appending to the problems already there', () => {
    const problems: ConfigProblem[] = [{ setting: 'EARLIER', message: 'kept' }];
    const source = parseSource(
      { id: 'a/b', url: 'ftp://x/y', chunkSeconds: 0, mode: 'x', encode: { codec: 'vp9', crf: 99, preset: 'p' }, realtime: 'no', extra: true },
      'sources[3]',
      dir,
      problems,
    );
    expect(source).toBeUndefined();
    expect(problems.map((p) => p.setting)).toEqual([
      'EARLIER',
      'sources[3].id',
      'sources[3].url',
      'sources[3].chunkSeconds',
      'sources[3].mode',
      'sources[3].encode.codec',
      'sources[3].encode.crf',
      'sources[3].encode.preset',
      'sources[3].realtime',
      'sources[3].extra',
    ]);
  });
});

describe('sourceKindOf', () => {
  it.each([
    ['rtsp://10.0.0.5/stream', 'rtsp'],
    ['RTSPS://10.0.0.5/stream', 'rtsp'],
    ['http://cdn.example/v.mp4', 'http'],
    ['https://cdn.example/v.mp4', 'http'],
    ['file:///media/v.mp4', 'file'],
    ['/media/v.mp4', 'file'],
    ['./v.mp4', 'file'],
    ['../media/v.mp4', 'file'],
    ['v.mp4', 'file'],
    ['ftp://files.example/v.mp4', undefined],
    ['udp://239.0.0.1:1234', undefined],
    ['concat:a.mp4|b.mp4', undefined],
    ['C:\\videos\\v.mp4', undefined],
  ])('%s -> %s', (url, kind) => {
    expect(sourceKindOf(url)).toBe(kind);
  });
});
