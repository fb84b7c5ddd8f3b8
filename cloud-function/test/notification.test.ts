import { describe, expect, it } from 'vitest';
import { pubsubPushBody, type StorageObjectResource } from '@crispy-streamer/shared';
import { MalformedNotificationError, RecentKeys, parseStorageNotification as parseWith } from '../src/notification.js';

const BUCKETS = { buckets: new Set(['evidence', 'other-evidence']) };
const parseStorageNotification = (eventData: unknown) => parseWith(eventData, BUCKETS);

const object: StorageObjectResource = {
  kind: 'storage#object',
  id: 'evidence/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4/1700000000000001',
  name: 'cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4',
  bucket: 'evidence',
  generation: '1700000000000001',
  metageneration: '1',
  contentType: 'video/mp4',
  size: '123456',
  crc32c: '4waSgw==',
  timeCreated: '2026-11-23T09:32:53.000Z',
  updated: '2026-11-23T09:32:53.500Z',
};

/** The CloudEvent data of a Pub/Sub message from a bucket notification. */
function event(resource: unknown = object, attributes: Record<string, unknown> = {}): { message: { data: string; attributes: Record<string, unknown> } } {
  const body = pubsubPushBody('OBJECT_FINALIZE', object, 'projects/p/subscriptions/s');
  return {
    message: {
      data: Buffer.from(JSON.stringify(resource)).toString('base64'),
      attributes: { ...body.message.attributes, ...attributes },
    },
  };
}

function malformed(eventData: unknown): string {
  try {
    parseStorageNotification(eventData);
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedNotificationError);
    expect((error as Error).name).toBe('MalformedNotificationError');
    return (error as Error).message;
  }
  return expect.unreachable('the notification was accepted');
}

describe('parseStorageNotification', () => {
  it('asks to describe a new video object, with a key for its generation', () => {
    expect(parseStorageNotification(pubsubPushBody('OBJECT_FINALIZE', object, 'projects/p/subscriptions/s'))).toEqual({
      action: 'describe',
      object,
      eventTime: '2026-11-23T09:32:53.500Z',
      dedupeKey: 'evidence/cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mp4#1700000000000001#1',
    });
  });

  it('defaults the metageneration in the key to 1 and the event time to undefined when absent', () => {
    const { metageneration: _omitted, ...withoutMetageneration } = object;
    const result = parseStorageNotification(event(withoutMetageneration, { eventTime: undefined }));
    expect(result).toMatchObject({ action: 'describe', eventTime: undefined, dedupeKey: `evidence/${object.name}#1700000000000001#1` });
  });

  it('accepts a message without payloadFormat or bucketId attributes', () => {
    expect(parseStorageNotification(event(object, { payloadFormat: undefined, bucketId: undefined })).action).toBe('describe');
  });

  it('recognises a video by its .mp4/.m4v/.mov/.mkv/.webm name when the content type is generic', () => {
    for (const name of ['x.mp4', 'x.M4V', 'dir/x.mov', 'cam0/2026-11-23/cam0_20261123T093249.123Z_0000000042.mkv', 'x.webm']) {
      expect(parseStorageNotification(event({ ...object, name, contentType: 'application/octet-stream' }, { objectId: name })).action).toBe('describe');
    }
  });

  it('describes Matroska and WebM chunks by their content type', () => {
    for (const contentType of ['video/x-matroska', 'video/webm']) {
      expect(parseStorageNotification(event({ ...object, name: 'x.bin', contentType }, { objectId: 'x.bin' })).action).toBe('describe');
    }
  });

  it('skips events other than OBJECT_FINALIZE', () => {
    expect(parseStorageNotification(event(object, { eventType: 'OBJECT_DELETE' }))).toEqual({
      action: 'skip',
      reason: 'event OBJECT_DELETE is not a new object',
      bucket: 'evidence',
      objectName: object.name,
    });
    expect(parseStorageNotification(event(object, { eventType: 'OBJECT_METADATA_UPDATE' })).action).toBe('skip');
  });

  it('skips objects that are not video', () => {
    expect(parseStorageNotification(event({ ...object, name: 'notes/readme.txt', contentType: 'text/plain' }))).toEqual({
      action: 'skip',
      reason: 'text/plain is not a video',
      bucket: 'evidence',
      objectName: 'notes/readme.txt',
    });
    expect(parseStorageNotification(event({ ...object, name: 'x.txt', contentType: '' }))).toMatchObject({
      action: 'skip',
      reason: 'unknown type is not a video',
    });
  });

  describe('malformed notifications', () => {
    it('no Pub/Sub message', () => {
      expect(malformed(undefined)).toBe('malformed storage notification: no Pub/Sub message in the event');
      expect(malformed({})).toBe('malformed storage notification: no Pub/Sub message in the event');
      expect(malformed({ message: null })).toBe('malformed storage notification: no Pub/Sub message in the event');
      expect(malformed({ message: 'text' })).toBe('malformed storage notification: no Pub/Sub message in the event');
    });

    it('no eventType attribute', () => {
      expect(malformed({ message: { data: event().message.data } })).toBe(
        'malformed storage notification: the message has no eventType attribute: is the topic fed by a bucket notification?',
      );
    });

    it('a payload format other than JSON_API_V1', () => {
      expect(malformed(event(object, { payloadFormat: 'NONE' }))).toBe(
        'malformed storage notification: payloadFormat NONE: create the bucket notification with JSON_API_V1',
      );
    });

    it('no data', () => {
      expect(malformed({ message: { attributes: event().message.attributes } })).toBe(
        'malformed storage notification: the message has no data: the object resource is missing',
      );
      expect(malformed({ message: { data: '', attributes: event().message.attributes } })).toBe(
        'malformed storage notification: the message has no data: the object resource is missing',
      );
    });

    it('data that is not base64 JSON', () => {
      const attributes = event().message.attributes;
      expect(malformed({ message: { data: 'not base64 json!', attributes } })).toBe(
        'malformed storage notification: the message data is not base64-encoded JSON',
      );
      expect(malformed({ message: { data: Buffer.from('{"name":').toString('base64'), attributes } })).toBe(
        'malformed storage notification: the message data is not base64-encoded JSON',
      );
    });

    it.each(['bucket', 'name', 'generation', 'size'] as const)('a resource without %s', (field) => {
      expect(malformed(event({ ...object, [field]: undefined }))).toBe(`malformed storage notification: the object resource has no ${field}`);
      expect(malformed(event({ ...object, [field]: '' }))).toBe(`malformed storage notification: the object resource has no ${field}`);
    });

    it("a bucketId attribute that differs from the resource's bucket", () => {
      expect(malformed(event(object, { bucketId: 'other' }))).toBe(
        "malformed storage notification: bucketId other differs from the resource's bucket evidence",
      );
    });

    // Regression, fixed: data that is valid base64 JSON but not an object (`null`) throws a TypeError instead of
    // MalformedNotificationError (cloud-function/src/notification.ts:48-50 reads object[field] of null),
    // so index.ts rethrows it and Pub/Sub redelivers the message for ever.
    it('data that decodes to JSON null', () => {
      expect(malformed(event(null))).toBe('malformed storage notification: the message data is not an object resource');
    });
  });
});

describe('RecentKeys', () => {
  it('says whether a key is new', () => {
    const keys = new RecentKeys();
    expect(keys.add('a#1#1')).toBe(true);
    expect(keys.add('a#1#1')).toBe(false);
    expect(keys.add('a#2#1')).toBe(true);
  });

  it('forgets a key, so a failed attempt can be retried', () => {
    const keys = new RecentKeys();
    keys.add('a');
    keys.forget('a');
    expect(keys.add('a')).toBe(true);
    keys.forget('never-added');
  });

  it('evicts the oldest key beyond its capacity', () => {
    const keys = new RecentKeys(2);
    keys.add('a');
    keys.add('b');
    keys.add('c');
    expect(keys.add('b')).toBe(false);
    expect(keys.add('c')).toBe(false);
    expect(keys.add('a')).toBe(true);
    // Adding a again evicted b, the oldest.
    expect(keys.add('c')).toBe(false);
    expect(keys.add('b')).toBe(true);
  });
});

describe('only configured buckets are described', () => {
  it('refuses a notification from a bucket outside BUCKETS, naming both', () => {
    const foreign = { ...object, bucket: 'someone-elses' };
    expect(parseStorageNotification(event(foreign, { bucketId: 'someone-elses' }))).toEqual({
      action: 'refuse',
      reason:
        "bucket someone-elses is not one this function describes (BUCKETS=evidence, other-evidence): check the bucket's notification topic, or add it to BUCKETS",
      bucket: 'someone-elses',
      objectName: object.name,
    });
    expect(parseStorageNotification(event({ ...object, bucket: 'other-evidence' }, { bucketId: 'other-evidence' })).action).toBe('describe');
  });

  it('refuses a size that is not a byte count as malformed', () => {
    expect(malformed(event({ ...object, size: '-1' }))).toBe('malformed storage notification: the object resource\'s size "-1" is not a byte count');
    expect(malformed(event({ ...object, size: '12abc' }))).toMatch(/is not a byte count/);
  });
});
