import { spawn } from 'node:child_process';
import { redactSecrets } from '@crispy-streamer/shared';
import { parseInputReport, type ProbedStream } from './input-report.js';

export interface SourceProbeResult {
  /** ffmpeg opened the input and reported its streams. */
  complete: boolean;
  streams: ProbedStream[];
  /** The last stderr lines, redacted: why the input could not be opened. */
  stderrTail: string[];
  elapsedMs: number;
}

export type ProbeSource = (ffmpegPath: string, url: string, inputOptions: readonly string[], timeoutMs: number) => Promise<SourceProbeResult>;

/**
 * Asks ffmpeg what the source holds, the way the recording will open it: `ffmpeg -i SOURCE` with
 * no output prints its input report and exits. One start of ffmpeg (~0.1 s for a file; for a
 * camera, a connection and ffmpeg's stream analysis).
 */
export const probeSource: ProbeSource = (ffmpegPath, url, inputOptions, timeoutMs) =>
  new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(ffmpegPath, ['-hide_banner', '-nostdin', ...inputOptions, '-i', url], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (data: string) => {
      stderr = (stderr + data).slice(-256_000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      const report = parseInputReport(stderr);
      const lines = redactSecrets(stderr)
        .split(/\r?\n/)
        .filter((line) => line.trim() !== '');
      resolve({ complete: report.complete, streams: report.streams, stderrTail: lines.slice(-30), elapsedMs: Date.now() - started });
    };
    child.once('error', (error) => {
      stderr += `\n${error.message}`;
      finish();
    });
    child.once('close', finish);
  });
