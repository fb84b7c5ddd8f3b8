import { basename, resolve } from 'node:path';
import { bucketNameProblem } from './bucket-name.js';

export type BucketLocation = { kind: 'gcs'; bucket: string; prefix: string } | { kind: 'local'; bucket: string; prefix: string; dir: string };

/** `gs://BUCKET/PREFIX` or `file:///DIR` (the local bucket's name is the folder's name). */
export function parseBucketUrl(url: string): BucketLocation {
  const gs = /^gs:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (gs !== null) {
    const bucket = gs[1] ?? '';
    const problem = bucketNameProblem(bucket);
    if (problem !== undefined) throw new Error(problem);
    return { kind: 'gcs', bucket, prefix: cleanPrefix(gs[2] ?? '') };
  }
  if (url.startsWith('file://')) {
    const dir = resolve(decodeURIComponent(url.slice('file://'.length)));
    if (dir === '/') throw new Error('file:/// needs a folder: file:///var/lib/crispy/bucket');
    return { kind: 'local', bucket: basename(dir), prefix: '', dir };
  }
  throw new Error(`"${url}" is not a bucket URL: use gs://BUCKET/PREFIX for Cloud Storage or file:///DIR for a bucket on local disk`);
}

function cleanPrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed.split('/').some((part) => part === '..' || part === '.')) throw new Error(`prefix "${prefix}" may not contain . or .. segments`);
  return trimmed;
}
