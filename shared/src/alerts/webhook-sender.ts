import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, type BackoffPolicy } from '../backoff.js';
import type { Logger } from '../logger.js';
import { describeAlert, type AlertEvent } from './alert-event.js';

// Posts alert events to a webhook, in order, retrying with backoff until the receiver takes them
// (2xx) or they are too old to matter. Sending never waits: events queue in memory (bounded),
// so a receiver that is down never slows the caller, whatever it is doing.

export interface WebhookSenderSettings {
  url: string;
  /** Sent as `Authorization: Bearer TOKEN` when set. */
  token?: string;
  logger: Logger;
  retry?: BackoffPolicy;
  /** An event not delivered after this long is given up (logged). */
  maxAgeMs?: number;
  timeoutMs?: number;
  /** Beyond this many undelivered events the oldest is given up (logged). */
  maxQueued?: number;
  now?: () => number;
}

export const WEBHOOK_RETRY: BackoffPolicy = { minDelayMs: 1000, maxDelayMs: 60_000, jitter: 0.2 };
const DEFAULT_MAX_AGE_MS = 3600_000;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_QUEUED = 1000;

export interface DeliveryReport {
  event: AlertEvent;
  attempts: number;
  /** From send() to the receiver's 2xx. */
  latencyMs: number;
}

/** Statuses worth another try; any other 4xx means the receiver will never take this event. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

export class WebhookSender {
  /** Waiting behind the one being delivered. */
  private readonly queue: { event: AlertEvent; queuedAtMs: number }[] = [];
  private inFlight: { event: AlertEvent; queuedAtMs: number } | undefined;
  private running: Promise<void> | undefined;
  private closing = false;
  private readonly wakeUp = new AbortController();
  private readonly listeners: ((report: DeliveryReport) => void)[] = [];
  private readonly now: () => number;

  constructor(private readonly settings: WebhookSenderSettings) {
    this.now = settings.now ?? Date.now;
  }

  /** Where events go, for logs: the origin only (a path or query may hold a token). */
  get target(): string {
    try {
      return new URL(this.settings.url).origin;
    } catch {
      return '(invalid URL)';
    }
  }

  send(event: AlertEvent): void {
    if (this.closing) return;
    this.queue.push({ event, queuedAtMs: this.now() });
    const max = this.settings.maxQueued ?? DEFAULT_MAX_QUEUED;
    while (this.queue.length > max) {
      const dropped = this.queue.shift();
      if (dropped !== undefined)
        this.settings.logger.error(
          { alert: dropped.event.event, source: dropped.event.source, id: dropped.event.id, webhook: this.target },
          `alert given up: ${max} alerts wait for the webhook already`,
        );
    }
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Called after each delivery (tests and figures). */
  onDelivered(listener: (report: DeliveryReport) => void): void {
    this.listeners.push(listener);
  }

  get pending(): number {
    return this.queue.length + (this.inFlight === undefined ? 0 : 1);
  }

  /** Stops retrying after `graceMs`; what is left is logged as not delivered. */
  async close(graceMs: number): Promise<{ pending: number }> {
    this.closing = true;
    if (this.running !== undefined) {
      const done = this.running;
      await Promise.race([done, sleep(graceMs)]);
    }
    this.wakeUp.abort();
    await this.running;
    const left = [...(this.inFlight === undefined ? [] : [this.inFlight]), ...this.queue.splice(0)];
    const pending = left.length;
    for (const { event } of left) {
      this.settings.logger.warn(
        { alert: event.event, source: event.source, id: event.id, webhook: this.target },
        `alert not delivered before stopping: ${describeAlert(event)}`,
      );
    }
    return { pending };
  }

  private async drain(): Promise<void> {
    for (;;) {
      const item = this.queue.shift();
      if (item === undefined) return;
      this.inFlight = item;
      const delivered = await this.deliver(item.event, item.queuedAtMs);
      // Interrupted by close(): it is reported there as not delivered.
      if (!delivered && this.wakeUp.signal.aborted) return;
      this.inFlight = undefined;
    }
  }

  /** False only when close() interrupted it; true once it is delivered, refused or given up. */
  private async deliver(event: AlertEvent, queuedAtMs: number): Promise<boolean> {
    const { logger } = this.settings;
    const maxAgeMs = this.settings.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    const body = JSON.stringify({ ...event, text: describeAlert(event) });
    const fields = { alert: event.event, source: event.source, node: event.node, id: event.id, webhook: this.target };
    for (let attempt = 1; ; attempt++) {
      let outcome: string;
      try {
        const headers: Record<string, string> = {
          'content-type': 'application/json',
          'user-agent': 'crispy-streamer-alerts',
          'x-crispy-event': event.event,
          'x-crispy-delivery-attempt': String(attempt),
        };
        if (this.settings.token !== undefined) headers.authorization = `Bearer ${this.settings.token}`;
        const response = await fetch(this.settings.url, {
          method: 'POST',
          headers,
          body,
          redirect: 'error',
          signal: AbortSignal.any([AbortSignal.timeout(this.settings.timeoutMs ?? DEFAULT_TIMEOUT_MS), this.wakeUp.signal]),
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) {
          const report = { event, attempts: attempt, latencyMs: this.now() - queuedAtMs };
          logger.info({ ...fields, attempts: attempt, latencyMs: report.latencyMs }, `alert delivered: ${describeAlert(event)}`);
          for (const listener of this.listeners) listener(report);
          return true;
        }
        if (!retryableStatus(response.status)) {
          logger.error(
            { ...fields, status: response.status, attempts: attempt },
            `alert refused by the webhook (HTTP ${response.status}): not retried; check ALERT_WEBHOOK_URL and what the receiver expects`,
          );
          return true;
        }
        outcome = `HTTP ${response.status}`;
      } catch (error) {
        if (this.wakeUp.signal.aborted) return false;
        outcome =
          (error as Error).name === 'TimeoutError'
            ? 'no answer in time'
            : ((error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message);
      }
      const ageMs = this.now() - queuedAtMs;
      if (ageMs >= maxAgeMs) {
        logger.error(
          { ...fields, attempts: attempt, lastOutcome: outcome },
          `alert given up after ${attempt} attempts (${Math.round(ageMs / 1000)} s): ${describeAlert(event)}`,
        );
        return true;
      }
      const delayMs = backoffDelayMs(attempt, this.settings.retry ?? WEBHOOK_RETRY);
      logger.warn({ ...fields, attempt, outcome, retryInMs: delayMs }, 'alert webhook did not take the alert; retrying');
      await sleep(delayMs, undefined, { signal: this.wakeUp.signal }).catch(() => undefined);
      if (this.wakeUp.signal.aborted) return false;
    }
  }
}
