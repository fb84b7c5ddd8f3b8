import { pino, type Logger, type LoggerOptions } from 'pino';
import { redactSecrets, redactDeep } from './redact.js';

export type { Logger } from 'pino';

// Cloud Logging reads `severity` and `message` from JSON lines on stdout.
const SEVERITY_BY_LEVEL: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

export interface LoggerSettings {
  service: string;
  level?: string;
  /** Write human-readable lines instead of JSON (default: when stdout is a terminal). */
  pretty?: boolean;
  destination?: NodeJS.WritableStream;
}

function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: redactSecrets(String(error)) };
  const cause = (error as { cause?: unknown }).cause;
  return {
    type: error.name,
    message: redactSecrets(error.message),
    stack: error.stack === undefined ? undefined : redactSecrets(error.stack),
    ...(cause === undefined ? {} : { cause: serializeError(cause) }),
  };
}

/** Child bindings (`logger.child({ url })`) bypass the log formatter: redact them on the way in. */
function redactChildBindings(logger: Logger): Logger {
  const child = logger.child.bind(logger);
  // pino's child() is generic over custom levels; we use none, so the plain form is the whole of it.
  const redactingChild = (bindings: Record<string, unknown>, options?: Parameters<Logger['child']>[1]): Logger =>
    redactChildBindings(child(redactDeep(bindings), options) as unknown as Logger);
  logger.child = redactingChild as unknown as Logger['child'];
  return logger;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env.LOG_LEVEL ?? 'info',
    messageKey: 'message',
    base: { service: settings.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ severity: SEVERITY_BY_LEVEL[label] ?? 'DEFAULT', level: label }),
      // Safety net: whatever a caller put in a log object, no URL password leaves the process.
      log: (object) => redactDeep(object),
    },
    serializers: { err: serializeError, error: serializeError },
    hooks: {
      logMethod(args, method) {
        const [first, second] = args as unknown[];
        // logger.error(err) alone: pino would use the error's own (unredacted) message.
        if (first instanceof Error && typeof second !== 'string') {
          args = [first, redactSecrets(first.message), ...args.slice(1)] as typeof args;
        }
        const redacted = args.map((arg) => (typeof arg === 'string' ? redactSecrets(arg) : arg));
        method.apply(this, redacted as Parameters<typeof method>);
      },
    },
  };
  const pretty = settings.pretty ?? (process.stdout.isTTY === true && process.env.LOG_FORMAT !== 'json');
  if (pretty && settings.destination === undefined) {
    return redactChildBindings(
      pino({
        ...options,
        transport: { target: 'pino-pretty', options: { messageKey: 'message', ignore: 'pid,hostname,severity' } },
      }),
    );
  }
  // Synchronous writes: a service that exits right after its last line must not lose it.
  return redactChildBindings(pino(options, settings.destination ?? pino.destination({ dest: 1, sync: true })));
}
