import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importedPackages, packageOf, undeclaredImports, unusedDependencies } from '../checks/declared-dependencies.js';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';

const WORKSPACES = ['shared', 'stream-handle', 'upload-worker', 'cloud-function', 'evidence-tools'];
/**
 * Loaded by name rather than imported: pino starts pino-pretty as a transport; the function hands
 * shared's bundledFfmpegPath its own require for @ffmpeg-installer/ffmpeg.
 */
const LOADED_BY_NAME: Record<string, string[]> = { shared: ['pino-pretty'], 'cloud-function': ['@ffmpeg-installer/ffmpeg'] };

describe('each workspace declares what it imports', () => {
  it.each(WORKSPACES)('%s: every package its src imports is in its package.json, and nothing else is', (workspace) => {
    const dir = join(REPO_ROOT, workspace);
    expect(undeclaredImports(dir)).toEqual([]);
    expect(unusedDependencies(dir, LOADED_BY_NAME[workspace])).toEqual([]);
  });
});

describe('the checker', () => {
  it('names the package of every kind of import, and skips built-ins and relative paths', () => {
    const source = [
      "import { Queue } from 'bullmq';",
      "import type { Redis } from 'ioredis';",
      "import { x } from '@crispy-streamer/shared/evidence';",
      "export * from './local.js';",
      "import 'reflect-metadata';",
      "const m = await import('sharp');",
      "const p = require('@ffmpeg-installer/ffmpeg');",
      "import { readFile } from 'node:fs/promises';",
      "import { join } from 'path';",
    ].join('\n');
    expect(importedPackages(source)).toEqual(['@crispy-streamer/shared', '@ffmpeg-installer/ffmpeg', 'bullmq', 'ioredis', 'reflect-metadata', 'sharp']);
    expect(packageOf('yaml/util')).toBe('yaml');
    expect(packageOf('./x.js')).toBeUndefined();
  });
});

describe('what the function loads', () => {
  it("is not the services' Redis, queue or metrics clients: the root of shared holds none of them", async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const script = [
      "import { createRequire } from 'node:module';",
      "await import('./cloud-function/src/index.ts');",
      'const loaded = Object.keys(createRequire(import.meta.url).cache);',
      "console.log(JSON.stringify(['ioredis', 'bullmq', 'prom-client', 'sharp'].map((name) => [name, loaded.some((path) => path.includes(`/node_modules/${name}/`))])));",
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, BUCKETS: 'bucket', LOG_LEVEL: 'error', METADATA_SERVER_DETECTION: 'none' },
    });
    // sharp is what it measures frames with: loaded, so the check sees what is loaded at all.
    expect(Object.fromEntries(JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]') as [string, boolean][])).toEqual({
      ioredis: false,
      bullmq: false,
      'prom-client': false,
      sharp: true,
    });
  });
});
