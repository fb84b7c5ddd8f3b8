import { describe, expect, it } from 'vitest';
import { notificationAttributes, pubsubPushBody, type StorageObjectResource } from '../src/storage-notification.js';

const object: StorageObjectResource = {
  kind: 'storage#object',
  id: 'bucket/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4/1700000000000001',
  name: 'cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4',
  bucket: 'bucket',
  generation: '1700000000000001',
  metageneration: '1',
  contentType: 'video/mp4',
  size: '123456',
  crc32c: '4waSgw==',
  metadata: { source: 'cam0', sequence: '42' },
  timeCreated: '2026-11-23T09:32:53.000Z',
  updated: '2026-11-23T09:32:53.500Z',
};

describe('notificationAttributes', () => {
  it('carries what a Cloud Storage notification puts on the Pub/Sub message', () => {
    expect(notificationAttributes('OBJECT_FINALIZE', object)).toEqual({
      notificationConfig: 'projects/_/buckets/bucket/notificationConfigs/1',
      eventType: 'OBJECT_FINALIZE',
      payloadFormat: 'JSON_API_V1',
      bucketId: 'bucket',
      objectId: object.name,
      objectGeneration: '1700000000000001',
      eventTime: '2026-11-23T09:32:53.500Z',
    });
  });
});

describe('pubsubPushBody', () => {
  it('holds the object resource as base64 JSON that decodes back to the same object', () => {
    const body = pubsubPushBody('OBJECT_FINALIZE', object, 'projects/local/subscriptions/chunks');
    expect(JSON.parse(Buffer.from(body.message.data, 'base64').toString('utf8'))).toEqual(object);
    expect(body.message.attributes).toEqual(notificationAttributes('OBJECT_FINALIZE', object));
    expect(body.subscription).toBe('projects/local/subscriptions/chunks');
  });

  it('gives every message its own id and a publish time', () => {
    const a = pubsubPushBody('OBJECT_DELETE', object, 's');
    const b = pubsubPushBody('OBJECT_DELETE', object, 's');
    expect(a.message.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.message.messageId).not.toBe(b.message.messageId);
    expect(new Date(a.message.publishTime).toISOString()).toBe(a.message.publishTime);
    expect(a.message.attributes.eventType).toBe('OBJECT_DELETE');
  });
});
