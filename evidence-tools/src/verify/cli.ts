import type { KeyObject } from 'node:crypto';
import { parseArgs } from 'node:util';
import { EnvReader, errorMessage, loadPublicKeys, readGcpProject, readGcsApiEndpoint, type BucketLocation } from '@crispy-streamer/shared';
import { UsageError, bucketAndSource, isoArgumentMs } from '../cli-arguments.js';
import { createReader, readSourceChunks, type ChunkBucketReader } from './bucket-reader.js';
import { checkChunks } from './check-chain.js';
import { formatReport, type VerifyReport } from './report.js';

export const VERIFY_USAGE = `usage: verify --bucket gs://BUCKET/PREFIX|file:///DIR --source ID [options]

Checks a source's chunks against their signed, hash-chained evidence records.

  --bucket URL         where the chunks are: gs://BUCKET/PREFIX or file:///DIR
  --source ID          the source (camera) to check
  --from ISO           only chunks starting at or after this time (e.g. 2026-11-23T09:00:00Z)
  --to ISO             only chunks starting at or before this time
  --public-key FILE    an Ed25519 public key (PEM) whose signatures count; repeat for several
  --require-signed     unsigned chunks are problems too (needs --public-key)
  --json               print the report as JSON
  -h, --help           this text

Environment (gs:// only): GCS_API_ENDPOINT (or STORAGE_EMULATOR_HOST), GOOGLE_CLOUD_PROJECT
(or GCP_PROJECT); credentials are Application Default Credentials (storage.objects.list/get).

Exit status: 0 no problems, 1 problems found, 2 could not check (usage, keys, storage).
`;

export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_CANNOT_CHECK = 2;

export interface VerifyRequest {
  location: BucketLocation;
  bucketUrl: string;
  source: string;
  from: string | undefined;
  to: string | undefined;
  publicKeys: Map<string, KeyObject>;
  requireSigned: boolean;
  json: boolean;
}

export interface CommandOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** A usage problem: the message says what to change. */
/** `--NAME value` as the ISO string records compare with. */
function isoArgument(name: string, value: string | undefined): string | undefined {
  const ms = isoArgumentMs(name, value);
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/** The options as given; a parse error becomes a usage error. */
function readArguments(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        bucket: { type: 'string' },
        source: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        'public-key': { type: 'string', multiple: true },
        'require-signed': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
}

/** Parses the command line; throws UsageError for anything unclear. */
export function parseVerifyArguments(argv: readonly string[]): VerifyRequest | 'help' {
  const values = readArguments(argv);
  if (values.help) return 'help';
  const { location, bucketUrl, source } = bucketAndSource(values);
  const from = isoArgument('from', values.from);
  const to = isoArgument('to', values.to);
  if (from !== undefined && to !== undefined && from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
  const keyFiles = values['public-key'] ?? [];
  let publicKeys: Map<string, KeyObject>;
  try {
    publicKeys = loadPublicKeys(keyFiles);
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  if (values['require-signed'] && publicKeys.size === 0) {
    throw new UsageError('--require-signed needs at least one --public-key: a signature nobody checks proves nothing');
  }
  return { location, bucketUrl, source, from, to, publicKeys, requireSigned: values['require-signed'], json: values.json };
}

/** Reads and checks; the report says what was found. */
export async function runVerify(request: VerifyRequest, reader: ChunkBucketReader): Promise<VerifyReport> {
  const { location, source, from, to } = request;
  const range: { from?: string; to?: string } = {};
  if (from !== undefined) range.from = from;
  if (to !== undefined) range.to = to;
  const chunks = await readSourceChunks(reader, location.prefix, source, range);
  const findings = checkChunks(chunks, { source, prefix: location.prefix, publicKeys: request.publicKeys, requireSigned: request.requireSigned });
  return { bucket: reader.description, prefix: location.prefix, from: from ?? null, to: to ?? null, ...findings };
}

/** The whole command: arguments and environment in, report out, exit status back. */
export async function runVerifyCommand(argv: readonly string[], env: Record<string, string | undefined>, out: CommandOutput): Promise<number> {
  let request: VerifyRequest | 'help';
  try {
    request = parseVerifyArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    out.stderr(`verify: ${error.message}\n\n${VERIFY_USAGE}`);
    return EXIT_CANNOT_CHECK;
  }
  if (request === 'help') {
    out.stdout(VERIFY_USAGE);
    return EXIT_OK;
  }
  const settings = new EnvReader(env);
  const readerEnv: { apiEndpoint?: string; projectId?: string } = {};
  const apiEndpoint = readGcsApiEndpoint(settings);
  const projectId = readGcpProject(settings);
  if (apiEndpoint !== undefined) readerEnv.apiEndpoint = apiEndpoint;
  if (projectId !== undefined) readerEnv.projectId = projectId;

  let report: VerifyReport;
  try {
    report = await runVerify(request, createReader(request.location, readerEnv));
  } catch (error) {
    // Not a finding about the chunks: the check itself could not be done.
    out.stderr(`verify: could not read ${request.bucketUrl}: ${errorMessage(error)}\n`);
    return EXIT_CANNOT_CHECK;
  }
  out.stdout(request.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.ok ? EXIT_OK : EXIT_PROBLEMS;
}
