import { relative, resolve, sep } from 'node:path';

// The local bucket (file:///DIR), written by the upload worker and read by verify: the same object
// names as Cloud Storage, on disk.
//   DIR/NAME             the object's bytes
//   DIR/NAME.meta.json   its resource (metadata, generation, checksums)
//   DIR/.tmp/            uploads in progress, on the same file system so link() is atomic
//   DIR/.notifications/  finalize notifications waiting for delivery (the worker's outbox)
// An object exists once both of the first two are there.

export const LOCAL_OBJECT_RESOURCE_SUFFIX = '.meta.json';
export const LOCAL_BUCKET_TMP_DIR = '.tmp';
export const NOTIFICATION_OUTBOX_DIR = '.notifications';

/** The bucket's own housekeeping folders, which hold no objects. */
export function isLocalBucketHousekeeping(objectName: string): boolean {
  const top = objectName.split('/')[0];
  return top === LOCAL_BUCKET_TMP_DIR || top === NOTIFICATION_OUTBOX_DIR;
}

/**
 * The path of an object's bytes under the bucket's folder. Object names are keys, not paths:
 * `a/../b` must not alias `b`, nor may a name reach the housekeeping folders or a resource file.
 */
export function localObjectFilePath(root: string, objectName: string): string {
  if (objectName.split('/').some((segment) => segment === '..' || segment === '.' || segment === '')) {
    throw new Error(`object name "${objectName}" is not allowed in the local bucket (empty, . or .. segment)`);
  }
  const base = resolve(root);
  const path = resolve(base, objectName);
  const top = relative(base, path).split(sep)[0] ?? '';
  if (!path.startsWith(base + sep) || objectName.endsWith(LOCAL_OBJECT_RESOURCE_SUFFIX) || isLocalBucketHousekeeping(top)) {
    throw new Error(`object name "${objectName}" is not allowed in the local bucket`);
  }
  return path;
}

export function localObjectResourcePath(objectPath: string): string {
  return `${objectPath}${LOCAL_OBJECT_RESOURCE_SUFFIX}`;
}
