import { alertEvent, type AlertEvent, type WebhookSender } from '@crispy-streamer/shared/alerts';
import { chunkOverdueAfterMs, formatDuration } from '@crispy-streamer/shared/fleet';
import type { Logger } from '@crispy-streamer/shared';
import type { CameraTracker, TrackedStatus } from './camera-tracker.js';

// The webhook alerts a node sends about its own cameras: camera-down once a live source has not
// recorded for ALERT_CAMERA_DOWN_AFTER_MS, camera-back when it records again, and every gap with
// its exact times once recording resumed. Decided by a plain function each second; sent through
// the WebhookSender, which never waits.

export interface AlertMemory {
  /** When it stopped recording, as first noticed; undefined while it records. */
  downSinceMs: number | undefined;
  downSent: boolean;
}

export const NO_ALERT: AlertMemory = { downSinceMs: undefined, downSent: false };

export type AlertDecision = { send: undefined } | { send: 'camera-down'; sinceMs: number; reason: string } | { send: 'camera-back'; sinceMs: number };

type AlertView = Pick<TrackedStatus, 'live' | 'state' | 'stateSinceMs' | 'reason' | 'lastChunk' | 'chunkSeconds'>;

/** Whether a camera records right now: in the recording state, with chunks still coming. */
export function isRecording(view: AlertView, nowMs: number): boolean {
  return view.state === 'recording' && nowMs - (view.lastChunk?.recordedAtMs ?? view.stateSinceMs) <= chunkOverdueAfterMs(view.chunkSeconds);
}

export function decideCameraAlert(view: AlertView, memory: AlertMemory, nowMs: number, downAfterMs: number): { decision: AlertDecision; memory: AlertMemory } {
  // Files, and sources stopped on purpose, raise no camera alerts.
  if (!view.live || view.state === 'stopped' || view.state === 'finished') return { decision: { send: undefined }, memory: NO_ALERT };
  // A camera just started (or resumed) gets the time of a first chunk, as the fleet page gives it.
  const settling = view.state === 'starting' && nowMs - view.stateSinceMs < chunkOverdueAfterMs(view.chunkSeconds);
  if (isRecording(view, nowMs) || (settling && !memory.downSent)) {
    if (memory.downSent && memory.downSinceMs !== undefined) return { decision: { send: 'camera-back', sinceMs: memory.downSinceMs }, memory: NO_ALERT };
    return { decision: { send: undefined }, memory: NO_ALERT };
  }
  const downSinceMs = memory.downSinceMs ?? (view.state === 'recording' ? (view.lastChunk?.recordedAtMs ?? view.stateSinceMs) : view.stateSinceMs);
  if (memory.downSent || nowMs - downSinceMs < downAfterMs) return { decision: { send: undefined }, memory: { downSinceMs, downSent: memory.downSent } };
  const reason =
    view.state === 'recording'
      ? `no chunk for ${formatDuration(nowMs - downSinceMs)} although ffmpeg runs`
      : view.state === 'paused'
        ? `recording paused: the spool is full${view.reason === undefined ? '' : ` (${view.reason})`}`
        : view.state === 'starting'
          ? 'no chunk since it was started'
          : (view.reason ?? view.state);
  return { decision: { send: 'camera-down', sinceMs: downSinceMs, reason }, memory: { downSinceMs, downSent: true } };
}

export class CameraAlerts {
  private readonly memory = new Map<CameraTracker, AlertMemory>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      nodeId: string;
      trackers: readonly CameraTracker[];
      sender: WebhookSender;
      downAfterMs: number;
      logger: Logger;
      checkEveryMs?: number;
      now?: () => number;
    },
  ) {
    for (const tracker of deps.trackers) {
      if (!tracker.source.live) continue;
      tracker.onChange((change) => {
        if (change === 'gap' && tracker.lastGap !== undefined) this.sendGap(tracker, tracker.lastGap);
        else if (change === 'state' || change === 'chunk') this.check(tracker);
      });
    }
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const tracker of this.deps.trackers) if (tracker.source.live) this.check(tracker);
    }, this.deps.checkEveryMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(tracker: CameraTracker): void {
    const nowMs = (this.deps.now ?? Date.now)();
    const { decision, memory } = decideCameraAlert(tracker.snapshot(nowMs), this.memory.get(tracker) ?? NO_ALERT, nowMs, this.deps.downAfterMs);
    this.memory.set(tracker, memory);
    if (decision.send === 'camera-down')
      this.send(tracker, { event: 'camera-down', since: new Date(decision.sinceMs).toISOString(), reason: decision.reason }, nowMs);
    else if (decision.send === 'camera-back') this.send(tracker, { event: 'camera-back', since: new Date(decision.sinceMs).toISOString() }, nowMs);
  }

  private sendGap(tracker: CameraTracker, gap: { fromMs: number; toMs: number }): void {
    const nowMs = (this.deps.now ?? Date.now)();
    this.send(
      tracker,
      {
        event: 'gap',
        gap: { from: new Date(gap.fromMs).toISOString(), to: new Date(gap.toMs).toISOString(), seconds: Math.round(gap.toMs - gap.fromMs) / 1000 },
      },
      nowMs,
    );
  }

  private send(tracker: CameraTracker, fields: Pick<AlertEvent, 'event'> & Partial<Pick<AlertEvent, 'since' | 'reason' | 'gap'>>, atMs: number): void {
    const event = alertEvent({ ...fields, source: tracker.source.id, node: this.deps.nodeId, detectedBy: 'stream-handle', atMs });
    this.deps.logger.info({ alert: event.event, source: event.source, id: event.id, since: event.since, gap: event.gap }, 'alert raised');
    this.deps.sender.send(event);
  }
}
