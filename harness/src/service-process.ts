import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** One JSON log line of one of our services. */
export type LogLine = Record<string, unknown> & { message?: string; severity?: string };

export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Every JSON line the service printed so far. */
  readonly logs: LogLine[];
  /** Lines that were not JSON (stack traces, ffmpeg noise). */
  readonly otherOutput: string[];
  readonly exited: Promise<number | null>;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine>;
  stop(graceMs?: number): Promise<number | null>;
}

// A test run or the demo that dies must not leave our services behind. One set and one exit hook per
// process: vitest re-evaluates this module for every test file in the same worker.
const LIVE_KEY = Symbol.for('crispy-streamer.live-services');
const holder = globalThis as { [LIVE_KEY]?: Set<ChildProcess> };
const live: Set<ChildProcess> =
  holder[LIVE_KEY] ??
  (() => {
    const children = new Set<ChildProcess>();
    process.once('exit', () => {
      for (const child of children) child.kill('SIGKILL');
    });
    return (holder[LIVE_KEY] = children);
  })();

/** Node with our workspace packages resolved to their TypeScript, compiled on the fly by tsx. */
export function nodeArgsForSource(entry: string, args: string[] = []): string[] {
  return ['--conditions=source', '--import', `file://${join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')}`, entry, ...args];
}

export function spawnService(name: string, args: string[], env: Record<string, string>, logFile?: string): ServiceProcess {
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const logs: LogLine[] = [];
  const otherOutput: string[] = [];
  const waiters = new Set<() => void>();
  const file: WriteStream | undefined = logFile === undefined ? undefined : createWriteStream(logFile, { flags: 'a' });

  const onLine = (line: string) => {
    file?.write(`${line}\n`);
    if (line.startsWith('{')) {
      try {
        logs.push(JSON.parse(line) as LogLine);
        for (const wake of waiters) wake();
        return;
      } catch {
        // Not JSON after all.
      }
    }
    if (line.trim() !== '') otherOutput.push(line);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (data: string) => {
      pending += data;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    stream?.on('end', () => pending !== '' && onLine(pending));
  }
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('close', (code) => {
      live.delete(child);
      file?.end();
      for (const wake of waiters) wake();
      resolveExit(code);
    });
  });

  return {
    name,
    child,
    logs,
    otherOutput,
    exited,
    waitForLog(predicate, timeoutMs, what) {
      return new Promise((resolveLine, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < logs.length; seen++) {
            const line = logs[seen];
            if (line !== undefined && predicate(line)) {
              finish();
              resolveLine(line);
              return;
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            finish();
            reject(
              new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before logging ${what}; last output:\n${otherOutput.slice(-15).join('\n')}`),
            );
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${name} did not log ${what} within ${timeoutMs} ms; last output:\n${otherOutput.slice(-15).join('\n')}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
