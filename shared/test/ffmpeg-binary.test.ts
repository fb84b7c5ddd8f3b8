import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOnPath, parseFfmpegMajorVersion, resolveFfmpeg } from '../src/ffmpeg-binary.js';

let dir = '';
let executable = '';
let notExecutable = '';
let binDir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ffmpeg-binary-'));
  executable = join(dir, 'bundled-ffmpeg');
  await writeFile(executable, '#!/bin/sh\nexit 0\n');
  await chmod(executable, 0o755);
  notExecutable = join(dir, 'plain-file');
  await writeFile(notExecutable, 'not a program');
  await chmod(notExecutable, 0o644);
  binDir = join(dir, 'bin');
  await mkdir(binDir);
  await writeFile(join(binDir, 'ffmpeg'), '#!/bin/sh\nexit 0\n');
  await chmod(join(binDir, 'ffmpeg'), 0o755);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseFfmpegMajorVersion', () => {
  it('reads the major version of release builds', () => {
    expect(parseFfmpegMajorVersion('ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers')).toBe(5);
    expect(parseFfmpegMajorVersion('ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright')).toBe(4);
  });

  it('reads git-tagged release builds such as n6.0', () => {
    expect(parseFfmpegMajorVersion('ffmpeg version n6.0 Copyright (c) 2000-2023')).toBe(6);
  });

  it('is undefined for builds that print a git revision, and for other text', () => {
    expect(parseFfmpegMajorVersion('ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/')).toBeUndefined();
    expect(parseFfmpegMajorVersion('')).toBeUndefined();
    expect(parseFfmpegMajorVersion('ffprobe version 5.1')).toBeUndefined();
  });
});

describe('findOnPath', () => {
  it('finds an executable in a PATH directory and skips empty entries', () => {
    expect(findOnPath('ffmpeg', ['', dir, binDir].join(delimiter))).toBe(join(binDir, 'ffmpeg'));
  });

  it('ignores files that are not executable', () => {
    expect(findOnPath('plain-file', dir)).toBeUndefined();
  });
});

describe('resolveFfmpeg', () => {
  it('uses FFMPEG_PATH when it names an executable', () => {
    expect(resolveFfmpeg({ FFMPEG_PATH: executable, PATH: binDir }, () => undefined)).toEqual({ path: executable, origin: 'FFMPEG_PATH' });
  });

  it('refuses an FFMPEG_PATH that is not executable, naming the setting', () => {
    expect(() => resolveFfmpeg({ FFMPEG_PATH: notExecutable, PATH: binDir }, () => executable)).toThrow(
      `FFMPEG_PATH=${notExecutable} is not an executable file: point it at ffmpeg, or unset it to use the one on PATH`,
    );
  });

  it('refuses an FFMPEG_PATH that does not exist rather than falling back', () => {
    expect(() => resolveFfmpeg({ FFMPEG_PATH: join(dir, 'nope') }, () => executable)).toThrow(/^FFMPEG_PATH=.*nope is not an executable file/);
  });

  it('takes ffmpeg from PATH when FFMPEG_PATH is unset or blank', () => {
    expect(resolveFfmpeg({ FFMPEG_PATH: '  ', PATH: binDir }, () => executable)).toEqual({ path: join(binDir, 'ffmpeg'), origin: 'PATH' });
  });

  it('falls back to the bundled binary when PATH has no ffmpeg', () => {
    expect(resolveFfmpeg({ PATH: '' }, () => executable)).toEqual({ path: executable, origin: 'bundled' });
  });

  it('takes the bundled binary before PATH when asked to prefer it, and PATH when there is none', () => {
    expect(resolveFfmpeg({ PATH: binDir }, () => executable, 'bundled')).toEqual({ path: executable, origin: 'bundled' });
    expect(resolveFfmpeg({ PATH: binDir }, () => undefined, 'bundled')).toEqual({ path: join(binDir, 'ffmpeg'), origin: 'PATH' });
    expect(resolveFfmpeg({ FFMPEG_PATH: executable, PATH: binDir }, () => notExecutable, 'bundled')).toEqual({ path: executable, origin: 'FFMPEG_PATH' });
  });

  it('says how to install ffmpeg when there is none anywhere', () => {
    const message = 'no ffmpeg found: install it (apt-get install ffmpeg), or set FFMPEG_PATH';
    expect(() => resolveFfmpeg({ PATH: '' }, () => undefined)).toThrow(message);
    expect(() => resolveFfmpeg({ PATH: '' }, () => notExecutable)).toThrow(message);
  });
});
