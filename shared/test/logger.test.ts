import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';

interface LogLine {
  severity: string;
  level: string;
  message?: string;
  service: string;
  time: string;
  [key: string]: unknown;
}

function capture(level = 'trace') {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of String(chunk).split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  const logger = createLogger({ service: 'test-service', level, destination });
  return { logger, lines };
}

describe('createLogger', () => {
  it('writes one JSON line with severity, message, service and an ISO time', () => {
    const { logger, lines } = capture();
    logger.info({ chunks: 3 }, 'source finished');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ severity: 'INFO', level: 'info', message: 'source finished', service: 'test-service', chunks: 3 });
    expect(new Date(lines[0]?.time ?? '').toISOString()).toBe(lines[0]?.time);
  });

  it('maps pino levels to Cloud Logging severities', () => {
    const { logger, lines } = capture();
    logger.trace('t');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    logger.fatal('f');
    expect(lines.map((l) => l.severity)).toEqual(['DEBUG', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']);
  });

  it('drops lines below the configured level', () => {
    const { logger, lines } = capture('warn');
    logger.info('not shown');
    logger.warn('shown');
    expect(lines.map((l) => l.message)).toEqual(['shown']);
  });

  it('redacts a password in the message string, also in printf-style arguments', () => {
    const { logger, lines } = capture();
    logger.warn("ffmpeg: Input #0, rtsp, from 'rtsp://admin:s3cr%40t@10.0.0.5:554/stream1':");
    logger.info('connecting to %s', 'rtsp://admin:hunter2@10.0.0.5/s');
    expect(lines[0]?.message).toBe("ffmpeg: Input #0, rtsp, from 'rtsp://admin:***@10.0.0.5:554/stream1':");
    expect(lines[1]?.message).toBe('connecting to rtsp://admin:***@10.0.0.5/s');
  });

  it('redacts a password in a nested field of the log object', () => {
    const { logger, lines } = capture();
    logger.info({ source: { id: 'cam0', urls: ['rtsp://admin:hunter2@10.0.0.5/s'] }, query: 'http://h/x?token=abc' }, 'source starting');
    expect(lines[0]?.source).toEqual({ id: 'cam0', urls: ['rtsp://admin:***@10.0.0.5/s'] });
    expect(lines[0]?.query).toBe('http://h/x?token=***');
  });

  it("redacts an Error's message, stack and cause logged as err", () => {
    const { logger, lines } = capture();
    const cause = new Error('connect rtsp://u:inner@h/ refused');
    logger.error({ err: new Error('cannot open rtsp://admin:hunter2@10.0.0.5/s', { cause }) }, 'source crashed');
    const err = lines[0]?.err as { type: string; message: string; stack: string; cause: { message: string } };
    expect(err.type).toBe('Error');
    expect(err.message).toBe('cannot open rtsp://admin:***@10.0.0.5/s');
    expect(err.stack).toContain('cannot open rtsp://admin:***@10.0.0.5/s');
    expect(err.cause.message).toBe('connect rtsp://u:***@h/ refused');
    expect(JSON.stringify(lines)).not.toMatch(/hunter2|inner/);
  });

  it('serialises a non-Error thrown value under err as a redacted message', () => {
    const { logger, lines } = capture();
    logger.error({ err: 'rtsp://u:hunter2@h/' }, 'odd throw');
    expect(lines[0]?.err).toEqual({ message: 'rtsp://u:***@h/' });
  });

  // Regression, fixed: `logger.error(error)` with no message string puts error.message into the line's `message`
  // unredacted: the logMethod hook (shared/src/logger.ts:48-51) only redacts string arguments, and
  // pino copies the Error's message after the formatters ran. Only `err` is serialised redacted.
  it('redacts the message of an Error logged on its own', () => {
    const { logger, lines } = capture();
    logger.error(new Error('cannot open rtsp://admin:hunter2@10.0.0.5/s'));
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  // Regression, fixed: child bindings skip the safety net: formatters.log only sees the call's own object, and
  // there is no formatters.bindings (shared/src/logger.ts:41-45), so logger.child({ url }) leaks.
  it('redacts a password in child logger bindings', () => {
    const { logger, lines } = capture();
    logger.child({ url: 'rtsp://admin:hunter2@10.0.0.5/s' }).info('source starting');
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  // Found in review: the human-readable (pretty) logger skipped the redaction of child bindings.
  it('redacts child bindings in the human-readable logger too', () => {
    const logger = createLogger({ service: 'test', pretty: true });
    const child = logger.child({ url: 'rtsp://admin:hunter2@10.0.0.5/s' });
    expect(child.bindings()).toMatchObject({ url: 'rtsp://admin:***@10.0.0.5/s' });
    expect(child.child({ again: 'rtsps://u:pw@h/' }).bindings()).toMatchObject({ again: 'rtsps://u:***@h/' });
  });
});
