import ffmpeg from 'fluent-ffmpeg';
import type { ChildProcess } from 'node:child_process';
import { redactSecrets } from '@crispy-streamer/shared';
import type { RecorderArgs } from './recorder-args.js';
import { LineSplitter, parseSegmentListLine, type SegmentListEntry } from './segment-list.js';

export interface RecorderExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last stderr lines, redacted, for the error report. */
  stderrTail: string[];
}

export interface RecorderHandlers {
  /** ffmpeg finished writing a chunk. Called in order. */
  onSegment(entry: SegmentListEntry): void;
  /** One stderr line, passwords already redacted. */
  onStderrLine(line: string): void;
}

export interface RunningRecorder {
  readonly startedAtMs: number;
  /** ffmpeg has started and not exited. */
  readonly running: boolean;
  /** Resolves once ffmpeg has exited and every list line has been delivered. */
  readonly exited: Promise<RecorderExit>;
  /** SIGTERM (ffmpeg closes its chunk and lists it), then SIGKILL after the grace period. */
  stop(graceMs: number): Promise<RecorderExit>;
  /** SIGKILL: the chunk being written is left unfinished, never listed. */
  abort(): Promise<RecorderExit>;
  /** Freezes ffmpeg where it is (SIGSTOP), for a file that must wait for room in the spool. */
  suspend(): void;
  /** Lets a suspended ffmpeg carry on (SIGCONT). */
  resume(): void;
}

export type StartRecorder = (ffmpegPath: string, args: RecorderArgs, handlers: RecorderHandlers) => RunningRecorder;

const STDERR_TAIL_LINES = 30;

/** Runs one ffmpeg recording through fluent-ffmpeg and reports chunks as ffmpeg lists them. */
export const startRecorder: StartRecorder = (ffmpegPath, args, handlers) => {
  const stderrTail: string[] = [];
  const listLines = new LineSplitter();
  const errLines = new LineSplitter();
  const startedAtMs = Date.now();
  let child: ChildProcess | undefined;

  const command = ffmpeg()
    .setFfmpegPath(ffmpegPath)
    .input(args.input)
    .inputOptions(args.inputOptions)
    .output(args.outputPattern)
    .outputOptions(args.outputOptions);

  const deliverListLines = (lines: string[]) => {
    for (const line of lines) {
      const entry = parseSegmentListLine(line);
      if (entry !== undefined) handlers.onSegment(entry);
    }
  };
  const deliverStderrLines = (lines: string[]) => {
    for (const raw of lines) {
      const line = redactSecrets(raw);
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      handlers.onStderrLine(line);
    }
  };

  const exited = new Promise<RecorderExit>((resolve) => {
    command.on('start', () => {
      // fluent-ffmpeg hands us the process right after spawning it, before any output.
      const proc = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      if (proc === undefined) return;
      child = proc;
      proc.stdout?.setEncoding('utf8');
      proc.stdout?.on('data', (data: string) => deliverListLines(listLines.push(data)));
      proc.stderr?.on('data', (data: string) => deliverStderrLines(errLines.push(String(data))));
      proc.once('close', (code, signal) => {
        deliverListLines(listLines.flush());
        deliverStderrLines(errLines.flush());
        resolve({ code, signal, stderrTail: [...stderrTail] });
      });
    });
    // fluent-ffmpeg reports non-zero exits as errors; the 'close' handler above already has them.
    command.on('error', (error: Error) => {
      if (child === undefined) resolve({ code: null, signal: null, stderrTail: [redactSecrets(error.message)] });
    });
  });

  command.run();

  return {
    startedAtMs,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    exited,
    async stop(graceMs) {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return exited;
      // A suspended ffmpeg would not act on SIGTERM until continued.
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
    async abort() {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGKILL');
      return exited;
    },
    suspend() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
  };
};
