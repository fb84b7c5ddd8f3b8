import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { createCameraMetrics, createQueueMetrics, createRecorderMetrics, createUploaderMetrics } from '@crispy-streamer/shared/metrics';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { startStatusServer } from '../../stream-handle/src/status/status-server.js';

// What operators alert and chart on: the Prometheus rules are checked and unit-tested by
// Debian's promtool, every metric they and the Grafana dashboard use is one our services really
// export, and the log-based metrics are LogMetric resources as gcloud itself reads them.

const MONITORING = join(REPO_ROOT, 'deploy/monitoring');
const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
const GCLOUD_LIB = '/usr/lib/google-cloud-sdk/lib';

function promtool(args: string[], cwd = join(MONITORING, 'prometheus')): { code: number; output: string } {
  if (!existsSync(PROMTOOL)) {
    throw new Error(
      `promtool is not installed at ${PROMTOOL}: it comes with Debian's prometheus package (bash scripts/ensure-deps.sh test installs it), or set PROMTOOL_BIN`,
    );
  }
  const result = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/** Every metric name our services register, as Prometheus sees them (histograms with their suffixes). */
async function exportedMetricNames(): Promise<Set<string>> {
  const registry = new Registry();
  createRecorderMetrics(registry);
  createCameraMetrics(registry, () => ({ cameras: [], spoolUsageRatio: 0, clockSync: 'unknown' }));
  createUploaderMetrics(registry);
  createQueueMetrics(registry, async () => ({}));
  const dir = mkdtempSync(join(tmpdir(), 'monitoring-'));
  const status = await startStatusServer({ host: '127.0.0.1', port: 0, registry, spoolDir: dir, readiness: [] });
  const names = new Set<string>(['up']);
  try {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    }
  } finally {
    await status.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return names;
}

/** Metric names in a PromQL expression: identifiers followed by a selector, a range or an operator, not functions or labels. */
function metricNamesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  const withoutLabels = withoutStrings.replace(/\{[^}]*\}/g, '{}').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const keywords = new Set([
    'sum',
    'max',
    'min',
    'count',
    'avg',
    'rate',
    'increase',
    'histogram_quantile',
    'time',
    'vector',
    'and',
    'or',
    'unless',
    'group',
    'label_values',
    'humanizeDuration',
    'le',
  ]);
  return [...withoutLabels.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map((m) => m[1] ?? '')
    .filter((name) => (!keywords.has(name) && !/^\d/.test(name) && /_/.test(name)) || name === 'up');
}

const rules = parseYaml(readFileSync(join(MONITORING, 'prometheus/crispy-alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
const ruleList = rules.groups.flatMap((group) => group.rules);
const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana/crispy-fleet.json'), 'utf8')) as {
  uid: string;
  panels: { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: { expr: string; refId: string }[] }[];
  templating: { list: { name: string }[] };
};
const dashboardExprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));

describe('the Prometheus alerting rules', () => {
  it('pass promtool check rules, and its unit tests pass', () => {
    const check = promtool(['check', 'rules', 'crispy-alerts.yml']);
    expect(check.output).toContain('SUCCESS: 9 rules found');
    expect(check.code).toBe(0);
    const tests = promtool(['test', 'rules', 'crispy-alerts.test.yml']);
    expect(tests.output, tests.output).toContain('SUCCESS');
    expect(tests.code).toBe(0);
    const config = promtool(['check', 'config', 'prometheus.example.yml']);
    expect(config.code, config.output).toBe(0);
  });

  it('cover what the issue asks for, and each has a unit test', () => {
    expect(ruleList.map((rule) => rule.alert).sort()).toEqual(
      [
        'CrispyCameraNotRecording',
        'CrispyClockNotSynchronised',
        'CrispyClockSyncUnknown',
        'CrispyNoChunkStored',
        'CrispyNoChunkStoredYet',
        'CrispyRecorderDown',
        'CrispySpoolNearlyFull',
        'CrispyUploadBacklogOld',
        'CrispyUploadJobsFailed',
      ].sort(),
    );
    const tested = new Set(
      (
        parseYaml(readFileSync(join(MONITORING, 'prometheus/crispy-alerts.test.yml'), 'utf8')) as {
          tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
        }
      ).tests.flatMap((test) => test.alert_rule_test.filter((t) => t.exp_alerts.length > 0).map((t) => t.alertname)),
    );
    const untested = ruleList.map((rule) => rule.alert).filter((name) => !tested.has(name));
    expect(untested).toEqual(['CrispyClockSyncUnknown']);
  });

  it('use only metrics our services export', async () => {
    const exported = await exportedMetricNames();
    for (const rule of ruleList) {
      const names = metricNamesIn(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${rule.alert} uses ${name}, which nothing exports`).toBe(true);
    }
  });
});

describe('the Grafana dashboard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'grafana-exprs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is a dashboard: a uid, unique panel ids, panels on the grid, its variables', () => {
    expect(dashboard.uid).toBe('crispy-fleet');
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'node', 'source']);
    expect(dashboardExprs.length).toBeGreaterThan(20);
  });

  it('queries parse as PromQL (promtool) and use only exported metrics', async () => {
    // The variables as Grafana substitutes them with "All" selected.
    const substituted = dashboardExprs.map(({ panel, expr }) => ({ panel, expr: expr.replace(/\$node|\$source/g, '.*') }));
    const file = join(dir, 'dashboard-exprs.yml');
    writeFileSync(file, toYaml({ groups: [{ name: 'dashboard', rules: substituted.map(({ expr }, i) => ({ record: `dashboard:expr_${i}`, expr })) }] }));
    const check = promtool(['check', 'rules', file], dir);
    expect(check.output, check.output).toContain(`SUCCESS: ${substituted.length} rules found`);
    const exported = await exportedMetricNames();
    for (const { panel, expr } of substituted) {
      for (const name of metricNamesIn(expr)) expect(exported.has(name), `panel "${panel}" uses ${name}, which nothing exports`).toBe(true);
    }
  });
});

describe('the log-based metrics', () => {
  const metricsDir = join(MONITORING, 'cloud-logging/log-metrics');
  const queries = parseYaml(readFileSync(join(MONITORING, 'cloud-logging/queries.yaml'), 'utf8')) as {
    resource: string;
    queries: { name: string; filter: string }[];
  };
  const files = readdirSync(metricsDir).filter((name) => name.endsWith('.json'));

  it('count what the documented queries select, on the function only', () => {
    expect(files.sort()).toEqual([
      'crispy_chunks_described.json',
      'crispy_chunks_duration_mismatch.json',
      'crispy_chunks_integrity_invalid.json',
      'crispy_chunks_not_described.json',
    ]);
    const filters = new Set(queries.queries.map((query) => query.filter));
    for (const file of files) {
      const metric = JSON.parse(readFileSync(join(metricsDir, file), 'utf8')) as { filter: string; labelExtractors: Record<string, string> };
      const [resource, filter] = metric.filter.split('\n');
      expect(resource, file).toBe(queries.resource);
      expect(filters.has(filter ?? ''), `${file}'s filter ${filter} is one of queries.yaml's`).toBe(true);
      expect(Object.keys(metric.labelExtractors)).toEqual(['source']);
    }
  });

  it.skipIf(!existsSync(join(GCLOUD_LIB, 'googlecloudsdk/generated_clients/apis/logging/v2/logging_v2_messages.py')))(
    'are LogMetric resources as gcloud reads them for --config-from-file: no unknown field, valid enums (needs the Google Cloud CLI)',
    () => {
      const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(GCLOUD_LIB)})
sys.path.insert(0, ${JSON.stringify(join(GCLOUD_LIB, 'third_party'))})
from googlecloudsdk.generated_clients.apis.logging.v2 import logging_v2_messages as m
from apitools.base.py import encoding
out = {}
for path in sys.argv[1:]:
    msg = encoding.DictToMessage(json.load(open(path)), m.LogMetric)
    d = msg.metricDescriptor
    out[path] = {'unrecognized': msg.all_unrecognized_fields() + d.all_unrecognized_fields(), 'kind': str(d.metricKind), 'value': str(d.valueType), 'labels': [l.key for l in d.labels]}
print(json.dumps(out))
`;
      const result = JSON.parse(execFileSync('python3', ['-c', script, ...files.map((file) => join(metricsDir, file))], { encoding: 'utf8' })) as Record<
        string,
        { unrecognized: string[]; kind: string; value: string; labels: string[] }
      >;
      for (const [path, decoded] of Object.entries(result))
        expect(decoded, path).toEqual({ unrecognized: [], kind: 'DELTA', value: 'INT64', labels: ['source'] });
    },
  );
});
