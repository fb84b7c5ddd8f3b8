import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.js';

/** A JSON logger whose lines are kept, for asserting what was said. */
export function captureLines(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of String(chunk).split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger({ service: 'test', level: 'debug', destination }), lines };
}
