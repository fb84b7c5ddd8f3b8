import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { freePort } from '@crispy-streamer/harness/free-port';
import { startStreamHandle, startUploadWorker } from '@crispy-streamer/harness/local-stack';
import { REPO_ROOT, nodeArgsForSource, type LogLine, type ServiceProcess } from '@crispy-streamer/harness/service-process';
import { runCommand } from '@crispy-streamer/harness/child-process';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { startRtspCamera, type RtspCamera } from '@crispy-streamer/harness/rtsp-camera';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

// The fleet as operators run it: 8 cameras on two recorders (two node ids), two upload workers,
// one Redis, a local bucket. One camera is killed: its row on the fleet page (Debian's Chromium)
// turns red, the webhook (a real receiver on loopback that refuses the first tries) gets
// camera-down, camera-back and the gap, the Prometheus rule's unit test passes on the metrics the
// recorder really exported, and `npm run coverage` finds the outage where it was.

const CHROMIUM = '/usr/bin/chromium';
const ARTEFACTS = join(REPO_ROOT, 'test-output');
const CHUNK_SECONDS = 2;
const NODES = { 'edge-a': ['cam1', 'cam2', 'cam3', 'cam4'], 'edge-b': ['cam5', 'cam6', 'cam7', 'cam8'] } as const;
const VICTIM = 'cam6';
const FIGURES: Record<string, number | string> = {};

interface Row {
  source: string;
  node: string;
  health: string;
}

async function rows(page: Page): Promise<Row[]> {
  return page.$$eval('#rows tr.row', (trs) =>
    trs.map((tr) => ({
      source: (tr as HTMLElement).dataset.source ?? '',
      node: tr.children[1]?.textContent ?? '',
      health: (tr as HTMLElement).dataset.health ?? '',
    })),
  );
}

/** Prometheus text exposition into series: name{labels} -> value. */
function parseExposition(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const series: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ''] = pair[2] ?? '';
    series.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return series;
}

describe('a fleet of 8 cameras on two nodes', () => {
  let redis: RedisServer;
  let dir: string;
  let browser: Browser;
  let page: Page;
  let webhook: WebhookReceiver;
  const cameras = new Map<string, RtspCamera>();
  const recorders = new Map<string, ServiceProcess>();
  const statusPorts = new Map<string, number>();
  const workers: { process: ServiceProcess; url: string }[] = [];
  let killedAt = 0;
  const about = (source: string, event: string) => (r: { answer: string; body: unknown }) => {
    const body = r.body as { event?: string; source?: string };
    return body.event === event && body.source === source;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'crispy-fleet-'));
    const video = join(dir, 'loop.mp4');
    await makeSampleVideo(video, { seconds: 20, width: 640, height: 360, fps: 25, gopSeconds: 1 });
    // One camera process per camera, serving a pre-encoded file (no encoder cost), so one can die alone.
    for (const source of Object.values(NODES).flat()) cameras.set(source, await startRtspCamera({ sourceFile: video }));
    // The first delivery of every kind is refused a few ways before the receiver takes it.
    webhook = await startWebhookReceiver({ faults: [{ kind: 'status', status: 503 }, { kind: 'drop' }, { kind: 'status', status: 502 }] });

    const spoolDir = join(dir, 'spool');
    const bucketDir = join(dir, 'bucket');
    for (const id of ['worker-1', 'worker-2']) {
      const port = await freePort();
      const worker = startUploadWorker({
        env: {
          REDIS_URL: redis.url,
          SPOOL_DIR: spoolDir,
          BUCKET_URL: `file://${bucketDir}`,
          HTTP_PORT: String(port),
          WORKER_ID: id,
          FLEET_PUBLISH_MS: '1000',
          FLEET_BUCKET_REFRESH_MS: '2000',
          UPLOAD_CONCURRENCY: '4',
          UPLOAD_CONCURRENCY_MAX: '4',
          ALERT_WEBHOOK_URL: webhook.url,
        },
      });
      await worker.waitForLog((l) => l.message === 'upload-worker ready', 30_000, 'that it is ready');
      workers.push({ process: worker, url: `http://localhost:${port}` });
    }
    for (const [node, sources] of Object.entries(NODES)) {
      const file = join(dir, `${node}.yaml`);
      await writeFile(file, toYaml({ defaults: { chunkSeconds: CHUNK_SECONDS }, sources: sources.map((id) => ({ id, url: cameras.get(id)?.url() })) }));
      const statusPort = await freePort();
      statusPorts.set(node, statusPort);
      recorders.set(
        node,
        startStreamHandle({
          env: {
            REDIS_URL: redis.url,
            SPOOL_DIR: spoolDir,
            NODE_ID: node,
            STATUS_PORT: String(statusPort),
            FLEET_STATUS_INTERVAL_MS: '1000',
            RECONNECT_MIN_DELAY_MS: '250',
            RECONNECT_MAX_DELAY_MS: '1000',
            ALERT_WEBHOOK_URL: webhook.url,
            ALERT_CAMERA_DOWN_AFTER_MS: '3000',
          },
          args: ['--sources', file],
        }),
      );
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1920, height: 760 } });
    mkdirSync(ARTEFACTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    if (Object.keys(FIGURES).length > 0) writeFileSync(join(ARTEFACTS, 'fleet-figures.json'), `${JSON.stringify(FIGURES, null, 2)}\n`);
    await browser?.close();
    for (const recorder of recorders.values()) await recorder.stop();
    for (const { process } of workers) await process.stop();
    for (const camera of cameras.values()) await camera.stop();
    await webhook?.close();
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('shows every camera of both nodes recording; a killed camera turns red within 5 s, alerts, and the rule fires on its metrics', async () => {
    // Worker 2 serves the page: figures come from both, cameras from both nodes, through Redis.
    await page.goto(`${workers[1]?.url}/fleet`);
    await page.waitForFunction(() => document.querySelectorAll('#rows tr.row[data-health="ok"]').length === 8, undefined, { timeout: 60_000, polling: 200 });
    // Both workers upload (each reports what it stored), and the page adds them up.
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('#workers tr')].filter((tr) => Number(tr.children[2]?.textContent) > 0).length === 2 &&
        document.querySelectorAll('canvas.strip').length === 8,
      undefined,
      { timeout: 60_000, polling: 500 },
    );
    const all = await rows(page);
    expect(all.map((row) => `${row.node}/${row.source}`).sort()).toEqual(
      Object.entries(NODES)
        .flatMap(([node, sources]) => sources.map((source) => `${node}/${source}`))
        .sort(),
    );
    const data = (await (await fetch(`${workers[0]?.url}/fleet/data`)).json()) as {
      uploads: { workers: { workerId: string; storedInWindow: number }[]; total: { chunks: number } };
      rows: { source: string; video: { width: number; height: number; codec: string } | null }[];
    };
    expect(data.uploads.workers.map((w) => w.workerId)).toEqual(['worker-1', 'worker-2']);
    expect(data.uploads.total.chunks).toBe(data.uploads.workers.reduce((sum, w) => sum + w.storedInWindow, 0));
    expect(data.rows.every((row) => row.video?.width === 640 && row.video.height === 360 && row.video.codec === 'h264')).toBe(true);
    // The last hour, 5 s a cell: minutes of footage show (the day's strip is a minute a cell).
    await page.click('#w1');
    await page.screenshot({ path: join(ARTEFACTS, 'fleet-all-recording.png') });

    // Half a minute of footage first, so the coverage has something on both sides of the outage.
    await recorders
      .get('edge-b')
      ?.waitForLog((l) => l.source === VICTIM && l.message === 'chunk recorded' && Number(l.sequence) >= 15, 60_000, 'half a minute of chunks');
    const metricsUrl = `http://127.0.0.1:${statusPorts.get('edge-b')}/metrics`;
    const before = parseExposition(await (await fetch(metricsUrl)).text());

    killedAt = Date.now();
    await cameras.get(VICTIM)?.kill();
    await page.waitForFunction((source) => document.querySelector(`#rows tr.row[data-source="${source}"]`)?.getAttribute('data-health') === 'down', VICTIM, {
      timeout: 5000,
      polling: 50,
    });
    const redAfterMs = Date.now() - killedAt;
    FIGURES.killToRedRowMs = redAfterMs;
    expect(redAfterMs).toBeLessThan(5000);
    // Worst first: the dark camera heads the table; the seven others still record.
    const afterKill = await rows(page);
    expect(afterKill[0]).toMatchObject({ source: VICTIM, node: 'edge-b', health: 'down' });
    expect(afterKill.filter((row) => row.health === 'ok')).toHaveLength(7);
    expect(await page.textContent(`#rows tr.row[data-source="${VICTIM}"] td.summary`)).toMatch(
      /^not recording since \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ s ago\), reconnecting/,
    );
    await page.screenshot({ path: join(ARTEFACTS, 'fleet-camera-down.png') });

    // The webhook: camera-down for the victim, after the configured 3 s, delivered through three refusals.
    const down = await webhook.waitFor((r) => r.answer === 'accepted' && about(VICTIM, 'camera-down')(r), 30_000, 'camera-down');
    expect(down.body).toMatchObject({
      version: 1,
      event: 'camera-down',
      source: VICTIM,
      node: 'edge-b',
      detectedBy: 'stream-handle',
      reason: expect.stringMatching(/stream ended|cannot reach the camera/),
    });
    // Nothing else was alerted: the first requests the receiver refused were this alert's.
    expect(webhook.requests.map((r) => [(r.body as { source?: string }).source, r.answer])).toEqual([
      [VICTIM, 'status'],
      [VICTIM, 'drop'],
      [VICTIM, 'status'],
      [VICTIM, 'accepted'],
    ]);
    const firstTry = webhook.requests.find(about(VICTIM, 'camera-down'));
    FIGURES.killToWebhookFirstAttemptMs = (firstTry?.atMs ?? 0) - killedAt;
    FIGURES.killToWebhookDeliveredMs = down.atMs - killedAt;
    FIGURES.webhookRefusalsBeforeDelivery = 3;
    expect(Date.parse(String((down.body as { since: string }).since))).toBeGreaterThanOrEqual(killedAt - 100);

    // Prometheus: the rule's unit test, fed with the series the recorder exported before and after.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const after = parseExposition(await (await fetch(metricsUrl)).text());
    const recording = (series: typeof before) => series.filter((s) => s.name === 'crispy_source_recording');
    expect(
      recording(after)
        .map((s) => [s.labels.source, s.value])
        .sort(),
    ).toEqual([
      ['cam5', 1],
      ['cam6', 0],
      ['cam7', 1],
      ['cam8', 1],
    ]);
    const rules = parseYaml(readFileSync(join(REPO_ROOT, 'deploy/monitoring/prometheus/crispy-alerts.yml'), 'utf8')) as {
      groups: { rules: { alert: string; annotations: Record<string, string> }[] }[];
    };
    const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'CrispyCameraNotRecording');
    const render = (text: string, labels: Record<string, string>) => text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, name: string) => labels[name] ?? '');
    const scrapeLabels = { job: 'crispy-stream-handle', instance: `edge-b:${statusPorts.get('edge-b')}` };
    const selector = (labels: Record<string, string>) =>
      `crispy_source_recording{${Object.entries({ ...labels, ...scrapeLabels })
        .map(([k, v]) => `${k}="${v}"`)
        .join(',')}}`;
    const victim = recording(after).find((s) => s.labels.source === VICTIM);
    const test = {
      rule_files: [join(REPO_ROOT, 'deploy/monitoring/prometheus/crispy-alerts.yml')],
      evaluation_interval: '15s',
      tests: [
        {
          name: 'the metrics edge-b exported, scraped before the kill (3 scrapes) and after it (held, as the camera stays dark)',
          interval: '15s',
          input_series: recording(after).map((s) => {
            const earlier = recording(before).find((b) => b.labels.source === s.labels.source)?.value ?? s.value;
            return { series: selector(s.labels), values: `${earlier} ${earlier} ${earlier} ${s.value}x10` };
          }),
          alert_rule_test: [
            { eval_time: '1m30s', alertname: 'CrispyCameraNotRecording', exp_alerts: [] },
            {
              eval_time: '1m45s',
              alertname: 'CrispyCameraNotRecording',
              exp_alerts: [
                {
                  exp_labels: { severity: 'critical', ...victim?.labels, ...scrapeLabels },
                  exp_annotations: Object.fromEntries(Object.entries(rule?.annotations ?? {}).map(([k, v]) => [k, render(v, victim?.labels ?? {})])),
                },
              ],
            },
          ],
        },
      ],
    };
    const testFile = join(ARTEFACTS, 'fleet-camera-not-recording.test.yml');
    writeFileSync(testFile, toYaml(test));
    const promtool = await runCommand('/usr/bin/promtool', ['test', 'rules', testFile], { timeoutMs: 60_000 });
    expect(`${promtool.stdout}${promtool.stderr}`, promtool.stderr).toContain('SUCCESS');
    expect(promtool.code).toBe(0);
  });

  it('records again when the camera is back: camera-back and the gap on the webhook, the exact gap on the page, and `npm run coverage` finds the outage', async () => {
    await new Promise((resolve) => setTimeout(resolve, 8000));
    const camera = cameras.get(VICTIM);
    await camera?.restart();
    // The camera serves again from here (restart() returns once it is ready): the outage's real end.
    const backAt = Date.now();
    await page.waitForFunction((source) => document.querySelector(`#rows tr.row[data-source="${source}"]`)?.getAttribute('data-health') === 'ok', VICTIM, {
      timeout: 30_000,
      polling: 100,
    });
    FIGURES.restartToGreenRowMs = Date.now() - backAt;

    const recorder = recorders.get('edge-b');
    const gapLine = await recorder?.waitForLog((l) => l.source === VICTIM && String(l.message).startsWith('recording gap'), 30_000, 'the gap');
    const killedFrom = Date.parse(String(gapLine?.gapFrom));
    const back = await webhook.waitFor((r) => r.answer === 'accepted' && about(VICTIM, 'camera-back')(r), 30_000, 'camera-back');
    expect(back.body).toMatchObject({ source: VICTIM, node: 'edge-b' });
    const gap = await webhook.waitFor((r) => r.answer === 'accepted' && about(VICTIM, 'gap')(r), 30_000, 'the gap event');
    expect((gap.body as { gap: unknown }).gap).toEqual({ from: gapLine?.gapFrom, to: gapLine?.gapTo, seconds: Math.round(Number(gapLine?.gapMs)) / 1000 });

    // The bucket catches up: the page lists the gap with the recorder's exact times.
    await page.click(`#rows tr.row[data-source="${VICTIM}"]`);
    const shown = (iso: string) => iso.replace('T', ' ').replace('Z', ' UTC');
    // Until the chunk after the gap is listed, the gap runs on to "now" (or to the spool's footage).
    await page.waitForFunction(
      ({ from, to }) =>
        [...document.querySelectorAll('tr.detail table.gaps tr')].some((tr) => tr.children[0]?.textContent === from && tr.children[1]?.textContent === to),
      { from: shown(String(gapLine?.gapFrom)), to: shown(String(gapLine?.gapTo)) },
      { timeout: 30_000, polling: 250 },
    );
    // The strip draws it: the last hour, 5 s a cell; red where the outage was, green before and since.
    const stripColours = () =>
      page.$eval(`#rows tr.row[data-source="${VICTIM}"] canvas.strip`, (canvas) => {
        const c = canvas as HTMLCanvasElement;
        const pixels = c.getContext('2d')?.getImageData(0, 7, c.width, 1).data ?? new Uint8ClampedArray();
        const colours: string[] = [];
        for (let x = 0; x < c.width; x++)
          colours.push([pixels[x * 4], pixels[x * 4 + 1], pixels[x * 4 + 2]].map((v) => (v ?? 0).toString(16).padStart(2, '0')).join(''));
        return colours;
      });
    const deadline = Date.now() + 60_000;
    let strip = await stripColours();
    // Wait for footage after the gap to be stored (green after the red).
    while (!(strip.lastIndexOf('2e9d5b') > strip.lastIndexOf('d9342b') && strip.includes('d9342b')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      strip = await stripColours();
    }
    const runs = strip.reduce<[string, number][]>((out, colour) => {
      const lastRun = out[out.length - 1];
      if (lastRun !== undefined && lastRun[0] === colour) lastRun[1]++;
      else out.push([colour, 1]);
      return out;
    }, []);
    const red = strip.filter((colour) => colour === 'd9342b').length;
    // About 20 s of 3600 s over 420 px: 2-3 px, give or take the 5 s cells at its ends.
    expect(red, JSON.stringify(runs)).toBeGreaterThanOrEqual(2);
    expect(red, JSON.stringify(runs)).toBeLessThanOrEqual(6);
    expect(strip.indexOf('2e9d5b'), JSON.stringify(runs)).toBeLessThan(strip.indexOf('d9342b'));
    expect(strip.lastIndexOf('2e9d5b'), JSON.stringify(runs)).toBeGreaterThan(strip.lastIndexOf('d9342b'));
    await page.screenshot({ path: join(ARTEFACTS, 'fleet-gap-detail.png'), fullPage: true });

    // The command, as a process, on the bucket and the fleet's Redis.
    const from = new Date(killedFrom - 30_000).toISOString();
    const to = new Date().toISOString();
    const png = join(ARTEFACTS, 'coverage-cam6.png');
    const coverage = await runCommand(
      process.execPath,
      nodeArgsForSource(join(REPO_ROOT, 'evidence-tools/src/coverage/main.ts'), [
        '--bucket',
        `file://${join(dir, 'bucket')}`,
        '--source',
        VICTIM,
        '--from',
        from,
        '--to',
        to,
        '--redis',
        redis.url,
        '--json',
        '--png',
        png,
        '--svg',
        join(ARTEFACTS, 'coverage-cam6.svg'),
        '--max-gap',
        '5',
      ]),
      { timeoutMs: 60_000, cwd: REPO_ROOT },
    );
    expect(coverage.code, coverage.stderr).toBe(1); // the outage is longer than --max-gap 5
    const report = JSON.parse(coverage.stdout) as {
      gaps: { from: string; to: string; durationMs: number; missingSequences: unknown; edge: string | null }[];
      spools: { consulted: boolean };
    };
    expect(report.spools.consulted).toBe(true);
    const outage = report.gaps.filter((g) => g.edge === null);
    expect(outage).toHaveLength(1);
    const [found] = outage;
    // The bucket's chunks say exactly what the recorder said; against the real outage, within a chunk.
    expect([found?.from, found?.to, found?.missingSequences]).toEqual([gapLine?.gapFrom, gapLine?.gapTo, null]);
    const startErrorMs = Date.parse(String(found?.from)) - killedAt;
    const endErrorMs = Date.parse(String(found?.to)) - backAt;
    FIGURES.outageStartErrorMs = startErrorMs;
    FIGURES.outageEndErrorMs = endErrorMs;
    FIGURES.outageMs = backAt - killedAt;
    FIGURES.reportedGapMs = found?.durationMs ?? 0;
    expect(Math.abs(startErrorMs)).toBeLessThanOrEqual(CHUNK_SECONDS * 1000);
    expect(Math.abs(endErrorMs)).toBeLessThanOrEqual(CHUNK_SECONDS * 1000);
    for (const name of ['fleet-camera-down.png', 'fleet-gap-detail.png', 'coverage-cam6.png'])
      copyFileSync(join(ARTEFACTS, name), join(ARTEFACTS, `readme-${name}`));
  });

  it('a node gone silent: its cameras show stale, and one worker (not both) alerts for each', async () => {
    const recorder = recorders.get('edge-a');
    const silentAt = Date.now();
    // A frozen node: it writes nothing more, its sockets stay open (a hung host, a cut link).
    recorder?.child.kill('SIGSTOP');
    try {
      await page.waitForFunction(() => document.querySelectorAll('#rows tr.row[data-health="stale"]').length === 4, undefined, {
        timeout: 20_000,
        polling: 100,
      });
      FIGURES.silentToStaleRowsMs = Date.now() - silentAt;
      expect((await rows(page)).filter((row) => row.health === 'stale').map((row) => row.node)).toEqual(['edge-a', 'edge-a', 'edge-a', 'edge-a']);
      for (const source of NODES['edge-a']) {
        await webhook.waitFor(
          (r) =>
            r.answer === 'accepted' &&
            (r.body as { event?: string; source?: string; detectedBy?: string }).event === 'camera-down' &&
            (r.body as { source?: string }).source === source &&
            (r.body as { detectedBy?: string }).detectedBy === 'upload-worker',
          30_000,
          `camera-down for ${source}`,
        );
      }
      const fromWorkers = webhook
        .accepted()
        .filter((r) => (r.body as { detectedBy?: string }).detectedBy === 'upload-worker' && (r.body as { event?: string }).event === 'camera-down');
      expect(fromWorkers.map((r) => (r.body as { source: string }).source).sort()).toEqual([...NODES['edge-a']].sort());
    } finally {
      recorder?.child.kill('SIGCONT');
    }
    await page.waitForFunction(() => document.querySelectorAll('#rows tr.row[data-health="stale"]').length === 0, undefined, { timeout: 20_000, polling: 200 });
    for (const source of NODES['edge-a']) {
      await webhook.waitFor(
        (r) =>
          r.answer === 'accepted' &&
          (r.body as { event?: string }).event === 'camera-back' &&
          (r.body as { source?: string }).source === source &&
          (r.body as { detectedBy?: string }).detectedBy === 'upload-worker',
        30_000,
        `camera-back for ${source}`,
      );
    }
    const logs: LogLine[] = workers.flatMap(({ process }) => process.logs);
    // Each silent camera was claimed by exactly one of the two workers.
    expect(
      logs
        .filter((l) => l.message === 'alert raised' && l.alert === 'camera-down')
        .map((l) => l.source)
        .sort(),
    ).toEqual([...NODES['edge-a']].sort());
  });
});
