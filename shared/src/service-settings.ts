import type { EnvReader } from './config-errors.js';

// The settings more than one service (or command) reads, read the same way everywhere: one name,
// one default, one validation, one message.

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function readLogLevel(reader: EnvReader): LogLevel {
  return reader.oneOf('LOG_LEVEL', 'info', LOG_LEVELS);
}

/** REDIS_URL: BullMQ's Redis, shared by the recorders and the workers. */
export function readRedisUrl(reader: EnvReader): string {
  const url = reader.string('REDIS_URL', 'redis://127.0.0.1:6379');
  if (!/^rediss?:\/\//.test(url)) reader.problem('REDIS_URL', `"${url}" is not a redis:// or rediss:// URL`);
  return url;
}

/** QUEUE_NAME: the BullMQ queue of chunks; recorders and workers must agree on it. */
export function readQueueName(reader: EnvReader): string {
  const name = reader.string('QUEUE_NAME', 'chunks');
  if (!/^[A-Za-z0-9_-]+$/.test(name)) reader.problem('QUEUE_NAME', `"${name}" may hold only letters, digits, '-' and '_'`);
  return name;
}

/** Another Cloud Storage JSON API endpoint (fake-gcs-server, a test server): GCS_API_ENDPOINT, or the client's STORAGE_EMULATOR_HOST. */
export function readGcsApiEndpoint(reader: EnvReader): string | undefined {
  return reader.string('GCS_API_ENDPOINT') ?? reader.string('STORAGE_EMULATOR_HOST');
}

/** The Google Cloud project: GOOGLE_CLOUD_PROJECT, or the older GCP_PROJECT. */
export function readGcpProject(reader: EnvReader): string | undefined {
  return reader.string('GOOGLE_CLOUD_PROJECT') ?? reader.string('GCP_PROJECT');
}
