import { afterEach, describe, expect, it, vi } from 'vitest';
import { alertEvent, describeAlert } from '../../src/alerts/index.js';
import { WebhookSender } from '../../src/alerts/webhook-sender.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/support/webhook-receiver.js';
import { captureLines } from '../support/capture-logger.js';

const FAST = { minDelayMs: 20, maxDelayMs: 80, jitter: 0 };
const down = (source: string) =>
  alertEvent({
    event: 'camera-down',
    source,
    node: 'edge-a',
    since: '2026-11-23T09:00:00.000Z',
    reason: 'cannot reach the camera',
    detectedBy: 'stream-handle',
    atMs: Date.parse('2026-11-23T09:00:10.000Z'),
  });

describe('the alert webhook sender', () => {
  let receiver: WebhookReceiver | undefined;
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  it('retries through failures and dropped connections until the receiver takes the event, in order', async () => {
    receiver = await startWebhookReceiver({ faults: [{ kind: 'status', status: 503 }, { kind: 'drop' }, { kind: 'status', status: 429 }] });
    const { logger, lines } = captureLines();
    const sender = new WebhookSender({ url: receiver.url, logger, retry: FAST, token: 'hook-token-123' });
    const delivered: number[] = [];
    sender.onDelivered((report) => delivered.push(report.attempts));
    sender.send(down('cam7'));
    sender.send(down('cam8'));
    await receiver.waitFor((r) => r.answer === 'accepted' && (r.body as { source?: string }).source === 'cam8', 10_000, 'the second event');
    await vi.waitFor(() => expect(delivered).toHaveLength(2));

    // The faults really happened, to the first event, and then it went through.
    expect(receiver.requests.map((r) => [r.answer, (r.body as { source: string }).source, r.headers['x-crispy-delivery-attempt']])).toEqual([
      ['status', 'cam7', '1'],
      ['drop', 'cam7', '2'],
      ['status', 'cam7', '3'],
      ['accepted', 'cam7', '4'],
      ['accepted', 'cam8', '1'],
    ]);
    expect(delivered).toEqual([4, 1]);
    const body = receiver.accepted()[0]?.body as Record<string, unknown>;
    expect(body).toMatchObject({
      version: 1,
      event: 'camera-down',
      source: 'cam7',
      node: 'edge-a',
      since: '2026-11-23T09:00:00.000Z',
      detectedBy: 'stream-handle',
    });
    expect(body.text).toBe(describeAlert(down('cam7')));
    expect(receiver.accepted()[0]?.headers.authorization).toBe('Bearer hook-token-123');
    expect(lines.filter((l) => l.message === 'alert webhook did not take the alert; retrying').map((l) => l.outcome)).toEqual([
      'HTTP 503',
      expect.any(String),
      'HTTP 429',
    ]);
    expect(sender.pending).toBe(0);
  });

  it('a refusal the receiver means (400) is not retried, and is logged', async () => {
    receiver = await startWebhookReceiver({ faults: [{ kind: 'status', status: 400 }] });
    const { logger, lines } = captureLines();
    const sender = new WebhookSender({ url: receiver.url, logger, retry: FAST });
    sender.send(down('cam7'));
    sender.send(down('cam8'));
    await receiver.waitFor((r) => r.answer === 'accepted', 5000, 'the second event');
    expect(receiver.requests).toHaveLength(2);
    expect(lines.find((l) => String(l.message).startsWith('alert refused by the webhook (HTTP 400)'))).toMatchObject({ source: 'cam7', severity: 'ERROR' });
  });

  it('gives an event up once it is too old, and never queues without bound', async () => {
    const { logger, lines } = captureLines();
    // Nothing listens on this port: every attempt is refused.
    const sender = new WebhookSender({ url: 'http://127.0.0.1:9/hook', logger, retry: FAST, maxAgeMs: 150, maxQueued: 2 });
    // cam1 is being delivered; two may wait behind it: the oldest waiting one gives way.
    for (const source of ['cam1', 'cam2', 'cam3', 'cam4']) sender.send(down(source));
    expect(sender.pending).toBe(3);
    expect(lines.filter((l) => String(l.message).includes('alerts wait for the webhook already')).map((l) => l.source)).toEqual(['cam2']);
    await vi.waitFor(() => expect(sender.pending).toBe(0), { timeout: 3000 });
    expect(lines.filter((l) => String(l.message).startsWith('alert given up after')).map((l) => l.source)).toEqual(['cam1', 'cam3', 'cam4']);
    expect(sender.pending).toBe(0);
  });

  it('closing reports what was not delivered', async () => {
    const { logger, lines } = captureLines();
    const sender = new WebhookSender({
      url: 'http://127.0.0.1:9/hook?token=secret-in-query',
      logger,
      retry: { minDelayMs: 10_000, maxDelayMs: 10_000, jitter: 0 },
    });
    sender.send(down('cam1'));
    expect(sender.target).toBe('http://127.0.0.1:9');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await sender.close(50)).toEqual({ pending: 1 });
    expect(lines.find((l) => String(l.message).startsWith('alert not delivered before stopping'))).toMatchObject({ source: 'cam1' });
    expect(JSON.stringify(lines)).not.toContain('secret-in-query');
  });
});
