// The command-line rules verify and coverage share: which source, in which bucket, over which times.
import { SOURCE_ID_PATTERN, errorMessage, parseBucketUrl, type BucketLocation } from '@crispy-streamer/shared';

/** A command line that cannot be acted on: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

/**
 * `--NAME value` as a time in ms. Only ISO 8601 with Z or an offset: Date.parse also takes "Nov
 * 23 2026", and a court record should not depend on that leniency.
 */
export function isoArgumentMs(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value) || Number.isNaN(ms)) {
    throw new UsageError(`--${name} ${value} is not an ISO 8601 time such as 2026-11-23T09:00:00Z (with Z or an offset)`);
  }
  return ms;
}

/** `--bucket` and `--source`, both required: where the chunks are and whose they are. */
export function bucketAndSource(values: { bucket?: string | undefined; source?: string | undefined }): {
  location: BucketLocation;
  bucketUrl: string;
  source: string;
} {
  if (values.bucket === undefined) throw new UsageError('--bucket is required');
  if (values.source === undefined) throw new UsageError('--source is required');
  if (!SOURCE_ID_PATTERN.test(values.source)) throw new UsageError(`--source ${values.source} is not a source id (letters, digits, _ and -)`);
  try {
    return { location: parseBucketUrl(values.bucket), bucketUrl: values.bucket, source: values.source };
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
}
