import { Writable } from 'node:stream';
import { createLogger, displayUrl, type Logger } from '@crispy-streamer/shared';
import type { ProbeSource } from '../src/recorder/source-probe.js';
import { SOURCE_DEFAULTS, sourceKindOf, type SourceConfig } from '../src/source/source-config.js';

/** A valid source as parseSource would return it; the URL decides the kind. */
export function sourceConfig(overrides: Partial<SourceConfig> = {}): SourceConfig {
  const url = overrides.url ?? '/media/clip.mp4';
  return {
    id: 'cam0',
    url,
    displayUrl: displayUrl(url),
    kind: sourceKindOf(url) ?? 'file',
    chunkSeconds: SOURCE_DEFAULTS.chunkSeconds,
    mode: SOURCE_DEFAULTS.mode,
    encode: { ...SOURCE_DEFAULTS.encode },
    realtime: false,
    audio: 'off',
    transport: 'tcp',
    ...overrides,
  };
}

export interface LogLine {
  severity: string;
  message: string;
  [key: string]: unknown;
}

/** A JSON logger whose lines are kept in memory, for asserting what was said. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of String(chunk).split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  return { logger: createLogger({ service: 'test', level: 'trace', destination }), lines };
}

/** A probe that finds one 320x240 10 fps H.264 stream, as the fake recorders' chunks hold: no ffmpeg, no camera. */
export const probeH264: ProbeSource = async () => ({
  complete: true,
  streams: [{ index: 0, kind: 'video', codec: 'h264', pixelFormat: 'yuv420p', width: 320, height: 240, fps: 10 }],
  stderrTail: [],
  elapsedMs: 1,
});
