import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigProblem } from '@crispy-streamer/shared';
import { BUCKETS_HINT, loadFunctionConfig } from '../src/config.js';

/** The one setting without a default. */
const B = { BUCKETS: 'evidence' };

function problemsOf(env: Record<string, string | undefined>): ConfigProblem[] {
  try {
    loadFunctionConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/^cloud-function: invalid configuration/);
    return (error as ConfigError).problems;
  }
  return expect.unreachable('the configuration was accepted');
}

const BOTH_OR_NEITHER =
  "set both LOCAL_BUCKET_BASE_URL and LOCAL_SIGNING_SECRET (the upload-worker's) to describe chunks of a local bucket, or neither for Cloud Storage";

describe('loadFunctionConfig', () => {
  it('defaults to Cloud Storage with one-hour signed URLs', () => {
    expect(loadFunctionConfig(B)).toMatchObject({
      buckets: new Set(['evidence']),
      signedUrlSeconds: 3600,
      localBucket: undefined,
      gcsApiEndpoint: undefined,
      frameTimeoutMs: 30_000,
      durationToleranceMs: 1,
      logLevel: 'info',
    });
  });

  it('accepts signed URLs of up to 7 days', () => {
    expect(loadFunctionConfig({ ...B, SIGNED_URL_SECONDS: '604800' }).signedUrlSeconds).toBe(604800);
  });

  it('refuses SIGNED_URL_SECONDS beyond 7 days, naming the setting', () => {
    expect(problemsOf({ ...B, SIGNED_URL_SECONDS: '604801' })).toEqual([
      { setting: 'SIGNED_URL_SECONDS', message: '"604801" is not a whole number from 1 to 604800' },
    ]);
    expect(problemsOf({ ...B, SIGNED_URL_SECONDS: '0' })[0]?.setting).toBe('SIGNED_URL_SECONDS');
  });

  it('uses the local bucket when both its base URL and secret are set', () => {
    expect(loadFunctionConfig({ ...B, LOCAL_BUCKET_BASE_URL: 'http://127.0.0.1:3000', LOCAL_SIGNING_SECRET: '0123456789abcdef' }).localBucket).toEqual({
      baseUrl: 'http://127.0.0.1:3000',
      secret: '0123456789abcdef',
    });
  });

  it('refuses only one of LOCAL_BUCKET_BASE_URL and LOCAL_SIGNING_SECRET, naming the missing one', () => {
    expect(problemsOf({ ...B, LOCAL_BUCKET_BASE_URL: 'http://127.0.0.1:3000' })).toEqual([{ setting: 'LOCAL_SIGNING_SECRET', message: BOTH_OR_NEITHER }]);
    expect(problemsOf({ ...B, LOCAL_SIGNING_SECRET: '0123456789abcdef' })).toEqual([{ setting: 'LOCAL_BUCKET_BASE_URL', message: BOTH_OR_NEITHER }]);
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(problemsOf({ ...B, LOCAL_BUCKET_BASE_URL: 'file:///bucket', LOCAL_SIGNING_SECRET: '0123456789abcdef' })).toEqual([
      { setting: 'LOCAL_BUCKET_BASE_URL', message: '"file:///bucket" is not an http(s) URL' },
    ]);
  });

  it('reads the emulator endpoint, timeouts and tolerance', () => {
    expect(
      loadFunctionConfig({ ...B, STORAGE_EMULATOR_HOST: 'http://127.0.0.1:4443', FRAME_TIMEOUT_MS: '5000', DURATION_TOLERANCE_MS: '0', LOG_LEVEL: 'debug' }),
    ).toMatchObject({ gcsApiEndpoint: 'http://127.0.0.1:4443', frameTimeoutMs: 5000, durationToleranceMs: 0, logLevel: 'debug' });
  });

  it('reports every problem at once', () => {
    expect(problemsOf({ ...B, SIGNED_URL_SECONDS: 'x', LOCAL_SIGNING_SECRET: 's', FRAME_TIMEOUT_MS: '10', LOG_LEVEL: 'loud' }).map((p) => p.setting)).toEqual([
      'SIGNED_URL_SECONDS',
      'LOCAL_BUCKET_BASE_URL',
      'FRAME_TIMEOUT_MS',
      'LOG_LEVEL',
    ]);
  });

  it('requires BUCKETS, saying what to put there', () => {
    expect(problemsOf({})).toEqual([{ setting: 'BUCKETS', message: `is required: ${BUCKETS_HINT}` }]);
    expect(problemsOf({ BUCKETS: ' , ' })).toEqual([{ setting: 'BUCKETS', message: `"," names no bucket: ${BUCKETS_HINT}` }]);
  });

  it('reads several buckets, trimmed', () => {
    expect(loadFunctionConfig({ BUCKETS: 'evidence, evidence-eu,cam.archive.example.com' }).buckets).toEqual(
      new Set(['evidence', 'evidence-eu', 'cam.archive.example.com']),
    );
  });

  it('refuses what is not a bucket name: a gs:// URL, a path, capitals, too short', () => {
    const problems = problemsOf({ BUCKETS: 'gs://evidence,evidence/chunks,Evidence,ab' });
    expect(problems.map((p) => p.message.slice(0, p.message.indexOf(' is not')))).toEqual(['"gs://evidence"', '"evidence/chunks"', '"Evidence"', '"ab"']);
    expect(problems[0]?.message).toMatch(/give names without gs:\/\/ or a path$/);
  });
});
