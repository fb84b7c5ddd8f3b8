// One candidate in a fresh process: the first call (cold: imports included) and then `calls` warm
// calls, with the CPU of this process (every thread) and of the children it reaped (ffmpeg).
// Prints one JSON line. Run by bench/function-decoders.ts.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CANDIDATES, type FrameResult } from './candidates.js';

const [name, url, size, calls] = [process.argv[2] ?? '', process.argv[3] ?? '', Number(process.argv[4]), Number(process.argv[5] ?? 30)];
const TICKS_PER_SECOND = 100;

/** CPU ms of the children this process has waited for: /proc/self/stat cutime + cstime (10 ms ticks). */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8')
    .slice(readFileSync('/proc/self/stat', 'utf8').lastIndexOf(')') + 2)
    .split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND;
}
function selfCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

const candidate = CANDIDATES.find((c) => c.name === name);
if (candidate === undefined) throw new Error(`no candidate ${name}`);
const started = performance.now();
const [self0, children0] = [selfCpuMs(), childrenCpuMs()];
const describe = await candidate.load();
const first: FrameResult = await describe(url, size);
const cold = { wallMs: performance.now() - started, selfCpuMs: selfCpuMs() - self0, childCpuMs: childrenCpuMs() - children0 };

const [self1, children1, wall1] = [selfCpuMs(), childrenCpuMs(), performance.now()];
for (let i = 0; i < calls; i++) await describe(url, size);
const warm = {
  wallMs: (performance.now() - wall1) / calls,
  selfCpuMs: (selfCpuMs() - self1) / calls,
  childCpuMs: (childrenCpuMs() - children1) / calls,
};
process.stdout.write(`${JSON.stringify({ name, frame: first, cold, warm, calls, rssMb: process.memoryUsage().rss / 2 ** 20 })}\n`);
