import { randomUUID } from 'node:crypto';

/** The object resource of the Cloud Storage JSON API, as sent in JSON_API_V1 notifications. */
export interface StorageObjectResource {
  kind: 'storage#object';
  id: string;
  name: string;
  bucket: string;
  generation: string;
  metageneration: string;
  contentType: string;
  size: string;
  crc32c: string;
  md5Hash?: string;
  metadata?: Record<string, string>;
  timeCreated: string;
  updated: string;
  storageClass?: string;
}

export type StorageEventType = 'OBJECT_FINALIZE' | 'OBJECT_METADATA_UPDATE' | 'OBJECT_DELETE' | 'OBJECT_ARCHIVE';

/** Attributes a Cloud Storage bucket puts on every Pub/Sub notification. */
export function notificationAttributes(eventType: StorageEventType, object: StorageObjectResource): Record<string, string> {
  return {
    notificationConfig: `projects/_/buckets/${object.bucket}/notificationConfigs/1`,
    eventType,
    payloadFormat: 'JSON_API_V1',
    bucketId: object.bucket,
    objectId: object.name,
    objectGeneration: object.generation,
    eventTime: object.updated,
  };
}

/** The body Pub/Sub POSTs to a push endpoint. */
export interface PubsubPushBody {
  message: { data: string; attributes: Record<string, string>; messageId: string; publishTime: string };
  subscription: string;
}

export function pubsubPushBody(eventType: StorageEventType, object: StorageObjectResource, subscription: string): PubsubPushBody {
  return {
    message: {
      data: Buffer.from(JSON.stringify(object)).toString('base64'),
      attributes: notificationAttributes(eventType, object),
      messageId: randomUUID(),
      publishTime: new Date().toISOString(),
    },
    subscription,
  };
}
