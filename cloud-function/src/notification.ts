import type { StorageObjectResource } from '@crispy-streamer/shared';

/** What a Pub/Sub CloudEvent from a Cloud Storage notification asks of us. */
export type StorageNotification =
  | { action: 'describe'; object: StorageObjectResource; eventTime: string | undefined; dedupeKey: string }
  | { action: 'skip'; reason: string; bucket: string | undefined; objectName: string | undefined }
  /** Not ours: a bucket outside BUCKETS. Acknowledged with an error line, never read or signed. */
  | { action: 'refuse'; reason: string; bucket: string; objectName: string };

/** The message cannot be understood; retrying will not change that, so it is acknowledged. */
export class MalformedNotificationError extends Error {
  constructor(detail: string) {
    super(`malformed storage notification: ${detail}`);
    this.name = 'MalformedNotificationError';
  }
}

interface PubsubMessage {
  data?: unknown;
  attributes?: Record<string, unknown>;
  messageId?: unknown;
}

const VIDEO_NAME = /\.(mp4|m4v|mov|mkv|webm)$/i;

/**
 * Reads the CloudEvent's `data` (a `{ message, subscription }` from Pub/Sub) holding a Cloud
 * Storage notification in JSON_API_V1 format. Decides whether the chunk is ours to describe.
 */
export function parseStorageNotification(eventData: unknown, options: { buckets: ReadonlySet<string> }): StorageNotification {
  const message = (eventData as { message?: PubsubMessage } | undefined)?.message;
  if (message === undefined || typeof message !== 'object' || message === null) throw new MalformedNotificationError('no Pub/Sub message in the event');
  const attributes = message.attributes ?? {};
  const eventType = attributes.eventType;
  const bucket = typeof attributes.bucketId === 'string' ? attributes.bucketId : undefined;
  const objectName = typeof attributes.objectId === 'string' ? attributes.objectId : undefined;
  if (typeof eventType !== 'string') throw new MalformedNotificationError('the message has no eventType attribute: is the topic fed by a bucket notification?');
  if (eventType !== 'OBJECT_FINALIZE') return { action: 'skip', reason: `event ${eventType} is not a new object`, bucket, objectName };
  if (attributes.payloadFormat !== undefined && attributes.payloadFormat !== 'JSON_API_V1') {
    const format = typeof attributes.payloadFormat === 'string' ? attributes.payloadFormat : JSON.stringify(attributes.payloadFormat);
    throw new MalformedNotificationError(`payloadFormat ${format}: create the bucket notification with JSON_API_V1`);
  }
  if (typeof message.data !== 'string' || message.data === '') throw new MalformedNotificationError('the message has no data: the object resource is missing');

  let object: StorageObjectResource;
  try {
    object = JSON.parse(Buffer.from(message.data, 'base64').toString('utf8')) as StorageObjectResource;
  } catch {
    throw new MalformedNotificationError('the message data is not base64-encoded JSON');
  }
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw new MalformedNotificationError('the message data is not an object resource');
  }
  for (const field of ['bucket', 'name', 'generation', 'size'] as const) {
    if (typeof object[field] !== 'string' || object[field] === '') throw new MalformedNotificationError(`the object resource has no ${field}`);
  }
  if (!/^\d{1,15}$/.test(object.size)) throw new MalformedNotificationError(`the object resource's size ${JSON.stringify(object.size)} is not a byte count`);
  if (bucket !== undefined && bucket !== object.bucket)
    throw new MalformedNotificationError(`bucketId ${bucket} differs from the resource's bucket ${object.bucket}`);
  if (!options.buckets.has(object.bucket)) {
    const configured = [...options.buckets].join(', ');
    return {
      action: 'refuse',
      reason: `bucket ${object.bucket} is not one this function describes (BUCKETS=${configured}): check the bucket's notification topic, or add it to BUCKETS`,
      bucket: object.bucket,
      objectName: object.name,
    };
  }

  const isVideo = (object.contentType ?? '').startsWith('video/') || VIDEO_NAME.test(object.name);
  if (!isVideo) return { action: 'skip', reason: `${object.contentType || 'unknown type'} is not a video`, bucket: object.bucket, objectName: object.name };
  return {
    action: 'describe',
    object,
    eventTime: typeof attributes.eventTime === 'string' ? attributes.eventTime : undefined,
    // At-least-once delivery: the same object generation may arrive more than once.
    dedupeKey: `${object.bucket}/${object.name}#${object.generation}#${object.metageneration ?? '1'}`,
  };
}

/** Remembers the last few thousand keys, so a duplicate delivery to this instance is noticed. */
export class RecentKeys {
  private readonly keys = new Set<string>();
  constructor(private readonly capacity = 5000) {}

  /** True if the key was new. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    return true;
  }

  /** A failed attempt must not count as described. */
  forget(key: string): void {
    this.keys.delete(key);
  }
}
