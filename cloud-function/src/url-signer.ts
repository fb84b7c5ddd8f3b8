import { Storage, type Bucket } from '@google-cloud/storage';
import { signLocalObjectUrl } from '@crispy-streamer/shared';

/** Makes a read URL for an object that expires after `seconds`. */
export type UrlSigner = (bucket: string, objectName: string, seconds: number) => Promise<string>;

/**
 * A V4 signed URL from Cloud Storage's client. On Cloud Functions the default credentials hold
 * no private key, so the client signs through the IAM signBlob API: the function's service account
 * needs roles/iam.serviceAccountTokenCreator on itself.
 */
export function gcsUrlSigner(options: { apiEndpoint?: string }): UrlSigner {
  const storage = new Storage(options.apiEndpoint === undefined ? {} : { apiEndpoint: options.apiEndpoint });
  // One Bucket per name for the instance's life: building one (its ACL helpers) was ~1.5 ms of node per chunk.
  const buckets = new Map<string, Bucket>();
  return async (bucketName, objectName, seconds) => {
    let bucket = buckets.get(bucketName);
    if (bucket === undefined) {
      bucket = storage.bucket(bucketName);
      buckets.set(bucketName, bucket);
    }
    const [url] = await bucket.file(objectName).getSignedUrl({
      version: 'v4',
      action: 'read',
      // With a custom apiEndpoint (a test server) the client signs URLs that point at it.
      expires: Date.now() + seconds * 1000,
    });
    return url;
  };
}

/** The local bucket's HMAC URLs, served by the upload-worker. */
export function localUrlSigner(options: { baseUrl: string; secret: string }): UrlSigner {
  return async (bucket, objectName, seconds) =>
    signLocalObjectUrl({ baseUrl: options.baseUrl, secret: options.secret, bucket, objectName, expiresInSeconds: seconds });
}
