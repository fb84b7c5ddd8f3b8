// What the compose check concludes from what it saw: the services' JSON logs, the bucket volume's
// objects, the signed URLs fetched inside the compose network and the HTTP answers of Bull Board.
// Plain functions on plain data, so that every rule can be tried on made-up inputs
// (test/integration/compose-check-verdict.test.ts).

export interface LogRecord {
  message?: string;
  time?: string;
  [field: string]: unknown;
}

/** One line of JSON per record; anything else (a framework's banner, a stack trace) is skipped. */
export function parseJsonLines(text: string): LogRecord[] {
  const records: LogRecord[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(trimmed);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) records.push(value as LogRecord);
    } catch {
      // not JSON after all
    }
  }
  return records;
}

/**
 * How a run was stopped. `stack`: `docker compose stop`, as a user types it; the demo camera stops
 * in the same wave as stream-handle, so the recording may end because the camera went first.
 * `recorder-first`: `docker compose stop stream-handle`, then the rest: the camera is still
 * serving, so the stop itself must close the chunk in progress.
 */
export type StopMode = 'stack' | 'recorder-first';

/** One start and stop of the stack: what its containers logged, and the volumes right after the stop. */
export interface StackRun {
  label: string;
  stopMode: StopMode;
  recorder: LogRecord[];
  workers: LogRecord[];
  function: LogRecord[];
  /** Object names in the bucket once the stop had returned. */
  storedAfterStop: string[];
  /** Chunk files (.mp4) still in the spool volume then, quarantined ones included. */
  spoolAfterStop: string[];
}

export interface StoredObject {
  name: string;
  /** From NAME.meta.json. */
  resource: { size?: string; md5Hash?: string; crc32c?: string; metadata?: Record<string, string> };
  /** Measured on NAME itself. */
  bytes: number;
  md5Base64: string;
  crc32cBase64: string;
  sha256: string;
  /** ffprobe's duration of the file, or undefined when ffprobe could not read it. */
  probedSeconds: number | undefined;
}

export interface UrlFetch {
  url: string;
  status: number;
  bytes: number;
  sha256: string;
  error?: string;
}

export interface Finding {
  check: string;
  ok: boolean;
  detail: string;
}

export interface RecordedChunk {
  run: string;
  source: string;
  sequence: number;
  bytes: number;
  time: number;
}

const chunkKey = (source: string, sequence: number): string => `${source}#${sequence}`;

function timeOf(record: LogRecord): number {
  return typeof record.time === 'string' ? Date.parse(record.time) : Number.NaN;
}

/** The chunks stream-handle logged as recorded (listed by ffmpeg, proved whole, queued). */
export function recordedChunks(run: StackRun): RecordedChunk[] {
  return run.recorder
    .filter((record) => record.message === 'chunk recorded')
    .flatMap((record) =>
      typeof record.source === 'string' && typeof record.sequence === 'number' && typeof record.bytes === 'number'
        ? [{ run: run.label, source: record.source, sequence: record.sequence, bytes: record.bytes, time: timeOf(record) }]
        : [],
    );
}

/** The chunks stream-handle recorded after it was told to stop: the ones `stop` closed. */
export function chunksClosedByStop(run: StackRun): RecordedChunk[] | undefined {
  const stopping = run.recorder.find((record) => typeof record.message === 'string' && record.message.startsWith('stopping: closing the current chunk'));
  if (stopping === undefined) return undefined;
  const stoppedAt = timeOf(stopping);
  return recordedChunks(run).filter((chunk) => chunk.time >= stoppedAt);
}

function chunkOf(object: StoredObject): { source: string; sequence: number } | undefined {
  const source = object.resource.metadata?.source;
  const sequence = Number(object.resource.metadata?.sequence);
  return source === undefined || !Number.isInteger(sequence) ? undefined : { source, sequence };
}

/** Every recorded chunk in the bucket exactly once, whole, and nothing in the bucket that was not recorded. */
export function storageFindings(runs: StackRun[], bucket: StoredObject[]): Finding[] {
  const recorded = runs.flatMap(recordedChunks);
  const findings: Finding[] = [];
  findings.push({
    check: 'stream-handle recorded chunks',
    ok: recorded.length > 0,
    detail: `${recorded.length} recorded (${runs.map((run) => `${run.label}: ${recordedChunks(run).length}`).join(', ')})`,
  });

  const byChunk = new Map<string, StoredObject[]>();
  const unlabelled: string[] = [];
  for (const object of bucket) {
    const chunk = chunkOf(object);
    if (chunk === undefined) {
      unlabelled.push(object.name);
      continue;
    }
    const key = chunkKey(chunk.source, chunk.sequence);
    byChunk.set(key, [...(byChunk.get(key) ?? []), object]);
  }
  const recordedTwice = recorded.filter(
    (chunk, index) => recorded.findIndex((other) => chunkKey(other.source, other.sequence) === chunkKey(chunk.source, chunk.sequence)) !== index,
  );
  const missing = recorded.filter((chunk) => (byChunk.get(chunkKey(chunk.source, chunk.sequence)) ?? []).length === 0);
  const duplicated = [...byChunk.entries()].filter(([, objects]) => objects.length > 1);
  const wrongSize = recorded.flatMap((chunk) => {
    const object = byChunk.get(chunkKey(chunk.source, chunk.sequence))?.[0];
    return object !== undefined && object.bytes !== chunk.bytes ? [`${object.name}: ${object.bytes} bytes, recorded ${chunk.bytes}`] : [];
  });
  const unrecorded = [...byChunk.keys()].filter((key) => !recorded.some((chunk) => chunkKey(chunk.source, chunk.sequence) === key));
  findings.push({
    check: 'every recorded chunk stored exactly once',
    ok: recorded.length > 0 && missing.length === 0 && duplicated.length === 0 && wrongSize.length === 0 && recordedTwice.length === 0,
    detail: [
      `${bucket.length} objects for ${recorded.length} recorded chunks`,
      ...missing.map((chunk) => `missing ${chunk.source} #${chunk.sequence}`),
      ...duplicated.map(([key, objects]) => `${key} stored ${objects.length} times: ${objects.map((object) => object.name).join(', ')}`),
      ...recordedTwice.map((chunk) => `${chunk.source} #${chunk.sequence} recorded twice`),
      ...wrongSize,
    ].join('; '),
  });
  findings.push({
    check: 'nothing in the bucket that was not recorded',
    ok: unrecorded.length === 0 && unlabelled.length === 0,
    detail: unrecorded.length + unlabelled.length === 0 ? 'none' : [...unrecorded, ...unlabelled].join(', '),
  });

  const damaged = bucket.flatMap((object) => {
    const problems: string[] = [];
    if (object.resource.size !== String(object.bytes)) problems.push(`size ${object.bytes}, resource says ${object.resource.size ?? 'nothing'}`);
    if (object.resource.md5Hash !== undefined && object.resource.md5Hash !== object.md5Base64) problems.push('md5 differs from the resource');
    if (object.resource.crc32c !== object.crc32cBase64) problems.push('crc32c differs from the resource');
    if (object.probedSeconds === undefined || !(object.probedSeconds > 0)) problems.push('ffprobe cannot read it');
    return problems.length === 0 ? [] : [`${object.name}: ${problems.join(', ')}`];
  });
  findings.push({
    check: 'every stored object whole (size, md5, crc32c, ffprobe)',
    ok: bucket.length > 0 && damaged.length === 0,
    detail: damaged.length === 0 ? `${bucket.length} objects` : damaged.join('; '),
  });
  return findings;
}

/**
 * The stop: the chunk stream-handle was recording is closed, listed and stored before the worker
 * stops, and the spool is left with no chunk (none waiting, none half-written).
 */
export function stopFindings(runs: StackRun[], bucket: StoredObject[]): Finding[] {
  return runs.map((run) => {
    const closed = chunksClosedByStop(run);
    const last = recordedChunks(run).at(-1);
    const check =
      run.stopMode === 'recorder-first'
        ? `${run.label}: stopping stream-handle closes the chunk in progress, stored before the worker stops`
        : `${run.label}: after docker compose stop the last chunk is stored and the spool is empty`;
    if (closed === undefined) return { check, ok: false, detail: 'stream-handle logged no "stopping: closing the current chunk" line' };
    if (run.stopMode === 'recorder-first' && closed.length === 0)
      return { check, ok: false, detail: 'no chunk was recorded after stream-handle was told to stop' };
    if (last === undefined) return { check, ok: false, detail: 'nothing was recorded' };
    const mustBeStored = closed.length > 0 ? closed : [last];
    const problems = mustBeStored.flatMap((chunk) => {
      const object = bucket.find((candidate) => {
        const stored = chunkOf(candidate);
        return stored?.source === chunk.source && stored.sequence === chunk.sequence;
      });
      if (object === undefined) return [`${chunk.source} #${chunk.sequence} is not in the bucket`];
      if (!run.storedAfterStop.includes(object.name)) return [`${object.name} was stored only after the next start, not before the worker stopped`];
      return [];
    });
    if (run.spoolAfterStop.length > 0) problems.push(`left in the spool: ${run.spoolAfterStop.join(', ')}`);
    const how = closed.length > 0 ? 'closed by the stop' : 'the camera stopped first and ended the recording';
    return {
      check,
      ok: problems.length === 0,
      detail:
        problems.length === 0
          ? `${mustBeStored.map((chunk) => `${chunk.source} #${chunk.sequence} (${chunk.bytes} bytes)`).join(', ')}, ${how}; spool empty`
          : problems.join('; '),
    };
  });
}

export interface FrameExpectation {
  width: number;
  height: number;
  channels: number;
}

/** The function's "chunk described" line for an object, if any. */
export function descriptionOf(runs: StackRun[], objectName: string): LogRecord | undefined {
  return runs
    .flatMap((run) => run.function)
    .find((record) => typeof record.message === 'string' && record.message.startsWith('chunk described') && record.object === objectName);
}

/** The function described every stored chunk with the expected frame, and its signed URL serves the object's bytes. */
export function functionFindings(runs: StackRun[], bucket: StoredObject[], expected: FrameExpectation, fetches: UrlFetch[]): Finding[] {
  const undescribed: string[] = [];
  const wrongFrame: string[] = [];
  const badUrl: string[] = [];
  for (const object of bucket) {
    const description = descriptionOf(runs, object.name);
    if (description === undefined) {
      undescribed.push(object.name);
      continue;
    }
    const frame = `${String(description.width)}x${String(description.height)}x${String(description.channels)}`;
    if (description.width !== expected.width || description.height !== expected.height || description.channels !== expected.channels)
      wrongFrame.push(`${object.name}: ${frame}`);
    const url = description.signedUrl;
    const fetched = typeof url === 'string' ? fetches.find((candidate) => candidate.url === url) : undefined;
    if (typeof url !== 'string') badUrl.push(`${object.name}: no signedUrl`);
    else if (fetched === undefined) badUrl.push(`${object.name}: its signed URL was not fetched`);
    else if (fetched.status !== 200)
      badUrl.push(`${object.name}: signed URL answered ${fetched.status}${fetched.error === undefined ? '' : ` (${fetched.error})`}`);
    else if (fetched.sha256 !== object.sha256 || fetched.bytes !== object.bytes) badUrl.push(`${object.name}: signed URL served ${fetched.bytes} other bytes`);
  }
  const described = bucket.length - undescribed.length;
  const failures = runs
    .flatMap((run) => run.function)
    .filter((record) => typeof record.message === 'string' && record.message.startsWith('chunk could not be described'));
  return [
    {
      check: `the function described each stored chunk`,
      ok: bucket.length > 0 && undescribed.length === 0,
      detail:
        `${described} of ${bucket.length} described` +
        (undescribed.length === 0 ? '' : `; not described: ${undescribed.slice(0, 5).join(', ')}${undescribed.length > 5 ? ', ...' : ''}`) +
        (failures.length === 0 ? '' : `; ${failures.length} "could not be described" lines, the first: ${summariseError(failures[0]!)}`),
    },
    {
      check: `each description says ${expected.width}x${expected.height}x${expected.channels}`,
      ok: described > 0 && wrongFrame.length === 0,
      detail: described === 0 ? 'nothing described' : wrongFrame.length === 0 ? `${described} descriptions` : wrongFrame.join('; '),
    },
    {
      check: "each signed URL returns the object's bytes (fetched inside the compose network)",
      ok: described > 0 && badUrl.length === 0,
      detail: described === 0 ? 'nothing described, so no URL to fetch' : badUrl.length === 0 ? `${described} URLs, bytes identical` : badUrl.join('; '),
    },
  ];
}

function summariseError(record: LogRecord): string {
  const error = record.err as { message?: unknown } | undefined;
  const message = typeof error?.message === 'string' ? error.message : JSON.stringify(record.err ?? record);
  return message.length > 300 ? `${message.slice(0, 300)}...` : message;
}

/** Bull Board must refuse a request without credentials and serve one with them. */
export function boardFinding(port: number, withoutCredentials: number, withCredentials: number): Finding {
  return {
    check: `Bull Board at 127.0.0.1:${port}/board: 401 without credentials, 200 with`,
    ok: withoutCredentials === 401 && withCredentials === 200,
    detail: `without: ${withoutCredentials}, with: ${withCredentials}`,
  };
}

export function formatFindings(findings: Finding[]): string {
  return findings.map((finding) => `  ${finding.ok ? 'PASS' : 'FAIL'}  ${finding.check}${finding.detail === '' ? '' : `: ${finding.detail}`}`).join('\n');
}
