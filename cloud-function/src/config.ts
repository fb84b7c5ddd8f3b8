import { ConfigError, EnvReader, MAX_SIGNED_URL_SECONDS, bucketNameProblem, readGcsApiEndpoint, readLogLevel } from '@crispy-streamer/shared';

export interface FunctionConfig {
  /** The only buckets whose notifications are described; any other is refused. */
  buckets: ReadonlySet<string>;
  signedUrlSeconds: number;
  /** Buckets on local disk, served by the upload-worker: their signed URLs are HMAC URLs. */
  localBucket: { baseUrl: string; secret: string } | undefined;
  gcsApiEndpoint: string | undefined;
  /** How long decoding one frame may take before the notification is retried. */
  frameTimeoutMs: number;
  /** Allowed difference between the uploader's duration and the probed one. */
  durationToleranceMs: number;
  /** PEM files of the edge nodes' evidence public keys. */
  evidencePublicKeyFiles: string[];
  logLevel: string;
}

export const BUCKETS_HINT =
  'the comma-separated names of the buckets whose chunks this function describes, e.g. BUCKETS=my-evidence (for a local bucket, the name of its folder: BUCKET_URL=file:///bucket is bucket `bucket`); a notification from any other bucket is refused';

function readBuckets(reader: EnvReader): Set<string> {
  const raw = reader.required('BUCKETS', BUCKETS_HINT);
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (raw !== '' && names.length === 0) reader.problem('BUCKETS', `"${raw}" names no bucket: ${BUCKETS_HINT}`);
  for (const name of names) {
    const problem = bucketNameProblem(name);
    if (problem !== undefined) reader.problem('BUCKETS', `${problem}; give names without gs:// or a path`);
  }
  return new Set(names);
}

export function loadFunctionConfig(env: Record<string, string | undefined>): FunctionConfig {
  const reader = new EnvReader(env);
  const buckets = readBuckets(reader);
  const signedUrlSeconds = reader.integer('SIGNED_URL_SECONDS', 3600, { min: 1, max: MAX_SIGNED_URL_SECONDS });
  const baseUrl = reader.string('LOCAL_BUCKET_BASE_URL');
  const secret = reader.string('LOCAL_SIGNING_SECRET');
  if ((baseUrl === undefined) !== (secret === undefined)) {
    reader.problem(
      baseUrl === undefined ? 'LOCAL_BUCKET_BASE_URL' : 'LOCAL_SIGNING_SECRET',
      "set both LOCAL_BUCKET_BASE_URL and LOCAL_SIGNING_SECRET (the upload-worker's) to describe chunks of a local bucket, or neither for Cloud Storage",
    );
  }
  if (baseUrl !== undefined && !/^https?:\/\//.test(baseUrl)) reader.problem('LOCAL_BUCKET_BASE_URL', `"${baseUrl}" is not an http(s) URL`);
  const config: FunctionConfig = {
    buckets,
    signedUrlSeconds,
    localBucket: baseUrl !== undefined && secret !== undefined ? { baseUrl, secret } : undefined,
    gcsApiEndpoint: readGcsApiEndpoint(reader),
    frameTimeoutMs: reader.integer('FRAME_TIMEOUT_MS', 30_000, { min: 1000, max: 540_000 }),
    durationToleranceMs: reader.integer('DURATION_TOLERANCE_MS', 1, { min: 0, max: 10_000 }),
    evidencePublicKeyFiles: (reader.string('EVIDENCE_PUBLIC_KEYS') ?? '')
      .split(',')
      .map((path) => path.trim())
      .filter((path) => path !== ''),
    logLevel: readLogLevel(reader),
  };
  if (reader.problems.length > 0) throw new ConfigError('cloud-function', reader.problems);
  return config;
}
