import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBucketUrl } from '../../src/bucket/bucket-url.js';

describe('parseBucketUrl', () => {
  describe('gs://', () => {
    it('reads a bucket without a prefix', () => {
      expect(parseBucketUrl('gs://my-bucket')).toEqual({ kind: 'gcs', bucket: 'my-bucket', prefix: '' });
      expect(parseBucketUrl('gs://my-bucket/')).toEqual({ kind: 'gcs', bucket: 'my-bucket', prefix: '' });
    });

    it('reads a prefix without its leading and trailing slashes', () => {
      expect(parseBucketUrl('gs://my-bucket/a/b/')).toEqual({ kind: 'gcs', bucket: 'my-bucket', prefix: 'a/b' });
      expect(parseBucketUrl('gs://evidence.example.com/site-1')).toEqual({ kind: 'gcs', bucket: 'evidence.example.com', prefix: 'site-1' });
    });

    it.each(['My-Bucket', 'ab', '-bucket', 'bucket-', 'bucket with space', `b${'x'.repeat(63)}`, `a.${'x'.repeat(64)}`, 'a..b', `${'abc.'.repeat(56)}abc`])(
      'refuses the bucket name %s',
      (bucket) => {
        expect(() => parseBucketUrl(`gs://${bucket}/x`)).toThrow(`"${bucket}" is not a Cloud Storage bucket name: lower-case letters, digits`);
      },
    );

    it.each(['abc', 'x'.repeat(63), `${'x'.repeat(63)}.${'y'.repeat(63)}`, 'evidence.example.com'])('takes the bucket name %s', (bucket) => {
      expect(parseBucketUrl(`gs://${bucket}`)).toMatchObject({ kind: 'gcs', bucket });
    });

    it('refuses . and .. segments in the prefix', () => {
      expect(() => parseBucketUrl('gs://my-bucket/a/../b')).toThrow('prefix "a/../b" may not contain . or .. segments');
      expect(() => parseBucketUrl('gs://my-bucket/../b')).toThrow('prefix "../b" may not contain . or .. segments');
      expect(() => parseBucketUrl('gs://my-bucket/./b/')).toThrow('prefix "./b/" may not contain . or .. segments');
    });

    it('allows dots inside prefix segments', () => {
      expect(parseBucketUrl('gs://my-bucket/v1.2/..hidden')).toEqual({ kind: 'gcs', bucket: 'my-bucket', prefix: 'v1.2/..hidden' });
    });
  });

  describe('file://', () => {
    it('reads an absolute folder; the bucket is named after the folder', () => {
      expect(parseBucketUrl('file:///var/lib/crispy/bucket')).toEqual({ kind: 'local', bucket: 'bucket', prefix: '', dir: '/var/lib/crispy/bucket' });
    });

    it('resolves a relative folder from the working directory', () => {
      expect(parseBucketUrl('file://./x')).toEqual({ kind: 'local', bucket: 'x', prefix: '', dir: resolve('x') });
    });

    it('decodes percent-escapes in the path', () => {
      expect(parseBucketUrl('file:///srv/my%20bucket')).toMatchObject({ dir: '/srv/my bucket', bucket: 'my bucket' });
    });

    it('refuses the root folder', () => {
      expect(() => parseBucketUrl('file:///')).toThrow('file:/// needs a folder: file:///var/lib/crispy/bucket');
    });
  });

  it('refuses other schemes, saying which are understood', () => {
    expect(() => parseBucketUrl('s3://my-bucket/a')).toThrow(
      '"s3://my-bucket/a" is not a bucket URL: use gs://BUCKET/PREFIX for Cloud Storage or file:///DIR for a bucket on local disk',
    );
    expect(() => parseBucketUrl('/var/lib/bucket')).toThrow('"/var/lib/bucket" is not a bucket URL');
    expect(() => parseBucketUrl('gs://')).toThrow('"gs://" is not a bucket URL');
  });
});
