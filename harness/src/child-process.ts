import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Long-running children for tests (Redis, the fake camera, the Pub/Sub emulator, ffmpeg).
 *
 * Every child is spawned detached, as the leader of its own process group, so that
 * stopping it also stops whatever it started (the emulator's launcher script starts
 * Java, for instance) and so that a Ctrl-C in the terminal does not race our own
 * shutdown. Three layers make sure no child outlives the test process:
 *   1. stop()/kill() in the tests' afterEach/afterAll;
 *   2. a synchronous SIGKILL of every live group when this process exits;
 *   3. a tiny watchdog process that SIGKILLs every group still registered once our
 *      end of its stdin pipe closes, which the kernel does even if we are SIGKILLed.
 */

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Shown in error messages; defaults to the command's name. */
  name?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How many output lines to remember (stdout and stderr interleaved). */
  maxLines?: number;
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** Output lines so far, stdout and stderr interleaved, oldest dropped past maxLines. */
  readonly lines: readonly string[];
  readonly exited: Promise<ExitStatus>;
  /** Null while running. */
  readonly exitStatus: ExitStatus | null;
  /** Resolves with the first line (already seen or still to come) that matches. */
  waitForLine(matches: (line: string) => boolean, timeoutMs: number, what?: string): Promise<string>;
  /** Sends a signal to the child's whole process group; a no-op once it has exited. */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the whole group is gone. */
  stop(graceMs?: number): Promise<ExitStatus>;
  /** SIGKILL to the whole group; resolves once it is gone. */
  kill(): Promise<ExitStatus>;
  /** The last lines of output, for error messages. */
  tail(lineCount?: number): string;
  /** Writes to the child's stdin (kept open as a pipe for the child's whole life). */
  writeStdin(text: string): void;
}

const DEFAULT_GRACE_MS = 5_000;
const DEFAULT_MAX_LINES = 5_000;

/** Process groups we started and have not yet seen exit. */
// Shared by every evaluation of this module in one process (vitest re-evaluates it per test file),
// so one exit hook covers them all.
const GROUPS_KEY = Symbol.for('crispy-streamer.live-process-groups');
const groupsHolder = globalThis as { [GROUPS_KEY]?: { groups: Set<number>; hooked: boolean; watchdog?: ChildProcess } };
const liveState = (groupsHolder[GROUPS_KEY] ??= { groups: new Set<number>(), hooked: false });
const liveGroups = liveState.groups;

// Runs as `node -e`: remembers groups announced on stdin ("+PGID" / "-PGID") and kills
// those left once stdin ends, i.e. once the test process is gone for whatever reason.
const WATCHDOG_SOURCE = `
const groups = new Set();
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  const lines = pending.split('\\n');
  pending = lines.pop();
  for (const line of lines) {
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line[0] === '+') groups.add(pgid); else groups.delete(pgid);
  }
});
process.stdin.on('end', () => {
  for (const pgid of groups) { try { process.kill(-pgid, 'SIGKILL'); } catch {} }
  process.exit(0);
});
`;

function tellWatchdog(message: string): void {
  let watchdog = liveState.watchdog;
  if (watchdog === undefined) {
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // vitest's loaders have no business in the watchdog
    watchdog = liveState.watchdog = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env,
    });
    watchdog.on('error', () => undefined); // layers 1 and 2 still hold without it
    watchdog.unref();
    const stdin = watchdog.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null;
    stdin?.on('error', () => undefined);
    stdin?.unref?.();
  }
  watchdog.stdin?.write(`${message}\n`);
}

function installExitHook(): void {
  if (liveState.hooked) return;
  liveState.hooked = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  });
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return process.platform !== 'linux' || groupHasLiveMember(pgid);
}

/**
 * Whether any member of the group is more than a zombie. Orphaned grandchildren are
 * reaped by PID 1, which in some containers does so only about once a second; a
 * zombie holds nothing, so there is no point waiting for it.
 */
function groupHasLiveMember(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after "(comm)": state ppid pgrp ...; comm itself may contain spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

/** Polls until no process is left in the group; false if the deadline passed first. */
async function waitForGroupGone(pgid: number, deadline: number): Promise<boolean> {
  while (groupExists(pgid)) {
    if (Date.now() >= deadline) return false;
    await sleep(10);
  }
  return true;
}

export function spawnChild(command: string, args: readonly string[], options: SpawnOptions = {}): Child {
  const name = options.name ?? command.split('/').pop() ?? command;
  const maxLines = options.maxLines ?? DEFAULT_MAX_LINES;
  installExitHook();

  const childProcess = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const lineListeners = new Set<(line: string) => void>();
  let exitStatus: ExitStatus | null = null;
  let spawnError: Error | undefined;

  const pushLine = (line: string): void => {
    lines.push(line);
    if (lines.length > maxLines) lines.splice(0, lines.length - maxLines);
    for (const listener of lineListeners) listener(line);
  };
  const splitInto = (stream: NodeJS.ReadableStream | null): void => {
    if (stream === null) return;
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const complete = pending.split(/\r?\n|\r/);
      pending = complete.pop() ?? '';
      for (const line of complete) pushLine(line);
    });
    stream.on('end', () => {
      if (pending !== '') pushLine(pending);
      pending = '';
    });
  };
  splitInto(childProcess.stdout);
  splitInto(childProcess.stderr);
  childProcess.stdin?.on('error', () => undefined); // EPIPE once the child is gone

  const pid = childProcess.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    tellWatchdog(`+${pid}`);
  }

  const exited = new Promise<ExitStatus>((resolve) => {
    childProcess.on('error', (error) => {
      // Only a failed spawn (ENOENT, EACCES) gets here without an 'exit' to follow.
      if (pid === undefined) {
        spawnError = error;
        exitStatus = { code: null, signal: null };
        pushLine(`spawn failed: ${error.message}`);
        resolve(exitStatus);
      }
    });
    childProcess.on('exit', (code, signal) => {
      const status: ExitStatus = { code, signal };
      if (pid !== undefined) {
        // The leader is gone, so the child is done: whatever it started goes too
        // (and stops holding our output pipes open).
        signalGroup(pid, 'SIGKILL');
      }
      // 'close' follows once the output pipes are drained; don't wait forever for it.
      const drained = new Promise<void>((done) => childProcess.once('close', () => done()));
      void Promise.race([drained, sleep(1_000)]).then(() => {
        exitStatus = status;
        resolve(status);
      });
    });
  });
  void exited.then(async () => {
    if (pid === undefined) return;
    await waitForGroupGone(pid, Date.now() + 2_000);
    liveGroups.delete(pid);
    tellWatchdog(`-${pid}`);
  });

  const tail = (lineCount = 30): string => lines.slice(-lineCount).join('\n');

  const describeExit = (status: ExitStatus): string =>
    spawnError !== undefined
      ? `could not be started (${spawnError.message})`
      : `exited with ${status.signal !== null ? `signal ${status.signal}` : `code ${String(status.code)}`}`;

  const waitForLine = (matches: (line: string) => boolean, timeoutMs: number, what = 'the expected line'): Promise<string> => {
    const seen = lines.find(matches);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        lineListeners.delete(onLine);
      };
      const onLine = (line: string): void => {
        if (!matches(line)) return;
        finish();
        resolve(line);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${name} did not print ${what} within ${timeoutMs} ms. Last output:\n${tail()}`));
      }, timeoutMs);
      lineListeners.add(onLine);
      void exited.then((status) => {
        if (!lineListeners.has(onLine)) return;
        finish();
        reject(new Error(`${name} ${describeExit(status)} before printing ${what}. Last output:\n${tail()}`));
      });
    });
  };

  const signal = (signalName: NodeJS.Signals): void => {
    if (pid !== undefined && exitStatus === null) signalGroup(pid, signalName);
  };

  const kill = async (): Promise<ExitStatus> => {
    signal('SIGKILL');
    return exited;
  };

  const stop = async (graceMs = DEFAULT_GRACE_MS): Promise<ExitStatus> => {
    if (exitStatus !== null || pid === undefined) return exited;
    signalGroup(pid, 'SIGTERM');
    // A stopped (SIGSTOP) process would hold the SIGTERM until continued.
    signalGroup(pid, 'SIGCONT');
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) signalGroup(pid, 'SIGKILL');
    const status = await exited;
    // Members of the group may outlive the leader for a moment; wait for them too.
    if (!(await waitForGroupGone(pid, Date.now() + graceMs))) {
      signalGroup(pid, 'SIGKILL');
      await waitForGroupGone(pid, Date.now() + 2_000);
    }
    return status;
  };

  return {
    name,
    pid: pid ?? -1,
    get lines() {
      return lines;
    },
    exited,
    get exitStatus() {
      return exitStatus;
    },
    waitForLine,
    signal,
    stop,
    kill,
    tail,
    writeStdin(text: string) {
      childProcess.stdin?.write(text);
    },
  };
}

export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

/**
 * Runs a short-lived command to completion, collecting its output. Kills it (and its
 * group) after timeoutMs and rejects; resolves whatever the exit code, so callers can
 * assert on failures too.
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  installExitHook();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    tellWatchdog(`+${pid}`);
  }
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  }, timeoutMs);
  try {
    const status = await new Promise<ExitStatus>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    const result = { ...status, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
    if (timedOut) {
      throw new Error(`${command} ${args.join(' ')} took more than ${timeoutMs} ms. stderr:\n${result.stderr.slice(-2_000)}`);
    }
    return result;
  } finally {
    clearTimeout(timer);
    if (pid !== undefined) {
      liveGroups.delete(pid);
      tellWatchdog(`-${pid}`);
    }
  }
}

/** Like runCommand, but rejects unless the command exits with code 0. */
export async function runCommandOrThrow(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    const exit = result.signal !== null ? `signal ${result.signal}` : `code ${String(result.code)}`;
    throw new Error(`${command} ${args.join(' ')} failed with ${exit}:\n${result.stderr.slice(-4_000)}`);
  }
  return result;
}
