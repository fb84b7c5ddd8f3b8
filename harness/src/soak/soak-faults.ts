// The faults the soak injects, one function per kind. Each does the fault to the real process or
// server, then proves it happened (a signal seen, a pid changed, an error answered, a log line
// written by the victim) and says what the system did about it. A fault that cannot prove itself
// is reported as not happened, and the soak fails on it.

import { openSync, closeSync, writeSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine, ServiceProcess } from '../service-process.js';
import { pick } from './fault-schedule.js';
import { SPOOL_MIN_FREE_BYTES, type RestartableService, type SoakStack } from './soak-stack.js';

export const FAULT_KINDS = [
  'kill-stream-handle',
  'kill-upload-worker',
  'kill-cloud-function',
  'redis-crash',
  'storage-503',
  'storage-hang',
  'storage-reset',
  'camera-drop',
  'disk-full',
  'clock-step',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const FAULT_DESCRIPTIONS: Record<FaultKind, string> = {
  'kill-stream-handle': 'SIGKILL one recorder (stream-handle), start it again 1 s later',
  'kill-upload-worker': 'SIGKILL the upload worker mid-work, start it again 1 s later',
  'kill-cloud-function': 'SIGKILL the function (Pub/Sub redelivers), start it again 1 s later',
  'redis-crash': 'SIGKILL Redis (append-only file kept), start it again on the same port',
  'storage-503': 'the next 8 upload requests answer 503',
  'storage-hang': 'the next 2 upload requests are never answered',
  'storage-reset': 'every open connection to storage gets a TCP reset',
  'camera-drop': 'SIGKILL one camera, start it again 8 s later',
  'disk-full': "fill the spool's file system to below SPOOL_MIN_FREE_BYTES for 15 s",
  'clock-step': "step edge-b's clock (libfaketime) 2 min ahead for 15 s, then back",
};

export interface FaultRecord {
  kind: FaultKind;
  at: string;
  victim: string;
  /** the fault was seen to take effect (see proof) */
  happened: boolean;
  proof: string;
  /** what the system did: restarted in N s, uploads retried, chunks dropped ... */
  outcome: string;
}

/** The kinds this machine can inject: the function needs the Pub/Sub emulator, disk-full root, clock-step libfaketime. */
export function availableFaults(stack: SoakStack): FaultKind[] {
  return FAULT_KINDS.filter((kind) => {
    if (kind === 'kill-cloud-function') return stack.fn !== undefined;
    if (kind === 'disk-full') return stack.spoolIsOwnFs;
    if (kind === 'clock-step') return stack.recorders.some((r) => r.clockFile !== undefined);
    return true;
  });
}

async function until(check: () => boolean, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(pollMs);
  }
}

const after = (sinceMs: number) => (line: LogLine) => typeof line.time === 'string' && Date.parse(line.time) >= sinceMs;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const isUpload = (method: string, path: string) => (method === 'POST' || method === 'PUT') && path.startsWith('/upload/');

/** SIGKILL, wait for the exit, prove the signal, start again; outcome: how long until `ready` says so. */
async function killAndRestart(
  service: RestartableService,
  ready: (p: ServiceProcess) => (line: LogLine) => boolean,
  what: string,
): Promise<Omit<FaultRecord, 'kind' | 'at'>> {
  const victim = service.current;
  const pid = victim.child.pid;
  victim.child.kill('SIGKILL');
  await victim.exited;
  const happened = victim.child.signalCode === 'SIGKILL';
  await sleep(1000);
  const startedAt = Date.now();
  let outcome: string;
  try {
    const next = await service.start();
    await next.waitForLog(ready(next), 60_000, what);
    outcome = `pid ${next.child.pid} ${what} ${seconds(Date.now() - startedAt)} after it was started again`;
  } catch (error) {
    outcome = `NOT RECOVERED: ${String(error)}`;
  }
  return { victim: `${service.name} pid ${pid}`, happened, proof: `exited by ${victim.child.signalCode ?? `code ${victim.child.exitCode}`}`, outcome };
}

export async function injectFault(kind: FaultKind, stack: SoakStack, random: () => number): Promise<FaultRecord> {
  const at = new Date().toISOString();
  const t0 = Date.now();
  const result = await inject(kind, stack, random, t0);
  return { kind, at, ...result };
}

async function inject(kind: FaultKind, stack: SoakStack, random: () => number, t0: number): Promise<Omit<FaultRecord, 'kind' | 'at'>> {
  const worker = () => stack.worker.current;
  switch (kind) {
    case 'kill-stream-handle': {
      const node = pick(stack.recorders, random);
      return killAndRestart(
        node.service,
        () => (l) => l.message === 'chunk recorded' || l.message === 'requeued from spool' || l.message === 'recovered chunk queued',
        'queued a chunk',
      );
    }
    case 'kill-upload-worker':
      return killAndRestart(stack.worker, () => (l) => l.message === 'chunk uploaded' || l.message === 'chunk was already in the bucket', 'stored a chunk');
    case 'kill-cloud-function': {
      if (stack.fn === undefined) throw new Error('kill-cloud-function needs the function (the Pub/Sub emulator)');
      return killAndRestart(stack.fn, () => (l) => typeof l.message === 'string' && l.message.startsWith('chunk described'), 'described a chunk');
    }
    case 'redis-crash': {
      const pid = stack.redis.pid;
      await stack.redis.kill();
      await sleep(1000);
      await stack.redis.restart();
      const restartedAt = Date.now();
      const consuming = await until(
        () => worker().logs.some((l) => (l.message === 'chunk uploaded' || l.message === 'chunk was already in the bucket') && after(restartedAt)(l)),
        60_000,
      );
      return {
        victim: `redis pid ${pid}`,
        happened: stack.redis.pid !== pid,
        proof: `SIGKILLed; pid ${pid} -> ${stack.redis.pid}`,
        outcome: consuming ? `worker stored a chunk again ${seconds(Date.now() - restartedAt)} after Redis came back` : 'NOT RECOVERED: no upload within 60 s',
      };
    }
    case 'storage-503':
    case 'storage-hang': {
      const from = stack.gcs.requests.length;
      const status = kind === 'storage-503' ? 503 : 'hang';
      const count = kind === 'storage-503' ? 8 : 2;
      stack.gcs.injectFault({ status, count, match: isUpload });
      // Answered 503 (or never answered) because of the fault: count them as requests arrive.
      const met = () => stack.gcs.requests.slice(from).filter((r) => isUpload(r.method, r.path) && (status === 503 ? r.status === 503 : r.status === 0)).length;
      const hit = await until(() => met() >= count, 25_000, 200);
      stack.gcs.clearFaults();
      const later = stack.gcs.requests.length;
      const recovered = await until(() => stack.gcs.requests.slice(later).some((r) => isUpload(r.method, r.path) && r.status === 200), 60_000, 200);
      const abandoned = () =>
        worker()
          .logs.filter(after(t0))
          .filter((l) => JSON.stringify(l.err ?? '').includes('no progress')).length;
      // A hung request is abandoned once UPLOAD_PROGRESS_TIMEOUT_MS passes without progress.
      if (status === 'hang') await until(() => abandoned() >= met(), 20_000, 200);
      const noProgress = abandoned();
      return {
        victim: 'storage',
        happened: met() > 0,
        proof:
          status === 503
            ? `${met()} upload requests answered 503`
            : `${met()} upload requests left unanswered; the worker abandoned ${noProgress} attempts for lack of progress`,
        outcome: `${hit ? 'all' : 'not all'} ${count} faults met; ${recovered ? `an upload succeeded again ${seconds(Date.now() - t0)} after the fault began` : 'NO upload succeeded within 60 s after'}`,
      };
    }
    case 'storage-reset': {
      let reset = 0;
      await until(() => (reset += stack.storageLink.resetConnections()) > 0, 20_000, 100);
      const later = stack.gcs.requests.length;
      const recovered = await until(() => stack.gcs.requests.slice(later).some((r) => isUpload(r.method, r.path) && r.status === 200), 60_000, 200);
      return {
        victim: 'worker -> storage connections',
        happened: reset > 0,
        proof: `${reset} open connections reset`,
        outcome: recovered ? `an upload succeeded again ${seconds(Date.now() - t0)} later` : 'NO upload succeeded within 60 s after',
      };
    }
    case 'camera-drop': {
      const id = pick([...stack.cameras.keys()], random);
      const camera = stack.cameras.get(id);
      const recorder = stack.recorders.find((r) => r.sources.includes(id));
      if (camera === undefined || recorder === undefined) throw new Error(`no camera ${id}`);
      const pid = camera.pid;
      await camera.kill();
      const noticed = await until(
        () => recorder.service.current.logs.some((l) => l.source === id && String(l.message).startsWith('camera stream ended') && after(t0)(l)),
        15_000,
      );
      await sleep(Math.max(0, 8000 - (Date.now() - t0)));
      const backAt = await camera.start();
      const recording = await until(
        () => recorder.service.current.logs.some((l) => l.source === id && l.message === 'chunk recorded' && after(backAt)(l)),
        60_000,
      );
      return {
        victim: `camera ${id} pid ${pid}`,
        happened: noticed,
        proof: noticed
          ? `${recorder.node} logged "camera stream ended" for ${id}`
          : `${recorder.node} logged nothing about ${id} within 15 s (it may have been killed by another fault)`,
        outcome: recording
          ? `${id} recorded again ${seconds(Date.now() - backAt)} after the camera was back`
          : `NOT RECOVERED: ${id} recorded nothing within 60 s`,
      };
    }
    case 'disk-full': {
      const ballast = join(stack.spoolDir, '.soak-ballast');
      const free = () => {
        const s = statfsSync(stack.spoolDir);
        return s.bavail * s.bsize;
      };
      const target = Math.max(0, free() - SPOOL_MIN_FREE_BYTES / 2);
      const fd = openSync(ballast, 'w');
      const block = Buffer.alloc(1024 * 1024, 0xaa);
      let written = 0;
      try {
        while (written + block.length <= target) written += writeSync(fd, block);
      } catch {
        // ENOSPC: the disk is as full as it gets.
      } finally {
        closeSync(fd);
      }
      const freeDuring = free();
      const reacted = () =>
        stack.recorders.some((r) =>
          r.service.current.logs.some(
            (l) => after(t0)(l) && (String(l.message).startsWith('chunk DROPPED') || String(l.message).startsWith('recording paused')),
          ),
        );
      await sleep(15_000);
      const sawReaction = reacted();
      const dropped = stack.recorders.reduce(
        (n, r) => n + r.service.all.flatMap((p) => p.logs).filter((l) => after(t0)(l) && String(l.message).startsWith('chunk DROPPED')).length,
        0,
      );
      rmSync(ballast, { force: true });
      return {
        victim: 'spool file system',
        happened: freeDuring < SPOOL_MIN_FREE_BYTES,
        proof: `${(written / 2 ** 20).toFixed(0)} MiB ballast left ${(freeDuring / 2 ** 20).toFixed(1)} MiB free (minimum ${SPOOL_MIN_FREE_BYTES / 2 ** 20} MiB)`,
        outcome: sawReaction
          ? `the recorders applied the policy: ${dropped} waiting chunks dropped and reported`
          : 'no recorder reacted (nothing was waiting to drop)',
      };
    }
    case 'clock-step': {
      const node = stack.recorders.find((r) => r.clockFile !== undefined);
      if (node?.clockFile === undefined) throw new Error('clock-step needs libfaketime');
      const stepMs = 120_000;
      writeFileSync(node.clockFile, `+${stepMs / 1000}\n`);
      // Its own log lines carry its clock: one stamped ahead of ours proves the step.
      const stepped = await until(
        () => node.service.current.logs.some((l) => typeof l.time === 'string' && Date.parse(l.time) - Date.now() > stepMs / 2),
        15_000,
      );
      await sleep(Math.max(0, 15_000 - (Date.now() - t0)));
      writeFileSync(node.clockFile, '+0\n');
      const backAt = Date.now();
      const recording = await until(
        () =>
          node.service.current.logs.some(
            (l) =>
              l.message === 'chunk recorded' && typeof l.time === 'string' && Math.abs(Date.parse(l.time) - Date.now()) < 5000 && Date.parse(l.time) >= backAt,
          ),
        60_000,
      );
      return {
        victim: `${node.node} clock`,
        happened: stepped,
        proof: stepped ? `${node.node} stamped log lines ${stepMs / 1000} s ahead of the host` : `no line of ${node.node} showed the step within 15 s`,
        outcome: recording
          ? `stepped back after 15 s; ${node.node} recorded on its true clock again`
          : `NOT RECOVERED: ${node.node} recorded nothing within 60 s of the step back`,
      };
    }
  }
}
