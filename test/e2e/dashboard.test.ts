import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

const CHROMIUM = '/usr/bin/chromium';
const ARTEFACTS = join(REPO_ROOT, 'test-output');

describe('the live dashboard', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let browser: Browser;

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    // No network for the browser: it talks to our worker on 127.0.0.1 only.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await pipeline?.stop();
    await redis?.stop();
  });

  it('shows per-source numbers that move while a source records, with a chart', async () => {
    const video = join(pipeline.dir, 'paced.mp4');
    await makeSampleVideo(video, { seconds: 12, width: 640, height: 360, gopSeconds: 1 });
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    await page.goto(`${pipeline.workerUrl}/dashboard`);
    expect(await page.textContent('#total-chunks')).toBe('0');

    // Paced like a camera: a 1 s chunk every second for 12 s.
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: video, SOURCE_ID: 'dash-cam', CHUNK_SECONDS: '1', REALTIME: 'true' });
    await page.waitForFunction(() => Number(document.querySelector('#total-chunks')?.textContent) >= 3, undefined, { timeout: 20_000 });
    const early = Number(await page.textContent('#total-chunks'));
    await page.waitForFunction((seen) => Number(document.querySelector('#total-chunks')?.textContent) >= seen + 3, early, { timeout: 20_000 });
    const later = Number(await page.textContent('#total-chunks'));
    expect(later).toBeGreaterThanOrEqual(early + 3);

    const row = await page.textContent('#sources tr');
    expect(row).toContain('dash-cam');
    expect(await page.textContent('#total-p95')).toMatch(/^\d+ ms$/);
    expect(await page.textContent('#total-throughput')).toMatch(/^\d+\.\d\d MB\/s$/);
    // The chart has been drawn: some pixels are no longer the background.
    const inked = await page.evaluate(() => {
      const canvas = document.querySelector('canvas');
      const pixels = canvas?.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      let count = 0;
      for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) count++;
      return count;
    });
    expect(inked).toBeGreaterThan(500);
    mkdirSync(ARTEFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTEFACTS, 'dashboard.png'), fullPage: true });
    expect(await recorder.exited).toBe(0);
  });
});
