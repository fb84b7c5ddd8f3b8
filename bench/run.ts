// npm run bench [-- --quick] [-- --only file-copy,queue] ...
// Runs real workloads through the real services on this machine, prints tables, writes
// bench/results/DATE-KIND.{json,md,svg}, and for a full run latest.{json,md,svg}. See docs/BENCHMARKS.md.
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';
import { runAllCleanups } from './lib/cleanup.js';
import { summariseProfiles, type ProfileSummary } from './lib/cpu-profile.js';
import { machineInfo, type MachineInfo } from './lib/machine.js';
import { machineBusyCpuSeconds } from './lib/process-stats.js';
import { markdownTable, textTable, type BenchContext, type TargetCheck, type WorkloadResult } from './lib/report.js';
import { PALETTE, renderChart, type Bar, type CdfSeries } from './lib/svg-chart.js';
import { backlogDrain } from './workloads/backlog.js';
import { cameras } from './workloads/cameras.js';
import { fileCopy } from './workloads/file-copy.js';
import { fileEncode } from './workloads/file-encode.js';
import { functionCost } from './workloads/function-cost.js';
import { queueOverhead } from './workloads/queue.js';

const WORKLOADS = ['file-copy', 'file-encode', 'cameras', 'queue', 'backlog', 'function'] as const;
type WorkloadName = (typeof WORKLOADS)[number];

const USAGE = `npm run bench -- [options]

  --quick                 a short version (~2-3 minutes): 120 s file, 30 s encode, 1 and 32 cameras for 20 s,
                          2,000 queue jobs, a 20 s outage, local bucket only
  --only LIST             comma-separated workloads: ${WORKLOADS.join(', ')}
  --storage LIST          local, gcs or both (default: local,gcs; --quick: local)
  --cameras LIST          camera counts (default 1,8,32; --quick 1,32)
  --file-seconds N        length of the file-copy input (default 600; --quick 120)
  --camera-seconds N      seconds per camera run (default 60; --quick 20)
  --camera-mounts KIND    shared (all sources read one mount; default) or per-camera
  --outage-seconds N      storage outage in the backlog workload (default 120; --quick 20)
  --concurrency N         UPLOAD_CONCURRENCY, also used for the plain uploads (default 8)
  --with-function         the combined run: notifications reach the function on this machine (default: they go
                          to a sink that answers 204, so edge figures leave out the function's decode)
  --profile               run the worker and stream-handle with node --cpu-prof (file workloads);
                          profiles go to bench/profiles/
  --no-save               print only; write nothing under bench/results/
  --help`;

interface Options {
  quick: boolean;
  only: WorkloadName[];
  storages: ('local' | 'gcs')[];
  cameraCounts: number[] | undefined;
  cameraSeconds: number | undefined;
  fileSeconds: number | undefined;
  cameraMounts: 'shared' | 'per-camera';
  outageSeconds: number | undefined;
  concurrency: number;
  withFunction: boolean;
  profile: boolean;
  save: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    quick: false,
    only: [...WORKLOADS],
    storages: [],
    cameraCounts: undefined,
    cameraSeconds: undefined,
    fileSeconds: undefined,
    cameraMounts: 'shared',
    outageSeconds: undefined,
    concurrency: 8,
    withFunction: false,
    profile: false,
    save: true,
  };
  const list = (value: string | undefined) =>
    (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const positive = (name: string, value: string | undefined) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number, not ${JSON.stringify(value)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = (argv[i] ?? '').split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--quick':
        options.quick = true;
        break;
      case '--only': {
        const names = list(value());
        const unknown = names.filter((n) => !(WORKLOADS as readonly string[]).includes(n));
        if (unknown.length > 0) throw new Error(`unknown workload(s) ${unknown.join(', ')}; choose from ${WORKLOADS.join(', ')}`);
        options.only = names as WorkloadName[];
        break;
      }
      case '--storage': {
        const names = list(value());
        if (names.some((n) => n !== 'local' && n !== 'gcs')) throw new Error('--storage takes local, gcs or local,gcs');
        options.storages = names as ('local' | 'gcs')[];
        break;
      }
      case '--cameras':
        options.cameraCounts = list(value()).map((n) => positive('--cameras', n));
        break;
      case '--camera-seconds':
        options.cameraSeconds = positive('--camera-seconds', value());
        break;
      case '--file-seconds':
        options.fileSeconds = positive('--file-seconds', value());
        break;
      case '--camera-mounts': {
        const v = value();
        if (v !== 'shared' && v !== 'per-camera') throw new Error('--camera-mounts takes shared or per-camera');
        options.cameraMounts = v;
        break;
      }
      case '--outage-seconds':
        options.outageSeconds = positive('--outage-seconds', value());
        break;
      case '--concurrency':
        options.concurrency = positive('--concurrency', value());
        break;
      case '--with-function':
        options.withFunction = true;
        break;
      case '--profile':
        options.profile = true;
        break;
      case '--no-save':
        options.save = false;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${flag}\n\n${USAGE}`);
    }
  }
  if (options.storages.length === 0) options.storages = options.quick ? ['local'] : ['local', 'gcs'];
  return options;
}

interface WorkloadRecord {
  name: WorkloadName;
  startedAt: string;
  wallSeconds: number;
  loadAverageBefore: number[];
  /** Whole-machine busy CPU during the workload, % of one core (the machine has nproc x 100 %). */
  machineBusyPercent: number;
  result?: WorkloadResult;
  error?: string;
}

function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');
}

function chart(records: WorkloadRecord[], machine: MachineInfo, quick: boolean, startedAt: Date): string {
  const results = records.flatMap((r) => (r.result === undefined ? [] : [r.result]));
  const latencies = results.flatMap((r) => r.chart?.latencies ?? []);
  const runs = [...new Set(latencies.map((l) => l.label.split(':')[0] ?? ''))];
  const series: CdfSeries[] = latencies
    .filter((l) => !l.label.includes('worker closedToStoredMs'))
    .map((l) => {
      const run = l.label.split(':')[0] ?? '';
      return {
        label: l.label.replace('queued -> object created', 'closed -> object stored').replace('queued -> described', 'closed -> function logged'),
        values: l.values,
        color: PALETTE[runs.indexOf(run) % PALETTE.length] ?? '#000',
        dashed: l.label.includes('described'),
      };
    });
  const throughput = results.flatMap((r) => r.chart?.throughput ?? []).filter((t) => t.unit === 'x real time');
  const bars: Bar[] = throughput.map((t) => ({
    label: t.label,
    value: t.value,
    color: t.label.includes('pipeline') ? '#1f77b4' : t.label.includes('ffmpeg') ? '#7f7f7f' : '#bcbd22',
  }));
  return renderChart({
    title: `crispy-streamer benchmarks${quick ? ' (--quick)' : ''}`,
    subtitle: `${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${machine.nproc} × ${machine.cpuModel} · ${machine.memoryGiB} GiB · ${machine.ffmpeg} · node ${machine.node}`,
    cdf: {
      title: 'Live cameras: chunk latency (solid: to object stored; dashed: to function logged)',
      series,
      markers: [
        { value: 300, label: 'target p95 300 ms' },
        { value: 1000, label: 'target p95 1 s' },
      ],
    },
    bars: {
      title: 'File ingest, copy and encode modes: video seconds per wall second (to objects stored)',
      unit: 'x real time',
      items: bars,
      markers: [{ value: 100, label: 'target 100x' }],
    },
  });
}

function markdownReport(records: WorkloadRecord[], machine: MachineInfo, options: Options, startedAt: Date, targets: TargetCheck[]): string {
  const lines: string[] = [];
  lines.push(`Run ${startedAt.toISOString()}${options.quick ? ' (--quick)' : ''}: \`npm run bench -- ${process.argv.slice(2).join(' ')}\``, '');
  lines.push(
    `Machine: ${machine.nproc} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, ${machine.ffmpeg}, node ${machine.node}, ${machine.redis}, ${machine.gstreamer}.`,
    '',
  );
  for (const record of records) {
    lines.push(`### ${record.name}`, '');
    lines.push(
      `${record.wallSeconds.toFixed(0)} s; load average before ${record.loadAverageBefore.map((l) => l.toFixed(2)).join(' ')}; whole machine busy ${record.machineBusyPercent.toFixed(0)} % of one core on average.`,
      '',
    );
    if (record.error !== undefined) lines.push(`**Failed:** ${record.error}`, '');
    for (const table of record.result?.tables ?? []) lines.push(`${table.title}`, '', markdownTable(table), '');
    for (const note of record.result?.notes ?? []) lines.push(`- ${note}`);
    lines.push('');
  }
  lines.push('### Targets', '', markdownTable(targetsTable(targets)), '');
  return lines.join('\n');
}

function targetsTable(targets: TargetCheck[]) {
  return {
    title: 'targets',
    columns: ['target', 'measured', 'met', 'detail'],
    rows: targets.map((t) => [t.target, t.measured, t.met === undefined ? 'n/a' : t.met ? 'met' : 'MISSED', t.detail]),
  };
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const startedAt = new Date();
  const machine = machineInfo();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`crispy-streamer bench${options.quick ? ' --quick' : ''}: ${options.only.join(', ')}; storage ${options.storages.join(', ')}`);
  log(`machine: ${machine.nproc} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.ffmpeg}, node ${machine.node}`);
  log(
    process.env.CRISPY_RUN_COMPILED === '1'
      ? 'services: compiled JavaScript (dist/), as the images run them'
      : 'services: TypeScript through tsx (set CRISPY_RUN_COMPILED=1 after tsc -b to run dist/ as the images do)',
  );
  const load = loadavg();
  if ((load[0] ?? 0) > 0.5)
    log(`note: load average ${load.map((l) => l.toFixed(2)).join(' ')} before starting: other work on this machine will skew the figures`);
  const profileDir = options.profile ? join(REPO_ROOT, 'bench/profiles', stamp(startedAt)) : undefined;
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });
  const ctx: BenchContext = {
    quick: options.quick,
    cameraSeconds: options.cameraSeconds,
    fileSeconds: options.fileSeconds,
    outageSeconds: options.outageSeconds,
    storages: options.storages,
    concurrency: options.concurrency,
    withFunction: options.withFunction,
    profileDir,
    profiledPids: new Map(),
    log,
    uploadLimits: [],
  };
  const records: WorkloadRecord[] = [];
  for (const name of WORKLOADS.filter((w) => options.only.includes(w))) {
    log(`\n== ${name} ==`);
    const record: WorkloadRecord = { name, startedAt: new Date().toISOString(), wallSeconds: 0, loadAverageBefore: loadavg(), machineBusyPercent: 0 };
    const started = performance.now();
    const busy0 = machineBusyCpuSeconds();
    try {
      switch (name) {
        case 'file-copy':
          record.result = await fileCopy(ctx);
          break;
        case 'file-encode':
          record.result = await fileEncode(ctx);
          break;
        case 'cameras':
          record.result = await cameras(ctx, { ...(options.cameraCounts === undefined ? {} : { counts: options.cameraCounts }), mounts: options.cameraMounts });
          break;
        case 'queue':
          record.result = await queueOverhead(ctx);
          break;
        case 'backlog':
          record.result = await backlogDrain(ctx);
          break;
        case 'function':
          record.result = await functionCost(ctx);
          break;
      }
    } catch (error) {
      record.error = (error as Error).stack ?? String(error);
      log(`!! ${name} failed: ${record.error}`);
    } finally {
      await runAllCleanups();
    }
    record.wallSeconds = (performance.now() - started) / 1000;
    record.machineBusyPercent = ((machineBusyCpuSeconds() - busy0) / record.wallSeconds) * 100;
    records.push(record);
    for (const table of record.result?.tables ?? []) log(`\n${textTable(table)}`);
    for (const note of record.result?.notes ?? []) log(`  note: ${note}`);
    log(`  (${record.wallSeconds.toFixed(0)} s; whole machine busy ${record.machineBusyPercent.toFixed(0)} % of one core of ${machine.nproc * 100} %)`);
  }

  let profiles: (ProfileSummary & { process: string })[] = [];
  if (profileDir !== undefined) {
    profiles = (await summariseProfiles(profileDir)).map((p) => {
      const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(p.file)?.[1]);
      return { ...p, process: ctx.profiledPids.get(pid) ?? `pid ${pid}` };
    });
    for (const p of profiles) {
      log(
        `\n== CPU profile: ${p.process} (${(p.busyMs / 1000).toFixed(2)} s busy of ${(p.totalMs / 1000).toFixed(2)} s; GC ${(p.gcMs / 1000).toFixed(2)} s) ==`,
      );
      log(
        `  by package: ${p.byPackage
          .slice(0, 8)
          .map((b) => `${b.name} ${b.percent} %`)
          .join(', ')}`,
      );
      for (const f of p.topFunctions.slice(0, 10)) log(`  ${String(f.percent).padStart(5)} %  ${f.name}  ${f.where}`);
    }
  }

  const targets = records.flatMap((r) => r.result?.targets ?? []);
  if (targets.length > 0) log(`\n${textTable({ ...targetsTable(targets), title: '== targets ==' })}`);

  if (options.save) {
    const dir = join(REPO_ROOT, 'bench/results');
    await mkdir(dir, { recursive: true });
    const json = JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
        options,
        machine,
        workloads: records.map(({ result, ...record }) => ({
          ...record,
          tables: result?.tables,
          notes: result?.notes,
          targets: result?.targets,
          data: result?.data,
        })),
        targets,
        profiles,
      },
      null,
      2,
    );
    const kind = options.quick ? 'quick' : options.only.length === WORKLOADS.length ? 'full' : options.only.join('+');
    const dated = `${stamp(startedAt)}-${kind}`;
    const svg = chart(records, machine, options.quick, startedAt);
    const report = markdownReport(records, machine, options, startedAt, targets);
    await writeFile(join(dir, `${dated}.json`), `${json}\n`);
    await writeFile(join(dir, `${dated}.svg`), svg);
    await writeFile(join(dir, `${dated}.md`), report);
    // latest.* is the last full run: a partial or quick run must not replace it with less.
    if (kind === 'full') {
      await writeFile(join(dir, 'latest.json'), `${json}\n`);
      await writeFile(join(dir, 'latest.svg'), svg);
      await writeFile(join(dir, 'latest.md'), report);
    }
    log(`\nwrote bench/results/${dated}.json/.svg/.md${kind === 'full' ? ' and latest.json, latest.svg, latest.md' : ''}`);
  }
  return records.some((r) => r.error !== undefined) ? 1 : 0;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping every process and removing temp dirs ...\n`);
    void runAllCleanups().finally(() => process.exit(130));
  });
}

main()
  .then(async (code) => {
    await runAllCleanups();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    await runAllCleanups();
    process.exit(1);
  });
