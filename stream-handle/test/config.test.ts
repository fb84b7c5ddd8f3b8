import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type ConfigProblem } from '@crispy-streamer/shared';
import { expandEnvReferences, loadStreamHandleConfig, sourcesFileFromArgs } from '../src/config.js';

let dir = '';
const path = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stream-handle-config-'));
  await writeFile(path('clip.mp4'), 'a video, as far as this test cares');
  await writeFile(
    path('sources.yaml'),
    [
      'defaults:',
      '  chunkSeconds: 5',
      '  mode: encode',
      'sources:',
      '  - id: bridge-north',
      '    url: rtsp://viewer:CHANGE-ME@192.0.2.10:554/stream1',
      '  - id: bridge-south',
      '    url: rtsp://192.0.2.11:554/stream1',
      '    chunkSeconds: 10',
      '    mode: copy',
      '  - id: drone',
      '    url: clip.mp4',
      '    realtime: true',
      '',
    ].join('\n'),
  );
  await writeFile(path('sources.json'), JSON.stringify({ defaults: { audio: true }, sources: [{ id: 'lobby', url: 'rtsp://10.0.0.9/s', chunkSeconds: 4 }] }));
  await writeFile(path('duplicate.yaml'), 'sources:\n  - { id: cam0, url: rtsp://10.0.0.1/a }\n  - { id: cam0, url: rtsp://10.0.0.2/b }\n');
  await writeFile(path('broken.yaml'), 'sources: [ { id: cam0\n');
  await writeFile(path('no-list.yaml'), 'cameras:\n  - id: cam0\n');
  await writeFile(path('bad-source.yaml'), 'sources:\n  - { id: ok, url: rtsp://10.0.0.1/a }\n  - { id: "../up", url: rtsp://10.0.0.2/b, chunkSeconds: 0 }\n');
  await writeFile(path('env-refs.yaml'), 'sources:\n  - id: cam1\n    url: rtsp://viewer:${CAM1_PASSWORD}@192.0.2.10:554/stream1\n');
  await writeFile(
    path('nested-defaults.yaml'),
    'defaults:\n  mode: encode\n  encode: { codec: libx265, preset: fast }\nsources:\n  - { id: cam0, url: rtsp://10.0.0.1/a, encode: { crf: 20 } }\n',
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The problems of a configuration that must be refused. */
function problemsOf(env: Record<string, string | undefined>, argv: string[] = []): ConfigProblem[] {
  try {
    loadStreamHandleConfig(env, argv);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  return expect.unreachable('the configuration was accepted');
}

describe('sourcesFileFromArgs', () => {
  it('reads --sources FILE, -s FILE and --sources=FILE', () => {
    expect(sourcesFileFromArgs(['--sources', 'a.yaml'])).toBe('a.yaml');
    expect(sourcesFileFromArgs(['-s', 'b.yaml'])).toBe('b.yaml');
    expect(sourcesFileFromArgs(['--verbose', '--sources=c.json'])).toBe('c.json');
    expect(sourcesFileFromArgs([])).toBeUndefined();
  });
});

describe('expandEnvReferences', () => {
  it('replaces every ${NAME} with its value and leaves other dollar signs alone', () => {
    const missing: string[] = [];
    const text = expandEnvReferences('rtsp://${CAM_USER}:${CAM_PASSWORD}@cam/$PATH/${CAM_USER}', { CAM_USER: 'viewer', CAM_PASSWORD: 'p4ss' }, (name) =>
      missing.push(name),
    );
    expect(text).toBe('rtsp://viewer:p4ss@cam/$PATH/viewer');
    expect(missing).toEqual([]);
  });

  it('reports each unset name and leaves its place empty; an empty value is a value', () => {
    const missing: string[] = [];
    expect(expandEnvReferences('${A}-${B}-${C}', { B: '' }, (name) => missing.push(name))).toBe('--');
    expect(missing).toEqual(['A', 'C']);
  });

  it('does not expand names that are not shell-like identifiers', () => {
    expect(expandEnvReferences('${1X}${A-B}', { '1X': 'no', 'A-B': 'no' }, () => expect.unreachable())).toBe('${1X}${A-B}');
  });
});

describe('loadStreamHandleConfig', () => {
  it('builds one source from SOURCE_URL with the documented defaults', () => {
    const config = loadStreamHandleConfig({ SOURCE_URL: 'rtsp://admin:s3cret@10.0.0.5/stream1', NODE_ID: 'edge-1' });
    expect(config).toMatchObject({
      spoolDir: resolve('./spool'),
      redisUrl: 'redis://127.0.0.1:6379',
      queueName: 'chunks',
      nodeId: 'edge-1',
      sources: [
        {
          id: 'cam0',
          url: 'rtsp://admin:s3cret@10.0.0.5/stream1',
          displayUrl: 'rtsp://admin:***@10.0.0.5/stream1',
          kind: 'rtsp',
          chunkSeconds: 3,
          mode: 'copy',
          encode: { codec: 'libx264', crf: 26, preset: 'veryfast' },
          realtime: false,
          audio: 'off',
          transport: 'tcp',
        },
      ],
      uploadAttempts: 12,
      uploadBackoffMs: 1000,
      rtspTimeoutSeconds: 10,
      reconnectMinDelayMs: 1000,
      reconnectMaxDelayMs: 30_000,
      reconnectProbeMs: 250,
      reconnectFastWindowMs: 60_000,
      stopGraceMs: 10_000,
      statusHost: '127.0.0.1',
      statusPort: 3001,
      spoolLimits: { maxBytes: 0, minFreeBytes: undefined, policy: 'stop-recording' },
      spoolCheckMs: 2000,
      logLevel: 'info',
    });
  });

  it('takes SOURCE_ID, CHUNK_SECONDS, CHUNK_MODE and REALTIME for the env source, and RTSP_URL as SOURCE_URL', () => {
    const config = loadStreamHandleConfig({ RTSP_URL: 'rtsp://10.0.0.5/s', SOURCE_ID: 'gate', CHUNK_SECONDS: '6', CHUNK_MODE: 'encode', REALTIME: 'yes' });
    expect(config.sources).toHaveLength(1);
    expect(config.sources[0]).toMatchObject({ id: 'gate', url: 'rtsp://10.0.0.5/s', chunkSeconds: 6, mode: 'encode', realtime: true });
  });

  it('prefers SOURCE_URL over RTSP_URL', () => {
    const config = loadStreamHandleConfig({ SOURCE_URL: 'rtsp://10.0.0.1/a', RTSP_URL: 'rtsp://10.0.0.2/b' });
    expect(config.sources.map((s) => s.url)).toEqual(['rtsp://10.0.0.1/a']);
  });

  it('reads sources from a YAML file named by SOURCES_FILE, merging defaults under each source', () => {
    const config = loadStreamHandleConfig({ SOURCES_FILE: path('sources.yaml') });
    expect(config.sources.map((s) => ({ id: s.id, kind: s.kind, chunkSeconds: s.chunkSeconds, mode: s.mode, realtime: s.realtime }))).toEqual([
      { id: 'bridge-north', kind: 'rtsp', chunkSeconds: 5, mode: 'encode', realtime: false },
      { id: 'bridge-south', kind: 'rtsp', chunkSeconds: 10, mode: 'copy', realtime: false },
      { id: 'drone', kind: 'file', chunkSeconds: 5, mode: 'encode', realtime: true },
    ]);
    // Relative file paths are resolved from the sources file's folder, not the working directory.
    expect(config.sources[2]?.url).toBe(path('clip.mp4'));
    expect(config.sources[0]?.displayUrl).toBe('rtsp://viewer:***@192.0.2.10:554/stream1');
  });

  it('reads a JSON sources file', () => {
    const config = loadStreamHandleConfig({}, ['--sources', path('sources.json')]);
    expect(config.sources).toHaveLength(1);
    expect(config.sources[0]).toMatchObject({ id: 'lobby', chunkSeconds: 4, audio: 'keep' });
  });

  it('takes the file from --sources FILE and --sources=FILE, over SOURCES_FILE', () => {
    const env = { SOURCES_FILE: path('does-not-exist.yaml') };
    expect(loadStreamHandleConfig(env, ['--sources', path('sources.json')]).sources.map((s) => s.id)).toEqual(['lobby']);
    expect(loadStreamHandleConfig(env, [`--sources=${path('sources.json')}`]).sources.map((s) => s.id)).toEqual(['lobby']);
  });

  it('adds the env source to the file sources', () => {
    const config = loadStreamHandleConfig({ SOURCE_URL: 'rtsp://10.0.0.5/s', SOURCE_ID: 'extra' }, ['--sources', path('sources.json')]);
    expect(config.sources.map((s) => s.id)).toEqual(['lobby', 'extra']);
  });

  it('refuses two sources with one id', () => {
    expect(problemsOf({ SOURCES_FILE: path('duplicate.yaml') })).toEqual([
      { setting: 'source cam0', message: 'two sources share this id: ids must be unique on a node' },
    ]);
  });

  it('refuses an env source whose id is already taken by the file', () => {
    expect(problemsOf({ SOURCE_URL: 'rtsp://10.0.0.5/s', SOURCE_ID: 'lobby' }, ['--sources', path('sources.json')])).toEqual([
      { setting: 'source lobby', message: 'two sources share this id: ids must be unique on a node' },
    ]);
  });

  it('refuses a configuration with no sources, saying how to give some', () => {
    expect(problemsOf({})).toEqual([
      { setting: 'sources', message: 'none configured: pass --sources FILE (YAML or JSON), set SOURCES_FILE, or set SOURCE_URL / RTSP_URL' },
    ]);
  });

  it('reads the fleet and alert settings, with their defaults', () => {
    expect(loadStreamHandleConfig({ SOURCE_URL: 'rtsp://10.0.0.5/s' })).toMatchObject({
      fleetName: 'default',
      fleetStatusIntervalMs: 2000,
      alertWebhookUrl: undefined,
      alertCameraDownAfterMs: 10_000,
    });
    const set = loadStreamHandleConfig({
      SOURCE_URL: 'rtsp://10.0.0.5/s',
      FLEET_NAME: 'site-4',
      FLEET_STATUS_INTERVAL_MS: '500',
      ALERT_WEBHOOK_URL: 'https://alerts.example.org/hooks/crispy',
      ALERT_WEBHOOK_TOKEN: 'tok-123456',
      ALERT_CAMERA_DOWN_AFTER_MS: '0',
    });
    expect(set).toMatchObject({
      fleetName: 'site-4',
      fleetStatusIntervalMs: 500,
      alertWebhookUrl: 'https://alerts.example.org/hooks/crispy',
      alertWebhookToken: 'tok-123456',
      alertCameraDownAfterMs: 0,
    });
  });

  it('refuses a fleet name that cannot name keys, a webhook that is not http(s), and a token without a webhook', () => {
    expect(
      problemsOf({ SOURCE_URL: 'rtsp://10.0.0.5/s', FLEET_NAME: 'site 4', ALERT_WEBHOOK_URL: 'ftp://user:pw@x/hook', FLEET_STATUS_INTERVAL_MS: '10' }),
    ).toEqual([
      expect.objectContaining({ setting: 'FLEET_STATUS_INTERVAL_MS' }),
      { setting: 'FLEET_NAME', message: `"site 4" may hold only 1-64 letters, digits, '-' and '_'` },
      {
        setting: 'ALERT_WEBHOOK_URL',
        message: '"ftp://user:***@x/hook" is not an http(s) URL: give the receiver\'s full URL, e.g. https://alerts.example.org/hooks/crispy',
      },
    ]);
    expect(problemsOf({ SOURCE_URL: 'rtsp://10.0.0.5/s', ALERT_WEBHOOK_TOKEN: 'tok-123456' })).toEqual([
      { setting: 'ALERT_WEBHOOK_TOKEN', message: 'is set but ALERT_WEBHOOK_URL is not: set both, or neither' },
    ]);
  });

  it('refuses a REDIS_URL that is not redis:// or rediss://', () => {
    expect(problemsOf({ SOURCE_URL: 'rtsp://10.0.0.5/s', REDIS_URL: 'http://127.0.0.1:6379' })).toEqual([
      { setting: 'REDIS_URL', message: '"http://127.0.0.1:6379" is not a redis:// or rediss:// URL' },
    ]);
    expect(loadStreamHandleConfig({ SOURCE_URL: 'rtsp://10.0.0.5/s', REDIS_URL: 'rediss://cache:6380' }).redisUrl).toBe('rediss://cache:6380');
  });

  it('names a sources file that cannot be read, is not YAML, or has no sources list', () => {
    const unreadable = problemsOf({ SOURCES_FILE: path('does-not-exist.yaml') });
    expect(unreadable).toHaveLength(1);
    expect(unreadable[0]?.setting).toBe('SOURCES_FILE');
    expect(unreadable[0]?.message).toMatch(new RegExp(`^cannot read ${path('does-not-exist.yaml')}: ENOENT`));

    const broken = problemsOf({ SOURCES_FILE: path('broken.yaml') });
    expect(broken[0]?.setting).toBe('SOURCES_FILE');
    expect(broken[0]?.message).toMatch(new RegExp(`^${path('broken.yaml')} is not valid YAML: `));

    expect(problemsOf({ SOURCES_FILE: path('no-list.yaml') })).toEqual([
      { setting: 'SOURCES_FILE', message: `${path('no-list.yaml')} must hold a "sources:" list, each with an id and a url` },
    ]);
  });

  it('reports every problem at once: file sources, env settings and URLs', () => {
    let caught: unknown;
    try {
      loadStreamHandleConfig(
        {
          SOURCES_FILE: path('bad-source.yaml'),
          REDIS_URL: 'localhost:6379',
          UPLOAD_ATTEMPTS: '0',
          QUEUE_NAME: 'chunks:v2',
          SPOOL_FULL_POLICY: 'panic',
          LOG_LEVEL: 'loud',
        },
        [],
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.problems).toEqual([
      {
        setting: 'sources[1].id',
        message: `"../up" is not a valid source id: use 1-64 letters, digits, '-' or '_' (it becomes part of file paths and object names)`,
      },
      { setting: 'sources[1].chunkSeconds', message: '0 is not a whole number from 1 to 600 (seconds per chunk)' },
      { setting: 'REDIS_URL', message: '"localhost:6379" is not a redis:// or rediss:// URL' },
      { setting: 'QUEUE_NAME', message: `"chunks:v2" may hold only letters, digits, '-' and '_'` },
      { setting: 'UPLOAD_ATTEMPTS', message: '"0" is not a whole number from 1 to 1000' },
      { setting: 'SPOOL_FULL_POLICY', message: '"panic" is not one of stop-recording, drop-oldest' },
      { setting: 'LOG_LEVEL', message: '"loud" is not one of trace, debug, info, warn, error, fatal' },
    ]);
    expect(error.message).toMatch(/^stream-handle: invalid configuration \(7 problems\):\n {2}- sources\[1\]\.id: /);
  });

  it('names env-source problems after SOURCE_URL, as the source they build', () => {
    expect(problemsOf({ SOURCE_URL: 'rtsp://10.0.0.5/s', CHUNK_SECONDS: 'abc', REALTIME: 'maybe' })).toEqual([
      { setting: 'REALTIME', message: '"maybe" is not a boolean: use true or false' },
      { setting: 'SOURCE_URL.chunkSeconds', message: '"abc" is not a whole number from 1 to 600 (seconds per chunk)' },
    ]);
  });

  it('fills ${VAR} references in a file source URL from the environment, keeping the password out of displayUrl', () => {
    const config = loadStreamHandleConfig({ SOURCES_FILE: path('env-refs.yaml'), CAM1_PASSWORD: 's3cret' });
    expect(config.sources[0]).toMatchObject({ url: 'rtsp://viewer:s3cret@192.0.2.10:554/stream1', displayUrl: 'rtsp://viewer:***@192.0.2.10:554/stream1' });
  });

  it('refuses a file source URL that refers to an unset variable, naming it', () => {
    expect(problemsOf({ SOURCES_FILE: path('env-refs.yaml') })).toEqual([
      { setting: 'sources[0].url', message: 'refers to ${CAM1_PASSWORD}, which is not set: set it in the environment (e.g. from a secret)' },
    ]);
  });

  // Regression, fixed: `defaults:` are merged shallowly (stream-handle/src/config.ts:98 in loadStreamHandleConfig, `{ ...defaults, ...raw }`),
  // so a source that sets one encode field loses every encode field from defaults: here the
  // default codec libx265 silently becomes libx264.
  it('merges nested encode defaults field by field', () => {
    const config = loadStreamHandleConfig({ SOURCES_FILE: path('nested-defaults.yaml') });
    expect(config.sources[0]?.encode).toEqual({ codec: 'libx265', crf: 20, preset: 'fast' });
  });
});
