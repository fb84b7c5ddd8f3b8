import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { crc32cBase64, pubsubPushBody, type StorageObjectResource } from '@crispy-streamer/shared';
import { REPO_ROOT, type LogLine } from '@crispy-streamer/harness/service-process';
import { entryOfLine, matches, parseLoggingFilter, type LogEntry } from '../support/logging-filter.js';
import { startRedisServer, type RedisServer } from '@crispy-streamer/harness/redis-server';
import { makeSampleVideo } from '@crispy-streamer/harness/sample-video';
import { startLocalPipeline, type LocalPipeline } from '@crispy-streamer/harness/local-pipeline';

// The Cloud Logging queries and log-based metrics of deploy/monitoring/cloud-logging, run over
// what the real function logged: good chunks, a chunk whose metadata was altered (integrity
// INVALID and a duration mismatch), one whose record was altered, and an object that is no chunk.

const MONITORING = join(REPO_ROOT, 'deploy/monitoring/cloud-logging');
const SOURCE = 'cam7'; // the one-camera query names cam7
const RESOURCE = {
  type: 'cloud_run_revision',
  labels: { service_name: 'describe-chunk', revision_name: 'describe-chunk-00001-abc', location: 'europe-west1' },
};

const queries = parseYaml(await readFile(join(MONITORING, 'queries.yaml'), 'utf8')) as { resource: string; queries: { name: string; filter: string }[] };
const filterOf = (name: string) => `${queries.resource}\n${queries.queries.find((query) => query.name === name)?.filter ?? `no query ${name}`}`;

describe('the Cloud Logging queries, over the function’s own lines', () => {
  let redis: RedisServer;
  let pipeline: LocalPipeline;
  let entries: LogEntry[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    pipeline = await startLocalPipeline(redis.url);
    const video = join(pipeline.dir, 'clip.mp4');
    await makeSampleVideo(video, { seconds: 6, width: 320, height: 240, gopSeconds: 2 });
    const recorder = pipeline.runStreamHandle({ SOURCE_URL: video, SOURCE_ID: SOURCE, CHUNK_SECONDS: '2' });
    expect(await recorder.exited).toBe(0);
    await pipeline.waitForDescriptions(SOURCE, [0, 1, 2]);

    // Notifications as the bucket would send them for objects that are not what they claim.
    const objects = await pipeline.bucketObjects();
    const first = objects.find((o) => o.resource.metadata.sequence === '0');
    if (first === undefined) throw new Error('no chunk 0 in the bucket');
    const push = async (resource: StorageObjectResource) => {
      const response = await fetch(pipeline.functionPushUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(pubsubPushBody('OBJECT_FINALIZE', resource, 'projects/local/subscriptions/test')),
      });
      await response.arrayBuffer();
    };
    const resource = first.resource as unknown as StorageObjectResource;
    // Its duration changed after the fact: the record no longer matches, nor does the moov.
    await push({ ...resource, metageneration: '2', metadata: { ...resource.metadata, durationMs: String(Number(resource.metadata?.durationMs) + 1500) } });
    // Its record claims other bytes.
    const record = JSON.parse(resource.metadata?.evidenceRecord ?? '{}') as Record<string, unknown>;
    await push({
      ...resource,
      metageneration: '3',
      metadata: { ...resource.metadata, evidenceRecord: JSON.stringify({ ...record, bytes: Number(record.bytes) + 1 }) },
    });
    // An object in the bucket that is no chunk at all: refused.
    const junkName = `${SOURCE}/2026-11-23/${SOURCE}_20261123T090000.000Z_0000000099.mp4`;
    const junk = randomBytes(4096);
    const junkPath = join(pipeline.bucketDir, ...junkName.split('/'));
    await mkdir(dirname(junkPath), { recursive: true });
    await writeFile(junkPath, junk);
    const junkResource: StorageObjectResource = {
      ...resource,
      id: `bucket/${junkName}/1`,
      name: junkName,
      generation: '1',
      metageneration: '1',
      size: String(junk.byteLength),
      crc32c: crc32cBase64(junk),
      metadata: {},
    };
    await writeFile(`${junkPath}.meta.json`, JSON.stringify(junkResource));
    await push(junkResource);
    await pipeline.fn.waitForLog((l) => String(l.message).startsWith('chunk refused'), 30_000, 'the refusal');
    await pipeline.fn.waitForLog((l) => l.integrity === 'INVALID' && l.durationCheck === 'mismatch', 30_000, 'the altered duration');
    await pipeline.fn.waitForLog((l) => l.integrity === 'INVALID' && l.durationCheck === 'match', 30_000, 'the altered record');
    entries = pipeline.fn.logs.map((line: LogLine) => entryOfLine(line, RESOURCE));
  }, 180_000);
  afterAll(async () => {
    await pipeline?.stop();
    await redis?.stop();
  });

  const selected = (filter: string) => entries.filter((entry) => matches(filter, entry));
  const described = (entry: LogEntry) =>
    `${entry.jsonPayload.sequence as number}:${entry.jsonPayload.integrity as string}:${entry.jsonPayload.durationCheck as string}`;

  it('parse in the part of the query language the evaluator knows, precedence included', () => {
    for (const query of queries.queries) expect(() => parseLoggingFilter(`${queries.resource}\n${query.filter}`), query.name).not.toThrow();
    const entry = entries[0] as LogEntry;
    // NOT, then OR, then AND: "a AND b OR c" is "a AND (b OR c)".
    expect(matches('jsonPayload.message="nope" AND jsonPayload.message="nope" OR severity>=DEFAULT', entry)).toBe(false);
    expect(matches('(jsonPayload.message="nope" AND jsonPayload.message="nope") OR severity>=DEFAULT', entry)).toBe(true);
    expect(() => matches('severity>=LOUD', entry)).toThrow(/not a severity/);
    expect(() => parseLoggingFilter('jsonPayload.x = "a" ~~ 2')).toThrow();
  });

  it('chunk described, integrity INVALID, duration mismatch, one camera, not described', () => {
    expect(selected(filterOf('chunk-described')).map(described).sort()).toEqual([
      '0:INVALID:match',
      '0:INVALID:mismatch',
      '0:unsigned:match',
      '1:unsigned:match',
      '2:unsigned:match',
    ]);
    expect(selected(filterOf('integrity-invalid')).map(described).sort()).toEqual(['0:INVALID:match', '0:INVALID:mismatch']);
    expect(selected(filterOf('duration-mismatch')).map(described)).toEqual(['0:INVALID:mismatch']);
    expect(selected(filterOf('one-camera'))).toHaveLength(5);
    expect(selected(filterOf('not-described')).map((entry) => entry.jsonPayload.object)).toEqual([
      `${SOURCE}/2026-11-23/${SOURCE}_20261123T090000.000Z_0000000099.mp4`,
    ]);
    const attention = selected(filterOf('needs-a-look'));
    expect(attention.length).toBeGreaterThanOrEqual(3);
    expect(attention.every((entry) => ['WARNING', 'ERROR', 'CRITICAL'].includes(entry.severity))).toBe(true);
    // Nothing of another service (or another function) is selected.
    const elsewhere = entries.map((entry) => ({ ...entry, resource: { type: 'cloud_run_revision', labels: { service_name: 'another-service' } } }));
    expect(elsewhere.filter((entry) => matches(filterOf('chunk-described'), entry))).toEqual([]);
  });

  it('the log-based metrics count the same lines, and their source label is the camera', async () => {
    const expected: Record<string, number> = {
      crispy_chunks_described: 5,
      crispy_chunks_integrity_invalid: 2,
      crispy_chunks_duration_mismatch: 1,
      crispy_chunks_not_described: 1,
    };
    for (const [name, count] of Object.entries(expected)) {
      const metric = JSON.parse(await readFile(join(MONITORING, 'log-metrics', `${name}.json`), 'utf8')) as {
        filter: string;
        labelExtractors: { source: string };
      };
      const lines = selected(metric.filter);
      expect(lines, name).toHaveLength(count);
      // EXTRACT(field) or REGEXP_EXTRACT(field, "re"): the source of each line counted.
      const extractor = /^(?:EXTRACT\(([\w.]+)\)|REGEXP_EXTRACT\(([\w.]+), "(.+)"\))$/.exec(metric.labelExtractors.source);
      expect(extractor, name).not.toBeNull();
      for (const entry of lines) {
        const path = (extractor?.[1] ?? extractor?.[2] ?? '').split('.');
        let value: unknown = entry;
        for (const part of path) value = (value as Record<string, unknown> | undefined)?.[part];
        const source = extractor?.[3] === undefined ? value : new RegExp(extractor[3]).exec(String(value))?.[1];
        expect(source, name).toBe(SOURCE);
      }
    }
  });
});
