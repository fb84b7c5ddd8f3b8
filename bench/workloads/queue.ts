import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedisServer } from '@crispy-streamer/harness/redis-server';
import { onCleanup } from '../lib/cleanup.js';
import { distribution, type Distribution } from '../lib/percentiles.js';
import { ProcessSampler, machineBusyCpuSeconds } from '../lib/process-stats.js';
import { fmt, type BenchContext, type Table, type WorkloadResult } from '../lib/report.js';

interface QueueRun {
  variant: string;
  jobs: number;
  concurrency: number;
  wallMs: number;
  addMs: number;
  jobsPerSecond: number;
  enqueueToStartMs: Distribution;
  redisCpuSeconds: number;
  benchCpuSeconds: number;
  machineBusyPercent: number;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function measure(
  redisUrl: string,
  variant: 'addBulk' | 'add, one at a time',
  jobs: number,
  concurrency: number,
  sampler: ProcessSampler,
): Promise<QueueRun> {
  const name = `bench-${variant === 'addBulk' ? 'bulk' : 'single'}-${Date.now()}`;
  const connection = () => new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queueConnection = connection();
  const workerConnection = connection();
  const queue = new Queue(name, { connection: queueConnection });
  const startDelays: number[] = [];
  let done = 0;
  let finish: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker(
    name,
    async (job: Job) => {
      startDelays.push(Date.now() - job.timestamp);
    },
    { connection: workerConnection, concurrency, removeOnComplete: { count: 1000 } },
  );
  worker.on('completed', () => {
    if (++done === jobs) finish();
  });
  await worker.waitUntilReady();
  try {
    sampler.sampleNow();
    const redisBefore = sampler.totals('redis');
    const cpu0 = cpuSeconds();
    const busy0 = machineBusyCpuSeconds();
    const started = performance.now();
    if (variant === 'addBulk') {
      await queue.addBulk(Array.from({ length: jobs }, (_, i) => ({ name: 'noop', data: { i } })));
    } else {
      for (let i = 0; i < jobs; i++) await queue.add('noop', { i });
    }
    const addMs = performance.now() - started;
    await allDone;
    const wallMs = performance.now() - started;
    sampler.sampleNow();
    const redisAfter = sampler.totals('redis');
    return {
      variant,
      jobs,
      concurrency,
      wallMs,
      addMs,
      jobsPerSecond: jobs / (wallMs / 1000),
      enqueueToStartMs: distribution(startDelays),
      redisCpuSeconds: (redisAfter?.selfCpu ?? 0) - (redisBefore?.selfCpu ?? 0),
      benchCpuSeconds: cpuSeconds() - cpu0,
      machineBusyPercent: ((machineBusyCpuSeconds() - busy0) / (wallMs / 1000)) * 100,
    };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    queueConnection.disconnect();
    workerConnection.disconnect();
  }
}

/** Workload 4: BullMQ alone, a Queue and a Worker (concurrency 50, doing nothing) on a private redis-server. */
export async function queueOverhead(ctx: BenchContext): Promise<WorkloadResult> {
  const jobs = ctx.quick ? 2_000 : 10_000;
  const redis = await startRedisServer();
  const stopRedis = onCleanup('redis-server', () => redis.stop());
  const sampler = new ProcessSampler(500).start();
  sampler.track('redis', redis.pid, 'none');
  try {
    const runs: QueueRun[] = [];
    ctx.log(`  [queue] ${jobs} jobs with addBulk, worker concurrency 50 ...`);
    runs.push(await measure(redis.url, 'addBulk', jobs, 50, sampler));
    const single = ctx.quick ? 500 : 2_000;
    ctx.log(`  [queue] ${single} jobs added one at a time (each waits for the previous add), worker concurrency 50 ...`);
    runs.push(await measure(redis.url, 'add, one at a time', single, 50, sampler));
    const table: Table = {
      title: 'queue: BullMQ alone against a private redis-server (the worker does nothing; the Queue, Worker and this driver share one node process)',
      columns: [
        'variant',
        'jobs',
        'concurrency',
        'add time',
        'wall to last done',
        'jobs/s',
        'enqueue -> start p50 / p95 / p99 / max (ms)',
        'redis CPU',
        'node CPU',
      ],
      rows: runs.map((r) => [
        r.variant,
        String(r.jobs),
        String(r.concurrency),
        fmt.ms(r.addMs),
        fmt.ms(r.wallMs),
        fmt.n(r.jobsPerSecond),
        `${fmt.n(r.enqueueToStartMs.p50)} / ${fmt.n(r.enqueueToStartMs.p95)} / ${fmt.n(r.enqueueToStartMs.p99)} / ${fmt.n(r.enqueueToStartMs.max)}`,
        fmt.s(r.redisCpuSeconds, 2),
        fmt.s(r.benchCpuSeconds, 2),
      ]),
    };
    return {
      name: 'queue',
      tables: [table],
      notes: [
        'addBulk: all jobs are in Redis before most start, so enqueue -> start mostly measures waiting in the backlog; "one at a time" is the latency of an idle queue (the camera case: one chunk every few seconds per camera).',
      ],
      targets: [],
      data: runs,
      chart: { throughput: runs.map((r) => ({ label: `BullMQ ${r.variant}`, value: r.jobsPerSecond, unit: 'jobs/s', group: 'queue' })) },
    };
  } finally {
    sampler.stop();
    await stopRedis();
  }
}
