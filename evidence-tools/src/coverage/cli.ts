import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type BucketLocation, displayUrl, errorMessage } from '@crispy-streamer/shared';
import { createFleetRedisConnection } from '@crispy-streamer/shared/redis';
import type { Coverage } from '@crispy-streamer/shared/coverage';
import { DEFAULT_FLEET_NAME, FLEET_NAME_PATTERN, readCameraStatuses, type TimeSpan } from '@crispy-streamer/shared/fleet';
import { UsageError, bucketAndSource, isoArgumentMs } from '../cli-arguments.js';
import { createReader, type ChunkBucketReader } from '../verify/bucket-reader.js';
import { coverageOf, notConsulted, readStoredChunks, spoolViewOf, type SpoolView } from './source-coverage.js';
import { coverageSvg, formatSeconds } from './timeline-svg.js';

export const COVERAGE_USAGE = `usage: coverage --bucket gs://BUCKET/PREFIX|file:///DIR --source ID --from ISO --to ISO [options]

Lists what a source recorded in a time range: intervals in the bucket, gaps (with exact times and
whether chunks are missing or the camera was down), and footage recorded but not yet in the
bucket (from the nodes' status in Redis).

  --bucket URL         where the chunks are: gs://BUCKET/PREFIX or file:///DIR
  --source ID          the source (camera)
  --from ISO           start of the range (e.g. 2026-11-23T00:00:00Z); default 24 h before --to
  --to ISO             end of the range; default now (the future is not a gap)
  --max-gap SECONDS    exit 1 when a gap is longer than this
  --redis URL          the fleet's Redis, for chunks still in the spools (default: REDIS_URL);
                       without one, footage not yet uploaded shows as gaps
  --fleet NAME         the fleet's name in Redis (default: FLEET_NAME, else ${DEFAULT_FLEET_NAME})
  --json               print the coverage as JSON
  --svg FILE           write the timeline as SVG
  --png FILE           write the timeline as PNG
  -h, --help           this text

Environment (gs:// only): GCS_API_ENDPOINT (or STORAGE_EMULATOR_HOST), GOOGLE_CLOUD_PROJECT
(or GCP_PROJECT); credentials are Application Default Credentials (storage.objects.list/get).

Exit status: 0 no gap beyond --max-gap, 1 a gap beyond it, 2 could not check (usage, storage).
`;

export const EXIT_OK = 0;
export const EXIT_GAP = 1;
export const EXIT_CANNOT_CHECK = 2;

export interface CoverageRequest {
  location: BucketLocation;
  bucketUrl: string;
  source: string;
  range: TimeSpan;
  maxGapMs: number | undefined;
  redisUrl: string | undefined;
  fleetName: string;
  json: boolean;
  svgPath: string | undefined;
  pngPath: string | undefined;
}

export function parseCoverageArguments(argv: readonly string[], env: Record<string, string | undefined>, nowMs: number): CoverageRequest | 'help' {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        bucket: { type: 'string' },
        source: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        'max-gap': { type: 'string' },
        redis: { type: 'string' },
        fleet: { type: 'string' },
        json: { type: 'boolean', default: false },
        svg: { type: 'string' },
        png: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  if (values.help) return 'help';
  const { location, bucketUrl, source } = bucketAndSource(values);
  const toMs = isoArgumentMs('to', values.to) ?? nowMs;
  const fromMs = isoArgumentMs('from', values.from) ?? toMs - 24 * 3600_000;
  if (fromMs >= toMs) throw new UsageError(`--from ${new Date(fromMs).toISOString()} is not before --to ${new Date(toMs).toISOString()}`);
  if (fromMs > nowMs) throw new UsageError(`--from ${new Date(fromMs).toISOString()} is in the future: nothing can be recorded there yet`);
  let maxGapMs: number | undefined;
  if (values['max-gap'] !== undefined) {
    const seconds = Number(values['max-gap']);
    if (!/^\d+(\.\d+)?$/.test(values['max-gap']) || !Number.isFinite(seconds))
      throw new UsageError(`--max-gap ${values['max-gap']} is not a number of seconds (e.g. 10 or 2.5)`);
    maxGapMs = seconds * 1000;
  }
  const redisUrl = values.redis ?? (env.REDIS_URL?.trim() === '' ? undefined : env.REDIS_URL);
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) throw new UsageError(`--redis ${displayUrl(redisUrl)} is not a redis:// or rediss:// URL`);
  const fleetName = values.fleet ?? env.FLEET_NAME ?? DEFAULT_FLEET_NAME;
  if (!FLEET_NAME_PATTERN.test(fleetName)) throw new UsageError(`--fleet ${fleetName} may hold only 1-64 letters, digits, '-' and '_'`);
  return { location, bucketUrl, source, range: { fromMs, toMs }, maxGapMs, redisUrl, fleetName, json: values.json, svgPath: values.svg, pngPath: values.png };
}

/** What the nodes' spools hold for the source; never fails the command (the report says what happened). */
async function readSpools(request: CoverageRequest, nowMs: number): Promise<SpoolView> {
  if (request.redisUrl === undefined) return notConsulted('no --redis (or REDIS_URL): chunks still in the spools are not known and show as gaps');
  const redis = createFleetRedisConnection(request.redisUrl, 'coverage', 3000);
  let firstError: Error | undefined;
  redis.on('error', (error: Error) => (firstError ??= error));
  try {
    await Promise.race([
      new Promise((resolve, reject) => {
        redis.once('ready', resolve);
        // A one-off command: the first refusal is the answer, no reconnecting for it.
        redis.once('error', () => reject(firstError ?? new Error('connection failed')));
        redis.once('end', () => reject(new Error('connection closed')));
      }),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 3 s')), 3000)),
    ]);
    const { statuses } = await readCameraStatuses(redis, request.fleetName, nowMs);
    return spoolViewOf(statuses, request.source, nowMs);
  } catch (error) {
    return notConsulted(
      `Redis ${displayUrl(request.redisUrl)} did not answer (${errorMessage(error)}): chunks still in the spools are not known and show as gaps`,
    );
  } finally {
    redis.disconnect();
  }
}

export interface CoverageReport {
  bucket: string;
  prefix: string;
  source: string;
  from: string;
  to: string;
  /** The end actually covered: --to, or now if that is earlier. */
  coveredTo: string;
  coverage: { stored: number; pending: number; gap: number; inProgress: number };
  storedChunks: number;
  unplaceable: string[];
  intervals: { kind: string; from: string; to: string; durationMs: number }[];
  gaps: {
    from: string;
    to: string;
    durationMs: number;
    missingSequences: { first: number; last: number; count: number } | null;
    edge: 'start' | 'end' | null;
  }[];
  longestGapMs: number;
  maxGapMs: number | null;
  gapBeyondMax: boolean;
  spools: SpoolView;
}

export function reportOf(request: CoverageRequest, description: string, coverage: Coverage, unplaceable: string[], spools: SpoolView): CoverageReport {
  const span = Math.max(1, coverage.toMs - coverage.fromMs);
  const share = (ms: number) => Math.round((ms / span) * 1_000_000) / 1_000_000;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    bucket: description,
    prefix: request.location.prefix,
    source: request.source,
    from: iso(request.range.fromMs),
    to: iso(request.range.toMs),
    coveredTo: iso(coverage.toMs),
    coverage: { stored: share(coverage.storedMs), pending: share(coverage.pendingMs), gap: share(coverage.gapMs), inProgress: share(coverage.inProgressMs) },
    storedChunks: coverage.storedChunks,
    unplaceable,
    intervals: coverage.segments.map((segment) => ({
      kind: segment.kind,
      from: iso(segment.fromMs),
      to: iso(segment.toMs),
      durationMs: segment.toMs - segment.fromMs,
    })),
    gaps: coverage.gaps.map((gap) => ({
      from: iso(gap.fromMs),
      to: iso(gap.toMs),
      durationMs: gap.durationMs,
      missingSequences: gap.missingSequences ?? null,
      edge: gap.edge ?? null,
    })),
    longestGapMs: coverage.longestGapMs,
    maxGapMs: request.maxGapMs ?? null,
    gapBeyondMax: request.maxGapMs !== undefined && coverage.longestGapMs > request.maxGapMs,
    spools,
  };
}

const KIND_WORDS: Readonly<Record<string, string>> = { stored: 'recorded', pending: 'not uploaded', gap: 'GAP', 'in-progress': 'recording' };

export function formatCoverage(report: CoverageReport): string {
  const lines: string[] = [];
  const where = report.prefix === '' ? report.bucket : `${report.bucket}/${report.prefix}`;
  const pct = (share: number) => `${(share * 100).toFixed(2)} %`;
  lines.push(`coverage of source ${report.source} in ${where}`);
  lines.push(`from ${report.from} to ${report.coveredTo}${report.coveredTo !== report.to ? ` (asked to ${report.to}; the rest is in the future)` : ''}`);
  lines.push(
    report.spools.consulted
      ? `spools: ${report.spools.nodes.length === 0 ? (report.spools.note ?? 'nothing') : report.spools.nodes.map((n) => `${n.node} ${n.state}${n.stale ? ' (STALE: silent since ' + n.heartbeat + ')' : ''}, ${n.waitingChunks} waiting`).join('; ')}${report.spools.truncated ? ' (more waits than the status lists)' : ''}`
      : `spools: not consulted: ${report.spools.note ?? ''}`,
  );
  lines.push('');
  lines.push(`${'what'.padEnd(14)}${'from'.padEnd(26)}${'to'.padEnd(26)}length`);
  for (const interval of report.intervals) {
    const gap = interval.kind === 'gap' ? report.gaps.find((g) => g.from === interval.from) : undefined;
    const why =
      gap === undefined
        ? ''
        : gap.missingSequences !== null
          ? `  chunks ${gap.missingSequences.first}${gap.missingSequences.count > 1 ? `-${gap.missingSequences.last}` : ''} recorded but in no bucket or spool`
          : gap.edge === 'start'
            ? '  no chunk before it'
            : gap.edge === 'end'
              ? '  nothing recorded since'
              : '  not recorded (camera down)';
    lines.push(
      `${(KIND_WORDS[interval.kind] ?? interval.kind).padEnd(14)}${interval.from.padEnd(26)}${interval.to.padEnd(26)}${formatSeconds(interval.durationMs)}${why}`,
    );
  }
  lines.push('');
  lines.push(
    `recorded ${pct(report.coverage.stored + report.coverage.inProgress)} (in the bucket ${pct(report.coverage.stored)}, not yet uploaded ${pct(report.coverage.pending)}), gaps ${pct(report.coverage.gap)}: ${report.gaps.length} gap(s), longest ${formatSeconds(report.longestGapMs)}; ${report.storedChunks} chunk(s) in the bucket`,
  );
  if (report.unplaceable.length > 0)
    lines.push(
      `${report.unplaceable.length} object(s) could not be placed in time (not a chunk name, or no duration): ${report.unplaceable.slice(0, 5).join(', ')}${report.unplaceable.length > 5 ? ', ...' : ''}`,
    );
  if (report.maxGapMs !== null)
    lines.push(
      report.gapBeyondMax ? `RESULT: a gap is longer than --max-gap ${report.maxGapMs / 1000} s` : `RESULT: OK, no gap longer than ${report.maxGapMs / 1000} s`,
    );
  return `${lines.join('\n')}\n`;
}

export interface CommandOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

export async function runCoverageCommand(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  out: CommandOutput,
  nowMs = Date.now(),
  readerFor?: (location: BucketLocation) => ChunkBucketReader,
): Promise<number> {
  let request: CoverageRequest | 'help';
  try {
    request = parseCoverageArguments(argv, env, nowMs);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    out.stderr(`coverage: ${error.message}\n\n${COVERAGE_USAGE}`);
    return EXIT_CANNOT_CHECK;
  }
  if (request === 'help') {
    out.stdout(COVERAGE_USAGE);
    return EXIT_OK;
  }
  const setting = (...names: string[]) => names.map((name) => env[name]?.trim()).find((value) => value !== undefined && value !== '');
  const readerEnv: { apiEndpoint?: string; projectId?: string } = {};
  const apiEndpoint = setting('GCS_API_ENDPOINT', 'STORAGE_EMULATOR_HOST');
  const projectId = setting('GOOGLE_CLOUD_PROJECT', 'GCP_PROJECT');
  if (apiEndpoint !== undefined) readerEnv.apiEndpoint = apiEndpoint;
  if (projectId !== undefined) readerEnv.projectId = projectId;
  const reader = readerFor?.(request.location) ?? createReader(request.location, readerEnv);

  let report: CoverageReport;
  let coverage: Coverage;
  try {
    const [listing, spools] = await Promise.all([readStoredChunks(reader, request.location.prefix, request.source, request.range), readSpools(request, nowMs)]);
    coverage = coverageOf(listing, spools, request.range, nowMs);
    report = reportOf(request, reader.description, coverage, listing.unplaceable, spools);
  } catch (error) {
    out.stderr(`coverage: could not read ${request.bucketUrl}: ${errorMessage(error)}\n`);
    return EXIT_CANNOT_CHECK;
  }
  const title = `coverage of ${request.source}`;
  try {
    if (request.svgPath !== undefined) await writeFile(request.svgPath, coverageSvg(coverage, title));
    if (request.pngPath !== undefined) {
      const { default: sharp } = await import('sharp');
      await sharp(Buffer.from(coverageSvg(coverage, title)))
        .png()
        .toFile(request.pngPath);
    }
  } catch (error) {
    out.stderr(`coverage: could not write the timeline: ${errorMessage(error)}\n`);
    return EXIT_CANNOT_CHECK;
  }
  out.stdout(request.json ? `${JSON.stringify(report, null, 2)}\n` : formatCoverage(report));
  return report.gapBeyondMax ? EXIT_GAP : EXIT_OK;
}
