import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigProblem } from '@crispy-streamer/shared';
import { loadUploadWorkerConfig } from '../src/config.js';

function problemsOf(env: Record<string, string | undefined>): ConfigProblem[] {
  try {
    loadUploadWorkerConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  return expect.unreachable('the configuration was accepted');
}

const BOARD_MESSAGE = 'HTTP_HOST=0.0.0.0 exposes Bull Board beyond this machine: set BOARD_USER and BOARD_PASSWORD, or bind HTTP_HOST=127.0.0.1';

describe('loadUploadWorkerConfig', () => {
  it('defaults to a local bucket in ./bucket and Bull Board on localhost', () => {
    expect(loadUploadWorkerConfig({})).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      queueName: 'chunks',
      bucket: { kind: 'local', bucket: 'bucket', prefix: '', dir: resolve('bucket') },
      concurrency: 8,
      maxConcurrency: 32,
      httpHost: '127.0.0.1',
      httpPort: 3000,
      boardUser: undefined,
      boardPassword: undefined,
      notifyUrl: undefined,
      localSigningSecret: undefined,
      shutdownGraceMs: 30_000,
      uploadProgressTimeoutMs: 60_000,
      logLevel: 'info',
    });
  });

  it('reads a gs:// bucket with its prefix and the emulator endpoint', () => {
    const config = loadUploadWorkerConfig({ BUCKET_URL: 'gs://evidence/site-a', STORAGE_EMULATOR_HOST: 'http://127.0.0.1:4443', GCP_PROJECT: 'p' });
    expect(config.bucket).toEqual({ kind: 'gcs', bucket: 'evidence', prefix: 'site-a' });
    expect(config.gcsApiEndpoint).toBe('http://127.0.0.1:4443');
    expect(config.gcpProject).toBe('p');
  });

  it('refuses to expose Bull Board beyond localhost without credentials', () => {
    expect(problemsOf({ HTTP_HOST: '0.0.0.0' })).toEqual([{ setting: 'BOARD_USER', message: BOARD_MESSAGE }]);
    expect(problemsOf({ HTTP_HOST: '0.0.0.0', BOARD_USER: 'ops' })).toEqual([{ setting: 'BOARD_USER', message: BOARD_MESSAGE }]);
    expect(problemsOf({ HTTP_HOST: '0.0.0.0', BOARD_PASSWORD: 'pw' })).toEqual([{ setting: 'BOARD_USER', message: BOARD_MESSAGE }]);
  });

  it('allows any host with both credentials, and loopback hosts without them', () => {
    expect(loadUploadWorkerConfig({ HTTP_HOST: '0.0.0.0', BOARD_USER: 'ops', BOARD_PASSWORD: 'pw' }).httpHost).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', '::1', 'localhost']) expect(loadUploadWorkerConfig({ HTTP_HOST: host }).httpHost).toBe(host);
  });

  it('refuses NOTIFY_URL with a gs:// bucket, which notifies through Pub/Sub itself', () => {
    expect(problemsOf({ BUCKET_URL: 'gs://evidence', NOTIFY_URL: 'http://127.0.0.1:8080/projects/local/topics/chunks' })).toEqual([
      { setting: 'NOTIFY_URL', message: 'is for the local bucket only: a gs:// bucket notifies through its own Pub/Sub notification' },
    ]);
  });

  it('refuses a NOTIFY_URL that is not http(s), such as a gs:// URL', () => {
    expect(problemsOf({ NOTIFY_URL: 'gs://evidence/topic' })).toEqual([
      {
        setting: 'NOTIFY_URL',
        message: '"gs://evidence/topic" is not an http(s) URL: point it at the function, e.g. http://127.0.0.1:8080/projects/local/topics/chunks',
      },
    ]);
  });

  it('accepts an http NOTIFY_URL for a local bucket', () => {
    expect(loadUploadWorkerConfig({ NOTIFY_URL: 'http://127.0.0.1:8080/projects/local/topics/chunks' }).notifyUrl).toBe(
      'http://127.0.0.1:8080/projects/local/topics/chunks',
    );
  });

  it('refuses a LOCAL_SIGNING_SECRET shorter than 16 characters', () => {
    expect(problemsOf({ LOCAL_SIGNING_SECRET: 'short' })).toEqual([
      { setting: 'LOCAL_SIGNING_SECRET', message: 'is shorter than 16 characters: use a long random string (openssl rand -hex 32)' },
    ]);
    expect(loadUploadWorkerConfig({ LOCAL_SIGNING_SECRET: '0123456789abcdef' }).localSigningSecret).toBe('0123456789abcdef');
  });

  it.each([
    ['0', '"0" is not a whole number from 1 to 256'],
    ['257', '"257" is not a whole number from 1 to 256'],
    ['many', '"many" is not a whole number from 1 to 256'],
    ['2.5', '"2.5" is not a whole number from 1 to 256'],
  ])('refuses UPLOAD_CONCURRENCY=%s', (value, message) => {
    expect(problemsOf({ UPLOAD_CONCURRENCY: value })).toEqual([{ setting: 'UPLOAD_CONCURRENCY', message }]);
  });

  it('reports a bad BUCKET_URL with the parser message', () => {
    expect(problemsOf({ BUCKET_URL: 's3://evidence' })).toEqual([
      {
        setting: 'BUCKET_URL',
        message: '"s3://evidence" is not a bucket URL: use gs://BUCKET/PREFIX for Cloud Storage or file:///DIR for a bucket on local disk',
      },
    ]);
  });

  it('bounds an upload attempt by lack of progress: UPLOAD_PROGRESS_TIMEOUT_MS, at least 3 s', () => {
    expect(loadUploadWorkerConfig({ UPLOAD_PROGRESS_TIMEOUT_MS: '15000' }).uploadProgressTimeoutMs).toBe(15_000);
    expect(problemsOf({ UPLOAD_PROGRESS_TIMEOUT_MS: '1000' }).map((p) => p.setting)).toEqual(['UPLOAD_PROGRESS_TIMEOUT_MS']);
  });

  it('lets concurrency adapt up to UPLOAD_CONCURRENCY_MAX (default 32, or the floor if higher), never below the floor', () => {
    expect(loadUploadWorkerConfig({ UPLOAD_CONCURRENCY: '4', UPLOAD_CONCURRENCY_MAX: '16' })).toMatchObject({ concurrency: 4, maxConcurrency: 16 });
    expect(loadUploadWorkerConfig({ UPLOAD_CONCURRENCY: '64' }).maxConcurrency).toBe(64);
    expect(loadUploadWorkerConfig({ UPLOAD_CONCURRENCY: '8', UPLOAD_CONCURRENCY_MAX: '8' }).maxConcurrency).toBe(8);
    expect(problemsOf({ UPLOAD_CONCURRENCY: '16', UPLOAD_CONCURRENCY_MAX: '8' })).toEqual([
      {
        setting: 'UPLOAD_CONCURRENCY_MAX',
        message: '8 is below UPLOAD_CONCURRENCY (16): set it to at least that, or equal to it for a fixed number of uploads',
      },
    ]);
  });

  it('refuses the old total-time UPLOAD_TIMEOUT_MS, saying what replaced it', () => {
    expect(problemsOf({ UPLOAD_TIMEOUT_MS: '120000' })).toEqual([
      {
        setting: 'UPLOAD_TIMEOUT_MS',
        message:
          'is no longer used: an upload attempt is bounded by lack of progress, not total time. Set UPLOAD_PROGRESS_TIMEOUT_MS (default 60000) to how long an upload may move no bytes, and remove UPLOAD_TIMEOUT_MS',
      },
    ]);
  });

  it("reads the fleet settings: its name, this worker's id, how often it publishes and lists the bucket, the webhook", () => {
    const config = loadUploadWorkerConfig({});
    expect(config).toMatchObject({ fleetName: 'default', fleetPublishMs: 2000, fleetBucketRefreshMs: 15_000, alertWebhookUrl: undefined });
    expect(config.workerId).toMatch(new RegExp(`-${process.pid}$`));
    expect(loadUploadWorkerConfig({ FLEET_NAME: 'site-4', WORKER_ID: 'edge-a-uploader', ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook' })).toMatchObject({
      fleetName: 'site-4',
      workerId: 'edge-a-uploader',
      alertWebhookUrl: 'http://127.0.0.1:9/hook',
    });
    expect(problemsOf({ FLEET_NAME: 'a:b', ALERT_WEBHOOK_URL: 'mailto:ops@example.org', FLEET_BUCKET_REFRESH_MS: '5' }).map((p) => p.setting)).toEqual([
      'FLEET_BUCKET_REFRESH_MS',
      'FLEET_NAME',
      'ALERT_WEBHOOK_URL',
    ]);
  });

  it('reports every problem at once', () => {
    let caught: unknown;
    try {
      loadUploadWorkerConfig({
        HTTP_HOST: '0.0.0.0',
        BUCKET_URL: 'gs://evidence',
        NOTIFY_URL: 'ftp://x',
        LOCAL_SIGNING_SECRET: 'x',
        UPLOAD_CONCURRENCY: '0',
        LOG_LEVEL: 'loud',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems.map((p) => p.setting)).toEqual([
      'UPLOAD_CONCURRENCY',
      'LOG_LEVEL',
      'BOARD_USER',
      'NOTIFY_URL',
      'NOTIFY_URL',
      'LOCAL_SIGNING_SECRET',
    ]);
    expect((caught as ConfigError).message).toMatch(/^upload-worker: invalid configuration \(6 problems\):/);
  });
});
