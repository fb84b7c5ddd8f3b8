import { randomUUID } from 'node:crypto';

// What the optional alert webhook (ALERT_WEBHOOK_URL) receives: one JSON object per event, the
// same from every sender. `id` is unique per event, so a receiver can drop the duplicates that
// retries make when an answer is lost.

export const ALERT_EVENT_VERSION = 1;

/**
 * - `camera-down`: a live source has not recorded for the configured time (or its node went silent).
 * - `camera-back`: it records again after a camera-down.
 * - `gap`: footage missing between two chunks, with its exact times, once recording resumed.
 */
export type AlertEventKind = 'camera-down' | 'camera-back' | 'gap';

export interface AlertEvent {
  version: typeof ALERT_EVENT_VERSION;
  id: string;
  event: AlertEventKind;
  source: string;
  node: string;
  /** When the sender noticed. */
  at: string;
  /** camera-down: not recording since then; camera-back: was down since then. */
  since?: string;
  reason?: string;
  gap?: { from: string; to: string; seconds: number };
  /** stream-handle for what a node saw itself; upload-worker for a node gone silent. */
  detectedBy: 'stream-handle' | 'upload-worker';
}

export function alertEvent(fields: Omit<AlertEvent, 'version' | 'id' | 'at'> & { atMs: number; id?: string }): AlertEvent {
  const { atMs, id, ...rest } = fields;
  return { version: ALERT_EVENT_VERSION, id: id ?? randomUUID(), at: new Date(atMs).toISOString(), ...rest };
}

/** One line for people (logs, chat receivers that show `text`). */
export function describeAlert(event: AlertEvent): string {
  const where = `${event.source} on ${event.node}`;
  if (event.event === 'camera-down') return `camera ${where} is DOWN since ${event.since ?? event.at}${event.reason === undefined ? '' : `: ${event.reason}`}`;
  if (event.event === 'camera-back') return `camera ${where} is recording again (down since ${event.since ?? '?'})`;
  const gap = event.gap;
  return gap === undefined ? `gap in ${where}` : `gap in ${where}: ${gap.seconds.toFixed(1)} s not recorded, from ${gap.from} to ${gap.to}`;
}
